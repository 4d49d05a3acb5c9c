// The matmul bench: wasm (pcpress vs tfjs-backend-wasm vs onnxruntime-web, one thread, Node) and
// WebGPU (pcpress WGSL vs tfjs-backend-webgpu, Chromium, same adapter). Medians, ratios, f64 checks.
import { benchMatmulWasm, benchMatmulWasmChild } from './matmul-wasm.mjs';
import { benchMatmulWebgpu } from './matmul-webgpu.mjs';
import { fmt, markdownTable } from './lib.mjs';
import os from 'node:os';
import { machineInfo, packageVersion } from './env.mjs';

/** Thread counts of the wasm comparison: 1, 2 and every core where there are more. */
export function threadCounts() {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return [...new Set([1, 2, Math.min(cores, 16)])];
}

/** Scaling target from the issue: pcpress with 2 threads / pcpress with 1 at this shape. */
export const SCALING_TARGET = { shape: '1024', ratio: 1.6, text: 'pcpress matmul 1024: 2 threads >= 1.6x 1 thread' };

/** Largest accepted error (max |x - ref| / max |ref|) against the f64 reference. */
export const TOLERANCE = 1e-4;

/** Square sizes plus one skinny shape (a few rows through a 1024 x 1024 weight, as in small-batch decoding). */
export const SHAPES = [
  { label: '128', m: 128, k: 128, n: 128 },
  { label: '256', m: 256, k: 256, n: 256 },
  { label: '512', m: 512, k: 512, n: 512 },
  { label: '1024', m: 1024, k: 1024, n: 1024 },
  { label: 'skinny 8x1024x1024', m: 8, k: 1024, n: 1024 },
];

/** Targets from the issue: ours / theirs at the named shape and path. */
export const TARGETS = [
  { backend: 'wasm', vs: 'tfjs', shape: '512', path: 'resident', ratio: 1.2, text: 'wasm matmul at 512 >= 1.2x tfjs-backend-wasm' },
  { backend: 'wasm', vs: 'tfjs', shape: 'skinny 8x1024x1024', path: 'packed', ratio: 1.0, text: 'wasm skinny 8x1024x1024 with B packed once >= 1.0x tfjs-backend-wasm' },
  ...['512', '1024'].flatMap((shape) => [
    ...['ort', 'tfjs'].map((vs) => ({
      backend: 'wasm', threads: 2, vs, shape, path: 'resident', ratio: 1.2,
      text: `wasm matmul at ${shape}, 2 threads each, >= 1.2x ${vs === 'ort' ? 'onnxruntime-web' : 'tfjs-backend-wasm'}`,
    })),
    { backend: 'wasm', threads: 2, vs: 'ort', shape, path: 'packed', ratio: 1.2,
      text: `wasm matmul at ${shape}, 2 threads each, >= 1.2x onnxruntime-web, B packed once by each library` },
  ]),
  { backend: 'webgpu', vs: 'tfjs', shape: '512', path: 'resident', ratio: 1.5, text: 'WGSL matmul >= 1.5x tfjs-backend-webgpu on the same adapter (checked at 512)' },
];

const NAMES = { pcpress: 'pcpress', pcpress1: 'pcpress 1 thread', tfjs: 'tfjs', ort: 'ort-web' };

function webgpuShapes(quick) {
  // Software adapters are slow (~0.3-3 GFLOP/s here): 1024 gets one warm-up call (and is skipped with --quick).
  return SHAPES.map((s) => (s.m === 1024 ? { ...s, warmup: 1 } : s)).filter((s) => !(quick && s.m === 1024));
}

function errCell(r) {
  if (!r) return '–';
  const bad = !(r.err <= TOLERANCE);
  return `${fmt(r.err, 2)}${bad ? ' **FAIL**' : ''}`;
}

function section(title, rows, libs, pathName, timed) {
  const others = libs.filter((l) => l !== 'pcpress');
  const header = ['shape (m x k x n)', ...libs.map((l) => `${NAMES[l]} GFLOP/s`), ...others.map((l) => `pcpress / ${NAMES[l]}`),
    ...libs.map((l) => `err ${NAMES[l]}`), ...others.map((l) => `diff ${NAMES[l]} vs pcpress`)];
  const body = rows.filter((r) => r.path === pathName).map((r) => {
    const res = r.results;
    return [
      r.shape === String(r.m) ? `${r.m} x ${r.k} x ${r.n}` : `${r.m} x ${r.k} x ${r.n} (skinny)`,
      ...libs.map((l) => (res[l] ? fmt(res[l].gflops) : 'not run')),
      ...others.map((l) => (res[l] ? `**${fmt(res.pcpress.gflops / res[l].gflops)}x**` : '–')),
      ...libs.map((l) => errCell(res[l])),
      ...others.map((l) => (res[l] ? fmt(res[l].diffVsPcpress, 2) : '–')),
    ];
  });
  if (!body.length) return '';
  return `### ${title}\n\nTimed: ${timed}\n\n${markdownTable(header, body)}\n`;
}

function findRow(rows, shape, pathName) {
  return rows?.find((r) => r.shape === shape && r.path === pathName);
}

/**
 * Runs the matmul bench. flags: --quick (fewer samples, no 1024 on WebGPU), --no-wasm, --no-webgpu.
 * Returns { markdown, json, ok } where ok is false if any measured result failed the f64 check.
 */
export async function run({ flags = [], log = console.log } = {}) {
  const quick = flags.includes('--quick');
  const started = new Date();
  const machine = machineInfo();
  const json = {
    bench: 'matmul', date: started.toISOString(), machine, tolerance: TOLERANCE,
    versions: {
      pcpress: packageVersion('pcpress'), node: process.versions.node, v8: process.versions.v8,
      '@tensorflow/tfjs-core': packageVersion('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm'),
      '@tensorflow/tfjs-backend-webgpu': packageVersion('@tensorflow/tfjs-backend-webgpu'),
      'onnxruntime-web': packageVersion('onnxruntime-web'),
      'puppeteer-core': packageVersion('puppeteer-core'),
    },
    wasm: null, wasmThreads: {}, webgpu: null, notRun: {}, targets: [],
  };

  if (!flags.includes('--no-wasm')) {
    log('matmul / wasm (Node, one thread)…');
    try {
      json.wasm = await benchMatmulWasm(SHAPES, { threads: 1, samples: quick ? 5 : 7, warmup: 2, minSampleMs: quick ? 15 : 25, log });
      Object.assign(json.notRun, Object.fromEntries(Object.entries(json.wasm.skipped).map(([k, v]) => [`wasm ${k}`, v])));
    } catch (e) {
      json.notRun.wasm = `the wasm part failed: ${e?.stack ?? e}`;
    }
    json.wasmThreads[1] = json.wasm;
    for (const threads of threadCounts().filter((t) => t > 1)) {
      log(`matmul / wasm (Node, ${threads} threads, child process)…`);
      try {
        const r = await benchMatmulWasmChild(SHAPES, { threads, samples: quick ? 5 : 7, warmup: 2, minSampleMs: quick ? 15 : 25 }, log);
        json.wasmThreads[threads] = r;
        Object.assign(json.notRun, Object.fromEntries(Object.entries(r.skipped).map(([k, v]) => [`wasm ${threads} threads ${k}`, v])));
      } catch (e) {
        json.notRun[`wasm ${threads} threads`] = `the ${threads}-thread wasm part failed: ${e?.message ?? e}`;
      }
    }
  } else json.notRun.wasm = 'skipped by --no-wasm';

  if (!flags.includes('--no-webgpu')) {
    log('matmul / WebGPU (Chromium)…');
    try {
      json.webgpu = await benchMatmulWebgpu(webgpuShapes(quick), { samples: 5, warmup: quick ? 1 : 2, minSampleMs: 30, log });
    } catch (e) {
      json.notRun.webgpu = `the WebGPU part could not run: ${e?.message ?? e}`;
    }
  } else json.notRun.webgpu = 'skipped by --no-webgpu';
  json.seconds = +((Date.now() - started.getTime()) / 1000).toFixed(1);
  json.loadavgEnd = os.loadavg().map((x) => +x.toFixed(2));

  // correctness over everything measured
  const failures = [];
  const parts = [['wasm', json.wasm], ...Object.entries(json.wasmThreads).filter(([t]) => t !== '1').map(([t, r]) => [`wasm ${t} threads`, r]), ['webgpu', json.webgpu]];
  for (const [part, res0] of parts) {
    for (const r of res0?.rows ?? []) {
      for (const [lib, res] of Object.entries(r.results)) {
        if (!(res.err <= TOLERANCE)) failures.push(`${part} ${r.path} ${r.shape} ${lib}: err ${res.err}`);
      }
    }
  }
  json.correctnessFailures = failures;

  for (const t of TARGETS) {
    const rowsOf = (x) => (x.threads ? json.wasmThreads[x.threads]?.rows : json[x.backend]?.rows);
    const row = findRow(rowsOf(t), t.shape, t.path);
    const ours = row?.results.pcpress, theirs = row?.results[t.vs];
    const ratio = ours && theirs ? ours.gflops / theirs.gflops : NaN;
    const met = Number.isFinite(ratio) ? ratio >= t.ratio && ours.err <= TOLERANCE : null;
    const otherPath = t.path === 'resident' ? 'arrays' : 'resident';
    // a peer with no figure at this thread count says why (tfjs-backend-wasm's threaded build does not start in Node)
    const why = !theirs && t.threads ? json.wasmThreads[t.threads]?.skipped?.[t.vs] ?? json.notRun[`wasm ${t.threads} threads`] : undefined;
    const other = findRow(rowsOf(t), t.shape, otherPath);
    const otherRatio = other?.results.pcpress && other.results[t.vs] ? other.results.pcpress.gflops / other.results[t.vs].gflops : NaN;
    const allSizes = (rowsOf(t) ?? []).filter((r) => r.path === t.path && r.results[t.vs])
      .map((r) => ({ shape: r.shape, ratio: r.results.pcpress.gflops / r.results[t.vs].gflops }));
    json.targets.push({ ...t, measured: ratio, met, otherPath, otherPathRatio: otherRatio, allSizes, ...(why ? { notMeasured: why } : {}) });
  }

  // thread scaling: each library's N-thread GFLOP/s over its 1-thread GFLOP/s (resident path)
  json.scaling = [];
  for (const [t, res] of Object.entries(json.wasmThreads)) {
    if (t === '1' || !res) continue;
    for (const r of res.rows.filter((x) => x.path === 'resident')) {
      const one = findRow(json.wasm?.rows, r.shape, 'resident');
      const e = { threads: +t, shape: r.shape };
      for (const lib of ['pcpress', 'tfjs', 'ort']) if (r.results[lib] && one?.results[lib]) e[lib] = r.results[lib].gflops / one.results[lib].gflops;
      // pcpress: against its 1-thread runtime sampled in turn with it in the same process (same load)
      if (r.results.pcpress1) {
        e.pcpressAcross = e.pcpress;
        e.pcpress = r.results.pcpress.gflops / r.results.pcpress1.gflops;
      }
      json.scaling.push(e);
    }
  }
  const sc = json.scaling.find((e) => e.threads === 2 && e.shape === SCALING_TARGET.shape);
  json.targets.push({ ...SCALING_TARGET, backend: 'wasm', vs: 'pcpress 1 thread', path: 'resident', measured: sc?.pcpress ?? NaN,
    met: sc?.pcpress === undefined ? null : sc.pcpress >= SCALING_TARGET.ratio, otherPathRatio: NaN,
    allSizes: json.scaling.filter((e) => e.threads === 2 && e.pcpress !== undefined).map((e) => ({ shape: e.shape, ratio: e.pcpress })) });

  const md = [];
  md.push('# matmul benchmark', '');
  md.push(`Date: ${json.date} (took ${json.seconds} s). Command: \`npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}\` ` +
    `(\`node bench/run.mjs matmul${flags.length ? ` ${flags.join(' ')}` : ''}\`).`, '');
  md.push(`Machine: ${machine.nproc} CPUs, ${machine.cpuModel}${machine.cpuFlags ? ` (${machine.cpuFlags})` : ''}, ${machine.memGiB} GiB, ` +
    `${machine.os}; load average ${machine.loadavg.join(' ')} at start, ${json.loadavgEnd.join(' ')} at the end (a shared box: other processes ran alongside, so absolute numbers are noisy; the round-robin sampling keeps ratios comparable).`, '');
  md.push(`Versions: ${Object.entries(json.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  md.push('Method: same f32 inputs (uniform in [-1, 1), fixed seeds) for every library; warm-up calls first; then the libraries ' +
    'are sampled in turn (round-robin), each sample repeating the call until it lasts a few tens of ms; the table gives the ' +
    `median over the samples (wasm: ${quick ? 5 : 7} samples, WebGPU: 5). GFLOP/s = 2mkn / median time. Ratio = pcpress / peer GFLOP/s ` +
    '(> 1: pcpress is faster). "err" = max |C - C_f64| / max |C_f64| against an f64 reference computed in JS for every shape; ' +
    `anything over ${TOLERANCE} is marked FAIL. "diff peer vs pcpress" is the same measure between the two f32 results.`, '');

  md.push('## Targets', '');
  md.push(markdownTable(['target', 'measured (pcpress / peer)', 'met?', 'other path', 'all sizes, same path'],
    json.targets.map((t) => [t.text, Number.isFinite(t.measured) ? `${fmt(t.measured)}x (${t.path})` : `not measured${t.notMeasured ? `: ${t.notMeasured}` : ''}`,
      t.met === null ? 'not measured' : t.met ? '**met**' : '**not met**',
      Number.isFinite(t.otherPathRatio) ? `${fmt(t.otherPathRatio)}x (${t.otherPath})` : '–',
      t.allSizes.map((x) => `${x.shape}: ${fmt(x.ratio)}x`).join(', ') || '–'])), '');
  md.push(failures.length ? `**Correctness failures:** ${failures.join('; ')}` : `Correctness: every measured result is within ${TOLERANCE} of the f64 reference.`, '');
  md.push('Caveats:', '');
  md.push('- The targets are judged on the path named in the table (resident = kernel path, packed = B packed once by all three); another path is shown beside it.');
  md.push('- Resident wasm path: tfjs-backend-wasm keeps the XNNPACK operator (with B already packed) for as long as the B tensor ' +
    'lives, and onnxruntime-web prepacks a constant B at session creation; pcpress packs B inside every call (or reads it in place ' +
    'when A has at most 16 rows). That is each library\'s real behaviour for repeated weights, but it favours the peers, most of all ' +
    'on the skinny shape. The packed path gives pcpress the same advantage (`rt.packB`). The typed-array path packs B on every call for all three.');
  md.push('- wasm: the first tables run one thread everywhere; the "N threads" sections give every library N threads in a child process ' +
    '(tfjs-backend-wasm\'s threaded binary does not start in Node, so it has no N > 1 figures; the 2-core box is shared, so 2 threads compete ' +
    'with other work and scaling figures are noisy). The WebGPU numbers come from SwiftShader (WGSL compiled to CPU code, using both cores), ' +
    'so they rank shader designs on this adapter, not on a GPU.');
  md.push('- A shared 2-core machine: absolute GFLOP/s move by 10-30% between runs; the libraries are sampled in turn so ratios move less.', '');

  if (json.wasm) {
    const w = json.wasm;
    const libs = ['pcpress', ...['tfjs', 'ort'].filter((l) => w.libs[l])];
    md.push('## wasm (Node, one thread each)', '');
    md.push(`- pcpress ${w.libs.pcpress.version}: AssemblyScript wasm SIMD kernel (${w.libs.pcpress.reason}).`);
    if (w.libs.tfjs) md.push(`- tfjs: @tensorflow/tfjs-backend-wasm ${w.libs.tfjs.version} (XNNPACK), binary ${w.libs.tfjs.binary}, XNNPACK threads ${w.libs.tfjs.threads} (\`WASM_HAS_MULTITHREAD_SUPPORT\` forced false so the non-threaded build loads, and \`setThreadsCount(1)\`).`);
    if (w.libs.ort) md.push(`- ort-web: onnxruntime-web ${w.libs.ort.version}, wasm execution provider (MLAS), ${w.libs.ort.binary}; the MatMul model is written in memory by bench/onnx.mjs.`);
    for (const [k, v] of Object.entries(w.skipped)) md.push(`- ${k}: not run: ${v}`);
    md.push('');
    md.push(section('wasm, tensors resident (kernel path)', w.rows, libs, 'resident', w.timed.resident));
    if (w.timed.packed) md.push(section('wasm, B packed once by every library (weights)', w.rows, libs, 'packed', w.timed.packed));
    md.push(section('wasm, typed arrays in and out', w.rows, libs, 'arrays', w.timed.arrays));
  }
  for (const [t, w] of Object.entries(json.wasmThreads)) {
    if (t === '1' || !w) continue;
    const libs = ['pcpress', ...['tfjs', 'ort'].filter((l) => w.libs[l])];
    md.push(`## wasm (Node, ${t} threads each, child process)`, '');
    md.push(`- pcpress: \`createRuntime({ backend: 'wasm', threads: ${t} })\` (${w.libs.pcpress.reason}).`);
    if (w.libs.tfjs) md.push(`- tfjs: \`setThreadsCount(${t})\`, binary ${w.libs.tfjs.binary}.`);
    if (w.libs.ort) md.push(`- ort-web: ${w.libs.ort.binary}.`);
    for (const [k, v] of Object.entries(w.skipped)) md.push(`- ${k}: not run: ${v}`);
    md.push('');
    md.push(section(`wasm ${t} threads, tensors resident (kernel path)`, w.rows, w.libs.pcpress1 ? [...libs, 'pcpress1'] : libs, 'resident', w.timed.resident));
    if (w.timed.packed) md.push(section(`wasm ${t} threads, B packed once by every library (weights)`, w.rows, libs, 'packed', w.timed.packed));
    md.push(section(`wasm ${t} threads, typed arrays in and out`, w.rows, libs, 'arrays', w.timed.arrays));
  }
  if (json.scaling.length) {
    md.push('### Thread scaling (resident path): GFLOP/s with N threads / with 1 thread, each library against itself', '');
    md.push('pcpress: its N-thread and 1-thread runtimes sampled in turn in the same process (same load). Peers (and "pcpress across ' +
      'processes"): the N-thread child process against the 1-thread run above, minutes apart, so load on the shared box moves these.', '');
    md.push(markdownTable(['threads', 'shape', 'pcpress (same process)', 'pcpress across processes', 'tfjs', 'ort-web'], json.scaling.map((e) => [e.threads, e.shape,
      ...['pcpress', 'pcpressAcross', 'tfjs', 'ort'].map((l) => (e[l] === undefined ? 'not run' : `${fmt(e[l])}x`))])), '');
  }
  if (json.webgpu) {
    const g = json.webgpu, i = g.info;
    md.push('## WebGPU (headless Chromium, same page, same adapter)', '');
    md.push(`- Browser: ${i.chromium}; ${i.userAgent}.`);
    md.push(`- pcpress adapter: ${[i.pcpress.vendor, i.pcpress.architecture, i.pcpress.device, i.pcpress.description].filter(Boolean).join(' / ')} ` +
      `(isFallbackAdapter ${i.pcpress.isFallbackAdapter}, software ${i.pcpress.isSoftware}); tfjs adapter: ${i.tfjs.vendor} / ${i.tfjs.architecture}. ` +
      'Each library requests its own device from `navigator.gpu.requestAdapter()` in the same page.');
    md.push(`- tfjs: @tensorflow/tfjs-backend-webgpu ${g.libs.tfjs.version} (core ${g.libs.tfjs.core}).`);
    md.push('- A software adapter (SwiftShader) runs WGSL on the CPU: these numbers rank the two shader designs on this ' +
      'adapter; they say little about a hardware GPU.');
    md.push(`- 1024 x 1024 x 1024 ${quick ? 'is skipped (--quick)' : 'gets 1 warm-up call instead of 2'} (each call takes about a second or more on the software adapter).`, '');
    md.push(section('WebGPU, tensors resident (kernel path)', g.rows, ['pcpress', 'tfjs'], 'resident', g.timed.resident));
    md.push(section('WebGPU, typed arrays in and out', g.rows, ['pcpress', 'tfjs'], 'arrays', g.timed.arrays));
  }
  for (const [k, v] of Object.entries(json.notRun)) if (!k.startsWith('wasm ')) md.push(`**Not run: ${k}**: ${v}`, '');
  return { markdown: md.join('\n'), json, ok: failures.length === 0 };
}
