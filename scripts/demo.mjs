// `npm run demo`: builds the demo page (examples/demo) with esbuild into dist/demo/ and serves it on
// 127.0.0.1. The page is one HTML file, two JS bundles (the page and its tile workers; wasm and the photo
// model inlined in each) and a sample photo, so it works offline once loaded. `node scripts/demo.mjs --build` only builds.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');

/** Builds the demo into dist/demo; returns that folder. */
export async function buildDemo() {
  const out = path.join(root, 'dist', 'demo');
  fs.mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: { demo: path.join(root, 'examples/demo/demo.ts'), worker: path.join(root, 'examples/demo/worker.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    loader: { '.wasm': 'binary', '.wgsl': 'text' },
    external: ['webgpu', 'puppeteer-core', 'node:*'],
    legalComments: 'none',
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(root, 'examples/demo/index.html'), path.join(out, 'index.html'));
  fs.copyFileSync(path.join(root, 'test/fixtures/chelsea-192x144.png'), path.join(out, 'sample.png'));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildDemo();
  if (process.argv.includes('--build')) {
    console.log(`built ${path.relative(root, out)}/`);
  } else {
    const { serveStatic } = await import('../dist/browser.js');
    const server = await serveStatic(out);
    console.log(`pcpress demo: ${server.url}/index.html  (Ctrl-C to stop)`);
  }
}
