/**
 * Offline evaluation of eviction methods on recorded (or synthetic) q/k/v: for each method x
 * budget, the relative attention-output error ||o_full - o_kept|| / ||o_full|| of later queries
 * (mean, p95, max over layers x query heads x queries), the attention mass the kept tokens hold
 * for those queries, and the overlap with the oracle top-k (the tokens the later queries attend
 * to most, per layer and KV head, same count as kept).
 */
import { ArgumentError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { KVDump } from './dump.js';
import { methodPlan } from './plan.js';
import * as api from './index.js';
import { refScoreKV } from './reference.js';
import { checkKeys, describe } from '../validate.js';
import { KV_METHODS, KV_OPTION_KEYS, type KVMethod, type KVScores, type KVSelection } from './types.js';

/** Options of `evaluateEviction`. */
export interface EvaluateOptions {
  /** Methods (default: all). */
  methods?: readonly KVMethod[];
  /** Cache sizes as kept fractions (default [0.1, 0.2, 0.5]). */
  budgets?: readonly number[];
  /** Score and select on this runtime; without it the f64 reference runs (slow for large N). */
  runtime?: Runtime;
  /** Window (default 32). */
  window?: number;
  /** Pool kernel (default 5). */
  kernel?: number;
}

/** One row of the evaluation table. */
export interface EvaluationRow {
  method: KVMethod;
  /** Kept fraction of the cache. */
  cache: number;
  /** Tokens kept over all layers and KV heads. */
  keptTokens: number;
  errMean: number;
  errP95: number;
  errMax: number;
  /** Mean attention mass of later queries on kept tokens. */
  keptMass: number;
  /** Mean |kept ∩ oracle| / |kept| over layers and KV heads. */
  oracleOverlap: number;
}

interface Truth {
  /** [L][Hq*T][N] attention of later queries over prompt keys. */
  p: Float64Array[][];
  /** [L][Hq*T] full outputs (d each). */
  o: Float64Array[][];
}

function truth(dump: KVDump): Truth {
  const { numHeads: hq, numKvHeads: hkv, headDim: d, n, future: T } = dump;
  const g = hq / hkv;
  const inv = 1 / Math.sqrt(d);
  const P: Float64Array[][] = [], O: Float64Array[][] = [];
  for (const l of dump.layers) {
    const pl: Float64Array[] = [], ol: Float64Array[] = [];
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / g);
      for (let t = 0; t < T; t++) {
        const p = new Float64Array(n);
        let m = -Infinity;
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let x = 0; x < d; x++) s += l.qFuture[(h * T + t) * d + x] * l.k[(kh * n + j) * d + x];
          p[j] = s * inv;
          if (p[j] > m) m = p[j];
        }
        let z = 0;
        for (let j = 0; j < n; j++) z += (p[j] = Math.exp(p[j] - m));
        const o = new Float64Array(d);
        for (let j = 0; j < n; j++) {
          p[j] /= z;
          for (let x = 0; x < d; x++) o[x] += p[j] * l.v[(kh * n + j) * d + x];
        }
        pl.push(p);
        ol.push(o);
      }
    }
    P.push(pl);
    O.push(ol);
  }
  return { p: P, o: O };
}

function metrics(dump: KVDump, tr: Truth, sel: KVSelection[]): Omit<EvaluationRow, 'method' | 'cache'> {
  const { numHeads: hq, numKvHeads: hkv, headDim: d, n, future: T } = dump;
  const g = hq / hkv;
  const errs: number[] = [];
  let mass = 0, overlap = 0, kept = 0;
  dump.layers.forEach((l, li) => {
    for (let kh = 0; kh < hkv; kh++) {
      const keep = sel[li].keep[kh];
      kept += keep.length;
      const imp = new Float64Array(n);
      for (let hh = 0; hh < g; hh++) {
        const h = kh * g + hh;
        for (let t = 0; t < T; t++) {
          const p = tr.p[li][h * T + t], of = tr.o[li][h * T + t];
          let m = 0;
          const ok = new Float64Array(d);
          for (const j of keep) {
            m += p[j];
            for (let x = 0; x < d; x++) ok[x] += p[j] * l.v[(kh * n + j) * d + x];
          }
          let num = 0, den = 0;
          for (let x = 0; x < d; x++) {
            const e = of[x] - (m > 0 ? ok[x] / m : 0);
            num += e * e;
            den += of[x] * of[x];
          }
          errs.push(den > 0 ? Math.sqrt(num / den) : Math.sqrt(num));
          mass += m;
          for (let j = 0; j < n; j++) imp[j] += p[j];
        }
      }
      if (keep.length === 0) {
        overlap += 1;
        continue;
      }
      const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => imp[b] - imp[a] || a - b);
      const oracle = new Uint8Array(n);
      for (let x = 0; x < keep.length; x++) oracle[order[x]] = 1;
      let hit = 0;
      for (const j of keep) hit += oracle[j];
      overlap += hit / keep.length;
    }
  });
  errs.sort((a, b) => a - b);
  const L = dump.layers.length;
  return {
    keptTokens: kept,
    errMean: errs.reduce((a, b) => a + b, 0) / errs.length,
    errP95: errs[Math.min(errs.length - 1, Math.ceil(0.95 * errs.length) - 1)],
    errMax: errs[errs.length - 1],
    keptMass: mass / (L * hq * T),
    oracleOverlap: overlap / (L * hkv),
  };
}

/** Evaluates methods x budgets on a dump (see the module doc). Selection uses each method's default allocation. */
export async function evaluateEviction(dump: KVDump, o: EvaluateOptions = {}): Promise<EvaluationRow[]> {
  if (dump === null || typeof dump !== 'object' || !Array.isArray(dump.layers) || dump.layers.length === 0) {
    throw new ArgumentError('evaluateEviction: dump must be a KVDump with at least one layer (see decodeKVDump / synthKV)');
  }
  if (o === null || typeof o !== 'object') throw new ArgumentError(`evaluateEviction: options must be an object, got ${describe(o)}`);
  checkKeys('evaluateEviction', 'options', o, KV_OPTION_KEYS.evaluate);
  const methods = o.methods ?? KV_METHODS;
  const budgets = o.budgets ?? [0.1, 0.2, 0.5];
  for (const b of budgets) if (typeof b !== 'number' || !(b >= 0 && b <= 1)) throw new ArgumentError(`evaluateEviction: budgets are kept fractions in [0, 1], got ${b}`);
  for (const m of methods) methodPlan(m);
  const tr = truth(dump);
  const rows: EvaluationRow[] = [];
  const cache = new Map<string, KVScores[]>();
  for (const method of methods) {
    const mp = methodPlan(method);
    for (const cacheFrac of budgets) {
      const compression = 1 - cacheFrac;
      const key = mp.critical ? `${method}:${compression}` : method;
      let scores = cache.get(key);
      if (!scores) {
        scores = [];
        for (const l of dump.layers) {
          const inp = {
            q: l.q, k: l.k, v: l.v, wo: l.wo, numHeads: dump.numHeads, numKvHeads: dump.numKvHeads, headDim: dump.headDim,
            window: o.window, kernel: o.kernel, compression,
          };
          scores.push(o.runtime ? await api.scoreKV(o.runtime, method, inp) : refScoreKV(method, inp));
        }
        cache.set(key, scores);
      }
      const def = api.defaultAllocation(method);
      const sel = await api.selectKV(scores, { compression, allocation: def.allocation, alpha: def.alpha, runtime: o.runtime });
      rows.push({ method, cache: cacheFrac, ...metrics(dump, tr, sel) });
    }
  }
  return rows;
}

/** The evaluation as a text table, one block per budget. */
export function formatEvaluation(rows: readonly EvaluationRow[]): string {
  const head = ['cache', 'method', 'err mean', 'err p95', 'err max', 'kept mass', 'oracle overlap'];
  const body = rows.slice().sort((a, b) => a.cache - b.cache).map((r) => [
    `${(r.cache * 100).toFixed(0)}%`, r.method, r.errMean.toFixed(4), r.errP95.toFixed(4), r.errMax.toFixed(4),
    r.keptMass.toFixed(4), r.oracleOverlap.toFixed(3),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...body.map(line)].join('\n');
}
