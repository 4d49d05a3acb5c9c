// The attention bench.
// wasm (Node, one thread): pcpress prefill / decode vs onnxruntime-web's GroupQueryAttention contrib op
// (com.microsoft, wasm execution provider) in the same process, same inputs.
// WebGPU (Node + Dawn, the adapter it finds: SwiftShader here): pcpress's flash prefill and split-K decode vs a
// three-pass WGSL baseline (scores = pcpress matmul, a row-softmax shader, out = pcpress matmul) on the same device.
// Every measured output is checked against an f64 reference on sampled rows.
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { randomF32, median, timeInterleaved, fmt, markdownTable, toBSNH, attentionRefRow } from './lib.mjs';
import { machineInfo, packageVersion, repoRoot } from './env.mjs';
import { onnxModel, startOrt, INT32 } from './onnx.mjs';
import { runPart as runRopePart, section as ropeSection, failuresOf as ropeFailures } from './attention-rope.mjs';
import { benchAttentionThreadsChild, threadCounts, THREAD_TARGETS, scalingRows, scalingTargets, scalingSection, fmtTarget } from './attention-threads.mjs';

const require = createRequire(path.join(repoRoot, 'package.json'));

/** Largest accepted error (max |x - ref| / max |ref| over the sampled rows) against the f64 reference. */
export const TOLERANCE = 1e-4;
/** Query and KV heads of every attention bench shape (GQA group 4). */
export const H = 8, KH = 2;

/** One GroupQueryAttention node (causal by definition of the op), inputs in ORT's [batch, seq, heads * headDim] layout. */
export function gqaModel(S, past, D) {
  const inputs = [{ name: 'q', dims: [1, S, H * D] }, { name: 'k', dims: [1, S, KH * D] }, { name: 'v', dims: [1, S, KH * D] }];
  if (past) inputs.push({ name: 'past_key', dims: [1, KH, past, D] }, { name: 'past_value', dims: [1, KH, past, D] });
  inputs.push({ name: 'seqlens_k', dims: [1], type: INT32 }, { name: 'total', dims: [], type: INT32 });
  return onnxModel({
    inputs,
    outputs: [{ name: 'o', dims: [1, S, H * D] }, { name: 'present_key' }, { name: 'present_value' }],
    nodes: [{
      op: 'GroupQueryAttention', domain: 'com.microsoft', ints: { num_heads: H, kv_num_heads: KH },
      inputs: ['q', 'k', 'v', past ? 'past_key' : '', past ? 'past_value' : '', 'seqlens_k', 'total'],
      outputs: ['o', 'present_key', 'present_value'],
    }],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}

// ---------------------------------------------------------------------------------------------
// Inputs, layouts and the f64 reference.

/** Row i of head h in a [heads][S][D] or [S][heads][D] array. */
function row(x, layout, h, i, S, heads, D) {
  const r = layout === 'bnsh' ? h * S + i : i * heads + h;
  return x.subarray(r * D, (r + 1) * D);
}

/** f64 causal attention of query row (h, i) (at position pos) over keys 0..pos of KV head h / (H / KH). */
export function refRow(q, k, v, h, i, Sq, Sk, D, pos) {
  const g = Math.floor(h / (H / KH));
  return attentionRefRow(q.subarray((h * Sq + i) * D, (h * Sq + i + 1) * D), (j) => k.subarray((g * Sk + j) * D, (g * Sk + j + 1) * D),
    v, (j) => (g * Sk + j) * D, D, pos);
}

/** Sampled (h, i) rows: first, last and a few in between, across heads. */
export function sampleRows(Sq) {
  const rows = [];
  for (let t = 0; t < 8; t++) rows.push([t % H, Math.min(Sq - 1, Math.round((t * (Sq - 1)) / 7))]);
  return rows;
}

/** max |x - ref| / max |ref| over the sampled rows. */
export function rowsErr(out, layout, refs, Sq, D) {
  let num = 0, den = 0;
  for (const { h, i, ref } of refs) {
    const x = row(out, layout, h, i, Sq, H, D);
    for (let d = 0; d < D; d++) {
      const e = Math.abs(x[d] - ref[d]);
      if (!(e <= Infinity)) return Infinity;
      num = Math.max(num, e);
      den = Math.max(den, Math.abs(ref[d]));
    }
  }
  return num / den;
}

// ---------------------------------------------------------------------------------------------

function memBytes(rt) {
  return rt.impl.ex.memory.buffer.byteLength;
}

async function benchWasm({ quick, full, log }) {
  const pc = await import('pcpress');
  const rt = await pc.createRuntime({ backend: 'wasm', threads: 1 });
  let ort, ortWhy;
  try {
    ort = await startOrt();
  } catch (e) {
    ortWhy = `onnxruntime-web could not start: ${e?.message ?? e}`;
  }
  const prefill = [], decode = [];
  const seqs = quick ? [512, 2048] : [512, 2048, 8192];
  for (const D of [64, 128]) {
    for (const S of seqs) {
      const q = randomF32(H * S * D, 11 + S + D), k = randomF32(KH * S * D, 12 + S + D), v = randomF32(KH * S * D, 13 + S + D);
      const refs = sampleRows(S).map(([h, i]) => ({ h, i, ref: refRow(q, k, v, h, i, S, S, D, i) }));
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
      const opts = { numHeads: H, numKvHeads: KH, headDim: D, causal: true };
      const mem0 = memBytes(rt);
      const contenders = [
        { name: 'pcpress', fn: async () => { const o = rt.attention(tq, tk, tv, opts); try { return await o.read(); } finally { o.dispose(); } } },
        { name: 'pcpress-arrays', fn: () => rt.attention(q, k, v, opts) },
      ];
      let sess, why;
      const runOrt = ort && (S < 8192 || full);
      if (runOrt) {
        try {
          sess = await ort.InferenceSession.create(gqaModel(S, 0, D), { executionProviders: ['wasm'], logSeverityLevel: 3 });
          const T = ort.Tensor;
          const feeds = {
            q: new T('float32', toBSNH(q, H, S, D), [1, S, H * D]), k: new T('float32', toBSNH(k, KH, S, D), [1, S, KH * D]),
            v: new T('float32', toBSNH(v, KH, S, D), [1, S, KH * D]),
            seqlens_k: new T('int32', Int32Array.from([S - 1]), [1]), total: new T('int32', Int32Array.from([S]), []),
          };
          contenders.push({ name: 'ort', layout: 'bsnh', fn: async () => (await sess.run(feeds)).o.data });
        } catch (e) {
          why = `ort GroupQueryAttention failed: ${e?.message ?? e}`;
        }
      } else why = ort ? 'skipped at 8192 (one call takes minutes and needs GiBs for its seq x seq scores; run with --full)' : ortWhy;
      const samples = S >= 8192 ? 1 : S >= 2048 ? 3 : quick ? 3 : 5;
      const t = await timeInterleaved(contenders, { warmup: 1, samples, minSampleMs: 20, maxIters: 50 });
      const memGrowth = memBytes(rt) - mem0;
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = {
          medianMs: r.medianMs, tokensPerS: S / (r.medianMs / 1000), iters: r.iters,
          samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: rowsErr(r.last, c.layout ?? 'bnsh', refs, S, D),
        };
      }
      prefill.push({ S, D, results, why, wasmMemoryGrowthBytes: memGrowth, scoresBytes: H * S * S * 4 });
      log(`  wasm prefill S=${S} D=${D}: ${contenders.map((c) => `${c.name} ${fmt(results[c.name].tokensPerS)} tok/s`).join(', ')}`);
      for (const x of [tq, tk, tv]) x.dispose();
      await sess?.release();
    }
    for (const L of [1024, 8192, 32768]) {
      const k = randomF32(KH * L * D, 21 + L + D), v = randomF32(KH * L * D, 22 + L + D), q = randomF32(H * D, 23 + L + D);
      const refs = Array.from({ length: H }, (_, h) => ({ h, i: 0, ref: refRow(q, k, v, h, 0, 1, L, D, L - 1) }));
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: L });
      cache.append(k, v);
      const tq = rt.tensor(q);
      const opts = { numHeads: H, causal: true };
      const contenders = [
        { name: 'pcpress', fn: async () => { const o = rt.decode(tq, cache, opts); try { return await o.read(); } finally { o.dispose(); } } },
      ];
      let sess, why = ortWhy;
      if (ort) {
        try {
          sess = await ort.InferenceSession.create(gqaModel(1, L - 1, D), { executionProviders: ['wasm'], logSeverityLevel: 3 });
          const T = ort.Tensor;
          // Past = the first L - 1 tokens ([1, KH, L - 1, D]); the new token's key and value are the last.
          const pk = new Float32Array(KH * (L - 1) * D), pv = new Float32Array(KH * (L - 1) * D);
          const nk = new Float32Array(KH * D), nv = new Float32Array(KH * D);
          for (let g = 0; g < KH; g++) {
            pk.set(k.subarray(g * L * D, (g * L + L - 1) * D), g * (L - 1) * D);
            pv.set(v.subarray(g * L * D, (g * L + L - 1) * D), g * (L - 1) * D);
            nk.set(k.subarray((g * L + L - 1) * D, (g + 1) * L * D), g * D);
            nv.set(v.subarray((g * L + L - 1) * D, (g + 1) * L * D), g * D);
          }
          const feeds = {
            q: new T('float32', q, [1, 1, H * D]), k: new T('float32', nk, [1, 1, KH * D]), v: new T('float32', nv, [1, 1, KH * D]),
            past_key: new T('float32', pk, [1, KH, L - 1, D]), past_value: new T('float32', pv, [1, KH, L - 1, D]),
            seqlens_k: new T('int32', Int32Array.from([L - 1]), [1]), total: new T('int32', Int32Array.from([L]), []),
          };
          contenders.push({ name: 'ort', layout: 'bsnh', fn: async () => (await sess.run(feeds)).o.data });
        } catch (e) {
          why = `ort GroupQueryAttention failed: ${e?.message ?? e}`;
        }
      }
      const t = await timeInterleaved(contenders, { warmup: 2, samples: quick ? 3 : 5, minSampleMs: 20, maxIters: 500 });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = {
          medianMs: r.medianMs, stepsPerS: 1000 / r.medianMs, iters: r.iters,
          samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: rowsErr(r.last, 'bnsh', refs, 1, D),
        };
      }
      decode.push({ L, D, results, why });
      log(`  wasm decode L=${L} D=${D}: ${contenders.map((c) => `${c.name} ${fmt(results[c.name].stepsPerS)} steps/s`).join(', ')}`);
      tq.dispose();
      cache.dispose();
      await sess?.release();
    }
  }
  rt.destroy();
  return {
    prefill, decode,
    libs: { pcpress: packageVersion('pcpress'), ort: ort ? (ort.env.versions?.web ?? packageVersion('onnxruntime-web')) : null },
  };
}

// ---------------------------------------------------------------------------------------------
// WebGPU: flash / split-K vs a three-pass baseline on the same device.

const SOFTMAX_WGSL = /* wgsl */ `
struct P { rows: u32, n: u32, seqQ: u32, qpos0: u32, scale: f32, nx: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<storage, read_write> X: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let r = wid.y * p.nx + wid.x;
  let rr = min(r, p.rows - 1u);
  let lim = min(p.n, p.qpos0 + rr % p.seqQ + 1u); // causal, aligned to the end
  let base = rr * p.n;
  var m = -3.0e38;
  for (var j = t; j < lim; j += 64u) { m = max(m, X[base + j] * p.scale); }
  red[t] = m;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) { if (t < s) { red[t] = max(red[t], red[t + s]); } workgroupBarrier(); }
  m = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = t; j < lim; j += 64u) { sum += exp(X[base + j] * p.scale - m); }
  red[t] = sum;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) { if (t < s) { red[t] += red[t + s]; } workgroupBarrier(); }
  sum = red[0];
  if (r < p.rows) {
    for (var j = t; j < p.n; j += 64u) { X[base + j] = select(0.0, exp(X[base + j] * p.scale - m) / sum, j < lim); }
  }
}`;

/** Three passes: S = Q K^T per KV group (one pcpress matmul), softmax rows in place, O = P V (another). */
function threePass(rt, pc, tq, tk, tv, Sq, Sk, D) {
  const G = H / KH;
  const s = rt.matmul(tq, tk, { m: G * Sq, k: D, n: Sk, batch: KH, transposeB: true });
  const be = rt.impl;
  const rows = H * Sq, nx = Math.min(rows, 65535);
  const pipe = be.pipeline('bench_softmax', SOFTMAX_WGSL);
  const params = be.uniform([rows, Sk, Sq, Sk - Sq, new Uint32Array(new Float32Array([1 / Math.sqrt(D)]).buffer)[0], nx, 0, 0]);
  be.dispatch(pipe, [s.data().buffer, params], [nx, Math.ceil(rows / nx), 1]);
  params.destroy();
  const o = rt.matmul(s, tv, { m: G * Sq, k: Sk, n: D, batch: KH });
  s.dispose();
  return o;
}

async function benchWebgpu({ quick, log }) {
  if (!process.env.VK_ICD_FILENAMES && process.platform === 'linux') {
    process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  }
  const pc = await import('pcpress');
  const rt = await pc.createRuntime({ backend: 'webgpu' });
  const a = rt.info.adapter;
  const prefill = [], decode = [];
  const readAll = async (o) => { try { return await o.read(); } finally { o.dispose(); } };
  for (const D of [64, 128]) {
    for (const S of quick ? [256] : [256, 512]) {
      const q = randomF32(H * S * D, 31 + S + D), k = randomF32(KH * S * D, 32 + S + D), v = randomF32(KH * S * D, 33 + S + D);
      const refs = sampleRows(S).map(([h, i]) => ({ h, i, ref: refRow(q, k, v, h, i, S, S, D, i) }));
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
      const contenders = [
        { name: 'flash', fn: () => readAll(rt.attention(tq, tk, tv, { numHeads: H, numKvHeads: KH, headDim: D, causal: true })) },
        { name: 'three-pass', fn: () => readAll(threePass(rt, pc, tq, tk, tv, S, S, D)) },
      ];
      const t = await timeInterleaved(contenders, { warmup: 1, samples: 3, minSampleMs: 10, maxIters: 20 });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = { medianMs: r.medianMs, tokensPerS: S / (r.medianMs / 1000), samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: rowsErr(r.last, 'bnsh', refs, S, D) };
      }
      prefill.push({ S, D, results, scoresBytes: H * S * S * 4 });
      log(`  webgpu prefill S=${S} D=${D}: flash ${fmt(results.flash.tokensPerS)} tok/s, three-pass ${fmt(results['three-pass'].tokensPerS)} tok/s`);
      for (const x of [tq, tk, tv]) x.dispose();
    }
    for (const L of quick ? [1024] : [1024, 8192]) {
      const k = randomF32(KH * L * D, 41 + L + D), v = randomF32(KH * L * D, 42 + L + D), q = randomF32(H * D, 43 + L + D);
      const refs = Array.from({ length: H }, (_, h) => ({ h, i: 0, ref: refRow(q, k, v, h, 0, 1, L, D, L - 1) }));
      const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: L });
      cache.append(k, v);
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
      const contenders = [
        { name: 'flash', fn: () => readAll(rt.decode(tq, cache, { numHeads: H, causal: true })) },
        { name: 'three-pass', fn: () => readAll(threePass(rt, pc, tq, tk, tv, 1, L, D)) },
      ];
      const t = await timeInterleaved(contenders, { warmup: 1, samples: 3, minSampleMs: 20, maxIters: 50 });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = { medianMs: r.medianMs, stepsPerS: 1000 / r.medianMs, samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: rowsErr(r.last, 'bnsh', refs, 1, D) };
      }
      decode.push({ L, D, results });
      log(`  webgpu decode L=${L} D=${D}: split-K ${fmt(results.flash.stepsPerS)} steps/s, three-pass ${fmt(results['three-pass'].stepsPerS)} steps/s`);
      for (const x of [tq, tk, tv]) x.dispose();
      cache.dispose();
    }
  }
  rt.destroy();
  return { adapter: [a.vendor, a.architecture, a.description].filter(Boolean).join(' / '), software: a.isSoftware, prefill, decode };
}

// ---------------------------------------------------------------------------------------------

function errCell(e) {
  return e === undefined ? '–' : `${fmt(e, 2)}${e <= TOLERANCE ? '' : ' **FAIL**'}`;
}

const PEERS = { ortMha: 'ort MHA', ortGqa: 'ort GQA' };

/**
 * The issue's attention targets over the N-thread runs: pcpress >= 1.2x each peer (MultiHeadAttention and
 * GroupQueryAttention) at the same N on every row, and pcpress 2 threads / 1 thread >= 1.6x on prefill at
 * 2048, judged against the 1-thread runtime sampled in the 2-thread child and against the separate 1-thread
 * child (scalingTargets). Returns [{ text, value, met }].
 */
export function threadTargets(runs) {
  const out = [];
  for (const [t, r] of Object.entries(runs ?? {})) {
    for (const kind of ['prefill', 'decode']) {
      for (const row of r[kind]) {
        for (const [peer, name] of Object.entries(PEERS)) {
          const o = row.results[peer];
          if (!o) continue;
          const value = o.medianMs / row.results.pcpress.medianMs;
          out.push({ text: `${kind} ${kind === 'prefill' ? `seq ${row.S}` : `cache ${row.L}`} d${row.D}, ${t} thread${t > 1 ? 's' : ''} each: pcpress >= ${THREAD_TARGETS.vsPeer}x ${name}`, value, met: value >= THREAD_TARGETS.vsPeer });
        }
      }
    }
  }
  out.push(...scalingTargets(runs)); // 1 -> 2 threads on prefill at 2048, against both 1-thread baselines
  return out;
}

/** The markdown section of the N-thread runs ({ N: benchAttentionThreads result }) and their targets. */
export function threadsSection(runs, targets) {
  const md = ['## wasm with N threads each (Node; each N in its own child process)', ''];
  md.push('- pcpress: `createRuntime({ backend: \'wasm\', threads: N })`; prefill splits KV heads x 64-row query tiles, decode splits the cache into ' +
    'chunks of 512+ keys (split-K) and combines them in a fixed order, so every N gives the same bits. Timed on resident tensors: the call + copying the output out.');
  md.push('- ort MHA / ort GQA: onnxruntime-web (wasm execution provider, `env.wasm.numThreads = N`, fixed per process) `MultiHeadAttention` ' +
    '(unidirectional = causal; K and V given with all 8 heads, each KV head repeated for its group: MHA has no GQA) and `GroupQueryAttention` (com.microsoft), ' +
    'inputs in [batch, seq, heads x headDim]; decode passes the past (L - 1 tokens) and the new token, as ORT\'s API needs without IO binding.');
  md.push('- "pcpress 1 thread" in the N > 1 tables: a 1-thread runtime sampled in turn with the N-thread one in the same process (same load). ' +
    'Scaling is also given against the separate 1-thread child (the "1 thread each" table): see the scaling table below; the targets are judged against both.', '');
  for (const [t, r] of Object.entries(runs)) {
    const one = Number(t) > 1;
    md.push(`### ${t} thread${one ? 's' : ''} each (ort numThreads ${r.libs.ort?.numThreads ?? 'not run'}${r.skipped.ort ? `: ${r.skipped.ort}` : ''})`, '');
    const header = ['kind', 'size', 'headDim', 'pcpress', 'ort MHA', 'ort GQA', 'pcpress / ort MHA', 'pcpress / ort GQA',
      ...(one ? ['pcpress 1 thread', `pcpress ${t} / 1 thread`] : []), 'err (max over all)'];
    const rows = [];
    for (const kind of ['prefill', 'decode']) {
      for (const row of r[kind]) {
        const res = row.results, per = kind === 'prefill' ? 'tokensPerS' : 'stepsPerS', unit = kind === 'prefill' ? 'tok/s' : 'steps/s';
        const cell = (x) => (x ? `${fmt(x[per])} ${unit}` : 'not run');
        const ratio = (x) => (x ? `**${fmt(x.medianMs / res.pcpress.medianMs)}x**` : '–');
        rows.push([kind, kind === 'prefill' ? `seq ${row.S}` : `cache ${row.L}`, row.D, cell(res.pcpress), cell(res.ortMha), cell(res.ortGqa),
          ratio(res.ortMha), ratio(res.ortGqa), ...(one ? [cell(res.pcpress1), ratio(res.pcpress1)] : []),
          errCell(Math.max(...Object.values(res).map((x) => x.err)))]);
      }
    }
    md.push(markdownTable(header, rows), '');
  }
  const scaling = scalingSection(runs);
  if (scaling) md.push(scaling);
  if (targets.length) {
    md.push('### targets (issue 13)', '');
    md.push(markdownTable(['target', 'measured', 'met'], targets.map((x) => {
      const threshold = Number(/>= ([\d.]+)x/.exec(x.text)?.[1]);
      return [x.text, `${Number.isFinite(threshold) ? fmtTarget(x.value, threshold) : fmt(x.value)}x`, x.met ? 'met' : '**not met**'];
    })), '');
  }
  return md.join('\n');
}

/**
 * Runs the attention bench. flags: --quick (smaller sizes, fewer samples), --full (also ORT at 8192),
 * --no-wasm, --no-threads (no N-thread part), --no-webgpu. Returns { markdown, json, ok }.
 */
export async function run({ flags = [], log = console.log } = {}) {
  const quick = flags.includes('--quick'), full = flags.includes('--full');
  const started = Date.now();
  const machine = machineInfo();
  const json = {
    bench: 'attention', date: new Date(started).toISOString(), machine, tolerance: TOLERANCE, heads: H, kvHeads: KH,
    versions: { pcpress: packageVersion('pcpress'), 'onnxruntime-web': packageVersion('onnxruntime-web'), webgpu: packageVersion('webgpu'), node: process.versions.node },
    wasm: null, webgpu: null, notRun: {},
  };
  if (!flags.includes('--no-wasm')) {
    log('attention / wasm (Node, one thread)…');
    try {
      json.wasm = await benchWasm({ quick, full, log });
    } catch (e) {
      json.notRun.wasm = `the wasm part failed: ${e?.stack ?? e}`;
    }
  } else json.notRun.wasm = 'skipped by --no-wasm';
  if (!flags.includes('--no-wasm') && !flags.includes('--no-threads')) {
    json.wasmThreads = {};
    for (const t of threadCounts()) {
      log(`attention / wasm, ${t} thread${t > 1 ? 's' : ''} each: pcpress vs onnxruntime-web MultiHeadAttention and GroupQueryAttention (child process)…`);
      try {
        json.wasmThreads[t] = await benchAttentionThreadsChild(t, { quick }, log);
      } catch (e) {
        json.notRun[`wasm ${t} threads`] = `the ${t}-thread attention part failed: ${e?.message ?? e}`;
      }
    }
  }
  if (!flags.includes('--no-wasm')) {
    log('attention / RoPE + softcap vs GroupQueryAttention with do_rotary (wasm, one thread)…');
    try {
      json.ropeSoftcap = await runRopePart({ quick, log });
    } catch (e) {
      json.notRun.ropeSoftcap = `the RoPE + softcap part failed: ${e?.stack ?? e}`;
    }
  }
  if (!flags.includes('--no-webgpu')) {
    log('attention / WebGPU (Node, Dawn)…');
    try {
      json.webgpu = await benchWebgpu({ quick, log });
    } catch (e) {
      json.notRun.webgpu = `the WebGPU part could not run: ${e?.message ?? e}`;
    }
  } else json.notRun.webgpu = 'skipped by --no-webgpu';
  json.seconds = +((Date.now() - started) / 1000).toFixed(1);
  json.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));

  const failures = [];
  for (const part of ['wasm', 'webgpu']) {
    for (const kind of ['prefill', 'decode']) {
      for (const r of json[part]?.[kind] ?? []) {
        for (const [lib, res] of Object.entries(r.results)) {
          if (!(res.err <= TOLERANCE)) failures.push(`${part} ${kind} ${r.S ?? r.L} d${r.D} ${lib}: err ${res.err}`);
        }
      }
    }
  }
  for (const [t, r] of Object.entries(json.wasmThreads ?? {})) {
    for (const kind of ['prefill', 'decode']) {
      for (const row of r[kind]) {
        for (const [lib, res] of Object.entries(row.results)) {
          if (!(res.err <= TOLERANCE)) failures.push(`wasm ${t} threads ${kind} ${row.S ?? row.L} d${row.D} ${lib}: err ${res.err}`);
        }
      }
    }
  }
  json.threadTargets = threadTargets(json.wasmThreads);
  json.threadScaling = scalingRows(json.wasmThreads);
  if (json.ropeSoftcap) failures.push(...ropeFailures(json.ropeSoftcap));
  json.correctnessFailures = failures;

  const md = ['# attention benchmark', ''];
  md.push(`Date: ${json.date} (took ${json.seconds} s). Command: \`node bench/run.mjs attention${flags.length ? ` ${flags.join(' ')}` : ''}\`.`, '');
  md.push(`Machine: ${machine.nproc} CPUs, ${machine.cpuModel}${machine.cpuFlags ? ` (${machine.cpuFlags})` : ''}, ${machine.memGiB} GiB; ` +
    `load average ${machine.loadavg.join(' ')} at start, ${json.loadavgEnd.join(' ')} at the end (shared box: absolute numbers are noisy; samples are interleaved so ratios move less).`, '');
  md.push(`Versions: ${Object.entries(json.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  md.push(`Setup: ${H} query heads, ${KH} KV heads (GQA group 4), causal, f32, batch 1; wasm on one thread in the "wasm (Node, one thread)" and RoPE + softcap sections, on 1, 2 and all cores' threads (each N in its own child process) in "wasm with N threads each". Same inputs (uniform in [-1, 1)) for every ` +
    'library. Medians over interleaved samples. "err" = max |x - ref| / max |ref| over 8 sampled query rows (first, last, spread over heads) ' +
    `against an f64 reference; over ${TOLERANCE} is marked FAIL.`, '');
  md.push(failures.length ? `**Correctness failures:** ${failures.join('; ')}` : `Correctness: every measured result is within ${TOLERANCE} of the f64 reference.`, '');
  if (json.wasm) {
    const w = json.wasm;
    md.push('## wasm (Node, one thread)', '');
    md.push('- pcpress: AssemblyScript wasm SIMD, one pass with an online softmax. "pcpress" = tensors resident (timed: attention + copying the output out); ' +
      '"arrays" = typed arrays in and out (copies q, k, v in every call).');
    md.push(`- ort: onnxruntime-web ${w.libs.ort ?? 'not run'} wasm execution provider, \`GroupQueryAttention\` (com.microsoft) contrib op in an in-memory model; ` +
      'timed: `session.run` with q, k, v (and for decode past_key / past_value) in ORT\'s [batch, seq, heads x headDim] layout, output copied out. ' +
      'For decode ORT copies the past cache in and writes present = past + new on every step: that is what its API costs without IO binding.');
    md.push('- Memory: "wasm growth" is how much pcpress\'s wasm memory grew over all calls of a size (inputs were uploaded before); ' +
      '"seq x seq scores" is what one materialised score matrix for all heads would take.', '');
    md.push('### prefill (tokens/s = seq / median time)', '');
    md.push(markdownTable(['seq', 'headDim', 'pcpress tok/s', 'pcpress arrays tok/s', 'ort tok/s', 'pcpress / ort', 'median ms (pcpress, ort)', 'err pcpress', 'err ort', 'wasm growth', 'seq x seq scores'],
      w.prefill.map((r) => {
        const p = r.results.pcpress, a = r.results['pcpress-arrays'], o = r.results.ort;
        return [r.S, r.D, fmt(p.tokensPerS), fmt(a.tokensPerS), o ? fmt(o.tokensPerS) : `not run${r.why ? `: ${r.why}` : ''}`,
          o ? `**${fmt(p.tokensPerS / o.tokensPerS)}x**` : '–', `${fmt(p.medianMs)}, ${o ? fmt(o.medianMs) : '–'}`,
          errCell(Math.max(p.err, a.err)), errCell(o?.err), `${fmt(r.wasmMemoryGrowthBytes / 2 ** 20)} MiB`, `${fmt(r.scoresBytes / 2 ** 20)} MiB`];
      })), '');
    md.push('### decode (one query token per head; steps/s = 1 / median time)', '');
    md.push(markdownTable(['cache', 'headDim', 'pcpress steps/s', 'ort steps/s', 'pcpress / ort', 'err pcpress', 'err ort'],
      w.decode.map((r) => {
        const p = r.results.pcpress, o = r.results.ort;
        return [r.L, r.D, fmt(p.stepsPerS), o ? fmt(o.stepsPerS) : `not run: ${r.why}`, o ? `**${fmt(p.stepsPerS / o.stepsPerS)}x**` : '–', errCell(p.err), errCell(o?.err)];
      })), '');
    const ratios = [...w.prefill, ...w.decode].filter((r) => r.results.ort)
      .map((r) => (r.results.pcpress.medianMs ? r.results.ort.medianMs / r.results.pcpress.medianMs : NaN));
    if (ratios.length) md.push(`Goal "at least as fast as ORT's wasm attention": median ratio pcpress / ort ${fmt(median(ratios))}x, smallest ${fmt(Math.min(...ratios))}x.`, '');
  }
  if (json.wasmThreads && Object.keys(json.wasmThreads).length) md.push(threadsSection(json.wasmThreads, json.threadTargets));
  if (json.ropeSoftcap) md.push(ropeSection(json.ropeSoftcap));
  if (json.webgpu) {
    const g = json.webgpu;
    md.push('## WebGPU (Node + Dawn, same device for both)', '');
    md.push(`- Adapter: ${g.adapter}${g.software ? ' (a software adapter: WGSL runs on the CPU; this ranks the two designs on this adapter, not on a GPU)' : ''}.`);
    md.push('- flash = pcpress\'s tiled online-softmax prefill kernel / split-K decode; three-pass = scores Q K^T (pcpress WGSL matmul), a row-softmax shader, ' +
      'then P V (pcpress WGSL matmul), materialising seq x seq per head. Timed: the kernels + reading the output back. Sizes are small because the adapter is slow.', '');
    md.push(markdownTable(['kind', 'size', 'headDim', 'flash', 'three-pass', 'flash / three-pass', 'err flash', 'err three-pass'],
      [...g.prefill.map((r) => ['prefill', r.S, r.D, `${fmt(r.results.flash.tokensPerS)} tok/s`, `${fmt(r.results['three-pass'].tokensPerS)} tok/s`,
        `**${fmt(r.results['three-pass'].medianMs / r.results.flash.medianMs)}x**`, errCell(r.results.flash.err), errCell(r.results['three-pass'].err)]),
      ...g.decode.map((r) => ['decode', r.L, r.D, `${fmt(r.results.flash.stepsPerS)} steps/s`, `${fmt(r.results['three-pass'].stepsPerS)} steps/s`,
        `**${fmt(r.results['three-pass'].medianMs / r.results.flash.medianMs)}x**`, errCell(r.results.flash.err), errCell(r.results['three-pass'].err)])]), '');
  }
  for (const [k, v] of Object.entries(json.notRun)) md.push(`**Not run: ${k}**: ${v}`, '');
  return { markdown: md.join('\n'), json, ok: failures.length === 0 };
}
