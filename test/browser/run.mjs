// The shared conformance cases in headless Chromium (puppeteer-core, Debian's chromium),
// page served from 127.0.0.1, on wasm and WebGPU (SwiftShader). Exit 1 on any failure.
import path from 'node:path';
import { runConformanceInBrowser, serveStatic, launchChromium } from '../../dist/browser.js';
import { formatTable, summarize } from '../../dist/conformance.js';

const report = await runConformanceInBrowser({ seed: process.env.PCPRESS_SEED ? Number(process.env.PCPRESS_SEED) : undefined });
for (const [b, v] of Object.entries(report.backends)) console.log(`${b}: ${v.reason}`);
console.log(formatTable(report.results));
const s = summarize(report);

// The README's browser example must run too.
const root = path.resolve(import.meta.dirname, '../..');
const server = await serveStatic(root);
const chromium = await launchChromium();
try {
  const page = await chromium.browser.newPage();
  await page.goto(`${server.url}/examples/browser/index.html`);
  await page.waitForFunction('window.exampleDone', { timeout: 60_000 });
  const lines = await page.evaluate(() => window.exampleDone);
  console.log(lines.join('\n'));
  const ok = lines.some((l) => /^auto -> (wasm|webgpu): \[58,64,139,154\]/.test(l)) && lines.some((l) => /^webgpu -> webgpu: \[58,64,139,154\]/.test(l));
  if (ok) s.passed++;
  else {
    s.failed++;
    console.log('FAIL examples/browser/index.html did not print the expected products');
  }
} finally {
  await chromium.close();
  await server.close();
}
const requireGpu = process.env.PCPRESS_REQUIRE_WEBGPU === '1';
console.log(`browser: ${s.passed} passed, ${s.failed + (requireGpu ? s.unavailable : 0)} failed${s.skipped ? `, ${s.skipped} skipped` : ''}`);
process.exit(s.failed || (requireGpu && s.unavailable) ? 1 : 0);
