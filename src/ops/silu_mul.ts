// siluMul: validate, then dispatch to the wasm or WebGPU kernel (the SiLU-gated MLP product).
import shader from '../../shaders/silu_mul.wgsl';
import { ArgumentError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkKeys, describe } from '../validate.js';
import { elementGrid, runOp } from './add.js';

const OP = 'siluMul';

/** Options of `rt.siluMul(gate, up, options?)`: none yet (an unknown name is an ArgumentError). */
export type SiluMulOptions = Record<string, never>;

interface SiluMulExports {
  siluMulF32(g: number, u: number, out: number, n: number): void;
}

/** @internal Runs siluMul on device tensors; the result has `shape`. */
export function siluMulTensors(be: BackendImpl, gate: Tensor, up: Tensor, n: number, shape: readonly number[]): Tensor {
  be.check();
  if (be.kind === 'wasm') {
    const w = be as WasmBackend;
    const out = w.allocF32(n);
    if (n) (w.ex as unknown as SiluMulExports).siluMulF32((gate.data() as WasmStorage).ptr, (up.data() as WasmStorage).ptr, out.ptr, n);
    return new Tensor(be, out, [...shape]);
  }
  const g = be as WebGpuBackend;
  g.checkBindable(OP, 'gate', n);
  const [gx, gy] = elementGrid(g, OP, n);
  const out = g.alloc(n);
  if (n) {
    const params = g.uniform([n, gx, 0, 0]);
    g.dispatch(g.pipeline('silu_mul', shader), [(gate.data() as GpuStorage).buffer, (up.data() as GpuStorage).buffer, out.buffer, params], [gx, gy, 1]);
    params.destroy();
  }
  return new Tensor(be, out, [...shape]);
}

/**
 * @internal `rt.siluMul`: y = silu(gate) * up element-wise, silu(x) = x / (1 + e^-x); gate and up of
 * the same length. Typed arrays give a Promise; any Tensor gives a Tensor of gate's shape synchronously.
 */
export function siluMulOp(be: BackendImpl, gate: unknown, up: unknown, options?: unknown): Tensor | Promise<Float32Array> {
  return runOp(be, OP, [['gate', gate], ['up', up]], ([lg, lu]) => {
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: options must be an object, got ${describe(options)}`);
      checkKeys(OP, 'options', options, []);
    }
    if (lu !== lg) throw new ShapeError(`${OP}: up has ${lu} elements, expected ${lg} (the length of gate)`);
    if (lg >= 2 ** 31) throw new LimitError(`${OP}: gate of ${lg} elements exceeds 2^31 - 1`);
    return lg;
  }, ([tg, tu], n) => siluMulTensors(be, tg, tu, n, gate instanceof Tensor ? gate.shape : [n]));
}
