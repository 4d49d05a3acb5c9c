// Matmul on wasm in one Node process, N threads each: pcpress (AssemblyScript SIMD, `threads: N`) vs
// tfjs-backend-wasm (XNNPACK, `setThreadsCount(N)`) vs onnxruntime-web (wasm backend, MLAS, `numThreads = N`).
// Same inputs, interleaved samples, every result checked against f64. The peers fix their thread count when
// they start, so each N > 1 runs in a child process: `node bench/matmul-wasm.mjs --child '{"threads":2,...}'`.
import path from 'node:path';
import { createRequire } from 'node:module';
import { randomF32, refMatmulF64, maxRelDiff, gflops, timeInterleaved } from './lib.mjs';
import { repoRoot, packageVersion } from './env.mjs';
import { matmulModel } from './onnx.mjs';

const require = createRequire(path.join(repoRoot, 'package.json'));

/** What each timed call covers, per path (goes into the results file). */
export const WASM_TIMED = {
  resident:
    'inputs already in each library\'s wasm memory; timed = one matmul + copying C out to a new JS Float32Array. ' +
    'pcpress: `rt.matmul(tensorA, tensorB)` + `read()` (packs B on every call). ' +
    'tfjs: `tf.matMul(a, b)` + `dataSync()` (XNNPACK caches its operator per B tensor, so B is packed once, on the first call, and reused). ' +
    'onnxruntime-web: B is a constant initializer (packed once at session creation), `session.run({A})` copies A in and C out each call.',
  packed:
    'B packed once by every library, outside the timed call; timed = one matmul + copying C out. ' +
    'pcpress: `rt.matmul(tensorA, rt.packB(b))` + `read()` (B packed once by `rt.packB`). ' +
    'tfjs and onnxruntime-web: as on the resident path (XNNPACK\'s cached operator, ORT\'s prepacked initializer).',
  arrays:
    'plain Float32Arrays in, a Float32Array out; timed = copy A and B in + matmul (B packed) + copy C out + free. ' +
    'pcpress: `await rt.matmul(a, b)`. tfjs: `tf.tensor2d(a)`, `tf.tensor2d(b)`, `tf.matMul`, `dataSync()`, dispose. ' +
    'onnxruntime-web: A and B both graph inputs, `session.run({A, B})`.',
};

async function startTfjs(threads) {
  const tf = await import('@tensorflow/tfjs-core');
  const tfw = await import('@tensorflow/tfjs-backend-wasm');
  // One thread: pretend the engine has no wasm threads, so tfjs loads the non-threaded SIMD binary,
  // and also ask XNNPACK for one thread. More: insist on the threaded binary (its detection says no in Node).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
  tfw.setThreadsCount(threads);
  tfw.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    tf,
    info: {
      version: packageVersion('@tensorflow/tfjs-backend-wasm'),
      core: tf.version_core,
      binary: threads > 1 ? 'tfjs-backend-wasm-threaded-simd.wasm' : simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm',
      threads: tfw.getThreadsCount(),
    },
  };
}

async function startOrt(threads) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return { ort, info: { version: ort.env.versions?.web ?? packageVersion('onnxruntime-web'), threads, binary: `ort-wasm-simd-threaded.wasm (numThreads = ${threads})` } };
}

/**
 * Runs the wasm matmul comparison over `shapes` ([{ label, m, k, n }]).
 * Returns { libs, rows, skipped } where each row is { shape, path, results: { lib: { gflops, medianMs, samples, iters, err } } }.
 */
export async function benchMatmulWasm(shapes, { threads = 1, samples = 7, warmup = 2, minSampleMs = 25, log = () => {} } = {}) {
  const { createRuntime } = await import('pcpress');
  const rt = await createRuntime({ backend: 'wasm', threads });
  const libs = { pcpress: { version: packageVersion('pcpress'), backend: rt.backend, reason: rt.reason, threads: rt.info.threads } };
  // With N > 1, pcpress on one thread runs interleaved beside it (resident path): thread scaling measured
  // under the same load, which a comparison across processes (and so for the peers) cannot promise.
  const rt1 = threads > 1 ? await createRuntime({ backend: 'wasm', threads: 1 }) : undefined;
  if (rt1) libs.pcpress1 = { ...libs.pcpress, reason: rt1.reason, threads: 1 };
  const skipped = {};
  let tfjs, ort;
  try {
    tfjs = await startTfjs(threads);
    libs.tfjs = tfjs.info;
  } catch (e) {
    skipped.tfjs = `tfjs-backend-wasm could not start in Node with ${threads} thread${threads > 1 ? 's' : ''}: ${e?.message ?? e}`;
  }
  try {
    ort = await startOrt(threads);
    libs.ort = ort.info;
  } catch (e) {
    skipped.ort = `onnxruntime-web could not start in Node: ${e?.message ?? e}`;
  }

  const rows = [];
  for (const s of shapes) {
    const { m, k, n } = s;
    const a = randomF32(m * k, 1000 + m * 7 + k), b = randomF32(k * n, 2000 + k * 7 + n);
    const ref = refMatmulF64(a, b, m, k, n);
    const o = { m, k, n };

    // resident path: inputs uploaded once
    const ta = rt.tensor(a, [m, k]), tb = rt.tensor(b, [k, n]);
    const resident = [{
      name: 'pcpress',
      fn: async () => {
        const c = rt.matmul(ta, tb, o);
        try {
          return await c.read();
        } finally {
          c.dispose();
        }
      },
    }];
    let t1a, t1b;
    if (rt1) {
      t1a = rt1.tensor(a, [m, k]);
      t1b = rt1.tensor(b, [k, n]);
      resident.push({
        name: 'pcpress1',
        fn: async () => {
          const c = rt1.matmul(t1a, t1b, o);
          try {
            return await c.read();
          } finally {
            c.dispose();
          }
        },
      });
    }
    let xa, xb, sessRes, sessArr;
    if (tfjs) {
      const { tf } = tfjs;
      xa = tf.tensor2d(a, [m, k]);
      xb = tf.tensor2d(b, [k, n]);
      resident.push({
        name: 'tfjs',
        fn: () => {
          const c = tf.matMul(xa, xb);
          const r = c.dataSync();
          c.dispose();
          return r;
        },
      });
    }
    if (ort) {
      const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
      sessRes = await ort.ort.InferenceSession.create(matmulModel(m, k, n, b), opts);
      sessArr = await ort.ort.InferenceSession.create(matmulModel(m, k, n), opts);
      const feeds = { A: new ort.ort.Tensor('float32', a, [m, k]) };
      resident.push({ name: 'ort', fn: async () => (await sessRes.run(feeds)).C.data });
    }

    // packed path: pcpress with B packed once (the peers' resident calls already keep B packed)
    const packedB = rt.packB(b, { k, n });
    const packed = [{
      name: 'pcpress',
      fn: async () => {
        const c = rt.matmul(ta, packedB, o);
        try {
          return await c.read();
        } finally {
          c.dispose();
        }
      },
    }, ...resident.slice(1).filter((c) => c.name !== 'pcpress1')];

    // arrays path: typed arrays in and out every call
    const arrays = [{ name: 'pcpress', fn: () => rt.matmul(a, b, o) }];
    if (tfjs) {
      const { tf } = tfjs;
      arrays.push({
        name: 'tfjs',
        fn: () => {
          const ya = tf.tensor2d(a, [m, k]), yb = tf.tensor2d(b, [k, n]);
          const c = tf.matMul(ya, yb);
          const r = c.dataSync();
          tf.dispose([ya, yb, c]);
          return r;
        },
      });
    }
    if (ort) {
      const T = ort.ort.Tensor;
      arrays.push({ name: 'ort', fn: async () => (await sessArr.run({ A: new T('float32', a, [m, k]), B: new T('float32', b, [k, n]) })).C.data });
    }

    for (const [pathName, contenders] of [['resident', resident], ['packed', packed], ['arrays', arrays]]) {
      const t = await timeInterleaved(contenders, { samples, warmup, minSampleMs });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = {
          gflops: gflops(m, k, n, r.medianMs), medianMs: r.medianMs, iters: r.iters,
          samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: maxRelDiff(r.last, ref),
        };
      }
      // pairwise: every library's last result against pcpress's
      const ours = t.pcpress.last;
      for (const c of contenders) if (c.name !== 'pcpress') results[c.name].diffVsPcpress = maxRelDiff(t[c.name].last, ours);
      rows.push({ shape: s.label, m, k, n, path: pathName, results });
      log(`  wasm ${threads}T ${pathName.padEnd(8)} ${s.label.padEnd(18)} ` +
        contenders.map((c) => `${c.name} ${results[c.name].gflops.toFixed(2)}`).join('  ') + '  GFLOP/s');
    }

    ta.dispose();
    tb.dispose();
    packedB.dispose();
    t1a?.dispose();
    t1b?.dispose();
    if (tfjs) tfjs.tf.dispose([xa, xb]);
    await sessRes?.release();
    await sessArr?.release();
  }
  rt.destroy();
  rt1?.destroy();
  return { threads, libs, rows, skipped, timed: WASM_TIMED };
}

/** Runs benchMatmulWasm in a child process (the peers fix their thread count per process); resolves to its result. */
export async function benchMatmulWasmChild(shapes, options, log = () => {}) {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify({ shapes, options })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { for (const line of String(d).split('\n')) if (line.trim()) log(line); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  const last = out.trim().split('\n').pop();
  if (code !== 0 || !last) throw new Error(`the ${options.threads}-thread child exited with ${code}`);
  return JSON.parse(last);
}

if (process.argv[2] === '--child') {
  const { shapes, options } = JSON.parse(process.argv[3]);
  const res = await benchMatmulWasm(shapes, { ...options, log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${JSON.stringify(res)}\n`);
  process.exit(0); // the peers' worker threads would keep the child alive
}
