// The wasm backend: one instance of the AssemblyScript module (bytes embedded at build time).
import wasmBytes from '../../build/pcpress.wasm';
import sharedBytes from '../../build/pcpress-shared.wasm';
import threadBytes from '../../build/pcpress-threads.wasm';
import { DisposedError, LimitError } from '../errors.js';
import { ThreadPool } from '../threads/pool.js';

/** Exports of the AssemblyScript module (see assembly/index.ts). */
export interface WasmExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  matmulF32(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number,
    batch: number, strideA: number, strideB: number, strideC: number): void;
  matmulPackedFloats(k: number, n: number): number;
  matmulPackB(b: number, k: number, n: number, transB: number, dst: number): void;
  matmulPackedF32(a: number, bp: number, c: number, m: number, k: number, n: number, transA: number,
    batch: number, strideA: number, strideC: number): void;
}

/** A block of f32 values resident in wasm memory. */
export interface WasmStorage {
  /** Byte offset in the instance's memory. */
  ptr: number;
  /** Number of f32 values. */
  length: number;
}

/** Largest total wasm memory we allow one runtime to use (4 GiB address space, minus headroom). */
export const WASM_MAX_BYTES = 2 ** 32 - 2 ** 26;

let compiled: Promise<WebAssembly.Module> | undefined;
let compiledShared: Promise<[WebAssembly.Module, WebAssembly.Module]> | undefined;

/** Compiles the embedded module once per process. */
function compileModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(wasmBytes as Uint8Array<ArrayBuffer>);
  return compiled;
}

/** Compiles the shared-memory build of the module and the pool's kernel module, once per process. */
function compileShared(): Promise<[WebAssembly.Module, WebAssembly.Module]> {
  compiledShared ??= Promise.all([
    WebAssembly.compile(sharedBytes as Uint8Array<ArrayBuffer>),
    WebAssembly.compile(threadBytes as Uint8Array<ArrayBuffer>),
  ]);
  return compiledShared;
}

/** Pages of the shared memory's declared maximum (4 GiB, as the builds declare: asconfig.json, asconfig.threads.json). */
const SHARED_MAX_PAGES = 65536;

/** True when this JS engine validates the module (it needs wasm SIMD). */
export function wasmSimdSupported(): boolean {
  try {
    return WebAssembly.validate(wasmBytes as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

/** Wasm backend state: the instance and a tiny allocator facade. */
export class WasmBackend {
  /** Backend tag. */
  readonly kind = 'wasm' as const;
  /** True after destroy(). */
  destroyed = false;
  /** Testing aid: fill every new output block with NaN so unwritten elements show. */
  poison = false;
  /** The thread pool (threads > 1), or undefined: one thread. */
  readonly pool: ThreadPool | undefined;
  private constructor(readonly ex: WasmExports, pool?: ThreadPool) {
    this.pool = pool;
  }

  /** Threads that run kernels (1 without a pool). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /**
   * Instantiates a fresh module (its own memory). With threads > 1, the shared-memory build on a new
   * shared memory and a pool of threads - 1 workers (the caller checked that threads can start here;
   * a worker that cannot start rejects with BackendUnavailableError).
   */
  static async create(threads = 1): Promise<WasmBackend> {
    const env = {
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`pcpress wasm abort at ${line}:${col}`);
      },
    };
    if (threads <= 1) {
      const instance = await WebAssembly.instantiate(await compileModule(), { env });
      return new WasmBackend(instance.exports as unknown as WasmExports);
    }
    const [shared, kernels] = await compileShared();
    const memory = new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true } as WebAssembly.MemoryDescriptor);
    const instance = await WebAssembly.instantiate(shared, { env: { ...env, memory } });
    const ex = instance.exports as unknown as WasmExports;
    const pool = await ThreadPool.start(threads, kernels, memory, (bytes) => ex.alloc(bytes) >>> 0);
    return new WasmBackend(ex, pool);
  }

  /** Throws if the runtime was destroyed (DisposedError) or its thread pool is broken (ThreadPoolError). */
  check(): void {
    if (this.destroyed) throw new DisposedError('runtime');
    this.pool?.check(); // a broken pool (a worker died): ThreadPoolError, create a new runtime
  }

  /** Allocates room for `length` f32 values. */
  allocF32(length: number): WasmStorage {
    const bytes = Math.max(16, length * 4);
    if (this.ex.memory.buffer.byteLength + bytes > WASM_MAX_BYTES) {
      throw new LimitError(`wasm: allocating ${bytes} bytes would exceed the 4 GiB wasm memory limit`);
    }
    const ptr = this.ex.alloc(bytes) >>> 0;
    const s = { ptr, length };
    if (this.poison) this.view(s).fill(NaN);
    return s;
  }

  /** A live view of a storage block (recreate after any allocation: memory may grow). */
  view(s: WasmStorage): Float32Array {
    return new Float32Array(this.ex.memory.buffer, s.ptr, s.length);
  }

  /** Copies `data` into a new storage block. */
  upload(data: Float32Array): WasmStorage {
    const s = this.allocF32(data.length);
    this.view(s).set(data);
    return s;
  }

  /** Copies a storage block out to a new Float32Array. */
  read(s: WasmStorage): Float32Array {
    return this.view(s).slice();
  }

  /** Frees a storage block. */
  release(s: WasmStorage): void {
    if (!this.destroyed) this.ex.free(s.ptr);
  }

  /** Wasm features (fixed at build time), memory in use and the thread count. */
  info(): Record<string, unknown> {
    return { features: this.pool ? ['simd128', 'threads'] : ['simd128'], memoryBytes: this.ex.memory.buffer.byteLength, maxMemoryBytes: WASM_MAX_BYTES, threads: this.threads };
  }

  /** Marks the instance destroyed and terminates the pool's workers; later calls throw DisposedError. */
  destroy(): void {
    this.destroyed = true;
    this.pool?.destroy();
  }
}
