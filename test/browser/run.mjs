// The shared conformance cases in headless Chromium (puppeteer-core, Debian's chromium),
// page served from 127.0.0.1, on wasm and WebGPU (SwiftShader). Exit 1 on any failure.
import { runConformanceInBrowser } from '../../dist/browser.js';
import { formatTable, summarize } from '../../dist/conformance.js';

const report = await runConformanceInBrowser({ seed: process.env.PCPRESS_SEED ? Number(process.env.PCPRESS_SEED) : undefined });
for (const [b, v] of Object.entries(report.backends)) console.log(`${b}: ${v.reason}`);
console.log(formatTable(report.results));
const s = summarize(report);
const requireGpu = process.env.PCPRESS_REQUIRE_WEBGPU === '1';
console.log(`browser: ${s.passed} passed, ${s.failed + (requireGpu ? s.unavailable : 0)} failed`);
process.exit(s.failed || (requireGpu && s.unavailable) ? 1 : 0);
