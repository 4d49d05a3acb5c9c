// transpose: validate, then dispatch to the wasm or WebGPU kernel (numpy's transpose, rank <= 4).
import shader from '../../shaders/transpose.wgsl';
import { ArgumentError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkInt, checkKeys, describe } from '../validate.js';
import { elementGrid, runOp } from './add.js';

const OP = 'transpose';

/**
 * Options of `rt.transpose(x, options)`: x is row-major of `shape` (rank 1..4), the result is
 * `[shape[perm[0]], shape[perm[1]], ...]` with out[i0][i1].. = x[..] at the permuted coordinates.
 */
export interface TransposeOptions {
  /** x's dims, outermost first (1 to 4 non-negative integers). */
  shape: readonly number[];
  /** A permutation of 0..rank-1: output axis i is input axis perm[i]. Default: the dims reversed. */
  perm?: readonly number[];
}

/** @internal The launch after validation: the output dims and, per output axis, its input stride (rank 4). */
export interface TransposePlan {
  outShape: number[];
  dims: number[];
  strides: number[];
  total: number;
}

/** @internal Validates shape and perm against x's length. */
export function planTranspose(xLen: number, options: TransposeOptions): TransposePlan {
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: an options object { shape, perm? } is required`);
  checkKeys(OP, 'options', options, ['shape', 'perm']);
  const shape = options.shape;
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > 4) {
    throw new ArgumentError(`${OP}: shape must be an array of 1 to 4 non-negative integers, got ${describe(shape)}`);
  }
  shape.forEach((d, i) => checkInt(OP, `shape[${i}]`, d, 0));
  const rank = shape.length;
  const perm = options.perm ?? shape.map((_, i) => rank - 1 - i);
  if (!Array.isArray(perm) || perm.length !== rank || [...perm].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new ArgumentError(`${OP}: perm must be a permutation of 0..${rank - 1} (one entry per axis of shape), got ${Array.isArray(perm) ? `[${perm.join(', ')}]` : describe(perm)}`);
  }
  const total = shape.reduce((a, b) => a * b, 1);
  if (xLen !== total) throw new ShapeError(`${OP}: x has ${xLen} elements, expected ${total} (shape [${shape.join(', ')}])`);
  if (total >= 2 ** 31) throw new LimitError(`${OP}: x of ${total} elements exceeds 2^31 - 1`);
  const inStride = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStride[i] = s;
    s *= shape[i];
  }
  const outShape = perm.map((a) => shape[a]);
  const pad = 4 - rank;
  const dims = [...new Array<number>(pad).fill(1), ...outShape];
  const strides = [...new Array<number>(pad).fill(0), ...perm.map((a) => inStride[a])];
  return { outShape, dims, strides, total };
}

interface TransposeExports {
  transposeF32(x: number, out: number, d0: number, d1: number, d2: number, d3: number, s0: number, s1: number, s2: number, s3: number): void;
}

/** @internal Runs transpose on a device tensor; the result has shape `p.outShape`. */
export function transposeTensor(be: BackendImpl, x: Tensor, p: TransposePlan): Tensor {
  be.check();
  const [d0, d1, d2, d3] = p.dims, [s0, s1, s2, s3] = p.strides;
  if (be.kind === 'wasm') {
    const w = be as WasmBackend;
    const out = w.allocF32(p.total);
    if (p.total) (w.ex as unknown as TransposeExports).transposeF32((x.data() as WasmStorage).ptr, out.ptr, d0, d1, d2, d3, s0, s1, s2, s3);
    return new Tensor(be, out, p.outShape);
  }
  const g = be as WebGpuBackend;
  g.checkBindable(OP, 'x', p.total);
  const [gx, gy] = elementGrid(g, OP, p.total);
  const out = g.alloc(p.total);
  if (p.total) {
    const params = g.uniform([d0, d1, d2, d3, s0, s1, s2, s3, p.total, gx, 0, 0]);
    g.dispatch(g.pipeline('transpose', shader), [(x.data() as GpuStorage).buffer, out.buffer, params], [gx, gy, 1]);
    params.destroy();
  }
  return new Tensor(be, out, p.outShape);
}

/**
 * @internal `rt.transpose`: permute the axes of x (row-major, `shape`, rank <= 4) by `perm`.
 * A Float32Array gives a Promise of a Float32Array; a Tensor gives a Tensor of the permuted shape.
 */
export function transposeOp(be: BackendImpl, x: unknown, options: TransposeOptions): Tensor | Promise<Float32Array> {
  return runOp(be, OP, [['x', x]], ([len]) => planTranspose(len, options), ([tx], p) => transposeTensor(be, tx, p));
}
