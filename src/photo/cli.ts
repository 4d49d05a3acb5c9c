// CLI subcommands of the photo codec. `photoCommand` handles compress/decompress of photographs (any
// image that is not a 28x28 grayscale digit, or any stream streamKind() calls 'photo') and
// train-photo; it returns undefined for everything else so the MNIST codec's commands can run.
import { ArgumentError } from '../errors.js';
import { readImage, writePgm, writePng } from '../pc/image.js';
import type { PcImage } from '../pc/model.js';
import { compressPhoto, decompressPhoto, photoStreamInfo } from './codec.js';
import { streamKind } from '../pc/format.js';
import { compressPhotoParallel, decompressPhotoParallel } from './parallel.js';
import { loadPhotoModel, type PhotoModel } from './model.js';
import { trainPhotoModel } from './train.js';
import { compressSummary, fsPromises, limitFlags, num, readFile, str, type Flags } from '../cli-args.js';

/** Usage text of the photo subcommands. */
export const PHOTO_USAGE = `  pcpress compress <image.png|.pgm> [-o FILE] [--model=photo|mnist|FILE] [--tile=256] [--workers=N]
      Photographs of any size (gray, RGB, RGBA) use the bundled photo model; 28x28 grayscale images the MNIST one.
      Prints the compressed size next to the input file's size.
  pcpress decompress <file.pcx> [-o image.png] [--workers=N] [--max-pixels=N] [--max-images=N] [--max-bytes=N]
      Photo streams and MNIST streams alike. Images of 4 or more tiles are coded on one worker per core (the
      same bytes as on one thread). Sizes a stream declares above the limits (defaults: 2^26 pixels, 2^20
      images, 2^28 bytes) are refused before anything is allocated; every stream is checked (CRC-32).
  pcpress train --photo --data=<folder of PNG/PGM photos> -o <model.pcm> [--M=16] [--samples=300000] [--epochs=4]
      Train a photo model (also: pcpress train-photo ...).
`;

/** True when the MNIST model is the right default for an image (28x28, one channel). */
export function isMnistShaped(img: PcImage): boolean {
  return img.width === 28 && img.height === 28 && img.channels === 1;
}

async function photoModel(flags: Flags): Promise<PhotoModel> {
  const m = str(flags, 'model', 'm');
  if (!m || m === 'photo') return loadPhotoModel('photo');
  return loadPhotoModel(await readFile(m));
}

/** Is `path` a photo-model file (magic PCPH)? */
async function isPhotoModelFile(path: string): Promise<boolean> {
  const b = await readFile(path);
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x43 && b[2] === 0x50 && b[3] === 0x48;
}

/**
 * How many workers to code with: `--workers N` when given (1 = this thread), otherwise one per core once
 * an image has 4 or more tiles (below that, starting workers costs more than it saves).
 */
function useWorkers(flags: Flags, tiles: number): number {
  if (flags.workers !== undefined) return Math.max(1, Math.min(tiles, num(flags, 'workers', 1)));
  if (tiles < 4) return 1;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, Math.min(tiles, nav?.hardwareConcurrency ?? 2));
}

/**
 * Runs a photo subcommand. Returns the exit code, or undefined when the command is for the MNIST codec
 * (or not a codec command at all).
 */
export async function photoCommand(cmd: string, flags: Flags, rest: string[]): Promise<number | undefined> {
  const out = str(flags, 'o', 'output');
  const modelFlag = str(flags, 'model', 'm');
  switch (cmd) {
    case 'compress': {
      const input = rest[0];
      if (!input) return undefined;
      const raw = await readFile(input);
      const img = readImage(raw);
      if (modelFlag === 'mnist') return undefined;
      if (modelFlag && modelFlag !== 'photo' && !(await isPhotoModelFile(modelFlag))) return undefined;
      if (!modelFlag && isMnistShaped(img)) return undefined;
      const model = await photoModel(flags);
      const t = performance.now();
      const tileSize = num(flags, 'tile', 256);
      const tiles = Math.ceil(img.width / tileSize) * Math.ceil(img.height / tileSize);
      const workers = useWorkers(flags, tiles);
      const bytes = workers > 1
        ? await compressPhotoParallel(img, model, { tileSize, workers })
        : compressPhoto(img, model, { tileSize });
      const ms = performance.now() - t;
      const dest = out ?? `${input}.pcx`;
      await (await fsPromises()).writeFile(dest, bytes);
      console.log(compressSummary(input, raw.length, img, dest, bytes.length, `photo model ${model.id}, ${(ms / 1000).toFixed(2)} s`));
      return 0;
    }
    case 'decompress': {
      const input = rest[0];
      if (!input) return undefined;
      const bytes = await readFile(input);
      if (streamKind(bytes) !== 'photo') return undefined;
      const model = await photoModel(flags);
      const limits = limitFlags(flags);
      const workers = useWorkers(flags, photoStreamInfo(bytes, limits).tiles.length);
      const img = workers > 1 ? await decompressPhotoParallel(bytes, model, { workers, ...limits }) : decompressPhoto(bytes, model, limits);
      const name = out ?? (input.endsWith('.pcx') ? input.slice(0, -4) : `${input}.png`);
      const dest = /\.(png|pgm)$/i.test(name) ? name : `${name}.png`;
      await (await fsPromises()).writeFile(dest, /\.pgm$/i.test(dest) ? writePgm(img) : writePng(img));
      console.log(`${input} -> ${dest} (${img.width}x${img.height}x${img.channels})`);
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
