// matmul: validate, then dispatch to the wasm or WebGPU kernel.
import shader from '../../shaders/matmul.wgsl';
import { ArgumentError, DisposedError, DTypeError, ShapeError, LimitError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkBool, checkInt, checkKeys, describe } from '../validate.js';
import { floatToHalf, halfToFloat } from '../half.js';
import { runOp } from './add.js';

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
  /** Number of independent products (default 1). An operand with one matrix is broadcast over the batch. Not with batchA / batchB. */
  batch?: number;
  /**
   * Batch dims of A (A holds prod(batchA) matrices, row-major over these dims; default [] = one matrix).
   * batchA and batchB broadcast against each other as in numpy (right-aligned, missing leading dims
   * are 1, each pair equal or one of them 1); C has the broadcast batch shape. Dims may be 0.
   */
  batchA?: readonly number[];
  /** Batch dims of B (default [] = one matrix); see batchA. */
  batchB?: readonly number[];
}

const KNOWN = ['m', 'k', 'n', 'transposeA', 'transposeB', 'batch', 'batchA', 'batchB'] as const;

interface Plan {
  m: number; k: number; n: number; ta: boolean; tb: boolean;
  /** Products computed (the output's batch count; 0 when a batch dim is 0). */
  batch: number;
  /** Shape of C: [...batch dims, m, n]. */
  shape: number[];
  /** The batch as merged dims, outermost first, with the element strides of A and B along each (0 = broadcast). */
  dims: number[]; stridesA: number[]; stridesB: number[];
}

const OP = 'matmul';
/** Most merged batch dims the WGSL kernel takes (each is >= 2, so any batch a dispatch allows fits). */
const GPU_MAX_RANK = 16;

const prod = (d: readonly number[]) => d.reduce((x, y) => x * y, 1);
const dimsText = (d: readonly number[]) => `[${d.join(', ')}]`;

function checkDims(name: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new ArgumentError(`${OP}: ${name} must be an array of batch dims (non-negative integers), got ${describe(v)}`);
  return v.map((d, i) => checkInt(OP, `${name}[${i}]`, d, 0));
}

/** Validates sizes against the inputs' lengths; returns the launch plan. */
export function planMatmul(aLen: number, bLen: number, o: MatmulOptions): Plan {
  if (o === null || typeof o !== 'object') throw new ShapeError(`${OP}: options { m, k, n } are required`);
  checkKeys(OP, 'options', o, KNOWN);
  const m = checkInt(OP, 'm', o.m), k = checkInt(OP, 'k', o.k), n = checkInt(OP, 'n', o.n);
  const ta = checkBool(OP, 'transposeA', o.transposeA), tb = checkBool(OP, 'transposeB', o.transposeB);
  const shapeA = ta ? `${k}x${m}` : `${m}x${k}`;
  const shapeB = tb ? `${n}x${k}` : `${k}x${n}`;
  const perA = m * k, perB = k * n;
  let p: Plan;
  if (o.batchA !== undefined || o.batchB !== undefined) {
    if (o.batch !== undefined) throw new ArgumentError(`${OP}: give either batch or batchA / batchB, not both`);
    const da = o.batchA === undefined ? [] : checkDims('batchA', o.batchA);
    const db = o.batchB === undefined ? [] : checkDims('batchB', o.batchB);
    const r = Math.max(da.length, db.length);
    const pa = [...Array(r - da.length).fill(1), ...da], pb = [...Array(r - db.length).fill(1), ...db];
    const out = pa.map((x, i) => {
      const y = pb[i];
      if (x !== y && x !== 1 && y !== 1) {
        throw new ShapeError(`${OP}: batchA ${dimsText(da)} and batchB ${dimsText(db)} do not broadcast: dim ${i - r} is ${x} in A and ${y} in B (each pair must be equal or one of them 1)`);
      }
      return x === 1 ? y : x;
    });
    const want = (len: number, d: number[], per: number, name: string, shape: string) => {
      if (len !== prod(d) * per) {
        throw new ShapeError(`${OP}: ${name} has ${len} elements, expected ${prod(d) * per} (batch${name.toUpperCase()} ${dimsText(d)} x ${shape})`);
      }
    };
    want(aLen, da, perA, 'a', shapeA);
    want(bLen, db, perB, 'b', shapeB);
    // Element strides of each operand along the broadcast dims (0 where it is broadcast), then merge
    // neighbouring dims that step both operands evenly, so the kernels see as few dims as possible.
    const dims: number[] = [], sa: number[] = [], sb: number[] = [];
    let stepA = perA, stepB = perB;
    const rev: [number, number, number][] = [];
    for (let i = r - 1; i >= 0; i--) {
      rev.push([out[i], pa[i] === 1 ? 0 : stepA, pb[i] === 1 ? 0 : stepB]);
      stepA *= pa[i];
      stepB *= pb[i];
    }
    for (let i = rev.length - 1; i >= 0; i--) {
      const [d, x, y] = rev[i];
      if (d === 1) continue;
      const last = dims.length - 1;
      // the previous (outer) dim merges into this one when it steps by this one's whole extent
      if (last >= 0 && sa[last] === x * d && sb[last] === y * d) {
        dims[last] *= d;
        sa[last] = x;
        sb[last] = y;
      } else {
        dims.push(d);
        sa.push(x);
        sb.push(y);
      }
    }
    p = { m, k, n, ta, tb, batch: prod(out), shape: [...out, m, n], dims, stridesA: sa, stridesB: sb };
  } else {
    const batch = o.batch === undefined ? 1 : checkInt(OP, 'batch', o.batch);
    const stride = (len: number, per: number, name: string, shape: string): number => {
      if (len === per * batch) return per;
      if (batch > 1 && len === per) return 0;
      const want = batch > 1 ? `${per * batch} (batch ${batch} x ${shape}) or ${per} (one ${shape} broadcast)` : `${per} (${shape})`;
      throw new ShapeError(`${OP}: ${name} has ${len} elements, expected ${want}`);
    };
    const strideA = stride(aLen, perA, 'a', shapeA);
    const strideB = stride(bLen, perB, 'b', shapeB);
    p = {
      m, k, n, ta, tb, batch, shape: batch > 1 ? [batch, m, n] : [m, n],
      dims: batch > 1 ? [batch] : [], stridesA: batch > 1 ? [strideA] : [], stridesB: batch > 1 ? [strideB] : [],
    };
  }
  if (p.batch * m * n > 2 ** 31) throw new LimitError(`${OP}: output of ${p.batch * m * n} elements exceeds 2^31`);
  // One B for a contiguous run of A's (stored m x k): the batch folds into the rows of one product.
  if (!ta && p.batch > 0 && p.dims.length === 1 && p.stridesA[0] === perA && p.stridesB[0] === 0) {
    p = { ...p, m: p.dims[0] * m, batch: 1, dims: [], stridesA: [], stridesB: [] };
  }
  return p;
}

/** Runs matmul on tensors already on the backend; returns the device-resident result. */
export function matmulTensors(backend: BackendImpl, a: Tensor, b: Tensor, o: MatmulOptions): Tensor {
  const p = planMatmul(a.size, b.size, o);
  backend.check();
  if (backend.kind === 'wasm') return new Tensor(backend, wasmMatmul(backend, a.data() as WasmStorage, b.data() as WasmStorage, p), p.shape);
  return new Tensor(backend, gpuMatmul(backend, a.data() as GpuStorage, b.data() as GpuStorage, p), p.shape);
}

/** Checks that buffers fit the backend before anything is allocated (`bWords`: 4-byte words b's buffer takes, default bLen). */
export function checkMatmulLimits(backend: BackendImpl, aLen: number, bLen: number, o: MatmulOptions, bWords = bLen): void {
  const p = planMatmul(aLen, bLen, o);
  if (backend.kind === 'webgpu') {
    backend.checkBindable(OP, 'a', aLen);
    backend.checkBindable(OP, 'b', bWords);
    backend.checkBindable(OP, 'c', p.batch * p.m * p.n);
    const maxGroups = backend.device.limits.maxComputeWorkgroupsPerDimension;
    const z = prod(p.dims);
    const [wx, wy] = gpuTile(p.m);
    const gx = Math.ceil(p.n / (4 * wx)), gy = Math.ceil(p.m / (4 * wy));
    if (gx > maxGroups || gy > maxGroups || z > maxGroups) {
      throw new LimitError(`${OP}: needs ${gx}x${gy}x${z} workgroups, over this device's ${maxGroups} per dimension`);
    }
    if (p.dims.length > GPU_MAX_RANK) throw new LimitError(`${OP}: ${p.dims.length} batch dims after merging, over the kernel's ${GPU_MAX_RANK}`);
  }
}

/** The wasm kernel call for one run of `batch` products along the innermost batch dim (pointers in bytes). */
type WasmCall = (a: number, b: number, c: number, batch: number, strideA: number, strideB: number) => void;

function wasmMatmul(be: WasmBackend, a: WasmStorage, b: WasmStorage, p: Plan): WasmStorage {
  const ta = p.ta ? 1 : 0, tb = p.tb ? 1 : 0, mn = p.m * p.n;
  return wasmBatches(be, a.ptr, b.ptr, p, (pa, pb, pc, batch, sa, sb) => {
    if (!pooled(be, p, batch, pa, pb, pc, sa, sb, 0)) be.ex.matmulF32(pa, pb, pc, p.m, p.k, p.n, ta, tb, batch, sa, sb, mn);
  });
}

/** Micro-kernel tile of the wasm kernel (assembly/matmul.ts MR x NR): shares of C start on these multiples. */
const MR = 4, NR = 8;
/** Products smaller than this (m * k * n) run on one thread: waking a worker costs more (128^3 ran at 0.8x on 2 threads). */
const POOL_MIN_MKN = 128 * 128 * 128 + 1;
/** Tasks per thread: more, smaller shares balance the load when the OS delays one thread. */
const TASKS_PER_THREAD = 4;
/** Smallest share: columns (NR multiples) or rows (MR multiples), so repacking the other operand stays cheap. */
const MIN_SHARE_COLS = 64, MIN_SHARE_ROWS = 32;

/** Splits `blocks` blocks of `size` (the last one ending at `end`) into `parts` contiguous ranges. */
function ranges(blocks: number, size: number, end: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = 0; t < parts; t++) {
    const lo = Math.floor((t * blocks) / parts), hi = Math.floor(((t + 1) * blocks) / parts);
    if (hi > lo) out.push([lo * size, Math.min(hi * size, end)]);
  }
  return out;
}

/**
 * Runs one kernel call (a run of `batch` products) on the thread pool when there is one and the work is
 * worth it; returns false to let the caller run it on this thread. C is split into column ranges (multiples
 * of NR) when there are enough columns, else row ranges (multiples of MR), else the batch: every output
 * element is still computed by the same code in the same order, so the bits do not depend on the thread count.
 */
function pooled(be: WasmBackend, p: Plan, batch: number, pa: number, pb: number, pc: number, sa: number, sb: number, prepacked: number): boolean {
  const pool = be.pool;
  if (!pool || p.m * p.k * p.n * batch < POOL_MIN_MKN) return false;
  const T = pool.threads, ta = p.ta ? 1 : 0, tb = p.tb ? 1 : 0, mn = p.m * p.n, want = T * TASKS_PER_THREAD;
  const task = (a: number, c: number, nb: number, r0: number, r1: number, c0: number, c1: number, b = pb) =>
    [a, b, c, p.m, p.k, p.n, ta, tb, prepacked, nb, sa, sb, mn, r0, r1, c0, c1];
  let tasks: number[][];
  const colBlocks = Math.ceil(p.n / NR), rowBlocks = Math.ceil(p.m / MR);
  const parts = (blocks: number, minBlocks: number) => Math.max(T, Math.min(want, Math.floor(blocks / minBlocks)));
  if (p.m * p.k * p.n < POOL_MIN_MKN && batch >= T) {
    tasks = ranges(batch, 1, batch, Math.min(batch, want)).map(([z0, z1]) => task(pa + z0 * sa * 4, pc + z0 * mn * 4, z1 - z0, 0, p.m, 0, p.n, pb + z0 * sb * 4));
  } else if (colBlocks >= T) {
    tasks = ranges(colBlocks, NR, p.n, Math.min(colBlocks, parts(colBlocks, MIN_SHARE_COLS / NR))).map(([c0, c1]) => task(pa, pc, batch, 0, p.m, c0, c1));
  } else if (rowBlocks >= T) {
    tasks = ranges(rowBlocks, MR, p.m, Math.min(rowBlocks, parts(rowBlocks, MIN_SHARE_ROWS / MR))).map(([r0, r1]) => task(pa, pc, batch, r0, r1, 0, p.n));
  } else {
    return false;
  }
  if (tasks.length < 2) return false;
  pool.runMatmul(tasks);
  return true;
}

/** Allocates C and walks the plan's batch dims: the kernel walks the innermost dim with its strides, the outer ones are walked here. */
function wasmBatches(be: WasmBackend, aPtr: number, bPtr: number, p: Plan, call: WasmCall): WasmStorage {
  const mn = p.m * p.n;
  const c = be.allocF32(p.batch * mn);
  if (p.batch === 0) return c;
  const r = p.dims.length;
  if (r <= 1) {
    call(aPtr, bPtr, c.ptr, r ? p.dims[0] : 1, r ? p.stridesA[0] : 0, r ? p.stridesB[0] : 0);
    return c;
  }
  const inner = p.dims[r - 1], idx = new Array<number>(r - 1).fill(0);
  let offA = 0, offB = 0;
  for (let o = 0, count = p.batch / inner; o < count; o++) {
    call(aPtr + offA * 4, bPtr + offB * 4, c.ptr + o * inner * mn * 4, inner, p.stridesA[r - 1], p.stridesB[r - 1]);
    for (let d = r - 2; d >= 0; d--) {
      offA += p.stridesA[d];
      offB += p.stridesB[d];
      if (++idx[d] < p.dims[d]) break;
      offA -= idx[d] * p.stridesA[d];
      offB -= idx[d] * p.stridesB[d];
      idx[d] = 0;
    }
  }
  return c;
}

/** Workgroup shape [x, y] (each invocation computes 4 x 4 outputs): 64 x 64 tiles, or 16 x 256 for short A. */
function gpuTile(m: number): [number, number] {
  return m <= 16 ? [64, 4] : [16, 16];
}

/** `bF16`: b holds f16 values two per u32 (a PackedB with storage 'f16'; one matrix, so B's offsets are 0). */
function gpuMatmul(be: WebGpuBackend, a: GpuStorage, b: GpuStorage, p: Plan, bF16 = false): GpuStorage {
  const c = be.alloc(p.batch * p.m * p.n);
  if (p.batch === 0) return c;
  // vec4 loads along a stored matrix's rows when its row length is a multiple of 4.
  const rowA = p.ta ? p.m : p.k, rowB = p.tb ? p.k : p.n;
  const [wx, wy] = gpuTile(p.m);
  const pipeline = be.pipeline('matmul', shader, {
    TRANS_A: p.ta ? 1 : 0, TRANS_B: p.tb ? 1 : 0, VEC_A: rowA % 4 === 0 ? 1 : 0, VEC_B: rowB % 4 === 0 ? 1 : 0,
    B_F16: bF16 ? 1 : 0, WG_X: wx, WG_Y: wy,
  });
  // Params: m, k, n, strideC, rank, 3 x pad, then per batch dim, innermost first: (size, strideA, strideB, 0).
  const u = new Array<number>(8 + 4 * GPU_MAX_RANK).fill(0);
  u.splice(0, 5, p.m, p.k, p.n, p.m * p.n, p.dims.length);
  for (let i = 0, d = p.dims.length - 1; d >= 0; d--, i++) u.splice(8 + 4 * i, 3, p.dims[d], p.stridesA[d], p.stridesB[d]);
  const params = be.uniform(u);
  be.dispatch(pipeline, [a.buffer, b.buffer, c.buffer, params], [Math.ceil(p.n / (4 * wx)), Math.ceil(p.m / (4 * wy)), prod(p.dims)]);
  params.destroy();
  return c;
}

/** Element type of a packed B: `'f32'`, or `'f16'` (IEEE half values, see PackBOptions.dtype). */
export type PackedDType = 'f32' | 'f16';

/** Options of `rt.packB`: the shape of op(B), as later given to rt.matmul, and the values' type. */
export interface PackBOptions {
  /** Rows of op(B). */
  k: number;
  /** Columns of op(B). */
  n: number;
  /** B is stored n x k (row-major), e.g. a PyTorch Linear weight [out][in], and used transposed. */
  transposeB?: boolean;
  /**
   * `'f32'` (default): b is a Float32Array or a Tensor. `'f16'`: B's values are IEEE halves, given as a Uint16Array
   * of their bits (e.g. an F16 safetensors tensor) or as a Float32Array rounded to the nearest f16 (ties to even;
   * a finite value past 65504 is an ArgumentError). On WebGPU they stay 16-bit on the device, two per u32, and the
   * kernel unpacks them with `unpack2x16float` (core WGSL, no `shader-f16` needed) and accumulates in f32: half
   * the memory and memory traffic of B. Wasm has no f16 arithmetic: there they are converted to f32 at packing
   * (`packed.storage` says which), with the same values, so results agree across backends.
   */
  dtype?: PackedDType;
}

/**
 * A right-hand matmul operand kept in the kernel's layout across calls (a linear layer's weight): create it
 * with `rt.packB(b, { k, n })`, use it as `rt.matmul(a, packed, { m, k, n })` as often as needed, then
 * `dispose()`. On wasm B is packed once into the micro-kernel's column slivers, so each matmul skips the
 * packing (results are bit for bit those of the unpacked B). On WebGPU it holds the plain buffer (the WGSL
 * kernel reads B in place), as f32 or, with `dtype: 'f16'`, as halves two per u32.
 */
export class PackedB {
  /** Rows of op(B). */
  readonly k: number;
  /** Columns of op(B). */
  readonly n: number;
  /** Whether B was given stored n x k. */
  readonly transposeB: boolean;
  /** True when the storage holds the wasm packed layout (false on WebGPU: the buffer as given). */
  readonly packed: boolean;
  /** The values' type as packed (`dtype` option): with `'f16'` every value is an f16, whatever the storage. */
  readonly dtype: PackedDType;
  /** How the values are held on the device: `'f16'` (WebGPU, two per u32) or `'f32'` (wasm always, WebGPU for f32). */
  readonly storage: PackedDType;
  /** Bytes the packed copy takes on the device (the wasm layout pads n to a multiple of 8). */
  readonly bytes: number;
  private store: Tensor | undefined;

  /** @internal */
  constructor(readonly backend: BackendImpl, store: Tensor, k: number, n: number, transposeB: boolean, packed: boolean,
    dtype: PackedDType = 'f32', storage: PackedDType = 'f32', bytes = store.size * 4) {
    this.store = store;
    this.k = k;
    this.n = n;
    this.transposeB = transposeB;
    this.packed = packed;
    this.dtype = dtype;
    this.storage = storage;
    this.bytes = bytes;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.store === undefined;
  }

  /** @internal The storage (u32 words of f16 pairs when storage is 'f16'); throws DisposedError if disposed. */
  data(): Tensor {
    if (!this.store) throw new DisposedError('packed matrix');
    return this.store;
  }

  /**
   * Copies op(B) back as a new k x n row-major Float32Array (f16 values as their exact f32), whatever the
   * layout: B transposed when it was packed with transposeB. Rejects with DisposedError after dispose().
   */
  async read(): Promise<Float32Array> {
    const t = this.data();
    const raw = await t.read();
    const { k, n } = this;
    if (this.packed) {
      // wasm layout (assembly/matmul.ts packBWhole): panel pc (KC rows of op(B)) at pc * nPad, sliver of
      // columns j0..j0+NR at pc * nPad + j0 * kc, element (kk, j) of the sliver at kk * NR + (j - j0).
      const out = new Float32Array(k * n), nPad = Math.ceil(n / NR) * NR;
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        for (let j = 0; j < n; j++) {
          const j0 = j - (j % NR), base = pc * nPad + j0 * kc + (j - j0);
          for (let kk = 0; kk < kc; kk++) out[(pc + kk) * n + j] = raw[base + kk * NR];
        }
      }
      return out;
    }
    const vals = this.storage === 'f16' ? halfToFloat(new Uint16Array(raw.buffer, raw.byteOffset, k * n)) : raw.subarray(0, k * n);
    if (!this.transposeB) return vals.slice();
    const out = new Float32Array(k * n);
    for (let j = 0; j < n; j++) for (let kk = 0; kk < k; kk++) out[kk * n + j] = vals[j * k + kk];
    return out;
  }

  /** Frees the packed copy; further use throws DisposedError. Idempotent. */
  dispose(): void {
    this.store?.dispose();
    this.store = undefined;
  }
}

/** K block of the wasm kernel's packed layout (assembly/matmul.ts KC). */
const KC = 256;

const PACK_OP = 'packB';

/** @internal rt.packB: validates, copies b in (Float32Array / Uint16Array) or reads it on the device (Tensor), packs once. */
export function packBOp(be: BackendImpl, b: unknown, o: PackBOptions): PackedB {
  if (o === null || typeof o !== 'object') throw new ShapeError(`${PACK_OP}: options { k, n } are required`);
  checkKeys(PACK_OP, 'options', o, ['k', 'n', 'transposeB', 'dtype']);
  const k = checkInt(PACK_OP, 'k', o.k), n = checkInt(PACK_OP, 'n', o.n), tb = checkBool(PACK_OP, 'transposeB', o.transposeB);
  const dtype = o.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new ArgumentError(`${PACK_OP}: dtype must be 'f32' or 'f16', got ${describe(o.dtype)}`);
  let len: number;
  if (b instanceof Tensor) {
    if (dtype === 'f16') throw new DTypeError(`${PACK_OP}: dtype 'f16' takes b from the host (a Uint16Array of half bits or a Float32Array to round), not a Tensor (device tensors are f32)`);
    if (b.backend !== be) throw new ArgumentError(`${PACK_OP}: b is a Tensor of another runtime`);
    len = b.data().length;
  } else if (b instanceof Float32Array) {
    len = b.length;
  } else if (b instanceof Uint16Array) {
    if (dtype !== 'f16') throw new DTypeError(`${PACK_OP}: a Uint16Array b holds f16 bits: pass dtype: 'f16'`);
    len = b.length;
  } else {
    throw new DTypeError(`${PACK_OP}: b must be a Float32Array or a Tensor${dtype === 'f16' ? ' (or, with dtype \'f16\', a Uint16Array of half bits)' : ''}, got ${describe(b)}`);
  }
  if (len !== k * n) throw new ShapeError(`${PACK_OP}: b has ${len} elements, expected ${k * n} (${tb ? `${n}x${k}` : `${k}x${n}`})`);
  be.check();
  let src: Float32Array | Tensor = b as Float32Array | Tensor;
  if (dtype === 'f16') {
    const bits = b instanceof Uint16Array ? b : floatToHalf(b as Float32Array, (i, v) => {
      throw new ArgumentError(`${PACK_OP}: b[${i}] is ${v}, beyond the largest f16 (65504): it would round to infinity (pack it as f32)`);
    });
    if (be.kind === 'webgpu') {
      const words = Math.ceil(len / 2);
      be.checkBindable(PACK_OP, 'b', words);
      const s = be.alloc(words);
      // writeBuffer takes whole 4-byte words: an odd count gets one zero half of padding
      const even = len % 2 ? new Uint16Array(len + 1) : bits;
      if (even !== bits) even.set(bits);
      if (len) be.device.queue.writeBuffer(s.buffer, 0, even.buffer as ArrayBuffer, even.byteOffset, even.length * 2);
      return new PackedB(be, new Tensor(be, s, [words]), k, n, tb, false, 'f16', 'f16', words * 4);
    }
    src = halfToFloat(bits);
  }
  if (be.kind === 'webgpu') {
    be.checkBindable(PACK_OP, 'b', len);
    const t = src instanceof Tensor ? new Tensor(be, copyGpu(be, src.data() as GpuStorage), [len]) : new Tensor(be, be.upload(src), [len]);
    return new PackedB(be, t, k, n, tb, false, dtype, 'f32');
  }
  const floats = be.ex.matmulPackedFloats(k, n);
  const dst = new Tensor(be, be.allocF32(floats), [floats]);
  try {
    if (src instanceof Tensor) {
      be.ex.matmulPackB((src.data() as WasmStorage).ptr, k, n, tb ? 1 : 0, (dst.data() as WasmStorage).ptr);
    } else {
      const tmp = be.upload(src);
      try {
        be.ex.matmulPackB(tmp.ptr, k, n, tb ? 1 : 0, (dst.data() as WasmStorage).ptr);
      } finally {
        be.release(tmp);
      }
    }
  } catch (e) {
    dst.dispose();
    throw e;
  }
  return new PackedB(be, dst, k, n, tb, true, dtype, 'f32');
}

function copyGpu(be: WebGpuBackend, s: GpuStorage): GpuStorage {
  const out = be.alloc(s.length);
  const enc = be.device.createCommandEncoder();
  enc.copyBufferToBuffer(s.buffer, 0, out.buffer, 0, Math.max(4, s.length * 4));
  be.device.queue.submit([enc.finish()]);
  return out;
}

/**
 * @internal rt.matmul(a, packed, options): options as for a plain B, except that k and n must be the
 * packed matrix's, transposeB may only repeat how it was packed, and batchB may only be [] (one B).
 */
export function matmulPackedOp(be: BackendImpl, a: unknown, packed: PackedB, o: MatmulOptions): Tensor | Promise<Float32Array> {
  return runOp(be, OP, [['a', a]], ([aLen]) => {
    if (packed.backend !== be) throw new ArgumentError(`${OP}: b is a PackedB of another runtime`);
    const store = packed.data();
    if (o === null || typeof o !== 'object') throw new ShapeError(`${OP}: options { m, k, n } are required`);
    checkKeys(OP, 'options', o, KNOWN);
    if (o.transposeB !== undefined && o.transposeB !== packed.transposeB) {
      throw new ArgumentError(`${OP}: transposeB is ${describe(o.transposeB)} but b was packed with transposeB: ${packed.transposeB} (the transpose is fixed when packing; leave it out)`);
    }
    if (o.batchB !== undefined && (!Array.isArray(o.batchB) || o.batchB.some((d) => d !== 1))) {
      throw new ShapeError(`${OP}: b is one packed matrix; batchB must be left out (got ${describe(o.batchB)})`);
    }
    if (o.k !== packed.k || o.n !== packed.n) {
      throw new ShapeError(`${OP}: b was packed as ${packed.k}x${packed.n} (k x n), options say k ${describe(o.k)}, n ${describe(o.n)}`);
    }
    const opts = { ...o, transposeB: packed.transposeB };
    checkMatmulLimits(be, aLen, packed.k * packed.n, opts, packed.storage === 'f16' ? store.size : packed.k * packed.n);
    return planMatmul(aLen, packed.k * packed.n, opts);
  }, ([ta], p) => {
    const store = packed.data().data();
    if (be.kind === 'webgpu') return new Tensor(be, gpuMatmul(be, ta.data() as GpuStorage, store as GpuStorage, p, packed.storage === 'f16'), p.shape);
    const transA = p.ta ? 1 : 0, mn = p.m * p.n;
    // every stride of B is 0 (one matrix), so the packed copy serves each product
    const c = wasmBatches(be, (ta.data() as WasmStorage).ptr, (store as WasmStorage).ptr, p, (pa, pb, pc, batch, sa) => {
      if (!pooled(be, { ...p, tb: false }, batch, pa, 0, pc, sa, 0, pb)) be.ex.matmulPackedF32(pa, pb, pc, p.m, p.k, p.n, transA, batch, sa, mn);
    });
    return new Tensor(be, c, p.shape);
  });
}
