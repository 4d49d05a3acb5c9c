// Photo stream: an image of any size cut into independent square tiles (regions), each one rANS stream
// coded by the wasm photo kernels. Tiles share nothing, so they can be coded in parallel (one per worker)
// and memory stays bounded by the tile size.
//
// Stream format, version 1:
//   byte 0      0xB3 (photo stream)
//   bytes 1..4  model id (u32 LE)
//   varint      width (1..65535), varint height (1..65535)
//   byte        channels (1..4)
//   byte        tile size as log2 (4..10); tiles run row-major, the last row/column may be smaller
//   byte        flags: bit 0 = the last channel (alpha) is constant and not coded; bit 1 = packed histograms
//   [byte]      that alpha value, when flag bit 0 is set
//   [32 bytes]  per coded channel, when flag bit 1 is set: bitmap of the sample values the channel uses
//               (bit v of byte v >> 3); the channel is coded as the rank of each value among them, which
//               closes the gaps of stretched or quantised histograms
//   varint      payload length of each tile (>= 1), in tile order
//   payloads    concatenated; they must end exactly at the end of the stream
// Each payload is a rANS stream (assembly/rans.ts) starting at x0 = 2^16 + bits 8..23 of the model id;
// the decoder must end at exactly x0 with every byte consumed, so corrupt or truncated tiles and streams
// made with another model are refused.
import { ArgumentError, LimitError } from '../errors.js';
import { CorruptDataError, TruncatedDataError, WrongModelError } from '../pc/errors.js';
import type { PcImage } from '../pc/model.js';
import { PREDICTORS, TRANSFORMS, palloc, type PhotoModel } from './model.js';
import { getVarint, putVarint } from '../pc/varint.js';

/** First byte of a photo stream. */
export const PHOTO_STREAM = 0xb3;
/** Largest width*height*channels a stream may declare by default (an 8192 x 8192 RGBA image). */
export const MAX_PHOTO_BYTES = 2 ** 28;

/** Header of a photo stream. */
export interface PhotoStreamInfo {
  modelId: string;
  width: number;
  height: number;
  channels: number;
  tileSize: number;
  tilesX: number;
  tilesY: number;
  /** Alpha value when the alpha channel is constant (not coded). */
  constantAlpha?: number;
  /** Per coded channel, the sample values it uses (ascending), when histograms are packed. */
  palettes?: Uint8Array[];
  /** Byte offset and length of each tile's payload. */
  tiles: { offset: number; length: number }[];
}

/** Options of compressPhoto. */
export interface PhotoCompressOptions {
  /** Tile (region) side in pixels, a power of two in 16..1024 (default 256); the encoder holds 12 bytes per subpixel of a tile. */
  tileSize?: number;
  /** Recode channels whose histograms have gaps as ranks among the used values (default true). */
  packHistograms?: boolean;
}

function x0Of(model: PhotoModel): bigint {
  return BigInt(0x10000 | ((model.hash >>> 8) & 0xffff));
}

/** Checks an image argument. */
export function checkPhoto(img: PcImage, what: string): void {
  if (!img || typeof img !== 'object' || !(img.data instanceof Uint8Array) || !Number.isInteger(img.width) ||
    !Number.isInteger(img.height) || !Number.isInteger(img.channels)) {
    throw new ArgumentError(`${what}: expected an image { width, height, channels, data: Uint8Array }`);
  }
  if (img.width < 1 || img.height < 1 || img.width > 65535 || img.height > 65535) {
    throw new ArgumentError(`${what}: image is ${img.width}x${img.height}; each side must be in 1..65535`);
  }
  if (img.channels < 1 || img.channels > 4) throw new ArgumentError(`${what}: ${img.channels} channels (1 to 4 supported)`);
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new ArgumentError(`${what}: data has ${img.data.length} bytes, expected ${img.width * img.height * img.channels}`);
  }
  if (img.data.length > MAX_PHOTO_BYTES) throw new LimitError(`${what}: ${img.data.length} bytes of pixels exceeds ${MAX_PHOTO_BYTES}`);
}

function checkModel(model: PhotoModel, what: string): void {
  if (!model || typeof (model as PhotoModel).configure !== 'function') throw new ArgumentError(`${what}: expected a photo model from loadPhotoModel()`);
}

function copyTile(img: PcImage, x0: number, y0: number, w: number, h: number, dst: Uint8Array): void {
  const c = img.channels, row = w * c;
  for (let y = 0; y < h; y++) {
    const s = ((y0 + y) * img.width + x0) * c;
    dst.set(img.data.subarray(s, s + row), y * row);
  }
}

function constantAlpha(img: PcImage): number | undefined {
  if (img.channels !== 2 && img.channels !== 4) return undefined;
  const c = img.channels, a = img.data[c - 1];
  for (let i = c - 1; i < img.data.length; i += c) if (img.data[i] !== a) return undefined;
  return a;
}

function dropLast(img: PcImage): PcImage {
  const c = img.channels, n = img.width * img.height, data = new Uint8Array(n * (c - 1));
  for (let i = 0, o = 0; i < n; i++) for (let k = 0; k < c - 1; k++) data[o++] = img.data[i * c + k];
  return { width: img.width, height: img.height, channels: c - 1, data };
}

/** Encodes one tile (x0, y0, w, h) of an image; returns its payload. */
export function encodePhotoTile(model: PhotoModel, img: PcImage, tx: number, ty: number, w: number, h: number): Uint8Array {
  const ex = model.ex, c = img.channels;
  model.configure(c);
  const n = w * h * c;
  const cap = 3 * n + 64; // every symbol costs at most 24 bits (frequencies >= 1 of 2^24), plus the final state
  const ip = palloc(ex, n), dp = palloc(ex, cap);
  try {
    copyTile(img, tx, ty, w, h, new Uint8Array(ex.memory.buffer, ip, n));
    const len = ex.phEncode(ip, w, h, c, PREDICTORS.indexOf(model.predictor), TRANSFORMS.indexOf(model.transform), dp, cap, x0Of(model));
    if (len < 0) throw new Error(`photo: tile encoder failed (${len}); bug`);
    return new Uint8Array(ex.memory.buffer, dp, len).slice();
  } finally {
    ex.free(ip);
    ex.free(dp);
  }
}

/** Decodes one tile payload into `out` (the whole image) at (tx, ty). Returns false if it does not decode exactly. */
export function decodePhotoTile(model: PhotoModel, payload: Uint8Array, out: PcImage, tx: number, ty: number, w: number, h: number): boolean {
  const ex = model.ex, c = out.channels;
  model.configure(c);
  const n = w * h * c;
  const sp = palloc(ex, payload.length), ip = palloc(ex, n);
  try {
    new Uint8Array(ex.memory.buffer, sp, payload.length).set(payload);
    const r = ex.phDecode(sp, payload.length, ip, w, h, c, PREDICTORS.indexOf(model.predictor), TRANSFORMS.indexOf(model.transform), x0Of(model));
    if (r !== 0) return false;
    const src = new Uint8Array(ex.memory.buffer, ip, n), row = w * c;
    for (let y = 0; y < h; y++) out.data.set(src.subarray(y * row, (y + 1) * row), ((ty + y) * out.width + tx) * c);
    return true;
  } finally {
    ex.free(sp);
    ex.free(ip);
  }
}

/** Tile rectangles of a w x h image with tiles of side t, row-major. */
export function tileRects(width: number, height: number, t: number): { x: number; y: number; w: number; h: number }[] {
  const r = [];
  for (let y = 0; y < height; y += t) for (let x = 0; x < width; x += t) r.push({ x, y, w: Math.min(t, width - x), h: Math.min(t, height - y) });
  return r;
}

/** Builds the stream from tile payloads (in tile order). */
export function assemblePhotoStream(model: PhotoModel, img: { width: number; height: number; channels: number }, tileSize: number,
  alpha: number | undefined, payloads: Uint8Array[], palettes?: Uint8Array[]): Uint8Array {
  const head: number[] = [PHOTO_STREAM, model.hash & 0xff, (model.hash >>> 8) & 0xff, (model.hash >>> 16) & 0xff, model.hash >>> 24];
  putVarint(head, img.width);
  putVarint(head, img.height);
  head.push(img.channels, Math.log2(tileSize), (alpha === undefined ? 0 : 1) | (palettes ? 2 : 0));
  if (alpha !== undefined) head.push(alpha);
  if (palettes) {
    for (const pal of palettes) {
      const bits = new Array(32).fill(0);
      for (const v of pal) bits[v >> 3] |= 1 << (v & 7);
      head.push(...bits);
    }
  }
  for (const p of payloads) putVarint(head, p.length);
  const out = new Uint8Array(head.length + payloads.reduce((s, p) => s + p.length, 0));
  out.set(head);
  let o = head.length;
  for (const p of payloads) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The image to code tile by tile (alpha dropped when constant), the constant alpha, and the tile size. */
/**
 * Packed histograms: when some channel skips many values between its smallest and largest sample, every
 * channel is recoded as ranks among the values it uses. Returns the palettes and the recoded image.
 */
function packHistograms(img: PcImage): { img: PcImage; palettes?: Uint8Array[] } {
  const c = img.channels, used = Array.from({ length: c }, () => new Uint8Array(256));
  for (let i = 0; i < img.data.length; i++) used[i % c][img.data[i]] = 1;
  let gaps = false;
  const palettes = used.map((u) => {
    const pal: number[] = [];
    for (let v = 0; v < 256; v++) if (u[v]) pal.push(v);
    // worth 32 header bytes per channel: at least 16 unused values inside the range, on 4096+ pixels
    if (pal[pal.length - 1] - pal[0] + 1 - pal.length >= 16 && img.width * img.height >= 4096) gaps = true;
    return Uint8Array.from(pal);
  });
  if (!gaps) return { img };
  const rank = palettes.map((pal) => {
    const r = new Uint8Array(256);
    pal.forEach((v, i) => (r[v] = i));
    return r;
  });
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = rank[i % c][img.data[i]];
  return { img: { ...img, data }, palettes };
}

/** Validates an image and prepares it for tiling: constant alpha split off, gapped channels recoded as ranks. */
export function planPhoto(image: PcImage, options: PhotoCompressOptions, what: string): { img: PcImage; alpha?: number; tileSize: number; palettes?: Uint8Array[] } {
  checkPhoto(image, what);
  const tileSize = options.tileSize ?? 256;
  if (!Number.isInteger(tileSize) || tileSize < 16 || tileSize > 1024 || (tileSize & (tileSize - 1))) {
    throw new ArgumentError(`${what}: tileSize must be a power of two in 16..1024, got ${tileSize}`);
  }
  const alpha = constantAlpha(image);
  const packed = options.packHistograms === false ? { img: alpha === undefined ? image : dropLast(image) } :
    packHistograms(alpha === undefined ? image : dropLast(image));
  return { img: packed.img, alpha, tileSize, palettes: packed.palettes };
}

/** Compresses an 8-bit image (1-4 channels, any size) with a photo model. */
export function compressPhoto(image: PcImage, model: PhotoModel, options: PhotoCompressOptions = {}): Uint8Array {
  checkModel(model, 'compressPhoto');
  const plan = planPhotoTiles(image, options);
  return finishPhotoStream(model, plan, plan.tiles.map((r) => encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h)));
}

/**
 * A compression plan for tile-parallel coding: the image as coded (constant alpha dropped, histograms
 * packed), and its tiles. Code each tile with encodePhotoTile (any thread, any order, each worker with its
 * own model instance), then join the payloads in tile order with finishPhotoStream.
 */
export interface PhotoPlan {
  /** The image the tiles code. */
  img: PcImage;
  /** Shape of the original image. */
  width: number;
  height: number;
  channels: number;
  tileSize: number;
  alpha?: number;
  palettes?: Uint8Array[];
  /** Tile rectangles, row-major. */
  tiles: { x: number; y: number; w: number; h: number }[];
}

/** Plans the tiles of an image (see PhotoPlan). */
export function planPhotoTiles(image: PcImage, options: PhotoCompressOptions = {}): PhotoPlan {
  const { img, alpha, tileSize, palettes } = planPhoto(image, options, 'compressPhoto');
  return { img, width: image.width, height: image.height, channels: image.channels, tileSize, alpha, palettes,
    tiles: tileRects(img.width, img.height, tileSize) };
}

/** Joins tile payloads (in tile order) into a photo stream. */
export function finishPhotoStream(model: PhotoModel, plan: PhotoPlan, payloads: Uint8Array[]): Uint8Array {
  if (payloads.length !== plan.tiles.length) throw new ArgumentError(`finishPhotoStream: ${payloads.length} payloads for ${plan.tiles.length} tiles`);
  return assemblePhotoStream(model, plan, plan.tileSize, plan.alpha, payloads, plan.palettes);
}

/** Reads and validates a photo stream's header (no pixels are allocated). */
export function photoStreamInfo(bytes: Uint8Array, maxBytes = MAX_PHOTO_BYTES): PhotoStreamInfo {
  const what = 'photo stream';
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  if (bytes.length < 10) throw new TruncatedDataError(`${what}: ${bytes.length} bytes is too short`);
  if (bytes[0] !== PHOTO_STREAM) throw new CorruptDataError(`${what}: not a pcpress photo stream (first byte 0x${bytes[0].toString(16)})`);
  const id = (bytes[1] | (bytes[2] << 8) | (bytes[3] << 16) | (bytes[4] << 24)) >>> 0;
  const pos = { p: 5 };
  const width = getVarint(bytes, pos, what), height = getVarint(bytes, pos, what);
  if (pos.p + 3 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const channels = bytes[pos.p++], tl = bytes[pos.p++], flags = bytes[pos.p++];
  if (width < 1 || height < 1 || width > 65535 || height > 65535) throw new CorruptDataError(`${what}: bad size ${width}x${height}`);
  if (channels < 1 || channels > 4) throw new CorruptDataError(`${what}: ${channels} channels`);
  if (tl < 4 || tl > 10) throw new CorruptDataError(`${what}: tile size 2^${tl} outside 2^4..2^10`);
  if (flags > 3 || ((flags & 1) && channels !== 2 && channels !== 4)) throw new CorruptDataError(`${what}: bad flags ${flags}`);
  if (width * height * channels > maxBytes) {
    throw new LimitError(`${what}: ${width}x${height}x${channels} exceeds the limit of ${maxBytes} bytes of pixels`);
  }
  let constantAlphaValue: number | undefined;
  if (flags & 1) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
    constantAlphaValue = bytes[pos.p++];
  }
  let palettes: Uint8Array[] | undefined;
  if (flags & 2) {
    const coded = channels - (flags & 1);
    if (pos.p + 32 * coded > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its histograms`);
    palettes = [];
    for (let c = 0; c < coded; c++, pos.p += 32) {
      const pal: number[] = [];
      for (let v = 0; v < 256; v++) if (bytes[pos.p + (v >> 3)] & (1 << (v & 7))) pal.push(v);
      if (!pal.length) throw new CorruptDataError(`${what}: channel ${c} uses no values`);
      palettes.push(Uint8Array.from(pal));
    }
  }
  const t = 1 << tl, tilesX = Math.ceil(width / t), tilesY = Math.ceil(height / t), nt = tilesX * tilesY;
  // every tile needs at least 2 bytes (length + payload)
  if (nt * 2 > bytes.length - pos.p) throw new TruncatedDataError(`${what}: ${nt} tiles announced, the stream is too short`);
  const lens: number[] = [];
  for (let i = 0; i < nt; i++) {
    const n = getVarint(bytes, pos, what);
    if (n < 1) throw new CorruptDataError(`${what}: tile ${i} is empty`);
    lens.push(n);
  }
  const tiles: { offset: number; length: number }[] = [];
  let o = pos.p;
  for (const n of lens) {
    tiles.push({ offset: o, length: n });
    o += n;
    if (o > bytes.length) throw new TruncatedDataError(`${what}: tile payloads run past the end of the stream`);
  }
  if (o !== bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - o} stray bytes after the last tile`);
  return { modelId: id.toString(16).padStart(8, '0'), width, height, channels, tileSize: t, tilesX, tilesY, constantAlpha: constantAlphaValue, palettes, tiles };
}

/** Checks the stream's model id against the model. */
export function checkStreamModel(info: PhotoStreamInfo, model: PhotoModel, what: string): void {
  if (info.modelId !== model.id) {
    throw new WrongModelError(info.modelId, model.id, `${what}: the stream was made with photo model ${info.modelId}, not ${model.id}`);
  }
}

/** Re-inserts a constant alpha channel. */
export function withAlpha(img: PcImage, alpha: number): PcImage {
  const c = img.channels + 1, n = img.width * img.height, data = new Uint8Array(n * c);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c - 1; k++) data[i * c + k] = img.data[i * (c - 1) + k];
    data[i * c + c - 1] = alpha;
  }
  return { width: img.width, height: img.height, channels: c, data };
}

/** Decompresses a photo stream made by compressPhoto with the same model. */
export function decompressPhoto(bytes: Uint8Array, model: PhotoModel, options: { maxBytes?: number } = {}): PcImage {
  const what = 'decompressPhoto';
  checkModel(model, what);
  const info = photoStreamInfo(bytes, options.maxBytes);
  checkStreamModel(info, model, what);
  const out = photoCanvas(info);
  tileRects(info.width, info.height, info.tileSize).forEach((r, i) => {
    const t = info.tiles[i];
    if (!decodePhotoTile(model, bytes.subarray(t.offset, t.offset + t.length), out, r.x, r.y, r.w, r.h)) {
      throw new CorruptDataError(`${what}: tile ${i} does not decode exactly (corrupt, truncated, or made with another model)`);
    }
  });
  return finishPhoto(info, out, what);
}

/** The image the tiles of a stream decode into (constant alpha not included): allocate, then decode tiles into it. */
export function photoCanvas(info: PhotoStreamInfo): PcImage {
  const c = info.channels - (info.constantAlpha === undefined ? 0 : 1);
  return { width: info.width, height: info.height, channels: c, data: new Uint8Array(info.width * info.height * c) };
}

/** After every tile of `info` was decoded into `out` (photoCanvas): unpacks histograms, restores alpha. */
export function finishPhoto(info: PhotoStreamInfo, out: PcImage, what = 'decompressPhoto'): PcImage {
  const c = out.channels;
  if (info.palettes) {
    const pals = info.palettes;
    for (let i = 0; i < out.data.length; i++) {
      const pal = pals[i % c], r = out.data[i];
      if (r >= pal.length) throw new CorruptDataError(`${what}: sample rank ${r} outside the ${pal.length} values of its channel`);
      out.data[i] = pal[r];
    }
  }
  return info.constantAlpha === undefined ? out : withAlpha(out, info.constantAlpha);
}

/** Ideal code length (bits) of an image under a photo model, per slot, with one tile per `tileSize` square. */
export function photoIdealBits(image: PcImage, model: PhotoModel, options: PhotoCompressOptions = {}): { bits: number; perSlot: number[] } {
  checkModel(model, 'photoIdealBits');
  const { img, tileSize } = planPhoto(image, options, 'photoIdealBits');
  const ex = model.ex, c = img.channels;
  model.configure(c);
  const perSlot = new Array(c).fill(0);
  let bits = 0;
  for (const r of tileRects(img.width, img.height, tileSize)) {
    const n = r.w * r.h * c;
    const ip = palloc(ex, n), op = palloc(ex, 64);
    copyTile(img, r.x, r.y, r.w, r.h, new Uint8Array(ex.memory.buffer, ip, n));
    ex.phSymbols(ip, r.w, r.h, c, PREDICTORS.indexOf(model.predictor), TRANSFORMS.indexOf(model.transform));
    bits += ex.phBits(op);
    const f = new Float64Array(ex.memory.buffer, op, c);
    for (let k = 0; k < c; k++) perSlot[k] += f[k];
    ex.free(ip);
    ex.free(op);
  }
  return { bits, perSlot };
}
