// Attention with N threads (wasm, Node): pcpress prefill / decode on a pool of N threads vs onnxruntime-web's
// MultiHeadAttention and GroupQueryAttention (com.microsoft contrib ops, wasm execution provider) with
// numThreads = N. ORT fixes its thread count for the process at its first session, so each N runs in its
// own child process. With N > 1, pcpress on one thread is sampled interleaved beside pcpress on N (same
// process, same load); thread scaling is reported against that in-child sample and against the separate
// 1-thread child (scalingRows, scalingTargets, scalingSection): the two baselines have differed widely
// (0.60x-1.62x on an idle 16-core host). Every measured output is checked against f64 rows.
// `node bench/attention-threads.mjs [--quick] [--threads=1,2,16] [--out=PATH]` runs only this part (each N in
// its own child) and prints its markdown; --out also writes PATH.md and PATH.json (e.g. on a lent host).
import { randomF32, timeInterleaved, toBSNH, fmt, markdownTable } from './lib.mjs';
import { onnxModel, startOrt } from './onnx.mjs';
import { gqaModel, refRow, sampleRows, rowsErr, H, KH } from './attention.mjs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { packageVersion } from './env.mjs';

/**
 * Thread counts compared: 1, 2 and every core where there are more (as bench/matmul.mjs; not imported
 * from there, whose module runs its own --child entry when loaded in a child process).
 */
export function threadCounts() {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return [...new Set([1, 2, Math.min(cores, 16)])];
}

/** Targets from the issue (attention rows): ours / each peer at the same N, and 1 -> 2 threads on prefill at 2048. */
export const THREAD_TARGETS = { vsPeer: 1.2, scaling: 1.6, scalingAt: 2048 };

/**
 * A ratio for a target table: 3 significant digits, or 4 where 3 would round it onto the other side of
 * `threshold` (1.596 against 1.6 is printed 1.596, not 1.60).
 */
export function fmtTarget(value, threshold) {
  const short = fmt(value);
  return (Number(short) >= threshold) === (value >= threshold) ? short : fmt(value, 4);
}

const SIZE = { prefill: 'S', decode: 'L' };

/**
 * pcpress N threads / 1 thread for every N > 1 run and row, against both 1-thread baselines: "inChild" = the
 * 1-thread runtime sampled in turn inside the N-thread child (same process, same load), "separate" = pcpress
 * in the separate 1-thread child (runs[1]: its own process, run minutes apart). Ratios are of median times.
 */
export function scalingRows(runs) {
  const out = [];
  for (const [t, r] of Object.entries(runs ?? {})) {
    if (Number(t) <= 1) continue;
    for (const kind of ['prefill', 'decode']) {
      for (const row of r[kind] ?? []) {
        const size = row[SIZE[kind]];
        const own = row.results.pcpress, inChild = row.results.pcpress1;
        const separate = runs[1]?.[kind]?.find((x) => x[SIZE[kind]] === size && x.D === row.D)?.results.pcpress;
        const per = kind === 'prefill' ? 'tokensPerS' : 'stepsPerS';
        out.push({
          threads: Number(t), kind, size, D: row.D, unit: kind === 'prefill' ? 'tok/s' : 'steps/s',
          pcpress: own[per], inChild: inChild?.[per], separate: separate?.[per],
          ratioInChild: inChild ? inChild.medianMs / own.medianMs : undefined,
          ratioSeparate: separate ? separate.medianMs / own.medianMs : undefined,
          // speed of the in-child 1-thread sample relative to the separate 1-thread child (< 1: the in-child one is slower)
          inChildVsSeparate: inChild && separate ? separate.medianMs / inChild.medianMs : undefined,
        });
      }
    }
  }
  return out;
}

/** The issue's scaling target (2 threads / 1 thread >= 1.6x on prefill at 2048), judged against each baseline. */
export function scalingTargets(runs) {
  const out = [];
  for (const x of scalingRows(runs)) {
    if (x.threads !== 2 || x.kind !== 'prefill' || x.size !== THREAD_TARGETS.scalingAt) continue;
    for (const [value, how] of [[x.ratioInChild, '1 thread sampled in the 2-thread child, interleaved'], [x.ratioSeparate, '1 thread in its own child process']]) {
      if (value === undefined) continue;
      out.push({ text: `prefill seq ${x.size} d${x.D}: pcpress 2 threads >= ${THREAD_TARGETS.scaling}x 1 thread (${how})`, value, met: value >= THREAD_TARGETS.scaling });
    }
  }
  return out;
}

/** Markdown: the scaling table with both baselines side by side. */
export function scalingSection(runs) {
  const rows = scalingRows(runs);
  if (!rows.length) return '';
  const md = ['### pcpress N threads / 1 thread, against both 1-thread baselines', ''];
  md.push('- "in-child": the 1-thread runtime sampled in turn with the N-thread one inside the N-thread child (same process, same load; ' +
    'the "pcpress 1 thread" column above). "separate": pcpress in the 1-thread child process (the "1 thread each" table), run minutes apart.');
  md.push('- "in-child / separate" = speed of the in-child 1-thread sample over the separate one (< 1: the in-child sample is slower, which raises the in-child ratio). ' +
    'The two 1-thread figures come from the same build and inputs; where they differ, neither is known to be the right one, so both ratios are given.', '');
  md.push(markdownTable(['threads', 'kind', 'size', 'headDim', 'pcpress N', '1 thread in-child', '1 thread separate', 'N / 1 (in-child)', 'N / 1 (separate)', 'in-child / separate'],
    rows.map((x) => {
      const cell = (v) => (v === undefined ? 'not run' : `${fmt(v)} ${x.unit}`);
      const ratio = (v) => (v === undefined ? '–' : `**${fmtTarget(v, x.threads === 2 && x.kind === 'prefill' ? THREAD_TARGETS.scaling : Infinity)}x**`);
      return [x.threads, x.kind, x.kind === 'prefill' ? `seq ${x.size}` : `cache ${x.size}`, x.D, cell(x.pcpress), cell(x.inChild), cell(x.separate),
        ratio(x.ratioInChild), ratio(x.ratioSeparate), x.inChildVsSeparate === undefined ? '–' : `${fmt(x.inChildVsSeparate)}x`];
    })), '');
  return md.join('\n');
}

/** One MultiHeadAttention node, causal (unidirectional), K and V with H heads (the GQA heads repeated), optional past. */
function mhaModel(S, past, D) {
  const inputs = [{ name: 'q', dims: [1, S, H * D] }, { name: 'k', dims: [1, S, H * D] }, { name: 'v', dims: [1, S, H * D] }];
  if (past) inputs.push({ name: 'past_key', dims: [1, H, past, D] }, { name: 'past_value', dims: [1, H, past, D] });
  return onnxModel({
    inputs,
    outputs: [{ name: 'o', dims: [1, S, H * D] }, ...(past ? [{ name: 'present_key' }, { name: 'present_value' }] : [])],
    nodes: [{
      op: 'MultiHeadAttention', domain: 'com.microsoft', ints: { num_heads: H, unidirectional: 1 },
      inputs: ['q', 'k', 'v', '', '', '', past ? 'past_key' : '', past ? 'past_value' : ''],
      outputs: past ? ['o', 'present_key', 'present_value'] : ['o'],
    }],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}

/** [KH][L][D] -> [H][L][D]: each KV head repeated for its G = H / KH query heads (what MHA needs). */
function repeatHeads(x, L, D) {
  const G = H / KH, out = new Float32Array(H * L * D);
  for (let h = 0; h < H; h++) out.set(x.subarray(Math.floor(h / G) * L * D, (Math.floor(h / G) + 1) * L * D), h * L * D);
  return out;
}

/** Rows [from, to) of every head of a [heads][L][D] array, as [heads][to - from][D]. */
function rowsOf(x, heads, L, D, from, to) {
  const out = new Float32Array(heads * (to - from) * D);
  for (let h = 0; h < heads; h++) out.set(x.subarray((h * L + from) * D, (h * L + to) * D), h * (to - from) * D);
  return out;
}

/** The shapes: prefill seq and decode cache lengths, for headDim 64 and 128. */
export function threadShapes(quick) {
  return { prefill: quick ? [2048] : [512, 2048], decode: quick ? [8192] : [1024, 8192], dims: quick ? [64] : [64, 128] };
}

/**
 * Runs the comparison with `threads` threads in this process (ORT's thread count is set by the first
 * session here). Returns { threads, libs, prefill: [...], decode: [...], skipped }.
 */
export async function benchAttentionThreads(threads, { quick = false, log = () => {} } = {}) {
  const pc = await import('pcpress');
  const rt = await pc.createRuntime({ backend: 'wasm', threads });
  const rt1 = threads > 1 ? await pc.createRuntime({ backend: 'wasm', threads: 1 }) : undefined;
  const libs = { pcpress: { version: packageVersion('pcpress'), threads: rt.info.threads, reason: rt.reason } };
  const skipped = {};
  let ort;
  try {
    ort = await startOrt(threads);
    libs.ort = { version: ort.env.versions?.web ?? packageVersion('onnxruntime-web'), numThreads: threads };
  } catch (e) {
    skipped.ort = `onnxruntime-web could not start: ${e?.message ?? e}`;
  }
  const T = ort?.Tensor;
  const session = async (bytes) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  const readAll = async (o) => { try { return await o.read(); } finally { o.dispose(); } };
  const shapes = threadShapes(quick);
  const prefill = [], decode = [];
  const collect = (t, contenders, refs, Sq, D, per) => {
    const results = {};
    for (const c of contenders) {
      const r = t[c.name];
      results[c.name] = { medianMs: r.medianMs, [per]: (per === 'tokensPerS' ? Sq : 1) / (r.medianMs / 1000), iters: r.iters,
        samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: rowsErr(r.last, c.layout ?? 'bnsh', refs, Sq, D) };
    }
    return results;
  };
  for (const D of shapes.dims) {
    for (const S of shapes.prefill) {
      const q = randomF32(H * S * D, 51 + S + D), k = randomF32(KH * S * D, 52 + S + D), v = randomF32(KH * S * D, 53 + S + D);
      const refs = sampleRows(S).map(([h, i]) => ({ h, i, ref: refRow(q, k, v, h, i, S, S, D, i) }));
      const opts = { numHeads: H, numKvHeads: KH, headDim: D, causal: true };
      const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
      const contenders = [{ name: 'pcpress', fn: () => readAll(rt.attention(tq, tk, tv, opts)) }];
      let t1;
      if (rt1) {
        t1 = [rt1.tensor(q), rt1.tensor(k), rt1.tensor(v)];
        contenders.push({ name: 'pcpress1', fn: () => readAll(rt1.attention(t1[0], t1[1], t1[2], opts)) });
      }
      const sessions = [];
      if (ort) {
        const qb = toBSNH(q, H, S, D), kb = toBSNH(k, KH, S, D), vb = toBSNH(v, KH, S, D);
        const gqa = await session(gqaModel(S, 0, D));
        sessions.push(gqa);
        const gf = { q: new T('float32', qb, [1, S, H * D]), k: new T('float32', kb, [1, S, KH * D]), v: new T('float32', vb, [1, S, KH * D]),
          seqlens_k: new T('int32', Int32Array.from([S - 1]), [1]), total: new T('int32', Int32Array.from([S]), []) };
        contenders.push({ name: 'ortGqa', layout: 'bsnh', fn: async () => (await gqa.run(gf)).o.data });
        const mha = await session(mhaModel(S, 0, D));
        sessions.push(mha);
        const mf = { q: new T('float32', qb, [1, S, H * D]), k: new T('float32', toBSNH(repeatHeads(k, S, D), H, S, D), [1, S, H * D]),
          v: new T('float32', toBSNH(repeatHeads(v, S, D), H, S, D), [1, S, H * D]) };
        contenders.push({ name: 'ortMha', layout: 'bsnh', fn: async () => (await mha.run(mf)).o.data });
      }
      const t = await timeInterleaved(contenders, { warmup: 1, samples: S >= 2048 ? 3 : 5, minSampleMs: 20, maxIters: 50 });
      const results = collect(t, contenders, refs, S, D, 'tokensPerS');
      prefill.push({ S, D, results });
      log(`  ${threads} thread${threads > 1 ? 's' : ''} prefill S=${S} D=${D}: ${Object.entries(results).map(([n, r]) => `${n} ${r.tokensPerS.toFixed(0)} tok/s`).join(', ')}`);
      for (const x of [tq, tk, tv, ...(t1 ?? [])]) x.dispose();
      for (const s of sessions) await s.release();
    }
    for (const L of shapes.decode) {
      const k = randomF32(KH * L * D, 61 + L + D), v = randomF32(KH * L * D, 62 + L + D), q = randomF32(H * D, 63 + L + D);
      const refs = Array.from({ length: H }, (_, h) => ({ h, i: 0, ref: refRow(q, k, v, h, 0, 1, L, D, L - 1) }));
      const caches = [], tqs = [];
      const contenders = [];
      for (const [name, r] of [['pcpress', rt], ['pcpress1', rt1]]) {
        if (!r) continue;
        const cache = r.createKVCache({ numKvHeads: KH, headDim: D, capacity: L });
        cache.append(k, v);
        const tq = r.tensor(q);
        caches.push(cache);
        tqs.push(tq);
        contenders.push({ name, fn: () => readAll(r.decode(tq, cache, { numHeads: H, causal: true })) });
      }
      const sessions = [];
      if (ort) {
        // past = the first L - 1 tokens, the new token's key and value the last ([1, heads, L - 1, D] and [1, 1, heads x D])
        const pk = rowsOf(k, KH, L, D, 0, L - 1), pv = rowsOf(v, KH, L, D, 0, L - 1);
        const nk = rowsOf(k, KH, L, D, L - 1, L), nv = rowsOf(v, KH, L, D, L - 1, L);
        const gqa = await session(gqaModel(1, L - 1, D));
        sessions.push(gqa);
        const gf = { q: new T('float32', q, [1, 1, H * D]), k: new T('float32', nk, [1, 1, KH * D]), v: new T('float32', nv, [1, 1, KH * D]),
          past_key: new T('float32', pk, [1, KH, L - 1, D]), past_value: new T('float32', pv, [1, KH, L - 1, D]),
          seqlens_k: new T('int32', Int32Array.from([L - 1]), [1]), total: new T('int32', Int32Array.from([L]), []) };
        contenders.push({ name: 'ortGqa', layout: 'bsnh', fn: async () => (await gqa.run(gf)).o.data });
        const mha = await session(mhaModel(1, L - 1, D));
        sessions.push(mha);
        const mf = { q: new T('float32', q, [1, 1, H * D]), k: new T('float32', repeatHeads(nk, 1, D), [1, 1, H * D]), v: new T('float32', repeatHeads(nv, 1, D), [1, 1, H * D]),
          past_key: new T('float32', repeatHeads(pk, L - 1, D), [1, H, L - 1, D]), past_value: new T('float32', repeatHeads(pv, L - 1, D), [1, H, L - 1, D]) };
        contenders.push({ name: 'ortMha', layout: 'bsnh', fn: async () => (await mha.run(mf)).o.data });
      }
      const t = await timeInterleaved(contenders, { warmup: 2, samples: 5, minSampleMs: 20, maxIters: 500 });
      const results = collect(t, contenders, refs, 1, D, 'stepsPerS');
      decode.push({ L, D, results });
      log(`  ${threads} thread${threads > 1 ? 's' : ''} decode L=${L} D=${D}: ${Object.entries(results).map(([n, r]) => `${n} ${r.stepsPerS.toFixed(0)} steps/s`).join(', ')}`);
      for (const x of [...tqs, ...caches]) x.dispose();
      for (const s of sessions) await s.release();
    }
  }
  rt.destroy();
  rt1?.destroy();
  return { threads, libs, prefill, decode, skipped };
}

/** Runs benchAttentionThreads(threads) in a child process (a fresh ORT thread count); its log lines go to `log`. */
export async function benchAttentionThreadsChild(threads, options, log = () => {}) {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ threads, options })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { for (const line of String(d).split('\n')) if (line.trim()) log(line); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  const last = out.trim().split('\n').pop();
  if (code !== 0 || !last) throw new Error(`the ${threads}-thread attention child exited with ${code}`);
  return JSON.parse(last);
}

/**
 * Standalone: this part only, each N in its own child; markdown to stdout, --out=PATH also writes PATH.md and
 * PATH.json. Not awaited at the top level: attention.mjs (its tables) imports this module, which must finish
 * evaluating first.
 */
async function standalone() {
  const args = process.argv.slice(2);
  const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const counts = opt('threads') ? opt('threads').split(',').map(Number) : threadCounts();
  if (!counts.includes(1)) counts.unshift(1); // the separate 1-thread baseline
  const { threadsSection, threadTargets } = await import('./attention.mjs');
  const { machineInfo } = await import('./env.mjs');
  const runs = {}, started = Date.now(), machine = machineInfo();
  for (const t of counts) runs[t] = await benchAttentionThreadsChild(t, { quick: args.includes('--quick') }, (m) => process.stderr.write(`${m}\n`));
  const targets = threadTargets(runs);
  const json = { bench: 'attention-threads', date: new Date(started).toISOString(), seconds: +((Date.now() - started) / 1000).toFixed(1), machine,
    loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)), node: process.versions.node, flags: args, runs, scaling: scalingRows(runs), targets };
  const md = [`# attention with N threads (${machine.nproc} CPUs, ${machine.cpuModel})`, '',
    `Date: ${json.date} (took ${json.seconds} s). Command: \`node bench/attention-threads.mjs ${args.join(' ')}\`; load average ${machine.loadavg.join(' ')} at start, ${json.loadavgEnd.join(' ')} at the end.`, '',
    threadsSection(runs, targets)].join('\n');
  process.stdout.write(`${md}\n`);
  const out = opt('out');
  if (out) {
    const fs = await import('node:fs');
    fs.writeFileSync(`${out}.md`, `${md}\n`);
    fs.writeFileSync(`${out}.json`, `${JSON.stringify(json, null, 2)}\n`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] !== '--child') {
  standalone().then(() => process.exit(0), (e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}

if (process.argv[2] === '--child') {
  const { threads, options } = JSON.parse(process.argv[3]);
  const res = await benchAttentionThreads(threads, { ...options, log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(0); // ORT's worker threads would keep the child alive
}
