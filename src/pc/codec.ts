// Lossless image codec: container formats around the wasm rANS coder, and evaluation. Format 2; the
// integrity design is in docs/compression.md ("Integrity").
//
// Single image (compressImage), budgeted for tiny images (every byte of a 28x28 file is 0.01 bpd):
//   byte 0      0xB4 (one image, 24-bit check) or 0xB5 (one image, 32-bit check)
//   byte 1      low 8 bits of the model id (a different model is refused with WrongModelError)
//   bytes 2..   rANS payload (see assembly/rans.ts); its length is the rest of the file.
// The payload is coded from the start state x0 = 2^k + (top k bits of CRC-32 over bytes 0-1, the full
// model id and the pixels); the decoder must consume every byte and end at exactly the x0 of the pixels
// it decoded. So header, model and pixels are covered by one k-bit check (k = 24 by default, 32 as an
// option), at the cost of about k + 1 bits, and no symbol is free (x0 >= 2^24, see check.ts).
// Many images (compressImages): images go in chunks, each chunk one rANS stream:
//   byte 0      0xB6
//   bytes 1..4  model id (u32 LE)
//   varint      image count
//   varint      chunk size (images per chunk, >= 1; the last chunk holds the rest)
//   varint      payload length of each chunk, in order
//   u32         CRC-32 of every header byte before it
//   payloads    concatenated
//   u32         CRC-32 of all pixels, continuing from the header CRC
// Chunk i is coded from x0 = 2^24 + top 24 bits of CRC-32(chunk pixels) continued from CRC-32(i) continued
// from the CRC of the header bytes before the length table: so a chunk decodes only in its own place of
// its own stream.
import { ArgumentError, LimitError } from '../errors.js';
import { crc32, crc32u32, maxSymbols, startState } from './check.js';
import { CorruptDataError, FormatVersionError, TruncatedDataError, WrongModelError } from './errors.js';
import { LEGACY_STREAMS, STREAM_IMAGE, STREAM_IMAGE_32, STREAM_IMAGES, streamKind } from './format.js';
import { allocPixels, decodeLimits, type DecodeLimits } from './limits.js';
import type { PcImage, PcModel } from './model.js';
import { getVarint, putVarint } from './varint.js';

/** Largest chunk (images per rANS stream) a multi-image stream may declare: bounds decoder memory and work. */
const MAX_CHUNK = 4096;

/** Options of compressImage. */
export interface CompressImageOptions {
  /**
   * Bits of the integrity check bound into the stream's start state: 24 (default; a corrupt stream
   * decodes to a wrong image with probability about 2^-24) or 32 (2^-32, one byte more per file).
   */
  check?: 24 | 32;
}

function checkModel(model: PcModel, what: string): void {
  if (!model || typeof (model as PcModel).encodePayload !== 'function') {
    throw new ArgumentError(`${what}: expected a model from loadModel() or trainModel()`);
  }
}

function idBytes(model: PcModel): number[] {
  return [model.hash & 0xff, (model.hash >>> 8) & 0xff, (model.hash >>> 16) & 0xff, model.hash >>> 24];
}

/** The CRC that seeds a single image's check: its 2 header bytes and the full model id. */
function singleSeed(magic: number, model: PcModel): number {
  return crc32(Uint8Array.from([magic, model.hash & 0xff, ...idBytes(model)]));
}

/** @internal Refuses format-1 and unknown streams with a typed error naming the cause. */
export function checkMagic(bytes: Uint8Array, accepted: number[], what: string): void {
  if (accepted.includes(bytes[0])) return;
  if ((LEGACY_STREAMS as readonly number[]).includes(bytes[0])) {
    throw new FormatVersionError(`${what}: this is a format-1 stream (pcpress 0.1.0), which carries no integrity check over its ` +
      'header and layout; it is refused. Decode it with pcpress 0.1.x and compress the image again.');
  }
  const kind = streamKind(bytes);
  const hint = kind === 'unknown' || kind === 'legacy' ? '' : `; it is a${kind === 'image' ? 'n' : ''} ${kind} stream (${
    { image: 'decompressImage', images: 'decompressImages', photo: 'decompressPhoto', deflate: 'decompressDeflate' }[kind]}, or decompressAuto)`;
  throw new CorruptDataError(`${what}: not a pcpress stream of this kind (first byte 0x${bytes[0].toString(16)})${hint}`);
}

/** Compresses one image with a model. The image must have the model's shape. */
export function compressImage(image: PcImage, model: PcModel, options: CompressImageOptions = {}): Uint8Array {
  checkModel(model, 'compressImage');
  if (options === null || typeof options !== 'object') throw new ArgumentError('compressImage: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'check') throw new ArgumentError(`compressImage: unknown option "${k}"`);
  const bits = options.check ?? 24;
  if (bits !== 24 && bits !== 32) throw new ArgumentError(`compressImage: check must be 24 or 32 bits, got ${String(bits)}`);
  model.checkImage(image, 'compressImage');
  const magic = bits === 24 ? STREAM_IMAGE : STREAM_IMAGE_32;
  const payload = model.encodePayload([image], startState(bits, crc32(image.data, singleSeed(magic, model))));
  const out = new Uint8Array(2 + payload.length);
  out[0] = magic;
  out[1] = model.hash & 0xff;
  out.set(payload, 2);
  return out;
}

/** Decodes one payload of n images and checks that it ends at the start state of its pixels. */
function decodeChecked(model: PcModel, payload: Uint8Array, n: number, bits: 24 | 32, seed: number, what: string): Uint8Array {
  const r = model.decodePayload(payload, n, 1n << BigInt(bits));
  const bad = () => new CorruptDataError(`${what}: the stream does not decode exactly (corrupt, truncated, reordered, or made ` +
    `with another model than ${model.id})`);
  if (typeof r === 'number') throw bad();
  if (r.state !== startState(bits, crc32(r.pixels, seed))) throw bad();
  return r.pixels;
}

function checkBytes(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  if (bytes.length < 3) throw new TruncatedDataError(`${what}: ${bytes.length} bytes is too short for a pcpress stream`);
}

/** Decompresses a stream made by compressImage with the same model. */
export function decompressImage(bytes: Uint8Array, model: PcModel): PcImage {
  const what = 'decompressImage';
  checkModel(model, what);
  checkBytes(bytes, what);
  if (bytes[0] === STREAM_IMAGES) throw new ArgumentError(`${what}: this stream holds many images; use decompressImages`);
  checkMagic(bytes, [STREAM_IMAGE, STREAM_IMAGE_32], what);
  if (bytes[1] !== (model.hash & 0xff)) {
    throw new WrongModelError(bytes[1].toString(16).padStart(2, '0'), model.id,
      `${what}: the stream was made with a model whose id ends in ${bytes[1].toString(16).padStart(2, '0')}, not with model ${model.id}`);
  }
  if (model.D > maxSymbols(bytes.length - 2)) throw new CorruptDataError(`${what}: ${bytes.length} bytes cannot hold ${model.D} pixels`);
  const bits = bytes[0] === STREAM_IMAGE ? 24 : 32;
  const data = decodeChecked(model, bytes.subarray(2), 1, bits, singleSeed(bytes[0], model), what);
  return { width: model.width, height: model.height, channels: model.channels, data };
}

/**
 * Compresses many same-shape images into one stream (one header; `chunk` images per rANS stream, default
 * up to 1024).
 */
export function compressImages(images: PcImage[], model: PcModel, options: { chunk?: number } = {}): Uint8Array {
  checkModel(model, 'compressImages');
  if (!Array.isArray(images)) throw new ArgumentError('compressImages: expected an array of images');
  if (options === null || typeof options !== 'object') throw new ArgumentError('compressImages: options must be an object');
  for (const k of Object.keys(options)) if (k !== 'chunk') throw new ArgumentError(`compressImages: unknown option "${k}"`);
  // default: up to 1024 images per stream, and at most ~1M pixels (the encoder keeps 12 bytes per pixel)
  const chunk = options.chunk ?? Math.max(1, Math.min(1024, Math.floor(2 ** 20 / model.D)));
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > MAX_CHUNK) throw new ArgumentError(`compressImages: chunk must be an integer in 1..${MAX_CHUNK}, got ${chunk}`);
  images.forEach((im, i) => model.checkImage(im, `compressImages: image ${i}`));
  const head: number[] = [STREAM_IMAGES, ...idBytes(model)];
  putVarint(head, images.length);
  putVarint(head, chunk);
  const infoCrc = crc32(Uint8Array.from(head));
  const payloads: Uint8Array[] = [];
  for (let i = 0, c = 0; i < images.length; i += chunk, c++) {
    const part = images.slice(i, i + chunk);
    let check = crc32u32(c, infoCrc);
    for (const im of part) check = crc32(im.data, check);
    payloads.push(model.encodePayload(part, startState(24, check), 'compressImages'));
  }
  for (const p of payloads) putVarint(head, p.length);
  const headCrc = crc32(Uint8Array.from(head));
  let pixelCrc = headCrc;
  for (const im of images) pixelCrc = crc32(im.data, pixelCrc);
  const out = new Uint8Array(head.length + 4 + payloads.reduce((s, p) => s + p.length, 0) + 4);
  const dv = new DataView(out.buffer);
  out.set(head);
  dv.setUint32(head.length, headCrc, true);
  let o = head.length + 4;
  for (const p of payloads) {
    out.set(p, o);
    o += p.length;
  }
  dv.setUint32(o, pixelCrc, true);
  return out;
}

/** Decompresses a stream made by compressImages (or compressImage) with the same model. */
export function decompressImages(bytes: Uint8Array, model: PcModel, options: DecodeLimits = {}): PcImage[] {
  const what = 'decompressImages';
  checkModel(model, what);
  const limits = decodeLimits(options, what);
  checkBytes(bytes, what);
  if (bytes[0] === STREAM_IMAGE || bytes[0] === STREAM_IMAGE_32) {
    if (model.width * model.height > limits.maxPixels || model.D > limits.maxBytes) {
      throw new LimitError(`${what}: one image of ${model.width}x${model.height}x${model.channels} exceeds the limits (maxPixels ${limits.maxPixels}, maxBytes ${limits.maxBytes})`);
    }
    return [decompressImage(bytes, model)];
  }
  checkMagic(bytes, [STREAM_IMAGES], what);
  const pos = { p: 5 };
  const count = getVarint(bytes, pos, what);
  const chunk = getVarint(bytes, pos, what);
  if (chunk < 1 || chunk > MAX_CHUNK) throw new CorruptDataError(`${what}: chunk size ${chunk} is outside 1..${MAX_CHUNK}`);
  const infoCrc = crc32(bytes.subarray(0, pos.p));
  const chunks = Math.ceil(count / chunk);
  // every chunk takes at least 2 bytes (length + payload): a count beyond that is corrupt
  if (chunks > (bytes.length - pos.p - 8) / 2) throw new TruncatedDataError(`${what}: header announces ${count} images, the stream is too short`);
  const lens: number[] = [];
  for (let c = 0; c < chunks; c++) lens.push(getVarint(bytes, pos, what));
  if (pos.p + 4 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headCrc = crc32(bytes.subarray(0, pos.p));
  if (dv.getUint32(pos.p, true) !== headCrc) throw new CorruptDataError(`${what}: header checksum mismatch (the header is corrupt)`);
  pos.p += 4;
  const id = dv.getUint32(1, true);
  if (id !== model.hash) {
    throw new WrongModelError(id.toString(16).padStart(8, '0'), model.id, `${what}: the stream was made with model ${id.toString(16).padStart(8, '0')}, not ${model.id}`);
  }
  if (count > limits.maxImages) throw new LimitError(`${what}: ${count} images exceed maxImages ${limits.maxImages}`);
  const pixels = count * model.width * model.height;
  if (pixels > limits.maxPixels || count * model.D > limits.maxBytes) {
    throw new LimitError(`${what}: ${count} images of ${model.width}x${model.height}x${model.channels} exceed the limits (maxPixels ${limits.maxPixels}, maxBytes ${limits.maxBytes})`);
  }
  let total = pos.p + 4;
  for (let c = 0; c < chunks; c++) {
    const k = Math.min(chunk, count - c * chunk);
    if (lens[c] < 1) throw new CorruptDataError(`${what}: chunk ${c} is empty`);
    if (k * model.D > maxSymbols(lens[c])) throw new CorruptDataError(`${what}: chunk ${c} has ${lens[c]} bytes, too few for ${k} images`);
    total += lens[c];
  }
  if (total > bytes.length) throw new TruncatedDataError(`${what}: chunks run past the end of the stream`);
  if (total < bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - total} stray bytes after the last chunk`);
  const data = allocPixels(count * model.D, what);
  for (let c = 0; c < chunks; c++) {
    const k = Math.min(chunk, count - c * chunk);
    const px = decodeChecked(model, bytes.subarray(pos.p, pos.p + lens[c]), k, 24, crc32u32(c, infoCrc), `${what}: chunk ${c}`);
    data.set(px, c * chunk * model.D);
    pos.p += lens[c];
  }
  if (dv.getUint32(pos.p, true) !== crc32(data, headCrc)) throw new CorruptDataError(`${what}: pixel checksum mismatch (the stream is corrupt)`);
  const D = model.D;
  return Array.from({ length: count }, (_, i) => ({ width: model.width, height: model.height, channels: model.channels,
    data: data.subarray(i * D, (i + 1) * D) }));
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
  /** True when every image decoded back exactly, from its own file and from the container. */
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
  const container = compressImages(images, model);
  r.containerBitsPerDim = (8 * container.length) / (N * D);
  // the container is round-tripped too: every size reported is of a stream that decodes back exactly
  const fromContainer = decompressImages(container, model, { maxImages: Math.max(1, N), maxPixels: Math.max(1, N * model.width * model.height), maxBytes: Math.max(1, N * D) });
  if (fromContainer.length !== N) ok = false;
  for (let i = 0; i < N && ok; i++) {
    const a = images[i].data, b = fromContainer[i].data;
    for (let j = 0; j < D; j++) if (a[j] !== b[j]) { ok = false; break; }
  }
  r.encodeImagesPerSecond = N / (enc / 1000);
  r.decodeImagesPerSecond = N / (dec / 1000);
  r.roundTrip = ok;
  return r;
}
