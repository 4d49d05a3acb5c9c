// CLI subcommands of the photo codec. `photoCommand` handles compress of every image (compressAuto: each model
// that can code it and the model-free deflate stream, the smallest kept), decompress of the streams
// streamKind() calls 'photo' or 'deflate', and train-photo; it returns undefined for everything else so the
// MNIST codec's commands (decompress of 'image'/'images' streams, train, eval) can run.
import { ArgumentError } from '../errors.js';
import { availableCores } from '../threads/pool.js';
import { readImage, writePgm, writePng } from '../pc/image.js';
import type { PcImage } from '../pc/model.js';
import { decompressPhoto, photoStreamInfo } from './codec.js';
import { streamKind } from '../pc/format.js';
import { decompressDeflate } from '../pc/deflate.js';
import { loadModel } from '../pc/model.js';
import { decompressPhotoParallel } from './parallel.js';
import { loadPhotoModel, type PhotoModel } from './model.js';
import { compressAuto, type AutoCandidate, type AutoModel } from './auto.js';
import { trainPhotoModel } from './train.js';
import { compressSummary, fsPromises, limitFlags, num, readFile, str, type Flags } from '../cli-args.js';

/** Usage text of the photo subcommands. */
export const PHOTO_USAGE = `  pcpress compress <image.png|.pgm> [-o FILE] [--model=photo|mnist|FILE] [--no-fallback] [--no-adaptive] [--tile=256] [--workers=N]
      Compress an image (gray, RGB, RGBA, any size) losslessly: it is coded with every model that can code it
      (the bundled photo model; also the bundled MNIST model when it is 28x28 gray; or only --model) and
      stored model-free as deflate (unless --no-fallback), and the smallest stream is kept, so the file is
      never much larger than a PNG of the image. PNG colour metadata (ICC profile, sRGB, gAMA, cHRM) is kept.
      Prints the compressed size next to the input file's size, which model or mode won, and every size tried.
      The adaptive stream (context mixing, tried next to the photo model) is usually smallest but about 8x slower
      to encode and decode (about 0.1 MP/s on RGB photos); --no-adaptive skips it for the photo model's speed.
  pcpress decompress <file.pcx> [-o image.png|image.pgm] [--model=FILE] [--workers=N] [--max-pixels=N] [--max-images=N] [--max-bytes=N]
      Any stream compress writes (photo, MNIST, deflate; also multi-image containers), to PNG (or PGM). Images
      of 4 or more tiles are decoded on one worker per core. Sizes a stream declares above the limits (defaults:
      2^26 pixels, 2^20 images, 2^28 bytes) are refused before anything is allocated; every stream is checked (CRC-32).
  pcpress train --photo --data=<folder of PNG/PGM photos> -o <model.pcm> [--M=16] [--samples=300000] [--epochs=4]
      Train a photo model (also: pcpress train-photo ...).
`;

async function photoModel(flags: Flags): Promise<PhotoModel> {
  const m = str(flags, 'model', 'm');
  if (!m || m === 'photo') return loadPhotoModel('photo');
  return loadPhotoModel(await readFile(m));
}

/** Is `bytes` a photo-model file (magic PCPH)? */
export function isPhotoModelBytes(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x43 && b[2] === 0x50 && b[3] === 0x48;
}

/** The model `--model` names (photo, mnist, or a model file of either kind); undefined when not given. */
async function namedModel(flags: Flags): Promise<AutoModel | undefined> {
  const m = str(flags, 'model', 'm');
  if (!m) return undefined;
  if (m === 'photo') return loadPhotoModel('photo');
  if (m === 'mnist') return loadModel('mnist');
  const b = await readFile(m);
  return isPhotoModelBytes(b) ? loadPhotoModel(b) : loadModel(b);
}

/** "photo model 1995d925" / "model 37a009aa" / "deflate (no model)". */
export function describeCandidate(c: AutoCandidate): string {
  return c.kind === 'photo' ? `photo model ${c.model}` : c.kind === 'adaptive' ? (c.palette ? 'adaptive palette (no model)' : `adaptive (photo model ${c.model})`) :
    c.kind === 'image' ? `model ${c.model}` : 'deflate (no model)';
}

/**
 * How many workers to code with: `--workers N` when given (1 = this thread), otherwise one per core once
 * an image has 4 or more tiles (below that, starting workers costs more than it saves).
 */
async function useWorkers(flags: Flags, tiles: number): Promise<number> {
  if (flags.workers !== undefined) {
    const w = num(flags, 'workers', 1);
    if (!Number.isInteger(w) || w < 1) throw new ArgumentError(`--workers must be a positive integer, got ${flags.workers}`);
    return Math.max(1, Math.min(tiles, w));
  }
  if (tiles < 4) return 1;
  return Math.max(1, Math.min(tiles, await availableCores()));
}

/**
 * Runs a photo subcommand. Returns the exit code, or undefined when the command is for the MNIST codec
 * (or not a codec command at all).
 */
export async function photoCommand(cmd: string, flags: Flags, rest: string[]): Promise<number | undefined> {
  const out = str(flags, 'o', 'output');
  switch (cmd) {
    case 'compress': {
      const input = rest[0];
      if (!input) throw new ArgumentError('compress: name an image file (PNG or PGM)');
      const raw = await readFile(input);
      const img = readImage(raw);
      const named = await namedModel(flags);
      const t = performance.now();
      const tileSize = num(flags, 'tile', 256);
      const tiles = Math.ceil(img.width / tileSize) * Math.ceil(img.height / tileSize);
      const workers = await useWorkers(flags, tiles);
      if (named && 'encodePayload' in named && !(named.width === img.width && named.height === img.height && named.channels === img.channels)) {
        throw new ArgumentError(`compress: model ${named.id} codes ${named.width}x${named.height}x${named.channels} images; ${input} is ${img.width}x${img.height}x${img.channels}`);
      }
      const png = raw[0] === 0x89 && raw[1] === 0x50 ? raw : undefined;
      const r = await compressAuto(img, { models: named ? [named] : undefined, tileSize, workers, fallback: !flags['no-fallback'], adaptive: !flags['no-adaptive'], ...(flags['no-fallback'] ? {} : { png }) });
      const ms = performance.now() - t;
      const dest = out ?? `${input}.pcx`;
      await (await fsPromises()).writeFile(dest, r.bytes);
      const tried = r.candidates.length > 1 ? `; tried ${r.candidates.map((c) => `${describeCandidate(c)} ${c.bytes}`).join(', ')}` : '';
      console.log(compressSummary(input, raw.length, img, dest, r.bytes.length, `${describeCandidate(r.chosen)}, ${(ms / 1000).toFixed(2)} s${tried}`));
      return 0;
    }
    case 'decompress': {
      const input = rest[0];
      if (!input) return undefined;
      const bytes = await readFile(input);
      const kind = streamKind(bytes);
      if (kind !== 'photo' && kind !== 'deflate') return undefined;
      const limits = limitFlags(flags);
      let img: PcImage;
      if (kind === 'deflate') {
        img = decompressDeflate(bytes, limits);
      } else {
        const model = await photoModel(flags);
        const workers = await useWorkers(flags, photoStreamInfo(bytes, limits).tiles.length);
        img = workers > 1 ? await decompressPhotoParallel(bytes, model, { workers, ...limits }) : decompressPhoto(bytes, model, limits);
      }
      const name = out ?? (input.endsWith('.pcx') ? input.slice(0, -4) : `${input}.png`);
      const dest = /\.(png|pgm)$/i.test(name) ? name : `${name}.png`;
      if (/\.pgm$/i.test(dest) && img.meta) console.error(`pcpress: ${dest}: PGM has no place for the PNG colour metadata; it is not written`);
      await (await fsPromises()).writeFile(dest, /\.pgm$/i.test(dest) ? writePgm(img) : writePng(img));
      console.log(`${input} -> ${dest} (${img.width}x${img.height}x${img.channels}, ${kind === 'deflate' ? 'deflate stream' : bytes[0] === 0xb9 ? 'adaptive stream' : 'photo stream'})`);
      return 0;
    }
    case 'train':
      if (!flags.photo) return undefined;
    // falls through: `pcpress train --photo ...` is train-photo
    case 'train-photo': {
      const data = str(flags, 'data');
      if (!data || !out) throw new ArgumentError('train-photo: needs --data=<folder of PNG/PGM photos> and -o <model file>');
      const f = await fsPromises();
      const names = (await f.readdir(data)).filter((n) => /\.(png|pgm)$/i.test(n)).sort();
      if (!names.length) throw new ArgumentError(`train-photo: no PNG/PGM files in ${data}`);
      const images: PcImage[] = [];
      for (const n of names) images.push(readImage(await readFile(`${data}/${n}`)));
      console.log(`training a photo model on ${images.length} photos`);
      const model = await trainPhotoModel(images, {
        M: num(flags, 'M', 16), samples: num(flags, 'samples', 300000), epochs: num(flags, 'epochs', 4),
        fullBatchEpochs: num(flags, 'full-epochs', 1), seed: num(flags, 'seed', 1),
        onProgress: (sub, p) => console.log(`${sub} ${p.phase} ${p.epoch}/${p.epochs}` +
          (p.trainBpd === undefined ? '' : ` train ${p.trainBpd.toFixed(4)} bits/var`) + ` ${p.seconds.toFixed(1)} s`),
      });
      await f.writeFile(out, model.fileBytes);
      console.log(`wrote ${out}: ${model.fileBytes.length} bytes, photo model ${model.id}`);
      return 0;
    }
    default:
      return undefined;
  }
}
