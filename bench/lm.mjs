// The transformer bench (issue 12, part 5): `npm run bench -- lm`.
// wasm (Node, one thread each): pcpress `lm.forward` (prefill) and `lm.generate` (greedy decode against per-layer KV
// caches) vs onnxruntime-web's wasm execution provider (numThreads 1) running the same model exported to ONNX by
// scripts/export-lm-onnx.py (one graph with past_key/past_value inputs: a prefill passes an empty past, a decode
// step passes the presents of the step before, so ORT decodes with a KV cache too). Logits are compared with the
// PyTorch reference dump and with each other (max |x - y| / max |y|).
// WebGPU (Node + Dawn, the adapter it finds: SwiftShader here): the same model on pcpress's WebGPU backend next to
// its wasm backend. Memory: the K/V bytes the caches hold after the prefill at each eviction budget.
// f16 weights (WebGPU): a linear layer's decode-shaped product (8x1024x1024, W [out][in] packed once by rt.packB
// with transposeB) with B as f32 vs B as f16 (dtype 'f16': two halves per u32, unpack2x16float in the shader), and
// the model loaded with weightDtype 'f32' vs 'f16' (weight bytes on the device, logits, decode tokens/s). On a
// software adapter (SwiftShader) these times are not speed claims.
//
// MODEL below is the only line to change for another model folder (config.json + model.safetensors +
// reference.json, and the .onnx export next to it). Today it is the tiny random Llama fixture, whose numbers
// check the infrastructure: they are not the target measurement of issue 12 (a trained model).
import fs from 'node:fs';
import path from 'node:path';
import { rng, median, maxRelDiff, fmt, markdownTable, randomF32, refMatmulF64 } from './lib.mjs';
import { machineInfo, packageVersion, repoRoot } from './env.mjs';
import { startOrt } from './onnx.mjs';

/** The model benched: folder (config.json, model.safetensors, reference.json), its ONNX export, and what it is. */
export const MODEL = {
  dir: 'test/fixtures/lm/llama', onnx: 'test/fixtures/lm/llama.onnx',
  about: 'the tiny random Llama test fixture (2 layers, hidden 64, 4 query / 2 KV heads, head size 16, vocab 97; scripts/make-lm-fixture.py)',
  trained: false,
};

/** Largest accepted logit error (max |x - ref| / max |ref|), the tolerance of the issue's conformance cases. */
export const TOLERANCE = 1e-3;

/** Eviction budgets reported for memory: fraction of the prompt kept (undefined: the full cache). */
const BUDGETS = [undefined, 0.5, 0.2, 0.1];

/** `count` token ids in 0..vocab-1 from a fixed seed. */
function tokens(count, vocab, seed) {
  const r = rng(seed);
  return Array.from({ length: count }, () => Math.floor(r() * vocab));
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** A wasm runtime on one thread (the peers run on one thread too). */
function wasmRuntime(pc) {
  return pc.createRuntime({ backend: 'wasm', threads: 1 });
}

/**
 * The ONNX model as two calls: `prefill(ids)` runs the prompt with an empty past and returns { logits, past },
 * `step(id, past)` runs one token against `past` and returns the same. Logits: Float32Array [S][vocab].
 */
function ortModel(ort, sess, cfg) {
  const L = cfg.num_hidden_layers, nkv = cfg.num_key_value_heads ?? cfg.num_attention_heads;
  const hd = cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
  const T = ort.Tensor;
  const run = async (ids, past) => {
    const feeds = { input_ids: new T('int64', BigInt64Array.from(ids, (t) => BigInt(t)), [1, ids.length]) };
    for (let l = 0; l < L; l++) {
      feeds[`past_key_${l}`] = past ? past[2 * l] : new T('float32', new Float32Array(0), [1, nkv, 0, hd]);
      feeds[`past_value_${l}`] = past ? past[2 * l + 1] : new T('float32', new Float32Array(0), [1, nkv, 0, hd]);
    }
    const out = await sess.run(feeds);
    const next = [];
    for (let l = 0; l < L; l++) next.push(out[`present_key_${l}`], out[`present_value_${l}`]);
    return { logits: out.logits.data, past: next };
  };
  return { prefill: (ids) => run(ids), step: (id, past) => run([id], past) };
}

/** Greedy decode with ORT: prefill, then `n - 1` steps. Returns the tokens, every step's logits and the step times. */
async function ortGreedy(model, prompt, n, vocab) {
  let { logits, past } = await model.prefill(prompt);
  const toks = [], rows = [], stepMs = [];
  let row = logits.subarray(logits.length - vocab);
  for (let i = 0; i < n; i++) {
    rows.push(row.slice());
    toks.push(argmax(row));
    if (i === n - 1) break;
    const t0 = performance.now();
    ({ logits, past } = await model.step(toks[i], past));
    stepMs.push(performance.now() - t0);
    row = logits;
  }
  return { toks, rows, stepMs };
}

/** Greedy decode with pcpress: generate(); the time between the first and the last yielded token is the decode. */
async function pcGreedy(lm, prompt, n) {
  const toks = [], rows = [], at = [];
  const t0 = performance.now();
  const gen = lm.generate(prompt, { maxNewTokens: n });
  for await (const t of gen) {
    at.push(performance.now());
    toks.push(t);
    rows.push(gen.logits.slice());
  }
  return { toks, rows, prefillMs: at[0] - t0, decodeMs: at[at.length - 1] - at[0] };
}

/** Max relative error of one row set against another, row by row (each row scaled by its own largest |ref|). */
function rowsErr(rows, refRows) {
  let e = 0;
  for (let i = 0; i < Math.min(rows.length, refRows.length); i++) e = Math.max(e, maxRelDiff(rows[i], refRows[i]));
  return rows.length === refRows.length ? e : Infinity;
}

/** Prefill timing: pcpress forward and ORT, interleaved, median ms of `reps` calls each. */
async function timePrefill(contenders, reps) {
  const ms = Object.fromEntries(contenders.map((c) => [c.name, []]));
  const last = {};
  for (const c of contenders) last[c.name] = await c.fn(); // warm-up (compiles, first-touch)
  for (let r = 0; r < reps; r++) {
    for (const c of contenders) {
      const t0 = performance.now();
      last[c.name] = await c.fn();
      ms[c.name].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(contenders.map((c) => [c.name, { medianMs: median(ms[c.name]), minMs: Math.min(...ms[c.name]), samples: ms[c.name], last: last[c.name] }]));
}

/** Sum of K/V bytes (f32 keys and values) and position bytes the caches hold after the prefill (+ eviction). */
async function cacheBytes(lm, prompt, eviction) {
  const gen = lm.generate(prompt, { maxNewTokens: 1, ...(eviction ? { eviction } : {}) });
  await gen.next();
  const held = gen.cacheLengths.flat().reduce((a, b) => a + b, 0);
  const perHead = gen.cacheLengths.flat();
  await gen.return();
  const hd = lm.config.headDim;
  return { tokens: held, kvBytes: held * hd * 4 * 2, positionBytes: held * 4, minPerHead: Math.min(...perHead), maxPerHead: Math.max(...perHead) };
}

/** The wasm part: correctness against the reference, prefill and decode vs ORT, cache bytes. */
async function benchWasm({ quick, log, files }) {
  const pc = await import('pcpress');
  const rt = await wasmRuntime(pc);
  const lm = await pc.loadTransformer(rt, { config: files.config, weights: files.weights });
  const cfg = JSON.parse(new TextDecoder().decode(files.config));
  const V = lm.config.vocabSize, ref = files.ref;
  const out = { layers: lm.config.numLayers, kvHeads: lm.config.numKvHeads, runtime: rt.reason ?? null, check: {}, prefill: [], decode: [], memory: [], ortWhy: null };
  let ort, model;
  try {
    ort = await startOrt();
    const sess = await ort.InferenceSession.create(files.onnx, { executionProviders: ['wasm'], logSeverityLevel: 3 });
    model = ortModel(ort, sess, cfg);
  } catch (e) {
    out.ortWhy = `onnxruntime-web could not run ${MODEL.onnx}: ${e?.message ?? e}`;
    log(out.ortWhy);
  }
  try {
    // --- correctness: the PyTorch reference dump -----------------------------------------------------------
    const pcErr = [], ortErr = [];
    for (const p of ref.prompts) {
      const want = Float32Array.from(p.logits);
      const rowsOf = (x) => Array.from({ length: p.tokens.length }, (_, i) => x.subarray(i * V, (i + 1) * V));
      pcErr.push(rowsErr(rowsOf(await lm.forward(p.tokens)), rowsOf(want)));
      if (model) ortErr.push(rowsErr(rowsOf((await model.prefill(p.tokens)).logits), rowsOf(want)));
    }
    const g = await pcGreedy(lm, ref.greedy.prompt, ref.greedy.continuation.length);
    const og = model ? await ortGreedy(model, ref.greedy.prompt, ref.greedy.continuation.length, V) : undefined;
    out.check = {
      pcpressVsReference: Math.max(...pcErr), ortVsReference: model ? Math.max(...ortErr) : null,
      pcpressGreedy: g.toks.join() === ref.greedy.continuation.join(), ortGreedy: og ? og.toks.join() === ref.greedy.continuation.join() : null,
      prompts: ref.prompts.length, greedyTokens: ref.greedy.continuation.length,
    };
    log(`  reference: pcpress err ${fmt(out.check.pcpressVsReference)}, ort err ${fmt(out.check.ortVsReference)}, greedy pcpress ${out.check.pcpressGreedy} ort ${out.check.ortGreedy}`);

    // --- prefill: forward over S tokens, all rows' logits ---------------------------------------------------
    for (const S of quick ? [16, 64] : [16, 64, 256]) {
      const ids = tokens(S, V, 100 + S);
      const contenders = [{ name: 'pcpress', fn: () => lm.forward(ids) }];
      if (model) contenders.push({ name: 'ort', fn: async () => (await model.prefill(ids)).logits });
      const t = await timePrefill(contenders, quick ? 3 : 11);
      const r = { S, pcpressMs: t.pcpress.medianMs, pcpressMinMs: t.pcpress.minMs, tokensPerS: { pcpress: (S * 1000) / t.pcpress.medianMs } };
      if (model) {
        r.ortMs = t.ort.medianMs;
        r.ortMinMs = t.ort.minMs;
        r.tokensPerS.ort = (S * 1000) / t.ort.medianMs;
        r.errVsOrt = maxRelDiff(t.pcpress.last, t.ort.last);
      }
      r.samplesMs = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.samples.map((x) => +x.toFixed(3))]));
      out.prefill.push(r);
      log(`  wasm prefill S=${S}: pcpress ${fmt(r.tokensPerS.pcpress)} tok/s, ort ${fmt(r.tokensPerS.ort)} tok/s, err ${fmt(r.errVsOrt)}`);
    }

    // --- decode: greedy, N tokens after a P-token prompt, timed after the first token ---------------------
    for (const [P, N] of quick ? [[32, 16]] : [[32, 64], [128, 64]]) {
      const prompt = tokens(P, V, 7 + P);
      const pcMs = [], ortMs = [];
      let pcRun, ortRun;
      for (let r = 0; r < (quick ? 2 : 7) + 1; r++) { // the first round warms up and is not counted
        pcRun = await pcGreedy(lm, prompt, N);
        if (r) pcMs.push(pcRun.decodeMs / (N - 1));
        if (model) {
          ortRun = await ortGreedy(model, prompt, N, V);
          if (r) ortMs.push(ortRun.stepMs.reduce((a, b) => a + b, 0) / (N - 1));
        }
      }
      const r = { prompt: P, newTokens: N, pcpressMsPerToken: median(pcMs), tokensPerS: { pcpress: 1000 / median(pcMs) } };
      if (model) {
        r.ortMsPerToken = median(ortMs);
        r.tokensPerS.ort = 1000 / median(ortMs);
        r.sameTokens = pcRun.toks.join() === ortRun.toks.join();
        r.errVsOrt = r.sameTokens ? rowsErr(pcRun.rows, ortRun.rows) : null;
      }
      r.samplesMsPerToken = { pcpress: pcMs.map((x) => +x.toFixed(4)), ort: ortMs.map((x) => +x.toFixed(4)) };
      out.decode.push(r);
      log(`  wasm decode P=${P} N=${N}: pcpress ${fmt(r.tokensPerS.pcpress)} tok/s, ort ${fmt(r.tokensPerS.ort)} tok/s, same tokens ${r.sameTokens}`);
    }

    // --- memory: K/V bytes held after the prefill at each budget -------------------------------------------
    // 512 tokens, so that even 10 % (51 per head) is above the observation window (32), which the window methods pin
    const N = 512;
    const prompt = tokens(N, V, 5);
    for (const keep of BUDGETS) {
      for (const method of keep === undefined ? ['none'] : ['snapkv', 'defensivekv', 'layer-defensivekv']) {
        const ev = keep === undefined ? undefined : { method, compression: 1 - keep };
        const b = await cacheBytes(lm, prompt, ev);
        out.memory.push({ prompt: N, keep: keep ?? 1, method, budgetPerHead: keep === undefined ? N : Math.floor(N * keep + 1e-9), ...b });
      }
    }
  } finally {
    lm.dispose();
    rt.destroy();
  }
  return out;
}

/** The WebGPU part: the same model on pcpress WebGPU next to pcpress wasm, logits compared. */
async function benchWebgpu({ quick, log, files }) {
  if (!process.env.VK_ICD_FILENAMES && process.platform === 'linux') {
    process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
  }
  const pc = await import('pcpress');
  const gpu = await pc.createRuntime({ backend: 'webgpu' });
  const cpu = await wasmRuntime(pc);
  const a = gpu.info.adapter;
  const out = { adapter: a ? [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') : 'unknown', software: !!a?.isSoftware, prefill: [], decode: [] };
  const lg = await pc.loadTransformer(gpu, { config: files.config, weights: files.weights });
  const lc = await pc.loadTransformer(cpu, { config: files.config, weights: files.weights });
  try {
    const V = lg.config.vocabSize, ref = files.ref;
    const g = await pcGreedy(lg, ref.greedy.prompt, ref.greedy.continuation.length);
    const p0 = ref.prompts[ref.prompts.length - 1];
    out.check = {
      vsReference: maxRelDiff(await lg.forward(p0.tokens), Float32Array.from(p0.logits)),
      greedy: g.toks.join() === ref.greedy.continuation.join(),
    };
    for (const S of quick ? [64] : [64, 256]) {
      const ids = tokens(S, V, 100 + S);
      const t = await timePrefill([{ name: 'webgpu', fn: () => lg.forward(ids) }, { name: 'wasm', fn: () => lc.forward(ids) }], quick ? 3 : 5);
      const r = { S, tokensPerS: { webgpu: (S * 1000) / t.webgpu.medianMs, wasm: (S * 1000) / t.wasm.medianMs }, errVsWasm: maxRelDiff(t.webgpu.last, t.wasm.last) };
      out.prefill.push(r);
      log(`  webgpu prefill S=${S}: webgpu ${fmt(r.tokensPerS.webgpu)} tok/s, wasm ${fmt(r.tokensPerS.wasm)} tok/s`);
    }
    const P = 32, N = quick ? 8 : 16, prompt = tokens(P, V, 7 + P);
    const gm = [], cm = [];
    let gr, cr;
    for (let r = 0; r < 3; r++) {
      gr = await pcGreedy(lg, prompt, N);
      cr = await pcGreedy(lc, prompt, N);
      if (r) {
        gm.push(gr.decodeMs / (N - 1));
        cm.push(cr.decodeMs / (N - 1));
      }
    }
    const same = gr.toks.join() === cr.toks.join();
    out.decode.push({ prompt: P, newTokens: N, tokensPerS: { webgpu: 1000 / median(gm), wasm: 1000 / median(cm) }, sameTokens: same, errVsWasm: same ? rowsErr(gr.rows, cr.rows) : null });
    log(`  webgpu decode P=${P} N=${N}: webgpu ${fmt(1000 / median(gm))} tok/s, wasm ${fmt(1000 / median(cm))} tok/s`);
    out.f16Weights = await benchF16Weights(pc, gpu, { quick, log, files });
  } finally {
    lg.dispose();
    lc.dispose();
    gpu.destroy();
    cpu.destroy();
  }
  return out;
}

/**
 * f16 weights on WebGPU: the skinny decode product (m 8, k = n = 1024; W [n][k] as a Linear weight) with W packed as
 * f32 and as f16, interleaved; each sample times `calls` matmuls on a resident A and one read of the last C, so the
 * per-call time is mostly the dispatches (a read waits for every queued one). Errors against f64 products of the
 * values each packing holds (the f16 one against the f16-rounded W). Then the model with weightDtype 'f32' and 'f16'.
 */
async function benchF16Weights(pc, gpu, { quick, log, files }) {
  const m = 8, k = 1024, n = 1024, calls = quick ? 4 : 8, samples = quick ? 5 : 11;
  const w = randomF32(n * k, 21), a = randomF32(m * k, 22);
  const packs = { f32: gpu.packB(w, { k, n, transposeB: true }), f16: gpu.packB(w, { k, n, transposeB: true, dtype: 'f16' }) };
  const ta = gpu.tensor(a, [m, k]);
  const out = { shape: { m, k, n }, calls, matmul: {}, model: {} };
  try {
    const time = async (p) => {
      const t0 = performance.now();
      let c;
      for (let i = 0; i < calls; i++) {
        c?.dispose();
        c = gpu.matmul(ta, p, { m, k, n });
      }
      const r = await c.read();
      c.dispose();
      return { ms: (performance.now() - t0) / calls, r };
    };
    const ms = { f32: [], f16: [] }, last = {};
    for (const name of ['f32', 'f16']) await time(packs[name]); // warm-up: pipelines, first touch
    for (let s = 0; s < samples; s++) {
      for (const name of ['f32', 'f16']) {
        const t = await time(packs[name]);
        ms[name].push(t.ms);
        last[name] = t.r;
      }
    }
    for (const name of ['f32', 'f16']) {
      const p = packs[name];
      const ref = refMatmulF64(a, await p.read(), m, k, n);
      out.matmul[name] = {
        storage: p.storage, bytes: p.bytes, medianMs: median(ms[name]), minMs: Math.min(...ms[name]),
        bGBps: p.bytes / (median(ms[name]) * 1e6), errVsRef: maxRelDiff(last[name], ref), samplesMs: ms[name].map((x) => +x.toFixed(3)),
      };
      log(`  webgpu f16 weights: ${m}x${k}x${n} B ${name} (${p.storage}, ${p.bytes} bytes): ${fmt(out.matmul[name].medianMs)} ms/call, err ${fmt(out.matmul[name].errVsRef)}`);
    }
    // the same products with the rounded values: f16 vs f32 weights change the result by W's rounding only
    out.matmul.f16VsF32 = maxRelDiff(last.f16, last.f32);
  } finally {
    ta.dispose();
    packs.f32.dispose();
    packs.f16.dispose();
  }
  const V = JSON.parse(new TextDecoder().decode(files.config)).vocab_size, ref = files.ref;
  const P = 32, N = quick ? 8 : 16, prompt = tokens(P, V, 7 + P);
  for (const weightDtype of ['f32', 'auto', 'f16']) {
    const lm = await pc.loadTransformer(gpu, { config: files.config, weights: files.weights, weightDtype });
    try {
      const p0 = ref.prompts[ref.prompts.length - 1];
      const err = maxRelDiff(await lm.forward(p0.tokens), Float32Array.from(p0.logits));
      const dm = [];
      let run;
      for (let r = 0; r < 3; r++) {
        run = await pcGreedy(lm, prompt, N);
        if (r) dm.push(run.decodeMs / (N - 1));
      }
      out.model[weightDtype] = { info: lm.info, errVsReference: err, decodeTokensPerS: 1000 / median(dm), tokens: run.toks };
      log(`  webgpu weightDtype ${weightDtype}: ${lm.info.weightBytes} weight bytes (${lm.info.linearStorage}), err ${fmt(err)}, decode ${fmt(1000 / median(dm))} tok/s`);
    } finally {
      lm.dispose();
    }
  }
  return out;
}

/**
 * Runs the bench. Flags: --quick (fewer sizes and repeats), --no-wasm, --no-webgpu.
 * Returns { markdown, json, ok }; ok is false when a logit error exceeds TOLERANCE or greedy tokens differ from the reference.
 */
export async function run({ flags = [], log = console.log } = {}) {
  const quick = flags.includes('--quick');
  const read = (f) => new Uint8Array(fs.readFileSync(path.join(repoRoot, f)));
  const files = {
    config: read(`${MODEL.dir}/config.json`), weights: read(`${MODEL.dir}/model.safetensors`), onnx: read(MODEL.onnx),
    ref: JSON.parse(fs.readFileSync(path.join(repoRoot, MODEL.dir, 'reference.json'), 'utf8')),
  };
  const json = {
    bench: 'lm', date: new Date().toISOString(), quick, model: MODEL, machine: machineInfo(),
    versions: { pcpress: packageVersion('pcpress'), 'onnxruntime-web': packageVersion('onnxruntime-web'), webgpu: packageVersion('webgpu'), node: process.versions.node },
    wasm: null, webgpu: null, notRun: {},
  };
  if (!flags.includes('--no-wasm')) json.wasm = await benchWasm({ quick, log, files });
  else json.notRun.wasm = 'skipped by --no-wasm';
  if (!flags.includes('--no-webgpu')) {
    try {
      json.webgpu = await benchWebgpu({ quick, log, files });
    } catch (e) {
      json.notRun.webgpu = `the WebGPU part could not run: ${e?.message ?? e}`;
      log(json.notRun.webgpu);
    }
  } else json.notRun.webgpu = 'skipped by --no-webgpu';

  const failures = [];
  const w = json.wasm;
  if (w) {
    if (!(w.check.pcpressVsReference <= TOLERANCE)) failures.push(`pcpress logits vs the reference: ${fmt(w.check.pcpressVsReference)}`);
    if (w.check.ortVsReference !== null && !(w.check.ortVsReference <= TOLERANCE)) failures.push(`ORT logits vs the reference: ${fmt(w.check.ortVsReference)}`);
    if (!w.check.pcpressGreedy) failures.push('pcpress greedy tokens differ from the reference');
    if (w.check.ortGreedy === false) failures.push('ORT greedy tokens differ from the reference');
    for (const r of w.prefill) if (r.errVsOrt !== undefined && !(r.errVsOrt <= TOLERANCE)) failures.push(`prefill S=${r.S}: pcpress vs ORT ${fmt(r.errVsOrt)}`);
    const heads = (json.wasm.layers ?? 0) * (json.wasm.kvHeads ?? 0);
    for (const r of w.memory) if (r.tokens !== heads * r.budgetPerHead) failures.push(`${r.method} at ${r.keep}: ${r.tokens} tokens held, the budget is ${heads} heads x ${r.budgetPerHead}`);
    for (const r of w.decode) if (r.errVsOrt !== undefined && r.errVsOrt !== null && !(r.errVsOrt <= TOLERANCE)) failures.push(`decode P=${r.prompt}: pcpress vs ORT ${fmt(r.errVsOrt)}`);
  }
  const gp = json.webgpu;
  if (gp) {
    if (!(gp.check.vsReference <= TOLERANCE) || !gp.check.greedy) failures.push(`webgpu: err ${fmt(gp.check.vsReference)} vs the reference, greedy ${gp.check.greedy}`);
    const fw = gp.f16Weights;
    if (fw) {
      for (const [name, r] of Object.entries(fw.matmul)) if (typeof r === 'object' && !(r.errVsRef <= 1e-5)) failures.push(`webgpu ${name} weights matmul: err ${fmt(r.errVsRef)} vs its f64 reference`);
      for (const [name, r] of Object.entries(fw.model)) if (!(r.errVsReference <= TOLERANCE)) failures.push(`webgpu weightDtype ${name}: err ${fmt(r.errVsReference)} vs the reference`);
    }
    for (const r of gp.prefill) if (!(r.errVsWasm <= TOLERANCE)) failures.push(`webgpu prefill S=${r.S}: vs wasm ${fmt(r.errVsWasm)}`);
  }
  json.failures = failures;

  const m = json.machine;
  const md = ['# lm bench: a transformer end to end', ''];
  if (!MODEL.trained) {
    md.push(`> **This is ${MODEL.about}, with random weights.** It has a few thousand parameters per layer, so every call is a` +
      ' handful of tiny kernels and the times below measure per-call overhead (dispatch, JS, reads), not matmul throughput.' +
      ' These numbers check the infrastructure (loading, the ONNX export, logits agreement, KV-cache accounting); they are' +
      ' **not** the target measurement of issue 12, which needs the trained model.', '');
  }
  md.push(`Model: \`${MODEL.dir}\` (pcpress) and \`${MODEL.onnx}\` (onnxruntime-web, exported by \`scripts/export-lm-onnx.py\`, opset 17, weights stored as in the safetensors file).`,
    `Machine: ${m.cpuModel} (${m.nproc} cores, shared), ${m.memGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadavg.join(' ')} at the start.`,
    `Versions: pcpress ${json.versions.pcpress}, onnxruntime-web ${json.versions['onnxruntime-web']}, webgpu (Dawn for Node) ${json.versions.webgpu}.${quick ? ' Run with --quick.' : ''}`, '');
  if (w) {
    md.push('## wasm, one thread: pcpress vs onnxruntime-web', '');
    md.push(`pcpress runtime: ${w.runtime}. onnxruntime-web: wasm execution provider, \`numThreads = 1\`, no proxy worker${w.ortWhy ? ` (NOT RUN: ${w.ortWhy})` : ''}.`, '');
    md.push(`Against the PyTorch reference (float64, \`reference.json\`, ${w.check.prompts} prompts): pcpress max error ${fmt(w.check.pcpressVsReference)}, ` +
      `onnxruntime-web ${fmt(w.check.ortVsReference)} (max over rows of max |x - ref| / max |ref|; tolerance ${TOLERANCE}). ` +
      `Greedy ${w.check.greedyTokens} tokens equal to the reference: pcpress ${w.check.pcpressGreedy ? 'yes' : 'NO'}, onnxruntime-web ${w.check.ortGreedy === null ? 'not run' : w.check.ortGreedy ? 'yes' : 'NO'}.`, '');
    md.push('### Prefill (`lm.forward`: logits of every position)', '');
    md.push('Interleaved calls (pcpress, ort, pcpress, ...), tokens/s from the median; the fastest call is shown too, since other' +
      ' processes on the shared cores make single calls of a few ms noisy (every sample is in lm.json: onnxruntime-web\'s calls' +
      ' in particular swing between about 1x and 10x their fastest here, so the medians and their ratios move a lot between runs).', '');
    md.push(markdownTable(['tokens', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'median ms (pcpress, ort)', 'fastest ms (pcpress, ort)', 'logits pcpress vs ort'],
      w.prefill.map((r) => [r.S, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), r.tokensPerS.ort ? `${fmt(r.tokensPerS.pcpress / r.tokensPerS.ort)}x` : '–',
        `${fmt(r.pcpressMs)}, ${fmt(r.ortMs)}`, `${fmt(r.pcpressMinMs)}, ${fmt(r.ortMinMs)}`, fmt(r.errVsOrt)])));
    md.push('', '### Greedy decode (tokens after the first, which comes from the prefill)', '');
    md.push('pcpress: `lm.generate(prompt, { maxNewTokens })`, one `rt.decode` pass per token over per-layer `KVCache`s, timed from the first' +
      ' yielded token to the last. onnxruntime-web: one `session.run` per token with `input_ids` [1, 1] and the previous step\'s' +
      ' `present_key/value` as `past_key/value` (its KV cache is the graph\'s Concat), argmax in JS, the same timing.' +
      ' Median over interleaved runs (pcpress, ort, pcpress, ...) after one warm-up run each.', '');
    md.push(markdownTable(['prompt', 'new tokens', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'same tokens', 'step logits pcpress vs ort'],
      w.decode.map((r) => [r.prompt, r.newTokens, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), r.tokensPerS.ort ? `${fmt(r.tokensPerS.pcpress / r.tokensPerS.ort)}x` : '–',
        r.sameTokens === undefined ? '–' : r.sameTokens ? 'yes' : 'no', fmt(r.errVsOrt)])));
    md.push('', `### KV cache memory after the prefill (${w.memory[0]?.prompt}-token prompt)`, '');
    md.push(`f32 keys and values: tokens held x headDim (${JSON.parse(new TextDecoder().decode(files.config)).head_dim ?? '?'}) x 4 bytes x 2, summed over layers and KV heads;` +
      ' each token also keeps its position (4 bytes). After eviction the caches are compacted to exactly what they hold.' +
      ' snapkv and defensivekv (head-adaptive) give each layer the same total, layer-defensivekv (global) one total over all layers,' +
      ' so the bytes are equal at a budget; the window methods never keep fewer than the observation window (32 here).', '');
    md.push(markdownTable(['cache', 'method', 'budget per KV head', 'tokens held (all layers, heads)', 'per head min-max', 'K+V bytes', 'positions bytes'],
      w.memory.map((r) => [r.keep === 1 ? 'full' : `${Math.round(r.keep * 100)}%`, r.method, r.budgetPerHead, r.tokens, `${r.minPerHead}-${r.maxPerHead}`, r.kvBytes.toLocaleString('en-US'), r.positionBytes.toLocaleString('en-US')])));
    md.push('');
  }
  if (gp) {
    md.push('## WebGPU vs wasm (pcpress, same model)', '');
    md.push(`Adapter: ${gp.adapter}${gp.software ? ' (software: WebGPU emulated on the CPU, for correctness, not speed)' : ''}.` +
      ` Against the reference: error ${fmt(gp.check.vsReference)}, greedy tokens ${gp.check.greedy ? 'equal' : 'DIFFERENT'}.`, '');
    md.push(markdownTable(['work', 'webgpu tok/s', 'wasm tok/s', 'webgpu / wasm', 'logits webgpu vs wasm'], [
      ...gp.prefill.map((r) => [`prefill ${r.S} tokens`, fmt(r.tokensPerS.webgpu), fmt(r.tokensPerS.wasm), `${fmt(r.tokensPerS.webgpu / r.tokensPerS.wasm)}x`, fmt(r.errVsWasm)]),
      ...gp.decode.map((r) => [`decode ${r.newTokens} after ${r.prompt}`, fmt(r.tokensPerS.webgpu), fmt(r.tokensPerS.wasm), `${fmt(r.tokensPerS.webgpu / r.tokensPerS.wasm)}x`, r.sameTokens ? fmt(r.errVsWasm) : 'tokens differ']),
    ]));
    md.push('');
    const fw = gp.f16Weights;
    if (fw) {
      const { m: fm, k: fk, n: fn } = fw.shape, mm = fw.matmul;
      md.push('### f16 weights on WebGPU', '');
      md.push(`A linear layer's decode product, ${fm}x${fk}x${fn} (W [out][in] packed once by \`rt.packB\` with transposeB), W held as f32 vs as f16` +
        ' (`dtype: \'f16\'`: two halves per u32, unpacked with `unpack2x16float`, f32 accumulation). Each sample: ' + fw.calls +
        ' matmuls on a resident A, then one read; ms per call, median of interleaved samples. Error: max |x - ref| / max |ref| against' +
        ` the f64 product of the values each one holds.${gp.software ? ' **Software adapter: these times are emulation on the CPU, not a speed claim.**' : ''}`, '');
      md.push(markdownTable(['B', 'device bytes', 'ms / call (median)', 'fastest', 'B read GB/s', 'error vs f64'],
        ['f32', 'f16'].map((name) => [name, mm[name].bytes.toLocaleString('en-US'), fmt(mm[name].medianMs), fmt(mm[name].minMs), fmt(mm[name].bGBps), fmt(mm[name].errVsRef)])));
      md.push('', `f16 / f32 time: ${fmt(mm.f16.medianMs / mm.f32.medianMs)}x; the two results differ by ${fmt(mm.f16VsF32)} (W's rounding to f16).`, '');
      md.push('The model with each `weightDtype` (`lm.info`; the fixture mixes F32, F16 and BF16 linear weights, so \'auto\' keeps only the F16 ones 16-bit):', '');
      md.push(markdownTable(['weightDtype', 'linear weights', 'stored', 'weight bytes (device)', 'logits vs reference', 'decode tok/s'],
        Object.entries(fw.model).map(([name, r]) => [name, r.info.linearDtype, r.info.linearStorage, r.info.weightBytes.toLocaleString('en-US'), fmt(r.errVsReference), fmt(r.decodeTokensPerS)])));
      md.push('');
    }
  }
  for (const [k, v] of Object.entries(json.notRun)) md.push(`- ${k}: not run: ${v}`);
  md.push(failures.length ? `**Checks failed:** ${failures.join('; ')}` : `All logit checks within ${TOLERANCE}; greedy tokens equal to the reference.`);
  return { markdown: md.join('\n'), json, ok: failures.length === 0 };
}
