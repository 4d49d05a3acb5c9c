// Photo stream: an image of any size cut into independent square tiles (regions), each one rANS stream
// coded by the wasm photo kernels. Tiles share nothing, so they can be coded in parallel (one per worker)
// and memory stays bounded by the tile size.
//
// Stream format 2 (integrity design: docs/compression.md, "Integrity"):
//   byte 0      0xB7 (photo stream, format 2)
//   bytes 1..4  model id (u32 LE)
//   varint      width (1..65535), varint height (1..65535)
//   byte        channels (1..4)
//   byte        tile size as log2 (4..10); tiles run row-major, the last row/column may be smaller
//   byte        flags: bit 0 = the last channel (alpha) is constant and not coded; bit 1 = packed histograms;
//               bit 2 = colour metadata block
//   [byte]      that alpha value, when flag bit 0 is set
//   [32 bytes]  per coded channel, when flag bit 1 is set: bitmap of the sample values the channel uses
//               (bit v of byte v >> 3); the channel is coded as the rank of each value among them, which
//               closes the gaps of stretched or quantised histograms
//   [meta]      when flag bit 2 is set: the image's PNG colour metadata (iCCP, sRGB, gAMA, cHRM; pc/meta.ts)
//   varint      payload length of each tile (>= 1), in tile order
//   u32         CRC-32 of every header byte before it
//   payloads    concatenated
//   u32         CRC-32 of the decoded image's samples (all channels, alpha included), continuing from
//               the header CRC; the stream ends there
// Tile i is a rANS stream (assembly/rans.ts) coded from x0 = 2^24 + top 24 bits of CRC-32(the tile's coded
// samples) continued from CRC-32(i) continued from the CRC of the header bytes before the length table.
// The decoder must end each tile at exactly that state with every byte consumed, so a corrupt, truncated,
// moved or foreign tile is refused as soon as it is decoded, and the image as a whole is checked again.
//
// Adaptive stream (0xB9, compressAdaptive): the same layout and integrity, with
//   byte 0      0xB9
//   flags       bit 3 = palette: the tiles code one index per pixel into a palette of the image's colours
//               (then bit 1 is clear); otherwise the tiles code the photo model's symbols
//   [palette]   when flag bit 3 is set, after the histograms' place: byte n - 1 (n = 1..256 colours), then n
//               colours of (channels - constant alpha) bytes each
// and every tile coded by the adaptive kernel (assembly/photo.ts, cmEncode): each symbol as 8 binary
// decisions, with probabilities from counters under hashes of exact causal neighbour values, a match
// context and (not in palette mode) the photo model's conditional, mixed by a logistic mixer, all integer
// arithmetic, reset at every tile. A tile of n samples is 8n rANS symbols.
//
// compressPhoto also makes the model-free deflate stream (0xB8, pc/deflate.ts) of the image and returns
// whichever is smaller (option fallback: false turns that off); decompressPhoto reads both.
import { ArgumentError, LimitError } from '../errors.js';
import { crc32, crc32u32, maxSymbols, startState } from '../pc/check.js';
import { CorruptDataError, TruncatedDataError, WrongModelError } from '../pc/errors.js';
import { STREAM_ADAPTIVE, STREAM_DEFLATE, STREAM_PHOTO } from '../pc/format.js';
import { checkImage, compressDeflate, decompressDeflate } from '../pc/deflate.js';
import { getMetaBlock, hasMeta, putMetaBlock, type PngMeta } from '../pc/meta.js';
import { checkMagic } from '../pc/codec.js';
import { allocPixels, decodeLimits, DEFAULT_LIMITS, type DecodeLimits } from '../pc/limits.js';
import type { PcImage } from '../pc/model.js';
import { PREDICTORS, TRANSFORMS, palloc, type PhotoModel } from './model.js';
import { getVarint, putVarint } from '../pc/varint.js';

/** First byte of a photo stream (format 2). */
export const PHOTO_STREAM = STREAM_PHOTO;
/** Largest width*height*channels a stream may declare by default (an 8192 x 8192 RGBA image). */
export const MAX_PHOTO_BYTES = DEFAULT_LIMITS.maxBytes;

/** How a stream's tiles are coded: the photo model ('pc', 0xB7), or adaptively (0xB9) on its symbols or on palette indices. */
export type PhotoTileMode = 'pc' | 'adaptive' | 'palette';

/** Header of a photo stream. */
export interface PhotoStreamInfo {
  modelId: string;
  /** How the tiles are coded (the stream's first byte and its palette flag). */
  mode: PhotoTileMode;
  /** Palette mode: the colours (n x coded channels, raw channel order); the tiles code one index per pixel. */
  palette?: Uint8Array;
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
  /** Byte offset and length of each tile's payload, and the seed of its check (see decodePhotoTile). */
  tiles: { offset: number; length: number; seed: number }[];
  /** The image's colour metadata (PNG iCCP, sRGB, gAMA, cHRM), when the stream carries it. */
  meta?: PngMeta;
  /** CRC-32 of the header (stored after the length table); the pixel checksum continues from it. */
  headerCrc: number;
  /** The stored CRC-32 of the decoded samples, which finishPhoto checks. */
  pixelCrc: number;
}

/** Options of compressPhoto. */
export interface PhotoCompressOptions {
  /** Tile (region) side in pixels, a power of two in 16..1024 (default 256); the encoder holds 12 bytes per subpixel of a tile. */
  tileSize?: number;
  /** Recode channels whose histograms have gaps as ranks among the used values (default true). */
  packHistograms?: boolean;
  /**
   * Also make the model-free deflate stream (0xB8: the samples in their smallest PNG form, zlib) and return it
   * when it is smaller than the model's (default true), so a stream is never much larger than the image's PNG.
   */
  fallback?: boolean;
  /**
   * The PNG file the image was read from: the fallback then also tries the file's own compressed rows, so the
   * stream is never more than a few bytes larger than the file (see compressDeflate).
   */
  png?: Uint8Array;
}

/** Checks an image argument (shape as checkImage, and at most MAX_PHOTO_BYTES of samples). */
export function checkPhoto(img: PcImage, what: string): void {
  checkImage(img, what);
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

/**
 * Encodes one tile (tx, ty, w, h) of an image; returns its payload. `seed` binds the tile to its place in
 * its stream: photoTileSeeds(model, plan)[i] for tile i.
 */
export function encodePhotoTile(model: PhotoModel, img: PcImage, tx: number, ty: number, w: number, h: number, seed: number, mode: PhotoTileMode = 'pc'): Uint8Array {
  const ex = model.ex, c = img.channels;
  if (mode !== 'palette') model.configure(c);
  const n = w * h * c;
  const pred = mode === 'palette' ? 0 : PREDICTORS.indexOf(model.predictor), xf = mode === 'palette' ? 0 : TRANSFORMS.indexOf(model.transform);
  // pc: every symbol costs at most 24 bits (frequencies >= 16 of 2^24: at most 20 bits), plus the final state;
  // adaptive: usually far less than 3 bytes a sample, at most 8 x 12 bits (probabilities >= 1/4096): retried
  for (const cap of mode === 'pc' ? [3 * n + 64] : [3 * n + 64, 12 * n + 64]) {
    const ip = palloc(ex, n), dp = palloc(ex, cap);
    try {
      const tile = new Uint8Array(ex.memory.buffer, ip, n);
      copyTile(img, tx, ty, w, h, tile);
      const x0 = startState(24, crc32(tile, seed));
      const len = mode === 'pc' ? ex.phEncode(ip, w, h, c, pred, xf, dp, cap, x0) : ex.cmEncode(ip, w, h, c, pred, xf, mode === 'adaptive' ? 1 : 0, dp, cap, x0);
      if (len === -1 && mode !== 'pc' && cap < 12 * n + 64) continue;
      if (len < 0) throw new Error(`photo: tile encoder failed (${len}); bug`);
      return new Uint8Array(ex.memory.buffer, dp, len).slice();
    } finally {
      ex.free(ip);
      ex.free(dp);
    }
  }
  throw new Error('photo: tile encoder failed; bug');
}

/**
 * Decodes one tile payload into `out` (the whole image) at (tx, ty). Returns false if it does not decode
 * exactly to the start state of its samples and `seed` (PhotoStreamInfo.tiles[i].seed).
 */
export function decodePhotoTile(model: PhotoModel, payload: Uint8Array, out: PcImage, tx: number, ty: number, w: number, h: number, seed: number,
  mode: PhotoTileMode = 'pc'): boolean {
  const ex = model.ex, c = out.channels;
  if (mode !== 'palette') model.configure(c);
  const n = w * h * c;
  if (n * (mode === 'pc' ? 1 : 8) > maxSymbols(payload.length)) return false; // before allocating: the payload cannot hold n samples
  const pred = mode === 'palette' ? 0 : PREDICTORS.indexOf(model.predictor), xf = mode === 'palette' ? 0 : TRANSFORMS.indexOf(model.transform);
  const sp = palloc(ex, payload.length), ip = palloc(ex, n);
  try {
    new Uint8Array(ex.memory.buffer, sp, payload.length).set(payload);
    const r = mode === 'pc' ? ex.phDecode(sp, payload.length, ip, w, h, c, pred, xf, 1n << 24n) :
      ex.cmDecode(sp, payload.length, ip, w, h, c, pred, xf, mode === 'adaptive' ? 1 : 0, 1n << 24n);
    if (r !== 0) return false;
    const src = new Uint8Array(ex.memory.buffer, ip, n), row = w * c;
    if (BigInt.asUintN(64, ex.ransDecState()) !== startState(24, crc32(src, seed))) return false;
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

/** Header bytes before the tile length table. */
function photoHead(modelHash: number, img: { width: number; height: number; channels: number }, tileSize: number,
  alpha: number | undefined, palettes: Uint8Array[] | undefined, meta: PngMeta | undefined, mode: PhotoTileMode = 'pc', palette?: Uint8Array): number[] {
  const head: number[] = [mode === 'pc' ? PHOTO_STREAM : STREAM_ADAPTIVE, modelHash & 0xff, (modelHash >>> 8) & 0xff, (modelHash >>> 16) & 0xff, modelHash >>> 24];
  putVarint(head, img.width);
  putVarint(head, img.height);
  head.push(img.channels, Math.log2(tileSize), (alpha === undefined ? 0 : 1) | (palettes ? 2 : 0) | (meta ? 4 : 0) | (mode === 'palette' ? 8 : 0));
  if (alpha !== undefined) head.push(alpha);
  if (palettes) {
    for (const pal of palettes) {
      const bits = new Array(32).fill(0);
      for (const v of pal) bits[v >> 3] |= 1 << (v & 7);
      head.push(...bits);
    }
  }
  if (mode === 'palette') {
    const coded = img.channels - (alpha === undefined ? 0 : 1);
    head.push(palette!.length / coded - 1);
    for (const v of palette!) head.push(v);
  }
  if (meta) putMetaBlock(head, meta, 'compressPhoto');
  return head;
}

/** The seed of each tile's check in the stream a plan makes with a model (pass it to encodePhotoTile). */
export function photoTileSeeds(model: PhotoModel, plan: PhotoPlan): number[] {
  const info = crc32(Uint8Array.from(photoHead(model.hash, plan, plan.tileSize, plan.alpha, plan.palettes, plan.meta, plan.mode, plan.palette)));
  return plan.tiles.map((_, i) => crc32u32(i, info));
}

/** Builds the stream from tile payloads (in tile order); the pixel checksum covers plan.original, the image as given. */
function assemblePhotoStream(model: PhotoModel, plan: PhotoPlan, payloads: Uint8Array[]): Uint8Array {
  const head = photoHead(model.hash, plan, plan.tileSize, plan.alpha, plan.palettes, plan.meta, plan.mode, plan.palette);
  for (const p of payloads) putVarint(head, p.length);
  const headerCrc = crc32(Uint8Array.from(head));
  const out = new Uint8Array(head.length + 4 + payloads.reduce((s, p) => s + p.length, 0) + 4);
  const dv = new DataView(out.buffer);
  out.set(head);
  dv.setUint32(head.length, headerCrc, true);
  let o = head.length + 4;
  for (const p of payloads) {
    out.set(p, o);
    o += p.length;
  }
  dv.setUint32(o, crc32(plan.original.data, headerCrc), true);
  return out;
}

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

function checkOptions(options: PhotoCompressOptions, what: string, extra: readonly string[] = []): void {
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  for (const k of Object.keys(options)) {
    if (!['tileSize', 'packHistograms', 'fallback', 'png', ...extra].includes(k)) throw new ArgumentError(`${what}: unknown option "${k}"`);
  }
  if (options.fallback !== undefined && typeof options.fallback !== 'boolean') throw new ArgumentError(`${what}: fallback must be a boolean`);
  if (options.packHistograms !== undefined && typeof options.packHistograms !== 'boolean') {
    throw new ArgumentError(`${what}: packHistograms must be a boolean, got ${JSON.stringify(options.packHistograms)}`);
  }
  if (options.png !== undefined && !(options.png instanceof Uint8Array)) throw new ArgumentError(`${what}: png must be the PNG file's bytes (a Uint8Array)`);
  if (options.png !== undefined && options.fallback === false) {
    throw new ArgumentError(`${what}: png is only read by the deflate fallback, which fallback: false turns off`);
  }
}

/**
 * Compresses an 8-bit image (1-4 channels, any size; `image.meta` kept) with a photo model. Unless
 * `fallback: false`, it also makes the model-free deflate stream and returns the smaller of the two (tell them
 * apart with streamKind: 'photo' or 'deflate'; decompressPhoto reads both).
 */
export function compressPhoto(image: PcImage, model: PhotoModel, options: PhotoCompressOptions = {}): Uint8Array {
  checkModel(model, 'compressPhoto');
  const plan = planPhotoTiles(image, options);
  const seeds = photoTileSeeds(model, plan);
  return finishPhotoStream(model, plan, plan.tiles.map((r, i) => encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h, seeds[i])));
}

/** Options of compressAdaptive. */
export interface AdaptiveCompressOptions {
  /** Tile (region) side in pixels, a power of two in 16..1024 (default 256). */
  tileSize?: number;
  /** Recode channels whose histograms have gaps as ranks among the used values (default true; not in palette mode). */
  packHistograms?: boolean;
  /** Also try palette indices when the image has at most 256 colours, and keep the smaller stream (default true). */
  palette?: boolean;
}

/**
 * The image as palette indices when it has at most 256 colours (alpha included): colours sorted by
 * (G, R, B, A) for colour images, by value for gray, so indices of similar colours share their high bits.
 */
export function paletteForm(img: PcImage): { img: PcImage; palette: Uint8Array } | undefined {
  const c = img.channels, n = img.width * img.height, d = img.data;
  const order = c >= 3 ? [1, 0, 2, 3].slice(0, c) : c === 2 ? [0, 1] : [0];
  const keyOf = (i: number) => {
    let v = 0;
    for (const k of order) v = v * 256 + d[i * c + k];
    return v;
  };
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const k = keyOf(i);
    if (!map.has(k)) {
      if (map.size === 256) return undefined;
      map.set(k, 0);
    }
  }
  const keys = [...map.keys()].sort((a, b) => a - b);
  const palette = new Uint8Array(keys.length * c);
  keys.forEach((k, j) => {
    map.set(k, j);
    let v = k;
    for (let t = order.length - 1; t >= 0; t--) {
      palette[j * c + order[t]] = v % 256;
      v = Math.floor(v / 256);
    }
  });
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = map.get(keyOf(i))!;
  return { img: { width: img.width, height: img.height, channels: 1, data }, palette };
}

/** Codes every tile of a plan on this thread and assembles the stream (no fallback). */
function encodePlanHere(model: PhotoModel, plan: PhotoPlan): Uint8Array {
  const seeds = photoTileSeeds(model, plan);
  return assemblePhotoStream(model, plan, plan.tiles.map((r, i) => encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h, seeds[i], plan.mode)));
}

/**
 * Compresses an 8-bit image (1-4 channels, any size; `image.meta` kept) into an adaptive stream (0xB9):
 * each tile coded by backward-adaptive context mixing of exact neighbour values, a match context and the
 * photo model's conditional, or, when the image has at most 256 colours, of palette indices; both are made
 * and the smaller kept. Decode with decompressPhoto (or decompressAuto). Codes on the calling thread.
 * Smaller than compressPhoto on graphics, screenshots and icons, about 8x slower to code both ways (about 0.1 MP/s on
 * RGB photos); compressAuto(img, { adaptive: false }) skips it.
 */
export function compressAdaptive(image: PcImage, model: PhotoModel, options: AdaptiveCompressOptions = {}): Uint8Array {
  const what = 'compressAdaptive';
  checkModel(model, what);
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  for (const k of Object.keys(options)) if (!['tileSize', 'packHistograms', 'palette'].includes(k)) throw new ArgumentError(`${what}: unknown option "${k}"`);
  if (options.palette !== undefined && typeof options.palette !== 'boolean') throw new ArgumentError(`${what}: palette must be a boolean`);
  const opts: PhotoCompressOptions = { fallback: false };
  if (options.tileSize !== undefined) opts.tileSize = options.tileSize;
  if (options.packHistograms !== undefined) opts.packHistograms = options.packHistograms;
  const plan: PhotoPlan = { ...planPhotoTiles(image, opts), mode: 'adaptive' };
  let best = encodePlanHere(model, plan);
  if (options.palette !== false) {
    const pf = paletteForm(plan.alpha === undefined ? image : dropLast(image));
    if (pf) {
      const s = encodePlanHere(model, { ...plan, img: pf.img, palettes: undefined, palette: pf.palette, mode: 'palette' });
      if (s.length < best.length) best = s;
    }
  }
  return best;
}

/**
 * A compression plan for tile-parallel coding: the image as coded (constant alpha dropped, histograms
 * packed), and its tiles. Code each tile with encodePhotoTile (any thread, any order, each worker with its
 * own model instance, and the tile's seed from photoTileSeeds), then join the payloads in tile order with
 * finishPhotoStream.
 */
export interface PhotoPlan {
  /** The image the tiles code. */
  img: PcImage;
  /** The image as given (its samples are checksummed into the stream). */
  original: PcImage;
  /** Shape of the original image. */
  width: number;
  height: number;
  channels: number;
  tileSize: number;
  alpha?: number;
  palettes?: Uint8Array[];
  /** Tile rectangles, row-major. */
  tiles: { x: number; y: number; w: number; h: number }[];
  /** The image's colour metadata, carried in the header. */
  meta?: PngMeta;
  /** Whether finishPhotoStream returns the deflate stream when it is smaller (options.fallback, default true). */
  fallback: boolean;
  /** The PNG file the image came from (options.png), for the fallback. */
  png?: Uint8Array;
  /** How the tiles are coded (default 'pc': the photo stream 0xB7; the others make an adaptive stream 0xB9). */
  mode?: PhotoTileMode;
  /** Palette mode: the colours (n x coded channels); `img` then holds one index per pixel. */
  palette?: Uint8Array;
}

/**
 * Plans the tiles of an image (see PhotoPlan). `extra` names further options the caller reads itself
 * (workers, workerUrl), which are not refused as unknown.
 */
export function planPhotoTiles(image: PcImage, options: PhotoCompressOptions = {}, extra: readonly string[] = []): PhotoPlan {
  checkOptions(options, 'compressPhoto', extra);
  const { img, alpha, tileSize, palettes } = planPhoto(image, options, 'compressPhoto');
  return { img, original: image, width: image.width, height: image.height, channels: image.channels, tileSize, alpha, palettes,
    tiles: tileRects(img.width, img.height, tileSize), meta: hasMeta(image.meta) ? image.meta : undefined, fallback: options.fallback ?? true,
    png: options.png };
}

/**
 * Joins tile payloads (in tile order) into a photo stream; with `plan.fallback`, returns the image's deflate
 * stream (0xB8) instead when that is smaller.
 */
export function finishPhotoStream(model: PhotoModel, plan: PhotoPlan, payloads: Uint8Array[]): Uint8Array {
  if (payloads.length !== plan.tiles.length) throw new ArgumentError(`finishPhotoStream: ${payloads.length} payloads for ${plan.tiles.length} tiles`);
  const stream = assemblePhotoStream(model, plan, payloads);
  if (!plan.fallback) return stream;
  const deflated = compressDeflate(plan.original, plan.png ? { png: plan.png } : {});
  return deflated.length < stream.length ? deflated : stream;
}

/**
 * Reads and validates a photo stream's header (no pixels are allocated): the header checksum, the sizes
 * against `limits` (maxPixels, maxBytes; defaults DEFAULT_LIMITS), and that every tile's payload is large
 * enough for its samples. `limits` may also be a number, the old maxBytes argument.
 */
export function photoStreamInfo(bytes: Uint8Array, limits: DecodeLimits | number = {}): PhotoStreamInfo {
  const what = 'photo stream';
  const lim = decodeLimits(typeof limits === 'number' ? { maxBytes: limits } : limits, what, ['workers', 'workerUrl']);
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  if (bytes.length === 0) throw new TruncatedDataError(`${what}: the stream is empty`);
  checkMagic(bytes, [PHOTO_STREAM, STREAM_ADAPTIVE], what); // first, so a short format-1 stream is named as such
  const adaptive = bytes[0] === STREAM_ADAPTIVE;
  if (bytes.length < 14) throw new TruncatedDataError(`${what}: ${bytes.length} bytes is too short`);
  const id = (bytes[1] | (bytes[2] << 8) | (bytes[3] << 16) | (bytes[4] << 24)) >>> 0;
  const pos = { p: 5 };
  const width = getVarint(bytes, pos, what), height = getVarint(bytes, pos, what);
  if (pos.p + 3 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const channels = bytes[pos.p++], tl = bytes[pos.p++], flags = bytes[pos.p++];
  if (width < 1 || height < 1 || width > 65535 || height > 65535) throw new CorruptDataError(`${what}: bad size ${width}x${height}`);
  if (channels < 1 || channels > 4) throw new CorruptDataError(`${what}: ${channels} channels`);
  if (tl < 4 || tl > 10) throw new CorruptDataError(`${what}: tile size 2^${tl} outside 2^4..2^10`);
  if (flags > (adaptive ? 15 : 7) || ((flags & 1) && channels !== 2 && channels !== 4) || ((flags & 8) && (flags & 2))) {
    throw new CorruptDataError(`${what}: bad flags ${flags}`);
  }
  if (width * height > lim.maxPixels || width * height * channels > lim.maxBytes) {
    throw new LimitError(`${what}: ${width}x${height}x${channels} exceeds the limits (maxPixels ${lim.maxPixels}, maxBytes ${lim.maxBytes})`);
  }
  let constantAlphaValue: number | undefined;
  if (flags & 1) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
    constantAlphaValue = bytes[pos.p++];
  }
  const coded = channels - (flags & 1);
  if ((flags & 2) && pos.p + 32 * coded > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its histograms`);
  const palStart = pos.p;
  if (flags & 2) pos.p += 32 * coded;
  let palette: Uint8Array | undefined;
  if (flags & 8) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its palette`);
    const n = bytes[pos.p++] + 1;
    if (pos.p + n * coded > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its palette`);
    palette = bytes.slice(pos.p, pos.p + n * coded);
    pos.p += n * coded;
  }
  const mode: PhotoTileMode = !adaptive ? 'pc' : palette ? 'palette' : 'adaptive';
  const tileChannels = palette ? 1 : coded, perSample = adaptive ? 8 : 1;
  const meta = flags & 4 ? getMetaBlock(bytes, pos, what) : undefined;
  const infoCrc = crc32(bytes.subarray(0, pos.p));
  const t = 1 << tl, tilesX = Math.ceil(width / t), tilesY = Math.ceil(height / t), nt = tilesX * tilesY;
  // every tile needs at least 2 bytes (length + payload), and the stream ends with two checksums
  if (nt * 2 + 8 > bytes.length - pos.p) throw new TruncatedDataError(`${what}: ${nt} tiles announced, the stream is too short`);
  const lens: number[] = [];
  for (let i = 0; i < nt; i++) lens.push(getVarint(bytes, pos, what));
  if (pos.p + 4 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerCrc = crc32(bytes.subarray(0, pos.p));
  if (dv.getUint32(pos.p, true) !== headerCrc) throw new CorruptDataError(`${what}: header checksum mismatch (the header is corrupt)`);
  pos.p += 4;
  let palettes: Uint8Array[] | undefined;
  if (flags & 2) {
    palettes = [];
    for (let c = 0; c < coded; c++) {
      const pal: number[] = [];
      const o = palStart + 32 * c;
      for (let v = 0; v < 256; v++) if (bytes[o + (v >> 3)] & (1 << (v & 7))) pal.push(v);
      if (!pal.length) throw new CorruptDataError(`${what}: channel ${c} uses no values`);
      palettes.push(Uint8Array.from(pal));
    }
  }
  const tiles: { offset: number; length: number; seed: number }[] = [];
  let o = pos.p;
  for (let i = 0; i < nt; i++) {
    const n = lens[i];
    if (n < 1) throw new CorruptDataError(`${what}: tile ${i} is empty`);
    const tw = Math.min(t, width - (i % tilesX) * t), th = Math.min(t, height - Math.floor(i / tilesX) * t);
    if (tw * th * tileChannels * perSample > maxSymbols(n)) {
      throw new CorruptDataError(`${what}: tile ${i} has ${n} bytes, too few for its ${tw * th * tileChannels} samples`);
    }
    tiles.push({ offset: o, length: n, seed: crc32u32(i, infoCrc) });
    o += n;
    if (o + 4 > bytes.length) throw new TruncatedDataError(`${what}: tile payloads run past the end of the stream`);
  }
  if (o + 4 !== bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - o - 4} stray bytes after the last tile`);
  return { modelId: id.toString(16).padStart(8, '0'), mode, palette, width, height, channels, tileSize: t, tilesX, tilesY, constantAlpha: constantAlphaValue,
    palettes, tiles, meta, headerCrc, pixelCrc: dv.getUint32(o, true) };
}

/** Checks the stream's model id against the model (a palette-mode stream needs no particular model). */
export function checkStreamModel(info: PhotoStreamInfo, model: PhotoModel, what: string): void {
  if (info.mode !== 'palette' && info.modelId !== model.id) {
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

/**
 * Decompresses a stream made by compressPhoto with the same model: a photo stream (0xB7), or the deflate
 * stream (0xB8) compressPhoto keeps when it is smaller, which needs no model. Sizes in the header are checked
 * against `options` (maxPixels, maxBytes) before anything is allocated; every tile and the whole image are
 * checked, so a corrupt stream is refused with a CorruptDataError, never decoded to a wrong image.
 */
export function decompressPhoto(bytes: Uint8Array, model: PhotoModel, options: DecodeLimits = {}): PcImage {
  const what = 'decompressPhoto';
  checkModel(model, what);
  if (bytes instanceof Uint8Array && bytes[0] === STREAM_DEFLATE) return decompressDeflate(bytes, decodeLimits(options, what));
  const info = photoStreamInfo(bytes, decodeLimits(options, what));
  checkStreamModel(info, model, what);
  const out = photoCanvas(info);
  tileRects(info.width, info.height, info.tileSize).forEach((r, i) => {
    const t = info.tiles[i];
    if (!decodePhotoTile(model, bytes.subarray(t.offset, t.offset + t.length), out, r.x, r.y, r.w, r.h, t.seed, info.mode)) {
      throw new CorruptDataError(`${what}: tile ${i} does not decode exactly (corrupt, truncated, or made with another model)`);
    }
  });
  return finishPhoto(info, out, what);
}

/** The image the tiles of a stream decode into (constant alpha not included): allocate, then decode tiles into it. */
export function photoCanvas(info: PhotoStreamInfo): PcImage {
  const c = info.palette ? 1 : info.channels - (info.constantAlpha === undefined ? 0 : 1);
  return { width: info.width, height: info.height, channels: c, data: allocPixels(info.width * info.height * c, 'photo stream') };
}

/**
 * After every tile of `info` was decoded into `out` (photoCanvas): unpacks histograms, restores alpha, and
 * checks the stream's pixel checksum (CorruptDataError when it differs).
 */
export function finishPhoto(info: PhotoStreamInfo, out: PcImage, what = 'decompressPhoto'): PcImage {
  if (info.palette) {
    const pal = info.palette, c = info.channels - (info.constantAlpha === undefined ? 0 : 1), n = pal.length / c;
    const data = allocPixels(out.data.length * c, what);
    for (let i = 0, o = 0; i < out.data.length; i++, o += c) {
      const k = out.data[i];
      if (k >= n) throw new CorruptDataError(`${what}: palette index ${k} outside the ${n} colours`);
      for (let j = 0; j < c; j++) data[o + j] = pal[k * c + j];
    }
    out = { width: out.width, height: out.height, channels: c, data };
  }
  const c = out.channels;
  if (info.palettes) {
    const pals = info.palettes;
    for (let i = 0; i < out.data.length; i++) {
      const pal = pals[i % c], r = out.data[i];
      if (r >= pal.length) throw new CorruptDataError(`${what}: sample rank ${r} outside the ${pal.length} values of its channel`);
      out.data[i] = pal[r];
    }
  }
  const img = info.constantAlpha === undefined ? out : withAlpha(out, info.constantAlpha);
  if (crc32(img.data, info.headerCrc) !== info.pixelCrc) throw new CorruptDataError(`${what}: pixel checksum mismatch (the stream is corrupt)`);
  return info.meta ? { ...img, meta: info.meta } : img;
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
