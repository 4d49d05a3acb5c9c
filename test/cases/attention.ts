// attention conformance: prefill against an f64 reference over seq {1, 2, 17, 128, 1000},
// headDim {1, 3, 4, 5, 7, 32, 64, 80, 96, 128, 250, 256}, GQA groups {1, 2, 4, 8}, causal or not,
// window, sinks, lse, and the logit options (softcap, bias with broadcast dims, sink logits, smooth
// softmax); decode over a KV cache after appends (= prefill on the full sequence) and after compaction
// (= the reference over the kept tokens at their original positions), with every option; typed
// errors for bad input.
// Sizes are chosen so software WebGPU (SwiftShader) runs the whole set in well under a minute.
import { check, checkClose, expectError, skipCase, type Case, type CaseContext } from './util.js';

const TOL = 1e-5;

/** Mask and layout of a reference attention call. */
export interface RefOptions {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  seqQ: number;
  causal?: boolean;
  window?: number;
  sinks?: number;
  scale?: number;
  /** Position of query 0; default: the queries are the last positions (longest head - seqQ). */
  qpos0?: number;
  /** softcap > 0: logit = softcap * tanh(logit / softcap), after the scale. */
  softcap?: number;
  /** bias(h, i, j): added after the softcap, before the mask (j: index of the key in its head). */
  bias?: (h: number, i: number, j: number) => number;
  /** One logit per query head in the denominator, no value. */
  sinkLogits?: ArrayLike<number>;
  /** A zero logit in every denominator. */
  smoothSoftmax?: boolean;
}

/**
 * f64 reference attention. keys[g] / values[g]: head g's rows ([len_g][headDim]);
 * positions[g]: their positions (default 0..len_g-1). q is [numHeads][seqQ][headDim].
 * Order on a logit: scale, softcap, + bias, mask; then a softmax whose denominator also holds
 * exp(sinkLogits[h]) and exp(0) for smooth softmax. lse = log of that whole denominator.
 */
export function attentionRef(q: Float32Array, keys: Float32Array[], values: Float32Array[], o: RefOptions,
  positions?: ArrayLike<number>[]): { out: Float64Array; lse: Float64Array } {
  const { numHeads: H, numKvHeads: KH, headDim: D, seqQ } = o;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const window = o.window ?? 0, sinks = o.sinks ?? 0;
  const G = H / KH;
  const out = new Float64Array(H * seqQ * D), lse = new Float64Array(H * seqQ);
  const maxLen = Math.max(...keys.map((k) => k.length / D));
  const qpos0 = o.qpos0 ?? maxLen - seqQ;
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / G);
    const K = keys[g], V = values[g], n = K.length / D;
    const s = new Float64Array(n);
    for (let i = 0; i < seqQ; i++) {
      const pq = qpos0 + i;
      let m = -Infinity;
      for (let j = 0; j < n; j++) {
        const p = positions ? positions[g][j] : j;
        let vis = !o.causal || p <= pq;
        if (window > 0) vis = vis && ((pq - p < window && (o.causal || p - pq < window)) || p < sinks);
        if (!vis) {
          s[j] = -Infinity;
          continue;
        }
        let d = 0;
        for (let x = 0; x < D; x++) d += q[(h * seqQ + i) * D + x] * K[j * D + x];
        let logit = d * scale;
        if (o.softcap) logit = o.softcap * Math.tanh(logit / o.softcap);
        if (o.bias) logit += o.bias(h, i, j);
        s[j] = logit;
        if (s[j] > m) m = s[j];
      }
      const extra: number[] = [];
      if (o.sinkLogits) extra.push(o.sinkLogits[h]);
      if (o.smoothSoftmax) extra.push(0);
      for (const e of extra) m = Math.max(m, e);
      let l = 0;
      for (let j = 0; j < n; j++) {
        s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - m);
        l += s[j];
      }
      for (const e of extra) l += Math.exp(e - m);
      const ob = (h * seqQ + i) * D;
      for (let j = 0; j < n; j++) {
        if (s[j] === 0) continue;
        const w = s[j] / l;
        for (let x = 0; x < D; x++) out[ob + x] += w * V[j * D + x];
      }
      lse[h * seqQ + i] = l > 0 ? m + Math.log(l) : -Infinity;
    }
  }
  return { out, lse };
}

/** Splits [heads][len][D] into per-head arrays. */
function heads(x: Float32Array, n: number, D: number): Float32Array[] {
  const len = x.length / (n * D);
  return Array.from({ length: n }, (_, g) => x.subarray(g * len * D, (g + 1) * len * D));
}

/**
 * Checks lse: -Infinity exactly where the reference has it; elsewhere the error relative to
 * max(1, |lse|) in RMS. lse is a log: an lse off by d scales every probability it recomputes,
 * exp(s - lse), by e^-d ~ 1 - d, so an absolute 1e-5 on lse near 0 is 1e-5 relative on the
 * probabilities (a plain relative error would be ill-conditioned when lse is close to 0).
 */
function checkLse(got: Float32Array, ref: Float64Array, what: string): void {
  check(got.length === ref.length, `${what}: lse has ${got.length} values, expected ${ref.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] === -Infinity) {
      check(got[i] === -Infinity, `${what}: lse[${i}] = ${got[i]}, expected -Infinity (the row sees no key)`);
    } else {
      num += (got[i] - ref[i]) ** 2;
      den += Math.max(1, ref[i] * ref[i]);
    }
  }
  const err = den ? Math.sqrt(num / den) : 0;
  check(err <= TOL, `${what} lse: error ${err} > ${TOL} (relative to max(1, |lse|))`);
}

interface PrefillSpec {
  seqQ: number;
  seqK: number;
  headDim: number;
  numHeads: number;
  numKvHeads: number;
  causal?: boolean;
  window?: number;
  sinks?: number;
  lse?: boolean;
  scale?: number;
  batch?: number;
  softcap?: number;
  /** Random sink logits in [-2, 2]. */
  sink?: boolean;
  smooth?: boolean;
  /** A random bias in [-2, 2] of shape [b, h, seqQ, seqK]: 'full' = [batch, numHeads], 'head' = [1, numHeads], 'batch' = [batch, 1], 'shared' = [1, 1]. */
  bias?: 'full' | 'head' | 'batch' | 'shared';
  /** Fraction of bias entries set to -Infinity (and query row 0 entirely). */
  biasInf?: number;
}

/** A random bias for `shape` = [b, h, seqQ, seqK]; a fraction `inf` of -Infinity entries and, when inf > 0, row 0 all -Infinity. */
function randomBias(rng: CaseContext['rng'], shape: number[], inf = 0): Float32Array {
  const b = rng.f32(shape.reduce((x, y) => x * y, 1)).map((x) => 2 * x);
  if (inf > 0) {
    for (let z = 0; z < b.length; z++) if (rng.next() < inf) b[z] = -Infinity;
    for (let r = 0; r < shape[0] * shape[1]; r++) b.fill(-Infinity, r * shape[2] * shape[3], r * shape[2] * shape[3] + shape[3]);
  }
  return b;
}

/** The reference's bias(h, i, j) of one batch entry z for a bias of `shape` = [b, h, seqQ, seqK]. */
function biasFn(b: Float32Array, shape: number[], z: number): (h: number, i: number, j: number) => number {
  const [b0, b1, sq, sk] = shape;
  return (h, i, j) => b[(((b0 === 1 ? 0 : z) * b1 + (b1 === 1 ? 0 : h)) * sq + i) * sk + j];
}

function tag(s: PrefillSpec): string {
  const parts = [`q${s.seqQ} k${s.seqK} d${s.headDim} h${s.numHeads}/${s.numKvHeads}`];
  if (s.causal) parts.push('causal');
  if (s.window) parts.push(`window ${s.window}`);
  if (s.sinks) parts.push(`sinks ${s.sinks}`);
  if (s.lse) parts.push('lse');
  if (s.scale !== undefined) parts.push(`scale ${s.scale}`);
  if (s.batch) parts.push(`batch ${s.batch}`);
  if (s.softcap) parts.push(`softcap ${s.softcap}`);
  if (s.bias) parts.push(`bias ${s.bias}${s.biasInf ? ' with -inf' : ''}`);
  if (s.sink) parts.push('sinkLogits');
  if (s.smooth) parts.push('smoothSoftmax');
  return parts.join(' ');
}

async function runPrefill({ rt, rng }: CaseContext, s: PrefillSpec): Promise<void> {
  const b = s.batch ?? 1, D = s.headDim;
  const q = rng.f32(b * s.numHeads * s.seqQ * D);
  const k = rng.f32(b * s.numKvHeads * s.seqK * D), v = rng.f32(b * s.numKvHeads * s.seqK * D);
  const opts: Record<string, unknown> = {
    numHeads: s.numHeads, numKvHeads: s.numKvHeads, headDim: D, causal: s.causal, window: s.window,
    sinks: s.sinks, scale: s.scale, batch: s.batch, seqQ: s.seqQ, seqK: s.seqK,
  };
  if (s.softcap) opts.softcap = s.softcap;
  if (s.smooth) opts.smoothSoftmax = true;
  const sinkLogits = s.sink ? rng.f32(s.numHeads).map((x) => 2 * x) : undefined;
  if (sinkLogits) opts.sinkLogits = sinkLogits;
  let bias: Float32Array | undefined, biasShape: number[] = [];
  if (s.bias) {
    const full = s.bias === 'full' || s.bias === 'batch';
    biasShape = [full ? b : 1, s.bias === 'full' || s.bias === 'head' ? s.numHeads : 1, s.seqQ, s.seqK];
    bias = randomBias(rng, biasShape, s.biasInf);
    opts.bias = bias;
    opts.biasShape = biasShape;
  }
  let out: Float32Array, lse: Float32Array | undefined;
  if (s.lse) {
    const r = await rt.attention(q, k, v, { ...opts, returnLse: true } as never) as { out: Float32Array; lse: Float32Array };
    out = r.out;
    lse = r.lse;
  } else {
    out = await rt.attention(q, k, v, opts as never) as unknown as Float32Array;
    check(out instanceof Float32Array, 'result is not a Float32Array');
  }
  const name = tag(s);
  const qn = s.numHeads * s.seqQ * D, kn = s.numKvHeads * s.seqK * D;
  for (let z = 0; z < b; z++) {
    const ref = attentionRef(q.subarray(z * qn, (z + 1) * qn), heads(k.subarray(z * kn, (z + 1) * kn), s.numKvHeads, D),
      heads(v.subarray(z * kn, (z + 1) * kn), s.numKvHeads, D), {
        ...s, qpos0: s.seqK - s.seqQ, sinkLogits, smoothSoftmax: s.smooth,
        bias: bias ? biasFn(bias, biasShape, z) : undefined,
      });
    checkClose(out.subarray(z * qn, (z + 1) * qn), ref.out, TOL, `${name} (batch entry ${z})`);
    if (lse) checkLse(lse.subarray(z * s.numHeads * s.seqQ, (z + 1) * s.numHeads * s.seqQ), ref.lse, name);
  }
}

function prefillCase(s: PrefillSpec): Case {
  return { op: 'attention', name: tag(s), run: (ctx) => runPrefill(ctx, s) };
}

// Every value of every dimension appears at least once; the large ones with few heads.
const prefill: PrefillSpec[] = [
  { seqQ: 1, seqK: 1, headDim: 32, numHeads: 1, numKvHeads: 1, lse: true },
  { seqQ: 2, seqK: 2, headDim: 64, numHeads: 4, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 17, seqK: 17, headDim: 80, numHeads: 8, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 17, seqK: 128, headDim: 128, numHeads: 2, numKvHeads: 2, causal: true, lse: true },
  { seqQ: 128, seqK: 128, headDim: 32, numHeads: 4, numKvHeads: 1, causal: true, window: 16, sinks: 4, lse: true },
  { seqQ: 1, seqK: 1000, headDim: 128, numHeads: 8, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 1000, seqK: 1000, headDim: 64, numHeads: 1, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 128, seqK: 1000, headDim: 80, numHeads: 4, numKvHeads: 4 },
  { seqQ: 2, seqK: 17, headDim: 32, numHeads: 2, numKvHeads: 2, window: 5, sinks: 2, lse: true },
  { seqQ: 1000, seqK: 2, headDim: 32, numHeads: 1, numKvHeads: 1, lse: true },
  { seqQ: 1000, seqK: 128, headDim: 32, numHeads: 4, numKvHeads: 1, causal: true, window: 100, sinks: 1, lse: true },
  { seqQ: 17, seqK: 17, headDim: 64, numHeads: 4, numKvHeads: 2, causal: true, batch: 2, lse: true },
  { seqQ: 17, seqK: 1000, headDim: 128, numHeads: 8, numKvHeads: 2, causal: true, window: 300, sinks: 8 },
  { seqQ: 128, seqK: 17, headDim: 64, numHeads: 8, numKvHeads: 8, scale: 0.5, lse: true },
  // The edges of the headDim range: 4 and 256 (the GPU kernels switch to 8 invocations per row past 128).
  { seqQ: 5, seqK: 9, headDim: 4, numHeads: 1, numKvHeads: 1, causal: true, window: 3, lse: true },
  { seqQ: 17, seqK: 40, headDim: 256, numHeads: 2, numKvHeads: 1, causal: true, lse: true },
  // Any headDim 1..256: the general (not a multiple of 4) path on both backends, GQA.
  { seqQ: 7, seqK: 7, headDim: 1, numHeads: 2, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 17, seqK: 30, headDim: 3, numHeads: 4, numKvHeads: 2, causal: true, window: 8, sinks: 2, lse: true },
  { seqQ: 33, seqK: 33, headDim: 5, numHeads: 8, numKvHeads: 2, lse: true },
  { seqQ: 17, seqK: 70, headDim: 96, numHeads: 4, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 9, seqK: 100, headDim: 250, numHeads: 2, numKvHeads: 1, causal: true, lse: true },
  { seqQ: 130, seqK: 130, headDim: 7, numHeads: 1, numKvHeads: 1, causal: true, window: 50, lse: true },
  // The logit options: each alone, with lse, then together with the masks.
  { seqQ: 33, seqK: 33, headDim: 64, numHeads: 4, numKvHeads: 2, softcap: 0.8, lse: true },
  { seqQ: 17, seqK: 60, headDim: 32, numHeads: 2, numKvHeads: 2, causal: true, softcap: 30, scale: 4, lse: true },
  { seqQ: 17, seqK: 70, headDim: 96, numHeads: 4, numKvHeads: 1, causal: true, sink: true, lse: true },
  { seqQ: 20, seqK: 20, headDim: 5, numHeads: 8, numKvHeads: 2, smooth: true, lse: true },
  { seqQ: 12, seqK: 31, headDim: 16, numHeads: 4, numKvHeads: 2, bias: 'full', lse: true },
  { seqQ: 12, seqK: 31, headDim: 3, numHeads: 4, numKvHeads: 4, bias: 'shared', lse: true },
  { seqQ: 6, seqK: 9, headDim: 16, numHeads: 2, numKvHeads: 1, bias: 'full', biasInf: 0.3, lse: true },
  { seqQ: 6, seqK: 9, headDim: 5, numHeads: 2, numKvHeads: 1, bias: 'head', biasInf: 0.3, sink: true, lse: true },
  { seqQ: 40, seqK: 90, headDim: 80, numHeads: 4, numKvHeads: 2, causal: true, window: 20, sinks: 3, softcap: 1.5, bias: 'head', lse: true },
  { seqQ: 5, seqK: 12, headDim: 7, numHeads: 4, numKvHeads: 2, batch: 2, causal: true, bias: 'batch', sink: true, smooth: true, lse: true },
  { seqQ: 17, seqK: 150, headDim: 256, numHeads: 2, numKvHeads: 1, causal: true, window: 64, sinks: 4, softcap: 2, sink: true, bias: 'full', lse: true },
  { seqQ: 128, seqK: 300, headDim: 3, numHeads: 8, numKvHeads: 1, causal: true, window: 40, sinks: 2, softcap: 5, bias: 'head', smooth: true, sink: true, lse: true },
];

/** Appends `chunks` of k/v ([KH][n][D]) to a cache, returning the full per-head sequences. */
function appendAll(cache: { append(k: Float32Array, v: Float32Array): void }, rng: CaseContext['rng'],
  KH: number, D: number, chunks: number[]): { k: Float32Array[]; v: Float32Array[] } {
  const total = chunks.reduce((a, b) => a + b, 0);
  const k = Array.from({ length: KH }, () => new Float32Array(total * D));
  const v = Array.from({ length: KH }, () => new Float32Array(total * D));
  let at = 0;
  for (const n of chunks) {
    const kc = rng.f32(KH * n * D), vc = rng.f32(KH * n * D);
    cache.append(kc, vc);
    for (let g = 0; g < KH; g++) {
      k[g].set(kc.subarray(g * n * D, (g + 1) * n * D), at * D);
      v[g].set(vc.subarray(g * n * D, (g + 1) * n * D), at * D);
    }
    at += n;
  }
  return { k, v };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Sorted random subset of 0..n-1 keeping about `frac` of it (at least one). */
function randomKeep(rng: CaseContext['rng'], n: number, frac: number): number[] {
  const keep: number[] = [];
  for (let j = 0; j < n; j++) if (rng.next() < frac) keep.push(j);
  if (keep.length === 0) keep.push(rng.int(0, n - 1));
  return keep;
}

/** The options of a decode case and what the reference needs for them (bias over [1, H, seqQ, cache.length]). */
function decodeLogitOptions(rng: CaseContext['rng'], which: string, H: number, seqQ: number, len: number):
  { opts: Record<string, unknown>; ref: Partial<RefOptions> } {
  const opts: Record<string, unknown> = {}, ref: Partial<RefOptions> = {};
  const all = which === 'all';
  if (which === 'softcap' || all) opts.softcap = ref.softcap = all ? 3 : 0.7;
  if (which === 'sinkLogits' || all) opts.sinkLogits = ref.sinkLogits = rng.f32(H).map((x) => 3 * x);
  if (which === 'smoothSoftmax' || all) opts.smoothSoftmax = ref.smoothSoftmax = true;
  if (which === 'bias' || all) {
    const shape = [1, all ? 1 : H, seqQ, len];
    const b = randomBias(rng, shape);
    opts.bias = b;
    opts.biasShape = shape;
    ref.bias = biasFn(b, shape, 0);
  }
  return { opts, ref };
}

const decodeCases: Case[] = [
  {
    op: 'attention',
    name: 'decode with softcap, bias, sinkLogits, smoothSoftmax (each, then all with window + sinks): dense d5 h8/2 and compacted d64 h8/2, lse',
    async run({ rt, rng }) {
      for (const [D, compact] of [[5, false], [64, true], [3, true]] as const) {
        const H = 8, KH = 2;
        const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: 16 });
        const { k, v } = appendAll(cache, rng, KH, D, [129, 1]);
        let kk = k, vk = v, pos: number[][] | undefined;
        if (compact) {
          const keep = [randomKeep(rng, 130, 0.6), randomKeep(rng, 130, 0.3)];
          keep[0].push(129);
          keep[0] = [...new Set(keep[0])].sort((a, b) => a - b);
          cache.compact(keep);
          kk = keep.map((list, g) => concat(list.map((j) => k[g].subarray(j * D, (j + 1) * D))));
          vk = keep.map((list, g) => concat(list.map((j) => v[g].subarray(j * D, (j + 1) * D))));
          pos = keep;
        }
        for (const which of ['softcap', 'bias', 'sinkLogits', 'smoothSoftmax', 'all']) {
          const seqQ = which === 'all' ? 2 : 1;
          const mask = which === 'all' ? { causal: true, window: 40, sinks: 2 } : { causal: true };
          const { opts, ref: extra } = decodeLogitOptions(rng, which, H, seqQ, cache.length);
          const q = rng.f32(H * seqQ * D);
          const got = await rt.decode(q, cache, { numHeads: H, ...mask, ...opts, returnLse: true } as never) as { out: Float32Array; lse: Float32Array };
          const ref = attentionRef(q, kk, vk, { numHeads: H, numKvHeads: KH, headDim: D, seqQ, qpos0: 130 - seqQ, ...mask, ...extra }, pos);
          const what = `decode d${D}${compact ? ' compacted' : ''} ${which}`;
          checkClose(got.out, ref.out, TOL, what);
          checkLse(got.lse, ref.lse, what);
          if (!compact) {
            // Dense: decode = prefill of the same queries over the whole cache with the same options.
            const pre = await rt.attention(q, concat(k), concat(v), { numHeads: H, numKvHeads: KH, headDim: D, ...mask, ...opts } as never) as unknown as Float32Array;
            checkClose(got.out, pre, TOL, `${what} vs prefill`);
          }
        }
        cache.dispose();
      }
    },
  },
  {
    op: 'attention',
    name: 'decode of a batch-folded cache with a per-batch bias [2, 1, 1, len] and sink logits (d12, 2 x h4/2)',
    async run({ rt, rng }) {
      const B = 2, H = 4, KH = 2, D = 12;
      const cache = rt.createKVCache({ numKvHeads: B * KH, headDim: D });
      const { k, v } = appendAll(cache, rng, B * KH, D, [77]);
      const shape = [B, 1, 1, 77];
      const bias = randomBias(rng, shape);
      const sinkLogits = rng.f32(B * H);
      const q = rng.f32(B * H * D);
      const got = await rt.decode(q, cache, { numHeads: B * H, causal: true, bias, biasShape: shape, sinkLogits, returnLse: true });
      const ref = attentionRef(q, k, v, {
        numHeads: B * H, numKvHeads: B * KH, headDim: D, seqQ: 1, causal: true, sinkLogits,
        bias: (h, _i, j) => bias[Math.floor(h / H) * 77 + j],
      });
      checkClose(got.out, ref.out, TOL, 'batch-folded decode with bias');
      checkLse(got.lse, ref.lse, 'batch-folded decode with bias');
      cache.dispose();
    },
  },
  {
    op: 'attention',
    name: 'decode after appends = prefill on the full sequence (d64 h8/2, growth past capacity)',
    async run({ rt, rng }) {
      const H = 8, KH = 2, D = 64;
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: 16 });
      const chunks = [100, 1, 1, 29, 1];
      const { k, v } = appendAll(cache, rng, KH, D, chunks);
      const total = chunks.reduce((a, b) => a + b, 0);
      check(cache.length === total && cache.position === total, `cache length ${cache.length}, position ${cache.position}, expected ${total}`);
      check(cache.lengths.every((n) => n === total), `lengths ${cache.lengths}`);
      const contents = await cache.read();
      checkClose(contents.keys, concat(k), 0, 'cache.read() keys');
      checkClose(contents.values, concat(v), 0, 'cache.read() values');
      check(contents.positions.every((p, i) => p === i % total), 'cache.read() positions must be 0..n-1 per head');
      for (const seqQ of [1, 2]) {
        const q = rng.f32(H * seqQ * D);
        const got = await rt.decode(q, cache, { numHeads: H, causal: true, returnLse: true });
        const full = await rt.attention(q, concat(k), concat(v), { numHeads: H, numKvHeads: KH, headDim: D, causal: true, returnLse: true });
        const ref = attentionRef(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, seqQ, causal: true });
        checkClose(got.out, ref.out, TOL, `decode seqQ ${seqQ}`);
        checkLse(got.lse, ref.lse, `decode seqQ ${seqQ}`);
        checkClose(got.out, full.out, TOL, `decode vs prefill seqQ ${seqQ}`);
      }
      cache.dispose();
      check(cache.disposed, 'dispose() must mark the cache disposed');
    },
  },
  {
    op: 'attention',
    name: 'decode over a 1000-token cache: d128 h8/2, d80 h4/1, d32 h8/1 window + sinks, d256 h1/1',
    async run({ rt, rng }) {
      for (const [H, KH, D, window, sinks] of [[8, 2, 128, 0, 0], [4, 1, 80, 0, 0], [8, 1, 32, 200, 4], [1, 1, 256, 0, 0]]) {
        const cache = rt.createKVCache({ numKvHeads: KH, headDim: D });
        const { k, v } = appendAll(cache, rng, KH, D, [999, 1]);
        const q = rng.f32(H * D);
        const got = await rt.decode(q, cache, { numHeads: H, headDim: D, causal: true, window, sinks, returnLse: true });
        const ref = attentionRef(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, seqQ: 1, causal: true, window, sinks });
        checkClose(got.out, ref.out, TOL, `decode d${D} h${H}/${KH}`);
        checkLse(got.lse, ref.lse, `decode d${D} h${H}/${KH}`);
        cache.dispose();
      }
    },
  },
  {
    op: 'attention',
    name: 'decode on a compacted cache = reference over the kept tokens (original positions)',
    async run({ rt, rng }) {
      const H = 8, KH = 4, D = 64;
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D });
      const { k, v } = appendAll(cache, rng, KH, D, [300]);
      // Each head keeps its own number of tokens; head 3 keeps a single one.
      const keep = [randomKeep(rng, 300, 0.5), randomKeep(rng, 300, 0.2), randomKeep(rng, 300, 0.9), [rng.int(0, 299)]];
      cache.compact(keep);
      check(cache.lengths.join() === keep.map((x) => x.length).join(), `lengths ${cache.lengths} after compact`);
      check(cache.position === 300, `position ${cache.position} after compact, expected 300`);
      const kk = keep.map((list, g) => concat(list.map((j) => k[g].subarray(j * D, (j + 1) * D))));
      const vk = keep.map((list, g) => concat(list.map((j) => v[g].subarray(j * D, (j + 1) * D))));
      const pos: number[][] = keep.map((list) => list.slice());
      const contents = await cache.read();
      checkClose(contents.keys, concat(kk), 0, 'compacted keys');
      checkClose(contents.values, concat(vk), 0, 'compacted values');
      check(Array.from(contents.positions).join() === pos.flat().join(), 'compacted positions must be the kept original positions');
      check(Array.from(contents.offsets).join() === [0, keep[0].length, keep[0].length + keep[1].length,
        keep[0].length + keep[1].length + keep[2].length].join(), `offsets ${contents.offsets}`);
      // A window on original positions: positions 299 - 63 .. 299 plus two sinks.
      for (const opt of [{ causal: true }, { causal: true, window: 64, sinks: 2 }]) {
        const q = rng.f32(H * D);
        const got = await rt.decode(q, cache, { numHeads: H, ...opt, returnLse: true });
        const ref = attentionRef(q, kk, vk, { numHeads: H, numKvHeads: KH, headDim: D, seqQ: 1, qpos0: 299, ...opt }, pos);
        checkClose(got.out, ref.out, TOL, `compacted decode ${JSON.stringify(opt)}`);
        checkLse(got.lse, ref.lse, `compacted decode ${JSON.stringify(opt)}`);
      }
      // Appending after compaction continues at position 300 (the cache grows from its tight layout).
      const extra = appendAll(cache, rng, KH, D, [3]);
      for (let g = 0; g < KH; g++) {
        kk[g] = concat([kk[g], extra.k[g]]);
        vk[g] = concat([vk[g], extra.v[g]]);
        pos[g].push(300, 301, 302);
      }
      const q = rng.f32(H * 2 * D);
      const got = await rt.decode(q, cache, { numHeads: H, causal: true, window: 100, sinks: 1, returnLse: true });
      const ref = attentionRef(q, kk, vk, { numHeads: H, numKvHeads: KH, headDim: D, seqQ: 2, qpos0: 301, causal: true, window: 100, sinks: 1 }, pos);
      checkClose(got.out, ref.out, TOL, 'decode after compact + append');
      checkLse(got.lse, ref.lse, 'decode after compact + append');
      // Compacting to nothing: every row sees no key.
      cache.compact([[], [], [], []]);
      const empty = await rt.decode(rng.f32(H * D), cache, { numHeads: H, returnLse: true });
      check(empty.out.every((x) => x === 0), 'an empty cache gives zero output');
      check(empty.lse.every((x) => x === -Infinity), 'an empty cache gives lse -Infinity');
      cache.dispose();
    },
  },
  {
    op: 'attention',
    name: 'multi-head decode (one row per KV head) on a compacted cache, window + sinks',
    async run({ rt, rng }) {
      const H = 3, D = 36;
      const cache = rt.createKVCache({ numKvHeads: H, headDim: D });
      const { k, v } = appendAll(cache, rng, H, D, [150, 50]);
      const keep = [randomKeep(rng, 200, 0.6), randomKeep(rng, 200, 0.3), randomKeep(rng, 200, 0.95)];
      cache.compact(keep);
      const kk = keep.map((list, g) => concat(list.map((j) => k[g].subarray(j * D, (j + 1) * D))));
      const vk = keep.map((list, g) => concat(list.map((j) => v[g].subarray(j * D, (j + 1) * D))));
      for (const opt of [{ causal: true }, { causal: true, window: 40, sinks: 3 }, { window: 30 }]) {
        const q = rng.f32(H * D);
        const got = await rt.decode(q, cache, { numHeads: H, ...opt, returnLse: true });
        const ref = attentionRef(q, kk, vk, { numHeads: H, numKvHeads: H, headDim: D, seqQ: 1, qpos0: 199, ...opt }, keep);
        checkClose(got.out, ref.out, TOL, `MHA compacted decode ${JSON.stringify(opt)}`);
        checkLse(got.lse, ref.lse, `MHA compacted decode ${JSON.stringify(opt)}`);
      }
      cache.dispose();
    },
  },
];

/** Bit-for-bit equality of two arrays (NaN payloads and -0 included). */
function sameBits(x: Float32Array, y: Float32Array, what: string): void {
  check(x.length === y.length, `${what}: ${x.length} values vs ${y.length}`);
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length), b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  const i = a.findIndex((v, j) => v !== b[j]);
  check(i < 0, `${what}: element ${i} differs (${x[i]} vs ${y[i]})`);
}

/** Per-KV-head rows of a [KH][S][D] array, as attentionRef takes them. */
function byHead(x: Float32Array, KH: number, S: number, D: number): Float32Array[] {
  return Array.from({ length: KH }, (_, g) => x.subarray(g * S * D, (g + 1) * S * D));
}

/** Calls the runtime's thread pool has run (0 without a pool): its internal test counter. */
function poolRuns(r: CaseContext['rt']): number {
  return (r as unknown as { impl: { pool?: { _testRuns: number } } }).impl.pool?._testRuns ?? 0;
}

/**
 * Checks whether the call(s) since `before` (poolRuns of each runtime) reached the pool of every
 * runtime with more than one thread: `expected` says whether they should (the work is over the pool's
 * threshold), so a "threads" check cannot pass on shapes that never leave the calling thread.
 */
function checkPool(rts: CaseContext['rt'][], before: number[], expected: boolean, tag: string): void {
  rts.forEach((r, i) => {
    if (r.backend !== 'wasm' || !((r.info.threads ?? 1) > 1)) return; // no pool (WebGPU, or 1 thread)
    const ran = poolRuns(r) > before[i];
    check(ran === expected, `${tag}: the ${r.info.threads}-thread pool ${ran ? 'ran' : 'did not run'}, expected ${expected ? 'it to run' : 'the calling thread only'}`);
  });
}

/** Multiply-adds (twice) of attention at which a call goes to the pool, and of KV scoring (src/ops/attention.ts, src/kv/backend.ts). */
const POOL_MIN_WORK = 1 << 19, KV_POOL_MIN_WORK = 1 << 18;

/**
 * Fills `rts` with runtimes of 1, 2 and 3 wasm threads (the case's own runtime where it has 1 thread), or skips the
 * case where no pool can run (not the wasm pass; no shared memory). The matmul threads case checks the errors where
 * threads cannot start. Destroy what it made: `for (const r of rts) if (r !== rt) r.destroy()`.
 */
async function threadRuntimes(rt: CaseContext['rt'], pc: CaseContext['pc'], rts: CaseContext['rt'][]): Promise<void> {
  if (rt.backend !== 'wasm') skipCase('the thread pool is a wasm feature: this case runs on the wasm pass');
  const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean };
  if (typeof g.SharedArrayBuffer !== 'function' || g.crossOriginIsolated === false) skipCase('no shared memory here (not cross-origin isolated, or no SharedArrayBuffer): threads cannot start');
  rts.push(rt.info.threads === 1 ? rt : await pc.createRuntime({ backend: 'wasm', threads: 1 }));
  rts.push(await pc.createRuntime({ backend: 'wasm', threads: 2 }));
  rts.push(await pc.createRuntime({ backend: 'wasm', threads: 3 }));
}

/**
 * The wasm thread pool on attention: prefill (KV heads x query tiles), decode (split-K over the cache,
 * then the partials combined in chunk order) and KV scoring (one task per query head, folded in head
 * order) on 1, 2 and 3 threads: the same bits, and the f64 reference. Shapes are odd and over the
 * pool's size thresholds; decode caches cross several 512-key chunks.
 */
const threadsCase: Case = {
  op: 'attention',
  name: 'wasm threads: prefill, split-K decode and KV scoring give the same bits on 1, 2 and 3 threads (odd shapes), within 1e-5 of f64',
  async run({ rt, rng, pc }) {
    const rts: CaseContext['rt'][] = [];
    try {
      await threadRuntimes(rt, pc, rts);
      // prefill: rows split in tiles of 64 per KV head (R = seqQ x group)
      const prefills: [number, number, number, number, boolean, number, number, number][] = [
        [6, 2, 333, 37, true, 0, 0, 0], [8, 2, 260, 64, true, 100, 3, 0], [3, 3, 140, 5, false, 0, 0, 20], [4, 1, 97, 128, false, 40, 0, 0],
      ];
      for (const [H, KH, S, D, causal, window, sinks, softcap] of prefills) {
        const tag = `prefill h${H}/${KH} s${S} d${D}${causal ? ' causal' : ''}${window ? ` window ${window}` : ''}${sinks ? ` sinks ${sinks}` : ''}${softcap ? ` softcap ${softcap}` : ''}`;
        const q = rng.f32(H * S * D), k = rng.f32(KH * S * D), v = rng.f32(KH * S * D);
        const o = { numHeads: H, numKvHeads: KH, headDim: D, causal, window, sinks, returnLse: true, ...(softcap ? { softcap } : {}) };
        const outs = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await r.attention(q, k, v, o) as { out: Float32Array; lse: Float32Array });
        checkPool(rts, before, true, tag); // every shape here is over the pool's threshold
        const ref = attentionRef(q, byHead(k, KH, S, D), byHead(v, KH, S, D), { numHeads: H, numKvHeads: KH, headDim: D, seqQ: S, causal, window, sinks, softcap });
        checkClose(outs[0].out, ref.out, TOL, tag);
        checkLse(outs[0].lse, ref.lse, tag);
        for (let i = 1; i < 3; i++) {
          sameBits(outs[i].out, outs[0].out, `${tag}: ${i + 1} threads vs 1`);
          sameBits(outs[i].lse, outs[0].lse, `${tag} lse: ${i + 1} threads vs 1`);
        }
      }
      // decode: caches of several chunks (split-K), a few query rows, with and without masks and logit options
      const decodes: [number, number, number, number, number, number, number, boolean][] = [
        [8, 2, 3001, 33, 1, 0, 0, false], [4, 1, 1500, 64, 3, 300, 2, true], [6, 3, 700, 39, 2, 0, 0, false], [2, 2, 1100, 128, 1, 0, 0, true],
      ];
      for (const [H, KH, L, D, seqQ, window, sinks, extras] of decodes) {
        const tag = `decode h${H}/${KH} cache ${L} d${D} seqQ ${seqQ}${window ? ` window ${window} sinks ${sinks}` : ''}${extras ? ' softcap + sink logits' : ''}`;
        const caches = rts.map((r) => r.createKVCache({ numKvHeads: KH, headDim: D }));
        const { k, v } = appendAll({ append: (kc, vc) => caches.forEach((c) => c.append(kc, vc)) }, rng, KH, D, [L - 1, 1]);
        const q = rng.f32(H * seqQ * D);
        const sinkLogits = extras ? rng.f32(H) : undefined;
        const o = { numHeads: H, causal: true, window, sinks, returnLse: true, ...(extras ? { softcap: 25, sinkLogits } : {}) };
        const outs = [], before = rts.map(poolRuns);
        for (let i = 0; i < 3; i++) outs.push(await rts[i].decode(q, caches[i], o) as { out: Float32Array; lse: Float32Array });
        checkPool(rts, before, true, tag);
        const ref = attentionRef(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, seqQ, causal: true, window, sinks, ...(extras ? { softcap: 25, sinkLogits } : {}) });
        checkClose(outs[0].out, ref.out, TOL, tag);
        checkLse(outs[0].lse, ref.lse, tag);
        for (let i = 1; i < 3; i++) {
          sameBits(outs[i].out, outs[0].out, `${tag}: ${i + 1} threads vs 1`);
          sameBits(outs[i].lse, outs[0].lse, `${tag} lse: ${i + 1} threads vs 1`);
        }
        caches.forEach((c) => c.dispose());
      }
      // KV scoring (the fused window pass): one task per query head
      for (const [hq, hkv, n, d, nq, w, method] of [[8, 2, 701, 24, 40, 32, 'snapkv'], [6, 3, 450, 37, 20, 20, 'h2o']] as const) {
        const tag = `scoreKV ${method} hq ${hq} hkv ${hkv} N ${n} d ${d} window ${w}`;
        const o = { q: rng.f32(hq * nq * d), k: rng.f32(hkv * n * d), v: rng.f32(hkv * n * d), numHeads: hq, numKvHeads: hkv, headDim: d, window: w, compression: 0.5 };
        const outs = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await pc.scoreKV(r, method, o));
        checkPool(rts, before, true, tag);
        checkClose(outs[0].scores, pc.refScoreKV(method, o).scores, TOL, tag);
        for (let i = 1; i < 3; i++) sameBits(outs[i].scores, outs[0].scores, `${tag}: ${i + 1} threads vs 1`);
      }
    } finally {
      for (const r of rts) if (r !== rt) r.destroy();
    }
  },
};

/** Decodes of the threads edges case: [query rows, query heads per KV head, keys, headDim]. */
function threadEdgeDecodes(): [number, number, number, number][] {
  const keys = [511, 512, 513, 617, 1024, 1025], dims = [16, 64, 80, 128];
  const list: [number, number, number, number][] = [];
  // every query row count 1..40 at every GQA ratio (2 KV heads), keys and headDim cycling
  for (let seqQ = 1; seqQ <= 40; seqQ++) {
    for (const [gi, G] of [1, 2, 4].entries()) list.push([seqQ, G, keys[(seqQ + gi) % keys.length], dims[(seqQ + 2 * gi) % dims.length]]);
  }
  // the LM fixture's shape (4 query / 2 KV heads of 16) at the rows that first crossed 64 output rows, and
  // caches past MAX_CHUNKS x 512 keys (chunks of 640 keys: 16385 keys = 26 chunks; 16384 = 32 chunks of 512)
  list.push([17, 2, 617, 16], [17, 2, 1025, 16], [33, 1, 617, 16], [9, 4, 617, 16], [17, 2, 16385, 16], [17, 2, 16384, 16],
    [9, 4, 16385, 64], [1, 4, 16385, 80], [33, 1, 16385, 128]);
  return list;
}

/**
 * The thread pool at the edges of its partition: split-K decode at every query row count 1..40 (the
 * combine runs on the pool, 16 rows per task, once numHeads x seqQ > 64: 17 rows of 4 query heads made a
 * last task run 12 rows past the partials, out and lse, corrupting the heap or trapping with "memory
 * access out of bounds"), keys around the 512-key chunk and 32-chunk limits, GQA 1 / 2 / 4, headDim
 * 16 / 64 / 80 / 128; prefill around the 64-row tile and with few rows over many keys (split-K prefill);
 * KV scoring at window row counts around its 4-row blocks. 1, 2 and 3 threads: the same bits, and the
 * f64 reference.
 */
const threadEdgesCase: Case = {
  op: 'attention',
  name: 'wasm threads edges: split-K decode at 1..40 query rows, keys 511..16385, GQA 1/2/4, headDim 16..128; prefill tiles; KV scoring rows: same bits on 1, 2, 3 threads, within 1e-5 of f64',
  async run({ rt, rng, pc }) {
    const rts: CaseContext['rt'][] = [];
    try {
      await threadRuntimes(rt, pc, rts);
      type WithLse = { out: Float32Array; lse: Float32Array };
      const agree = (outs: WithLse[], ref: { out: Float64Array; lse: Float64Array }, tag: string) => {
        checkClose(outs[0].out, ref.out, TOL, tag);
        checkLse(outs[0].lse, ref.lse, tag);
        for (let i = 1; i < outs.length; i++) {
          sameBits(outs[i].out, outs[0].out, `${tag}: ${i + 1} threads vs 1`);
          sameBits(outs[i].lse, outs[0].lse, `${tag} lse: ${i + 1} threads vs 1`);
        }
      };
      const KH = 2;
      let onPool = 0; // cases over the pool's threshold (the rest check the partition on the calling thread)
      for (const [seqQ, G, L, D] of threadEdgeDecodes()) {
        const H = KH * G, causal = (seqQ + L) % 2 === 0;
        const tag = `decode ${seqQ} rows h${H}/${KH} cache ${L} d${D}${causal ? ' causal' : ''}`;
        const caches = rts.map((r) => r.createKVCache({ numKvHeads: KH, headDim: D }));
        const { k, v } = appendAll({ append: (kc, vc) => caches.forEach((c) => c.append(kc, vc)) }, rng, KH, D, [L]);
        const q = rng.f32(H * seqQ * D);
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (let i = 0; i < 3; i++) outs.push(await rts[i].decode(q, caches[i], { numHeads: H, causal, returnLse: true }) as WithLse);
        const pooled = 2 * H * seqQ * L * D >= POOL_MIN_WORK;
        checkPool(rts, before, pooled, tag);
        onPool += pooled ? 1 : 0;
        agree(outs, attentionRef(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, seqQ, causal }), tag);
        caches.forEach((c) => c.dispose());
      }
      // prefill: few rows over many keys (one row tile: split-K, combined on the pool past 64 output rows),
      // and full prefills around the 64-row tile (R = seqQ x group = 64, 65, 128, 132, 129)
      const prefills: [number, number, number, number, boolean][] = [
        [17, 2, 617, 16, false], [17, 2, 617, 16, true], [33, 1, 1025, 64, false], [9, 4, 513, 80, true], [40, 1, 511, 128, false],
        [16, 4, 1024, 16, true], [1, 4, 16385, 16, false],
        [64, 1, 64, 16, true], [65, 1, 65, 64, true], [64, 2, 64, 80, true], [33, 4, 33, 128, true], [129, 1, 129, 16, false],
      ];
      for (const [S, G, SK, D, causal] of prefills) {
        const H = KH * G;
        const tag = `prefill ${S} rows h${H}/${KH} keys ${SK} d${D}${causal ? ' causal' : ''}`;
        const q = rng.f32(H * S * D), k = rng.f32(KH * SK * D), v = rng.f32(KH * SK * D);
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await r.attention(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, causal, returnLse: true }) as WithLse);
        const pooled = 2 * H * S * SK * D >= POOL_MIN_WORK;
        checkPool(rts, before, pooled, tag);
        onPool += pooled ? 1 : 0;
        agree(outs, attentionRef(q, byHead(k, KH, SK, D), byHead(v, KH, SK, D), { numHeads: H, numKvHeads: KH, headDim: D, seqQ: S, causal }), tag);
      }
      // KV scoring: window rows in and around the kernel's blocks of 4, keys around 512, GQA 1 / 2 / 4
      const scores: [number, number, number, number, 'snapkv' | 'h2o'][] = [
        [1, 1, 617, 16, 'snapkv'], [3, 2, 513, 64, 'snapkv'], [5, 4, 511, 80, 'snapkv'], [17, 2, 617, 16, 'snapkv'],
        [33, 1, 1025, 128, 'h2o'], [40, 4, 512, 16, 'h2o'], [16, 2, 1024, 80, 'snapkv'],
      ];
      for (const [w, G, n, d, method] of scores) {
        const hq = KH * G, nq = Math.max(w, 8);
        const tag = `scoreKV ${method} hq ${hq} hkv ${KH} N ${n} d ${d} window ${w}`;
        const o = { q: rng.f32(hq * nq * d), k: rng.f32(KH * n * d), v: rng.f32(KH * n * d), numHeads: hq, numKvHeads: KH, headDim: d, window: w, compression: 0.5 };
        const outs = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await pc.scoreKV(r, method, o));
        const pooled = hq * w * n * d >= KV_POOL_MIN_WORK;
        checkPool(rts, before, pooled, tag);
        onPool += pooled ? 1 : 0;
        checkClose(outs[0].scores, pc.refScoreKV(method, o).scores, TOL, tag);
        for (let i = 1; i < 3; i++) sameBits(outs[i].scores, outs[0].scores, `${tag}: ${i + 1} threads vs 1`);
      }
      check(onPool >= 100, `only ${onPool} edge cases reached the pool`); // 138 with these shapes
    } finally {
      for (const r of rts) if (r !== rt) r.destroy();
    }
  },
};

/**
 * A NaN key, or a key whose score overflows to +inf, poisons the rows that see it: their output and lse
 * are NaN whether the keys are split into chunks or not. Decode over a short cache (one chunk) and a
 * split one (1,100 keys: three 512-key chunks on wasm, several on WebGPU), the bad key near the end of
 * KV head 0; prefill over the same kind of data. Split-K once skipped a chunk whose sum was NaN, so a
 * split cache gave a finite output without that key while one chunk gave NaN (and lse -inf). Rows that
 * do not see the key (the other KV head, earlier causal positions) match a run with the key made clean.
 * On wasm with threads, 1 and 2 threads give the same bits (shapes over the pool's threshold).
 */
const poisonCase: Case = {
  op: 'attention',
  name: 'a NaN key or a +inf score makes the rows that see it NaN (out and lse), in short and split caches and prefill, on 1 and N threads',
  async run({ rt, rng, pc }) {
    const H = 4, KH = 2, D = 64, G = H / KH;
    const rts = [rt];
    const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean };
    const threads = rt.backend === 'wasm' && typeof g.SharedArrayBuffer === 'function' && g.crossOriginIsolated !== false;
    try {
      if (threads) {
        if (rt.info.threads !== 1) rts.push(await pc.createRuntime({ backend: 'wasm', threads: 1 }));
        if (rt.info.threads !== 2) rts.push(await pc.createRuntime({ backend: 'wasm', threads: 2 }));
      }
      type WithLse = { out: Float32Array; lse: Float32Array };
      /** k with the bad key (NaN, or 1e38 everywhere: with all-ones queries its score is +inf) at `at` of KV head 0. */
      const poison = (k: Float32Array, L: number, at: number, kind: 'nan' | 'inf') => {
        const bad = k.slice();
        if (kind === 'nan') bad[at * D + 5] = NaN;
        else bad.fill(1e38, at * D, (at + 1) * D);
        return bad;
      };
      /** q with the query rows of KV head 0's heads all ones (so a 1e38 key overflows). */
      const ones = (q: Float32Array, S: number) => {
        const x = q.slice();
        x.fill(1, 0, G * S * D);
        return x;
      };
      const verify = (runs: WithLse[], clean: WithLse, S: number, seesBad: (h: number, i: number) => boolean, tag: string) => {
        const got = runs[0];
        for (let h = 0; h < H; h++) {
          for (let i = 0; i < S; i++) {
            const row = h * S + i, out = got.out.subarray(row * D, (row + 1) * D);
            if (seesBad(h, i)) {
              check(out.every((x) => Number.isNaN(x)), `${tag}: head ${h} row ${i} sees the bad key, yet its output is ${out.slice(0, 4).join(', ')}...`);
              check(Number.isNaN(got.lse[row]), `${tag}: head ${h} row ${i} sees the bad key, yet its lse is ${got.lse[row]}`);
            } else {
              check(out.every((x) => Number.isFinite(x)) && Number.isFinite(got.lse[row]), `${tag}: head ${h} row ${i} does not see the bad key, yet it is not finite`);
              checkClose(out, clean.out.subarray(row * D, (row + 1) * D), TOL, `${tag}: head ${h} row ${i} (does not see the bad key) vs the clean run`);
            }
          }
        }
        for (let r = 1; r < runs.length; r++) {
          sameBits(runs[r].out, got.out, `${tag}: runtime ${r} (${rts[r].info.threads} threads) vs ${rts[0].info.threads}`);
          sameBits(runs[r].lse, got.lse, `${tag} lse: runtime ${r} (${rts[r].info.threads} threads) vs ${rts[0].info.threads}`);
        }
      };
      for (const kind of ['nan', 'inf'] as const) {
        // decode: one chunk (500 keys) and split (1,100 keys), 1 and 17 query rows (17 x 4 heads: the combine on the pool)
        for (const L of [500, 1100]) {
          for (const S of [1, 17]) {
            const at = L - 10, tag = `decode ${kind} key ${at} of ${L}, ${S} rows`;
            const k = rng.f32(KH * L * D), v = rng.f32(KH * L * D), q = ones(rng.f32(H * S * D), S);
            const bad = poison(k, L, at, kind);
            const decode = async (r: CaseContext['rt'], keys: Float32Array) => {
              const cache = r.createKVCache({ numKvHeads: KH, headDim: D });
              try {
                cache.append(keys, v);
                return await r.decode(q, cache, { numHeads: H, causal: true, returnLse: true }) as WithLse;
              } finally {
                cache.dispose();
              }
            };
            const runs: WithLse[] = [], before = rts.map(poolRuns);
            for (const r of rts) runs.push(await decode(r, bad));
            checkPool(rts, before, 2 * H * S * L * D >= POOL_MIN_WORK, tag);
            verify(runs, await decode(rt, k), S, (h, i) => h < G && L - S + i >= at, tag);
          }
        }
        // prefill (causal): rows at positions >= the bad key's see it
        const S = 300, at = 250, tag = `prefill ${kind} key ${at} of ${S}`;
        const k = rng.f32(KH * S * D), v = rng.f32(KH * S * D), q = ones(rng.f32(H * S * D), S);
        const bad = poison(k, S, at, kind);
        const o = { numHeads: H, numKvHeads: KH, headDim: D, causal: true, returnLse: true };
        const runs: WithLse[] = [], before = rts.map(poolRuns);
        for (const r of rts) runs.push(await r.attention(q, bad, v, o) as WithLse);
        checkPool(rts, before, true, tag);
        verify(runs, await rt.attention(q, k, v, o) as WithLse, S, (h, i) => h < G && i >= at, tag);
      }
    } finally {
      for (const r of rts) if (r !== rt) r.destroy();
    }
  },
};

export const attentionCases: Case[] = [
  ...prefill.map(prefillCase),
  poisonCase,
  threadsCase,
  threadEdgesCase,
  {
    op: 'attention',
    name: 'random shape',
    async run(ctx) {
      const { rng } = ctx;
      const KH = rng.int(1, 2), G = [1, 4, 8][rng.int(0, 2)];
      const seqK = rng.int(1, 150);
      await runPrefill(ctx, {
        seqQ: rng.int(1, seqK), seqK, headDim: rng.next() < 0.5 ? 4 * rng.int(1, 32) : rng.int(1, 256), numHeads: KH * G, numKvHeads: KH,
        causal: rng.next() < 0.5, window: rng.next() < 0.3 ? rng.int(1, 40) : 0, sinks: rng.int(0, 3), lse: true,
        softcap: rng.next() < 0.3 ? 0.5 + 10 * rng.next() : undefined, sink: rng.next() < 0.3, smooth: rng.next() < 0.3,
        bias: rng.next() < 0.3 ? (['full', 'head', 'batch', 'shared'] as const)[rng.int(0, 3)] : undefined,
      });
    },
  },
  {
    op: 'attention',
    name: 'causal rows before the first key see nothing: output 0, lse -Infinity',
    async run({ rt, rng }) {
      // seqQ > seqK with causal: the first seqQ - seqK queries sit at negative positions.
      const D = 32, q = rng.f32(2 * 5 * D), k = rng.f32(3 * D), v = rng.f32(3 * D);
      const r = await rt.attention(q, k, v, { numHeads: 2, numKvHeads: 1, headDim: D, causal: true, returnLse: true });
      const ref = attentionRef(q, [k], [v], { numHeads: 2, numKvHeads: 1, headDim: D, seqQ: 5, causal: true, qpos0: -2 });
      checkClose(r.out, ref.out, TOL, 'seqQ > seqK causal');
      checkLse(r.lse, ref.lse, 'seqQ > seqK causal');
      check(r.out.subarray(0, 2 * D).every((x) => x === 0), 'rows with no visible key must be exactly 0');
    },
  },
  {
    op: 'attention',
    name: 'tensors in, tensors out (out and lse stay on the device)',
    async run({ rt, rng, pc }) {
      const H = 4, KH = 2, D = 32, S = 17;
      const q = rng.f32(H * S * D), k = rng.f32(KH * S * D), v = rng.f32(KH * S * D);
      const tq = rt.tensor(q, [H, S, D]), tk = rt.tensor(k, [KH, S, D]), tv = rt.tensor(v, [KH, S, D]);
      const r = rt.attention(tq, tk, tv, { numHeads: H, numKvHeads: KH, headDim: D, causal: true, returnLse: true });
      check(r.out instanceof pc.Tensor && r.lse instanceof pc.Tensor, 'tensor inputs must give tensors');
      check(r.out.shape.join() === `${H},${S},${D}` && r.lse.shape.join() === `${H},${S}`, `shapes ${r.out.shape} / ${r.lse.shape}`);
      const ref = attentionRef(q, heads(k, KH, D), heads(v, KH, D), { numHeads: H, numKvHeads: KH, headDim: D, seqQ: S, causal: true });
      checkClose(await r.out.read(), ref.out, TOL, 'tensor out');
      checkLse(await r.lse.read(), ref.lse, 'tensor lse');
      // The output tensor feeds the next op (here: decode against a cache filled from tensors).
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D });
      cache.append(tk, tv);
      const o = rt.decode(r.out, cache, { numHeads: H, position: 0 });
      check(o instanceof pc.Tensor, 'decode of a tensor gives a tensor');
      const ref2 = attentionRef(await r.out.read(), heads(k, KH, D), heads(v, KH, D), { numHeads: H, numKvHeads: KH, headDim: D, seqQ: S, qpos0: 0 });
      checkClose(await o.read(), ref2.out, TOL, 'decode of tensors');
      for (const t of [tq, tk, tv, r.out, r.lse, o]) t.dispose();
      cache.dispose();
    },
  },
  {
    op: 'attention',
    name: 'tensors in, tensors out with a Tensor bias, sinkLogits, softcap and smoothSoftmax (prefill and decode, d6)',
    async run({ rt, rng, pc }) {
      const H = 4, KH = 2, D = 6, S = 11;
      const q = rng.f32(H * S * D), k = rng.f32(KH * S * D), v = rng.f32(KH * S * D);
      const shape = [1, H, S, S];
      const bias = randomBias(rng, shape), sinkLogits = rng.f32(H);
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v), tb = rt.tensor(bias);
      const logit = { softcap: 1.2, smoothSoftmax: true, sinkLogits };
      const r = rt.attention(tq, tk, tv, { numHeads: H, numKvHeads: KH, headDim: D, causal: true, bias: tb, biasShape: shape, ...logit, returnLse: true });
      check(r.out instanceof pc.Tensor && r.lse instanceof pc.Tensor, 'tensor inputs must give tensors');
      const ref = attentionRef(q, heads(k, KH, D), heads(v, KH, D), {
        numHeads: H, numKvHeads: KH, headDim: D, seqQ: S, causal: true, bias: biasFn(bias, shape, 0), ...logit,
      });
      checkClose(await r.out.read(), ref.out, TOL, 'tensor out with logit options');
      checkLse(await r.lse.read(), ref.lse, 'tensor lse with logit options');
      // Decode of the last query row of each head against a cache of the same keys, the bias's last row as a Tensor.
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D });
      cache.append(tk, tv);
      const qLast = new Float32Array(H * D), bLast = new Float32Array(H * S);
      for (let h = 0; h < H; h++) {
        qLast.set(q.subarray((h * S + S - 1) * D, (h * S + S) * D), h * D);
        bLast.set(bias.subarray((h * S + S - 1) * S, (h * S + S) * S), h * S);
      }
      const tql = rt.tensor(qLast), tbl = rt.tensor(bLast);
      const o = rt.decode(tql, cache, { numHeads: H, causal: true, bias: tbl, biasShape: [1, H, 1, S], ...logit });
      check(o instanceof pc.Tensor, 'decode of a tensor gives a tensor');
      const got = await o.read();
      const want = new Float64Array(H * D);
      for (let h = 0; h < H; h++) want.set(ref.out.subarray((h * S + S - 1) * D, (h * S + S) * D), h * D);
      checkClose(got, want, TOL, 'tensor decode with logit options');
      for (const t of [tq, tk, tv, tb, r.out, r.lse, tql, tbl, o]) t.dispose();
      cache.dispose();
    },
  },
  ...decodeCases,
  {
    op: 'attention',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const D = 32, q = new Float32Array(4 * 3 * D), k = new Float32Array(2 * 5 * D), v = new Float32Array(2 * 5 * D);
      const ok = { numHeads: 4, numKvHeads: 2, headDim: D };
      await expectError(() => rt.attention(q, k, v, { ...ok, numKvHeads: 3 }), pc.ShapeError, 'numHeads not a multiple of numKvHeads');
      await expectError(() => rt.attention(q, k, v, { ...ok, numHeads: 0 }), pc.ArgumentError, 'zero heads');
      await expectError(() => rt.attention(q, k, v, { ...ok, headDim: 257 }), pc.ArgumentError, 'headDim over 256');
      await expectError(() => rt.attention(q, k, v, { ...ok, headDim: 0 }), pc.ArgumentError, 'headDim 0');
      await expectError(() => rt.attention(q, k, v, { ...ok, headDim: 2.5 }), pc.ArgumentError, 'fractional headDim');
      await expectError(() => rt.attention(q, k, v, { ...ok, headDim: 30 }), pc.ShapeError, 'headDim 30 that does not divide the lengths');
      for (const softcap of [-1, 0, NaN, Infinity, '2']) {
        await expectError(() => rt.attention(q, k, v, { ...ok, softcap: softcap as number }), pc.ArgumentError, `softcap ${String(softcap)}`);
      }
      const bias = new Float32Array(4 * 3 * 5);
      await expectError(() => rt.attention(q, k, v, { ...ok, bias: bias.subarray(1) }), pc.ShapeError, 'bias of the wrong length (default shape)');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias, biasShape: [1, 4, 3, 4] }), pc.ShapeError, 'biasShape with the wrong seqK');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias, biasShape: [1, 2, 3, 5] }), pc.ShapeError, 'biasShape heads neither 1 nor numHeads');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias: bias.subarray(15), biasShape: [2, 1, 3, 5] }), pc.ShapeError, 'biasShape batch 2 on batch 1');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias: bias.subarray(15), biasShape: [1, 1, 3, 5] }), pc.ShapeError, 'bias length does not match biasShape');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias, biasShape: [4, 3, 5] }), pc.ArgumentError, 'biasShape of 3 dims');
      await expectError(() => rt.attention(q, k, v, { ...ok, biasShape: [1, 1, 3, 5] }), pc.ArgumentError, 'biasShape without bias');
      await expectError(() => rt.attention(q, k, v, { ...ok, bias: new Float64Array(60) as never }), pc.DTypeError, 'Float64Array bias');
      await expectError(() => rt.attention(q, k, v, { ...ok, sinkLogits: new Float32Array(3) }), pc.ShapeError, 'sinkLogits of the wrong length');
      await expectError(() => rt.attention(q, k, v, { ...ok, sinkLogits: [0, 0, 0, 0] as never }), pc.DTypeError, 'sinkLogits an Array');
      await expectError(() => rt.attention(q, k, v, { ...ok, sinkLogits: new Float32Array([0, NaN, 0, 0]) }), pc.ArgumentError, 'NaN sink logit');
      await expectError(() => rt.attention(q, k, v, { ...ok, smoothSoftmax: 1 as never }), pc.ArgumentError, 'non-boolean smoothSoftmax');
      await expectError(() => rt.attention(q, k, v, { ...ok, headDim: 64 }), pc.ShapeError, 'headDim that does not divide the lengths');
      await expectError(() => rt.attention(q, k, new Float32Array(2 * 4 * D), ok), pc.ShapeError, 'v shorter than k');
      await expectError(() => rt.attention(q.subarray(1), k, v, ok), pc.ShapeError, 'q length not a multiple of heads x headDim');
      await expectError(() => rt.attention(q, k, v, { ...ok, seqQ: 4 }), pc.ShapeError, 'seqQ that does not match q');
      await expectError(() => rt.attention(q, k, v, { ...ok, seqK: 6 }), pc.ShapeError, 'seqK that does not match k');
      await expectError(() => rt.attention(q, k, v, { ...ok, batch: 2 }), pc.ShapeError, 'batch that does not divide the lengths');
      await expectError(() => rt.attention(new Float64Array(q.length) as unknown as Float32Array, k, v, ok), pc.DTypeError, 'Float64Array q');
      await expectError(() => rt.attention(q, k, v, { ...ok, causal: 1 as unknown as boolean }), pc.ArgumentError, 'non-boolean causal');
      await expectError(() => rt.attention(q, k, v, { ...ok, window: -1 }), pc.ArgumentError, 'negative window');
      await expectError(() => rt.attention(q, k, v, { ...ok, scale: NaN }), pc.ArgumentError, 'NaN scale');
      await expectError(() => rt.attention(q, k, v, undefined as unknown as typeof ok), pc.ArgumentError, 'missing options');
      const unknown = await expectError(() => rt.attention(q, k, v, { ...ok, casual: true } as never), pc.ArgumentError, 'unknown option');
      check(/"casual"/.test(unknown.message), `the message should name the unknown option: ${unknown.message}`);
      await expectError(() => rt.attention(rt.tensor(q), k, v, { ...ok, windowSize: 4 } as never), pc.ArgumentError, 'unknown option (tensor call)');
      const e = await expectError(() => rt.attention(q, k, new Float32Array(7), ok), pc.ShapeError, 'message');
      check(/expected 320/.test(e.message), `message should name the expected length: ${e.message}`);

      const cache = rt.createKVCache({ numKvHeads: 2, headDim: D });
      cache.append(k, v);
      await expectError(() => cache.append(k, v.subarray(D)), pc.ShapeError, 'append with v shorter than k');
      await expectError(() => cache.append(k.subarray(D), v.subarray(D)), pc.ShapeError, 'append of a partial token');
      await expectError(() => cache.append(new Float64Array(k.length) as unknown as Float32Array, v), pc.DTypeError, 'append Float64Array');
      await expectError(() => rt.decode(q, cache, { numHeads: 3 }), pc.ShapeError, 'decode numHeads not a multiple of the cache heads');
      await expectError(() => rt.decode(q, cache, { numHeads: 4, headDim: 64 }), pc.ShapeError, 'decode headDim mismatch');
      await expectError(() => rt.decode(q.subarray(4), cache, { numHeads: 4 }), pc.ShapeError, 'decode q length');
      await expectError(() => rt.decode(q, {} as never, { numHeads: 4 }), pc.ArgumentError, 'decode without a cache');
      const q1 = q.subarray(0, 4 * D);
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, softcap: 0 }), pc.ArgumentError, 'decode softcap 0');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, softcap: -2 }), pc.ArgumentError, 'decode negative softcap');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, softcap: NaN }), pc.ArgumentError, 'decode NaN softcap');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, sinkLogits: new Float32Array(2) }), pc.ShapeError, 'decode sinkLogits of the wrong length');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, bias: new Float32Array(4 * 6) }), pc.ShapeError, 'decode bias over the wrong cache length');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, bias: new Float32Array(3 * 5), biasShape: [3, 1, 1, 5] }), pc.ShapeError, 'decode bias batch that does not divide numHeads');
      await expectError(() => rt.decode(q1, cache, { numHeads: 4, bias: new Float32Array(5), biasShape: [1, 1, 2, 5] }), pc.ShapeError, 'decode bias with the wrong seqQ');
      const du = await expectError(() => rt.decode(q, cache, { numHeads: 4, numKvHeads: 2 } as never), pc.ArgumentError, 'decode: unknown option');
      check(/"numKvHeads"/.test(du.message), `the message should name the unknown option: ${du.message}`);
      const cu = await expectError(() => rt.createKVCache({ numKvHeads: 2, headDim: D, capacty: 8 } as never), pc.ArgumentError, 'KV cache: unknown option');
      check(/"capacty"/.test(cu.message), `the message should name the unknown option: ${cu.message}`);
      await expectError(() => cache.compact([[0, 1]]), pc.ShapeError, 'keep lists for the wrong number of heads');
      await expectError(() => cache.compact([[0, 5], [1]]), pc.ArgumentError, 'keep index out of range');
      await expectError(() => cache.compact([[0, -1], [1]]), pc.ArgumentError, 'negative keep index');
      await expectError(() => cache.compact([[2, 1], [1]]), pc.ArgumentError, 'unsorted keep list');
      await expectError(() => cache.compact([[1, 1], [1]]), pc.ArgumentError, 'duplicate keep index');
      await expectError(() => cache.compact([[0.5], [1]]), pc.ArgumentError, 'fractional keep index');
      await expectError(() => cache.compact('x' as never), pc.ArgumentError, 'keep not an array');
      check(cache.lengths.join() === '5,5', `a rejected compact must leave the cache alone: ${cache.lengths}`);
      await expectError(() => rt.createKVCache({ numKvHeads: 2, headDim: 257 }), pc.ArgumentError, 'cache headDim over 256');
      await expectError(() => rt.createKVCache({ numKvHeads: 2, headDim: 0 }), pc.ArgumentError, 'cache headDim 0');
      cache.dispose();
      await expectError(() => rt.decode(q, cache, { numHeads: 4 }), pc.DisposedError, 'decode on a disposed cache');
      await expectError(() => cache.append(k, v), pc.DisposedError, 'append to a disposed cache');
    },
  },
  {
    op: 'attention',
    name: 'KV cache growth and compaction on a fresh runtime, before any attention ran',
    async run({ rt, rng, pc }) {
      // A new runtime, so the cache's own kernels are the first this device compiles.
      const fresh = await pc.createRuntime({ backend: rt.backend });
      try {
        for (const D of [8, 3]) {
        const H = 2, N = 5;
        const k = rng.f32(H * N * D), v = rng.f32(H * N * D);
        const cache = fresh.createKVCache({ numKvHeads: H, headDim: D, capacity: 2 });
        cache.append(k, v); // grows past its capacity
        const keep = [[0, 3], [1, 2, 4]];
        cache.compact(keep);
        const got = await cache.read();
        check(got.lengths.join() === '2,3', `lengths ${got.lengths}`);
        let o = 0;
        keep.forEach((list, g) => {
          for (const j of list) {
            for (let x = 0; x < D; x++, o++) {
              check(got.keys[o] === k[(g * N + j) * D + x] && got.values[o] === v[(g * N + j) * D + x],
                `head ${g} token ${j} element ${x} was not kept as it was (headDim ${D})`);
            }
          }
        });
        cache.dispose();
        }
      } finally {
        fresh.destroy();
      }
    },
  },
];
