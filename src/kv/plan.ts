// Validation and planning shared by the reference and the backends: method table, shapes, budgets,
// the float-to-order key, per-layer budget allocation (per-head, AdaKV, PyramidKV, PrefixKV, global).
import { ArgumentError, ShapeError, DTypeError } from '../errors.js';
import { checkKeys, describe } from '../validate.js';
import { KV_METHODS, KV_OPTION_KEYS, type KVAllocation, type KVBudget, type KVMethod, type KVScores, type KVSelection, type ScoreKVOptions, type SelectKVOptions } from './types.js';

/** How a method computes its scores. */
export interface MethodPlan {
  kind: 'window' | 'observed' | 'shared' | 'position' | 'knorm';
  aggregate: 'mean' | 'defensive';
  critical: boolean;
  /** Which given query rows feed the attention pass. */
  rows: 'window' | 'all' | 'last' | 'none';
  /** Trailing tokens pinned: the window, the last token, or none. */
  pin: 'window' | 'last' | 'none';
  defaultSinks: number;
  defaultAllocation: KVAllocation;
  defaultAlpha: number;
}

const WINDOW = { kind: 'window', aggregate: 'mean', critical: false, rows: 'window', pin: 'window', defaultSinks: 0, defaultAllocation: 'per-head', defaultAlpha: 0 } as const;

/** The method table. */
export function methodPlan(method: KVMethod): MethodPlan {
  switch (method) {
    case 'snapkv': return { ...WINDOW };
    case 'pyramidkv': return { ...WINDOW, defaultAllocation: 'pyramid' };
    case 'adakv': return { ...WINDOW, defaultAllocation: 'head-adaptive', defaultAlpha: 0.2 };
    case 'criticalkv': return { ...WINDOW, critical: true };
    case 'defensivekv': return { ...WINDOW, aggregate: 'defensive', critical: true, defaultAllocation: 'head-adaptive' };
    case 'layer-defensivekv': return { ...WINDOW, aggregate: 'defensive', critical: true, defaultAllocation: 'global' };
    case 'h2o': return { ...WINDOW, kind: 'observed', rows: 'all' };
    case 'tova': return { ...WINDOW, kind: 'shared', rows: 'last', pin: 'last' };
    case 'prefixkv': return { ...WINDOW, kind: 'shared', rows: 'all', pin: 'last', defaultSinks: 1, defaultAllocation: 'prefix' };
    case 'streamingllm': return { ...WINDOW, kind: 'position', rows: 'none', pin: 'none', defaultSinks: 4 };
    case 'knorm': return { ...WINDOW, kind: 'knorm', rows: 'none', pin: 'none' };
    default:
      throw new ArgumentError(`scoreKV: unknown method ${describe(method)}; expected one of ${KV_METHODS.join(', ')}`);
  }
}

/** Validated sizes of one scoring call. */
export interface ScorePlan {
  hq: number; hkv: number; d: number; n: number; nq: number; w: number;
  /** Query rows of the attention pass (the last `rows` given rows). */
  rows: number;
  /** Scored key columns 0..cols-1 (N - w for window methods, N otherwise). */
  cols: number;
  kernel: number; sinks: number; pinLast: number;
  /** CriticalKV stage-1 cap (tokens per head). */
  protectCap: number;
  D: number;
}

function posInt(op: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ArgumentError(`${op}: ${name} must be an integer >= ${min}, got ${describe(v)}`);
  }
  return v;
}

function f32(op: string, name: string, x: unknown): Float32Array {
  if (!(x instanceof Float32Array)) throw new DTypeError(`${op}: ${name} must be a Float32Array, got ${describe(x)}`);
  return x;
}

/** Tokens kept per head for a budget over N tokens; throws ArgumentError on a bad budget. */
export function keptPerHead(op: string, n: number, b: KVBudget): number {
  if (b === null || typeof b !== 'object') throw new ArgumentError(`${op}: the budget must be an object { compression } or { keepTokens }, got ${describe(b)}`);
  checkKeys(op, 'the budget', b, KV_OPTION_KEYS.budget);
  const hasC = b.compression !== undefined, hasK = b.keepTokens !== undefined;
  if (hasC === hasK) throw new ArgumentError(`${op}: give exactly one of compression (fraction removed) or keepTokens`);
  if (hasC) {
    const r = b.compression;
    if (typeof r !== 'number' || !Number.isFinite(r) || r < 0 || r > 1) {
      throw new ArgumentError(`${op}: compression must be a fraction removed in [0, 1], got ${describe(r)}`);
    }
    return Math.min(n, Math.floor(n * (1 - r) + 1e-9));
  }
  const k = b.keepTokens;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > n) {
    throw new ArgumentError(`${op}: keepTokens must be an integer in [0, N = ${n}], got ${describe(k)}`);
  }
  return k;
}

/** The budget fields of a larger options object (keptPerHead refuses other keys). */
export function budgetOf(o: KVBudget): KVBudget {
  return { compression: o.compression, keepTokens: o.keepTokens };
}

/** Validates scoreKV inputs; returns the sizes. Throws ShapeError / ArgumentError / DTypeError. */
export function planScore(method: KVMethod, o: ScoreKVOptions): ScorePlan {
  const op = `scoreKV(${JSON.stringify(method)})`;
  const mp = methodPlan(method);
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${op}: options { k, numHeads, numKvHeads, headDim, ... } are required`);
  checkKeys(op, 'options', o, KV_OPTION_KEYS.score);
  const hq = posInt(op, 'numHeads', o.numHeads), hkv = posInt(op, 'numKvHeads', o.numKvHeads), d = posInt(op, 'headDim', o.headDim);
  if (hq % hkv !== 0) throw new ShapeError(`${op}: numHeads ${hq} is not a multiple of numKvHeads ${hkv}`);
  const k = f32(op, 'k', o.k);
  if (k.length === 0 || k.length % (hkv * d) !== 0) {
    throw new ShapeError(`${op}: k has ${k.length} elements, expected numKvHeads*N*headDim = ${hkv}*N*${d} with N >= 1`);
  }
  const n = k.length / (hkv * d);
  let nq = 0;
  if (mp.rows !== 'none') {
    const q = f32(op, 'q', o.q);
    if (q.length === 0 || q.length % (hq * d) !== 0) {
      throw new ShapeError(`${op}: q has ${q.length} elements, expected numHeads*numQueries*headDim = ${hq}*Q*${d} with Q >= 1`);
    }
    nq = q.length / (hq * d);
    if (nq > n) throw new ShapeError(`${op}: q holds ${nq} query rows per head but there are only N = ${n} tokens`);
    if (o.lse !== undefined) {
      f32(op, 'lse', o.lse);
      if (o.lse.length !== hq * nq) throw new ShapeError(`${op}: lse has ${o.lse.length} elements, expected numHeads*numQueries = ${hq * nq}`);
    }
  }
  const w = o.window === undefined ? 32 : posInt(op, 'window', o.window);
  const usesWindow = mp.pin === 'window';
  if (usesWindow && w >= n) throw new ArgumentError(`${op}: window ${w} must be smaller than the number of tokens N = ${n}`);
  if (mp.rows === 'window' && w > nq) throw new ShapeError(`${op}: window ${w} needs the last ${w} queries, q holds ${nq} per head`);
  const kernel = o.kernel === undefined ? 5 : posInt(op, 'kernel', o.kernel);
  if (kernel % 2 !== 1 || kernel > 31) throw new ArgumentError(`${op}: kernel must be odd and at most 31, got ${kernel}`);
  const sinks = o.sinks === undefined ? Math.min(mp.defaultSinks, n) : posInt(op, 'sinks', o.sinks, 0);
  if (sinks > n) throw new ArgumentError(`${op}: sinks ${sinks} exceeds N = ${n}`);
  let D = 0, protectCap = 0;
  if (mp.critical) {
    const v = f32(op, 'v', o.v);
    if (v.length !== k.length) throw new ShapeError(`${op}: v has ${v.length} elements, expected ${k.length} (same shape as k)`);
    if (o.wo !== undefined) {
      const wo = f32(op, 'wo', o.wo);
      if (wo.length === 0 || wo.length % (hq * d) !== 0) {
        throw new ShapeError(`${op}: wo has ${wo.length} elements, expected (numHeads*headDim = ${hq * d}) x D`);
      }
      D = wo.length / (hq * d);
    }
    if (o.compression === undefined && o.keepTokens === undefined) {
      throw new ArgumentError(`${op}: needs the budget (compression or keepTokens) for its stage-1 protection cap`);
    }
    protectCap = Math.max(0, keptPerHead(op, n, budgetOf(o)) - w);
  }
  const rows = mp.rows === 'window' ? w : mp.rows === 'all' ? nq : mp.rows === 'last' ? 1 : 0;
  const cols = mp.kind === 'window' ? n - w : n;
  const pinLast = mp.pin === 'window' ? w : mp.pin === 'last' ? 1 : 0;
  return { hq, hkv, d, n, nq, w, rows, cols, kernel, sinks, pinLast, protectCap, D };
}

/** Monotone map of f32 scores to u32 keys (larger score = larger key; -0 counts as +0). NaN must be rejected before. */
export function orderKey(scores: Float32Array): Uint32Array {
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const out = new Uint32Array(scores.length);
  for (let i = 0; i < bits.length; i++) {
    let b = bits[i];
    if (b === 0x80000000) b = 0;
    out[i] = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  }
  return out;
}

/** Per-layer selection plan: per-head k (or one adaptive k over the layer), AdaKV floor, or one global k. */
export interface AllocationPlan {
  layers: { perHead: number; adaptive: boolean; floor: number }[];
  global?: number;
}

/** Validates the scores given to selectKV. */
export function checkScores(op: string, x: unknown, i?: number): KVScores {
  const where = i === undefined ? 'scores' : `scores[${i}]`;
  const s = x as KVScores;
  if (s === null || typeof s !== 'object' || !(s.scores instanceof Float32Array) || !(s.pinned instanceof Uint8Array)) {
    throw new ArgumentError(`${op}: ${where} must be a KVScores object from scoreKV (scores: Float32Array, pinned: Uint8Array)`);
  }
  posInt(op, `${where}.numKvHeads`, s.numKvHeads);
  posInt(op, `${where}.n`, s.n);
  const len = s.numKvHeads * s.n;
  if (s.scores.length !== len || s.pinned.length !== len) {
    throw new ShapeError(`${op}: ${where} has ${s.scores.length} scores and ${s.pinned.length} flags, expected numKvHeads*N = ${len}`);
  }
  for (let j = 0; j < len; j++) if (Number.isNaN(s.scores[j])) throw new ArgumentError(`${op}: ${where}.scores[${j}] is NaN`);
  return s;
}

function maxPinned(l: KVScores): number {
  let m = 0;
  for (let kh = 0; kh < l.numKvHeads; kh++) {
    let c = 0;
    for (let j = 0; j < l.n; j++) c += l.pinned[kh * l.n + j];
    if (c > m) m = c;
  }
  return m;
}

/** Budgets of every layer for `o.allocation`. Validates options (ArgumentError / ShapeError). */
export function allocationBudgets(layersIn: readonly KVScores[], o: SelectKVOptions): AllocationPlan {
  const op = 'selectKV';
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${op}: options { compression | keepTokens, allocation } are required`);
  checkKeys(op, 'options', o, KV_OPTION_KEYS.select);
  if (layersIn.length === 0) throw new ArgumentError(`${op}: no layers given`);
  const layers = layersIn.map((l, i) => checkScores(op, l, layersIn.length > 1 ? i : undefined));
  const alloc = o.allocation ?? 'per-head';
  if (!['per-head', 'head-adaptive', 'pyramid', 'prefix', 'global'].includes(alloc)) {
    throw new ArgumentError(`${op}: allocation must be 'per-head', 'head-adaptive', 'pyramid', 'prefix' or 'global', got ${describe(alloc)}`);
  }
  const L = layers.length;
  const n = layers[0].n;
  if (alloc === 'pyramid' || alloc === 'prefix' || alloc === 'global') {
    for (const l of layers) {
      if (l.n !== n) throw new ShapeError(`${op}: allocation '${alloc}' needs every layer to hold the same N tokens (${n} vs ${l.n})`);
    }
  }
  const alpha = o.alpha === undefined ? 0 : o.alpha;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new ArgumentError(`${op}: alpha must be in [0, 1], got ${describe(o.alpha)}`);
  const kept = layers.map((l) => keptPerHead(op, l.n, budgetOf(o)));
  switch (alloc) {
    case 'per-head':
      return { layers: kept.map((k) => ({ perHead: k, adaptive: false, floor: 0 })) };
    case 'head-adaptive':
      return { layers: kept.map((k) => ({ perHead: k, adaptive: true, floor: Math.floor(alpha * k) })) };
    case 'global':
      return { layers: kept.map((k) => ({ perHead: k, adaptive: true, floor: 0 })), global: layers.reduce((s, l, i) => s + l.numKvHeads * kept[i], 0) };
    case 'pyramid': {
      const beta = o.beta === undefined ? 20 : o.beta;
      if (typeof beta !== 'number' || !(beta >= 1) || !Number.isFinite(beta)) throw new ArgumentError(`${op}: beta must be a number >= 1, got ${describe(o.beta)}`);
      return { layers: pyramidBudgets(n, kept[0], layers.map(maxPinned), beta).map((k) => ({ perHead: k, adaptive: false, floor: 0 })) };
    }
    case 'prefix': {
      let per: number[];
      if (o.layerRatios !== undefined) {
        const r = o.layerRatios;
        if (!Array.isArray(r) || r.length !== L) throw new ShapeError(`${op}: layerRatios must hold one ratio per layer (${L}), got ${describe(r)}`);
        per = r.map((x, i) => {
          if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw new ArgumentError(`${op}: layerRatios[${i}] must be in [0, 1], got ${describe(x)}`);
          return Math.min(n, Math.max(0, n - Math.round(x * n)));
        });
      } else per = prefixBudgets(layers, kept[0]);
      return { layers: per.map((k) => ({ perHead: k, adaptive: false, floor: 0 })) };
    }
  }
  throw new ArgumentError(`${op}: unreachable allocation`);
}

/**
 * PyramidKV's linear schedule: the non-pinned budget X = kept - P per layer averages X, from
 * 2X - X/beta at the first layer down to X/beta at the last (clamped to N - P). Returns kept per head.
 */
export function pyramidBudgets(n: number, kept: number, pinned: number[], beta: number): number[] {
  const L = pinned.length;
  return pinned.map((P, l) => {
    const X = Math.max(0, kept - P);
    let lo = X / beta, hi = 2 * X - lo;
    if (hi > n - P) {
      hi = Math.max(0, n - P);
      lo = Math.max(0, 2 * X - hi);
    }
    const x = L === 1 ? X : Math.round(hi - (l * (hi - lo)) / (L - 1));
    return Math.min(n, Math.max(0, x) + P);
  });
}

/**
 * PrefixKV: one shared cumulative-importance level p across layers. Each layer's token importance
 * (head mean of the non-pinned scores, clamped at 0) is sorted, normalised and accumulated into a CDF;
 * the layer keeps the top entries whose CDF is <= p, with p the smallest level at which the kept
 * counts add up to the global budget (the exact limit of the binary search; ties by layer, then rank).
 * Returns kept per head, pinned tokens included.
 */
export function prefixBudgets(layers: readonly KVScores[], kept: number): number[] {
  const L = layers.length;
  const P = layers.map(maxPinned);
  const cdfs: Float64Array[] = layers.map((l) => {
    const imp: number[] = [];
    for (let j = 0; j < l.n; j++) {
      let any = 0, s = 0;
      for (let kh = 0; kh < l.numKvHeads; kh++) {
        any |= l.pinned[kh * l.n + j];
        s += l.scores[kh * l.n + j];
      }
      if (!any) imp.push(Math.max(0, s / l.numKvHeads));
    }
    imp.sort((a, b) => b - a);
    const tot = imp.reduce((a, b) => a + b, 0);
    const cdf = new Float64Array(imp.length);
    let c = 0;
    for (let i = 0; i < imp.length; i++) {
      c += tot > 0 ? imp[i] / tot : 1 / imp.length;
      cdf[i] = c;
    }
    return cdf;
  });
  let target = 0;
  for (let l = 0; l < L; l++) target += Math.min(cdfs[l].length, Math.max(0, kept - P[l]));
  const all: { v: number; l: number; r: number }[] = [];
  cdfs.forEach((c, l) => c.forEach((v, r) => all.push({ v, l, r })));
  all.sort((a, b) => a.v - b.v || a.l - b.l || a.r - b.r);
  const count = new Array<number>(L).fill(0);
  for (let i = 0; i < target; i++) count[all[i].l]++;
  return count.map((c, l) => Math.min(layers[l].n, c + P[l]));
}

/**
 * PrefixKV offline profile: per-layer fraction removed, averaged over calibration samples
 * (each sample = one prompt's per-layer scores). Pass the result as `layerRatios`.
 */
export function profilePrefixKV(samples: readonly (readonly KVScores[])[], budget: KVBudget): number[] {
  if (!Array.isArray(samples) || samples.length === 0) throw new ArgumentError('profilePrefixKV: give at least one sample (an array of per-layer scores)');
  const L = samples[0].length;
  const acc = new Array<number>(L).fill(0);
  samples.forEach((s, i) => {
    if (s.length !== L) throw new ShapeError(`profilePrefixKV: sample ${i} has ${s.length} layers, expected ${L}`);
    const ls = s.map((l: KVScores, j: number) => checkScores('profilePrefixKV', l, j));
    const per = prefixBudgets(ls, keptPerHead('profilePrefixKV', ls[0].n, budget));
    per.forEach((k, l) => (acc[l] += 1 - k / ls[l].n));
  });
  return acc.map((a) => a / samples.length);
}

/** Keep mask [Hkv, N] to per-head sorted index lists. */
export function perHeadKeep(mask: Uint8Array | Uint32Array, hkv: number, n: number): KVSelection {
  const keep: Int32Array[] = [];
  const counts: number[] = [];
  for (let kh = 0; kh < hkv; kh++) {
    let c = 0;
    for (let j = 0; j < n; j++) if (mask[kh * n + j]) c++;
    const a = new Int32Array(c);
    c = 0;
    for (let j = 0; j < n; j++) if (mask[kh * n + j]) a[c++] = j;
    keep.push(a);
    counts.push(c);
  }
  return { keep, numKvHeads: hkv, n, counts, total: counts.reduce((a, b) => a + b, 0) };
}

/**
 * Token order of one head by (value descending, index ascending) in linear time: an LSD radix sort
 * on the f32 order keys (4 passes of 8 bits, stable, so equal values stay in index order).
 */
export function orderDescending(values: Float32Array): Uint32Array {
  const m = values.length;
  const keys = orderKey(values);
  for (let i = 0; i < m; i++) keys[i] = ~keys[i] >>> 0; // ascending ~key = descending key
  let idx = new Uint32Array(m), tmp = new Uint32Array(m);
  for (let i = 0; i < m; i++) idx[i] = i;
  const count = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    count.fill(0);
    for (let i = 0; i < m; i++) count[(keys[idx[i]] >>> shift) & 255]++;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < m; i++) tmp[count[(keys[idx[i]] >>> shift) & 255]++] = idx[i];
    const t = idx;
    idx = tmp;
    tmp = t;
  }
  return idx;
}

/**
 * CriticalKV stage 1 on f32 attention sums (the backends' path; same result as the reference's
 * sort because dividing by one constant keeps the order): per head, pin the smallest top set whose
 * normalised mass reaches `tau`, at most `cap` tokens. `sums` is [hkv, c].
 */
export function protectByMassF32(sums: Float32Array, hkv: number, c: number, n: number, tau: number, cap: number, pinned: Uint8Array): void {
  if (!(tau > 0) || cap <= 0 || c === 0) return;
  for (let kh = 0; kh < hkv; kh++) {
    const row = sums.subarray(kh * c, (kh + 1) * c);
    let tot = 0;
    for (let j = 0; j < c; j++) tot += row[j];
    if (!(tot > 0)) continue;
    const idx = orderDescending(row);
    let cum = 0, count = 0;
    while (count < c && cum < tau) cum += row[idx[count++]] / tot;
    count = Math.min(count, cap);
    for (let x = 0; x < count; x++) pinned[kh * n + idx[x]] = 1;
  }
}
