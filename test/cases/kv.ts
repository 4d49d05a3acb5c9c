// KV-eviction conformance: every scorer against the f64 reference (scores within 1e-5 relative,
// pinned flags equal), the radix select against the sort-based reference (identical keep-lists,
// with deliberate ties and pins), every allocation, budget edges, odd shapes, typed errors, the
// .pckv format, the evaluation harness, and decode on a cache compacted by the selection.
import { check, checkClose, expectError, relErr, type Case, type CaseContext, type Rng } from './util.js';
import type * as PC from '../../src/index.js';

const TOL = 1e-5;

interface Shape { hq: number; hkv: number; d: number; n: number; nq: number; w: number; kernel?: number; noWo?: boolean }

function inputs(rng: Rng, s: Shape) {
  const D = 12;
  return {
    q: scaled(rng.f32(s.hq * s.nq * s.d), 2.5), k: scaled(rng.f32(s.hkv * s.n * s.d), 2.5), v: rng.f32(s.hkv * s.n * s.d),
    wo: s.noWo ? undefined : rng.f32(s.hq * s.d * D),
    numHeads: s.hq, numKvHeads: s.hkv, headDim: s.d, window: s.w, kernel: s.kernel,
  };
}

function scaled(a: Float32Array, f: number): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] *= f;
  return a;
}

function sameKeep(a: PC.KVSelection, b: PC.KVSelection, what: string): void {
  check(a.keep.length === b.keep.length, `${what}: ${a.keep.length} heads vs ${b.keep.length}`);
  a.keep.forEach((x, h) => {
    const y = b.keep[h];
    check(x.length === y.length && x.every((v, i) => v === y[i]),
      `${what}: head ${h} keeps [${Array.from(x).slice(0, 12).join(',')}...] (${x.length}) vs reference [${Array.from(y).slice(0, 12).join(',')}...] (${y.length})`);
    for (let i = 1; i < x.length; i++) check(x[i] > x[i - 1], `${what}: head ${h} keep-list not strictly increasing`);
  });
}

/**
 * Keep-lists from backend scores vs from reference scores: equal, except where reference scores of
 * the swapped tokens are within 1e-4 (relative to the largest score) of each other: a float near-tie.
 */
function keepAgrees(got: PC.KVSelection, ref: PC.KVSelection, refScores: PC.KVScores, what: string): void {
  let scale = 0;
  for (const x of refScores.scores) scale = Math.max(scale, Math.abs(x));
  got.keep.forEach((x, h) => {
    const y = ref.keep[h];
    const a = new Set(x), b = new Set(y);
    const onlyGot = [...a].filter((t) => !b.has(t)), onlyRef = [...b].filter((t) => !a.has(t));
    if (!onlyGot.length && !onlyRef.length) return;
    check(onlyGot.length === onlyRef.length, `${what}: head ${h} keeps ${x.length} tokens vs reference ${y.length}`);
    const sc = (t: number) => refScores.scores[h * refScores.n + t];
    for (const t of onlyGot) {
      check(onlyRef.some((u) => Math.abs(sc(t) - sc(u)) <= 1e-4 * scale),
        `${what}: head ${h} keeps token ${t} (ref score ${sc(t)}) that the reference drops, and it is not a near-tie`);
    }
  });
}

function methodCase(method: PC.KVMethod, shapeOf: (rng: Rng) => Shape, tag: string): Case {
  return {
    op: 'kv',
    name: `score ${method} ${tag}`,
    async run({ pc, rt, rng }: CaseContext) {
      const s = shapeOf(rng);
      const o = { ...inputs(rng, s), compression: 0.3 + 0.5 * rng.next() };
      const got = await pc.scoreKV(rt, method, o);
      const ref = pc.refScoreKV(method, o);
      const what = `${method} hq ${s.hq} hkv ${s.hkv} d ${s.d} N ${s.n} nq ${s.nq} w ${s.w}`;
      check(got.scores.length === s.hkv * s.n && got.pinned.length === s.hkv * s.n, `${what}: output sizes`);
      checkClose(got.scores, ref.scores, TOL, `${what} scores`);
      let diff = 0;
      for (let i = 0; i < ref.pinned.length; i++) diff += got.pinned[i] !== ref.pinned[i] ? 1 : 0;
      check(diff === 0, `${what}: ${diff} pinned flags differ from the reference`);
      const def = pc.defaultAllocation(method);
      const so = { compression: o.compression, allocation: def.allocation === 'global' || def.allocation === 'pyramid' || def.allocation === 'prefix' ? 'per-head' as const : def.allocation, alpha: def.alpha };
      const onBackend = await pc.selectKV(got, { ...so, runtime: rt });
      sameKeep(onBackend, pc.refSelectKV(got, so) as PC.KVSelection, `${what} select on backend vs reference (same scores)`);
      keepAgrees(onBackend, pc.refSelectKV(ref, so) as PC.KVSelection, ref, `${what} end to end`);
    },
  };
}

const randomShape = (windowed: boolean, maxNq = 24) => (rng: Rng): Shape => {
  const hkv = rng.int(1, 2), hq = hkv * [1, 2, 4, 8][rng.int(0, 3)], d = rng.int(3, 40);
  const w = rng.int(1, 16), n = w + rng.int(1, 130);
  const nq = windowed ? rng.int(w, Math.min(n, w + 4)) : rng.int(1, Math.min(n, maxNq));
  return { hq, hkv, d, n, nq, w };
};

const fixed = (s: Shape) => () => s;

function selectCase(name: string, alloc: PC.KVAllocation, layers: number, extra: Partial<PC.SelectKVOptions> = {}): Case {
  return {
    op: 'kv',
    name: `select ${name}`,
    async run({ pc, rt, rng }: CaseContext) {
      const hkv = rng.int(1, 4), n = rng.int(1, 300);
      const ls: PC.KVScores[] = [];
      for (let l = 0; l < layers; l++) {
        const scores = new Float32Array(hkv * n), pinned = new Uint8Array(hkv * n);
        const levels = rng.int(1, 6);
        for (let i = 0; i < scores.length; i++) {
          // few distinct values (many exact ties), some negative and -0
          const r = rng.next();
          scores[i] = r < 0.1 ? -0 : r < 0.2 ? -Math.floor(rng.next() * levels) : Math.floor(rng.next() * levels) / levels;
          pinned[i] = rng.next() < 0.08 ? 1 : 0;
        }
        ls.push({ method: 'snapkv', numKvHeads: hkv, n, window: 0, scores, pinned });
      }
      const budgets: PC.KVBudget[] = [{ keepTokens: 0 }, { keepTokens: n }, { keepTokens: rng.int(0, n) }, { compression: rng.next() }, { compression: 1 }];
      for (const b of budgets) {
        const o = { ...b, allocation: alloc, ...extra };
        const got = await pc.selectKV(ls, { ...o, runtime: rt });
        const ref = pc.refSelectKV(ls, o) as PC.KVSelection[];
        got.forEach((g, l) => sameKeep(g, ref[l], `${name} layer ${l} hkv ${hkv} N ${n} budget ${JSON.stringify(b)}`));
        const kept = pc.keptPerHead('t', n, b);
        // invariants: pinned always kept; budget respected where pins allow
        got.forEach((g, l) => {
          for (let h = 0; h < hkv; h++) {
            const set = new Set(g.keep[h]);
            for (let j = 0; j < n; j++) if (ls[l].pinned[h * n + j]) check(set.has(j), `${name}: pinned token ${j} of head ${h} dropped`);
          }
          if (alloc === 'per-head') {
            for (let h = 0; h < hkv; h++) {
              let p = 0;
              for (let j = 0; j < n; j++) p += ls[l].pinned[h * n + j];
              check(g.counts[h] === Math.max(kept, p), `${name}: head ${h} keeps ${g.counts[h]}, expected max(${kept}, ${p} pinned)`);
            }
          }
        });
        if (alloc === 'global' || (alloc === 'head-adaptive' && !extra.alpha)) {
          let p = 0;
          for (const l of ls) for (const x of l.pinned) p += x;
          const total = got.reduce((s, g) => s + g.total, 0);
          check(total === Math.max(layers * hkv * kept, p), `${name}: keeps ${total} in all, expected max(${layers * hkv * kept}, ${p} pinned)`);
        }
      }
    },
  };
}

/** f64 attention of rows q [hq, T, d] at positions pos0.. over kept tokens of each KV head. */
function refAttentionKept(q: Float32Array, k: Float32Array, v: Float32Array, hq: number, hkv: number, n: number, d: number,
  T: number, keep: Int32Array[]): Float64Array {
  const g = hq / hkv, out = new Float64Array(hq * T * d);
  for (let h = 0; h < hq; h++) {
    const kh = Math.floor(h / g);
    for (let t = 0; t < T; t++) {
      const ls = Array.from(keep[kh], (j) => {
        let s = 0;
        for (let x = 0; x < d; x++) s += q[(h * T + t) * d + x] * k[(kh * n + j) * d + x];
        return s / Math.sqrt(d);
      });
      const m = Math.max(...ls);
      const e = ls.map((l) => Math.exp(l - m));
      const z = e.reduce((a, b) => a + b, 0);
      keep[kh].forEach((j, r) => {
        for (let x = 0; x < d; x++) out[(h * T + t) * d + x] += (e[r] / z) * v[(kh * n + j) * d + x];
      });
    }
  }
  return out;
}

export const kvCases: Case[] = [
  ...(['snapkv', 'pyramidkv', 'adakv', 'criticalkv', 'defensivekv', 'layer-defensivekv', 'tova', 'streamingllm', 'knorm'] as const)
    .map((m) => methodCase(m, randomShape(true), 'random shape')),
  ...(['h2o', 'prefixkv'] as const).map((m) => methodCase(m, randomShape(false), 'random shape')),
  methodCase('defensivekv', fixed({ hq: 8, hkv: 1, d: 16, n: 9, nq: 8, w: 8 }), 'N = w + 1, Hkv = 1, G = 8'),
  methodCase('snapkv', fixed({ hq: 8, hkv: 1, d: 7, n: 33, nq: 32, w: 32 }), 'N = w + 1, odd d'),
  methodCase('criticalkv', fixed({ hq: 4, hkv: 2, d: 12, n: 187, nq: 5, w: 5, kernel: 7, noWo: true }), 'N 187 (3 partial tiles), kernel 7, no W_o'),
  methodCase('snapkv', fixed({ hq: 2, hkv: 2, d: 8, n: 61, nq: 1, w: 1, kernel: 1 }), 'N 61, w 1, kernel 1'),
  methodCase('defensivekv', fixed({ hq: 16, hkv: 2, d: 33, n: 130, nq: 12, w: 12, kernel: 3 }), 'G 8, N 130, kernel 3'),
  methodCase('h2o', fixed({ hq: 8, hkv: 1, d: 5, n: 67, nq: 67, w: 4 }), 'every query, Hkv 1, G 8'),
  {
    op: 'kv',
    name: 'score with the lse from rt.attention equals without',
    async run({ pc, rt, rng }) {
      const s = { hq: 4, hkv: 2, d: 16, n: 90, nq: 10, w: 10 };
      const o = { ...inputs(rng, s), compression: 0.5 };
      const { lse } = await rt.attention(o.q, o.k, o.v, { numHeads: 4, numKvHeads: 2, headDim: 16, causal: true, returnLse: true });
      for (const m of ['defensivekv', 'h2o'] as const) {
        const a = await pc.scoreKV(rt, m, { ...o, lse });
        const ref = pc.refScoreKV(m, o);
        checkClose(a.scores, ref.scores, TOL, `${m} with lse`);
      }
    },
  },
  selectCase('per-head, ties and pins', 'per-head', 1),
  selectCase('head-adaptive (AdaKV)', 'head-adaptive', 1),
  selectCase('head-adaptive with alpha floor', 'head-adaptive', 2, { alpha: 0.3 }),
  selectCase('pyramid over 5 layers', 'pyramid', 5),
  selectCase('prefix (shared cumulative-mass level) over 4 layers', 'prefix', 4),
  selectCase('prefix with an offline profile', 'prefix', 3, { layerRatios: [0.2, 0.5, 0.9] }),
  selectCase('global (Layer-DefensiveKV) over 3 layers', 'global', 3),
  {
    op: 'kv',
    name: 'budgets 0 and N: only pinned / everything; layer budgets sum to the global budget',
    async run({ pc, rt, rng }) {
      const s = { hq: 4, hkv: 2, d: 8, n: 50, nq: 6, w: 6 };
      const o = { ...inputs(rng, s), compression: 0.5 };
      const sc = await pc.scoreKV(rt, 'snapkv', o);
      const none = await pc.selectKV(sc, { keepTokens: 0, runtime: rt });
      none.keep.forEach((k) => check(k.length === 6 && k[0] === 44, `budget 0 keeps ${k.length} tokens, expected the 6 window tokens`));
      const all = await pc.selectKV(sc, { compression: 0, allocation: 'head-adaptive', runtime: rt });
      all.keep.forEach((k) => check(k.length === 50, `compression 0 keeps ${k.length} of 50`));
      const layers = [sc, await pc.scoreKV(rt, 'snapkv', { ...inputs(rng, s), compression: 0.5 }), sc];
      const prefix = await pc.selectKV(layers, { keepTokens: 20, allocation: 'prefix', runtime: rt });
      const tot = prefix.reduce((a, l) => a + l.counts[0], 0);
      check(tot === 60, `prefix allocation keeps ${tot} tokens per head over 3 layers, expected 60`);
      const glob = await pc.selectKV(layers, { keepTokens: 20, allocation: 'global', runtime: rt });
      check(glob.reduce((a, l) => a + l.total, 0) === 3 * 2 * 20, 'global allocation total');
      const pyr = await pc.selectKV(layers, { keepTokens: 20, allocation: 'pyramid' });
      check(pyr[0].counts[0] > pyr[1].counts[0] && pyr[1].counts[0] > pyr[2].counts[0], `pyramid budgets must decrease: ${pyr.map((p) => p.counts[0])}`);
      check(Math.abs(pyr.reduce((a, l) => a + l.counts[0], 0) - 60) <= 1, 'pyramid budgets average the budget');
    },
  },
  {
    op: 'kv',
    name: 'typed errors: w >= N, budgets out of range, shapes, dtypes, methods, NaN scores',
    async run({ pc, rt, rng }) {
      const s = { hq: 4, hkv: 2, d: 8, n: 20, nq: 8, w: 8 };
      const o = inputs(rng, s);
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, window: 20 }), pc.ArgumentError, 'w = N');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, window: 25 }), pc.ArgumentError, 'w > N');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, window: 10 }), pc.ShapeError, 'w > queries given');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, k: o.k.subarray(1) }), pc.ShapeError, 'k length');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, q: o.q.subarray(3) }), pc.ShapeError, 'q length');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, numKvHeads: 3 }), pc.ShapeError, 'heads not a multiple');
      await expectError(() => pc.scoreKV(rt, 'defensivekv', { ...o, compression: 0.5, v: o.v.subarray(2) }), pc.ShapeError, 'v length');
      await expectError(() => pc.scoreKV(rt, 'defensivekv', { ...o, compression: 0.5, wo: new Float32Array(7) }), pc.ShapeError, 'wo length');
      await expectError(() => pc.scoreKV(rt, 'defensivekv', o), pc.ArgumentError, 'defensivekv without budget');
      await expectError(() => pc.scoreKV(rt, 'defensivekv', { ...o, compression: 1.5 }), pc.ArgumentError, 'compression 1.5');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, kernel: 4 }), pc.ArgumentError, 'even kernel');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, lse: new Float32Array(3) }), pc.ShapeError, 'lse length');
      await expectError(() => pc.scoreKV(rt, 'snapkv', { ...o, q: Array.from(o.q) as unknown as Float32Array }), pc.DTypeError, 'q as Array');
      await expectError(() => pc.scoreKV(rt, 'nope' as PC.KVMethod, o), pc.ArgumentError, 'unknown method');
      await expectError(() => pc.scoreKV({} as PC.Runtime, 'snapkv', o), pc.ArgumentError, 'not a runtime');
      const sc = await pc.scoreKV(rt, 'snapkv', o);
      await expectError(() => pc.selectKV(sc, { keepTokens: 21, runtime: rt }), pc.ArgumentError, 'keepTokens > N');
      await expectError(() => pc.selectKV(sc, { keepTokens: -1 }), pc.ArgumentError, 'keepTokens < 0');
      await expectError(() => pc.selectKV(sc, { compression: -0.1 }), pc.ArgumentError, 'compression < 0');
      await expectError(() => pc.selectKV(sc, { compression: 0.5, keepTokens: 3 }), pc.ArgumentError, 'two budgets');
      await expectError(() => pc.selectKV(sc, {} as PC.SelectKVOptions), pc.ArgumentError, 'no budget');
      await expectError(() => pc.selectKV(sc, { compression: 0.5, allocation: 'best' as PC.KVAllocation }), pc.ArgumentError, 'allocation');
      await expectError(() => pc.selectKV(sc, { compression: 0.5, alpha: 2, allocation: 'head-adaptive' }), pc.ArgumentError, 'alpha');
      await expectError(() => pc.selectKV([sc, sc], { compression: 0.5, allocation: 'prefix', layerRatios: [0.5] }), pc.ShapeError, 'layerRatios length');
      await expectError(() => pc.selectKV({ ...sc, scores: sc.scores.subarray(1) }, { compression: 0.5 }), pc.ShapeError, 'scores length');
      const bad = { ...sc, scores: sc.scores.slice() };
      bad.scores[3] = NaN;
      await expectError(() => pc.selectKV(bad, { compression: 0.5, runtime: rt }), pc.ArgumentError, 'NaN score');
      const other = { ...sc, n: 10, numKvHeads: 4 };
      await expectError(() => pc.selectKV([sc, other], { compression: 0.5, allocation: 'global' }), pc.ShapeError, 'global over different N');
    },
  },
  {
    op: 'kv',
    name: '.pckv dump round trip; truncated, bad magic and bad header are KVDumpError',
    async run({ pc, rng }) {
      const dump = pc.synthKV({ layers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, n: 40, future: 3, dModel: 6, seed: rng.int(1, 1e6) });
      const bytes = pc.encodeKVDump(dump);
      const back = pc.decodeKVDump(bytes);
      check(back.n === 40 && back.layers.length === 2 && back.dModel === 6, 'header round trip');
      back.layers.forEach((l, i) => {
        for (const key of ['q', 'k', 'v', 'qFuture', 'wo'] as const) {
          check(relErr(l[key]!, dump.layers[i][key]!) === 0, `layer ${i} ${key} round trip`);
        }
      });
      await expectError(() => pc.decodeKVDump(bytes.subarray(0, bytes.length - 4)), pc.KVDumpError, 'truncated');
      await expectError(() => pc.decodeKVDump(bytes.subarray(0, 9)), pc.KVDumpError, 'truncated preamble');
      const bad = bytes.slice();
      bad[0] ^= 1;
      await expectError(() => pc.decodeKVDump(bad), pc.KVDumpError, 'magic');
      const badHead = bytes.slice();
      badHead[13] = 0x7b; // corrupt the JSON
      badHead[14] = 0x7b;
      await expectError(() => pc.decodeKVDump(badHead), pc.KVDumpError, 'header');
    },
  },
  {
    op: 'kv',
    name: 'evaluateEviction: full cache has no error, smaller caches keep less mass',
    async run({ pc, rt, rng }) {
      const dump = pc.synthKV({ layers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, n: 96, future: 4, dModel: 8, seed: rng.int(1, 1e6) });
      const rows = await pc.evaluateEviction(dump, { methods: ['snapkv', 'defensivekv', 'streamingllm'], budgets: [1, 0.5, 0.2], window: 8, runtime: rt });
      check(rows.length === 9, `${rows.length} rows`);
      for (const r of rows) {
        check(r.errMean >= 0 && r.errMean <= r.errP95 + 1e-12 && r.errP95 <= r.errMax + 1e-12, `${r.method} ${r.cache}: error order`);
        check(r.keptMass > 0 && r.keptMass <= 1 + 1e-9, `${r.method} ${r.cache}: kept mass ${r.keptMass}`);
        check(r.oracleOverlap >= 0 && r.oracleOverlap <= 1, `${r.method}: overlap`);
        if (r.cache === 1) check(r.errMax < 1e-9 && Math.abs(r.keptMass - 1) < 1e-9 && r.keptTokens === 2 * 2 * 96, `${r.method}: full cache must be exact (${r.errMax})`);
      }
      for (const m of ['snapkv', 'defensivekv', 'streamingllm']) {
        const [a, b, c] = [1, 0.5, 0.2].map((f) => rows.find((r) => r.method === m && r.cache === f)!);
        check(a.keptMass >= b.keptMass && b.keptMass >= c.keptMass, `${m}: kept mass must shrink with the cache`);
        check(c.keptTokens === 2 * 2 * Math.floor(96 * 0.2 + 1e-9) || m === 'defensivekv', `${m}: kept tokens ${c.keptTokens}`);
      }
    },
  },
  {
    op: 'kv',
    name: 'evict + cache.compact: decode after eviction equals f64 attention over the kept tokens',
    async run({ pc, rt, rng }) {
      const hq = 8, hkv = 2, d = 16, n = 70, w = 8, T = 3;
      const L = 2;
      const layers = [];
      const caches: PC.KVCache[] = [];
      for (let l = 0; l < L; l++) {
        const o = inputs(rng, { hq, hkv, d, n, nq: w, w });
        const cache = rt.createKVCache({ numKvHeads: hkv, headDim: d });
        cache.append(o.k, o.v);
        caches.push(cache);
        layers.push({ ...o, kRef: o.k, vRef: o.v });
      }
      const res = await pc.evictKV(rt, 'layer-defensivekv', layers.map((l, i) => ({ q: l.q, wo: l.wo, numHeads: hq, numKvHeads: hkv, headDim: d, window: w, cache: caches[i] })),
        { compression: 0.75 });
      check(res.selections.reduce((s, x) => s + x.total, 0) === L * hkv * Math.floor(n * 0.25 + 1e-9), 'global budget kept');
      for (let l = 0; l < L; l++) {
        check(caches[l].lengths.join() === res.selections[l].counts.join(), `layer ${l}: cache lengths ${caches[l].lengths} vs selection ${res.selections[l].counts}`);
        const q = scaled(rng.f32(hq * T * d), 2);
        const out = await rt.decode(q, caches[l], { numHeads: hq });
        const ref = refAttentionKept(q, layers[l].kRef, layers[l].vRef, hq, hkv, n, d, T, res.selections[l].keep);
        checkClose(out, ref, TOL, `layer ${l} decode after eviction`);
        caches[l].dispose();
      }
    },
  },
  {
    op: 'kv',
    name: 'decode-time eviction: evictCache re-scores a compacted cache per head and holds the budget',
    async run({ pc, rt, rng }) {
      const hq = 4, hkv = 2, d = 8, n = 60, w = 6, add = 9, budget = 30;
      const o = inputs(rng, { hq, hkv, d, n, nq: w, w });
      const cache = rt.createKVCache({ numKvHeads: hkv, headDim: d });
      cache.append(o.k, o.v);
      await pc.evictKV(rt, 'snapkv', [{ q: o.q, numHeads: hq, numKvHeads: hkv, headDim: d, window: w, cache }], { keepTokens: 40 });
      const k2 = scaled(rng.f32(hkv * add * d), 2.5), v2 = rng.f32(hkv * add * d), q2 = scaled(rng.f32(hq * w * d), 2.5);
      cache.append(k2, v2);
      const before = await cache.read();
      check(before.lengths.join() === '49,49', `lengths before ${before.lengths}`);
      const sel = await pc.evictCache(rt, 'defensivekv', cache, { q: q2, numHeads: hq, window: w, keepTokens: budget });
      check(cache.lengths.join() === `${budget},${budget}`, `lengths after ${cache.lengths}`);
      const after = await cache.read();
      for (let kh = 0; kh < hkv; kh++) {
        const off = before.offsets[kh], len = before.lengths[kh];
        const ref = pc.refScoreKV('defensivekv', {
          q: q2.subarray(kh * 2 * w * d, (kh + 1) * 2 * w * d), k: before.keys.subarray(off * d, (off + len) * d),
          v: before.values.subarray(off * d, (off + len) * d), numHeads: 2, numKvHeads: 1, headDim: d, window: w, keepTokens: budget,
        });
        const rs = pc.refSelectKV(ref, { keepTokens: budget }) as PC.KVSelection;
        keepAgrees({ ...sel, keep: [sel.keep[kh]], numKvHeads: 1 }, rs, ref, `head ${kh}`);
        const want = Array.from(sel.keep[kh], (j) => before.positions[off + j]).join();
        const got = Array.from(after.positions.subarray(after.offsets[kh], after.offsets[kh] + budget)).join();
        check(got === want, `head ${kh}: cache positions ${got} vs selected ${want}`);
        for (let x = 0; x < w; x++) check(sel.keep[kh].includes(len - w + x), `head ${kh}: window token ${len - w + x} evicted`);
      }
      cache.dispose();
    },
  },
  {
    op: 'kv',
    name: 'unknown option names are an ArgumentError naming them in every KV function',
    async run({ pc, rt, rng }) {
      const s = { hq: 4, hkv: 2, d: 8, n: 20, nq: 8, w: 8 };
      const o = { ...inputs(rng, s), compression: 0.5 };
      const sc = await pc.scoreKV(rt, 'snapkv', o);
      const named = async (fn: () => unknown, option: string, what: string) => {
        const e = await expectError(fn, pc.ArgumentError, what);
        check(e.message.includes(`"${option}"`), `${what}: the message should name "${option}": ${e.message}`);
      };
      const x = <T>(v: T, extra: Record<string, unknown>) => ({ ...v, ...extra }) as T;
      await named(() => pc.scoreKV(rt, 'snapkv', x(o, { windw: 4 })), 'windw', 'scoreKV');
      await named(() => pc.scoreKV(rt, 'defensivekv', x(o, { keep_tokens: 4 })), 'keep_tokens', 'scoreKV defensivekv');
      await named(() => pc.scoreKVReference('snapkv', x(o, { kernal: 3 })), 'kernal', 'scoreKVReference');
      await named(() => pc.refScoreKV('knorm', x(o, { sink: 1 })), 'sink', 'refScoreKV');
      await named(() => pc.selectKV(sc, x({ compression: 0.5 }, { allocaton: 'per-head' })), 'allocaton', 'selectKV');
      await named(() => pc.selectKV(sc, x({ compression: 0.5, runtime: rt }, { Alpha: 0.1 })), 'Alpha', 'selectKV on the runtime');
      await named(() => pc.refSelectKV(sc, x({ keepTokens: 5 }, { betta: 2 })), 'betta', 'refSelectKV');
      const layer = { q: o.q, k: o.k, numHeads: s.hq, numKvHeads: s.hkv, headDim: s.d, window: s.w };
      await named(() => pc.evictKV(rt, 'snapkv', [layer], x({ compression: 0.5 }, { selectOnhost: true })), 'selectOnhost', 'evictKV options');
      await named(() => pc.evictKV(rt, 'snapkv', [x(layer, { compression: 0.5 })], { compression: 0.5 }), 'compression', 'evictKV layer (budget belongs in the options)');
      const cache = rt.createKVCache({ numKvHeads: s.hkv, headDim: s.d });
      cache.append(o.k, o.v);
      await named(() => pc.evictCache(rt, 'snapkv', cache, x({ q: o.q, numHeads: s.hq, window: s.w, keepTokens: 10 }, { numKvHeads: 2 })), 'numKvHeads', 'evictCache');
      check(cache.lengths.join() === `${s.n},${s.n}`, 'a refused evictCache must leave the cache alone');
      cache.dispose();
      const dump = pc.synthKV({ layers: 1, numHeads: 2, numKvHeads: 1, headDim: 8, n: 40, future: 2, dModel: 0, seed: rng.int(1, 1e6) });
      await named(() => pc.evaluateEviction(dump, x({ budgets: [0.5] }, { method: ['snapkv'] })), 'method', 'evaluateEviction');
      await named(() => pc.synthKV(x({ layers: 1 }, { heads: 2 })), 'heads', 'synthKV');
      await named(() => pc.profilePrefixKV([[sc]], x({ compression: 0.5 }, { compresion: 0.5 })), 'compresion', 'profilePrefixKV');
      await named(() => pc.keptPerHead('keptPerHead', 20, x({ keepTokens: 3 }, { window: 2 })), 'window', 'keptPerHead');
    },
  },
];
