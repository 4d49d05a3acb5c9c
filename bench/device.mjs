#!/usr/bin/env node
// A time-bounded bench for one short call on a GPU machine (scripts/device-bench.sh runs it there):
//   adapter    what Dawn (npm "webgpu") finds for each power preference, and whether createRuntime({ backend: 'webgpu' }) starts;
//   gpu-matmul pcpress WebGPU vs pcpress wasm (all cores) on square f32 matmuls and one skinny shape;
//   attention  pcpress WebGPU vs pcpress wasm (all cores): causal GQA prefill and single-query decode over a long cache;
//   threads-N  pcpress wasm matmul with threads: N next to onnxruntime-web (wasm EP, numThreads = N), and pcpress
//              attention prefill / decode on N threads; one child per N.
// Every section runs in its own child process with an absolute deadline (checked before each measurement; the
// parent kills a child 8 s past it), so a native crash or a hang costs one section. Rows stream to the parent
// as they are measured and the JSON file is rewritten after every section, so a kill keeps what was done.
// Every output is checked against an f64 reference on sampled rows, and GPU outputs against the wasm ones.
//
// usage: node bench/device.mjs [--out FILE] [--quick] [--budget SECONDS] [--only adapter,gpu-matmul,attention,threads]
//   --quick: small sizes (software adapters, small machines); default budget 120 s (--quick: 90 s).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomF32, median, fmt, markdownTable, attentionRefRow } from './lib.mjs';
import { machineInfo, packageVersion, repoRoot } from './env.mjs';
import { matmulModel } from './onnx.mjs';

const SELF = fileURLToPath(import.meta.url);

/** Version of an installed package; reads node_modules/<name>/package.json when resolution fails (the device's trimmed copies). */
function pkgVersion(name) {
  const v = packageVersion(name);
  if (v !== 'not installed') return v;
  try {
    return JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return v;
  }
}
const EVENT = '@@device ';
const GRACE_MS = 8000;
/** Largest accepted error: max |x - ref| / max |ref| over the sampled rows (f64 reference). */
const TOLERANCE = 1e-4;

// ---------------------------------------------------------------------------------------------
// Sizes. Full: the GPU machine. Quick: a software adapter on a small box.

function config(quick) {
  const cores = Math.min(16, os.availableParallelism?.() ?? os.cpus().length);
  if (quick) {
    return {
      matmul: [[128, 128, 128], [256, 256, 256], [8, 512, 512]],
      prefill: { H: 8, KH: 2, Ds: [64], Ss: [128, 256] },
      decode: { H: 8, KH: 2, Ds: [64], Ls: [1024, 4096] },
      threads: { Ns: [1, 2], sizes: [128, 256], attn: { H: 8, KH: 2, D: 64, S: 256, L: 4096 } },
      cores,
    };
  }
  const Ns = [1, 2, 4, 8, 16].filter((n) => n <= Math.max(2, cores));
  return {
    matmul: [[512, 512, 512], [1024, 1024, 1024], [2048, 2048, 2048], [4096, 4096, 4096], [8, 4096, 4096]],
    prefill: { H: 32, KH: 8, Ds: [64, 128], Ss: [1024, 2048, 4096] },
    decode: { H: 32, KH: 8, Ds: [128], Ls: [8192, 32768] },
    threads: { Ns, sizes: [1024, 2048], attn: { H: 32, KH: 8, D: 128, S: 2048, L: 32768 } },
    cores,
  };
}

// ---------------------------------------------------------------------------------------------
// Child side: helpers.

function emit(ev) {
  process.stdout.write(`${EVENT}${JSON.stringify(ev)}\n`);
}
const note = (text) => emit({ type: 'note', text });

/** Error text with the error's class name (typed errors: BackendUnavailableError etc.). */
function errText(e) {
  return `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
}

/**
 * Times contenders interleaved, bounded by `deadline` (ms since epoch). A contender is { name, fn(iters) } where
 * fn runs the work `iters` times (GPU: enqueue iters, then wait) and resolves to the last result (or undefined).
 * `estMs`: expected ms of one call; the whole thing is skipped (returns null) when even warm-up + one sample cannot fit.
 */
async function timeIt(contenders, { warmup = 1, samples = 5, minSampleMs = 25, maxIters = 200, deadline, estMs = 0 }) {
  const remaining = () => deadline - Date.now();
  if (estMs * contenders.length * (warmup + 1) > remaining()) return null;
  const out = {};
  for (const c of contenders) {
    // warmup 0: the first call is timed and kept as a sample (for calls that take seconds).
    let per = Infinity, last;
    for (let i = 0; i < Math.max(1, warmup); i++) {
      const t0 = performance.now();
      last = await c.fn(1);
      per = Math.min(per, performance.now() - t0);
    }
    const iters = Math.max(1, Math.min(maxIters, Math.ceil(minSampleMs / Math.max(per, 1e-3))));
    out[c.name] = { iters: warmup ? iters : 1, samplesMs: warmup ? [] : [per], last, warmMs: per };
  }
  for (let s = warmup ? 0 : 1; s < samples; s++) {
    const round = contenders.reduce((t, c) => t + out[c.name].iters * out[c.name].warmMs, 0);
    if (s > 0 && round * 1.2 > remaining()) break;
    for (const c of contenders) {
      const o = out[c.name];
      const t0 = performance.now();
      const r = await c.fn(o.iters);
      o.samplesMs.push((performance.now() - t0) / o.iters);
      if (r !== undefined) o.last = r;
    }
  }
  for (const o of Object.values(out)) {
    if (!o.samplesMs.length) o.samplesMs.push(o.warmMs); // ran out of time: the warm-up call is all there is
    o.medianMs = median(o.samplesMs);
    o.samplesMs = o.samplesMs.map((x) => +x.toPrecision(4));
  }
  return out;
}

/** Scales the last measured time of a series to new work (for skipping what cannot finish in time). */
function predictor() {
  let w0 = 0, ms0 = 0;
  return {
    est: (w) => (w0 ? (ms0 * w) / w0 : 0),
    add: (w, ms) => {
      if (ms > 0) {
        w0 = w;
        ms0 = ms;
      }
    },
  };
}

/** Sampled row indices: first, last and 6 spread between (all rows when there are at most 8). */
function sampleIdx(m) {
  if (m <= 8) return Array.from({ length: m }, (_, i) => i);
  return [...new Set(Array.from({ length: 8 }, (_, t) => Math.round((t * (m - 1)) / 7)))];
}

/** f64 rows of A x B: [{ i, ref: Float64Array(n) }]. */
function matmulRefRows(a, b, m, k, n) {
  return sampleIdx(m).map((i) => {
    const ref = new Float64Array(n);
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p], bp = p * n;
      for (let j = 0; j < n; j++) ref[j] += av * b[bp + j];
    }
    return { off: i * n, ref };
  });
}

/** { rel, abs }: max |x - ref| over the sampled rows, and that over max |ref|. Infinity for NaN or a wrong length. */
function rowsErr(x, refs, len) {
  if (!x || x.length !== len) return { rel: Infinity, abs: Infinity };
  let num = 0, den = 0;
  for (const { off, ref } of refs) {
    for (let j = 0; j < ref.length; j++) {
      const d = Math.abs(x[off + j] - ref[j]);
      if (!(d <= Infinity)) return { rel: Infinity, abs: Infinity };
      if (d > num) num = d;
      const r = Math.abs(ref[j]);
      if (r > den) den = r;
    }
  }
  return { rel: den ? num / den : num, abs: num };
}

/** max |x - y| over all elements (Infinity on NaN or a length mismatch). */
function maxAbsDiff(x, y) {
  if (!x || !y || x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = d > m ? d : Infinity;
  }
  return m;
}

/** f64 causal attention of query row i of head h ([H][Sq][D]) at position pos over keys 0..pos of KV head h / (H / KH). */
function attnRefRow(q, k, v, h, i, Sq, Sk, D, pos, H, KH) {
  const g = Math.floor(h / (H / KH));
  const qo = (h * Sq + i) * D;
  const ref = attentionRefRow(q.subarray(qo, qo + D), (j) => k.subarray((g * Sk + j) * D, (g * Sk + j + 1) * D), v, (j) => (g * Sk + j) * D, D, pos);
  return { off: qo, ref };
}

const readAll = async (t) => {
  try {
    return await t.read();
  } finally {
    t.dispose();
  }
};

/** GPU "kernel" timing: enqueue `iters` ops, wait for the queue, free the outputs (nothing read back). */
function gpuBatch(rt, make) {
  const device = rt.impl.device;
  return async (iters) => {
    const outs = [];
    for (let i = 0; i < iters; i++) outs.push(make());
    await device.queue.onSubmittedWorkDone();
    for (const o of outs) o.dispose();
    return undefined;
  };
}

/** Runs fn(1), fn(iters) for tensors read back: returns the last array. */
function readLoop(make) {
  return async (iters) => {
    let last;
    for (let i = 0; i < iters; i++) last = await readAll(make());
    return last;
  };
}

function result(r, extra = {}) {
  return r ? { medianMs: +r.medianMs.toPrecision(5), iters: r.iters, samplesMs: r.samplesMs, ...extra } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Sections (child side).

/** What Dawn finds for each power preference / the fallback adapter, without pcpress, in this process. */
async function sectionAdapter({ deadline }) {
  emit({ type: 'info', key: 'env', value: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(VK_|__EGL|__GLX|LD_LIBRARY_PATH|NVIDIA_)/.test(k))) });
  let dawn;
  try {
    dawn = await import('webgpu');
    emit({ type: 'info', key: 'webgpuPackage', value: pkgVersion('webgpu') });
  } catch (e) {
    emit({ type: 'error', where: 'import webgpu', error: errText(e) });
  }
  if (dawn) {
    const gpu = dawn.create([]);
    for (const [label, opts] of [['high-performance', { powerPreference: 'high-performance' }], ['low-power', { powerPreference: 'low-power' }],
      ['default', undefined], ['forceFallbackAdapter', { forceFallbackAdapter: true }]]) {
      if (Date.now() > deadline) break;
      try {
        const a = await gpu.requestAdapter(opts);
        const i = a?.info ?? {};
        emit({ type: 'row', table: 'adapters', row: { request: label, found: !!a, vendor: i.vendor, architecture: i.architecture, device: i.device,
          description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? a?.isFallbackAdapter,
          subgroups: a ? a.features.has('subgroups') : undefined, shaderF16: a ? a.features.has('shader-f16') : undefined,
          maxStorageBufferBindingSize: a ? Number(a.limits.maxStorageBufferBindingSize) : undefined,
          maxComputeWorkgroupStorageSize: a ? Number(a.limits.maxComputeWorkgroupStorageSize) : undefined } });
      } catch (e) {
        emit({ type: 'row', table: 'adapters', row: { request: label, found: false, error: errText(e) } });
      }
    }
  }
  const { createRuntime } = await import('pcpress');
  for (const [label, opts] of [['webgpu high-performance', { backend: 'webgpu', powerPreference: 'high-performance' }], ['auto', {}]]) {
    try {
      const rt = await createRuntime(opts);
      const a = rt.info.adapter;
      emit({ type: 'row', table: 'runtimes', row: { options: label, backend: rt.backend, reason: rt.reason, software: a?.isSoftware,
        adapter: a ? [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ') : undefined, diagnostics: rt.diagnostics } });
      rt.destroy();
    } catch (e) {
      emit({ type: 'row', table: 'runtimes', row: { options: label, error: errText(e) } });
    }
  }
}

async function gpuRuntime(createRuntime) {
  const rt = await createRuntime({ backend: 'webgpu', powerPreference: 'high-performance' });
  const a = rt.info.adapter;
  emit({ type: 'info', key: 'gpuAdapter', value: { name: [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / '), software: a.isSoftware, reason: rt.reason } });
  if (a.isSoftware) note(`WARNING: the WebGPU adapter is a software one (${a.description || a.vendor}): GPU numbers are CPU numbers`);
  return rt;
}

/** pcpress WebGPU (kernel-only and with readback) vs pcpress wasm (all cores) on matmul. */
async function sectionGpuMatmul({ deadline, cfg }) {
  const { createRuntime } = await import('pcpress');
  let gpu;
  try {
    gpu = await gpuRuntime(createRuntime);
  } catch (e) {
    emit({ type: 'error', where: 'createRuntime webgpu', error: errText(e) });
  }
  const wasm = await createRuntime({ backend: 'wasm', threads: cfg.cores });
  emit({ type: 'info', key: 'wasmThreads', value: wasm.info.threads });
  const pg = predictor(), pr = predictor(), pw = predictor();
  for (const [m, k, n] of cfg.matmul) {
    if (Date.now() > deadline) {
      emit({ type: 'skip', what: `matmul ${m}x${k}x${n}`, why: 'section deadline' });
      continue;
    }
    const a = randomF32(m * k, 1000 + m * 7 + k), b = randomF32(k * n, 2000 + k * 7 + n), o = { m, k, n };
    const refs = matmulRefRows(a, b, m, k, n);
    const work = 2 * m * k * n;
    const row = { shape: `${m}x${k}x${n}`, m, k, n, flop: work };
    let gOut, wOut;
    if (gpu) {
      try {
        const ta = gpu.tensor(a, [m, k]), tb = gpu.tensor(b, [k, n]);
        const t = await timeIt([
          { name: 'kernel', fn: gpuBatch(gpu, () => gpu.matmul(ta, tb, o)) },
          { name: 'readback', fn: readLoop(() => gpu.matmul(ta, tb, o)) },
        ], { warmup: 2, samples: 7, minSampleMs: 30, deadline, estMs: pr.est(work) });
        if (t) {
          gOut = t.readback.last;
          pg.add(work, t.kernel.medianMs);
          pr.add(work, t.readback.medianMs);
          row.gpuKernel = result(t.kernel, { gflops: work / t.kernel.medianMs / 1e6 });
          row.gpuReadback = result(t.readback, { gflops: work / t.readback.medianMs / 1e6 });
          row.gpuErr = rowsErr(gOut, refs, m * n);
        } else row.gpuSkipped = 'would not finish before the section deadline';
        ta.dispose();
        tb.dispose();
      } catch (e) {
        row.gpuError = errText(e);
      }
    }
    try {
      const ta = wasm.tensor(a, [m, k]), tb = wasm.tensor(b, [k, n]);
      const t = await timeIt([{ name: 'wasm', fn: readLoop(() => wasm.matmul(ta, tb, o)) }],
        { warmup: 1, samples: 5, minSampleMs: 30, deadline, estMs: pw.est(work) });
      if (t) {
        wOut = t.wasm.last;
        pw.add(work, t.wasm.medianMs);
        row.wasm = result(t.wasm, { gflops: work / t.wasm.medianMs / 1e6, threads: wasm.info.threads });
        row.wasmErr = rowsErr(wOut, refs, m * n);
      } else row.wasmSkipped = 'would not finish before the section deadline';
      ta.dispose();
      tb.dispose();
    } catch (e) {
      row.wasmError = errText(e);
    }
    if (gOut && wOut) row.gpuVsWasmMaxAbs = maxAbsDiff(gOut, wOut);
    emit({ type: 'row', table: 'matmul', row });
  }
  gpu?.destroy();
  wasm.destroy();
}

/** pcpress WebGPU vs pcpress wasm: causal GQA prefill and one-query decode. */
async function sectionAttention({ deadline, cfg }) {
  const { createRuntime } = await import('pcpress');
  let gpu;
  try {
    gpu = await gpuRuntime(createRuntime);
  } catch (e) {
    emit({ type: 'error', where: 'createRuntime webgpu', error: errText(e) });
  }
  const wasm = await createRuntime({ backend: 'wasm', threads: cfg.cores });
  emit({ type: 'info', key: 'wasmThreads', value: wasm.info.threads });
  const half = Date.now() + (deadline - Date.now()) * 0.72; // prefill first, decode gets the rest
  const { H, KH } = cfg.prefill;
  const pgpu = predictor(), pwasm = predictor();
  for (const D of cfg.prefill.Ds) {
    for (const S of cfg.prefill.Ss) {
      if (Date.now() > half) {
        emit({ type: 'skip', what: `prefill S=${S} D=${D}`, why: 'prefill deadline' });
        continue;
      }
      const q = randomF32(H * S * D, 11 + S + D), k = randomF32(KH * S * D, 12 + S + D), v = randomF32(KH * S * D, 13 + S + D);
      const refs = sampleIdx(S).map((i, t) => attnRefRow(q, k, v, (t * 5) % H, i, S, S, D, i, H, KH));
      const opts = { numHeads: H, numKvHeads: KH, headDim: D, causal: true };
      const flop = 4 * H * D * (S * (S + 1)) / 2; // QK^T and PV over the causal triangle
      const row = { S, D, H, KH, flop };
      let gOut, wOut;
      if (gpu) {
        try {
          const tq = gpu.tensor(q), tk = gpu.tensor(k), tv = gpu.tensor(v);
          const t = await timeIt([
            { name: 'kernel', fn: gpuBatch(gpu, () => gpu.attention(tq, tk, tv, opts)) },
            { name: 'readback', fn: readLoop(() => gpu.attention(tq, tk, tv, opts)) },
          ], { warmup: 2, samples: 5, minSampleMs: 30, deadline: half, estMs: pgpu.est(flop) });
          if (t) {
            gOut = t.readback.last;
            pgpu.add(flop, t.readback.medianMs);
            row.gpuKernel = result(t.kernel, { tokensPerS: S / (t.kernel.medianMs / 1000), gflops: flop / t.kernel.medianMs / 1e6 });
            row.gpuReadback = result(t.readback, { tokensPerS: S / (t.readback.medianMs / 1000) });
            row.gpuErr = rowsErr(gOut, refs, q.length);
          } else row.gpuSkipped = 'would not finish before the prefill deadline';
          for (const x of [tq, tk, tv]) x.dispose();
        } catch (e) {
          row.gpuError = errText(e);
        }
      }
      try {
        const tq = wasm.tensor(q), tk = wasm.tensor(k), tv = wasm.tensor(v);
        const big = flop > 1e9 * wasm.info.threads; // a second or more a call: no separate warm-up call
        const t = await timeIt([{ name: 'wasm', fn: readLoop(() => wasm.attention(tq, tk, tv, opts)) }],
          { warmup: big ? 0 : 1, samples: big ? 2 : 3, minSampleMs: 20, maxIters: 20, deadline: half, estMs: pwasm.est(flop) });
        if (t) {
          wOut = t.wasm.last;
          pwasm.add(flop, t.wasm.medianMs);
          row.wasm = result(t.wasm, { tokensPerS: S / (t.wasm.medianMs / 1000), gflops: flop / t.wasm.medianMs / 1e6, threads: wasm.info.threads });
          row.wasmErr = rowsErr(wOut, refs, q.length);
        } else row.wasmSkipped = `would not finish before the prefill deadline (estimated ${fmt(pwasm.est(flop) / 1000)} s a call)`;
        for (const x of [tq, tk, tv]) x.dispose();
      } catch (e) {
        row.wasmError = errText(e);
      }
      if (gOut && wOut) row.gpuVsWasmMaxAbs = maxAbsDiff(gOut, wOut);
      emit({ type: 'row', table: 'prefill', row });
    }
  }
  const dc = cfg.decode;
  for (const D of dc.Ds) {
    for (const L of dc.Ls) {
      if (Date.now() > deadline) {
        emit({ type: 'skip', what: `decode L=${L} D=${D}`, why: 'section deadline' });
        continue;
      }
      const k = randomF32(dc.KH * L * D, 21 + L + D), v = randomF32(dc.KH * L * D, 22 + L + D), q = randomF32(dc.H * D, 23 + L + D);
      const refs = Array.from({ length: dc.H }, (_, h) => attnRefRow(q, k, v, h, 0, 1, L, D, L - 1, dc.H, dc.KH));
      const opts = { numHeads: dc.H, causal: true };
      const bytes = 2 * dc.KH * L * D * 4; // K and V read once per step
      const row = { L, D, H: dc.H, KH: dc.KH, kvBytes: bytes };
      let gOut, wOut;
      for (const [name, rt] of [['gpu', gpu], ['wasm', wasm]]) {
        if (!rt) continue;
        try {
          const cache = rt.createKVCache({ numKvHeads: dc.KH, headDim: D, capacity: L });
          cache.append(k, v);
          const tq = rt.tensor(q);
          const contenders = [{ name: 'readback', fn: readLoop(() => rt.decode(tq, cache, opts)) }];
          if (name === 'gpu') contenders.unshift({ name: 'kernel', fn: gpuBatch(rt, () => rt.decode(tq, cache, opts)) });
          const t = await timeIt(contenders, { warmup: 2, samples: 5, minSampleMs: 25, maxIters: 500, deadline });
          if (t) {
            const out = t.readback.last;
            if (name === 'gpu') {
              gOut = out;
              row.gpuKernel = result(t.kernel, { stepsPerS: 1000 / t.kernel.medianMs, gbps: bytes / t.kernel.medianMs / 1e6 });
              row.gpuReadback = result(t.readback, { stepsPerS: 1000 / t.readback.medianMs });
              row.gpuErr = rowsErr(out, refs, q.length);
            } else {
              wOut = out;
              row.wasm = result(t.readback, { stepsPerS: 1000 / t.readback.medianMs, gbps: bytes / t.readback.medianMs / 1e6, threads: wasm.info.threads });
              row.wasmErr = rowsErr(out, refs, q.length);
            }
          } else row[`${name}Skipped`] = 'section deadline';
          tq.dispose();
          cache.dispose();
        } catch (e) {
          row[`${name}Error`] = errText(e);
        }
      }
      if (gOut && wOut) row.gpuVsWasmMaxAbs = maxAbsDiff(gOut, wOut);
      emit({ type: 'row', table: 'decode', row });
    }
  }
  gpu?.destroy();
  wasm.destroy();
}

/** pcpress wasm matmul with N threads next to onnxruntime-web with numThreads = N (ORT fixes it per process). */
async function sectionThreads({ deadline, cfg, threads: N }) {
  const { createRuntime } = await import('pcpress');
  const rt = await createRuntime({ backend: 'wasm', threads: N });
  emit({ type: 'info', key: `pcpress${N}`, value: { threads: rt.info.threads, reason: rt.reason } });
  let ort;
  try {
    ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = N;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
  } catch (e) {
    emit({ type: 'error', where: 'import onnxruntime-web', error: errText(e) });
  }
  const pred = predictor();
  for (const s of cfg.threads.sizes) {
    if (Date.now() > deadline) {
      emit({ type: 'skip', what: `threads ${N} matmul ${s}`, why: 'section deadline' });
      continue;
    }
    const m = s, k = s, n = s, o = { m, k, n }, work = 2 * m * k * n;
    const a = randomF32(m * k, 1000 + m * 7 + k), b = randomF32(k * n, 2000 + k * 7 + n);
    const refs = matmulRefRows(a, b, m, k, n);
    const row = { threads: N, size: s, flop: work };
    const ta = rt.tensor(a, [m, k]), tb = rt.tensor(b, [k, n]);
    const contenders = [{ name: 'pcpress', fn: readLoop(() => rt.matmul(ta, tb, o)) }];
    let sess;
    if (ort) {
      try {
        sess = await ort.InferenceSession.create(matmulModel(m, k, n, b), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
        const feeds = { A: new ort.Tensor('float32', a, [m, k]) };
        contenders.push({ name: 'ort', fn: async (iters) => { let r; for (let i = 0; i < iters; i++) r = (await sess.run(feeds)).C.data; return r; } });
      } catch (e) {
        row.ortError = errText(e);
      }
    }
    const t = await timeIt(contenders, { warmup: 1, samples: 5, minSampleMs: 40, deadline, estMs: pred.est(work) });
    if (t) {
      pred.add(work, Math.max(...Object.values(t).map((r) => r.medianMs)));
      for (const c of contenders) {
        row[c.name] = result(t[c.name], { gflops: work / t[c.name].medianMs / 1e6 });
        row[`${c.name}Err`] = rowsErr(t[c.name].last, refs, m * n);
      }
      if (t.ort) row.ortVsPcpressMaxAbs = maxAbsDiff(t.ort.last, t.pcpress.last);
    } else row.skipped = 'would not finish before the section deadline';
    emit({ type: 'row', table: 'threads', row });
    ta.dispose();
    tb.dispose();
    await sess?.release();
  }
  // Attention on the pool: causal GQA prefill, then one-query decode over a long cache (pcpress only: ORT's
  // GroupQueryAttention materialises seq x seq scores and is ~16x slower on one thread, bench/results/attention.md).
  const { H, KH, D, S, L } = cfg.threads.attn;
  if (Date.now() < deadline) {
    const q = randomF32(H * S * D, 11 + S + D), k = randomF32(KH * S * D, 12 + S + D), v = randomF32(KH * S * D, 13 + S + D);
    const refs = sampleIdx(S).map((i, t) => attnRefRow(q, k, v, (t * 5) % H, i, S, S, D, i, H, KH));
    const flop = 4 * H * D * (S * (S + 1)) / 2;
    const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
    const opts = { numHeads: H, numKvHeads: KH, headDim: D, causal: true };
    const big = flop > 1e10 * N;
    const t = await timeIt([{ name: 'p', fn: readLoop(() => rt.attention(tq, tk, tv, opts)) }], { warmup: big ? 0 : 1, samples: 3, minSampleMs: 20, maxIters: 20, deadline });
    emit({ type: 'row', table: 'threadsAttention', row: { threads: N, kind: 'prefill', S, D, H, KH, flop,
      ...(t ? { pcpress: result(t.p, { gflops: flop / t.p.medianMs / 1e6, tokensPerS: S / (t.p.medianMs / 1000) }), pcpressErr: rowsErr(t.p.last, refs, q.length) } : { skipped: 'section deadline' }) } });
    for (const x of [tq, tk, tv]) x.dispose();
  } else emit({ type: 'skip', what: `threads ${N} attention prefill`, why: 'section deadline' });
  if (Date.now() < deadline) {
    const k = randomF32(KH * L * D, 21 + L + D), v = randomF32(KH * L * D, 22 + L + D), q = randomF32(H * D, 23 + L + D);
    const refs = Array.from({ length: H }, (_, h) => attnRefRow(q, k, v, h, 0, 1, L, D, L - 1, H, KH));
    const bytes = 2 * KH * L * D * 4;
    const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: L });
    cache.append(k, v);
    const tq = rt.tensor(q);
    const t = await timeIt([{ name: 'p', fn: readLoop(() => rt.decode(tq, cache, { numHeads: H, causal: true })) }], { warmup: 1, samples: 5, minSampleMs: 25, maxIters: 200, deadline });
    emit({ type: 'row', table: 'threadsAttention', row: { threads: N, kind: 'decode', L, D, H, KH, kvBytes: bytes,
      ...(t ? { pcpress: result(t.p, { gbps: bytes / t.p.medianMs / 1e6, stepsPerS: 1000 / t.p.medianMs }), pcpressErr: rowsErr(t.p.last, refs, q.length) } : { skipped: 'section deadline' }) } });
    tq.dispose();
    cache.dispose();
  } else emit({ type: 'skip', what: `threads ${N} attention decode`, why: 'section deadline' });
  rt.destroy();
}

async function childMain(spec) {
  const cfg = config(spec.quick);
  const fn = { adapter: sectionAdapter, 'gpu-matmul': sectionGpuMatmul, attention: sectionAttention, threads: sectionThreads }[spec.section];
  try {
    await fn({ ...spec, cfg });
  } catch (e) {
    emit({ type: 'error', where: spec.section, error: `${errText(e)}\n${e?.stack ?? ''}` });
  }
  emit({ type: 'done' });
  process.exit(0); // worker threads (pool, ORT) would keep the process alive
}

// ---------------------------------------------------------------------------------------------
// Parent side.

/** Runs one section in a child; resolves to { info, rows: { table: [] }, errors, skipped, notes, seconds, exit }. */
function runSection(name, spec, deadline, log) {
  const sec = { info: {}, rows: {}, errors: [], skipped: [], notes: [], seconds: 0, exit: null };
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SELF, '--child', JSON.stringify({ ...spec, deadline })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '', done = false;
    const onLine = (line) => {
      if (!line.startsWith(EVENT)) {
        if (line.trim()) log(`  [${name}] ${line}`);
        return;
      }
      const ev = JSON.parse(line.slice(EVENT.length));
      if (ev.type === 'row') {
        (sec.rows[ev.table] ??= []).push(ev.row);
        log(`  [${name}] ${ev.table}: ${JSON.stringify(ev.row, (k, v) => (k === 'samplesMs' || k === 'diagnostics' ? undefined : typeof v === 'number' ? +v.toPrecision(4) : v))}`);
      } else if (ev.type === 'info') sec.info[ev.key] = ev.value;
      else if (ev.type === 'error') {
        sec.errors.push(`${ev.where}: ${ev.error}`);
        log(`  [${name}] ERROR ${ev.where}: ${ev.error}`);
      } else if (ev.type === 'skip') {
        sec.skipped.push(`${ev.what}: ${ev.why}`);
        log(`  [${name}] skipped ${ev.what}: ${ev.why}`);
      } else if (ev.type === 'note') {
        sec.notes.push(ev.text);
        log(`  [${name}] ${ev.text}`);
      } else if (ev.type === 'done') done = true;
    };
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    let errTail = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      errTail = (errTail + d).slice(-4000);
      for (const l of String(d).split('\n')) if (l.trim()) log(`  [${name} stderr] ${l}`);
    });
    const killAt = Math.max(1000, deadline + GRACE_MS - Date.now());
    const timer = setTimeout(() => {
      sec.errors.push(`killed ${GRACE_MS / 1000} s past the section deadline`);
      child.kill('SIGKILL');
    }, killAt);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (buf) onLine(buf);
      sec.exit = signal ?? code;
      sec.seconds = +((Date.now() - t0) / 1000).toFixed(1);
      if (!done) sec.errors.push(`the child ended without finishing (exit ${signal ?? code})${errTail ? `; stderr tail: ${errTail.slice(-1500)}` : ''}`);
      resolve(sec);
    });
  });
}

function nvidiaSmi() {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 });
  return r.error ? `not available: ${r.error.code ?? r.error.message}` : (r.stdout || r.stderr).trim();
}

function errCell(e) {
  if (!e) return '–';
  return `${fmt(e.rel, 2)}${e.rel <= TOLERANCE ? '' : ' **FAIL**'}`;
}
const g = (r) => (r ? fmt(r.gflops) : '–');
const why = (row, p) => row[`${p}Error`] ?? row[`${p}Skipped`];

function markdown(json) {
  const md = ['# pcpress device bench', ''];
  const m = json.machine;
  md.push(`Date ${json.date}, ${json.seconds ?? '?'} s${json.quick ? ' (--quick sizes)' : ''}. Machine: ${m.nproc} CPUs, ${m.cpuModel} (${m.cpuFlags}), ${m.memGiB} GiB, ${m.os}, node ${m.node}. GPU: ${json.nvidiaSmi}.`, '');
  md.push(`Versions: ${Object.entries(json.versions).map(([k, v]) => `${k} ${v}`).join(', ')}. Errors are max |x - ref| / max |ref| over sampled rows against f64 (FAIL over ${TOLERANCE}); "gpu-wasm" is max |gpu - wasm| over the whole output.`, '');
  const S = json.sections;
  if (S.adapter) {
    md.push('## WebGPU adapter', '');
    const rows = S.adapter.rows.adapters ?? [];
    if (rows.length) {
      md.push(markdownTable(['requestAdapter', 'found', 'vendor', 'architecture', 'description', 'fallback', 'subgroups', 'f16', 'max binding MiB'],
        rows.map((r) => [r.request, r.found ? 'yes' : r.error ?? 'no', r.vendor ?? '', r.architecture ?? '', r.description ?? '', r.isFallbackAdapter ?? '',
          r.subgroups ?? '', r.shaderF16 ?? '', r.maxStorageBufferBindingSize ? fmt(r.maxStorageBufferBindingSize / 2 ** 20) : ''])), '');
    }
    for (const r of S.adapter.rows.runtimes ?? []) md.push(`- createRuntime(${r.options}): ${r.error ? `**${r.error}**` : `${r.backend}: ${r.reason}`}`);
    md.push('');
  }
  if (S['gpu-matmul']) {
    const s = S['gpu-matmul'];
    md.push(`## matmul f32: WebGPU (${s.info.gpuAdapter?.name ?? 'no adapter'}) vs wasm (${s.info.wasmThreads ?? '?'} threads), GFLOP/s`, '');
    md.push('kernel = back-to-back dispatches on resident tensors, then queue.onSubmittedWorkDone (nothing read back); +readback = one matmul + reading C back; wasm = one matmul + copying C out.', '');
    md.push(markdownTable(['m x k x n', 'GPU kernel', 'GPU +readback', 'wasm', 'GPU kernel / wasm', 'err GPU', 'err wasm', 'gpu-wasm'],
      (s.rows.matmul ?? []).map((r) => [r.shape, r.gpuKernel ? g(r.gpuKernel) : why(r, 'gpu') ?? '–', g(r.gpuReadback), r.wasm ? g(r.wasm) : why(r, 'wasm') ?? '–',
        r.gpuKernel && r.wasm ? `${fmt(r.gpuKernel.gflops / r.wasm.gflops)}x` : '–', errCell(r.gpuErr), errCell(r.wasmErr), fmt(r.gpuVsWasmMaxAbs, 2)])), '');
  }
  if (S.attention) {
    const s = S.attention;
    md.push(`## attention: WebGPU (${s.info.gpuAdapter?.name ?? 'no adapter'}) vs wasm (${s.info.wasmThreads ?? '?'} threads)`, '');
    const pre = s.rows.prefill ?? [];
    if (pre.length) {
      md.push(`Prefill, causal, ${pre[0].H} query heads / ${pre[0].KH} KV heads, f32. GFLOP/s counts 4·H·D·S(S+1)/2.`, '');
      md.push(markdownTable(['S', 'D', 'GPU kernel ms', 'GPU GFLOP/s', 'GPU +readback ms', 'wasm ms', 'wasm GFLOP/s', 'GPU kernel / wasm', 'err GPU', 'err wasm', 'gpu-wasm'],
        pre.map((r) => [r.S, r.D, r.gpuKernel ? fmt(r.gpuKernel.medianMs) : why(r, 'gpu') ?? '–', g(r.gpuKernel), r.gpuReadback ? fmt(r.gpuReadback.medianMs) : '–',
          r.wasm ? fmt(r.wasm.medianMs) : why(r, 'wasm') ?? '–', g(r.wasm), r.gpuKernel && r.wasm ? `${fmt(r.wasm.medianMs / r.gpuKernel.medianMs)}x` : '–',
          errCell(r.gpuErr), errCell(r.wasmErr), fmt(r.gpuVsWasmMaxAbs, 2)])), '');
    }
    const dec = s.rows.decode ?? [];
    if (dec.length) {
      md.push(`Decode: one query token, ${dec[0].H} query heads / ${dec[0].KH} KV heads over an L-token cache; GB/s = K+V bytes / time.`, '');
      md.push(markdownTable(['L', 'D', 'GPU kernel ms', 'GPU GB/s', 'GPU +readback ms', 'wasm ms', 'wasm GB/s', 'GPU +readback / wasm', 'err GPU', 'err wasm', 'gpu-wasm'],
        dec.map((r) => [r.L, r.D, r.gpuKernel ? fmt(r.gpuKernel.medianMs) : why(r, 'gpu') ?? '–', r.gpuKernel ? fmt(r.gpuKernel.gbps) : '–',
          r.gpuReadback ? fmt(r.gpuReadback.medianMs) : '–', r.wasm ? fmt(r.wasm.medianMs) : why(r, 'wasm') ?? '–', r.wasm ? fmt(r.wasm.gbps) : '–',
          r.gpuReadback && r.wasm ? `${fmt(r.wasm.medianMs / r.gpuReadback.medianMs)}x` : '–', errCell(r.gpuErr), errCell(r.wasmErr), fmt(r.gpuVsWasmMaxAbs, 2)])), '');
    }
  }
  const th = Object.entries(S).filter(([k]) => k.startsWith('threads-')).flatMap(([, s]) => s.rows.threads ?? []);
  if (th.length) {
    md.push('## CPU thread scaling: pcpress wasm matmul (threads: N) vs onnxruntime-web wasm MatMul (numThreads = N), GFLOP/s', '');
    md.push('Resident inputs: pcpress tensors in wasm memory (timed: matmul + copying C out, B packed every call); ORT: B a constant initializer (prepacked), A fed per call. One child process per N.', '');
    const one = Object.fromEntries(th.filter((r) => r.threads === 1).map((r) => [r.size, r]));
    md.push(markdownTable(['N', 'size', 'pcpress', 'ort', 'pcpress / ort', 'pcpress xN vs 1', 'ort xN vs 1', 'err pcpress', 'err ort', 'ort-pcpress'],
      th.sort((a, b) => a.size - b.size || a.threads - b.threads).map((r) => [r.threads, r.size, r.pcpress ? g(r.pcpress) : r.skipped ?? '–', r.ort ? g(r.ort) : r.ortError ?? '–',
        r.pcpress && r.ort ? `${fmt(r.pcpress.gflops / r.ort.gflops)}x` : '–',
        r.pcpress && one[r.size]?.pcpress ? `${fmt(r.pcpress.gflops / one[r.size].pcpress.gflops)}x` : '–',
        r.ort && one[r.size]?.ort ? `${fmt(r.ort.gflops / one[r.size].ort.gflops)}x` : '–', errCell(r.pcpressErr), errCell(r.ortErr), fmt(r.ortVsPcpressMaxAbs, 2)])), '');
  }
  const ta = Object.entries(S).filter(([k]) => k.startsWith('threads-')).flatMap(([, s]) => s.rows.threadsAttention ?? []);
  if (ta.length) {
    const x = ta[0];
    md.push(`### pcpress wasm attention on N threads (causal GQA prefill, ${x.H} query / ${x.KH} KV heads; decode: one query over an L-token cache)`, '');
    const base = (r) => ta.find((y) => y.kind === r.kind && y.threads === 1 && y.pcpress);
    md.push(markdownTable(['N', 'kind', 'size', 'ms', 'GFLOP/s or GB/s', 'xN vs 1', 'err'],
      ta.sort((a, b) => a.kind.localeCompare(b.kind) || a.threads - b.threads).map((r) => [r.threads, r.kind, r.kind === 'prefill' ? `S=${r.S} D=${r.D}` : `L=${r.L} D=${r.D}`,
        r.pcpress ? fmt(r.pcpress.medianMs) : r.skipped ?? '–', r.pcpress ? (r.kind === 'prefill' ? `${fmt(r.pcpress.gflops)} GFLOP/s` : `${fmt(r.pcpress.gbps)} GB/s`) : '–',
        r.pcpress && base(r) ? `${fmt(base(r).pcpress.medianMs / r.pcpress.medianMs)}x` : '–', errCell(r.pcpressErr)])), '');
  }
  const problems = [];
  for (const [name, s] of Object.entries(S)) {
    for (const e of s.errors) problems.push(`${name}: ${e.split('\n')[0]}`);
    for (const e of s.skipped) problems.push(`${name}: skipped ${e}`);
    for (const e of s.notes) problems.push(`${name}: ${e}`);
  }
  if (json.correctnessFailures?.length) md.push(`**Correctness failures:** ${json.correctnessFailures.join('; ')}`, '');
  else md.push(`Correctness: every measured output is within ${TOLERANCE} of the f64 reference on its sampled rows.`, '');
  if (problems.length) md.push('## Errors, skips, notes', '', ...problems.map((p) => `- ${p}`), '');
  return md.join('\n');
}

function correctness(json) {
  const out = [];
  for (const [name, s] of Object.entries(json.sections)) {
    for (const [table, rows] of Object.entries(s.rows)) {
      for (const r of rows) {
        for (const [k, v] of Object.entries(r)) {
          if (k.endsWith('Err') && v && !(v.rel <= TOLERANCE)) out.push(`${name} ${table} ${r.shape ?? r.size ?? `S=${r.S ?? r.L} D=${r.D}`} ${k}: ${v.rel}`);
        }
      }
    }
  }
  return out;
}

async function main(argv) {
  const arg = (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const quick = argv.includes('--quick');
  const budgetS = Number(arg('--budget', quick ? 90 : 120));
  const out = path.resolve(arg('--out', path.join(repoRoot, 'bench', 'results', 'device.json')));
  const only = arg('--only', '')?.split(',').filter(Boolean);
  const t0 = Date.now(), end = t0 + budgetS * 1000;
  const log = (s) => console.error(s);
  const cfg = config(quick);
  const json = {
    bench: 'device', date: new Date(t0).toISOString(), argv, quick, budgetS, tolerance: TOLERANCE, machine: machineInfo(), nvidiaSmi: nvidiaSmi(),
    versions: { pcpress: packageVersion('pcpress'), webgpu: pkgVersion('webgpu'), 'onnxruntime-web': pkgVersion('onnxruntime-web'), node: process.versions.node }, execPath: process.execPath,
    config: cfg, sections: {},
  };
  const write = () => {
    json.seconds = +((Date.now() - t0) / 1000).toFixed(1);
    json.correctnessFailures = correctness(json);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(`${out}.tmp`, `${JSON.stringify(json, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1)}\n`);
    fs.renameSync(`${out}.tmp`, out);
  };
  write();
  // Section plan: [name, spec, share of the budget it may use up to (absolute, cumulative)].
  const plan = [
    ['adapter', { section: 'adapter' }, 0.12],
    ['gpu-matmul', { section: 'gpu-matmul' }, 0.36],
    ['attention', { section: 'attention' }, 0.62],
  ];
  const Ns = cfg.threads.Ns;
  // fewer threads take longer: N gets a share of the last 38% weighted 1 + 2 / N
  const w = Ns.map((N) => 1 + 2 / N), wsum = w.reduce((x, y) => x + y, 0);
  let acc = 0.62;
  Ns.forEach((N, i) => plan.push([`threads-${N}`, { section: 'threads', threads: N }, (acc += (0.38 * w[i]) / wsum)]));
  for (const [name, spec, share] of plan) {
    if (only?.length && !only.some((o) => name === o || name.startsWith(`${o}-`))) continue;
    const deadline = Math.min(end, t0 + share * budgetS * 1000);
    if (deadline - Date.now() < 2000) {
      json.sections[name] = { info: {}, rows: {}, errors: ['not run: no time left in the budget'], skipped: [], notes: [], seconds: 0, exit: null };
      continue;
    }
    log(`== ${name} (until +${((deadline - t0) / 1000).toFixed(0)} s)`);
    json.sections[name] = await runSection(name, { ...spec, quick }, deadline, log);
    write();
  }
  json.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));
  write();
  const md = markdown(json);
  fs.writeFileSync(out.replace(/\.json$/, '') + '.md', `${md}\n`);
  console.log(md);
  log(`wrote ${out} and ${out.replace(/\.json$/, '')}.md (${json.seconds} s)`);
  return json.correctnessFailures.length ? 1 : 0;
}

if (process.argv[2] === '--child') await childMain(JSON.parse(process.argv[3]));
else {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(e?.stack ?? e);
    process.exit(2);
  });
}
