/**
 * Node-only helper: runs the conformance suite in headless Chromium (puppeteer-core), with the page
 * served from http://127.0.0.1 (WebGPU needs a secure context) and `--enable-unsafe-webgpu`.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConformanceOptions, ConformanceReport } from './conformance.js';
import { BackendUnavailableError } from './errors.js';

/** Root of the installed package (the folder holding dist/). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm',
  '.json': 'application/json', '.css': 'text/css', '.png': 'image/png', '.wgsl': 'text/plain',
};

/**
 * Headers on every response: they make the pages cross-origin isolated (`crossOriginIsolated` is true), which
 * browsers require for SharedArrayBuffer and so for pcpress's wasm threads; everything is served same-origin.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
});

/**
 * Serves `root` (and extra in-memory pages) on 127.0.0.1 at a free port, cross-origin isolated
 * (ISOLATION_HEADERS) unless `options.isolate` is false (to test pages without SharedArrayBuffer).
 */
export async function serveStatic(root: string, pages: Record<string, string> = {}, options: { isolate?: boolean } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const isolate = options.isolate ?? true;
  const server = http.createServer((req, res) => {
    if (isolate) for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (pages[urlPath] !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(pages[urlPath]);
      return;
    }
    const file = path.join(root, urlPath);
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Flags for headless Chromium with software WebGPU. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Launches headless Chromium (Debian's /usr/bin/chromium unless PCPRESS_CHROMIUM or CHROME_PATH says otherwise). */
export async function launchChromium(): Promise<{ browser: import('puppeteer-core').Browser; close(): Promise<void> }> {
  let puppeteer: typeof import('puppeteer-core');
  try {
    const name = 'puppeteer-core';
    puppeteer = (await import(/* @vite-ignore */ name)) as typeof import('puppeteer-core');
  } catch (e) {
    throw new BackendUnavailableError('browser', 'the npm package "puppeteer-core" is needed to drive Chromium (npm install puppeteer-core)', { cause: e });
  }
  const env = process.env;
  const executablePath = env.PCPRESS_CHROMIUM ?? env.CHROME_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new BackendUnavailableError('browser', `no Chromium at ${executablePath} (apt-get install chromium, or set PCPRESS_CHROMIUM)`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-chromium-'));
  const browser = await (puppeteer.default ?? puppeteer).launch({
    executablePath, headless: true, userDataDir, args: CHROMIUM_ARGS, protocolTimeout: 600_000,
  });
  return {
    browser,
    async close() {
      await browser.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>pcpress conformance</title>
<pre id="log">running…</pre>
<script type="module">
  import * as pc from '/dist/index.js';
  import { runConformance, formatTable } from '/dist/conformance.js';
  window.runSuite = async (opts) => {
    const report = await runConformance(pc, opts);
    document.getElementById('log').textContent = formatTable(report.results);
    return report;
  };
  window.suiteReady = true;
</script>`;

/** Runs the conformance suite in Chromium and returns its report. */
export async function runConformanceInBrowser(options: Omit<ConformanceOptions, 'onResult'> = {}): Promise<ConformanceReport> {
  const server = await serveStatic(packageRoot, { '/conformance.html': PAGE });
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String((e as Error)?.message ?? e)));
    await page.goto(`${server.url}/conformance.html`);
    await page.waitForFunction('window.suiteReady === true', { timeout: 60_000 }).catch(() => {
      throw new Error(`the conformance page did not load: ${errors.join('; ') || 'timeout'}`);
    });
    return (await page.evaluate((o) => (window as unknown as { runSuite(o: unknown): Promise<ConformanceReport> }).runSuite(o), options)) as ConformanceReport;
  } finally {
    await chromium.close();
    await server.close();
  }
}
