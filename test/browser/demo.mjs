// The demo page in headless Chromium: served from 127.0.0.1, it compresses a real photo (a held-out
// skimage crop) through the page's file input, decodes it back, and the numbers it shows are checked
// against an independent computation here (sizes, bits per subpixel, identity). Then the downloaded
// .pcx is fed back through the page's "decompress a file" input. Screenshot: .cache/demo.png.
// Prints "demo: N passed, N failed"; exit 1 on any failure. Usage: node test/browser/demo.mjs
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';
import { buildDemo } from '../../scripts/demo.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const photo = path.join(root, 'test/fixtures/chelsea-192x144.png');
const cache = path.join(root, '.cache');
fs.mkdirSync(cache, { recursive: true });

let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

/** Runs the demo test; returns { passed, failed }. */
export async function runDemoTest() {
  const out = await buildDemo();
  const server = await serveStatic(out);
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.demoReady || window.demoError', { timeout: 120_000 });
    check(!(await page.evaluate(() => window.demoError)), 'page loaded the photo model');
    const backend = await page.$eval('#backend', (e) => e.textContent);
    check(/coder: wasm SIMD/.test(backend) && /backend: (wasm|webgpu)/.test(backend), `backend shown: ${backend}`);

    // compress through the real file input
    const input = await page.$('#file');
    await input.uploadFile(photo);
    await page.waitForFunction('window.demoResult || window.demoError', { timeout: 120_000 });
    const r = await page.evaluate(() => window.demoResult);
    check(!!r, `round trip ran (${r ? `${r.width}x${r.height}x${r.channels}, ${r.bytes} bytes, ${r.bpsp.toFixed(3)} bpsp` : 'no result'})`);
    if (r) {
      check(r.identical, 'decoded image identical to the original');
      check(r.width === 192 && r.height === 144 && r.channels === 3, 'image read as 192x144 RGB');
      const verdict = await page.$eval('#verdict', (e) => e.textContent);
      check(/identical/.test(verdict), `page says: ${verdict}`);
      // numbers in the table agree with the result and with each other
      const rows = await page.$$eval('#sizes tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      const ours = rows.find((row) => row[0].startsWith('pcpress'));
      const n = r.width * r.height * r.channels;
      check(ours && Number(ours[1].replace(/,/g, '')) === r.bytes, `table shows our size ${ours?.[1]}`);
      check(ours && Math.abs(Number(ours[2]) - (8 * r.bytes) / n) < 0.0006, `table bpsp ${ours?.[2]} = 8 x bytes / subpixels`);
      const raw = rows.find((row) => row[0].startsWith('raw'));
      check(raw && Number(raw[1].replace(/,/g, '')) === n && raw[2] === '8.000', 'raw row: 8 bits/subpixel');
      const png = rows.find((row) => row[0].startsWith('PNG')), webp = rows.find((row) => row[0].startsWith('WebP'));
      check(png && Number(png[1].replace(/,/g, '')) === r.pngBytes && r.pngBytes > 0, `PNG size shown ${png?.[1]}`);
      check(webp && Number(webp[1].replace(/,/g, '')) === r.webpBytes && r.webpBytes > 0, `WebP size shown ${webp?.[1]}`);
      check(r.bytes < r.pngBytes, `ours (${r.bytes}) smaller than the browser's PNG (${r.pngBytes})`);
      check(r.encodeMs > 0 && r.decodeMs > 0 && /MP\/s/.test(ours?.[3] ?? ''), `times shown: ${ours?.[3]}`);
      check(r.workers >= 1 && new RegExp(`on ${r.workers} worker`).test(ours?.[3] ?? ''), `tiles coded by ${r.workers} workers`);
      // the download link holds the stream; feed it back through "decompress a file"
      const pcx = await page.$eval('#dl-pcx', async (a) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
      check(pcx.length === r.bytes && pcx[0] === 0xb3, `download link holds the ${pcx.length}-byte stream`);
      const pcxFile = path.join(cache, 'demo-sample.pcx');
      fs.writeFileSync(pcxFile, Uint8Array.from(pcx));
      await page.screenshot({ path: path.join(cache, 'demo.png'), fullPage: true });
      const pin = await page.$('#pcx');
      await pin.uploadFile(pcxFile);
      await page.waitForFunction('window.demoDecoded || window.demoError', { timeout: 60_000 });
      const d = await page.evaluate(() => window.demoDecoded);
      check(d && d.width === 192 && d.height === 144 && d.channels === 3, 'page decompressed the downloaded file');
      // a corrupt file gets a typed error message, not a hang
      const bad = Uint8Array.from(pcx);
      bad[bad.length - 3] ^= 0x55;
      const badFile = path.join(cache, 'demo-corrupt.pcx');
      fs.writeFileSync(badFile, bad);
      await page.evaluate(() => { window.demoError = undefined; });
      await pin.uploadFile(badFile);
      await page.waitForFunction('window.demoError', { timeout: 60_000 }).catch(() => {});
      const err = await page.evaluate(() => window.demoError);
      check(/does not decode|corrupt/i.test(err ?? ''), `corrupt file refused: ${err}`);
    }
  } finally {
    await chromium.close();
    await server.close();
  }
  console.log(`screenshot: ${path.relative(root, path.join(cache, 'demo.png'))}`);
  return { passed, failed };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runDemoTest();
  console.log(`demo: ${r.passed} passed, ${r.failed} failed`);
  process.exit(r.failed ? 1 : 0);
}
