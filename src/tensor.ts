// Device-resident tensors: results that stay on the backend and feed the next op.
import { DisposedError } from './errors.js';
import type { WasmBackend, WasmStorage } from './backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from './backends/webgpu.js';

/** Either backend's state. */
export type BackendImpl = WasmBackend | WebGpuBackend;
/** Either backend's storage block. */
export type Storage = WasmStorage | GpuStorage;

/**
 * An f32 tensor living on a runtime's backend (GPU buffer or wasm memory).
 * Create with `rt.tensor(data, shape)`; ops given tensors return tensors without a round trip.
 * Call `read()` to copy it back and `dispose()` to free it.
 */
export class Tensor {
  /** Element type; only f32 for now. */
  readonly dtype = 'f32' as const;
  /** Number of elements (product of the shape). */
  readonly size: number;
  private storage: Storage | undefined;

  /** @internal */
  constructor(readonly backend: BackendImpl, storage: Storage, readonly shape: readonly number[]) {
    this.storage = storage;
    this.size = storage.length;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.storage === undefined;
  }

  /** @internal The backend storage; throws if disposed. */
  data(): Storage {
    if (!this.storage) throw new DisposedError('tensor');
    return this.storage;
  }

  /** Copies the values back to a new Float32Array; rejects (never throws) with DisposedError or DeviceLostError. */
  async read(): Promise<Float32Array> {
    const s = this.data();
    this.backend.check();
    if (this.backend.kind === 'wasm') return this.backend.read(s as WasmStorage);
    return this.backend.read(s as GpuStorage);
  }

  /** Frees the storage; further use throws DisposedError. Idempotent. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = undefined;
    if (this.backend.kind === 'wasm') this.backend.release(s as WasmStorage);
    else this.backend.release(s as GpuStorage);
  }
}
