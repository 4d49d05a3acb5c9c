/**
 * Structured synthetic q/k/v for tests and demos: an attention sink at token 0, heavy-hitter
 * tokens, topic bursts (runs of tokens on one topic), a recency band from rotary positions, per-layer
 * and per-head concentration, and topic drift between the window and the later queries.
 * Deterministic for a seed. Not a substitute for a real model's tensors: use it for correctness
 * checks and demos, not to rank methods.
 */
import { ArgumentError } from '../errors.js';
import { checkKeys, describe } from '../validate.js';
import { KV_OPTION_KEYS } from './types.js';
import { seededRandom } from '../random.js';
import type { KVDump, KVDumpLayer } from './dump.js';

/** Options of `synthKV`. */
export interface SynthKVOptions {
  /** Layers (default 4). */
  layers?: number;
  /** Query heads (default 8). */
  numHeads?: number;
  /** KV heads (default 2). */
  numKvHeads?: number;
  /** Head dimension, even (default 64). */
  headDim?: number;
  /** Prompt tokens (default 1024). */
  n?: number;
  /** Later queries per head (default 16). */
  future?: number;
  /** Probability that a head's later queries move to another topic (default 0.3). */
  drift?: number;
  /** Output width of the random W_o (default 128; 0 = none). */
  dModel?: number;
  /** Seed (default 1). */
  seed?: number;
}

class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  unit(d: number, from: number, to: number): Float64Array {
    const x = new Float64Array(d);
    let s = 0;
    for (let i = from; i < to; i++) {
      x[i] = this.normal();
      s += x[i] * x[i];
    }
    const r = 1 / Math.sqrt(s || 1);
    for (let i = from; i < to; i++) x[i] *= r;
    return x;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Generates a synthetic dump (see the module doc). */
export function synthKV(o: SynthKVOptions = {}): KVDump {
  if (o === null || typeof o !== 'object') throw new ArgumentError(`synthKV: options must be an object, got ${describe(o)}`);
  checkKeys('synthKV', 'options', o, KV_OPTION_KEYS.synth);
  const L = o.layers ?? 4, hq = o.numHeads ?? 8, hkv = o.numKvHeads ?? 2, d = o.headDim ?? 64;
  const n = o.n ?? 1024, T = o.future ?? 16, drift = o.drift ?? 0.3, D = o.dModel ?? 128;
  for (const [k, v] of Object.entries({ layers: L, numHeads: hq, numKvHeads: hkv, headDim: d, n, future: T })) {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`synthKV: ${k} must be a positive integer, got ${v}`);
  }
  if (hq % hkv !== 0) throw new ArgumentError(`synthKV: numHeads ${hq} is not a multiple of numKvHeads ${hkv}`);
  if (d % 2 !== 0 || d < 8) throw new ArgumentError(`synthKV: headDim must be even and >= 8, got ${d}`);
  const rng = new Gen(o.seed ?? 1);
  const g = hq / hkv;
  const P = Math.max(2, (d >> 2) & ~1); // rotary (positional) dims
  const topics = 16;
  // topic bursts shared by every layer (it is one prompt)
  const topicOf = new Int32Array(n);
  for (let j = 0; j < n;) {
    const len = 8 + rng.int(56), t = Math.min(topics - 1, Math.floor(topics * rng.next() ** 2));
    for (let e = Math.min(n, j + len); j < e; j++) topicOf[j] = t;
  }
  const heavy = Array.from({ length: 6 }, () => 1 + rng.int(n - 1));
  const layers: KVDumpLayer[] = [];
  for (let l = 0; l < L; l++) {
    const sharp = 0.6 + 1.8 * (l / Math.max(1, L - 1)); // later layers attend more sharply
    const q = new Float32Array(hq * n * d), k = new Float32Array(hkv * n * d), v = new Float32Array(hkv * n * d);
    const qf = new Float32Array(hq * T * d);
    const sinkDir: Float64Array[] = [], hhDir: Float64Array[] = [], topicVec: Float64Array[][] = [];
    for (let kh = 0; kh < hkv; kh++) {
      sinkDir.push(rng.unit(d, P, d));
      hhDir.push(rng.unit(d, P, d));
      topicVec.push(Array.from({ length: topics }, () => rng.unit(d, P, d)));
      // values carry the topic too (tokens of one topic say similar things), plus token noise
      const topicVal = Array.from({ length: topics }, () => rng.unit(d, 0, d));
      for (let j = 0; j < n; j++) {
        const o2 = (kh * n + j) * d;
        const tv = topicVec[kh][topicOf[j]];
        for (let x = P; x < d; x++) k[o2 + x] = tv[x] * 1.0 + 0.35 * rng.normal() / Math.sqrt(d);
        if (j === 0) for (let x = P; x < d; x++) k[o2 + x] += 2.5 * sinkDir[kh][x];
        if (heavy.includes(j)) for (let x = P; x < d; x++) k[o2 + x] += 1.5 * hhDir[kh][x];
        for (let m = 0; m < P / 2; m++) {
          const th = j * 0.02 * (m + 1);
          k[o2 + 2 * m] = Math.cos(th);
          k[o2 + 2 * m + 1] = Math.sin(th);
        }
        const tval = topicVal[topicOf[j]];
        for (let x = 0; x < d; x++) v[o2 + x] = Math.sqrt(d) * tval[x] + 0.7 * rng.normal();
      }
    }
    const queryInto = (dst: Float32Array, off: number, kh: number, pos: number, focus: number, scale: number, sinkW: number, recW: number) => {
      const tv = topicVec[kh][focus];
      const side = topicVec[kh][(focus + 1 + (pos % 3)) % topics];
      for (let x = P; x < d; x++) {
        dst[off + x] = scale * (3.2 * tv[x] + 0.8 * side[x] + sinkW * sinkDir[kh][x] + 1.2 * hhDir[kh][x]) + 0.3 * rng.normal();
      }
      for (let m = 0; m < P / 2; m++) {
        const th = pos * 0.02 * (m + 1);
        dst[off + 2 * m] = scale * recW * Math.cos(th);
        dst[off + 2 * m + 1] = scale * recW * Math.sin(th);
      }
    };
    const sd = Math.sqrt(d);
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / g);
      const headSharp = sharp * (0.7 + 0.6 * rng.next()) * sd;
      const sinkW = 1.5 + 1.5 * rng.next(), recW = 0.6 * rng.next() * 8 / P;
      for (let p = 0; p < n; p++) {
        // mostly the current burst's topic; sometimes a look-back to an earlier token's topic
        const focus = rng.next() < 0.8 ? topicOf[p] : topicOf[rng.int(p + 1)];
        queryInto(q, (h * n + p) * d, kh, p, focus, headSharp, sinkW, recW);
      }
      const moved = rng.next() < drift;
      const later = moved ? topicOf[rng.int(Math.max(1, n - 64))] : topicOf[n - 1];
      for (let t = 0; t < T; t++) {
        const focus = rng.next() < 0.85 ? later : topicOf[rng.int(n)];
        queryInto(qf, (h * T + t) * d, kh, n + t, focus, headSharp, sinkW, recW);
      }
    }
    let wo: Float32Array | undefined;
    if (D > 0) {
      wo = new Float32Array(hq * d * D);
      const s = 1 / Math.sqrt(hq * d);
      for (let x = 0; x < wo.length; x++) wo[x] = rng.normal() * s;
      // some heads matter more to the output than others
      for (let h = 0; h < hq; h++) {
        const w = 0.3 + 1.4 * rng.next();
        for (let x = h * d * D; x < (h + 1) * d * D; x++) wo[x] *= w;
      }
    }
    layers.push({ q, k, v, qFuture: qf, wo });
  }
  return { numHeads: hq, numKvHeads: hkv, headDim: d, n, future: T, dModel: D > 0 ? D : 0, layers };
}
