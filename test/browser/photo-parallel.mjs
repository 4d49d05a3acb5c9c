// compressPhotoParallel / decompressPhotoParallel in headless Chromium (module Web Workers loading
// dist/photo-worker.js), page served from 127.0.0.1: the streams must equal compressPhoto's, decoding must
// give the pixels back, and a corrupt stream must reject with the same CorruptDataError (lowest failing
// tile) as decompressPhoto. Fixture mosaic with a fresh seed. Run after npm run build:
// node test/browser/photo-parallel.mjs   (prints "photo-parallel: N passed, N failed"; exit 1 on any failure)
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';

const root = path.resolve(import.meta.dirname, '../..');
const seed = Number(process.env.PCPRESS_SEED ?? (Date.now() >>> 0));

const page = `<!doctype html><meta charset="utf-8"><script type="module">
import * as pc from '/dist/index.js';
const rand = pc.seededRandom(${seed});
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
const load = async (n) => pc.readImage(new Uint8Array(await (await fetch('/test/fixtures/' + n)).arrayBuffer()));
const out = [];
const check = (ok, what) => out.push([!!ok, what]);
try {
  const srcs = [await load('chelsea-192x144.png'), await load('coffee-64x48.png'), await load('camera-48x40.png')];
  const w = int(150, 230), h = int(90, 150), C = 3, data = new Uint8Array(w * h * C);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const s = srcs[((x >> 6) + (y >> 6)) % 3], p = ((y % s.height) * s.width + (x % s.width)) * s.channels;
    for (let c = 0; c < C; c++) data[(y * w + x) * C + c] = s.data[p + Math.min(c, s.channels - 1)];
  }
  const img = { width: w, height: h, channels: C, data };
  const model = await pc.loadPhotoModel();
  // the tile coder (fallback: false; with the default fallback a deflate stream may win, checked below)
  const ref = pc.compressPhoto(img, model, { tileSize: 32, fallback: false });
  for (const workers of [2, 3, undefined]) {
    const par = await pc.compressPhotoParallel(img, model, { tileSize: 32, workers, fallback: false });
    check(same(par, ref), 'workers ' + workers + ': stream identical to compressPhoto (' + ref.length + ' bytes)');
  }
  const auto = pc.compressPhoto(img, model, { tileSize: 32 });
  const autoPar = await pc.compressPhotoParallel(img, model, { tileSize: 32, workers: 2 });
  check(same(auto, autoPar) && same((await pc.decompressPhotoParallel(autoPar, model, { workers: 2 })).data, data),
    'default fallback: the same stream (' + pc.streamKind(auto) + ', ' + auto.length + ' bytes) and pixels as compressPhoto');
  const back = await pc.decompressPhotoParallel(ref, model, { workers: 3 });
  check(back.width === w && back.height === h && same(back.data, data), 'decoded pixels identical');
  const info = pc.photoStreamInfo(ref), bad = ref.slice();
  const a = int(1, info.tiles.length - 3), b = int(a + 1, info.tiles.length - 1);
  for (const t of [info.tiles[a], info.tiles[b]]) bad[t.offset + int(0, t.length - 1)] ^= 1 << int(0, 7);
  let s;
  try { pc.decompressPhoto(bad, model); } catch (e) { s = e; }
  const p = await pc.decompressPhotoParallel(bad, model, { workers: 2 }).then(() => undefined, (e) => e);
  check(s && p instanceof pc.CorruptDataError && p.code === s.code && /tile (\\d+)/.exec(p.message)[1] === /tile (\\d+)/.exec(s.message)[1],
    'corrupt stream: ' + (p && p.message));
  const m = await pc.compressPhotoParallel(img, model, { tileSize: 32, workers: 2, workerUrl: new URL('/dist/no-such-worker.js', location.href) }).then(() => undefined, (e) => e);
  check(m instanceof pc.PhotoWorkerError, 'missing worker script: ' + (m && m.name));
  // adaptive streams (0xB9): model mixing and palette indices decode on module Web Workers exactly
  for (const [im, mode] of [[img, 'adaptive'], [{ ...img, data: data.map((v) => v & 0xc0) }, 'palette']]) {
    const s2 = pc.compressAdaptive(im, model, { tileSize: 32, palette: mode === 'palette' }), i2 = pc.photoStreamInfo(s2);
    const b2 = await pc.decompressPhotoParallel(s2, model, { workers: 3 });
    check(i2.mode === mode && i2.tiles.length > 4 && same(b2.data, im.data), 'adaptive stream (' + mode + ', ' + i2.tiles.length + ' tiles): decoded on workers exactly');
  }
} catch (e) {
  check(false, 'threw ' + e.name + ': ' + e.message);
}
window.done = out;
</script>`;

const server = await serveStatic(root, { '/photo-parallel.html': page });
const chromium = await launchChromium();
let passed = 0, failed = 0;
try {
  const p = await chromium.browser.newPage();
  p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await p.goto(`${server.url}/photo-parallel.html`);
  await p.waitForFunction('window.done', { timeout: 120_000 });
  for (const [ok, what] of await p.evaluate(() => window.done)) {
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  }
} catch (e) {
  failed++;
  console.log(`FAIL ${e.message}`);
} finally {
  await chromium.close();
  await server.close();
}
console.log(`photo-parallel (seed ${seed}): ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
