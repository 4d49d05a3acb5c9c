// npm test: build, then the same suite in Node (vitest), Deno (deno test) and Chromium (puppeteer-core).
// WebGPU runs on whatever adapter each runtime finds; on machines with Debian's chromium installed,
// Node gets SwiftShader through VK_ICD_FILENAMES and a missing adapter fails the run.
// Then ONNX Runtime Web's operator vectors (../shared/peer-vectors, beside the clone in CI) through
// their runner, in Node and in Deno, on both backends; skipped with a message when that folder is absent
// (PCPRESS_PEER_VECTORS names another folder).
// Usage: npm test [-- --skip-build] [-- --only node,deno,vectors,browser]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);
const argv = process.argv.slice(2);
const onlyArg = argv.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.split('=')[1] ?? argv[argv.indexOf(onlyArg) + 1]).split(',') : ['node', 'deno', 'vectors', 'browser'];
const bin = (n) => path.join(root, 'node_modules', '.bin', n);
const cache = path.join(root, '.cache');
fs.mkdirSync(cache, { recursive: true });

const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = { ...process.env };
if (!env.XDG_RUNTIME_DIR) {
  env.XDG_RUNTIME_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-xdg-'));
  fs.chmodSync(env.XDG_RUNTIME_DIR, 0o700);
}
if (fs.existsSync(swiftshader)) env.PCPRESS_REQUIRE_WEBGPU ??= '1';
// Node's Dawn finds SwiftShader only through VK_ICD_FILENAMES (Deno and Chromium find their own adapters).
const nodeGpuEnv = fs.existsSync(swiftshader) && !env.VK_ICD_FILENAMES ? { VK_ICD_FILENAMES: swiftshader } : {};

// A stage that hangs is killed after this long and counts as failed, so CI never waits out its limit.
const STAGE_TIMEOUT_MS = Number(process.env.PCPRESS_STAGE_TIMEOUT_S ?? 1200) * 1000;

function run(label, cmd, args, extraEnv = {}) {
  console.log(`\n=== ${label}: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 28,
    timeout: STAGE_TIMEOUT_MS, killSignal: 'SIGKILL',
  });
  process.stdout.write(r.stdout ?? '');
  if (r.error) console.log(`${label}: ${r.error.message}`);
  return { status: r.status ?? 1, stdout: r.stdout ?? '' };
}

if (!argv.includes('--skip-build')) {
  const b = spawnSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) {
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const stages = [];

if (only.includes('node')) {
  const out = path.join(cache, 'vitest.json');
  fs.rmSync(out, { force: true });
  const r = run('node (vitest)', bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile=${out}`], nodeGpuEnv);
  let p = 0, f = 0, s = 0;
  if (fs.existsSync(out)) {
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    p = j.numPassedTests; f = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0); s = j.numPendingTests + (j.numTodoTests ?? 0);
  }
  if (r.status !== 0 && f === 0) f = 1;
  stages.push(['node', p, f, s]);
}

if (only.includes('deno')) {
  const junit = path.join(cache, 'deno.xml');
  fs.rmSync(junit, { force: true });
  const r = run('deno (deno test)', bin('deno'), ['test', '-A', '--no-check', `--junit-path=${junit}`, 'test/deno/']);
  let p = 0, f = 0;
  if (fs.existsSync(junit)) {
    // Count leaf test cases (steps are reported as testcases too).
    const xml = fs.readFileSync(junit, 'utf8');
    const cases = xml.match(/<testcase [^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
    for (const c of cases) (/<failure/.test(c) ? f++ : p++);
  }
  if (r.status !== 0 && f === 0) f = 1;
  stages.push(['deno', p, f, 0]);
}

if (only.includes('vectors')) {
  // The runner's --summary prints "ort-vectors: P passed, F failed, X not expressible (out of scope)"
  // and exits 1 when F > 0; P and F are counted per case and backend, X joins the skipped count.
  const runner = path.join(process.env.PCPRESS_PEER_VECTORS ?? path.resolve(root, '..', 'shared', 'peer-vectors'), 'run.mjs');
  if (!fs.existsSync(runner)) {
    console.log(`\n=== ORT vectors: skipped, ${path.dirname(runner)} does not exist (in CI shared/ is beside the clone)`);
  } else {
    for (const [name, label, cmd, args, extraEnv] of [
      ['vectors-node', 'ORT vectors, node', 'node', [runner, '--backend', 'both', '--summary'], nodeGpuEnv],
      ['vectors-deno', 'ORT vectors, deno', bin('deno'), ['run', '-A', runner, '--backend', 'both', '--summary'], {}],
    ]) {
      const r = run(label, cmd, args, extraEnv);
      const m = /^ort-vectors: (\d+) passed, (\d+) failed, (\d+) not expressible/m.exec(r.stdout);
      const p = m ? +m[1] : 0, f = m ? +m[2] : 0, s = m ? +m[3] : 0;
      stages.push([name, p, r.status !== 0 && f === 0 ? 1 : f, s]);
    }
  }
}

if (only.includes('browser')) {
  // Each browser script ends with a "<name>: N passed, N failed[, N skipped]" line; a script that prints none failed.
  for (const [name, label, file] of [
    ['chromium', 'chromium conformance (puppeteer-core)', 'test/browser/run.mjs'],
    ['demo', 'demo page (puppeteer-core)', 'test/browser/demo.mjs'],
    ['lm-demo', 'transformer demo page (puppeteer-core)', 'test/browser/lm-demo.mjs'],
    ['photo-parallel', 'photo tiles on Web Workers (puppeteer-core)', 'test/browser/photo-parallel.mjs'],
    ['threads', 'wasm threads on a cross-origin isolated page (puppeteer-core)', 'test/browser/threads.mjs'],
  ]) {
    const r = run(label, 'node', [file]);
    const m = /^\S+(?: \([^)]*\))?: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/m.exec(r.stdout);
    const p = m ? +m[1] : 0, f = m ? +m[2] : 1, sk = m?.[3] ? +m[3] : 0;
    if (!m) console.log(`${name}: no "N passed, N failed" line in its output: counted as failed`);
    stages.push([name, p, r.status !== 0 && f === 0 ? 1 : f, sk]);
  }
}

console.log('\n=== summary');
for (const [name, p, f, s] of stages) {
  console.log(`${name.padEnd(15)} ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
  totals.passed += p; totals.failed += f; totals.skipped += s;
}
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed ? 1 : 0);
