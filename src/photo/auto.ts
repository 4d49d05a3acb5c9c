// Model choice by measurement: compress an image with every model that can code it (MNIST-shaped models,
// photo models) and with the model-free deflate stream, and keep the smallest. decompressAuto dispatches a
// stream by its first byte (streamKind) to the decoder and model it needs.
import { ArgumentError, LimitError } from '../errors.js';
import { checkMagic, compressImage, decompressImage } from '../pc/codec.js';
import { compressDeflate, decompressDeflate } from '../pc/deflate.js';
import { streamKind, type StreamKind } from '../pc/format.js';
import { decodeLimits, type DecodeLimits } from '../pc/limits.js';
import { hasMeta } from '../pc/meta.js';
import { loadModel, type PcImage, type PcModel } from '../pc/model.js';
import { checkPhoto, compressAdaptive, compressPhoto, decompressPhoto, photoIdealBits, photoStreamInfo, type AdaptiveCompressOptions, type PhotoCompressOptions } from './codec.js';
import { loadPhotoModel, type PhotoModel } from './model.js';
import { checkParallelOptions, compressPhotoParallel, decompressPhotoParallel } from './parallel.js';

/** A model compressAuto may use: an HCLT over whole images of one shape (loadModel) or a photo model (loadPhotoModel). */
export type AutoModel = PcModel | PhotoModel;

/** Options of compressAuto. */
export interface AutoCompressOptions {
  /**
   * The models to try (default: the bundled MNIST model, when the image is 28x28 gray, and the bundled
   * photo model). Whole-image models are tried only on images of their shape and without colour metadata
   * (their streams carry pixels only).
   */
  models?: AutoModel[];
  /** Also try the model-free deflate stream (default true). */
  fallback?: boolean;
  /**
   * Also try the adaptive stream of every photo model (compressAdaptive: context mixing with the model, and
   * palette indices for images of at most 256 colours; default true). It codes on the calling thread and
   * takes about 3x the photo model's time.
   */
  adaptive?: boolean;
  /** Photo models: tile size (default 256) and packed histograms (default true), as in compressPhoto. */
  tileSize?: number;
  packHistograms?: boolean;
  /** Photo models: code tiles on this many workers (compressPhotoParallel; default 1, this thread). */
  workers?: number;
  /** The PNG file the image was read from: the deflate stream may keep its compressed rows (see compressDeflate). */
  png?: Uint8Array;
}

/** One stream compressAuto made. */
export interface AutoCandidate {
  /**
   * 'image' (a whole-image model), 'photo' (a photo model), 'adaptive' (a photo model's adaptive stream,
   * `palette` when it codes palette indices) or 'deflate' (no model).
   */
  kind: 'image' | 'photo' | 'adaptive' | 'deflate';
  /** For 'adaptive': whether the stream codes palette indices (then it needs no particular model to decode). */
  palette?: boolean;
  /** Id of the model, for 'image', 'photo' and 'adaptive'. */
  model?: string;
  /** Size of the stream in bytes. */
  bytes: number;
}

/** What compressAuto returns: the smallest stream and every size it measured. */
export interface AutoCompressed {
  /** The smallest stream (the first of the candidates on a tie, in the order of `candidates`). */
  bytes: Uint8Array;
  /** The candidate that was kept. */
  chosen: AutoCandidate;
  /** Every stream that was made, in the order tried: whole-image models, photo models, deflate. */
  candidates: AutoCandidate[];
}

const isPcModel = (m: unknown): m is PcModel => !!m && typeof (m as PcModel).encodePayload === 'function';
const isPhotoModel = (m: unknown): m is PhotoModel => !!m && typeof (m as PhotoModel).configure === 'function';

function checkModels(models: unknown, what: string): AutoModel[] | undefined {
  if (models === undefined) return undefined;
  if (!Array.isArray(models) || models.length === 0) throw new ArgumentError(`${what}: models must be a non-empty array of models`);
  models.forEach((m, i) => {
    if (!isPcModel(m) && !isPhotoModel(m)) throw new ArgumentError(`${what}: models[${i}] is not a model from loadModel() or loadPhotoModel()`);
  });
  return models as AutoModel[];
}

/** True when a whole-image model can code `img` (its shape, and no metadata that its stream would drop). */
function fits(m: PcModel, img: PcImage): boolean {
  return m.width === img.width && m.height === img.height && m.channels === img.channels && !hasMeta(img.meta);
}

/**
 * Compresses an image with every model that can code it and with the model-free deflate stream, and returns
 * the smallest stream with the sizes of all of them. With the default models, a 28x28 gray image is tried
 * with the bundled MNIST model and the photo model, anything else with the photo model; deflate always.
 * Decode the result with decompressAuto (or the decoder streamKind names).
 *
 * @example
 * ```ts
 * const { bytes, chosen } = await compressAuto(readImage(png));
 * console.log(chosen.kind, chosen.model, bytes.length);
 * const back = await decompressAuto(bytes);
 * ```
 */
export async function compressAuto(image: PcImage, options: AutoCompressOptions = {}): Promise<AutoCompressed> {
  const what = 'compressAuto';
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  for (const k of Object.keys(options)) {
    if (!['models', 'fallback', 'adaptive', 'tileSize', 'packHistograms', 'workers', 'png'].includes(k)) throw new ArgumentError(`${what}: unknown option "${k}"`);
  }
  if (options.png !== undefined && !(options.png instanceof Uint8Array)) throw new ArgumentError(`${what}: png must be the PNG file's bytes (a Uint8Array)`);
  if (options.png !== undefined && options.fallback === false) {
    throw new ArgumentError(`${what}: png is only read by the deflate fallback, which fallback: false turns off`);
  }
  if (options.adaptive !== undefined && typeof options.adaptive !== 'boolean') throw new ArgumentError(`${what}: adaptive must be a boolean`);
  checkPhoto(image, what);
  const given = checkModels(options.models, what);
  const models: AutoModel[] = given ?? [
    ...(image.width === 28 && image.height === 28 && image.channels === 1 && !hasMeta(image.meta) ? [await loadModel('mnist')] : []),
    await loadPhotoModel('photo'),
  ];
  const photoOptions: PhotoCompressOptions = { fallback: false };
  if (options.tileSize !== undefined) photoOptions.tileSize = options.tileSize;
  if (options.packHistograms !== undefined) photoOptions.packHistograms = options.packHistograms;
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new ArgumentError(`${what}: workers must be a positive integer, got ${String(workers)}`);
  const made: { c: AutoCandidate; bytes: Uint8Array }[] = [];
  for (const m of models) {
    if (isPcModel(m) && fits(m, image)) made.push({ c: { kind: 'image', model: m.id, bytes: 0 }, bytes: compressImage(image, m) });
  }
  for (const m of models) {
    if (!isPhotoModel(m)) continue;
    const bytes = workers > 1 ? await compressPhotoParallel(image, m, { ...photoOptions, workers }) : compressPhoto(image, m, photoOptions);
    made.push({ c: { kind: 'photo', model: m.id, bytes: 0 }, bytes });
    if (options.adaptive !== false) {
      const ao: AdaptiveCompressOptions = {};
      if (options.tileSize !== undefined) ao.tileSize = options.tileSize;
      if (options.packHistograms !== undefined) ao.packHistograms = options.packHistograms;
      const a = compressAdaptive(image, m, ao);
      made.push({ c: { kind: 'adaptive', model: m.id, palette: photoStreamInfo(a, { maxPixels: 2 ** 31, maxBytes: 2 ** 31 }).mode === 'palette', bytes: 0 }, bytes: a });
    }
  }
  if (options.fallback !== false) made.push({ c: { kind: 'deflate', bytes: 0 }, bytes: compressDeflate(image, options.png ? { png: options.png } : {}) });
  if (!made.length) {
    throw new ArgumentError(`${what}: no model can code a ${image.width}x${image.height}x${image.channels} image${hasMeta(image.meta) ? ' with colour metadata' : ''} and fallback is off`);
  }
  for (const x of made) x.c.bytes = x.bytes.length;
  let best = made[0];
  for (const x of made) if (x.bytes.length < best.bytes.length) best = x;
  return { bytes: best.bytes, chosen: best.c, candidates: made.map((x) => x.c) };
}

/** Options of decompressAuto: the models to pick from, the decode limits, and workers for photo streams. */
export interface AutoDecompressOptions extends DecodeLimits {
  /** Models to pick from by the stream's model id (default: the bundled MNIST and photo models, loaded when needed). */
  models?: AutoModel[];
  /** Photo streams: decode tiles on this many workers (default 1, this thread). */
  workers?: number;
}

/**
 * Decompresses a single-image stream of any kind, dispatched by streamKind: 'image' with the whole-image
 * model whose id matches the stream's, 'photo' with the photo model of its id, 'deflate' without a model.
 * A model that is not among `models` is a WrongModelError; a multi-image container ('images') is an
 * ArgumentError (use decompressImages); format-1 and unknown streams are FormatVersionError / CorruptDataError.
 */
export async function decompressAuto(bytes: Uint8Array, options: AutoDecompressOptions = {}): Promise<PcImage> {
  const what = 'decompressAuto';
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  checkParallelOptions(options, what);
  const { models: m, workers, ...rest } = options ?? {};
  const limits = decodeLimits(rest, what);
  const models = checkModels(m, what);
  const kind: StreamKind = streamKind(bytes);
  switch (kind) {
    case 'deflate':
      return decompressDeflate(bytes, limits);
    case 'image': {
      const pcs = models ? models.filter(isPcModel) : [await loadModel('mnist')];
      if (!pcs.length) throw new ArgumentError(`${what}: the stream needs a whole-image model (loadModel) and none was given`);
      const model = pcs.find((x) => (x.hash & 0xff) === bytes[1]) ?? pcs[0];
      if (model.width * model.height > limits.maxPixels || model.D > limits.maxBytes) {
        throw new LimitError(`${what}: one ${model.width}x${model.height}x${model.channels} image exceeds the limits`);
      }
      return decompressImage(bytes, model);
    }
    case 'photo': {
      const photos = models ? models.filter(isPhotoModel) : [await loadPhotoModel('photo')];
      if (!photos.length) throw new ArgumentError(`${what}: the stream needs a photo model (loadPhotoModel) and none was given`);
      const id = bytes.length >= 5 ? ((bytes[1] | (bytes[2] << 8) | (bytes[3] << 16) | (bytes[4] << 24)) >>> 0).toString(16).padStart(8, '0') : '';
      const model = photos.find((x) => x.id === id) ?? photos[0];
      return workers !== undefined && workers > 1 ? decompressPhotoParallel(bytes, model, { ...limits, workers }) : decompressPhoto(bytes, model, limits);
    }
    case 'images':
      throw new ArgumentError(`${what}: this stream holds many images; use decompressImages`);
    default:
      checkMagic(bytes.length ? bytes : Uint8Array.of(0), [], what);
      throw new ArgumentError(`${what}: unreachable`);
  }
}

/** Scores of evaluatePhoto. Bits per subpixel are over width x height x channels, summed over the images. */
export interface PhotoEvaluateResult {
  images: number;
  /** Samples over all images (width x height x channels). */
  subpixels: number;
  /** Ideal code length under the integer tables the coder uses (photoIdealBits). */
  idealBitsPerSubpixel: number;
  /** Actual bytes of the photo streams (compressPhoto with fallback: false), headers and checksums included. */
  bitsPerSubpixel: number;
  /** Actual bytes of what compressPhoto returns by default: per image the smaller of the photo and deflate streams. */
  withFallbackBitsPerSubpixel: number;
  /** Images for which the deflate stream was the smaller. */
  deflated: number;
  /** Encode and decode speed of the photo streams (megapixels per second, this thread). */
  encodeMPs: number;
  decodeMPs: number;
  /** True when every stream reported (photo and deflate) decoded back to exactly its image. */
  roundTrip: boolean;
}

/**
 * Scores a photo model on images: ideal and real bits per subpixel, the same with the deflate fallback, speed,
 * and an exact round trip of every stream it measured.
 */
export function evaluatePhoto(model: PhotoModel, images: PcImage[], options: { tileSize?: number } = {}): PhotoEvaluateResult {
  const what = 'evaluatePhoto';
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  for (const k of Object.keys(options)) if (k !== 'tileSize') throw new ArgumentError(`${what}: unknown option "${k}"`);
  if (!isPhotoModel(model)) throw new ArgumentError(`${what}: expected a photo model from loadPhotoModel()`);
  if (!Array.isArray(images) || images.length === 0) throw new ArgumentError(`${what}: expected a non-empty array of images`);
  const opts: PhotoCompressOptions = { fallback: false, ...(options.tileSize === undefined ? {} : { tileSize: options.tileSize }) };
  let subpixels = 0, pixels = 0, ideal = 0, bytes = 0, best = 0, deflated = 0, enc = 0, dec = 0, ok = true;
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
  for (const img of images) {
    checkPhoto(img, what);
    subpixels += img.data.length;
    pixels += img.width * img.height;
    ideal += photoIdealBits(img, model, opts).bits;
    let t = performance.now();
    const s = compressPhoto(img, model, opts);
    enc += performance.now() - t;
    t = performance.now();
    const back = decompressPhoto(s, model, { maxPixels: 2 ** 31, maxBytes: 2 ** 31 });
    dec += performance.now() - t;
    ok &&= same(back.data, img.data);
    const d = compressDeflate(img);
    bytes += s.length;
    if (d.length < s.length) {
      deflated++;
      best += d.length;
      ok &&= same(decompressDeflate(d, { maxPixels: 2 ** 31, maxBytes: 2 ** 31 }).data, img.data);
    } else best += s.length;
  }
  return {
    images: images.length, subpixels, idealBitsPerSubpixel: ideal / subpixels, bitsPerSubpixel: (8 * bytes) / subpixels,
    withFallbackBitsPerSubpixel: (8 * best) / subpixels, deflated, encodeMPs: pixels / 1e6 / (enc / 1000), decodeMPs: pixels / 1e6 / (dec / 1000),
    roundTrip: ok,
  };
}
