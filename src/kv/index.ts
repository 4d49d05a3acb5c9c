/**
 * KV-cache eviction: score -> select -> compact, one function per stage, the method by name.
 *
 * ```ts
 * const s = await scoreKV(rt, 'defensivekv', { q, k, v, wo, numHeads: 8, numKvHeads: 2, headDim: 64, compression: 0.8 });
 * const sel = await selectKV(s, { compression: 0.8, allocation: 'head-adaptive', runtime: rt });
 * // sel.keep[g] = sorted token indices KV head g keeps -> cache.compact(sel.keep)
 * ```
 *
 * Definitions (N tokens, window w, M = N - w scored columns for window methods, G = Hq / Hkv):
 * - Window attention: A[h,i,j] = softmax_j(q_{h,i} . k_j / sqrt(d)) over every key the row sees
 *   (causal inside the window), for the last w query rows; columns j >= M are dropped; avg-pool
 *   along keys with zero padding, always divided by the kernel (5).
 * - snapkv / pyramidkv / adakv: mean over the group's rows of the pooled A.
 * - defensivekv / layer-defensivekv: pooled rows rescaled to their pre-pool mass b = sum_{j<M} A;
 *   S1 = max over the group's rows; S = max(S1, mean_j S1). Then (as criticalkv):
 * - CriticalKV value weighting: S *= n[g,j] / sum_g' n[g',j] with n = mean over the group of
 *   ||v_j W_o^(h)||_1; without `wo` n = ||v_j||_1. (With one KV head the factor is 1.)
 *   Stage 1: per head, the smallest top set (by mean unpooled attention, ties by index) reaching
 *   mass 0.9 - (mean attention mass on the window) is pinned, at most kept - w tokens.
 * - h2o: sum over every given query row of A / (number of those rows that see j), mean over the group; last w pinned.
 * - tova: the last query's A averaged over all query heads; the last token pinned.
 * - prefixkv: sum over every given row of A, mean over all query heads; first `sinks` (1) and last token pinned.
 * - streamingllm: (j + 1) / N with the first `sinks` (4) pinned. knorm: -||k_j||_2.
 * Pinned tokens are kept regardless of score and count toward the budget; a budget below the
 * pinned count keeps only the pinned tokens. Selection breaks ties by token index (flat index
 * [layer, head, token] for adaptive and global allocations).
 */
import { ArgumentError, ShapeError } from '../errors.js';
import { KVCache } from '../kvcache.js';
import { Runtime } from '../runtime.js';
import { keyNorm, selectMask, valueNorm, windowPass } from './backend.js';
import { allocationBudgets, methodPlan, perHeadKeep, planScore, protectByMassF32 } from './plan.js';
import { refScoreKV, refSelectKV } from './reference.js';
import { KV_OPTION_KEYS, type KVMethod, type KVScores, type KVSelection, type ScoreKVOptions, type SelectKVOptions, type KVAllocation, type KVBudget } from './types.js';
import { checkKeys } from '../validate.js';

export * from './types.js';
export { keptPerHead, orderKey, profilePrefixKV, pyramidBudgets, prefixBudgets } from './plan.js';
export { refScoreKV, refSelectKV, refTopK, refValueNorm } from './reference.js';
export { synthKV, type SynthKVOptions } from './synth.js';
export { evaluateEviction, formatEvaluation, type EvaluateOptions, type EvaluationRow } from './evaluate.js';
export { encodeKVDump, decodeKVDump, KVDumpError, type KVDump, type KVDumpLayer } from './dump.js';

function checkRuntime(op: string, rt: unknown): Runtime {
  if (!(rt instanceof Runtime)) throw new ArgumentError(`${op}: the first argument must be a Runtime from createRuntime()`);
  return rt;
}

/**
 * Scores one layer's tokens for eviction with `method` on the runtime's backend (wasm SIMD or WGSL).
 * Returns scores [numKvHeads, N] (higher = keep) and the pinned flags. See the module doc for each method.
 */
export async function scoreKV(rt: Runtime, method: KVMethod, o: ScoreKVOptions): Promise<KVScores> {
  checkRuntime('scoreKV', rt);
  const p = planScore(method, o);
  const mp = methodPlan(method);
  const { hq, hkv, d, n, nq } = p;
  const g = hq / hkv;
  const scores = new Float32Array(hkv * n);
  const pinned = new Uint8Array(hkv * n);
  for (let kh = 0; kh < hkv; kh++) {
    for (let j = 0; j < p.sinks; j++) pinned[kh * n + j] = 1;
    for (let j = n - p.pinLast; j < n; j++) pinned[kh * n + j] = 1;
  }
  if (mp.kind === 'position') {
    for (let kh = 0; kh < hkv; kh++) for (let j = 0; j < n; j++) scores[kh * n + j] = (j + 1) / n;
  } else if (mp.kind === 'knorm') {
    scores.set(await keyNorm(rt, o.k, hkv * n, d));
  } else {
    const R = p.rows, C = p.cols, ks = mp.kind === 'window' ? p.kernel : 1;
    const res = await windowPass(rt, { hq, hkv, nq, R, n, d, C, ks }, o.q!, o.k, o.lse);
    const plane = hkv * C;
    const mx = res.planes.subarray(0, plane), sp = res.planes.subarray(plane, 2 * plane), sr = res.planes.subarray(2 * plane);
    if (mp.kind === 'window') {
      for (let kh = 0; kh < hkv; kh++) {
        if (mp.aggregate === 'defensive') {
          let mean = 0;
          for (let j = 0; j < C; j++) mean += mx[kh * C + j];
          mean /= C;
          for (let j = 0; j < C; j++) scores[kh * n + j] = Math.max(mx[kh * C + j], mean);
        } else {
          for (let j = 0; j < C; j++) scores[kh * n + j] = sp[kh * C + j] / (g * R);
        }
      }
      if (mp.critical) {
        const vn = await valueNorm(rt, o.v!, o.wo, hq, hkv, n, d, p.D);
        for (let j = 0; j < C; j++) {
          let tot = 0;
          for (let kh = 0; kh < hkv; kh++) tot += vn[kh * n + j];
          for (let kh = 0; kh < hkv; kh++) scores[kh * n + j] = scores[kh * n + j] * (tot > 0 ? vn[kh * n + j] / tot : 1 / hkv);
        }
        let outside = 0;
        for (let r = 0; r < hq * R; r++) outside += 1 - res.rows[r * 3 + 1];
        protectByMassF32(sr, hkv, C, n, 0.9 - outside / (hq * R), p.protectCap, pinned);
      }
    } else if (mp.kind === 'observed') {
      for (let kh = 0; kh < hkv; kh++) for (let j = 0; j < n; j++) scores[kh * n + j] = sr[kh * C + j] / (g * Math.min(R, n - j));
    } else {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kh = 0; kh < hkv; kh++) s += sr[kh * C + j];
        for (let kh = 0; kh < hkv; kh++) scores[kh * n + j] = s / hq;
      }
    }
  }
  return { method, numKvHeads: hkv, n, window: p.pinLast, scores, pinned };
}

/**
 * Selects the tokens to keep. One layer's scores -> one KVSelection; an array of layers -> an array.
 * With `runtime` the radix select runs on that backend (wasm or WebGPU); without it in JS. All three
 * keep exactly the same tokens for the same scores (ties by index).
 */
export async function selectKV(scores: KVScores, o: SelectKVOptions): Promise<KVSelection>;
export async function selectKV(scores: KVScores[], o: SelectKVOptions): Promise<KVSelection[]>;
export async function selectKV(scores: KVScores | KVScores[], o: SelectKVOptions): Promise<KVSelection | KVSelection[]> {
  const layers = Array.isArray(scores) ? scores : [scores];
  const plan = allocationBudgets(layers, o);
  if (o.runtime === undefined) return refSelectKV(scores, o);
  const rt = checkRuntime('selectKV (options.runtime)', o.runtime);
  const total = layers.reduce((s, l) => s + l.numKvHeads * l.n, 0);
  const sc = new Float32Array(total);
  let pin = new Uint8Array(total);
  const offs: number[] = [];
  let off = 0;
  for (const l of layers) {
    offs.push(off);
    sc.set(l.scores, off);
    pin.set(l.pinned, off);
    off += l.numKvHeads * l.n;
  }
  let mask: Uint8Array;
  if (plan.global !== undefined) {
    mask = await selectMask(rt, sc, pin, [0, total, plan.global]);
  } else {
    const floors: number[] = [];
    layers.forEach((l, li) => {
      if (plan.layers[li].floor > 0) for (let kh = 0; kh < l.numKvHeads; kh++) floors.push(offs[li] + kh * l.n, l.n, plan.layers[li].floor);
    });
    if (floors.length) {
      const fl = await selectMask(rt, sc, pin, floors);
      // entries outside any floor segment keep their own pins
      const merged = Uint8Array.from(pin);
      for (let s = 0; s < floors.length; s += 3) for (let x = floors[s]; x < floors[s] + floors[s + 1]; x++) merged[x] = fl[x];
      pin = merged;
    }
    const segs: number[] = [];
    layers.forEach((l, li) => {
      const b = plan.layers[li];
      if (b.adaptive) segs.push(offs[li], l.numKvHeads * l.n, b.perHead * l.numKvHeads);
      else for (let kh = 0; kh < l.numKvHeads; kh++) segs.push(offs[li] + kh * l.n, l.n, b.perHead);
    });
    mask = await selectMask(rt, sc, pin, segs);
  }
  const out = layers.map((l, li) => perHeadKeep(mask.subarray(offs[li], offs[li] + l.numKvHeads * l.n), l.numKvHeads, l.n));
  return Array.isArray(scores) ? out : out[0];
}

/** Options of `evictKV`: a budget plus optional allocation overrides (defaults: the method's own). */
export interface EvictKVOptions extends KVBudget {
  /** Default: the method's allocation ('per-head', or 'head-adaptive' for adakv/defensivekv, 'global', 'pyramid', 'prefix'). */
  allocation?: KVAllocation;
  /** AdaKV floor (default 0.2 for adakv, else 0). */
  alpha?: number;
  /** PyramidKV beta. */
  beta?: number;
  /** PrefixKV offline per-layer ratios. */
  layerRatios?: readonly number[];
  /** Run selection in JS instead of on the runtime. */
  selectOnHost?: boolean;
}

/** The method's default allocation and AdaKV alpha. */
export function defaultAllocation(method: KVMethod): { allocation: KVAllocation; alpha: number } {
  const mp = methodPlan(method);
  return { allocation: mp.defaultAllocation, alpha: mp.defaultAlpha };
}

/** One layer's input to `evictKV`: scoreKV's inputs, with k / v optional when `cache` holds them. */
export type EvictLayerInput = Omit<ScoreKVOptions, 'compression' | 'keepTokens' | 'k'> & {
  /** Keys [numKvHeads, N, headDim]; default: read from `cache`. */
  k?: Float32Array;
  /** This layer's KVCache: read for k / v when they are not given, and compacted to the selection. */
  cache?: KVCache;
};

/**
 * Whole model: scores every layer with `method`, selects with the method's allocation (or the
 * override), and compacts each layer's `cache` (when given) with `cache.compact(keep)`.
 * Caches must be dense (every head holds the same N tokens, as after prefill).
 * Returns each layer's scores and keep-lists.
 */
export async function evictKV(rt: Runtime, method: KVMethod, layers: readonly EvictLayerInput[],
  o: EvictKVOptions): Promise<{ scores: KVScores[]; selections: KVSelection[] }> {
  checkRuntime('evictKV', rt);
  if (!Array.isArray(layers) || layers.length === 0) throw new ArgumentError('evictKV: layers must be a non-empty array of per-layer inputs');
  if (o === null || typeof o !== 'object') throw new ArgumentError('evictKV: options { compression | keepTokens } are required');
  checkKeys('evictKV', 'options', o, KV_OPTION_KEYS.evict);
  layers.forEach((l, li) => {
    if (l === null || typeof l !== 'object') throw new ArgumentError(`evictKV: layers[${li}] must be an object of scoreKV inputs`);
    checkKeys('evictKV', `layers[${li}]`, l, KV_OPTION_KEYS.evictLayer);
  });
  const def = defaultAllocation(method);
  const budget: KVBudget = o.compression !== undefined ? { compression: o.compression } : { keepTokens: o.keepTokens };
  const scores: KVScores[] = [];
  for (let li = 0; li < layers.length; li++) {
    const { cache, ...l } = layers[li];
    let k = l.k, v = l.v;
    if (cache !== undefined) {
      if (!(cache instanceof KVCache)) throw new ArgumentError(`evictKV: layers[${li}].cache must be a KVCache`);
      if (k === undefined || (v === undefined && methodPlan(method).critical)) {
        const c = await cache.read();
        const lens = [...c.lengths];
        if (lens.some((x) => x !== lens[0])) {
          throw new ShapeError(`evictKV: layers[${li}].cache is already compacted (lengths ${lens.join(', ')}); scoring needs a dense cache`);
        }
        k ??= c.keys;
        v ??= c.values;
      }
    }
    if (k === undefined) throw new ArgumentError(`evictKV: layers[${li}] needs k or a cache`);
    scores.push(await scoreKV(rt, method, { ...l, k, v, ...budget }));
  }
  const selections = await selectKV(scores, {
    ...budget, allocation: o.allocation ?? def.allocation, alpha: o.alpha ?? def.alpha, beta: o.beta,
    layerRatios: o.layerRatios, runtime: o.selectOnHost ? undefined : rt,
  });
  layers.forEach((l, li) => l.cache?.compact(selections[li].keep));
  return { scores, selections };
}

/** Options of `evictCache` (decode-time eviction of one layer's cache). */
export interface EvictCacheOptions extends KVBudget {
  /** The most recent queries [numHeads, R, headDim]: the last R tokens appended to the cache (R >= window). */
  q?: Float32Array;
  /** Output projection [numHeads * headDim, D], optional (criticalkv / defensivekv). */
  wo?: Float32Array;
  /** Query heads. */
  numHeads: number;
  /** Window (default 32). */
  window?: number;
  /** Pool kernel (default 5). */
  kernel?: number;
  /** Leading tokens of each head kept (method default). */
  sinks?: number;
  /** Run selection in JS instead of on the runtime. */
  selectOnHost?: boolean;
}

/**
 * Decode-time eviction: re-scores what `cache` holds now (dense or already compacted: each KV head
 * is scored over its own tokens, with the last R cache entries as the R query positions) and
 * compacts every head to the budget (`keepTokens` holds a fixed size; `compression` is relative to
 * each head's current length). Call it every n decode steps. Allocation is per head; the CriticalKV
 * value weight is not normalised across heads here (each head is scored alone).
 * Returns the selection (indices into each head's tokens before this call).
 */
export async function evictCache(rt: Runtime, method: KVMethod, cache: KVCache, o: EvictCacheOptions): Promise<KVSelection> {
  checkRuntime('evictCache', rt);
  if (!(cache instanceof KVCache)) throw new ArgumentError('evictCache: cache must be a KVCache');
  if (o === null || typeof o !== 'object') throw new ArgumentError('evictCache: options { numHeads, keepTokens | compression, q } are required');
  checkKeys('evictCache', 'options', o, KV_OPTION_KEYS.evictCache);
  const hkv = cache.numKvHeads, d = cache.headDim;
  const hq = o.numHeads;
  if (typeof hq !== 'number' || !Number.isInteger(hq) || hq < 1 || hq % hkv !== 0) {
    throw new ShapeError(`evictCache: numHeads must be a positive multiple of the cache's numKvHeads ${hkv}, got ${String(hq)}`);
  }
  const g = hq / hkv;
  const mp = methodPlan(method);
  let R = 0;
  if (mp.rows !== 'none') {
    if (!(o.q instanceof Float32Array) || o.q.length === 0 || o.q.length % (hq * d) !== 0) {
      throw new ShapeError(`evictCache: q must be a Float32Array [numHeads ${hq}, R, headDim ${d}]`);
    }
    R = o.q.length / (hq * d);
  }
  let D = 0;
  if (o.wo !== undefined) {
    if (!(o.wo instanceof Float32Array) || o.wo.length === 0 || o.wo.length % (hq * d) !== 0) throw new ShapeError(`evictCache: wo must be [numHeads*headDim = ${hq * d}, D]`);
    D = o.wo.length / (hq * d);
  }
  const c = await cache.read();
  const keep: Int32Array[] = [];
  for (let kh = 0; kh < hkv; kh++) {
    const len = c.lengths[kh], off = c.offsets[kh];
    const budget: KVBudget = o.compression !== undefined ? { compression: o.compression } : { keepTokens: Math.min(len, o.keepTokens as number) };
    if (o.compression === undefined && (typeof o.keepTokens !== 'number' || !Number.isInteger(o.keepTokens) || o.keepTokens < 0)) {
      throw new ArgumentError(`evictCache: keepTokens must be a non-negative integer (or give compression), got ${String(o.keepTokens)}`);
    }
    if (len === 0) {
      keep.push(new Int32Array(0));
      continue;
    }
    const s = await scoreKV(rt, method, {
      q: R ? o.q!.subarray(kh * g * R * d, (kh + 1) * g * R * d) : undefined,
      k: c.keys.subarray(off * d, (off + len) * d), v: c.values.subarray(off * d, (off + len) * d),
      wo: D ? o.wo!.subarray(kh * g * d * D, (kh + 1) * g * d * D) : undefined,
      numHeads: g, numKvHeads: 1, headDim: d, window: o.window, kernel: o.kernel, sinks: o.sinks, ...budget,
    });
    const sel = await selectKV(s, { ...budget, runtime: o.selectOnHost ? undefined : rt });
    keep.push(sel.keep[0]);
  }
  cache.compact(keep);
  const counts = keep.map((x) => x.length);
  return { keep, numKvHeads: hkv, n: Math.max(0, ...c.lengths), counts, total: counts.reduce((a, b) => a + b, 0) };
}

/** The reference (f64, JS) scorer with the same signature as scoreKV minus the runtime; for tests and evaluation. */
export async function scoreKVReference(method: KVMethod, o: ScoreKVOptions): Promise<KVScores> {
  return refScoreKV(method, o);
}
