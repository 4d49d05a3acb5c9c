// RoPE + attention with logit soft-capping (the attention core of a Gemma-2-style layer), wasm, one thread:
// pcpress `rt.rope` on q and k, then `rt.attention` / `rt.decode` with `softcap`, against onnxruntime-web's
// GroupQueryAttention with do_rotary = 1 and softcap (one fused contrib op), in the same process on the same
// inputs and the same cos/sin caches. Every measured output is checked against an f64 reference on sampled
// rows. Run alone with `node bench/run.mjs attention-rope`; `node bench/run.mjs attention` includes it.
import os from 'node:os';
import { randomF32, median, timeInterleaved, fmt, markdownTable, toBSNH, attentionRefRow } from './lib.mjs';
import { machineInfo, packageVersion } from './env.mjs';
import { onnxModel, startOrt, INT32 } from './onnx.mjs';

/** Largest accepted error (max |x - ref| / max |ref| over the sampled rows) against the f64 reference. */
export const TOLERANCE = 1e-4;
const H = 8, KH = 2, SOFTCAP = 30, THETA = 10000;

/** cos/sin caches [maxPos][D/2] (f32), as both libraries read them: angle = pos * theta^(-2i/D). */
function caches(maxPos, D) {
  const half = D / 2, cos = new Float32Array(maxPos * half), sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * Math.pow(THETA, (-2 * i) / D);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** GQA with rotary and softcap; past (rotated keys) optional. ORT layout [batch, seq, heads * headDim]. */
function gqaRotaryModel(S, past, D, maxPos) {
  const inputs = [{ name: 'q', dims: [1, S, H * D] }, { name: 'k', dims: [1, S, KH * D] }, { name: 'v', dims: [1, S, KH * D] }];
  if (past) inputs.push({ name: 'past_key', dims: [1, KH, past, D] }, { name: 'past_value', dims: [1, KH, past, D] });
  inputs.push({ name: 'seqlens_k', dims: [1], type: INT32 }, { name: 'total', dims: [], type: INT32 },
    { name: 'cos_cache', dims: [maxPos, D / 2] }, { name: 'sin_cache', dims: [maxPos, D / 2] });
  return onnxModel({
    inputs,
    outputs: [{ name: 'o', dims: [1, S, H * D] }, { name: 'present_key' }, { name: 'present_value' }],
    nodes: [{
      op: 'GroupQueryAttention', domain: 'com.microsoft',
      ints: { num_heads: H, kv_num_heads: KH, do_rotary: 1, rotary_interleaved: 0 }, floats: { softcap: SOFTCAP },
      inputs: ['q', 'k', 'v', past ? 'past_key' : '', past ? 'past_value' : '', 'seqlens_k', 'total', 'cos_cache', 'sin_cache'],
      outputs: ['o', 'present_key', 'present_value'],
    }],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}

/** Rotates one row (halves pairing, full rotary) at position pos in f64 with the f32 caches. */
function ropeRow(x, pos, D, cs) {
  const half = D / 2, out = new Float64Array(D);
  for (let i = 0; i < half; i++) {
    const c = cs.cos[pos * half + i], s = cs.sin[pos * half + i];
    out[i] = x[i] * c - x[i + half] * s;
    out[i + half] = x[i + half] * c + x[i] * s;
  }
  return out;
}

/** f64 reference: query row (h, i) at position pos over keys 0..pos (key j at position j), rotary + softcap. */
function refRow(q, k, v, h, i, Sq, Sk, D, pos, cs) {
  const g = Math.floor(h / (H / KH));
  const qr = ropeRow(q.subarray((h * Sq + i) * D, (h * Sq + i + 1) * D), pos, D, cs);
  return attentionRefRow(qr, (j) => ropeRow(k.subarray((g * Sk + j) * D, (g * Sk + j + 1) * D), j, D, cs), v, (j) => (g * Sk + j) * D, D, pos,
    (d) => SOFTCAP * Math.tanh(d / Math.sqrt(D) / SOFTCAP));
}

function rowsErr(out, layout, refs, Sq, D) {
  let num = 0, den = 0;
  for (const { h, i, ref } of refs) {
    const r = layout === 'bnsh' ? h * Sq + i : i * H + h;
    for (let x = 0; x < D; x++) {
      num = Math.max(num, Math.abs(out[r * D + x] - ref[x]));
      den = Math.max(den, Math.abs(ref[x]));
    }
  }
  return num / den;
}

function errCell(e) {
  return e === undefined ? '–' : `${fmt(e, 2)}${e <= TOLERANCE ? '' : ' **FAIL**'}`;
}

/** Measures prefill and decode; returns the json part. */
async function measure({ quick, log }) {
  const pc = await import('pcpress');
  const rt = await pc.createRuntime({ backend: 'wasm', threads: 1 });
  const ort = await startOrt();
  const T = ort.Tensor;
  const prefill = [], decode = [];
  for (const D of [64, 128]) {
    for (const S of quick ? [512] : [512, 2048]) {
      const cs = caches(S, D);
      const q = randomF32(H * S * D, 31 + S + D), k = randomF32(KH * S * D, 32 + S + D), v = randomF32(KH * S * D, 33 + S + D);
      const refs = [0, 1, 2, 3, 4, 5, 6, 7].map((t) => [t % H, Math.min(S - 1, Math.round((t * (S - 1)) / 7))])
        .map(([h, i]) => ({ h, i, ref: refRow(q, k, v, h, i, S, S, D, i, cs) }));
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
      const pcStep = async () => {
        const rq = rt.rope(tq, { numHeads: H, headDim: D, seq: S, cos: cs.cos, sin: cs.sin });
        const rk = rt.rope(tk, { numHeads: KH, headDim: D, seq: S, cos: cs.cos, sin: cs.sin });
        const o = rt.attention(rq, rk, tv, { numHeads: H, numKvHeads: KH, headDim: D, causal: true, softcap: SOFTCAP });
        try { return await o.read(); } finally { for (const t of [rq, rk, o]) t.dispose(); }
      };
      const sess = await ort.InferenceSession.create(gqaRotaryModel(S, 0, D, S), { executionProviders: ['wasm'], logSeverityLevel: 3 });
      const feeds = {
        q: new T('float32', toBSNH(q, H, S, D), [1, S, H * D]), k: new T('float32', toBSNH(k, KH, S, D), [1, S, KH * D]),
        v: new T('float32', toBSNH(v, KH, S, D), [1, S, KH * D]),
        seqlens_k: new T('int32', Int32Array.from([S - 1]), [1]), total: new T('int32', Int32Array.from([S]), []),
        cos_cache: new T('float32', cs.cos, [S, D / 2]), sin_cache: new T('float32', cs.sin, [S, D / 2]),
      };
      const contenders = [{ name: 'pcpress', fn: pcStep }, { name: 'ort', layout: 'bsnh', fn: async () => (await sess.run(feeds)).o.data }];
      const t = await timeInterleaved(contenders, { warmup: 1, samples: S >= 2048 ? 3 : 5, minSampleMs: 20, maxIters: 50 });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = { medianMs: r.medianMs, tokensPerS: S / (r.medianMs / 1000), iters: r.iters, err: rowsErr(r.last, c.layout ?? 'bnsh', refs, S, D) };
      }
      prefill.push({ S, D, results });
      log(`  rope+softcap prefill S=${S} D=${D}: pcpress ${fmt(results.pcpress.tokensPerS)} tok/s, ort ${fmt(results.ort.tokensPerS)} tok/s`);
      for (const x of [tq, tk, tv]) x.dispose();
      await sess.release();
    }
    for (const L of quick ? [1024] : [1024, 8192]) {
      const cs = caches(L, D);
      const k = randomF32(KH * L * D, 41 + L + D), v = randomF32(KH * L * D, 42 + L + D), q = randomF32(H * D, 43 + L + D);
      const refs = Array.from({ length: H }, (_, h) => ({ h, i: 0, ref: refRow(q, k, v, h, 0, 1, L, D, L - 1, cs) }));
      // the cache holds the L keys rotated at their positions (the step's own key included)
      const rk = rt.rope(k, { numHeads: KH, headDim: D, seq: L, cos: cs.cos, sin: cs.sin });
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: L });
      cache.append(await rk, v);
      const tq = rt.tensor(q);
      const pcStep = async () => {
        const rq = rt.rope(tq, { numHeads: H, headDim: D, seq: 1, offset: L - 1, cos: cs.cos, sin: cs.sin });
        const o = rt.decode(rq, cache, { numHeads: H, causal: true, softcap: SOFTCAP });
        try { return await o.read(); } finally { rq.dispose(); o.dispose(); }
      };
      // ORT: past = the first L - 1 keys already rotated (as its present_key holds them), the new token unrotated
      const rkArr = await rk;
      const pk = new Float32Array(KH * (L - 1) * D), pv = new Float32Array(KH * (L - 1) * D);
      const nk = new Float32Array(KH * D), nv = new Float32Array(KH * D);
      for (let g = 0; g < KH; g++) {
        pk.set(rkArr.subarray(g * L * D, (g * L + L - 1) * D), g * (L - 1) * D);
        pv.set(v.subarray(g * L * D, (g * L + L - 1) * D), g * (L - 1) * D);
        nk.set(k.subarray((g * L + L - 1) * D, (g + 1) * L * D), g * D);
        nv.set(v.subarray((g * L + L - 1) * D, (g + 1) * L * D), g * D);
      }
      const sess = await ort.InferenceSession.create(gqaRotaryModel(1, L - 1, D, L), { executionProviders: ['wasm'], logSeverityLevel: 3 });
      const feeds = {
        q: new T('float32', q, [1, 1, H * D]), k: new T('float32', nk, [1, 1, KH * D]), v: new T('float32', nv, [1, 1, KH * D]),
        past_key: new T('float32', pk, [1, KH, L - 1, D]), past_value: new T('float32', pv, [1, KH, L - 1, D]),
        seqlens_k: new T('int32', Int32Array.from([L - 1]), [1]), total: new T('int32', Int32Array.from([L]), []),
        cos_cache: new T('float32', cs.cos, [L, D / 2]), sin_cache: new T('float32', cs.sin, [L, D / 2]),
      };
      const contenders = [{ name: 'pcpress', fn: pcStep }, { name: 'ort', layout: 'bsnh', fn: async () => (await sess.run(feeds)).o.data }];
      const t = await timeInterleaved(contenders, { warmup: 2, samples: quick ? 3 : 5, minSampleMs: 20, maxIters: 500 });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = { medianMs: r.medianMs, stepsPerS: 1000 / r.medianMs, iters: r.iters, err: rowsErr(r.last, 'bnsh', refs, 1, D) };
      }
      decode.push({ L, D, results });
      log(`  rope+softcap decode L=${L} D=${D}: pcpress ${fmt(results.pcpress.stepsPerS)} steps/s, ort ${fmt(results.ort.stepsPerS)} steps/s`);
      tq.dispose();
      cache.dispose();
      await sess.release();
    }
  }
  rt.destroy();
  return { prefill, decode, ort: ort.env.versions?.web ?? packageVersion('onnxruntime-web') };
}

/** Markdown section for the attention bench (also used alone). */
export function section(r) {
  const md = ['## RoPE + attention with softcap (wasm, one thread)', ''];
  md.push(`- pcpress: \`rt.rope\` on q and on k (explicit cos/sin caches, Float32Arrays), then \`rt.attention\` (prefill) / \`rt.decode\` (one query over a KV cache) ` +
    `with \`softcap: ${SOFTCAP}\`, tensors resident, timed with the output copied out. ort: onnxruntime-web ${r.ort} \`GroupQueryAttention\` with ` +
    `do_rotary = 1 and softcap ${SOFTCAP} (the same caches), one fused op. ${H} query heads, ${KH} KV heads, causal, theta ${THETA}.`);
  md.push('- Decode step: pcpress rotates the query and runs decode over a cache that already holds the step\'s rotated key (appending one ' +
    'key, KV heads x headDim floats, is left out); ORT rotates q and the new key, copies the past into present and attends.', '');
  md.push(markdownTable(['kind', 'size', 'headDim', 'pcpress', 'ort', 'pcpress / ort', 'err pcpress', 'err ort'], [
    ...r.prefill.map((x) => ['prefill', x.S, x.D, `${fmt(x.results.pcpress.tokensPerS)} tok/s`, `${fmt(x.results.ort.tokensPerS)} tok/s`,
      `**${fmt(x.results.ort.medianMs / x.results.pcpress.medianMs)}x**`, errCell(x.results.pcpress.err), errCell(x.results.ort.err)]),
    ...r.decode.map((x) => ['decode', x.L, x.D, `${fmt(x.results.pcpress.stepsPerS)} steps/s`, `${fmt(x.results.ort.stepsPerS)} steps/s`,
      `**${fmt(x.results.ort.medianMs / x.results.pcpress.medianMs)}x**`, errCell(x.results.pcpress.err), errCell(x.results.ort.err)]),
  ]), '');
  const ratios = [...r.prefill, ...r.decode].map((x) => x.results.ort.medianMs / x.results.pcpress.medianMs);
  md.push(`Median ratio pcpress / ort: ${fmt(median(ratios))}x (smallest ${fmt(Math.min(...ratios))}x).`, '');
  return md.join('\n');
}

/** The correctness failures of a measured result. */
export function failuresOf(r) {
  const out = [];
  for (const x of [...r.prefill, ...r.decode]) {
    for (const [lib, res] of Object.entries(x.results)) if (!(res.err <= TOLERANCE)) out.push(`rope+softcap ${x.S ? `prefill ${x.S}` : `decode ${x.L}`} d${x.D} ${lib}: err ${res.err}`);
  }
  return out;
}

/** Runs the RoPE + softcap part (wasm); for `node bench/run.mjs attention-rope`. */
export async function runPart({ quick = false, log = console.log } = {}) {
  return measure({ quick, log });
}

/** Bench entry: flags --quick. Returns { markdown, json, ok }. */
export async function run({ flags = [], log = console.log } = {}) {
  const started = Date.now();
  const machine = machineInfo();
  const r = await measure({ quick: flags.includes('--quick'), log });
  const failures = failuresOf(r);
  const json = { bench: 'attention-rope', date: new Date(started).toISOString(), machine, tolerance: TOLERANCE, ...r,
    seconds: +((Date.now() - started) / 1000).toFixed(1), loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)), correctnessFailures: failures };
  const md = ['# RoPE + softcap attention benchmark', '',
    `Date: ${json.date} (took ${json.seconds} s). Command: \`node bench/run.mjs attention-rope${flags.length ? ` ${flags.join(' ')}` : ''}\`. ` +
    `Machine: ${machine.nproc} CPUs, ${machine.cpuModel}; load ${machine.loadavg.join(' ')} at start, ${json.loadavgEnd.join(' ')} at the end.`, '',
    failures.length ? `**Correctness failures:** ${failures.join('; ')}` : `Correctness: every measured result is within ${TOLERANCE} of the f64 reference.`, '',
    section(r)];
  return { markdown: md.join('\n'), json, ok: failures.length === 0 };
}
