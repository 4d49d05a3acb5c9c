// rmsNorm: validate, then dispatch to the wasm or WebGPU kernel.
import shader from '../../shaders/rms_norm.wgsl';
import { ArgumentError, DTypeError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkInt, checkKeys, describe, promised } from '../validate.js';

/**
 * Options of `rt.rmsNorm(x, weight, options)`: x is `[rows][cols]` f32 (row-major), weight `[cols]`,
 * and each row is normalised on its own: y = h / sqrt(mean(h^2) + eps) * weight with h = x, or
 * h = x + residual.
 */
export interface RmsNormOptions {
  /** Independent rows (tokens). */
  rows: number;
  /** Values per row: the normalised (last) dimension. */
  cols: number;
  /**
   * Added to mean(h^2) under the square root; a finite number >= 0, default 1e-6 (Llama's value;
   * ONNX's SimplifiedLayerNormalization defaults to 1e-5, which its test vectors pass explicitly).
   */
  eps?: number;
  /** Same shape as x: h = x + residual is normalised, and the result is `{ out, sum: h }`. */
  residual?: Float32Array | Tensor;
}

/** Result of `rt.rmsNorm` with a residual: the normalised output and the sum it normalised. */
export interface RmsNormResult<T> {
  /** rmsNorm(x + residual) * weight, `[rows][cols]`. */
  out: T;
  /** x + residual, `[rows][cols]` (the next residual stream of a pre-norm transformer). */
  sum: T;
}

/** @internal The launch after validation. */
export interface RmsNormPlan {
  rows: number;
  cols: number;
  eps: number;
  residual: boolean;
}

const OP = 'rmsNorm';
const KEYS = ['rows', 'cols', 'eps', 'residual'];

/** Validates the options against the inputs' lengths (resLen: the residual's, or -1 when absent). */
export function planRmsNorm(xLen: number, wLen: number, resLen: number, options: RmsNormOptions): RmsNormPlan {
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: an options object { rows, cols } is required`);
  const o = options as unknown as Record<string, unknown>;
  checkKeys(OP, 'options', o, KEYS);
  const rows = checkInt(OP, 'rows', o.rows), cols = checkInt(OP, 'cols', o.cols);
  let eps = 1e-6;
  if (o.eps !== undefined) {
    if (typeof o.eps !== 'number' || !Number.isFinite(o.eps) || o.eps < 0) {
      throw new ArgumentError(`${OP}: eps must be a finite number >= 0, got ${describe(o.eps)}`);
    }
    eps = o.eps;
  }
  if (rows * cols >= 2 ** 31) throw new LimitError(`${OP}: x of ${rows * cols} elements exceeds 2^31 - 1`);
  if (xLen !== rows * cols) throw new ShapeError(`${OP}: x has ${xLen} elements, expected ${rows * cols} (rows ${rows} x cols ${cols})`);
  if (wLen !== cols) throw new ShapeError(`${OP}: weight has ${wLen} elements, expected ${cols} (cols)`);
  if (resLen >= 0 && resLen !== xLen) throw new ShapeError(`${OP}: residual has ${resLen} elements, expected ${xLen} (the shape of x, rows ${rows} x cols ${cols})`);
  return { rows, cols, eps, residual: resLen >= 0 };
}

/** WebGPU invocations per row: a power of two (1..256) giving each about 32 elements to sum. */
function threadsPerRow(cols: number): number {
  let t = 1;
  while (t < 256 && t * 32 < cols) t *= 2;
  return t;
}

/** Checks sizes against the backend before anything is allocated. */
export function checkRmsNormLimits(be: BackendImpl, p: RmsNormPlan): void {
  if (be.kind !== 'webgpu') return;
  be.checkBindable(OP, 'x', p.rows * p.cols);
  const max = be.device.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.ceil(p.rows / (256 / threadsPerRow(p.cols)));
  if (Math.ceil(groups / Math.min(groups, max)) > max) {
    throw new LimitError(`${OP}: ${p.rows} rows need ${groups} workgroups, over this device's ${max} x ${max}`);
  }
}

/** What rmsNorm produces on the backend: `sum` only with a residual. */
export interface RmsNormTensors {
  out: Tensor;
  sum?: Tensor;
}

/** Runs rmsNorm on tensors already on the backend; outputs get `shape`. */
export function rmsNormTensors(be: BackendImpl, x: Tensor, w: Tensor, res: Tensor | undefined, p: RmsNormPlan,
  shape: readonly number[]): RmsNormTensors {
  be.check();
  const [out, sum] = be.kind === 'wasm'
    ? wasmRmsNorm(be, x.data() as WasmStorage, w.data() as WasmStorage, res?.data() as WasmStorage | undefined, p)
    : gpuRmsNorm(be, x.data() as GpuStorage, w.data() as GpuStorage, res?.data() as GpuStorage | undefined, p);
  return {
    out: new Tensor(be, out, [...shape]),
    sum: sum ? new Tensor(be, sum, [...shape]) : undefined,
  };
}

interface RmsNormExports {
  rmsNormF32(x: number, res: number, w: number, out: number, sum: number, rows: number, cols: number, eps: number): void;
}

function wasmRmsNorm(be: WasmBackend, x: WasmStorage, w: WasmStorage, res: WasmStorage | undefined, p: RmsNormPlan):
  [WasmStorage, WasmStorage | undefined] {
  const ex = be.ex as unknown as RmsNormExports;
  const out = be.allocF32(p.rows * p.cols);
  let sum: WasmStorage | undefined;
  try {
    sum = res ? be.allocF32(p.rows * p.cols) : undefined;
    ex.rmsNormF32(x.ptr, res ? res.ptr : 0, w.ptr, out.ptr, sum ? sum.ptr : 0, p.rows, p.cols, p.eps);
  } catch (e) {
    be.release(out);
    if (sum) be.release(sum);
    throw e;
  }
  return [out, sum];
}

function gpuRmsNorm(be: WebGpuBackend, x: GpuStorage, w: GpuStorage, res: GpuStorage | undefined, p: RmsNormPlan):
  [GpuStorage, GpuStorage | undefined] {
  const n = p.rows * p.cols;
  const out = be.alloc(n);
  // Without a residual the kernel reads X in place of R and writes nothing to H (a 16-byte stand-in).
  const sum = be.alloc(res ? n : 4);
  const tpr = threadsPerRow(p.cols);
  const groups = Math.ceil(p.rows / (256 / tpr));
  const gx = Math.min(groups, be.device.limits.maxComputeWorkgroupsPerDimension), gy = Math.ceil(groups / gx);
  const epsBits = new Uint32Array(new Float32Array([p.eps]).buffer)[0];
  const params = be.uniform([p.rows, p.cols, gx, epsBits]);
  const pipeline = be.pipeline('rms_norm', shader, { TPR: tpr, RESIDUAL: res ? 1 : 0 });
  be.dispatch(pipeline, [x.buffer, (res ?? x).buffer, w.buffer, out.buffer, sum.buffer, params], [gx, gy, 1]);
  params.destroy();
  if (!res) {
    be.release(sum);
    return [out, undefined];
  }
  return [out, sum];
}

/** Validates an input: a Float32Array or a Tensor of this backend; returns its length. */
function inputLength(be: BackendImpl, name: string, x: unknown): number {
  if (x instanceof Tensor) {
    if (x.backend !== be) throw new ArgumentError(`${OP}: ${name} is a Tensor of another runtime`);
    return x.data().length;
  }
  if (x instanceof Float32Array) return x.length;
  throw new DTypeError(`${OP}: ${name} must be a Float32Array or a Tensor, got ${describe(x)}`);
}

/**
 * @internal `rt.rmsNorm`: validate, then normalise. With only typed arrays it returns a Promise of
 * a Float32Array (or `{ out, sum }` with a residual) and every error rejects it; with any Tensor
 * among x, weight and residual it returns Tensors synchronously and bad input throws.
 */
export function rmsNormOp(be: BackendImpl, x: unknown, weight: unknown, options: RmsNormOptions):
  Tensor | RmsNormResult<Tensor> | Promise<Float32Array | RmsNormResult<Float32Array>> {
  const res = options !== null && typeof options === 'object' ? (options as RmsNormOptions).residual : undefined;
  const plan = (): RmsNormPlan => {
    const xLen = inputLength(be, 'x', x), wLen = inputLength(be, 'weight', weight);
    const resLen = res === undefined ? -1 : inputLength(be, 'residual', res);
    const p = planRmsNorm(xLen, wLen, resLen, options);
    checkRmsNormLimits(be, p);
    be.check();
    return p;
  };
  const run = (p: RmsNormPlan): RmsNormTensors => {
    const temps: Tensor[] = [];
    const onDevice = (t: unknown): Tensor | undefined => {
      if (t === undefined || t instanceof Tensor) return t;
      const d = new Tensor(be, be.upload(t as Float32Array), [(t as Float32Array).length]);
      temps.push(d);
      return d;
    };
    try {
      const tx = onDevice(x)!, tw = onDevice(weight)!, tr = onDevice(res);
      return rmsNormTensors(be, tx, tw, tr, p, x instanceof Tensor ? x.shape : [p.rows, p.cols]);
    } finally {
      for (const t of temps) t.dispose();
    }
  };
  if (x instanceof Tensor || weight instanceof Tensor || res instanceof Tensor) {
    const r = run(plan());
    return r.sum ? { out: r.out, sum: r.sum } : r.out;
  }
  return promised(async () => {
    const p = plan();
    const go = async () => {
      const r = run(p);
      try {
        const out = await r.out.read();
        return r.sum ? { out, sum: await r.sum.read() } : out;
      } finally {
        r.out.dispose();
        r.sum?.dispose();
      }
    };
    return be.kind === 'webgpu' ? be.scoped(go) : go();
  });
}
