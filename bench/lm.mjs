// The transformer bench (issue 12, part 5): `npm run bench -- lm [--model=fixture] [--quick] [--no-threads] [--no-webgpu]`.
// Model: the bundled trained model models/tiny (default) or, with --model=fixture, the tiny random test fixture.
// wasm (Node, one thread each): pcpress `lm.forward` (prefill) and `lm.generate` (greedy decode against per-layer KV
// caches) vs onnxruntime-web's wasm execution provider (numThreads 1) running the same model exported to ONNX by
// scripts/export-lm-onnx.py (one graph with past_key/past_value inputs: a prefill passes an empty past, a decode
// step passes the presents of the step before, so ORT decodes with a KV cache too). Logits are compared with the
// PyTorch reference dump (on the rows it lists) and with each other (max |x - y| / max |y|). With two threads each
// (pcpress `threads: 2`, ORT numThreads 2): the same timings in a child process (ORT fixes its thread count per
// process at its first session).
// WebGPU (Node + Dawn, the adapter it finds: SwiftShader here): the same model on pcpress's WebGPU backend next to
// its wasm backend. Memory: the K/V bytes the caches hold after the prefill at each eviction budget.
// f16 weights (WebGPU): a linear layer's decode-shaped product (8x1024x1024, W [out][in] packed once by rt.packB
// with transposeB) with B as f32 vs B as f16 (dtype 'f16': two halves per u32, unpack2x16float in the shader), and
// the model loaded with weightDtype 'f32' vs 'f16' (weight bytes on the device, logits, decode tokens/s). On a
// software adapter (SwiftShader) these times are not speed claims.
//
// The bundled model's ONNX export is not committed: the bench writes it to .cache/lm/ on first use (again when the
// safetensors file or the export script is newer), with Debian's python3-torch; without it the ORT part is "not run".
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rng, median, maxRelDiff, fmt, markdownTable, randomF32, refMatmulF64 } from './lib.mjs';
import { machineInfo, packageVersion, repoRoot } from './env.mjs';
import { startOrt } from './onnx.mjs';

/**
 * The models this bench knows: folder (config.json, model.safetensors), reference dump, ONNX export (`onnx`:
 * committed; `onnxCache`: written by the bench), what it is, and the sizes benched.
 */
export const MODELS = {
  tiny: {
    dir: 'models/tiny', reference: 'test/fixtures/lm/tiny-reference.json', onnxCache: '.cache/lm/tiny',
    about: 'the bundled model trained here (scripts/train-tiny-lm.py: 0.9 M parameters, 4 layers, hidden 128, 4 query / 2 KV heads of 32, vocab 1024, tied embeddings, F16, trained context 1024), on held-out text (models/tiny/heldout.txt)',
    trained: true,
    prefill: [128, 512, 1000], prefillQuick: [128, 512],
    decode: [[128, 64], [512, 64], [960, 64]], decodeQuick: [[128, 32]],
    memoryPrompt: 1000, webgpuPrefill: [128, 512], webgpuDecode: [128, 16],
  },
  fixture: {
    dir: 'test/fixtures/lm/llama', reference: 'test/fixtures/lm/llama/reference.json', onnx: 'test/fixtures/lm/llama.onnx',
    about: 'the tiny random Llama test fixture (2 layers, hidden 64, 4 query / 2 KV heads, head size 16, vocab 97; scripts/make-lm-fixture.py)',
    trained: false,
    prefill: [16, 64, 256], prefillQuick: [16, 64],
    decode: [[32, 64], [128, 64]], decodeQuick: [[32, 16]],
    memoryPrompt: 512, webgpuPrefill: [64, 256], webgpuDecode: [32, 16],
  },
};

/** The model benched (set by run(): --model NAME, default tiny). */
export let MODEL = MODELS.tiny;

/** A greedy step counts as clear when PyTorch's top-2 margin is at least this (as test/cases/lm.ts). */
const CLEAR_MARGIN = 0.02;

/** Largest accepted logit error (max |x - ref| / max |ref|), the tolerance of the issue's conformance cases. */
export const TOLERANCE = 1e-3;

/** Eviction budgets reported for memory: fraction of the prompt kept (undefined: the full cache). */
const BUDGETS = [undefined, 0.5, 0.2, 0.1];

/** `count` token ids in 0..vocab-1 from a fixed seed. */
function tokens(count, vocab, seed) {
  const r = rng(seed);
  return Array.from({ length: count }, () => Math.floor(r() * vocab));
}

/**
 * A `count`-token prompt: the bundled model's held-out text (BOS, then the tokens from a seed-chosen offset), the
 * random fixture's seeded random ids.
 */
function promptIds(files, count, vocab, seed) {
  if (!files.heldout) return tokens(count, vocab, seed);
  const h = files.heldout, room = h.length - (count - 1);
  if (room <= 0) throw new Error(`held-out text has ${h.length} tokens, fewer than ${count - 1}`);
  const off = Math.floor(rng(seed)() * room);
  return [files.bos, ...h.slice(off, off + count - 1)];
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** A wasm runtime on `threads` threads (the peers run on as many). */
function wasmRuntime(pc, threads = 1) {
  return pc.createRuntime({ backend: 'wasm', threads });
}

/**
 * The reference dump in one shape: `prompts` [{ tokens, rows (indices compared), logits (Float32Array per listed
 * row) }] and `greedy` { prompt, continuation, checked (how many leading steps must match), margins? }. The fixture's
 * reference.json has every row and a `greedy` field; tiny-reference.json lists some rows and a retrieval prompt whose
 * greedy steps count up to the first one with a top-2 margin under CLEAR_MARGIN (as test/cases/lm.ts).
 */
function normalizeReference(raw, V) {
  if (raw.retrieval) {
    const r = raw.retrieval, clear = r.margins.findIndex((m) => m < CLEAR_MARGIN);
    return {
      prompts: raw.prompts.map((p) => ({ tokens: p.tokens, rows: p.rows, logits: p.logits.map((row) => Float32Array.from(row)) })),
      greedy: { prompt: r.prompt, continuation: r.continuation, checked: clear < 0 ? r.continuation.length : clear, margins: r.margins },
    };
  }
  return {
    prompts: raw.prompts.map((p) => {
      const all = Float32Array.from(p.logits);
      return { tokens: p.tokens, rows: p.tokens.map((_, i) => i), logits: p.tokens.map((_, i) => all.subarray(i * V, (i + 1) * V)) };
    }),
    greedy: { prompt: raw.greedy.prompt, continuation: raw.greedy.continuation, checked: raw.greedy.continuation.length },
  };
}

/** Error of full logits [S][V] against a reference prompt, on its listed rows. */
function refErr(logits, p, V) {
  return rowsErr(p.rows.map((r) => logits.subarray(r * V, (r + 1) * V)), p.logits);
}

/** Whether greedy tokens match the reference on its checked steps. */
function greedyOk(toks, g) {
  return toks.slice(0, g.checked).join() === g.continuation.slice(0, g.checked).join();
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

/** onnxruntime-web on `threads` threads with the model's ONNX export: { model } or { why } (the reason it cannot run). */
async function ortSession(files, threads = 1) {
  if (!files.onnx) return { why: files.onnxWhy };
  try {
    const ort = await startOrt(threads);
    const sess = await ort.InferenceSession.create(files.onnx, { executionProviders: ['wasm'], logSeverityLevel: 3 });
    return { model: ortModel(ort, sess, files.cfg) };
  } catch (e) {
    return { why: `onnxruntime-web could not run ${files.onnxPath}: ${e?.message ?? e}` };
  }
}

/**
 * Prefill and greedy-decode timings, pcpress (`lm`) vs ORT (`model`, when there is one), at the given sizes.
 * `tag` prefixes the log lines. Returns { prefill: [...], decode: [...] }.
 */
async function benchTimes({ lm, model, files, quick, log, tag, prefillSizes, decodeSizes }) {
  const V = lm.config.vocabSize, out = { prefill: [], decode: [] };
  // --- prefill: forward over S tokens, all rows' logits ---------------------------------------------------
  for (const S of prefillSizes) {
    const ids = promptIds(files, S, V, 100 + S);
    const contenders = [{ name: 'pcpress', fn: () => lm.forward(ids) }];
    if (model) contenders.push({ name: 'ort', fn: async () => (await model.prefill(ids)).logits });
    const t = await timePrefill(contenders, quick ? 3 : S >= 512 ? 7 : 11);
    const r = { S, pcpressMs: t.pcpress.medianMs, pcpressMinMs: t.pcpress.minMs, tokensPerS: { pcpress: (S * 1000) / t.pcpress.medianMs } };
    if (model) {
      r.ortMs = t.ort.medianMs;
      r.ortMinMs = t.ort.minMs;
      r.tokensPerS.ort = (S * 1000) / t.ort.medianMs;
      r.errVsOrt = maxRelDiff(t.pcpress.last, t.ort.last);
    }
    r.samplesMs = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.samples.map((x) => +x.toFixed(3))]));
    out.prefill.push(r);
    log(`  ${tag} prefill S=${S}: pcpress ${fmt(r.tokensPerS.pcpress)} tok/s, ort ${fmt(r.tokensPerS.ort)} tok/s, err ${fmt(r.errVsOrt)}`);
  }
  // --- decode: greedy, N tokens after a P-token prompt, timed after the first token ---------------------
  for (const [P, N] of decodeSizes) {
    const prompt = promptIds(files, P, V, 7 + P);
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
      // the steps up to the first differing token (both models saw the same context there)
      let k = 0;
      while (k < N && pcRun.toks[k] === ortRun.toks[k]) k++;
      r.sameSteps = k;
      r.errVsOrt = rowsErr(pcRun.rows.slice(0, Math.min(N, k + 1)), ortRun.rows.slice(0, Math.min(N, k + 1)));
    }
    r.samplesMsPerToken = { pcpress: pcMs.map((x) => +x.toFixed(4)), ort: ortMs.map((x) => +x.toFixed(4)) };
    out.decode.push(r);
    log(`  ${tag} decode P=${P} N=${N}: pcpress ${fmt(r.tokensPerS.pcpress)} tok/s, ort ${fmt(r.tokensPerS.ort)} tok/s, same tokens ${r.sameTokens}`);
  }
  return out;
}

/** The wasm part: correctness against the reference, prefill and decode vs ORT, cache bytes. */
async function benchWasm({ quick, log, files }) {
  const pc = await import('pcpress');
  const rt = await wasmRuntime(pc);
  const lm = await pc.loadTransformer(rt, { config: files.config, weights: files.weights });
  const V = lm.config.vocabSize, ref = files.ref;
  const out = { threads: 1, layers: lm.config.numLayers, kvHeads: lm.config.numKvHeads, runtime: rt.reason ?? null, check: {}, prefill: [], decode: [], memory: [], ortWhy: null };
  const { model, why } = await ortSession(files, 1);
  if (why) {
    out.ortWhy = why;
    log(`  onnxruntime-web: not run: ${why}`);
  }
  try {
    // --- correctness: the PyTorch reference dump (its listed rows) -----------------------------------------
    const pcErr = [], ortErr = [];
    for (const p of ref.prompts) {
      pcErr.push(refErr(await lm.forward(p.tokens), p, V));
      if (model) ortErr.push(refErr((await model.prefill(p.tokens)).logits, p, V));
    }
    const G = ref.greedy, n = G.continuation.length;
    const g = await pcGreedy(lm, G.prompt, n);
    const og = model ? await ortGreedy(model, G.prompt, n, V) : undefined;
    out.check = {
      pcpressVsReference: Math.max(...pcErr), ortVsReference: model ? Math.max(...ortErr) : null,
      pcpressGreedy: greedyOk(g.toks, G), ortGreedy: og ? greedyOk(og.toks, G) : null,
      prompts: ref.prompts.length, rows: ref.prompts.reduce((a, p) => a + p.rows.length, 0), promptTokens: ref.prompts.map((p) => p.tokens.length),
      greedyTokens: n, greedyChecked: G.checked, margins: G.margins ?? null, greedyPrompt: G.prompt.length,
      reference: G.continuation, pcpressTokens: g.toks, ortTokens: og?.toks ?? null,
      pcpressVsOrt: model ? rowsErr(g.rows, og.rows) : null,
    };
    log(`  reference: pcpress err ${fmt(out.check.pcpressVsReference)}, ort err ${fmt(out.check.ortVsReference)}, greedy (first ${G.checked} of ${n} steps) pcpress ${out.check.pcpressGreedy} ort ${out.check.ortGreedy}`);

    const M = MODEL;
    Object.assign(out, await benchTimes({
      lm, model, files, quick, log, tag: 'wasm 1 thread',
      prefillSizes: quick ? M.prefillQuick : M.prefill, decodeSizes: quick ? M.decodeQuick : M.decode,
    }));

    // --- memory: K/V bytes held after the prefill at each budget -------------------------------------------
    // a prompt long enough that even 10 % is above the observation window (32), which the window methods pin
    const N = M.memoryPrompt;
    const prompt = promptIds(files, N, V, 5);
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

/** The sizes timed with N threads each (a subset: the 1-thread part has them all). */
function threadSizes(quick) {
  const M = MODEL;
  return quick
    ? { prefillSizes: M.prefillQuick.slice(-1), decodeSizes: M.decodeQuick }
    : { prefillSizes: M.prefill.slice(-2), decodeSizes: [M.decode[Math.min(1, M.decode.length - 1)]] };
}

/** In a child process: pcpress `threads: N` vs ORT numThreads N, prefill and decode. */
async function benchWasmThreads(threads, { quick, modelName, onnxPath, onnxWhy, log }) {
  MODEL = MODELS[modelName];
  const files = loadFiles(MODEL, { onnxPath, onnxWhy });
  await tokenizeHeldout(MODEL, files);
  const pc = await import('pcpress');
  const rt = await wasmRuntime(pc, threads);
  const lm = await pc.loadTransformer(rt, { config: files.config, weights: files.weights });
  const out = { threads, runtime: rt.reason ?? null, ortWhy: null };
  const { model, why } = await ortSession(files, threads);
  if (why) out.ortWhy = why;
  try {
    Object.assign(out, await benchTimes({ lm, model, files, quick, log, tag: `wasm ${threads} threads`, ...threadSizes(quick) }));
  } finally {
    lm.dispose();
    rt.destroy();
  }
  return out;
}

/** Runs benchWasmThreads in a child process (a fresh ORT thread count); its log lines go to `log`. */
async function benchWasmThreadsChild(threads, options, log) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ threads, ...options })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { for (const line of String(d).split('\n')) if (line.trim()) log(line); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  const last = out.trim().split('\n').pop();
  if (code !== 0 || !last) throw new Error(`the ${threads}-thread lm child exited with ${code}`);
  return JSON.parse(last);
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
  out.info = { webgpu: lg.info, wasm: lc.info };
  try {
    const V = lg.config.vocabSize, ref = files.ref;
    const g = await pcGreedy(lg, ref.greedy.prompt, ref.greedy.continuation.length);
    const errs = [];
    for (const p of ref.prompts) errs.push(refErr(await lg.forward(p.tokens), p, V));
    out.check = { vsReference: Math.max(...errs), greedy: greedyOk(g.toks, ref.greedy), greedyChecked: ref.greedy.checked, tokens: g.toks };
    log(`  webgpu: err ${fmt(out.check.vsReference)} vs the reference, greedy ${out.check.greedy}`);
    for (const S of quick ? MODEL.webgpuPrefill.slice(0, 1) : MODEL.webgpuPrefill) {
      const ids = promptIds(files, S, V, 100 + S);
      const t = await timePrefill([{ name: 'webgpu', fn: () => lg.forward(ids) }, { name: 'wasm', fn: () => lc.forward(ids) }], quick ? 3 : 5);
      const r = { S, tokensPerS: { webgpu: (S * 1000) / t.webgpu.medianMs, wasm: (S * 1000) / t.wasm.medianMs }, errVsWasm: maxRelDiff(t.webgpu.last, t.wasm.last) };
      out.prefill.push(r);
      log(`  webgpu prefill S=${S}: webgpu ${fmt(r.tokensPerS.webgpu)} tok/s, wasm ${fmt(r.tokensPerS.wasm)} tok/s`);
    }
    const [P, N0] = MODEL.webgpuDecode, N = quick ? Math.min(8, N0) : N0, prompt = promptIds(files, P, V, 7 + P);
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
    let k = 0;
    while (k < N && gr.toks[k] === cr.toks[k]) k++;
    out.decode.push({ prompt: P, newTokens: N, tokensPerS: { webgpu: 1000 / median(gm), wasm: 1000 / median(cm) }, sameTokens: same, sameSteps: k,
      errVsWasm: rowsErr(gr.rows.slice(0, Math.min(N, k + 1)), cr.rows.slice(0, Math.min(N, k + 1))) });
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
  const [P, N0] = MODEL.webgpuDecode, N = quick ? Math.min(8, N0) : N0, prompt = promptIds(files, P, V, 7 + P);
  for (const weightDtype of ['f32', 'auto', 'f16']) {
    const lm = await pc.loadTransformer(gpu, { config: files.config, weights: files.weights, weightDtype });
    try {
      let err = 0;
      for (const p of ref.prompts) err = Math.max(err, refErr(await lm.forward(p.tokens), p, V));
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
 * The model's ONNX export: the committed file, or (bundled model) .cache/lm/<name>.onnx, written by
 * scripts/export-lm-onnx.py when missing or older than the safetensors file or the script. Returns { path, status }
 * or { path, why } when it cannot be had (python3-torch missing, export failed).
 */
function ensureOnnx(M, log) {
  if (M.onnx) return { path: M.onnx, status: 'committed' };
  const out = `${M.onnxCache}.onnx`, abs = path.join(repoRoot, out);
  const script = 'scripts/export-lm-onnx.py';
  const newest = Math.max(fs.statSync(path.join(repoRoot, M.dir, 'model.safetensors')).mtimeMs, fs.statSync(path.join(repoRoot, script)).mtimeMs);
  if (fs.existsSync(abs) && fs.statSync(abs).mtimeMs >= newest) return { path: out, status: `cached (${out}, newer than the safetensors file and ${script})` };
  const stale = fs.existsSync(abs) ? 'older than the safetensors file or the script' : 'missing';
  log(`  ${out} is ${stale}: exporting with /usr/bin/python3 ${script} ${M.dir} ${M.onnxCache} ...`);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/python3', [script, M.dir, M.onnxCache], { cwd: repoRoot, encoding: 'utf8' });
  const secs = (performance.now() - t0) / 1000;
  if (r.error || r.status !== 0) {
    const last = (r.error?.message ?? r.stderr ?? '').trim().split('\n').pop();
    const why = `${script} could not export ${M.dir} (it needs Debian's python3-torch: apt-get install python3-torch): ${last || `exit ${r.status}`}`;
    log(`  ${why}`);
    return { path: out, why };
  }
  log(`  exported ${out} in ${secs.toFixed(1)} s`);
  return { path: out, status: `exported now (${out} was ${stale}; ${secs.toFixed(1)} s)` };
}

/** The model's files: config, weights, reference (normalized), ONNX bytes (or why not), held-out prompt tokens. */
function loadFiles(M, { onnxPath, onnxWhy } = {}) {
  const read = (f) => new Uint8Array(fs.readFileSync(path.join(repoRoot, f)));
  const config = read(`${M.dir}/config.json`), cfg = JSON.parse(new TextDecoder().decode(config));
  const files = {
    config, cfg, weights: read(`${M.dir}/model.safetensors`),
    ref: normalizeReference(JSON.parse(fs.readFileSync(path.join(repoRoot, M.reference), 'utf8')), cfg.vocab_size),
    onnxPath, onnx: onnxPath && !onnxWhy ? read(onnxPath) : null, onnxWhy,
  };
  const heldout = path.join(repoRoot, M.dir, 'heldout.txt');
  if (M.trained && fs.existsSync(heldout)) files.heldoutText = fs.readFileSync(heldout, 'utf8');
  return files;
}

/** Tokenizes the held-out text with the model's tokenizer (pcpress's loadTokenizer). */
async function tokenizeHeldout(M, files) {
  if (!files.heldoutText) return;
  const pc = await import('pcpress');
  const tk = pc.loadTokenizer(new Uint8Array(fs.readFileSync(path.join(repoRoot, M.dir, 'tokenizer.json'))));
  files.heldout = tk.encode(files.heldoutText);
  files.bos = files.cfg.bos_token_id ?? 0;
}

/**
 * Runs the bench. Flags: --quick (fewer sizes and repeats), --no-wasm, --no-webgpu.
 * Returns { markdown, json, ok }; ok is false when a logit error exceeds TOLERANCE or greedy tokens differ from the reference.
 */
export async function run({ flags = [], log = console.log } = {}) {
  const quick = flags.includes('--quick');
  const modelName = flags.find((f) => f.startsWith('--model='))?.slice(8) ?? (flags.includes('--fixture') ? 'fixture' : 'tiny');
  if (!MODELS[modelName]) throw new Error(`--model=${modelName}: one of ${Object.keys(MODELS).join(', ')}`);
  MODEL = MODELS[modelName];
  const started = performance.now();
  const onnx = ensureOnnx(MODEL, log);
  const files = loadFiles(MODEL, { onnxPath: onnx.path, onnxWhy: onnx.why });
  await tokenizeHeldout(MODEL, files);
  const json = {
    bench: 'lm', date: new Date().toISOString(), quick, modelName, model: MODEL, onnx, machine: machineInfo(),
    versions: { pcpress: packageVersion('pcpress'), 'onnxruntime-web': packageVersion('onnxruntime-web'), webgpu: packageVersion('webgpu'), node: process.versions.node },
    wasm: null, wasmThreads: null, webgpu: null, notRun: {},
  };
  if (onnx.why) json.notRun['onnxruntime-web'] = onnx.why;
  if (!flags.includes('--no-wasm')) json.wasm = await benchWasm({ quick, log, files });
  else json.notRun.wasm = 'skipped by --no-wasm';
  if (!flags.includes('--no-wasm') && !flags.includes('--no-threads')) {
    log('lm / wasm, 2 threads each: pcpress threads 2 vs onnxruntime-web numThreads 2 (child process)...');
    try {
      json.wasmThreads = await benchWasmThreadsChild(2, { quick, modelName, onnxPath: onnx.path, onnxWhy: onnx.why }, log);
    } catch (e) {
      json.notRun['wasm 2 threads'] = `the 2-thread part failed: ${e?.message ?? e}`;
      log(json.notRun['wasm 2 threads']);
    }
  } else json.notRun['wasm 2 threads'] = flags.includes('--no-threads') ? 'skipped by --no-threads' : 'skipped by --no-wasm';
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
  const wt = json.wasmThreads;
  if (wt) {
    for (const r of wt.prefill) if (r.errVsOrt !== undefined && !(r.errVsOrt <= TOLERANCE)) failures.push(`${wt.threads} threads prefill S=${r.S}: pcpress vs ORT ${fmt(r.errVsOrt)}`);
    for (const r of wt.decode) if (r.errVsOrt !== undefined && !(r.errVsOrt <= TOLERANCE)) failures.push(`${wt.threads} threads decode P=${r.prompt}: pcpress vs ORT ${fmt(r.errVsOrt)}`);
  }
  // the issue's target: decode tokens/s at least onnxruntime-web's (same thread count); reported, not a failure
  json.targets = [];
  for (const part of [w, wt]) {
    for (const r of part?.decode ?? []) {
      if (r.tokensPerS.ort === undefined) continue;
      const ratio = r.tokensPerS.pcpress / r.tokensPerS.ort;
      json.targets.push({ threads: part.threads, prompt: r.prompt, newTokens: r.newTokens, pcpress: r.tokensPerS.pcpress, ort: r.tokensPerS.ort, ratio, met: ratio >= 1 });
    }
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
  json.seconds = +((performance.now() - started) / 1000).toFixed(1);
  json.loadavgEnd = (await import('node:os')).loadavg().map((x) => +x.toFixed(2));
  const ortName = (r) => r.tokensPerS.ort ? `${fmt(r.tokensPerS.pcpress / r.tokensPerS.ort)}x` : '–';
  const md = ['# lm bench: a transformer end to end', ''];
  if (!MODEL.trained) {
    md.push(`> **This is ${MODEL.about}, with random weights.** It has a few thousand parameters per layer, so every call is a` +
      ' handful of tiny kernels and the times below measure per-call overhead (dispatch, JS, reads), not matmul throughput.' +
      ' These numbers check the infrastructure (loading, the ONNX export, logits agreement, KV-cache accounting); they are' +
      ' **not** the target measurement of issue 12: run without `--model=fixture` for the trained model.', '');
  }
  md.push(`Model: ${MODEL.about}. pcpress loads \`${MODEL.dir}\` (config.json, model.safetensors); onnxruntime-web runs \`${onnx.path}\`` +
    ` (written by \`scripts/export-lm-onnx.py\`, opset 17, weights stored as in the safetensors file, computing in float32; ${onnx.why ? `NOT AVAILABLE: ${onnx.why}` : onnx.status}).` +
    (files.heldout ? ` Timed prompts: BOS + consecutive tokens of the held-out text (${files.heldout.length} tokens), from a fixed offset per length.` : ' Timed prompts: seeded random token ids.'),
    `Machine: ${m.cpuModel} (${m.nproc} cores, shared with other work), ${m.memGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadavg.join(' ')} at the start, ${json.loadavgEnd.join(' ')} at the end (took ${json.seconds} s).`,
    `Versions: pcpress ${json.versions.pcpress}, onnxruntime-web ${json.versions['onnxruntime-web']}, webgpu (Dawn for Node) ${json.versions.webgpu}.${quick ? ' Run with --quick.' : ''}`, '');
  if (json.targets.length) {
    md.push('## Target (issue 12): pcpress decode tokens/s at least onnxruntime-web\'s (wasm, same thread count)', '');
    md.push(markdownTable(['threads each', 'prompt', 'new tokens', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'target'],
      json.targets.map((t) => [t.threads, t.prompt, t.newTokens, fmt(t.pcpress), fmt(t.ort), `${fmt(t.ratio)}x`, t.met ? 'met' : '**not met**'])));
    md.push('', `Met on ${json.targets.filter((t) => t.met).length} of ${json.targets.length} rows.`, '');
  }
  if (w) {
    const c = w.check;
    md.push('## wasm, one thread: pcpress vs onnxruntime-web', '');
    md.push(`pcpress runtime: ${w.runtime}. onnxruntime-web: wasm execution provider, \`numThreads = 1\`, no proxy worker${w.ortWhy ? ` (**not run**: ${w.ortWhy})` : ''}.`, '');
    md.push(`Against the PyTorch reference (float64, \`${MODEL.reference}\`: ${c.prompts} prompts of ${c.promptTokens.join(' and ')} tokens, ${c.rows} rows listed): pcpress max error ${fmt(c.pcpressVsReference)}, ` +
      `onnxruntime-web ${c.ortVsReference === null ? 'not run' : fmt(c.ortVsReference)} (max over the listed rows of max |x - ref| / max |ref|; tolerance ${TOLERANCE}). ` +
      `Greedy decode of a ${c.greedyPrompt}-token prompt, ${c.greedyTokens} tokens` +
      (c.greedyChecked < c.greedyTokens ? `, checked on the first ${c.greedyChecked} (the steps before the first whose top-2 margin in PyTorch is under ${CLEAR_MARGIN}, where float32 rounding may pick the other token; margins ${c.margins.join(', ')})` : '') +
      `: equal to the reference for pcpress ${c.pcpressGreedy ? 'yes' : 'NO'}, onnxruntime-web ${c.ortGreedy === null ? 'not run' : c.ortGreedy ? 'yes' : 'NO'}` +
      ` (reference [${c.reference}], pcpress [${c.pcpressTokens}]${c.ortTokens ? `, onnxruntime-web [${c.ortTokens}]` : ''}; step logits pcpress vs onnxruntime-web ${fmt(c.pcpressVsOrt)}).`, '');
    md.push('### Prefill (`lm.forward`: logits of every position)', '');
    md.push('Interleaved calls (pcpress, ort, pcpress, ...), tokens/s from the median; the fastest call is shown too, since other' +
      ' processes on the shared cores make single calls noisy (every sample is in lm.json).', '');
    md.push(markdownTable(['tokens', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'median ms (pcpress, ort)', 'fastest ms (pcpress, ort)', 'logits pcpress vs ort'],
      w.prefill.map((r) => [r.S, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), ortName(r),
        `${fmt(r.pcpressMs)}, ${fmt(r.ortMs)}`, `${fmt(r.pcpressMinMs)}, ${fmt(r.ortMinMs)}`, fmt(r.errVsOrt)])));
    md.push('', '### Greedy decode (tokens after the first, which comes from the prefill)', '');
    md.push('pcpress: `lm.generate(prompt, { maxNewTokens })`, one `rt.decode` pass per token over per-layer `KVCache`s, timed from the first' +
      ' yielded token to the last. onnxruntime-web: one `session.run` per token with `input_ids` [1, 1] and the previous step\'s' +
      ' `present_key/value` as `past_key/value` (its KV cache is the graph\'s Concat), argmax in JS, the same timing.' +
      ' Median over interleaved runs (pcpress, ort, pcpress, ...) after one warm-up run each. "same tokens": the greedy tokens agree' +
      ' (else how many leading steps do); the logit error is over the steps up to and including the first differing one.', '');
    const same = (r) => r.sameTokens === undefined ? '–' : r.sameTokens ? 'yes' : `first ${r.sameSteps}`;
    md.push(markdownTable(['prompt', 'new tokens', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'same tokens', 'step logits pcpress vs ort'],
      w.decode.map((r) => [r.prompt, r.newTokens, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), ortName(r), same(r), fmt(r.errVsOrt)])));
    if (wt) {
      md.push('', '## wasm, two threads each (child process): pcpress `threads: 2` vs onnxruntime-web `numThreads = 2`', '');
      md.push(`pcpress runtime: ${wt.runtime}.${wt.ortWhy ? ` onnxruntime-web **not run**: ${wt.ortWhy}.` : ''} Same method as above, on a subset of the sizes.` +
        ` This machine has ${m.nproc} cores shared with other work (load average above), so two threads each compete with that load.`, '');
      md.push(markdownTable(['work', 'pcpress tok/s', 'ort tok/s', 'pcpress / ort', 'logits pcpress vs ort'], [
        ...wt.prefill.map((r) => [`prefill ${r.S} tokens`, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), ortName(r), fmt(r.errVsOrt)]),
        ...wt.decode.map((r) => [`decode ${r.newTokens} after ${r.prompt} (same tokens: ${same(r)})`, fmt(r.tokensPerS.pcpress), fmt(r.tokensPerS.ort), ortName(r), fmt(r.errVsOrt)]),
      ]));
    }
    md.push('', `### KV cache memory after the prefill (${w.memory[0]?.prompt}-token prompt)`, '');
    md.push(`f32 keys and values: tokens held x headDim (${JSON.parse(new TextDecoder().decode(files.config)).head_dim ?? '?'}) x 4 bytes x 2, summed over layers and KV heads;` +
      ' each token also keeps its position (4 bytes). After eviction the caches are compacted to exactly what they hold.' +
      ' snapkv and defensivekv (head-adaptive) give each layer the same total, layer-defensivekv (global) one total over all layers,' +
      ' so the bytes are equal at a budget; the window methods never keep fewer than the observation window (32 here).' +
      ` Weights for comparison: ${(files.weights.length / 1e6).toFixed(2)} MB safetensors file.`, '');
    md.push(markdownTable(['cache', 'method', 'budget per KV head', 'tokens held (all layers, heads)', 'per head min-max', 'K+V bytes', 'positions bytes'],
      w.memory.map((r) => [r.keep === 1 ? 'full' : `${Math.round(r.keep * 100)}%`, r.method, r.budgetPerHead, r.tokens, `${r.minPerHead}-${r.maxPerHead}`, r.kvBytes.toLocaleString('en-US'), r.positionBytes.toLocaleString('en-US')])));
    md.push('');
  }
  if (gp) {
    md.push('## WebGPU vs wasm (pcpress, same model)', '');
    md.push(`Adapter: ${gp.adapter}${gp.software ? ' (software: WebGPU emulated on the CPU, for correctness, not speed: **these times say nothing about GPU speed**)' : ''}.` +
      ` Both load the model with the default weightDtype 'auto': on WebGPU linear weights ${gp.info.webgpu.linearDtype} stored ${gp.info.webgpu.linearStorage} (${gp.info.webgpu.weightBytes.toLocaleString('en-US')} weight bytes on the device),` +
      ` on wasm ${gp.info.wasm.linearStorage} (${gp.info.wasm.weightBytes.toLocaleString('en-US')} bytes).` +
      ` Against the reference: error ${fmt(gp.check.vsReference)}, greedy tokens (first ${gp.check.greedyChecked} steps) ${gp.check.greedy ? 'equal' : 'DIFFERENT'}.`, '');
    md.push(markdownTable(['work', 'webgpu tok/s', 'wasm tok/s', 'webgpu / wasm', 'logits webgpu vs wasm'], [
      ...gp.prefill.map((r) => [`prefill ${r.S} tokens`, fmt(r.tokensPerS.webgpu), fmt(r.tokensPerS.wasm), `${fmt(r.tokensPerS.webgpu / r.tokensPerS.wasm)}x`, fmt(r.errVsWasm)]),
      ...gp.decode.map((r) => [`decode ${r.newTokens} after ${r.prompt}`, fmt(r.tokensPerS.webgpu), fmt(r.tokensPerS.wasm), `${fmt(r.tokensPerS.webgpu / r.tokensPerS.wasm)}x`, r.sameTokens ? fmt(r.errVsWasm) : `${fmt(r.errVsWasm)} (tokens agree on the first ${r.sameSteps})`]),
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
      md.push(MODEL.trained
        ? 'The model with each `weightDtype` (`lm.info`; its linear weights are all F16 in the file, so \'auto\' keeps them 16-bit where the adapter allows):'
        : 'The model with each `weightDtype` (`lm.info`; the fixture mixes F32, F16 and BF16 linear weights, so \'auto\' keeps only the F16 ones 16-bit):', '');
      md.push(markdownTable(['weightDtype', 'linear weights', 'stored', 'weight bytes (device)', 'logits vs reference', 'decode tok/s'],
        Object.entries(fw.model).map(([name, r]) => [name, r.info.linearDtype, r.info.linearStorage, r.info.weightBytes.toLocaleString('en-US'), fmt(r.errVsReference), fmt(r.decodeTokensPerS)])));
      md.push('');
    }
  }
  for (const [k, v] of Object.entries(json.notRun)) md.push(`- ${k}: not run: ${v}`);
  md.push(failures.length ? `**Checks failed:** ${failures.join('; ')}` : `All logit checks within ${TOLERANCE}; greedy tokens equal to the reference on the checked steps.`);
  return { markdown: md.join('\n'), json, ok: failures.length === 0 };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  const { threads, ...options } = JSON.parse(process.argv[3]);
  const res = await benchWasmThreads(threads, { ...options, log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(0); // ORT's worker threads would keep the child alive
}
