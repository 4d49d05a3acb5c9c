// Trains the bundled photo model (models/photo.pcm) on photographs from Debian packages, and scores it
// on held-out photographs it never saw.
//   Training: opencv-doc's examples/data (graf1, graf3, rubberwhale1, smarties, chicky_512, sudoku,
//             basketball1, box_in_scene) and python3-skimage's data (ihc, brick, grass, gravel, coins,
//             cell, clock_motion).
//   Held out: python3-skimage's astronaut, chelsea, coffee, motorcycle_left, camera, moon.
// Install the data with `apt-get install python3-skimage opencv-doc`, or extract the two .deb files
// (`apt-get download ...; dpkg -x FILE.deb DIR`) and pass --root=DIR (the folder holding usr/).
// The defaults reproduce the bundled model (PNG photos only; about 1 min of one core).
// Usage: npm run build && node scripts/train-photo.mjs [--root=/] [--M=16] [--samples=800000]
//        [--epochs=5] [--full-epochs=1] [--predictor=med] [--transform=subtract-green] [--jpeg=1] [--structure=star] [--out=models/photo.pcm]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const lib = await import(process.env.PCPRESS_LIB ?? '../dist/node.js');
const { readImage, trainPhotoModel, photoIdealBits, compressPhoto, decompressPhoto } = lib;
const root = args.root ?? '/';
const SK = path.join(root, 'usr/lib/python3/dist-packages/skimage/data');
const OC = path.join(root, 'usr/share/doc/opencv-doc/examples/data');
export const TRAIN = [
  ...['graf1', 'graf3', 'rubberwhale1', 'smarties', 'chicky_512', 'sudoku', 'basketball1', 'box_in_scene'].map((n) => path.join(OC, `${n}.png`)),
  ...['ihc', 'brick', 'grass', 'gravel', 'coins', 'cell', 'clock_motion'].map((n) => path.join(SK, `${n}.png`)),
];
// JPEG photographs from opencv-doc, decoded with djpeg (apt-get install libjpeg-turbo-progs) and halved
// (2x2 box average) so that JPEG's 8x8 block artefacts mostly vanish; with --jpeg=1 (measured: no gain).
export const TRAIN_JPEG = ['baboon', 'fruits', 'building', 'messi5', 'orange', 'apple', 'butterfly', 'aero1', 'aero3', 'board',
  'home', 'leuvenA', 'aloeL', 'squirrel_cls', 'stuff', 'pca_test1', 'ela_original', 'licenseplate_motion'].map((n) => path.join(OC, `${n}.jpg`));
export const HELD_OUT = ['astronaut', 'chelsea', 'coffee', 'motorcycle_left', 'camera', 'moon'].map((n) => path.join(SK, `${n}.png`));
for (const f of [...TRAIN, ...HELD_OUT]) {
  if (!fs.existsSync(f)) {
    console.error(`missing ${f}: apt-get install python3-skimage opencv-doc (or pass --root=DIR with the extracted packages)`);
    process.exit(1);
  }
}
const load = (f) => readImage(new Uint8Array(fs.readFileSync(f)));

/** Decodes a JPEG with djpeg (P6/P5 output) and halves it with a 2x2 box average (rounded). */
function loadJpegHalf(f) {
  const pnm = new Uint8Array(execFileSync('djpeg', ['-pnm', f], { maxBuffer: 1 << 28 }));
  const head = new TextDecoder().decode(pnm.subarray(0, 40)).split(/\s+/);
  const channels = head[0] === 'P6' ? 3 : 1, w = +head[1], h = +head[2];
  let p = 0;
  for (let fields = 0; fields < 4; p++) if (/\s/.test(String.fromCharCode(pnm[p])) && !/\s/.test(String.fromCharCode(pnm[p - 1]))) fields++;
  const src = pnm.subarray(p), W = w >> 1, H = h >> 1, data = new Uint8Array(W * H * channels);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < channels; c++) {
    const at = (xx, yy) => src[(yy * w + xx) * channels + c];
    data[(y * W + x) * channels + c] = (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1) + 2) >> 2;
  }
  return { width: W, height: H, channels, data };
}
let djpeg = args.jpeg === '1';
if (djpeg) {
  try {
    execFileSync('djpeg', ['-version'], { stdio: 'ignore' });
  } catch {
    console.log('djpeg not found (apt-get install libjpeg-turbo-progs): training on the PNG photos only');
    djpeg = false;
  }
}
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const opts = {
  M: num('M', 16), samples: num('samples', 800000), epochs: num('epochs', 5), fullBatchEpochs: num('full-epochs', 1),
  predictor: args.predictor ?? 'med', transform: args.transform ?? 'subtract-green', context: args.context ?? 'residual', structure: args.structure ?? 'chow-liu', seed: num('seed', 1),
};
const out = args.out ?? path.join(import.meta.dirname, '..', 'models', 'photo.pcm');
console.log(`training: ${JSON.stringify(opts)}`);
const t0 = performance.now();
const trainImages = [...TRAIN.map(load), ...(djpeg ? TRAIN_JPEG.filter((f) => fs.existsSync(f)).map(loadJpegHalf) : [])];
console.log(`${trainImages.length} training photos, ${trainImages.reduce((s, im) => s + im.width * im.height, 0)} pixels`);
const model = await trainPhotoModel(trainImages, {
  ...opts,
  onProgress: (sub, p) => console.log(`${sub} ${p.phase} ${p.epoch}/${p.epochs}` +
    (p.trainBpd === undefined ? '' : ` train ${p.trainBpd.toFixed(4)} bits/var`) + ` ${p.seconds.toFixed(1)} s`),
});
fs.writeFileSync(out, model.fileBytes);
console.log(`wrote ${out}: ${model.fileBytes.length} bytes, photo model ${model.id} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
let bits = 0, bytes = 0, n = 0;
for (const f of HELD_OUT) {
  const im = load(f);
  const k = im.width * im.height * im.channels;
  const ideal = photoIdealBits(im, model).bits;
  const s = compressPhoto(im, model);
  const back = decompressPhoto(s, model);
  const ok = back.data.every((v, i) => v === im.data[i]);
  bits += ideal; bytes += s.length; n += k;
  console.log(`${path.basename(f).padEnd(20)} ${im.width}x${im.height}x${im.channels}  ideal ${(ideal / k).toFixed(4)}  file ${((8 * s.length) / k).toFixed(4)} bits/subpixel  ${ok ? 'round trip ok' : 'ROUND TRIP FAILED'}`);
  if (!ok) process.exitCode = 1;
}
console.log(`held out: ideal ${(bits / n).toFixed(4)}, file ${((8 * bytes) / n).toFixed(4)} bits/subpixel`);
