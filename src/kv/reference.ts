/**
 * f64 reference of every KV-eviction scorer and selector. Straightforward loops, no tiling, no
 * backend: the conformance cases compare the wasm and WebGPU paths against these functions.
 * The definitions here are the specification; src/kv/index.ts documents them for users.
 */
import { ArgumentError } from '../errors.js';
import type { KVMethod, KVScores, KVSelection, ScoreKVOptions, SelectKVOptions } from './types.js';
import { allocationBudgets, methodPlan, orderKey, perHeadKeep, planScore } from './plan.js';

/** Attention probabilities of one query row over keys 0..pos of one KV head, in f64. */
function attentionRow(q: Float32Array, qOff: number, k: Float32Array, kOff: number, n: number, d: number, pos: number,
  lse: number | undefined): Float64Array {
  const inv = 1 / Math.sqrt(d);
  const p = new Float64Array(n);
  let m = -Infinity;
  for (let j = 0; j <= pos; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += q[qOff + t] * k[kOff + j * d + t];
    p[j] = s * inv;
    if (p[j] > m) m = p[j];
  }
  let z = lse;
  if (z === undefined) {
    let sum = 0;
    for (let j = 0; j <= pos; j++) sum += Math.exp(p[j] - m);
    z = m + Math.log(sum);
  }
  for (let j = 0; j <= pos; j++) p[j] = Math.exp(p[j] - z);
  return p;
}

/** Zero-padded average pool (divide by `ks` always) of x[0..c). */
function pool(x: Float64Array, c: number, ks: number): Float64Array {
  const h = ks >> 1;
  const out = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let u = j - h; u <= j + h; u++) if (u >= 0 && u < c) s += x[u];
    out[j] = s / ks;
  }
  return out;
}

/** ||v_{g,j} W_o^(h)||_1 averaged over the group, or ||v_{g,j}||_1 without W_o; [Hkv, N]. */
export function refValueNorm(v: Float32Array, wo: Float32Array | undefined, hq: number, hkv: number, n: number, d: number): Float64Array {
  const out = new Float64Array(hkv * n);
  const g = hq / hkv;
  const D = wo ? wo.length / (hq * d) : 0;
  for (let kh = 0; kh < hkv; kh++) {
    for (let j = 0; j < n; j++) {
      const vo = (kh * n + j) * d;
      let acc = 0;
      if (!wo) {
        for (let t = 0; t < d; t++) acc += Math.abs(v[vo + t]);
      } else {
        for (let hh = 0; hh < g; hh++) {
          const h = kh * g + hh;
          for (let c = 0; c < D; c++) {
            let s = 0;
            for (let t = 0; t < d; t++) s += v[vo + t] * wo[(h * d + t) * D + c];
            acc += Math.abs(s);
          }
        }
        acc /= g;
      }
      out[kh * n + j] = acc;
    }
  }
  return out;
}

/** Reference scorer: the same contract as `scoreKV`, computed in f64 with plain loops. */
export function refScoreKV(method: KVMethod, o: ScoreKVOptions): KVScores {
  const p = planScore(method, o);
  const { hq, hkv, d, n, nq, w } = p;
  const g = hq / hkv;
  const plan = methodPlan(method);
  const scores = new Float64Array(hkv * n);
  const pinned = new Uint8Array(hkv * n);
  const pinRange = (a: number, b: number) => {
    for (let kh = 0; kh < hkv; kh++) for (let j = Math.max(0, a); j < Math.min(n, b); j++) pinned[kh * n + j] = 1;
  };
  pinRange(0, p.sinks);
  pinRange(n - p.pinLast, n);

  if (plan.kind === 'position') {
    for (let kh = 0; kh < hkv; kh++) for (let j = 0; j < n; j++) scores[kh * n + j] = (j + 1) / n;
  } else if (plan.kind === 'knorm') {
    for (let kh = 0; kh < hkv; kh++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += o.k[(kh * n + j) * d + t] ** 2;
        scores[kh * n + j] = -Math.sqrt(s);
      }
    }
  } else {
    const R = p.rows, C = p.cols, ks = plan.kind === 'window' ? p.kernel : 1;
    const maxS = new Float64Array(hkv * C).fill(0), sumPooled = new Float64Array(hkv * C), sumRaw = new Float64Array(hkv * C);
    let outside = 0; // attention mass on keys that are not scored (the window), summed over rows
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / g);
      for (let i = 0; i < R; i++) {
        const row = nq - R + i, pos = n - R + i;
        const lse = o.lse ? o.lse[h * nq + row] : undefined;
        const a = attentionRow(o.q!, (h * nq + row) * d, o.k, kh * n * d, n, d, pos, lse);
        let b = 0;
        for (let j = 0; j < C; j++) b += a[j];
        outside += 1 - b;
        const pooled = pool(a, C, ks);
        let ps = 0;
        for (let j = 0; j < C; j++) ps += pooled[j];
        const scale = ps > 0 ? b / ps : 0;
        for (let j = 0; j < C; j++) {
          const x = pooled[j] * scale;
          if (x > maxS[kh * C + j]) maxS[kh * C + j] = x;
          sumPooled[kh * C + j] += pooled[j];
          sumRaw[kh * C + j] += a[j];
        }
      }
    }
    if (plan.kind === 'window') {
      const agg = plan.aggregate === 'defensive' ? maxS : sumPooled;
      for (let kh = 0; kh < hkv; kh++) {
        let mean = 0;
        if (plan.aggregate === 'defensive') {
          for (let j = 0; j < C; j++) mean += agg[kh * C + j];
          mean /= C;
        }
        for (let j = 0; j < C; j++) {
          scores[kh * n + j] = plan.aggregate === 'defensive' ? Math.max(agg[kh * C + j], mean) : agg[kh * C + j] / (g * R);
        }
      }
      if (plan.critical) {
        const vn = refValueNorm(o.v!, o.wo, hq, hkv, n, d);
        for (let j = 0; j < C; j++) {
          let tot = 0;
          for (let kh = 0; kh < hkv; kh++) tot += vn[kh * n + j];
          for (let kh = 0; kh < hkv; kh++) scores[kh * n + j] *= tot > 0 ? vn[kh * n + j] / tot : 1 / hkv;
        }
        const windowMass = outside / (hq * R);
        const abar = new Float64Array(hkv * C);
        for (let x = 0; x < hkv * C; x++) abar[x] = sumRaw[x] / (g * R);
        protectByMass(abar, hkv, C, n, 0.9 - windowMass, p.protectCap, pinned);
      }
    } else if (plan.kind === 'observed') {
      for (let kh = 0; kh < hkv; kh++) for (let j = 0; j < n; j++) scores[kh * n + j] = sumRaw[kh * C + j] / (g * Math.min(R, n - j));
    } else {
      // head-shared: mean over all query heads (TOVA: one row; PrefixKV: summed over rows)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kh = 0; kh < hkv; kh++) s += sumRaw[kh * C + j];
        for (let kh = 0; kh < hkv; kh++) scores[kh * n + j] = s / hq;
      }
    }
  }
  return { method, numKvHeads: hkv, n, window: p.pinLast, scores: Float32Array.from(scores), pinned };
}

/**
 * CriticalKV stage 1: per head, pin the smallest top set of tokens (by normalised mean attention,
 * ties by index) whose mass reaches `tau`, at most `cap` tokens. Shared by the reference and the
 * backends' host tail (it only orders numbers; it computes no attention).
 */
export function protectByMass(abar: ArrayLike<number>, hkv: number, c: number, n: number, tau: number, cap: number,
  pinned: Uint8Array): void {
  if (!(tau > 0) || cap <= 0 || c === 0) return;
  for (let kh = 0; kh < hkv; kh++) {
    let tot = 0;
    for (let j = 0; j < c; j++) tot += abar[kh * c + j];
    if (!(tot > 0)) continue;
    const idx = Array.from({ length: c }, (_, j) => j);
    idx.sort((a, b) => abar[kh * c + b] - abar[kh * c + a] || a - b);
    let cum = 0, count = 0;
    while (count < c && cum < tau) cum += abar[kh * c + idx[count++]] / tot;
    count = Math.min(count, cap);
    for (let x = 0; x < count; x++) pinned[kh * n + idx[x]] = 1;
  }
}

/**
 * Reference top-k of one segment by full sort: pinned entries are kept, then the best `k - pinned`
 * others by (score descending, index ascending). Marks `keep` (flat indices).
 */
export function refTopK(scores: Float32Array, pinned: Uint8Array, start: number, len: number, k: number, keep: Uint8Array): void {
  let np = 0;
  const rest: number[] = [];
  for (let x = start; x < start + len; x++) {
    if (pinned[x]) {
      keep[x] = 1;
      np++;
    } else rest.push(x);
  }
  const keys = orderKey(scores);
  rest.sort((a, b) => (keys[b] - keys[a]) || a - b);
  const take = Math.max(0, Math.min(rest.length, k - np));
  for (let x = 0; x < take; x++) keep[rest[x]] = 1;
}

/** Reference selector: the same contract as `selectKV` without a runtime, by sorting. */
export function refSelectKV(scores: KVScores | KVScores[], o: SelectKVOptions): KVSelection | KVSelection[] {
  const layers = Array.isArray(scores) ? scores : [scores];
  const plan = allocationBudgets(layers, o);
  const masks = layers.map((l) => new Uint8Array(l.numKvHeads * l.n));
  if (plan.global !== undefined) {
    // one segment over every layer's [Hkv, N]
    const total = layers.reduce((s, l) => s + l.numKvHeads * l.n, 0);
    const sc = new Float32Array(total), pin = new Uint8Array(total), keep = new Uint8Array(total);
    let off = 0;
    for (const l of layers) {
      sc.set(l.scores, off);
      pin.set(l.pinned, off);
      off += l.numKvHeads * l.n;
    }
    refTopK(sc, pin, 0, total, plan.global, keep);
    off = 0;
    for (let li = 0; li < layers.length; li++) {
      masks[li].set(keep.subarray(off, off + masks[li].length));
      off += masks[li].length;
    }
  } else {
    layers.forEach((l, li) => {
      const b = plan.layers[li];
      let pin = l.pinned;
      if (b.floor > 0) {
        const fl = new Uint8Array(pin.length);
        for (let kh = 0; kh < l.numKvHeads; kh++) refTopK(l.scores, pin, kh * l.n, l.n, b.floor, fl);
        pin = fl;
      }
      if (b.adaptive) refTopK(l.scores, pin, 0, l.numKvHeads * l.n, b.perHead * l.numKvHeads, masks[li]);
      else for (let kh = 0; kh < l.numKvHeads; kh++) refTopK(l.scores, pin, kh * l.n, l.n, b.perHead, masks[li]);
    });
  }
  const out = layers.map((l, li) => perHeadKeep(masks[li], l.numKvHeads, l.n));
  if (!Array.isArray(scores)) return out[0];
  return out;
}

/** Throws unless `x` is a finite number in [lo, hi]. */
export function checkRange(op: string, name: string, x: unknown, lo: number, hi: number): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < lo || x > hi) {
    throw new ArgumentError(`${op}: ${name} must be a number in [${lo}, ${hi}], got ${String(x)}`);
  }
  return x;
}
