// Lossless image codec: container formats around the wasm rANS coder, and evaluation.
//
// Single image (compressImage), budgeted for tiny images (every byte of a 28x28 file is 0.01 bpd):
//   byte 0      0xB1 (format 1, one image)
//   byte 1      low 8 bits of the model id (a different model is refused with WrongModelError)
//   bytes 2..   rANS payload (see assembly/rans.ts); its length is the rest of the file.
// Many images (compressImages): images go in chunks, each chunk one rANS stream, so the per-image
// overhead is nearly zero (no per-image length or check):
//   byte 0      0xB2 (format 1, many images)
//   bytes 1..4  model id (u32 LE)
//   varint      image count
//   varint      chunk size (images per chunk, >= 1; the last chunk holds the rest)
//   per chunk:  varint payload length, payload
// Integrity: the encoder starts each stream at x0 = 2^16 + bits 8..23 of the model id; the decoder must
// consume every byte and end at exactly that state, else the stream is corrupt, truncated or made with
// another model (caught with probability ~1 - 2^-16 per stream, on top of the header checks). These
// 17 bits and the 2 header bytes are what a single-image file pays over the model's code length.
import { ArgumentError } from '../errors.js';
import { CorruptDataError, TruncatedDataError, WrongModelError } from './errors.js';
import type { PcImage, PcModel } from './model.js';
import { getVarint, putVarint } from './varint.js';

const SINGLE = 0xb1;
const MULTI = 0xb2;
/** Largest chunk (images per rANS stream) a multi-image stream may declare: bounds decoder memory and work. */
const MAX_CHUNK = 4096;

function x0Of(model: PcModel): bigint {
  return BigInt(0x10000 | ((model.hash >>> 8) & 0xffff));
}

function checkModel(model: PcModel, what: string): void {
  if (!model || typeof (model as PcModel).encodePayload !== 'function') {
    throw new ArgumentError(`${what}: expected a model from loadModel() or trainModel()`);
  }
}

/** Compresses one image with a model. The image must have the model's shape. */
export function compressImage(image: PcImage, model: PcModel): Uint8Array {
  checkModel(model, 'compressImage');
  const payload = model.encodePayload([image], x0Of(model));
  const out = new Uint8Array(2 + payload.length);
  out[0] = SINGLE;
  out[1] = model.hash & 0xff;
  out.set(payload, 2);
  return out;
}

function decodeChunk(model: PcModel, payload: Uint8Array, n: number, what: string): PcImage[] {
  const r = model.decodePayload(payload, n, x0Of(model));
  if (typeof r === 'number') {
    throw new CorruptDataError(`${what}: the stream does not decode exactly (corrupt, truncated, or made with ` +
      `another model than ${model.id})`);
  }
  const D = model.D;
  return Array.from({ length: n }, (_, i) => ({ width: model.width, height: model.height, channels: model.channels,
    data: n === 1 ? r : r.slice(i * D, (i + 1) * D) }));
}

function checkBytes(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  if (bytes.length < 3) throw new TruncatedDataError(`${what}: ${bytes.length} bytes is too short for a pcpress stream`);
}

/** Decompresses a stream made by compressImage with the same model. */
export function decompressImage(bytes: Uint8Array, model: PcModel): PcImage {
  checkModel(model, 'decompressImage');
  checkBytes(bytes, 'decompressImage');
  if (bytes[0] === MULTI) throw new ArgumentError('decompressImage: this stream holds many images; use decompressImages');
  if (bytes[0] !== SINGLE) throw new CorruptDataError(`decompressImage: not a pcpress image stream (first byte 0x${bytes[0].toString(16)})`);
  if (bytes[1] !== (model.hash & 0xff)) {
    throw new WrongModelError(bytes[1].toString(16).padStart(2, '0'), model.id,
      `decompressImage: the stream was made with a model whose id ends in ${bytes[1].toString(16).padStart(2, '0')}, not with model ${model.id}`);
  }
  return decodeChunk(model, bytes.subarray(2), 1, 'decompressImage')[0];
}

/**
 * Compresses many same-shape images into one stream (one header; `chunk` images per rANS stream, default
 * up to 1024).
 */
export function compressImages(images: PcImage[], model: PcModel, options: { chunk?: number } = {}): Uint8Array {
  checkModel(model, 'compressImages');
  if (!Array.isArray(images)) throw new ArgumentError('compressImages: expected an array of images');
  // default: up to 1024 images per stream, and at most ~1M pixels (the encoder keeps 12 bytes per pixel)
  const chunk = options.chunk ?? Math.max(1, Math.min(1024, Math.floor(2 ** 20 / model.D)));
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_CHUNK) throw new ArgumentError(`compressImages: chunk must be an integer in 1..${MAX_CHUNK}, got ${chunk}`);
  const x0 = x0Of(model);
  const head: number[] = [MULTI, model.hash & 0xff, (model.hash >>> 8) & 0xff, (model.hash >>> 16) & 0xff, model.hash >>> 24];
  putVarint(head, images.length);
  putVarint(head, chunk);
  const parts: Uint8Array[] = [Uint8Array.from(head)];
  for (let i = 0; i < images.length; i += chunk) {
    const p = model.encodePayload(images.slice(i, i + chunk), x0, 'compressImages');
    const len: number[] = [];
    putVarint(len, p.length);
    parts.push(Uint8Array.from(len), p);
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Decompresses a stream made by compressImages (or compressImage) with the same model. */
export function decompressImages(bytes: Uint8Array, model: PcModel): PcImage[] {
  const what = 'decompressImages';
  checkModel(model, what);
  checkBytes(bytes, what);
  if (bytes[0] === SINGLE) return [decompressImage(bytes, model)];
  if (bytes[0] !== MULTI) throw new CorruptDataError(`${what}: not a pcpress stream (first byte 0x${bytes[0].toString(16)})`);
  if (bytes.length < 7) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const id = (bytes[1] | (bytes[2] << 8) | (bytes[3] << 16) | (bytes[4] << 24)) >>> 0;
  if (id !== model.hash) {
    throw new WrongModelError(id.toString(16).padStart(8, '0'), model.id, `${what}: the stream was made with model ${id.toString(16).padStart(8, '0')}, not ${model.id}`);
  }
  const pos = { p: 5 };
  const count = getVarint(bytes, pos, what);
  const chunk = getVarint(bytes, pos, what);
  if (chunk < 1 || chunk > MAX_CHUNK) throw new CorruptDataError(`${what}: chunk size ${chunk} is outside 1..${MAX_CHUNK}`);
  // every chunk takes at least 2 bytes (length + payload): a count beyond that is corrupt
  const chunks = Math.ceil(count / chunk);
  if (chunks > (bytes.length - pos.p) / 2) throw new TruncatedDataError(`${what}: header announces ${count} images, the stream is too short`);
  const out: PcImage[] = [];
  for (let c = 0; c < chunks; c++) {
    const n = getVarint(bytes, pos, what);
    if (n < 1 || pos.p + n > bytes.length) throw new TruncatedDataError(`${what}: chunk ${c} runs past the end of the stream`);
    const k = Math.min(chunk, count - c * chunk);
    out.push(...decodeChunk(model, bytes.subarray(pos.p, pos.p + n), k, `${what}: chunk ${c}`));
    pos.p += n;
  }
  if (pos.p !== bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - pos.p} stray bytes after the last chunk`);
  return out;
}

/** Scores of evaluate(). All bits-per-dimension figures are over width*height*channels per image. */
export interface EvaluateResult {
  images: number;
  /** -log2 P(x) / D under the model (the theoretical code length). */
  bitsPerDim: number;
  /** Ideal code length under the quantised integer tables the coder actually uses. */
  quantizedBitsPerDim: number;
  /** Actual bytes, each image its own compressImage file (header included). */
  fileBitsPerDim?: number;
  /** Actual bytes of the rANS payloads alone (no header). */
  payloadBitsPerDim?: number;
  /** Actual bytes of one compressImages stream holding all images. */
  containerBitsPerDim?: number;
  /** Encode and decode throughput (images per second, this thread). */
  encodeImagesPerSecond?: number;
  decodeImagesPerSecond?: number;
  /** True when every image decoded back exactly. */
  roundTrip?: boolean;
}

/**
 * Scores a model on images: theoretical bpd, and (unless `actual: false`) real compressed sizes with an
 * exact round trip of every image.
 */
export async function evaluate(model: PcModel, images: PcImage[], options: { actual?: boolean } = {}): Promise<EvaluateResult> {
  checkModel(model, 'evaluate');
  if (!Array.isArray(images) || images.length === 0) throw new ArgumentError('evaluate: expected a non-empty array of images');
  const D = model.D, N = images.length;
  let ll = 0, ideal = 0;
  for (const im of images) {
    ll += model.logLikelihood(im);
    ideal += model.idealBits(im);
  }
  const r: EvaluateResult = { images: N, bitsPerDim: -ll / Math.LN2 / (N * D), quantizedBitsPerDim: ideal / (N * D) };
  if (options.actual === false) return r;
  const files: Uint8Array[] = [];
  let t = performance.now();
  for (const im of images) files.push(compressImage(im, model));
  const enc = performance.now() - t;
  t = performance.now();
  let ok = true;
  for (let i = 0; i < N; i++) {
    const back = decompressImage(files[i], model).data;
    const a = images[i].data;
    for (let j = 0; j < D; j++) if (back[j] !== a[j]) { ok = false; break; }
  }
  const dec = performance.now() - t;
  const bytes = files.reduce((s, f) => s + f.length, 0);
  r.fileBitsPerDim = (8 * bytes) / (N * D);
  r.payloadBitsPerDim = (8 * (bytes - 2 * N)) / (N * D);
  r.containerBitsPerDim = (8 * compressImages(images, model).length) / (N * D);
  r.encodeImagesPerSecond = N / (enc / 1000);
  r.decodeImagesPerSecond = N / (dec / 1000);
  r.roundTrip = ok;
  return r;
}
