// `npm run demo:lm`: builds the transformer demo page (examples/lm) with esbuild into dist/demo-lm/ and serves it on
// 127.0.0.1 until Ctrl-C (SIGINT), SIGTERM or SIGHUP, or until the process that started it exits.
// dist/demo-lm holds index.html, lm.js (the page, the library's wasm inlined) and model/: the model folder's
// config.json and model.safetensors, and manifest.json (name, tokenizer kind, example prompts, default window),
// which the page fetches. MODEL below is the one line to change to demo another model folder.
// `node scripts/demo-lm.mjs --build` only builds; `--no-build` serves what dist/demo-lm already holds.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundlePage, serve } from './demo.mjs';

const root = path.resolve(import.meta.dirname, '..');

/** The model the page runs: a folder with config.json, model.safetensors (and reference.json for example prompts). */
export const MODEL = { dir: 'test/fixtures/lm/llama', name: 'tiny random Llama (test fixture)', about: 'random weights from scripts/make-lm-fixture.py: its tokens are not text', tokenizer: { kind: 'ids' }, window: 4, maxNewTokens: 10 };

/** The example prompts: from the folder's reference.json (the fixture's checked prompts), else none. */
function examplePrompts(dir) {
  const f = path.join(dir, 'reference.json');
  if (!fs.existsSync(f)) return [];
  const ref = JSON.parse(fs.readFileSync(f, 'utf8'));
  const out = [];
  if (ref.greedy) out.push({ label: `greedy reference (${ref.greedy.prompt.length} tokens)`, text: ref.greedy.prompt.join(' ') });
  if (ref.evicted) out.push({ label: `eviction reference (${ref.evicted.prompt.length} tokens)`, text: ref.evicted.prompt.join(' ') });
  for (const [i, p] of (ref.prompts ?? []).entries()) out.push({ label: `prompt ${i + 1} (${p.tokens.length} tokens)`, text: p.tokens.join(' ') });
  return out;
}

/** Builds the page into dist/demo-lm (emptied first); returns that folder. */
export async function buildLmDemo() {
  const out = path.join(root, 'dist', 'demo-lm');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, 'model'), { recursive: true });
  await bundlePage({ lm: path.join(root, 'examples/lm/lm.ts') }, out);
  fs.copyFileSync(path.join(root, 'examples/lm/index.html'), path.join(out, 'index.html'));
  const dir = path.join(root, MODEL.dir);
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(dir, f), path.join(out, 'model', f));
  const manifest = {
    name: MODEL.name, about: MODEL.about, tokenizer: MODEL.tokenizer, prompts: examplePrompts(dir), window: MODEL.window, maxNewTokens: MODEL.maxNewTokens,
  };
  fs.writeFileSync(path.join(out, 'model', 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // The bundled model where loadTransformer(rt, 'tiny') looks from the page (lm.js at the root: <root>/models/tiny/),
  // once its weights are in the checkout.
  const tiny = path.join(root, 'models', 'tiny');
  if (fs.existsSync(path.join(tiny, 'model.safetensors'))) {
    fs.mkdirSync(path.join(out, 'models', 'tiny'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      if (fs.existsSync(path.join(tiny, f))) fs.copyFileSync(path.join(tiny, f), path.join(out, 'models', 'tiny', f));
    }
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
  if (process.argv.includes('--build')) console.log(`built ${path.relative(root, out)}/`);
  else await serve(out, 'pcpress lm demo');
}
