// rope: validate, then dispatch to the wasm or WebGPU kernel.
//
// The cos/sin values are always prepared here, once per call, as a table with one row per token
// (or per sequence position when every batch entry uses the same positions): gathered from the
// caller's `cos`/`sin` caches, or evaluated in f64 (angle = pos * theta^(-2i / rotaryDim)) and
// rounded to f32. Both kernels then read the same table, so wasm and WebGPU rotate with identical
// cos/sin values, each within half an f32 ulp of the exact value.
import shader from '../../shaders/rope.wgsl';
import { ArgumentError, DTypeError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkBool, checkInt, checkKeys, describe, promised } from '../validate.js';

/**
 * Options of `rt.rope(x, options)`. x (and the result) is `[batch][numHeads][seq][headDim]`, f32.
 * Token s of batch entry b sits at position `offset + s`, or `positions[b * seq + s]`.
 */
export interface RopeOptions {
  /** Heads per batch entry. */
  numHeads: number;
  /** Values per head vector; even. */
  headDim: number;
  /** Tokens per batch entry. */
  seq: number;
  /** Independent sequences (default 1). */
  batch?: number;
  /** One non-negative integer position per [batch][seq] token (Int32Array or array); excludes `offset`. */
  positions?: Int32Array | readonly number[];
  /** Position of token 0 when `positions` is absent (default 0). */
  offset?: number;
  /** Base of the angles, pos * theta^(-2i / rotaryDim) (default 10000); not with `cos`/`sin`. */
  theta?: number;
  /** Leading dims that are rotated (even, at most headDim; default headDim); the rest pass through. */
  rotaryDim?: number;
  /** Rotate adjacent pairs (2i, 2i + 1) (GPT-J) instead of halves (i, i + rotaryDim / 2) (Llama, GPT-NeoX). Default false. */
  interleaved?: boolean;
  /** Cosine cache `[maxPos][rotaryDim / 2]`, indexed by position; given together with `sin`. */
  cos?: Float32Array;
  /** Sine cache `[maxPos][rotaryDim / 2]`, indexed by position; given together with `cos`. */
  sin?: Float32Array;
}

/** @internal The launch after validation, with the per-token cos/sin tables. */
export interface RopePlan {
  batch: number;
  numHeads: number;
  seq: number;
  headDim: number;
  rotaryDim: number;
  interleaved: boolean;
  /** Table rows per batch entry: seq (own positions per batch entry) or 0 (rows shared by the batch). */
  tableRows: number;
  cos: Float32Array;
  sin: Float32Array;
}

const OP = 'rope';
const KEYS = ['numHeads', 'headDim', 'seq', 'batch', 'positions', 'offset', 'theta', 'rotaryDim', 'interleaved', 'cos', 'sin'];
/** Largest position (positions are i32). */
const MAX_POSITION = 2 ** 31 - 1;

/** Reads `positions` into an Int32Array of `count` checked values. */
function readPositions(p: unknown, count: number): Int32Array {
  if (!(p instanceof Int32Array) && !Array.isArray(p)) {
    throw new DTypeError(`${OP}: positions must be an Int32Array or an array of integers, got ${describe(p)}`);
  }
  if (p.length !== count) {
    throw new ShapeError(`${OP}: positions has ${p.length} entries, expected ${count} (batch x seq, one per token)`);
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = p[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_POSITION) {
      throw new ArgumentError(`${OP}: positions[${i}] must be an integer in 0..2^31-1, got ${describe(v)}`);
    }
    out[i] = v;
  }
  return out;
}

/** Validates the options against x's length and builds the cos/sin tables. */
export function planRope(xLen: number, options: RopeOptions): RopePlan {
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: an options object { numHeads, headDim, seq } is required`);
  const o = options as unknown as Record<string, unknown>;
  checkKeys(OP, 'options', o, KEYS);
  const numHeads = checkInt(OP, 'numHeads', o.numHeads), headDim = checkInt(OP, 'headDim', o.headDim);
  const seq = checkInt(OP, 'seq', o.seq);
  const batch = o.batch === undefined ? 1 : checkInt(OP, 'batch', o.batch);
  if (headDim % 2 !== 0) throw new ArgumentError(`${OP}: headDim must be even (values rotate in pairs), got ${headDim}`);
  const rotaryDim = o.rotaryDim === undefined ? headDim : checkInt(OP, 'rotaryDim', o.rotaryDim);
  if (rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new ArgumentError(`${OP}: rotaryDim must be even and at most headDim (${headDim}), got ${rotaryDim}`);
  }
  const interleaved = checkBool(OP, 'interleaved', o.interleaved);
  const total = batch * numHeads * seq * headDim;
  if (xLen !== total) {
    throw new ShapeError(`${OP}: x has ${xLen} elements, expected ${total} (batch ${batch} x numHeads ${numHeads} x seq ${seq} x headDim ${headDim})`);
  }
  if (total >= 2 ** 31) throw new LimitError(`${OP}: x of ${total} elements exceeds 2^31 - 1`);

  if (o.positions !== undefined && o.offset !== undefined) {
    throw new ArgumentError(`${OP}: give either positions or offset, not both`);
  }
  const offset = o.offset === undefined ? 0 : checkInt(OP, 'offset', o.offset, 0);
  if (offset + seq - 1 > MAX_POSITION) throw new ArgumentError(`${OP}: offset + seq - 1 = ${offset + seq - 1} is beyond the largest position 2^31 - 1`);
  const positions = o.positions === undefined ? undefined : readPositions(o.positions, batch * seq);
  const rows = positions ? batch * seq : seq;
  const pos = (r: number) => (positions ? positions[r] : offset + r);
  const half = rotaryDim / 2;
  const cos = new Float32Array(rows * half), sin = new Float32Array(rows * half);

  if (o.cos !== undefined || o.sin !== undefined) {
    if (o.cos === undefined || o.sin === undefined) throw new ArgumentError(`${OP}: cos and sin caches must be given together`);
    if (o.theta !== undefined) throw new ArgumentError(`${OP}: theta cannot be combined with explicit cos/sin caches`);
    for (const name of ['cos', 'sin'] as const) {
      const c = o[name];
      if (!(c instanceof Float32Array)) throw new DTypeError(`${OP}: ${name} must be a Float32Array [maxPos][rotaryDim / 2], got ${describe(c)}`);
      if (c.length === 0 || c.length % half !== 0) {
        throw new ShapeError(`${OP}: ${name} has ${c.length} elements, expected a positive multiple of rotaryDim / 2 = ${half} ([maxPos][${half}])`);
      }
    }
    const uc = o.cos as Float32Array, us = o.sin as Float32Array;
    if (uc.length !== us.length) throw new ShapeError(`${OP}: sin has ${us.length} elements, expected ${uc.length} (the shape of cos)`);
    const maxPos = uc.length / half;
    for (let r = 0; r < rows; r++) {
      const p = pos(r);
      if (p >= maxPos) {
        const what = positions ? `positions[${r}] = ${p}` : `position ${p} (offset ${offset} + token ${r})`;
        throw new ArgumentError(`${OP}: ${what} is beyond the cos/sin caches, which hold positions 0..${maxPos - 1}`);
      }
      cos.set(uc.subarray(p * half, (p + 1) * half), r * half);
      sin.set(us.subarray(p * half, (p + 1) * half), r * half);
    }
  } else {
    let theta = 10000;
    if (o.theta !== undefined) {
      if (typeof o.theta !== 'number' || !Number.isFinite(o.theta) || o.theta <= 0) {
        throw new ArgumentError(`${OP}: theta must be a positive finite number, got ${describe(o.theta)}`);
      }
      theta = o.theta;
    }
    const invFreq = new Float64Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = theta ** (-(2 * i) / rotaryDim);
    for (let r = 0; r < rows; r++) {
      const p = pos(r);
      for (let i = 0; i < half; i++) {
        const a = p * invFreq[i];
        cos[r * half + i] = Math.cos(a);
        sin[r * half + i] = Math.sin(a);
      }
    }
  }
  return { batch, numHeads, seq, headDim, rotaryDim, interleaved, tableRows: positions ? seq : 0, cos, sin };
}

/** Threads per WebGPU workgroup (one per element). */
const WG = 256;

/** Checks sizes against the backend before anything is allocated. */
export function checkRopeLimits(be: BackendImpl, p: RopePlan): void {
  if (be.kind !== 'webgpu') return;
  const total = p.batch * p.numHeads * p.seq * p.headDim;
  be.checkBindable(OP, 'x', total);
  be.checkBindable(OP, 'cos/sin table', p.cos.length);
  const max = be.device.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.ceil(total / WG);
  if (Math.ceil(groups / Math.min(groups, max)) > max) {
    throw new LimitError(`${OP}: needs ${groups} workgroups, over this device's ${max} x ${max}`);
  }
}

/** Runs rope on a tensor already on the backend; returns the device-resident result of shape `shape`. */
export function ropeTensor(be: BackendImpl, x: Tensor, p: RopePlan, shape: readonly number[]): Tensor {
  be.check();
  if (be.kind === 'wasm') return new Tensor(be, wasmRope(be, x.data() as WasmStorage, p), [...shape]);
  return new Tensor(be, gpuRope(be, x.data() as GpuStorage, p), [...shape]);
}

interface RopeExports {
  ropeF32(x: number, out: number, cosT: number, sinT: number, batch: number, numHeads: number, seq: number,
    headDim: number, rotaryDim: number, interleaved: number, tableRows: number): void;
}

function wasmRope(be: WasmBackend, x: WasmStorage, p: RopePlan): WasmStorage {
  const ex = be.ex as unknown as RopeExports;
  const out = be.allocF32(x.length);
  let c: WasmStorage | undefined, s: WasmStorage | undefined;
  try {
    c = be.upload(p.cos);
    s = be.upload(p.sin);
    ex.ropeF32(x.ptr, out.ptr, c.ptr, s.ptr, p.batch, p.numHeads, p.seq, p.headDim, p.rotaryDim, p.interleaved ? 1 : 0, p.tableRows);
  } catch (e) {
    be.release(out);
    throw e;
  } finally {
    if (c) be.release(c);
    if (s) be.release(s);
  }
  return out;
}

function gpuRope(be: WebGpuBackend, x: GpuStorage, p: RopePlan): GpuStorage {
  const total = x.length;
  const out = be.alloc(total);
  const c = be.upload(p.cos), s = be.upload(p.sin);
  const groups = Math.ceil(total / WG);
  const gx = Math.min(groups, be.device.limits.maxComputeWorkgroupsPerDimension), gy = Math.ceil(groups / gx);
  const params = be.uniform([total, p.numHeads, p.seq, p.headDim, p.rotaryDim, p.tableRows, gx, 0]);
  const pipeline = be.pipeline('rope', shader, { INTERLEAVED: p.interleaved ? 1 : 0 });
  be.dispatch(pipeline, [x.buffer, c.buffer, s.buffer, out.buffer, params], [gx, gy, 1]);
  params.destroy();
  be.release(c);
  be.release(s);
  return out;
}

/**
 * @internal `rt.rope`: validate, then rotate. A Float32Array x gives a Promise of a Float32Array
 * (every error, validation included, rejects it); a Tensor x gives a Tensor of x's shape
 * synchronously and bad input throws.
 */
export function ropeOp(be: BackendImpl, x: unknown, options: RopeOptions): Tensor | Promise<Float32Array> {
  const plan = (): RopePlan => {
    let len: number;
    if (x instanceof Tensor) {
      if (x.backend !== be) throw new ArgumentError(`${OP}: x is a Tensor of another runtime`);
      len = x.data().length;
    } else if (x instanceof Float32Array) {
      len = x.length;
    } else {
      throw new DTypeError(`${OP}: x must be a Float32Array or a Tensor, got ${describe(x)}`);
    }
    const p = planRope(len, options);
    checkRopeLimits(be, p);
    be.check();
    return p;
  };
  if (x instanceof Tensor) return ropeTensor(be, x, plan(), x.shape);
  return promised(async () => {
    const p = plan();
    const run = async () => {
      const tx = new Tensor(be, be.upload(x as Float32Array), [(x as Float32Array).length]);
      let out: Tensor | undefined;
      try {
        out = ropeTensor(be, tx, p, tx.shape);
      } finally {
        tx.dispose();
      }
      try {
        return await out.read();
      } finally {
        out.dispose();
      }
    };
    return be.kind === 'webgpu' ? be.scoped(run) : run();
  });
}
