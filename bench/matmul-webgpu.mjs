// Matmul on WebGPU in headless Chromium: pcpress WGSL vs tfjs-backend-webgpu in the same page, same adapter.
// Node side: serves the repository root on 127.0.0.1, opens bench/matmul-webgpu.html, collects the results.
import { repoRoot, packageVersion } from './env.mjs';

/** What each timed call covers, per path (goes into the results file). */
export const WEBGPU_TIMED = {
  resident:
    'inputs already in GPU buffers; timed = one matmul dispatch + reading C back to a new JS Float32Array (awaited). ' +
    'pcpress: `rt.matmul(tensorA, tensorB)` + `await read()`. tfjs: `tf.matMul(a, b)` + `await data()`.',
  arrays:
    'plain Float32Arrays in, a Float32Array out; timed = upload A and B + matmul + read C back + free. ' +
    'pcpress: `await rt.matmul(a, b)`. tfjs: `tf.tensor2d(a)`, `tf.tensor2d(b)`, `tf.matMul`, `await data()`, dispose.',
};

/**
 * Runs the WebGPU comparison in Chromium. `shapes`: [{ label, m, k, n, samples?, warmup?, paths? }].
 * Returns { libs, info, rows } or throws with the reason it could not run.
 */
export async function benchMatmulWebgpu(shapes, { samples = 5, warmup = 2, minSampleMs = 30, log = () => {} } = {}) {
  const { launchChromium, serveStatic } = await import('../dist/browser.js');
  const server = await serveStatic(repoRoot, { '/favicon.ico': '' });
  let chromium;
  try {
    chromium = await launchChromium();
    const browserVersion = await chromium.browser.version();
    const page = await chromium.browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e?.message ?? e)));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
      else if (msg.text().startsWith('webgpu ')) log(`  ${msg.text()}`);
    });
    await page.goto(`${server.url}/bench/matmul-webgpu.html`);
    await page.waitForFunction('window.benchReady === true', { timeout: 60_000 }).catch(() => {
      throw new Error(`the bench page did not load: ${errors.join('; ') || 'timeout'}`);
    });
    let res;
    try {
      res = await page.evaluate((s, o) => window.runMatmulBench(s, o), shapes, { samples, warmup, minSampleMs });
    } catch (e) {
      throw new Error(`${e?.message ?? e}${errors.length ? ` (page errors: ${errors.join('; ')})` : ''}`);
    }
    return {
      libs: {
        pcpress: { version: packageVersion('pcpress'), backend: 'webgpu' },
        tfjs: { version: packageVersion('@tensorflow/tfjs-backend-webgpu'), core: res.info.tfjs.version },
      },
      info: { chromium: browserVersion, ...res.info },
      rows: res.rows,
      timed: WEBGPU_TIMED,
    };
  } finally {
    await chromium?.close();
    await server.close();
  }
}
