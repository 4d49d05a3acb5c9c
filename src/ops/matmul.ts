// matmul: validate, then dispatch to the wasm or WebGPU kernel.
import shader from '../../shaders/matmul.wgsl';
import { ShapeError, LimitError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkBool, checkInt } from '../validate.js';

/** Options of `rt.matmul`. */
export interface MatmulOptions {
  /** Rows of op(A) and of C. */
  m: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Columns of op(B) and of C. */
  n: number;
  /** A is stored k x m (row-major) and used transposed. */
  transposeA?: boolean;
  /** B is stored n x k (row-major) and used transposed. */
  transposeB?: boolean;
  /** Number of independent products (default 1). An operand with one matrix is broadcast over the batch. */
  batch?: number;
}

interface Plan {
  m: number; k: number; n: number; batch: number;
  ta: boolean; tb: boolean;
  strideA: number; strideB: number;
}

const OP = 'matmul';

/** Validates sizes against the inputs' lengths; returns the launch plan. */
export function planMatmul(aLen: number, bLen: number, o: MatmulOptions): Plan {
  if (o === null || typeof o !== 'object') throw new ShapeError(`${OP}: options { m, k, n } are required`);
  const m = checkInt(OP, 'm', o.m), k = checkInt(OP, 'k', o.k), n = checkInt(OP, 'n', o.n);
  const batch = o.batch === undefined ? 1 : checkInt(OP, 'batch', o.batch);
  const ta = checkBool(OP, 'transposeA', o.transposeA), tb = checkBool(OP, 'transposeB', o.transposeB);
  const shapeA = ta ? `${k}x${m}` : `${m}x${k}`;
  const shapeB = tb ? `${n}x${k}` : `${k}x${n}`;
  const stride = (len: number, per: number, name: string, shape: string): number => {
    if (len === per * batch) return per;
    if (batch > 1 && len === per) return 0;
    const want = batch > 1 ? `${per * batch} (batch ${batch} x ${shape}) or ${per} (one ${shape} broadcast)` : `${per} (${shape})`;
    throw new ShapeError(`${OP}: ${name} has ${len} elements, expected ${want}`);
  };
  const strideA = stride(aLen, m * k, 'a', shapeA);
  const strideB = stride(bLen, k * n, 'b', shapeB);
  if (batch * m * n > 2 ** 31) throw new LimitError(`${OP}: output of ${batch * m * n} elements exceeds 2^31`);
  return { m, k, n, batch, ta, tb, strideA, strideB };
}

/** Runs matmul on tensors already on the backend; returns the device-resident result. */
export function matmulTensors(backend: BackendImpl, a: Tensor, b: Tensor, o: MatmulOptions): Tensor {
  const p = planMatmul(a.size, b.size, o);
  backend.check();
  const shape = p.batch > 1 ? [p.batch, p.m, p.n] : [p.m, p.n];
  if (backend.kind === 'wasm') return new Tensor(backend, wasmMatmul(backend, a.data() as WasmStorage, b.data() as WasmStorage, p), shape);
  return new Tensor(backend, gpuMatmul(backend, a.data() as GpuStorage, b.data() as GpuStorage, p), shape);
}

/** Checks that buffers fit the backend before anything is allocated. */
export function checkMatmulLimits(backend: BackendImpl, aLen: number, bLen: number, o: MatmulOptions): void {
  const p = planMatmul(aLen, bLen, o);
  if (backend.kind === 'webgpu') {
    backend.checkBindable(OP, 'a', aLen);
    backend.checkBindable(OP, 'b', bLen);
    backend.checkBindable(OP, 'c', p.batch * p.m * p.n);
    const maxGroups = backend.device.limits.maxComputeWorkgroupsPerDimension;
    const [wx, wy] = gpuTile(p.m);
    const gx = Math.ceil(p.n / (4 * wx)), gy = Math.ceil(p.m / (4 * wy));
    if (gx > maxGroups || gy > maxGroups || p.batch > maxGroups) {
      throw new LimitError(`${OP}: needs ${gx}x${gy}x${p.batch} workgroups, over this device's ${maxGroups} per dimension`);
    }
  }
}

function wasmMatmul(be: WasmBackend, a: WasmStorage, b: WasmStorage, p: Plan): WasmStorage {
  const c = be.allocF32(p.batch * p.m * p.n);
  be.ex.matmulF32(a.ptr, b.ptr, c.ptr, p.m, p.k, p.n, p.ta ? 1 : 0, p.tb ? 1 : 0, p.batch, p.strideA, p.strideB, p.m * p.n);
  return c;
}

/** Workgroup shape [x, y] (each invocation computes 4 x 4 outputs): 64 x 64 tiles, or 16 x 256 for short A. */
function gpuTile(m: number): [number, number] {
  return m <= 16 ? [64, 4] : [16, 16];
}

function gpuMatmul(be: WebGpuBackend, a: GpuStorage, b: GpuStorage, p: Plan): GpuStorage {
  const c = be.alloc(p.batch * p.m * p.n);
  // vec4 loads along a stored matrix's rows when its row length is a multiple of 4.
  const rowA = p.ta ? p.m : p.k, rowB = p.tb ? p.k : p.n;
  const [wx, wy] = gpuTile(p.m);
  const pipeline = be.pipeline('matmul', shader, {
    TRANS_A: p.ta ? 1 : 0, TRANS_B: p.tb ? 1 : 0, VEC_A: rowA % 4 === 0 ? 1 : 0, VEC_B: rowB % 4 === 0 ? 1 : 0,
    WG_X: wx, WG_Y: wy,
  });
  const params = be.uniform([p.m, p.k, p.n, p.batch, p.strideA, p.strideB, p.m * p.n, 0]);
  be.dispatch(pipeline, [a.buffer, b.buffer, c.buffer, params], [Math.ceil(p.n / (4 * wx)), Math.ceil(p.m / (4 * wy)), p.batch]);
  params.destroy();
  return c;
}
