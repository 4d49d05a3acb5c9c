// The matmul bench: wasm (pcpress vs tfjs-backend-wasm vs onnxruntime-web, one thread, Node) and
// WebGPU (pcpress WGSL vs tfjs-backend-webgpu, Chromium, same adapter). Medians, ratios, f64 checks.
import { benchMatmulWasm } from './matmul-wasm.mjs';
import { benchMatmulWebgpu } from './matmul-webgpu.mjs';
import { fmt, markdownTable } from './lib.mjs';
import os from 'node:os';
import { machineInfo, packageVersion } from './env.mjs';

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
  { backend: 'webgpu', vs: 'tfjs', shape: '512', path: 'resident', ratio: 1.5, text: 'WGSL matmul >= 1.5x tfjs-backend-webgpu on the same adapter (checked at 512)' },
];

const NAMES = { pcpress: 'pcpress', tfjs: 'tfjs', ort: 'ort-web' };

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
    wasm: null, webgpu: null, notRun: {}, targets: [],
  };

  if (!flags.includes('--no-wasm')) {
    log('matmul / wasm (Node, one thread)…');
    try {
      json.wasm = await benchMatmulWasm(SHAPES, { samples: quick ? 5 : 7, warmup: 2, minSampleMs: quick ? 15 : 25, log });
      Object.assign(json.notRun, Object.fromEntries(Object.entries(json.wasm.skipped).map(([k, v]) => [`wasm ${k}`, v])));
    } catch (e) {
      json.notRun.wasm = `the wasm part failed: ${e?.stack ?? e}`;
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
  for (const part of ['wasm', 'webgpu']) {
    for (const r of json[part]?.rows ?? []) {
      for (const [lib, res] of Object.entries(r.results)) {
        if (!(res.err <= TOLERANCE)) failures.push(`${part} ${r.path} ${r.shape} ${lib}: err ${res.err}`);
      }
    }
  }
  json.correctnessFailures = failures;

  for (const t of TARGETS) {
    const row = findRow(json[t.backend]?.rows, t.shape, t.path);
    const ours = row?.results.pcpress, theirs = row?.results[t.vs];
    const ratio = ours && theirs ? ours.gflops / theirs.gflops : NaN;
    const met = Number.isFinite(ratio) ? ratio >= t.ratio && ours.err <= TOLERANCE : null;
    const otherPath = t.path === 'resident' ? 'arrays' : 'resident';
    const other = findRow(json[t.backend]?.rows, t.shape, otherPath);
    const otherRatio = other?.results.pcpress && other.results[t.vs] ? other.results.pcpress.gflops / other.results[t.vs].gflops : NaN;
    const allSizes = (json[t.backend]?.rows ?? []).filter((r) => r.path === t.path && r.results[t.vs])
      .map((r) => ({ shape: r.shape, ratio: r.results.pcpress.gflops / r.results[t.vs].gflops }));
    json.targets.push({ ...t, measured: ratio, met, otherPath, otherPathRatio: otherRatio, allSizes });
  }

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
    json.targets.map((t) => [t.text, Number.isFinite(t.measured) ? `${fmt(t.measured)}x (${t.path})` : 'not measured',
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
  md.push('- One thread everywhere on wasm. The WebGPU numbers come from SwiftShader (WGSL compiled to CPU code, using both cores), ' +
    'so they rank shader designs on this adapter, not on a GPU.');
  md.push('- A shared 2-core machine: absolute GFLOP/s move by 10-30% between runs; the libraries are sampled in turn so ratios move less.', '');

  if (json.wasm) {
    const w = json.wasm;
    const libs = ['pcpress', ...['tfjs', 'ort'].filter((l) => w.libs[l])];
    md.push('## wasm (Node, one thread)', '');
    md.push(`- pcpress ${w.libs.pcpress.version}: AssemblyScript wasm SIMD kernel (${w.libs.pcpress.reason}).`);
    if (w.libs.tfjs) md.push(`- tfjs: @tensorflow/tfjs-backend-wasm ${w.libs.tfjs.version} (XNNPACK), binary ${w.libs.tfjs.binary}, XNNPACK threads ${w.libs.tfjs.threads} (\`WASM_HAS_MULTITHREAD_SUPPORT\` forced false so the non-threaded build loads, and \`setThreadsCount(1)\`).`);
    if (w.libs.ort) md.push(`- ort-web: onnxruntime-web ${w.libs.ort.version}, wasm execution provider (MLAS), ${w.libs.ort.binary}; the MatMul model is written in memory by bench/onnx.mjs.`);
    for (const [k, v] of Object.entries(w.skipped)) md.push(`- ${k}: not run: ${v}`);
    md.push('');
    md.push(section('wasm, tensors resident (kernel path)', w.rows, libs, 'resident', w.timed.resident));
    if (w.timed.packed) md.push(section('wasm, B packed once by every library (weights)', w.rows, libs, 'packed', w.timed.packed));
    md.push(section('wasm, typed arrays in and out', w.rows, libs, 'arrays', w.timed.arrays));
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
