// `npm run demo:lm`: builds the transformer demo page (examples/lm) with esbuild into dist/demo-lm/ and serves it on
// 127.0.0.1 until Ctrl-C (SIGINT), SIGTERM or SIGHUP, or until the process that started it exits.
// dist/demo-lm holds index.html, lm.js (the page, the library's wasm inlined) and models/tiny/: the bundled model's
// files that are in the checkout (config.json, model.safetensors, tokenizer.json, heldout.txt), where
// loadTransformer(rt, 'tiny') looks from the page (lm.js sits at the root, so <root>/models/tiny/). Without the
// weights the page loads and says which file is missing (the library's ModelFileError).
// `node scripts/demo-lm.mjs --build` only builds; `--no-build` serves what dist/demo-lm already holds.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundlePage, serve } from './demo.mjs';

const root = path.resolve(import.meta.dirname, '..');

/** The bundled model's files the page uses (copied when present). */
export const TINY_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'heldout.txt'];

/** Builds the page into dist/demo-lm (emptied first); returns that folder. */
export async function buildLmDemo() {
  const out = path.join(root, 'dist', 'demo-lm');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  await bundlePage({ lm: path.join(root, 'examples/lm/lm.ts') }, out);
  fs.copyFileSync(path.join(root, 'examples/lm/index.html'), path.join(out, 'index.html'));
  const tiny = path.join(root, 'models', 'tiny');
  fs.mkdirSync(path.join(out, 'models', 'tiny'), { recursive: true });
  for (const f of TINY_FILES) {
    if (fs.existsSync(path.join(tiny, f))) fs.copyFileSync(path.join(tiny, f), path.join(out, 'models', 'tiny', f));
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const noBuild = process.argv.includes('--no-build');
  if (noBuild && !fs.existsSync(path.join(root, 'dist/demo-lm/index.html'))) {
    console.error('dist/demo-lm is not built; run node scripts/demo-lm.mjs --build first');
    process.exit(1);
  }
  const out = noBuild ? path.join(root, 'dist', 'demo-lm') : await buildLmDemo();
  if (!fs.existsSync(path.join(out, 'models', 'tiny', 'model.safetensors'))) {
    console.log('note: models/tiny/model.safetensors is not in this checkout: the page will say the weights are missing');
  }
  if (process.argv.includes('--build')) console.log(`built ${path.relative(root, out)}/`);
  else await serve(out, 'pcpress lm demo');
}
