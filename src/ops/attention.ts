// attention: validate, then dispatch to the wasm kernel or the WGSL kernels.
// Prefill (q, k, v given densely) and decode (q against a KVCache) share the options, the mask
// rules and the wasm kernel; on WebGPU prefill is one flash kernel and decode is split-K.
import { ArgumentError, DTypeError, LimitError, ShapeError } from '../errors.js';
import { Tensor, type BackendImpl } from '../tensor.js';
import type { WasmBackend, WasmExports, WasmStorage } from '../backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';
import { checkBool, checkInt, checkKeys, describe, promised } from '../validate.js';
import type { KVCache } from '../kvcache.js';
import { attentionModule, checkHeadDim, encodePass, MAX_POSITION } from './attention_common.js';
import { TaskKind } from '../threads/pool.js';

/**
 * Options of `rt.attention(q, k, v, options)`.
 *
 * Layout (row-major f32): q and the output are `[batch][numHeads][seqQ][headDim]`, k and v are
 * `[batch][numKvHeads][seqK][headDim]`, lse is `[batch][numHeads][seqQ]`. `batch` defaults to 1;
 * seqQ and seqK follow from the lengths (pass them to have them checked).
 * Query head h reads KV head floor(h / (numHeads / numKvHeads)) (grouped-query attention).
 */
export interface AttentionOptions {
  /** Query heads per batch entry; a multiple of numKvHeads. */
  numHeads: number;
  /** Key/value heads per batch entry (1 = multi-query attention). */
  numKvHeads: number;
  /** Values per head vector: 1 to 256 (a multiple of 4 takes the vector fast path). */
  headDim: number;
  /** Causal mask, aligned to the end: query i sits at position seqK - seqQ + i and sees keys at positions <= its own. Default false. */
  causal?: boolean;
  /** Multiplies q.k before the softmax; default 1 / sqrt(headDim). */
  scale?: number;
  /** Sliding window: a query at position p sees only keys at positions p - window + 1 .. p (and, without `causal`, up to p + window - 1). 0 or absent: no window. */
  window?: number;
  /** Attention sinks: keys at positions < sinks stay visible despite the window (still subject to `causal`). Default 0. */
  sinks?: number;
  /**
   * Also return `lse` = natural log of the softmax denominator of each query row:
   * log(sum_j exp(s_j) + exp(sinkLogits[h]) + 1), the sum over the keys the row sees, s_j the final
   * logit (scale, softcap and bias applied), the sink term only with `sinkLogits` and the 1 only
   * with `smoothSoftmax`. So p_j = exp(s_j - lse) recomputes any attention probability without an
   * N x N matrix. A row with an empty denominator (no visible key, no sink, no smooth) has output 0
   * and lse -Infinity.
   */
  returnLse?: boolean;
  /** Logit soft-capping: s = softcap * tanh(s / softcap), applied to the scaled logit (before the bias). A number > 0; absent: none. */
  softcap?: number;
  /**
   * One logit per query head (numHeads values, the same for every batch entry) that joins each row's
   * softmax denominator with no value ("attention sink" logits, as in gpt-oss). Not scaled, not capped.
   */
  sinkLogits?: Float32Array;
  /** Smooth softmax: a zero logit (exp(0) = 1) joins every row's denominator with no value. Default false. */
  smoothSoftmax?: boolean;
  /**
   * Additive logit bias, added after the softcap and before the masks (a masked key stays masked);
   * -Infinity (any logit at or below -3e38) masks a key. Shape `biasShape`.
   */
  bias?: Float32Array | Tensor;
  /** `[1 | batch, 1 | numHeads, seqQ, seqK]`: a dim of 1 is broadcast. Default: `[batch, numHeads, seqQ, seqK]`. */
  biasShape?: number[];
  /** Independent batch entries (default 1); they are folded into the head dimension. */
  batch?: number;
  /** Query positions, checked against q's length when given. */
  seqQ?: number;
  /** Key positions, checked against k's length when given. */
  seqK?: number;
}

/**
 * Options of `rt.decode(q, cache, options)`: attention of a few new queries against a KVCache
 * (dense, or compacted by `cache.compact`). q is `[numHeads][seqQ][headDim]` with the cache's
 * headDim; keys are at their original positions, and query i sits at position `position + i`.
 * Batch: one cache per sequence and a loop, or one cache with numKvHeads = batch x KV heads and
 * numHeads = batch x query heads (sequences then share positions, so equal lengths).
 */
export interface DecodeOptions {
  /** Query heads; a multiple of the cache's numKvHeads. */
  numHeads: number;
  /** Must equal the cache's headDim when given. */
  headDim?: number;
  /** Keys at positions > the query's are masked. Default false. */
  causal?: boolean;
  /** As in AttentionOptions. */
  scale?: number;
  /** As in AttentionOptions, on original positions. */
  window?: number;
  /** As in AttentionOptions, on original positions. */
  sinks?: number;
  /** As in AttentionOptions (lse includes the sink and smooth terms). */
  returnLse?: boolean;
  /** Position of the first query; default `cache.position - seqQ` (the queries are the last tokens appended). */
  position?: number;
  /** As in AttentionOptions. */
  softcap?: number;
  /** One logit per query head (numHeads values), as in AttentionOptions. */
  sinkLogits?: Float32Array;
  /** As in AttentionOptions. */
  smoothSoftmax?: boolean;
  /**
   * Additive bias, as in AttentionOptions, of shape `biasShape` = `[b, 1 | numHeads / b, seqQ, cache.length]`
   * (b = 1, or the batch count of a batch-folded cache: heads are `[b][numHeads / b]`). Column j is the
   * j-th token the KV head holds (position j in a dense cache; its j-th kept token after compaction).
   */
  bias?: Float32Array | Tensor;
  /** See `bias`. Default: `[1, numHeads, seqQ, cache.length]`. */
  biasShape?: number[];
}

/** Output and log-sum-exp of an attention call made with `returnLse: true`. */
export interface AttentionResult<T> {
  /** `[numHeads][seqQ][headDim]` (times batch). */
  out: T;
  /** `[numHeads][seqQ]` (times batch): log of each row's softmax denominator (see `returnLse`). */
  lse: T;
}

/** @internal The attention launch, after validation. Heads include the batch. */
export interface AttentionPlan {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  seqQ: number;
  seqK: number;
  causal: boolean;
  scale: number;
  window: number;
  sinks: number;
  lse: boolean;
  qpos0: number;
  shapeOut: number[];
  shapeLse: number[];
  /** softcap (0 = none). */
  softcap: number;
  /** Sink logits: sinkLogits[h % sinkLogits.length] for head h. */
  sinkLogits?: Float32Array;
  smooth: boolean;
  /** Bias input and its strides (elements): head h, query i, key j reads (h / hpb) * sB + (h % hpb) * sH + i * row + j. */
  bias?: { input: Input; hpb: number; sB: number; sH: number; row: number; length: number };
}

interface AttentionExports {
  attentionTasks(args: number, t0: number, t1: number, scratch: number): void;
  attentionCombine(args: number, r0: number, r1: number, scratch: number): void;
  attentionScratchBytes(headDim: number): number;
}

const OP = 'attention';
const NEG_INF_BITS = 0xff800000;

/** Option names of rt.attention. */
const ATTENTION_OPTIONS = ['numHeads', 'numKvHeads', 'headDim', 'causal', 'scale', 'window', 'sinks', 'returnLse',
  'batch', 'seqQ', 'seqK', 'softcap', 'sinkLogits', 'smoothSoftmax', 'bias', 'biasShape'] as const;
/** Option names of rt.decode. */
const DECODE_OPTIONS = ['numHeads', 'headDim', 'causal', 'scale', 'window', 'sinks', 'returnLse', 'position',
  'softcap', 'sinkLogits', 'smoothSoftmax', 'bias', 'biasShape'] as const;

function checkOptions(op: string, o: unknown, known: readonly string[]): asserts o is Record<string, unknown> {
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${op}: an options object is required`);
  checkKeys(op, 'options', o, known);
}

function checkHeads(op: string, numHeads: unknown, numKvHeads: unknown): [number, number] {
  const h = checkInt(op, 'numHeads', numHeads), kh = checkInt(op, 'numKvHeads', numKvHeads);
  if (h % kh !== 0) {
    throw new ShapeError(`${op}: numHeads (${h}) must be a multiple of numKvHeads (${kh}) for grouped-query attention`);
  }
  return [h, kh];
}

interface MaskOptions { causal: boolean; scale: number; window: number; sinks: number; lse: boolean }

function checkMask(op: string, o: Record<string, unknown>, headDim: number): MaskOptions {
  const causal = checkBool(op, 'causal', o.causal);
  const lse = checkBool(op, 'returnLse', o.returnLse);
  const window = o.window === undefined ? 0 : checkInt(op, 'window', o.window, 0);
  const sinks = o.sinks === undefined ? 0 : checkInt(op, 'sinks', o.sinks, 0);
  if (window > MAX_POSITION || sinks > MAX_POSITION) throw new LimitError(`${op}: window and sinks must be <= 2^30`);
  let scale = 1 / Math.sqrt(headDim);
  if (o.scale !== undefined) {
    if (typeof o.scale !== 'number' || !Number.isFinite(o.scale)) {
      throw new ArgumentError(`${op}: scale must be a finite number, got ${describe(o.scale)}`);
    }
    scale = o.scale;
  }
  return { causal, scale, window, sinks, lse };
}

/** The logit options (softcap, sink logits, smooth softmax, bias) after validation. */
type LogitOptions = Pick<AttentionPlan, 'softcap' | 'sinkLogits' | 'smooth' | 'bias'>;

/**
 * Validates softcap, sinkLogits (`sinkHeads` values), smoothSoftmax and bias / biasShape. The bias
 * broadcasts over `[batches][heads / batches]`: shape [0] is 1 or `batches` (any divisor of `heads`
 * when `batches` is 0), [1] is 1 or the heads per entry, [2] = seqQ, [3] = seqK.
 */
function checkLogitOptions(be: BackendImpl, op: string, o: Record<string, unknown>, sinkHeads: number,
  heads: number, batches: number, seqQ: number, seqK: number): LogitOptions {
  let softcap = 0;
  if (o.softcap !== undefined) {
    if (typeof o.softcap !== 'number' || !Number.isFinite(o.softcap) || o.softcap <= 0) {
      throw new ArgumentError(`${op}: softcap must be a finite number > 0, got ${describe(o.softcap)}`);
    }
    softcap = o.softcap;
  }
  let sinkLogits: Float32Array | undefined;
  if (o.sinkLogits !== undefined) {
    if (!(o.sinkLogits instanceof Float32Array)) {
      throw new DTypeError(`${op}: sinkLogits must be a Float32Array (one logit per query head), got ${describe(o.sinkLogits)}`);
    }
    if (o.sinkLogits.length !== sinkHeads) {
      throw new ShapeError(`${op}: sinkLogits has ${o.sinkLogits.length} values, expected one per query head (${sinkHeads})`);
    }
    const bad = o.sinkLogits.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new ArgumentError(`${op}: sinkLogits[${bad}] = ${o.sinkLogits[bad]} is not finite`);
    sinkLogits = o.sinkLogits;
  }
  const smooth = checkBool(op, 'smoothSoftmax', o.smoothSoftmax);
  if (o.bias === undefined) {
    if (o.biasShape !== undefined) throw new ArgumentError(`${op}: biasShape is given without a bias`);
    return { softcap, sinkLogits, smooth };
  }
  const length = inputLength(be, op, 'bias', o.bias);
  const full = [batches || 1, batches ? heads / batches : heads, seqQ, seqK];
  let shape = full;
  if (o.biasShape !== undefined) {
    const bs = o.biasShape;
    if (!Array.isArray(bs) || bs.length !== 4) {
      throw new ArgumentError(`${op}: biasShape must be an array of 4 dims [1|batch, 1|numHeads, seqQ, seqK], got ${describe(bs)}`);
    }
    shape = bs.map((d, i) => checkInt(op, `biasShape[${i}]`, d));
  }
  const [b0, b1, b2, b3] = shape;
  const okBatch = batches ? b0 === 1 || b0 === batches : heads % b0 === 0;
  const hpb = batches ? heads / batches : heads / b0;
  if (!okBatch || (b1 !== 1 && b1 !== hpb) || b2 !== seqQ || b3 !== seqK) {
    const first = batches ? `1 or ${batches}` : `a divisor of numHeads ${heads}`;
    throw new ShapeError(`${op}: biasShape [${shape.join(', ')}] does not broadcast to the logits: expected [${first}, 1 or ${batches ? hpb : 'numHeads / that'}, seqQ ${seqQ}, seqK ${seqK}]`);
  }
  const want = b0 * b1 * b2 * b3;
  if (length !== want) {
    throw new ShapeError(`${op}: bias has ${length} elements, expected ${want} (biasShape [${shape.join(', ')}])`);
  }
  return {
    softcap, sinkLogits, smooth,
    bias: { input: o.bias as Input, hpb, sB: b0 === 1 ? 0 : b1 * b2 * b3, sH: b1 === 1 ? 0 : b2 * b3, row: b3, length },
  };
}

/** Validates prefill options against the inputs' lengths; returns the plan. */
export function planAttention(be: BackendImpl, qLen: number, kLen: number, vLen: number, options: AttentionOptions): AttentionPlan {
  checkOptions(OP, options, ATTENTION_OPTIONS);
  const o = options as unknown as Record<string, unknown>;
  const [h, kh] = checkHeads(OP, o.numHeads, o.numKvHeads);
  const hd = checkHeadDim(OP, o.headDim);
  const batch = o.batch === undefined ? 1 : checkInt(OP, 'batch', o.batch);
  const mask = checkMask(OP, o, hd);
  const qRow = batch * h * hd, kRow = batch * kh * hd;
  if (qLen % qRow !== 0 || qLen === 0) {
    throw new ShapeError(`${OP}: q has ${qLen} elements, expected a positive multiple of batch x numHeads x headDim = ${qRow} ([batch, numHeads, seqQ, headDim])`);
  }
  if (kLen % kRow !== 0 || kLen === 0) {
    throw new ShapeError(`${OP}: k has ${kLen} elements, expected a positive multiple of batch x numKvHeads x headDim = ${kRow} ([batch, numKvHeads, seqK, headDim])`);
  }
  if (vLen !== kLen) throw new ShapeError(`${OP}: v has ${vLen} elements, expected ${kLen} (the same shape as k)`);
  const seqQ = qLen / qRow, seqK = kLen / kRow;
  if (o.seqQ !== undefined && checkInt(OP, 'seqQ', o.seqQ) !== seqQ) {
    throw new ShapeError(`${OP}: q has ${qLen} elements, expected ${qRow * (o.seqQ as number)} (batch ${batch} x numHeads ${h} x seqQ ${o.seqQ} x headDim ${hd})`);
  }
  if (o.seqK !== undefined && checkInt(OP, 'seqK', o.seqK) !== seqK) {
    throw new ShapeError(`${OP}: k has ${kLen} elements, expected ${kRow * (o.seqK as number)} (batch ${batch} x numKvHeads ${kh} x seqK ${o.seqK} x headDim ${hd})`);
  }
  if (seqK > MAX_POSITION || seqQ > MAX_POSITION) throw new LimitError(`${OP}: sequences longer than 2^30 are not supported`);
  const lead = batch > 1 ? [batch, h] : [h];
  const logits = checkLogitOptions(be, OP, o, h, batch * h, batch, seqQ, seqK);
  return {
    numHeads: batch * h, numKvHeads: batch * kh, headDim: hd, seqQ, seqK, ...mask, qpos0: seqK - seqQ,
    shapeOut: [...lead, seqQ, hd], shapeLse: [...lead, seqQ], ...logits,
  };
}

/** Validates decode options against q's length and the cache; returns the plan (seqK = longest head). */
export function planDecode(be: BackendImpl, qLen: number, cache: KVCache, options: DecodeOptions): AttentionPlan {
  const op = 'decode';
  checkOptions(op, options, DECODE_OPTIONS);
  const o = options as unknown as Record<string, unknown>;
  const [h] = checkHeads(op, o.numHeads, cache.numKvHeads);
  const hd = cache.headDim;
  if (o.headDim !== undefined && o.headDim !== hd) {
    throw new ShapeError(`${op}: headDim ${describe(o.headDim)} does not match the cache's headDim ${hd}`);
  }
  const mask = checkMask(op, o, hd);
  const row = h * hd;
  if (qLen % row !== 0 || qLen === 0) {
    throw new ShapeError(`${op}: q has ${qLen} elements, expected a positive multiple of numHeads x headDim = ${row} ([numHeads, seqQ, headDim])`);
  }
  const seqQ = qLen / row;
  let qpos0 = cache.position - seqQ;
  if (o.position !== undefined) qpos0 = checkInt(op, 'position', o.position, 0);
  if (qpos0 + seqQ > MAX_POSITION) throw new LimitError(`${op}: positions beyond 2^30 are not supported`);
  const seqK = Math.max(0, ...cache.lengths);
  const logits = checkLogitOptions(be, op, o, h, h, 0, seqQ, seqK);
  return {
    numHeads: h, numKvHeads: cache.numKvHeads, headDim: hd, seqQ, seqK, ...mask,
    qpos0, shapeOut: [h, seqQ, hd], shapeLse: [h, seqQ], ...logits,
  };
}

/** @internal GPU launch geometry shared by both kernels: LANES per row, BQ rows, BK keys per tile. */
export function tiling(headDim: number): { lanes: number; bq: number; bk: number } {
  const lanes = headDim <= 128 ? 4 : 8;
  const padded = Math.ceil(headDim / 4) * 4;
  return { lanes, bq: 64 / lanes, bk: Math.min(64, Math.floor(2048 / padded)) };
}

/** @internal Decode geometry: with few query rows per KV head, more invocations share a row. */
export function decodeTiling(headDim: number, rows: number): { lanes: number; bq: number; bk: number } {
  const base = tiling(headDim);
  let lanes = 64;
  while (lanes > base.lanes && (64 / lanes) < rows) lanes /= 2;
  return { lanes, bq: 64 / lanes, bk: base.bk };
}

/** Bytes of workgroup memory the attention kernels use. */
const WORKGROUP_BYTES = 28672;

/** Checks sizes against the backend before anything is allocated. */
export function checkAttentionLimits(be: BackendImpl, p: AttentionPlan, lens: number[], decodeChunks = 0): void {
  const outLen = p.numHeads * p.seqQ * p.headDim;
  if (be.kind === 'wasm') return;
  lens.forEach((n, i) => be.checkBindable(OP, ['q', 'k', 'v'][i] ?? 'input', n));
  if (p.bias) be.checkBindable(OP, 'bias', p.bias.length);
  be.checkBindable(OP, 'output', outLen);
  const maxGroups = be.device.limits.maxComputeWorkgroupsPerDimension;
  if (be.device.limits.maxComputeWorkgroupStorageSize < WORKGROUP_BYTES) {
    throw new LimitError(`${OP}: the kernels need ${WORKGROUP_BYTES} bytes of workgroup memory, this device allows ${be.device.limits.maxComputeWorkgroupStorageSize}`);
  }
  if (decodeChunks) {
    const { bq } = decodeTiling(p.headDim, p.seqQ * p.numHeads / p.numKvHeads);
    const rows = p.numHeads * p.seqQ;
    be.checkBindable('decode', 'partials', rows * decodeChunks * Math.ceil(p.headDim / 4) * 4);
    const blocks = Math.ceil((p.seqQ * p.numHeads / p.numKvHeads) / bq);
    if (rows > maxGroups || blocks > maxGroups || p.numKvHeads > maxGroups) {
      throw new LimitError(`decode: numHeads x seqQ = ${rows} query rows exceed this device's ${maxGroups} workgroups per dimension`);
    }
  } else {
    const gx = Math.ceil(p.seqQ / tiling(p.headDim).bq);
    if (gx > maxGroups || p.numHeads > maxGroups) {
      throw new LimitError(`${OP}: needs ${gx} x ${p.numHeads} workgroups, over this device's ${maxGroups} per dimension`);
    }
  }
}

/** What an attention call produces on the backend. */
export interface AttentionTensors {
  out: Tensor;
  lse?: Tensor;
}

/** Runs prefill attention on tensors already on the backend. */
export function attentionTensors(be: BackendImpl, q: Tensor, k: Tensor, v: Tensor, p: AttentionPlan, bias?: Tensor): AttentionTensors {
  be.check();
  if (be.kind === 'wasm') {
    const meta = new Int32Array(2 * p.numKvHeads);
    for (let g = 0; g < p.numKvHeads; g++) {
      meta[g] = g * p.seqK;
      meta[p.numKvHeads + g] = p.seqK;
    }
    return wasmAttention(be, q.data() as WasmStorage, k.data() as WasmStorage, v.data() as WasmStorage, meta, 0, p,
      bias?.data() as WasmStorage | undefined);
  }
  return gpuPrefill(be, q.data() as GpuStorage, k.data() as GpuStorage, v.data() as GpuStorage, p,
    bias?.data() as GpuStorage | undefined);
}

/** Runs decode attention of q (on the backend) against the cache's current layout. */
export function decodeTensors(be: BackendImpl, q: Tensor, cache: KVCache, p: AttentionPlan, bias?: Tensor): AttentionTensors {
  be.check();
  const lay = cache._layout();
  if (be.kind === 'wasm') {
    const meta = new Int32Array(2 * p.numKvHeads);
    meta.set(lay.offsets, 0);
    meta.set(lay.lengths, p.numKvHeads);
    return wasmAttention(be, q.data() as WasmStorage, lay.k as WasmStorage, lay.v as WasmStorage, meta,
      (lay.pos as WasmStorage).ptr, p, bias?.data() as WasmStorage | undefined);
  }
  return gpuDecode(be, q.data() as GpuStorage, lay.k as GpuStorage, lay.v as GpuStorage, lay.pos as GpuStorage,
    lay.offsets, lay.lengths, p, bias?.data() as GpuStorage | undefined);
}

/** Flags word of the kernels: 1 bias, 2 sink logits, 4 smooth softmax. */
function logitFlags(p: AttentionPlan): number {
  return (p.bias ? 1 : 0) | (p.sinkLogits ? 2 : 0) | (p.smooth ? 4 : 0);
}

/** Words of the wasm kernels' argument block (assembly/attention.ts, attentionTasks). */
const ATTENTION_ARGS = 22;
/** Query rows (per KV head, position-major, head-minor) per task: 16 blocks of 4. */
const ROWS_PER_TASK = 64;
/** Keys per split-K chunk, at least (a multiple of the kernel's 128-key tile). */
const CHUNK_KEYS = 512;
/** Most split-K chunks per row: longer caches get longer chunks, so the partials stay O(headDim) per row. */
export const MAX_CHUNKS = 32;
/** Output rows per combine task (ATTENTION_COMBINE_ROWS in assembly/attention.ts; the kernel clamps the last task). */
const COMBINE_ROWS = 16;
/** Calls with fewer multiply-adds (rows x keys x headDim, twice) than this stay on the calling thread. */
const POOL_MIN_WORK = 1 << 19;
/**
 * Threads a call may wake beyond 2: one per this many multiply-adds. Waking a thread costs tens of
 * microseconds, so small calls (decode over a short cache) use a few threads, not all of a big machine's:
 * on a 16-core host decode at 1,024 tokens ran slower on 16 threads than on 1 while 2 gave 1.5x.
 */
const WORK_PER_EXTRA_THREAD = 1 << 22;

/**
 * @internal How a wasm attention call is cut into tasks: KV heads x tiles of ROWS_PER_TASK query rows x
 * chunks of CHUNK_KEYS keys. Chosen from the shapes alone, never from the thread count, so the same
 * tasks run (and the same split-K partials are combined in the same order) on 1 or N threads. Calls
 * whose rows fit one tile (decode: a few new tokens) split their keys when the longest head has more
 * than one chunk (chunks of CHUNK_KEYS keys, longer when that would make over MAX_CHUNKS); longer calls
 * split rows only.
 */
export function attentionPartition(numHeads: number, numKvHeads: number, seqQ: number, maxLen: number): { rows: number; tiles: number; chunk: number; chunks: number; tasks: number } {
  const R = seqQ * (numHeads / numKvHeads);
  const tiles = Math.ceil(R / ROWS_PER_TASK);
  const chunk = Math.max(CHUNK_KEYS, Math.ceil(maxLen / MAX_CHUNKS / 128) * 128);
  const chunks = tiles === 1 ? Math.max(1, Math.ceil(maxLen / chunk)) : 1;
  return { rows: ROWS_PER_TASK, tiles, chunk: chunks > 1 ? chunk : 0, chunks, tasks: numKvHeads * tiles * chunks };
}

function wasmAttention(be: WasmBackend, q: WasmStorage, k: WasmStorage, v: WasmStorage, metaData: Int32Array,
  pos: number, p: AttentionPlan, bias?: WasmStorage): AttentionTensors {
  const ex = be.ex as WasmExports & AttentionExports;
  const out = be.allocF32(p.numHeads * p.seqQ * p.headDim);
  let lse: WasmStorage | undefined;
  const temps: WasmStorage[] = [];
  const temp = (n: number) => {
    const t = be.allocF32(n);
    temps.push(t);
    return t;
  };
  try {
    lse = p.lse ? be.allocF32(p.numHeads * p.seqQ) : undefined;
    const sinkLen = p.sinkLogits?.length ?? 0;
    const meta = temp(metaData.length + sinkLen);
    let maxLen = 0;
    for (let g = 0; g < p.numKvHeads; g++) maxLen = Math.max(maxLen, metaData[p.numKvHeads + g]);
    const part = attentionPartition(p.numHeads, p.numKvHeads, p.seqQ, maxLen);
    const hp = Math.ceil(p.headDim / 4) * 4;
    const scratch = temp(ex.attentionScratchBytes(p.headDim) / 4);
    const partials = part.chunks > 1 ? temp(p.numHeads * p.seqQ * part.chunks * (hp + 4)) : undefined;
    // extra: softcap, flags, bias ptr, hpb, sB, sH, row, sink ptr, sink heads (see assembly/attention.ts).
    const extra = temp(9);
    const args = temp(ATTENTION_ARGS);
    const mem = be.ex.memory.buffer;
    new Int32Array(mem, meta.ptr, metaData.length).set(metaData);
    if (p.sinkLogits) new Float32Array(mem, meta.ptr + 4 * metaData.length, sinkLen).set(p.sinkLogits);
    const b = p.bias;
    new Int32Array(mem, extra.ptr, 9).set([0, logitFlags(p), bias ? bias.ptr : 0, b ? b.hpb : 1, b ? b.sB : 0, b ? b.sH : 0, b ? b.row : 0,
      p.sinkLogits ? meta.ptr + 4 * metaData.length : 0, Math.max(1, sinkLen)]);
    new Float32Array(mem, extra.ptr, 1)[0] = p.softcap;
    const av = new Int32Array(mem, args.ptr, ATTENTION_ARGS);
    av.set([q.ptr, k.ptr, v.ptr, out.ptr, lse ? lse.ptr : 0, p.numHeads, p.numKvHeads, p.seqQ, p.headDim, meta.ptr, pos,
      p.qpos0, 0, p.causal ? 1 : 0, p.window, p.sinks, extra.ptr, part.rows, part.tiles, part.chunk, part.chunks,
      partials ? partials.ptr : 0]);
    new Float32Array(mem, args.ptr + 4 * 12, 1)[0] = p.scale;
    const pool = be.pool;
    const work = 2 * p.numHeads * p.seqQ * maxLen * p.headDim;
    const threaded = pool !== undefined && part.tasks > 1 && work >= POOL_MIN_WORK;
    if (threaded) pool.run(TaskKind.attention, args.ptr, part.tasks, 2 + Math.floor(work / WORK_PER_EXTRA_THREAD));
    else ex.attentionTasks(args.ptr, 0, part.tasks, scratch.ptr);
    if (partials) {
      const rows = p.numHeads * p.seqQ;
      if (threaded && rows > 4 * COMBINE_ROWS) pool.run(TaskKind.attentionCombine, args.ptr, Math.ceil(rows / COMBINE_ROWS), 2 + Math.floor(rows / 256));
      else ex.attentionCombine(args.ptr, 0, rows, scratch.ptr);
    }
  } catch (e) {
    be.release(out);
    if (lse) be.release(lse);
    throw e;
  } finally {
    for (const t of temps) be.release(t);
  }
  return {
    out: new Tensor(be, out, p.shapeOut),
    lse: lse ? new Tensor(be, lse, p.shapeLse) : undefined,
  };
}

function f32Bits(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0];
}

/** The logit words of both kernels' Params: softcap, flags, bias strides, sink heads. */
function logitParams(p: AttentionPlan): number[] {
  const b = p.bias;
  return [f32Bits(p.softcap), logitFlags(p), b ? b.hpb : 1, b ? b.sB : 0, b ? b.sH : 0, b ? b.row : 0,
    Math.max(1, p.sinkLogits?.length ?? 0)];
}

/** The bias and sink-logit buffers of a launch (16-byte placeholders for what the call does not use). */
function gpuLogitBuffers(be: WebGpuBackend, p: AttentionPlan, bias?: GpuStorage): { bias: GPUBuffer; sink: GPUBuffer; temps: GpuStorage[] } {
  const temps: GpuStorage[] = [];
  let bb = bias;
  if (!bb) temps.push(bb = be.alloc(4));
  const sink = p.sinkLogits ? be.upload(p.sinkLogits) : be.alloc(4);
  temps.push(sink);
  return { bias: bb.buffer, sink: sink.buffer, temps };
}

function gpuPrefill(be: WebGpuBackend, q: GpuStorage, k: GpuStorage, v: GpuStorage, p: AttentionPlan, bias?: GpuStorage): AttentionTensors {
  const { lanes, bq, bk } = tiling(p.headDim);
  const out = be.alloc(p.numHeads * p.seqQ * p.headDim);
  const lse = be.alloc(p.lse ? p.numHeads * p.seqQ : 4);
  const mod = attentionModule('prefill', p.headDim);
  const pipeline = be.pipeline(mod.name, mod.code);
  const params = be.uniform([
    p.seqQ, p.seqK, p.headDim, p.numHeads / p.numKvHeads, bk, p.causal ? 1 : 0, p.window, p.sinks,
    p.lse ? 1 : 0, f32Bits(p.scale), p.qpos0 >>> 0, NEG_INF_BITS, lanes, Math.ceil(p.headDim / 4),
    ...logitParams(p), 0, 0, 0,
  ]);
  const lb = gpuLogitBuffers(be, p, bias);
  be.dispatch(pipeline, [q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer, params, lb.bias, lb.sink],
    [Math.ceil(p.seqQ / bq), p.numHeads, 1]);
  params.destroy();
  for (const t of lb.temps) be.release(t);
  if (!p.lse) be.release(lse);
  return {
    out: new Tensor(be, out, p.shapeOut),
    lse: p.lse ? new Tensor(be, lse, p.shapeLse) : undefined,
  };
}

/** @internal Split-K geometry for a cache whose longest head has `maxLen` tokens. */
export function decodeChunks(headDim: number, maxLen: number): { tilesPerChunk: number; nChunks: number } {
  const { bk } = tiling(headDim);
  const tiles = Math.max(1, Math.ceil(maxLen / bk));
  const tilesPerChunk = Math.max(1, Math.ceil(tiles / 128));
  return { tilesPerChunk, nChunks: Math.ceil(tiles / tilesPerChunk) };
}

function gpuDecode(be: WebGpuBackend, q: GpuStorage, k: GpuStorage, v: GpuStorage, pos: GpuStorage,
  offsets: Int32Array, lengths: Int32Array, p: AttentionPlan, bias?: GpuStorage): AttentionTensors {
  const group = p.numHeads / p.numKvHeads;
  const rows = p.seqQ * group;
  const { lanes, bq, bk } = decodeTiling(p.headDim, rows);
  const { tilesPerChunk, nChunks } = decodeChunks(p.headDim, p.seqK);
  const metaData = new Uint32Array(2 * p.numKvHeads);
  metaData.set(offsets, 0);
  metaData.set(lengths, p.numKvHeads);
  const meta = be.upload(new Float32Array(metaData.buffer));
  const hd4 = Math.ceil(p.headDim / 4);
  const po = be.alloc(p.numHeads * p.seqQ * nChunks * hd4 * 4);
  const pml = be.alloc(p.numHeads * p.seqQ * nChunks * 2);
  const out = be.alloc(p.numHeads * p.seqQ * p.headDim);
  const lse = be.alloc(p.lse ? p.numHeads * p.seqQ : 4);
  const params = be.uniform([
    p.seqQ, p.headDim, group, p.numKvHeads, bk, tilesPerChunk, nChunks, p.causal ? 1 : 0,
    p.window, p.sinks, f32Bits(p.scale), p.qpos0 >>> 0, NEG_INF_BITS, rows, p.lse ? 1 : 0, lanes,
    hd4, ...logitParams(p),
  ]);
  const lb = gpuLogitBuffers(be, p, bias);
  const mod = attentionModule('decode', p.headDim);
  const partial = be.pipeline(mod.name, mod.code, {}, 'partial');
  const merge = be.pipeline(mod.name, mod.code, {}, 'merge');
  const enc = be.device.createCommandEncoder();
  encodePass(be, enc, partial, [[0, q.buffer], [1, k.buffer], [2, v.buffer], [3, pos.buffer], [4, meta.buffer],
    [5, po.buffer], [6, pml.buffer], [7, params], [19, lb.bias]], [nChunks, p.numKvHeads, Math.ceil(rows / bq)]);
  encodePass(be, enc, merge, [[8, po.buffer], [9, pml.buffer], [10, out.buffer], [11, lse.buffer], [12, params],
    [20, lb.sink]], [p.numHeads * p.seqQ, 1, 1]);
  be.device.queue.submit([enc.finish()]);
  params.destroy();
  for (const s of [meta, po, pml, ...lb.temps]) be.release(s);
  if (!p.lse) be.release(lse);
  return {
    out: new Tensor(be, out, p.shapeOut),
    lse: p.lse ? new Tensor(be, lse, p.shapeLse) : undefined,
  };
}

/** Typed array or tensor input of an attention op. */
type Input = Float32Array | Tensor;

/** @internal Validates an input: a Float32Array or a Tensor of this backend; returns its length. */
export function inputLength(be: BackendImpl, op: string, name: string, x: unknown): number {
  if (x instanceof Tensor) {
    if (x.backend !== be) throw new ArgumentError(`${op}: ${name} is a Tensor of another runtime`);
    return x.data().length;
  }
  if (x instanceof Float32Array) return x.length;
  throw new DTypeError(`${op}: ${name} must be a Float32Array or a Tensor, got ${describe(x)}`);
}

/** @internal Uploads typed-array inputs as temporaries, runs `fn`, frees the temporaries. */
export function withInputs<T>(be: BackendImpl, inputs: Input[], fn: (ts: Tensor[]) => T): T {
  be.check();
  const temps: Tensor[] = [];
  try {
    const ts = inputs.map((x) => {
      if (x instanceof Tensor) return x;
      const t = new Tensor(be, be.upload(x), [x.length]);
      temps.push(t);
      return t;
    });
    return fn(ts);
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** @internal Reads results back and frees them: Float32Array, or { out, lse } with lse. */
export async function readAttention(be: BackendImpl, run: () => AttentionTensors):
  Promise<Float32Array | AttentionResult<Float32Array>> {
  const go = async () => {
    const r = run();
    try {
      const out = await r.out.read();
      if (!r.lse) return out;
      return { out, lse: await r.lse.read() };
    } finally {
      r.out.dispose();
      r.lse?.dispose();
    }
  };
  if (be.kind === 'webgpu') return be.scoped(go);
  return go();
}

/**
 * @internal `rt.attention`: validate, then run on typed arrays (Promise of arrays; every error,
 * validation included, rejects it) or, when any input is a Tensor, on tensors (Tensors returned
 * and errors thrown synchronously).
 */
export function attentionOp(be: BackendImpl, q: Input, k: Input, v: Input, options: AttentionOptions):
  Promise<Float32Array | AttentionResult<Float32Array>> | Tensor | AttentionResult<Tensor> {
  const plan = () => {
    const lens = [inputLength(be, OP, 'q', q), inputLength(be, OP, 'k', k), inputLength(be, OP, 'v', v)];
    const p = planAttention(be, lens[0], lens[1], lens[2], options);
    checkAttentionLimits(be, p, lens);
    const inputs = p.bias ? [q, k, v, p.bias.input] : [q, k, v];
    return () => withInputs(be, inputs, (ts) => attentionTensors(be, ts[0], ts[1], ts[2], p, ts[3]));
  };
  if (q instanceof Tensor || k instanceof Tensor || v instanceof Tensor) return tensorResult(plan()());
  return promised(() => readAttention(be, plan()));
}

/**
 * @internal `rt.decode`: validate, then attend q over the cache. A typed-array q gives a Promise
 * that rejects on any error; a Tensor q gives Tensors and throws synchronously.
 */
export function decodeOp(be: BackendImpl, q: Input, cache: KVCache, options: DecodeOptions):
  Promise<Float32Array | AttentionResult<Float32Array>> | Tensor | AttentionResult<Tensor> {
  const plan = () => {
    const len = inputLength(be, 'decode', 'q', q);
    if (cache === null || typeof cache !== 'object' || typeof (cache as KVCache)._layout !== 'function') {
      throw new ArgumentError(`decode: cache must be a KVCache from rt.createKVCache, got ${describe(cache)}`);
    }
    if (cache.backend !== be) throw new ArgumentError('decode: the cache belongs to another runtime');
    cache._layout(); // throws DisposedError on a disposed cache
    const p = planDecode(be, len, cache, options);
    checkAttentionLimits(be, p, [len], decodeChunks(p.headDim, p.seqK).nChunks);
    const inputs = p.bias ? [q, p.bias.input] : [q];
    return () => withInputs(be, inputs, (ts) => decodeTensors(be, ts[0], cache, p, ts[1]));
  };
  if (q instanceof Tensor) return tensorResult(plan()());
  return promised(() => readAttention(be, plan()));
}

function tensorResult(r: AttentionTensors): Tensor | AttentionResult<Tensor> {
  return r.lse ? { out: r.out, lse: r.lse } : r.out;
}
