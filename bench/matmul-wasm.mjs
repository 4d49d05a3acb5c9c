// Matmul on wasm, one thread, one Node process: pcpress (AssemblyScript SIMD) vs tfjs-backend-wasm (XNNPACK)
// vs onnxruntime-web (wasm backend, MLAS). Same inputs, interleaved samples, every result checked against f64.
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

async function startTfjs() {
  const tf = await import('@tensorflow/tfjs-core');
  const tfw = await import('@tensorflow/tfjs-backend-wasm');
  // One thread: pretend the engine has no wasm threads, so tfjs loads the non-threaded SIMD binary,
  // and also ask XNNPACK for one thread.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tfw.setThreadsCount(1);
  tfw.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    tf,
    info: {
      version: packageVersion('@tensorflow/tfjs-backend-wasm'),
      core: tf.version_core,
      binary: simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm',
      threads: tfw.getThreadsCount(),
    },
  };
}

async function startOrt() {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return { ort, info: { version: ort.env.versions?.web ?? packageVersion('onnxruntime-web'), threads: 1, binary: 'ort-wasm-simd-threaded.wasm (numThreads = 1)' } };
}

/**
 * Runs the wasm matmul comparison over `shapes` ([{ label, m, k, n }]).
 * Returns { libs, rows, skipped } where each row is { shape, path, results: { lib: { gflops, medianMs, samples, iters, err } } }.
 */
export async function benchMatmulWasm(shapes, { samples = 7, warmup = 2, minSampleMs = 25, log = () => {} } = {}) {
  const { createRuntime } = await import('pcpress');
  const rt = await createRuntime({ backend: 'wasm' });
  const libs = { pcpress: { version: packageVersion('pcpress'), backend: rt.backend, reason: rt.reason, threads: 1 } };
  const skipped = {};
  let tfjs, ort;
  try {
    tfjs = await startTfjs();
    libs.tfjs = tfjs.info;
  } catch (e) {
    skipped.tfjs = `tfjs-backend-wasm could not start in Node: ${e?.message ?? e}`;
  }
  try {
    ort = await startOrt();
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
    }, ...resident.slice(1)];

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
      log(`  wasm ${pathName.padEnd(8)} ${s.label.padEnd(18)} ` +
        contenders.map((c) => `${c.name} ${results[c.name].gflops.toFixed(2)}`).join('  ') + '  GFLOP/s');
    }

    ta.dispose();
    tb.dispose();
    packedB.dispose();
    if (tfjs) tfjs.tf.dispose([xa, xb]);
    await sessRes?.release();
    await sessArr?.release();
  }
  rt.destroy();
  return { libs, rows, skipped, timed: WASM_TIMED };
}
