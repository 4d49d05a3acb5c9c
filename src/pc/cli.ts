// CLI subcommands of the whole-image codec: decompress (of 'image' and 'images' streams), train, eval (of
// whole-image and photo models). compress lives in photo/cli.ts (compressAuto). Runs in Node and Deno.
import { ArgumentError } from '../errors.js';
import { decompressImage, decompressImages, evaluate } from './codec.js';
import { streamKind } from './format.js';
import { readImage, writePgm, writePng } from './image.js';
import { readIdx } from './idx.js';
import { loadModel, type PcImage, type PcModel } from './model.js';
import { trainModel, type PcImageSet, type TrainProgress } from './train.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { fsPromises, limitFlags, num, readFile, str, type Flags } from '../cli-args.js';
import { evaluatePhoto } from '../photo/auto.js';
import { isPhotoModelBytes } from '../photo/cli.js';
import { loadPhotoModel } from '../photo/model.js';

/** Usage text of the codec subcommands. */
export const PC_USAGE = `  pcpress train --data=<idx-file|folder> -o <model.pcm> [--M=16] [--epochs=10] [--full-epochs=1]
        [--batch=512] [--alpha=0.1] [--seed=1] [--limit=N] [--valid=<idx|folder>] [--backend=wasm|webgpu]
      Train a whole-image model (an HCLT over every pixel of images of one shape, like the bundled MNIST one).
      --backend=webgpu runs the EM steps in WGSL (for real GPUs; the model is still quantised in wasm).
  pcpress eval [--model=mnist|photo|FILE] --data=<idx-file|PNG/PGM file|folder> [--limit=N]
      Score a model (whole-image or photo) on images: theoretical and real bits, encode/decode speed, and an
      exact round trip of every stream it reports (one file per image, and the multi-image container).
`;

async function model(flags: Flags): Promise<PcModel> {
  const m = str(flags, 'model', 'm');
  if (!m || m === 'mnist') return loadModel('mnist');
  return loadModel(await readFile(m));
}

/** Reads images from an IDX file, a PNG/PGM file, or a folder of PNG/PGM files (sorted by name). */
async function readData(path: string, limit: number): Promise<PcImage[]> {
  const f = await fsPromises();
  const st = await f.stat(path).catch((e: Error) => {
    throw new ArgumentError(`cannot read ${path}: ${e.message}`);
  });
  let images: PcImage[];
  if (st.isDirectory()) {
    const names = (await f.readdir(path)).filter((n) => /\.(png|pgm)$/i.test(n)).sort();
    images = [];
    for (const n of names.slice(0, limit)) images.push(readImage(await readFile(`${path}/${n}`)));
  } else {
    const bytes = await readFile(path);
    if (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 8) {
      const set = readIdx(bytes);
      const D = set.width * set.height;
      const n = Math.min(set.count, limit);
      images = Array.from({ length: n }, (_, i) => ({ width: set.width, height: set.height, channels: 1, data: set.data.subarray(i * D, (i + 1) * D) }));
    } else {
      images = [readImage(bytes)];
    }
  }
  if (!images.length) throw new ArgumentError(`no images found in ${path}`);
  return images;
}

function toSet(images: PcImage[]): PcImageSet {
  const { width, height, channels } = images[0];
  const D = width * height * channels;
  const data = new Uint8Array(images.length * D);
  images.forEach((im, i) => data.set(im.data, i * D));
  return { count: images.length, width, height, channels, data };
}

function progressLine(p: TrainProgress): string {
  const f = (x?: number) => (x === undefined ? '-' : x.toFixed(4));
  if (p.phase === 'structure') return `structure learned (${p.seconds.toFixed(1)} s)`;
  const bar = '#'.repeat(Math.round((20 * p.epoch) / Math.max(1, p.epochs))).padEnd(20, '.');
  const valid = p.validBpd === undefined ? '' : `  valid ${f(p.validBpd)} bpd`;
  return `${p.phase.padEnd(9)} [${bar}] epoch ${p.epoch}/${p.epochs}  train ${f(p.trainBpd)} bpd${valid}  ${p.seconds.toFixed(1)} s`;
}

/**
 * Runs a codec subcommand (compress, decompress, train, eval). Returns the exit code, or undefined when
 * `cmd` is not one of them.
 */
export async function pcCommand(cmd: string, flags: Flags, rest: string[]): Promise<number | undefined> {
  const out = str(flags, 'o', 'output');
  switch (cmd) {
    case 'decompress': {
      const input = rest[0];
      if (!input) throw new ArgumentError('decompress: name a compressed file');
      const f = await fsPromises();
      const bytes = await readFile(input);
      const m = await model(flags);
      // photo streams went to photoCommand; single images and containers both go through decompressImages
      // (its limits apply to either), anything else gets decompressImage's typed errors
      const limits = limitFlags(flags);
      const kind = streamKind(bytes);
      const images = kind === 'images' || kind === 'image' ? decompressImages(bytes, m, limits) : [decompressImage(bytes, m)];
      const base = out ?? input.replace(/\.pcx$/, '') + (input.endsWith('.pcx') ? '' : '.png');
      for (let i = 0; i < images.length; i++) {
        const name = images.length === 1 ? base : base.replace(/(\.\w+)?$/, (ext) => `-${i}${ext || '.png'}`);
        await f.writeFile(name, /\.pgm$/i.test(name) ? writePgm(images[i]) : writePng(images[i]));
        if (images.length === 1) console.log(`${input} -> ${name} (${images[i].width}x${images[i].height}x${images[i].channels})`);
      }
      if (images.length > 1) console.log(`${input} -> ${images.length} images`);
      return 0;
    }
    case 'train': {
      const data = str(flags, 'data');
      if (!data || !out) throw new ArgumentError('train: needs --data=<idx-file|folder> and -o <model file>');
      const backend = flags.backend ?? 'wasm';
      if (backend !== 'wasm' && backend !== 'webgpu') throw new ArgumentError(`train: --backend must be wasm or webgpu, got ${backend}`);
      const images = await readData(data, num(flags, 'limit', Infinity));
      const validPath = str(flags, 'valid');
      const valid = validPath ? toSet(await readData(validPath, 2000)) : undefined;
      const runtime: Runtime | undefined = backend === 'webgpu' ? await createRuntime({ backend: 'webgpu' }) : undefined;
      console.log(`training on ${images.length} images of ${images[0].width}x${images[0].height}x${images[0].channels}` +
        (runtime ? ` (EM on ${runtime.reason})` : ''));
      let m: PcModel;
      try {
        m = await trainModel(toSet(images), {
          M: num(flags, 'M', 16), epochs: num(flags, 'epochs', 10), fullBatchEpochs: num(flags, 'full-epochs', 1),
          batchSize: num(flags, 'batch', 512), alpha: num(flags, 'alpha', 0.1), seed: num(flags, 'seed', 1),
          validation: valid, onProgress: (p) => console.log(progressLine(p)), runtime,
        });
      } finally {
        runtime?.destroy();
      }
      await (await fsPromises()).writeFile(out, m.fileBytes);
      console.log(`wrote ${out}: ${m.fileBytes.length} bytes, model ${m.id}`);
      return 0;
    }
    case 'eval': {
      const data = str(flags, 'data');
      if (!data) throw new ArgumentError('eval: needs --data=<idx-file|folder>');
      const name = str(flags, 'model', 'm');
      const bytes = name && name !== 'mnist' && name !== 'photo' ? await readFile(name) : undefined;
      const images = await readData(data, num(flags, 'limit', Infinity));
      if (name === 'photo' || (bytes && isPhotoModelBytes(bytes))) {
        const pm = await loadPhotoModel(bytes ?? 'photo');
        const r = evaluatePhoto(pm, images);
        console.log(JSON.stringify({ model: pm.id, kind: 'photo', ...r }, null, 2));
        return r.roundTrip ? 0 : 1;
      }
      const m = bytes ? await loadModel(bytes) : await loadModel('mnist');
      const bad = images.findIndex((im) => im.width !== m.width || im.height !== m.height || im.channels !== m.channels);
      if (bad >= 0) {
        const im = images[bad];
        throw new ArgumentError(`eval: model ${m.id} codes ${m.width}x${m.height}x${m.channels} images; image ${bad} is ${im.width}x${im.height}x${im.channels} ` +
          '(a photo model, --model=photo, codes any size)');
      }
      const r = await evaluate(m, images);
      console.log(JSON.stringify({ model: m.id, kind: 'whole-image', M: m.M, ...r }, null, 2));
      return r.roundTrip === false ? 1 : 0;
    }
    default:
      return undefined;
  }
}
