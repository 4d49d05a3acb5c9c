// `npm run demo`: builds the demo page (examples/demo) with esbuild into dist/demo/ and serves it on
// 127.0.0.1 until Ctrl-C (SIGINT), SIGTERM or SIGHUP, or until the process that started it (npm) exits; then
// it closes the server and ends the process.
// dist/demo holds: index.html; demo.js (the page); photo-worker.js (the library's photo worker, src/photo/worker.ts,
// started by PhotoWorkerPool with a workerUrl next to demo.js); chunks/ (code shared by the two, the photo
// model, and lazily loaded parts: the MNIST model, loaded only when an MNIST .pcx is opened, and the
// @jsquash/webp encoder); libwebp's wasm (webp_enc_simd.wasm, webp_enc.wasm, found by the encoder through
// locateFile); and a sample photo. The library's wasm is inlined in the JS, so the page works offline once loaded.
// `node scripts/demo.mjs --build` only builds; `--no-build` serves what dist/demo already holds.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const webpCodec = path.join(root, 'node_modules/@jsquash/webp/codec/enc');

/**
 * Bundles page entry points for the browser with esbuild into `out` (ES modules, the library's wasm and WGSL
 * inlined, Node-only packages left out); `extra` adds esbuild options. Shared by the demo pages.
 */
export async function bundlePage(entryPoints, out, extra = {}) {
  await esbuild.build({
    entryPoints, outdir: out, bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    loader: { '.wasm': 'binary', '.wgsl': 'text' }, external: ['webgpu', 'puppeteer-core', 'node:*'],
    legalComments: 'none', logLevel: 'warning', ...extra,
  });
}

/** Builds the demo into dist/demo (emptied first, so no stale chunks stay); returns that folder. */
export async function buildDemo() {
  const out = path.join(root, 'dist', 'demo');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  await bundlePage({ demo: path.join(root, 'examples/demo/demo.ts'), 'photo-worker': path.join(root, 'src/photo/worker.ts') }, out,
    { splitting: true, chunkNames: 'chunks/[name]-[hash]' });
  fs.copyFileSync(path.join(root, 'examples/demo/index.html'), path.join(out, 'index.html'));
  fs.copyFileSync(path.join(root, 'test/fixtures/chelsea-192x144.png'), path.join(out, 'sample.png'));
  for (const f of ['webp_enc_simd.wasm', 'webp_enc.wasm']) fs.copyFileSync(path.join(webpCodec, f), path.join(out, f));
  return out;
}

/**
 * Serves `out` until SIGINT (Ctrl-C), SIGTERM or SIGHUP, or until the process that started it exits; then
 * closes the server (idle keep-alive sockets included) and exits with code 0. `label` names the page.
 */
export async function serve(out, label = 'pcpress demo') {
  const { serveStatic } = await import('../dist/browser.js');
  const server = await serveStatic(out);
  console.log(`${label}: ${server.url}/index.html  (pid ${process.pid}; Ctrl-C to stop)`);
  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    console.log(`\n${why}: stopping the demo server`);
    // serveStatic's close() stops listening at once and ends the idle keep-alive sockets (Node >= 19), but a
    // socket whose response was still in flight stays open after it until the keep-alive timeout (close()
    // resolved after 6 s in a test on Node 20), so after a 1 s grace for responses in flight we exit anyway
    const force = setTimeout(() => {
      console.log('connections still open after 1 s; exiting anyway');
      process.exit(0);
    }, 1000);
    force.unref();
    server.close().then(() => process.exit(0), (e) => {
      console.error(`closing the server failed: ${e.message}`);
      process.exit(1);
    });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (stopping) process.exit(1); // a second Ctrl-C: do not wait any longer
      stop(signal);
    });
  }
  // `npm run demo` starts us through `sh -c`, and npm passes a SIGTERM it gets to that shell only: the shell
  // dies and we would serve on as an orphan. So we also stop when the process that started us is gone.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) stop(`the parent process (${parent}) exited`);
  }, 250);
  watch.unref();
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const noBuild = process.argv.includes('--no-build');
  if (noBuild && !fs.existsSync(path.join(root, 'dist/demo/index.html'))) {
    console.error('dist/demo is not built; run node scripts/demo.mjs --build first');
    process.exit(1);
  }
  const out = noBuild ? path.join(root, 'dist', 'demo') : await buildDemo();
  if (process.argv.includes('--build')) console.log(`built ${path.relative(root, out)}/`);
  else await serve(out);
}
