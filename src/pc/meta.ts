// PNG colour metadata kept through compress -> decompress: the iCCP (ICC profile), sRGB, gAMA and cHRM
// chunks. readImage returns them as `image.meta`, the photo (0xB7) and deflate (0xB8) streams carry them in
// an optional block of their header (covered by the header CRC), decompressPhoto / decompressDeflate give
// them back and writePng writes them again, so a wide-gamut PNG keeps its colours.
//
// Metadata block in a stream header (docs/compression.md, "Stream formats"):
//   byte        number of entries n (1..4)
//   n x         4 ASCII bytes of the PNG chunk type (iCCP, sRGB, gAMA, cHRM; each at most once, in this
//               order), varint body length, the chunk body exactly as PNG stores it
// Bodies: iCCP = name (1..79 bytes of Latin-1, no NUL), 0, compression method 0, the zlib-compressed profile
// (kept as stored, never inflated); sRGB = 1 byte (rendering intent 0..3); gAMA = u32 BE; cHRM = 8 x u32 BE.
import { ArgumentError } from '../errors.js';
import { CorruptDataError, TruncatedDataError } from './errors.js';
import { getVarint, putVarint } from './varint.js';

/** Colour metadata of a PNG, as its chunks store it (values not interpreted). */
export interface PngMeta {
  /** iCCP: the profile's name and its zlib-compressed bytes exactly as stored in the file. */
  iccp?: { name: string; profile: Uint8Array };
  /** sRGB: rendering intent (0 perceptual, 1 relative colorimetric, 2 saturation, 3 absolute colorimetric). */
  srgb?: number;
  /** gAMA: image gamma times 100000 (45455 for 1/2.2). */
  gama?: number;
  /** cHRM: white point x, y, red x, y, green x, y, blue x, y, each times 100000. */
  chrm?: number[];
}

/** Largest metadata block a stream may carry (an ICC profile is typically 0.5-60 KB; 2^24 bytes is generous). */
export const MAX_META_BYTES = 2 ** 24;

const ORDER = ['iCCP', 'sRGB', 'gAMA', 'cHRM'] as const;
type ChunkType = (typeof ORDER)[number];

/** The PNG chunk bodies of `meta`, in the order they are written; validates every field (ArgumentError). */
export function metaChunks(meta: PngMeta | undefined, what: string): [ChunkType, Uint8Array][] {
  if (meta === undefined) return [];
  if (meta === null || typeof meta !== 'object') throw new ArgumentError(`${what}: meta must be an object`);
  for (const k of Object.keys(meta)) {
    if (!['iccp', 'srgb', 'gama', 'chrm'].includes(k)) throw new ArgumentError(`${what}: unknown meta field "${k}"`);
  }
  const out: [ChunkType, Uint8Array][] = [];
  const u32 = (v: unknown, name: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new ArgumentError(`${what}: meta.${name} must be an integer in 0..2^31-1`);
    return v;
  };
  if (meta.iccp !== undefined) {
    const { name, profile } = meta.iccp ?? ({} as never);
    if (typeof name !== 'string' || name.length < 1 || name.length > 79 || /[^\x20-\x7e\xa1-\xff]/.test(name)) {
      throw new ArgumentError(`${what}: meta.iccp.name must be 1..79 printable Latin-1 characters`);
    }
    if (!(profile instanceof Uint8Array) || profile.length < 1) throw new ArgumentError(`${what}: meta.iccp.profile must be a non-empty Uint8Array (the compressed profile)`);
    const body = new Uint8Array(name.length + 2 + profile.length);
    for (let i = 0; i < name.length; i++) body[i] = name.charCodeAt(i);
    body.set(profile, name.length + 2); // NUL separator and compression method 0
    out.push(['iCCP', body]);
  }
  if (meta.srgb !== undefined) {
    if (!Number.isInteger(meta.srgb) || meta.srgb < 0 || meta.srgb > 3) throw new ArgumentError(`${what}: meta.srgb must be 0..3`);
    out.push(['sRGB', Uint8Array.of(meta.srgb)]);
  }
  if (meta.gama !== undefined) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, u32(meta.gama, 'gama'));
    out.push(['gAMA', b]);
  }
  if (meta.chrm !== undefined) {
    if (!Array.isArray(meta.chrm) || meta.chrm.length !== 8) throw new ArgumentError(`${what}: meta.chrm must be 8 integers`);
    const b = new Uint8Array(32), dv = new DataView(b.buffer);
    meta.chrm.forEach((v, i) => dv.setUint32(4 * i, u32(v, 'chrm')));
    out.push(['cHRM', b]);
  }
  return out;
}

/** Parses one chunk body into `meta`; returns false when the body is malformed. */
function addChunk(meta: PngMeta, type: ChunkType, body: Uint8Array): boolean {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (type) {
    case 'iCCP': {
      const nul = body.indexOf(0);
      if (nul < 1 || nul > 79 || body.length < nul + 3 || body[nul + 1] !== 0) return false;
      let name = '';
      for (let i = 0; i < nul; i++) {
        const c = body[i];
        if (c < 0x20 || (c > 0x7e && c < 0xa1)) return false;
        name += String.fromCharCode(c);
      }
      meta.iccp = { name, profile: body.slice(nul + 2) };
      return true;
    }
    case 'sRGB':
      if (body.length !== 1 || body[0] > 3) return false;
      meta.srgb = body[0];
      return true;
    case 'gAMA':
      if (body.length !== 4 || dv.getUint32(0) > 0x7fffffff) return false;
      meta.gama = dv.getUint32(0);
      return true;
    case 'cHRM': {
      if (body.length !== 32) return false;
      const v = Array.from({ length: 8 }, (_, i) => dv.getUint32(4 * i));
      if (v.some((x) => x > 0x7fffffff)) return false;
      meta.chrm = v;
      return true;
    }
  }
}

/** True when `meta` holds at least one chunk. */
export function hasMeta(meta: PngMeta | undefined): meta is PngMeta {
  return !!meta && (meta.iccp !== undefined || meta.srgb !== undefined || meta.gama !== undefined || meta.chrm !== undefined);
}

/** Appends the stream metadata block of `meta` (which must hold at least one chunk) to a header. */
export function putMetaBlock(head: number[], meta: PngMeta, what: string): void {
  const chunks = metaChunks(meta, what);
  let size = 1;
  for (const [, body] of chunks) size += 9 + body.length;
  if (size > MAX_META_BYTES) throw new ArgumentError(`${what}: ${size} bytes of metadata exceed ${MAX_META_BYTES}`);
  head.push(chunks.length);
  for (const [type, body] of chunks) {
    for (let i = 0; i < 4; i++) head.push(type.charCodeAt(i));
    putVarint(head, body.length);
    for (let i = 0; i < body.length; i++) head.push(body[i]);
  }
}

/**
 * Reads a metadata block at `pos.p` (advancing it). Every length is checked against the stream before any
 * byte is copied, and against MAX_META_BYTES; unknown, repeated or out-of-order chunks and malformed bodies
 * are CorruptDataError.
 */
export function getMetaBlock(bytes: Uint8Array, pos: { p: number }, what: string): PngMeta {
  const start = pos.p;
  if (pos.p >= bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its metadata`);
  const n = bytes[pos.p++];
  if (n < 1 || n > 4) throw new CorruptDataError(`${what}: metadata block with ${n} entries`);
  const meta: PngMeta = {};
  let last = -1;
  for (let k = 0; k < n; k++) {
    if (pos.p + 4 > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its metadata`);
    const type = String.fromCharCode(...bytes.subarray(pos.p, pos.p + 4)) as ChunkType;
    pos.p += 4;
    const i = ORDER.indexOf(type);
    if (i <= last) throw new CorruptDataError(`${what}: metadata entry ${k} is not iCCP, sRGB, gAMA or cHRM in order`);
    last = i;
    const len = getVarint(bytes, pos, what);
    if (pos.p - start + len > MAX_META_BYTES) throw new CorruptDataError(`${what}: metadata larger than ${MAX_META_BYTES} bytes`);
    if (pos.p + len > bytes.length) throw new TruncatedDataError(`${what}: stream ends inside its ${type} metadata`);
    if (!addChunk(meta, type, bytes.subarray(pos.p, pos.p + len))) throw new CorruptDataError(`${what}: malformed ${type} metadata`);
    pos.p += len;
  }
  return meta;
}

/**
 * The iCCP, sRGB, gAMA and cHRM chunks of a PNG file (chunks before the first IDAT), or undefined when it has
 * none. A malformed one of them is skipped, as PNG decoders ignore a bad ancillary chunk.
 */
export function readPngMeta(png: Uint8Array): PngMeta | undefined {
  const meta: PngMeta = {};
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let p = 8; p + 12 <= png.length;) {
    const len = dv.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    if (type === 'IDAT' || type === 'IEND' || p + 12 + len > png.length) break;
    if ((ORDER as readonly string[]).includes(type)) addChunk(meta, type as ChunkType, png.subarray(p + 8, p + 8 + len));
    p += 12 + len;
  }
  return hasMeta(meta) ? meta : undefined;
}
