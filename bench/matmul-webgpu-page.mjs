// Runs in Chromium (loaded by bench/matmul-webgpu.html): pcpress WGSL vs tfjs-backend-webgpu in one page.
import * as pc from '/dist/index.js';
import * as tf from '@tensorflow/tfjs-core';
import '/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.fesm.js';
import { randomF32, refMatmulF64, maxRelDiff, gflops, timeInterleaved } from '/bench/lib.mjs';

const logEl = document.getElementById('log');
const say = (s) => {
  logEl.textContent += `\n${s}`;
  console.log(s);
};

/** Starts both libraries on WebGPU and returns adapter facts. */
async function start() {
  const rt = await pc.createRuntime({ backend: 'webgpu' });
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") returned false');
  await tf.ready();
  const ai = tf.backend().adapterInfo ?? {};
  const a = rt.info.adapter ?? {};
  return {
    rt,
    info: {
      userAgent: navigator.userAgent,
      pcpress: { reason: rt.reason, vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, isFallbackAdapter: a.isFallbackAdapter, isSoftware: a.isSoftware },
      tfjs: { version: tf.version_core, vendor: ai.vendor, architecture: ai.architecture },
    },
  };
}

/** shapes: [{ label, m, k, n, samples?, warmup?, paths? }]; returns { info, rows }. */
window.runMatmulBench = async (shapes, opts) => {
  const { rt, info } = await start();
  say(`pcpress: ${info.pcpress.reason}`);
  say(`tfjs: ${info.tfjs.vendor} / ${info.tfjs.architecture}`);
  const rows = [];
  for (const s of shapes) {
    const { m, k, n } = s;
    const o = { m, k, n };
    const a = randomF32(m * k, 1000 + m * 7 + k), b = randomF32(k * n, 2000 + k * 7 + n);
    const ref = refMatmulF64(a, b, m, k, n);
    const ta = rt.tensor(a, [m, k]), tb = rt.tensor(b, [k, n]);
    const xa = tf.tensor2d(a, [m, k]), xb = tf.tensor2d(b, [k, n]);
    const paths = {
      resident: [
        { name: 'pcpress', fn: async () => { const c = rt.matmul(ta, tb, o); try { return await c.read(); } finally { c.dispose(); } } },
        { name: 'tfjs', fn: async () => { const c = tf.matMul(xa, xb); try { return await c.data(); } finally { c.dispose(); } } },
      ],
      arrays: [
        { name: 'pcpress', fn: () => rt.matmul(a, b, o) },
        {
          name: 'tfjs',
          fn: async () => {
            const ya = tf.tensor2d(a, [m, k]), yb = tf.tensor2d(b, [k, n]);
            const c = tf.matMul(ya, yb);
            try { return await c.data(); } finally { tf.dispose([ya, yb, c]); }
          },
        },
      ],
    };
    for (const pathName of s.paths ?? Object.keys(paths)) {
      const contenders = paths[pathName];
      const t = await timeInterleaved(contenders, {
        samples: s.samples ?? opts.samples, warmup: s.warmup ?? opts.warmup, minSampleMs: opts.minSampleMs,
      });
      const results = {};
      for (const c of contenders) {
        const r = t[c.name];
        results[c.name] = {
          gflops: gflops(m, k, n, r.medianMs), medianMs: r.medianMs, iters: r.iters,
          samplesMs: r.samples.map((x) => +x.toPrecision(4)), err: maxRelDiff(r.last, ref),
        };
      }
      results.tfjs.diffVsPcpress = maxRelDiff(t.tfjs.last, t.pcpress.last);
      rows.push({ shape: s.label, m, k, n, path: pathName, results });
      say(`webgpu ${pathName} ${s.label}: pcpress ${results.pcpress.gflops.toFixed(3)}, tfjs ${results.tfjs.gflops.toFixed(3)} GFLOP/s`);
    }
    ta.dispose();
    tb.dispose();
    tf.dispose([xa, xb]);
  }
  rt.destroy();
  return { info, rows };
};
window.benchReady = true;
