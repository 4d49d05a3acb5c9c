// Deflate stream (0xB8): the fallback that keeps a compressed file about the size of the image's own PNG
// when no probabilistic-circuit model codes it smaller (palette graphics, screenshots, images far from a
// model's training data). The samples are stored in the smallest exact PNG form writePng finds (gray at 1/2/4/8
// bits, palette, colour key, 8-bit samples; per-row filters), deflated by fflate, so no model is needed to
// decode it. Integrity as in every format-2 stream (docs/compression.md, "Integrity").
//
//   byte 0      0xB8 (deflate stream, format 2)
//   varint      width (1..65535), varint height (1..65535)
//   byte        channels of the image (1..4)
//   byte        PNG colour type of the stored rows: 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA
//   byte        bit depth: 1, 2, 4 (gray and palette only) or 8
//   byte        flags: bit 0 = metadata block (meta.ts), bit 1 = transparency (tRNS) entry
//   [meta]      the metadata block, when flag bit 0 is set
//   [palette]   colour type 3: byte n - 1, then n RGB triples (n <= 2^depth)
//   [tRNS]      flag bit 1: byte length, then the bytes of the PNG tRNS chunk (palette: 1..n alphas;
//               gray: 2 bytes; RGB: 6 bytes: the transparent colour key)
//   varint      length of the zlib stream (>= 1)
//   u32         CRC-32 of every header byte before it
//   zlib        the filtered scanlines (height x (1 + rowBytes) bytes once inflated, PNG filters 0..4)
//   u32         CRC-32 of the decoded image's samples, continuing from the header CRC; the stream ends there
// The decoder checks the header CRC, the sizes against the caller's limits and the layout (type, depth,
// palette, key, channels) before allocating, inflates into a buffer of exactly the declared size plus one
// byte (so a forged stream cannot inflate past it), and checks the pixel CRC.
import { unzlibSync } from 'fflate';
import { ArgumentError, LimitError } from '../errors.js';
import { crc32 } from './check.js';
import { CorruptDataError, TruncatedDataError } from './errors.js';
import { STREAM_DEFLATE } from './format.js';
import { checkMagic } from './codec.js';
import { bestPngForm, pngImage, unfilterRows, type PngForm, type PngLayout } from './image.js';
import { allocPixels, decodeLimits, LIMIT_CEILINGS, type DecodeLimits } from './limits.js';
import { getMetaBlock, hasMeta, putMetaBlock, type PngMeta } from './meta.js';
import type { PcImage } from './model.js';
import { getVarint, putVarint } from './varint.js';

/** Checks an image argument of any size: { width, height (1..65535), channels (1..4), data of their product }. */
export function checkImage(img: PcImage, what: string): void {
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
}

/** Options of compressDeflate. */
export interface DeflateOptions {
  /**
   * The PNG file the image was read from. When its own compressed rows (IDAT, as stored; 8 bits or less,
   * not interlaced) decode to exactly the image, they are kept if smaller than fflate's: so the stream is never
   * more than a few header bytes larger than the file (an optimised PNG, e.g. from oxipng, stays optimised).
   */
  png?: Uint8Array;
}

/** The form (layout and zlib stream) a PNG file stores its rows in, when this stream format can hold it. */
function fileForm(png: Uint8Array): PngForm | undefined {
  if (png.length < 45 || png[0] !== 0x89 || png[1] !== 0x50 || png[2] !== 0x4e || png[3] !== 0x47) return undefined;
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let ihdr: Uint8Array | undefined, plte: Uint8Array | undefined, trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  for (let p = 8; p + 12 <= png.length;) {
    const len = dv.getUint32(p), type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    if (p + 12 + len > png.length) return undefined;
    const body = png.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') ihdr = body;
    else if (type === 'PLTE') plte = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  if (!ihdr || ihdr.length !== 13 || !idat.length || ihdr[12] !== 0) return undefined; // interlaced rows are not stored as is
  const depth = ihdr[8], colorType = ihdr[9];
  if (![1, 2, 4, 8].includes(depth) || ![0, 2, 3, 4, 6].includes(colorType)) return undefined;
  if ((colorType === 3) !== !!plte || (plte && (plte.length % 3 || plte.length > 768 || plte.length < 3))) return undefined;
  if (trns && trns.length > 255) return undefined;
  const spp = colorType === 3 ? 1 : [1, 0, 3, 0, 2, 0, 4][colorType];
  const all = new Uint8Array(idat.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of idat) (all.set(b, o), (o += b.length));
  const width = dv.getUint32(16), rowBytes = Math.ceil((width * spp * depth) / 8);
  const layout: PngLayout = { colorType: colorType as PngLayout['colorType'], depth: depth as PngLayout['depth'], bpp: Math.max(1, (spp * depth) >> 3),
    rowBytes, rows: new Uint8Array(0), plte: plte?.slice(), trns: trns?.slice() };
  return { layout, idat: all };
}

/** The stream of `image` with its rows in `form`. */
function streamOf(image: PcImage, { layout, idat }: PngForm, what: string): Uint8Array {
  const meta = hasMeta(image.meta) ? image.meta : undefined;
  const head: number[] = [STREAM_DEFLATE];
  putVarint(head, image.width);
  putVarint(head, image.height);
  head.push(image.channels, layout.colorType, layout.depth, (meta ? 1 : 0) | (layout.trns ? 2 : 0));
  if (meta) putMetaBlock(head, meta, what);
  if (layout.plte) {
    head.push(layout.plte.length / 3 - 1);
    for (const b of layout.plte) head.push(b);
  }
  if (layout.trns) {
    head.push(layout.trns.length);
    for (const b of layout.trns) head.push(b);
  }
  putVarint(head, idat.length);
  const headerCrc = crc32(Uint8Array.from(head));
  const out = new Uint8Array(head.length + 4 + idat.length + 4);
  const dv = new DataView(out.buffer);
  out.set(head);
  dv.setUint32(head.length, headerCrc, true);
  out.set(idat, head.length + 4);
  dv.setUint32(out.length - 4, crc32(image.data, headerCrc), true);
  return out;
}

/**
 * Compresses an image (1-4 channels of 8 bits, any size, `meta` kept) without a model: the samples in their
 * smallest exact PNG form, deflated (about writePng(image).length - 40 bytes), or, with `options.png`, the
 * rows of the PNG file it came from when those are smaller. decompressDeflate reads it.
 */
export function compressDeflate(image: PcImage, options: DeflateOptions = {}): Uint8Array {
  const what = 'compressDeflate';
  checkImage(image, what);
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  for (const k of Object.keys(options)) if (k !== 'png') throw new ArgumentError(`${what}: unknown option "${k}"`);
  if (options.png !== undefined && !(options.png instanceof Uint8Array)) throw new ArgumentError(`${what}: png must be a Uint8Array (the file's bytes)`);
  const own = streamOf(image, bestPngForm(image), what);
  const form = options.png ? fileForm(options.png) : undefined;
  if (!form || form.idat.length + (form.layout.plte?.length ?? 0) >= own.length) return own;
  const theirs = streamOf(image, form, what);
  if (theirs.length >= own.length) return own;
  // kept only when it decodes to exactly this image (the file may be another image, or a form this format refuses)
  try {
    const back = decompressDeflate(theirs, { maxPixels: LIMIT_CEILINGS.maxPixels, maxBytes: LIMIT_CEILINGS.maxBytes });
    if (back.channels === image.channels && back.data.length === image.data.length && back.data.every((v, i) => v === image.data[i])) return theirs;
  } catch {
    // not decodable in this format: fall back to our own form
  }
  return own;
}

/** What a deflate stream's header declares (validated: checksum, sizes, layout). */
export interface DeflateStreamInfo {
  width: number;
  height: number;
  channels: number;
  /** PNG colour type and bit depth of the stored rows. */
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8;
  meta?: PngMeta;
  /** Byte offset and length of the zlib stream. */
  offset: number;
  length: number;
}

/** Channels readImage makes of a PNG form (see pngImage). */
function formChannels(colorType: number, plte: Uint8Array | undefined, trns: Uint8Array | undefined): number {
  if (colorType === 3) {
    let gray = true;
    for (let i = 0; i < plte!.length; i += 3) if (plte![i] !== plte![i + 1] || plte![i + 1] !== plte![i + 2]) gray = false;
    return (gray ? 1 : 3) + (trns ? 1 : 0);
  }
  return ([1, 0, 3, 0, 2, 0, 4][colorType]) + (trns ? 1 : 0);
}

interface Parsed extends DeflateStreamInfo {
  plte?: Uint8Array;
  trns?: Uint8Array;
  headerCrc: number;
}

function parse(bytes: Uint8Array, limits: Required<DecodeLimits>, what: string): Parsed {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError(`${what}: expected a Uint8Array`);
  // the kind first: a short stream of another kind (or format) is that, not a truncated deflate stream
  if (bytes.length > 0) checkMagic(bytes, [STREAM_DEFLATE], what);
  if (bytes.length < 14) throw new TruncatedDataError(`${what}: ${bytes.length} bytes is too short for a deflate stream`);
  const pos = { p: 1 };
  const width = getVarint(bytes, pos, what), height = getVarint(bytes, pos, what);
  if (pos.p + 4 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const channels = bytes[pos.p++], colorType = bytes[pos.p++], depth = bytes[pos.p++], flags = bytes[pos.p++];
  if (width < 1 || height < 1 || width > 65535 || height > 65535) throw new CorruptDataError(`${what}: bad size ${width}x${height}`);
  if (channels < 1 || channels > 4) throw new CorruptDataError(`${what}: ${channels} channels`);
  const low = colorType === 0 || colorType === 3;
  if (![0, 2, 3, 4, 6].includes(colorType) || ![1, 2, 4, 8].includes(depth) || (depth < 8 && !low)) {
    throw new CorruptDataError(`${what}: colour type ${colorType} at ${depth} bits`);
  }
  if (flags > 3 || ((flags & 2) && colorType !== 0 && colorType !== 2 && colorType !== 3)) throw new CorruptDataError(`${what}: bad flags ${flags}`);
  if (width * height > limits.maxPixels || width * height * channels > limits.maxBytes) {
    throw new LimitError(`${what}: ${width}x${height}x${channels} exceeds the limits (maxPixels ${limits.maxPixels}, maxBytes ${limits.maxBytes})`);
  }
  const meta = flags & 1 ? getMetaBlock(bytes, pos, what) : undefined;
  let plte: Uint8Array | undefined, trns: Uint8Array | undefined;
  if (colorType === 3) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its palette`);
    const n = bytes[pos.p++] + 1;
    if (n > 1 << depth) throw new CorruptDataError(`${what}: ${n} palette entries at ${depth} bits`);
    if (pos.p + 3 * n > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its palette`);
    plte = bytes.slice(pos.p, (pos.p += 3 * n));
  }
  if (flags & 2) {
    if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its transparency entry`);
    const n = bytes[pos.p++];
    const ok = colorType === 3 ? n >= 1 && n <= plte!.length / 3 : n === (colorType === 0 ? 2 : 6);
    if (!ok) throw new CorruptDataError(`${what}: transparency entry of ${n} bytes for colour type ${colorType}`);
    if (pos.p + n > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its transparency entry`);
    trns = bytes.slice(pos.p, (pos.p += n));
    if (colorType !== 3) {
      // a key is a sample value of the stored depth (PNG: the unused high bits are zero)
      for (let i = 0; i < n; i += 2) if (trns[i] !== 0 || trns[i + 1] >= 1 << depth) throw new CorruptDataError(`${what}: transparent key outside ${depth} bits`);
    }
  }
  if (formChannels(colorType, plte, trns) !== channels) throw new CorruptDataError(`${what}: colour type ${colorType} does not make ${channels} channels`);
  const length = getVarint(bytes, pos, what);
  if (pos.p + 4 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerCrc = crc32(bytes.subarray(0, pos.p));
  if (dv.getUint32(pos.p, true) !== headerCrc) throw new CorruptDataError(`${what}: header checksum mismatch (the header is corrupt)`);
  pos.p += 4;
  if (length < 1) throw new CorruptDataError(`${what}: empty zlib stream`);
  if (pos.p + length + 4 > bytes.length) throw new TruncatedDataError(`${what}: the zlib stream runs past the end of the stream`);
  if (pos.p + length + 4 < bytes.length) throw new CorruptDataError(`${what}: ${bytes.length - pos.p - length - 4} stray bytes after the zlib stream`);
  return { width, height, channels, colorType: colorType as Parsed['colorType'], depth: depth as Parsed['depth'], meta, offset: pos.p, length, plte, trns, headerCrc };
}

/**
 * Reads and validates a deflate stream's header (no pixels are allocated or inflated): the header checksum,
 * the sizes against `limits` (maxPixels, maxBytes) and the stored layout.
 */
export function deflateStreamInfo(bytes: Uint8Array, limits: DecodeLimits = {}): DeflateStreamInfo {
  const { plte: _p, trns: _t, headerCrc: _h, ...info } = parse(bytes, decodeLimits(limits, 'deflateStreamInfo'), 'deflateStreamInfo');
  return info;
}

/**
 * Decompresses a stream made by compressDeflate (or chosen by compressPhoto / compressAuto as the smaller):
 * no model is needed. Sizes are checked against `options` before anything is allocated, inflation cannot
 * run past the declared size, and the pixels are checked against the stream's CRC-32: a corrupt stream is
 * a CorruptDataError, never a wrong image.
 */
export function decompressDeflate(bytes: Uint8Array, options: DecodeLimits = {}): PcImage {
  const what = 'decompressDeflate';
  const limits = decodeLimits(options, what, ['workers', 'workerUrl']);
  const s = parse(bytes, limits, what);
  const { width, height, depth, colorType } = s;
  const spp = colorType === 3 ? 1 : [1, 0, 3, 0, 2, 0, 4][colorType];
  const bpp = Math.max(1, (spp * depth) >> 3), rowBytes = Math.ceil((width * spp * depth) / 8);
  const size = (rowBytes + 1) * height;
  // one byte more than declared: a stream that fills it inflates past its size
  const buf = allocPixels(size + 1, what);
  let raw: Uint8Array;
  try {
    raw = unzlibSync(bytes.subarray(s.offset, s.offset + s.length), { out: buf });
  } catch (e) {
    throw new CorruptDataError(`${what}: the zlib stream does not inflate (${(e as Error).message})`);
  }
  if (raw.length !== size) throw new CorruptDataError(`${what}: the zlib stream inflates to ${raw.length === size + 1 ? 'more' : raw.length} bytes, not ${size}`);
  const rows = unfilterRows(raw, height, rowBytes, bpp);
  if (!rows) throw new CorruptDataError(`${what}: a row names a filter type above 4`);
  let palette: number[][] | undefined, transparency: Uint16Array | undefined;
  if (s.plte) {
    const n = s.plte.length / 3;
    palette = Array.from({ length: n }, (_, i) => {
      const c = [s.plte![3 * i], s.plte![3 * i + 1], s.plte![3 * i + 2]];
      if (s.trns) c.push(s.trns[i] ?? 255);
      return c;
    });
  } else if (s.trns) {
    transparency = Uint16Array.from({ length: s.trns.length / 2 }, (_, i) => (s.trns![2 * i] << 8) | s.trns![2 * i + 1]);
  }
  let img: PcImage;
  try {
    img = pngImage({ width, height, depth, channels: spp, data: rows, palette, transparency });
  } catch (e) {
    throw new CorruptDataError(`${what}: ${(e as Error).message.replace(/^readImage: /, '')}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (img.channels !== s.channels || crc32(img.data, s.headerCrc) !== dv.getUint32(bytes.length - 4, true)) {
    throw new CorruptDataError(`${what}: pixel checksum mismatch (the stream is corrupt)`);
  }
  return s.meta ? { ...img, meta: s.meta } : img;
}
