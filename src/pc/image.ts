// Image files in and out. PNG is decoded by fast-png and written by the small encoder below (chunks, per-row
// filters, deflate from fflate, the library fast-png itself uses), so that a decompressed PNG takes a compact
// form (palette, 1/2/4-bit gray, a transparent colour key) instead of always 8-bit gray/RGB(A). PGM: P2 and P5.
// Everything runs synchronously in Node, Deno and browsers.
import { decode as decodePngFile, type DecodedPng } from 'fast-png';
import { zlibSync } from 'fflate';
import { ArgumentError } from '../errors.js';
import { ImageFormatError } from './errors.js';
import type { PcImage } from './model.js';
import { crc32 } from './check.js';
import { hasMeta, metaChunks, readPngMeta } from './meta.js';

function checkImageShape(img: PcImage, what: string): void {
  if (!img || !(img.data instanceof Uint8Array) || !Number.isInteger(img.width) || !Number.isInteger(img.height) ||
    !Number.isInteger(img.channels) || img.width < 1 || img.height < 1 || img.channels < 1 ||
    img.data.length !== img.width * img.height * img.channels) {
    throw new ArgumentError(`${what}: expected { width, height, channels, data: Uint8Array(width*height*channels) }`);
  }
}

/**
 * Reads a PNG or PGM (P2/P5) file into an 8-bit image: `{ width, height, channels, data }`, channels 1 (gray),
 * 2 (gray + alpha), 3 (RGB) or 4 (RGBA). Samples come out on the 0..255 scale, as image viewers show them:
 *
 * - PNG gray at 1, 2 or 4 bits: v -> v * 255 / (2^bits - 1) (so 1-bit 0/1 becomes 0/255).
 * - PNG palette: expanded to its colours; 1 channel when every palette colour is gray (r = g = b), else 3;
 *   plus an alpha channel when the file has a tRNS chunk.
 * - PNG gray or RGB with a tRNS colour key: an alpha channel is added (0 on pixels of the key colour, else 255).
 * - 16-bit PNG: read when every sample is an 8-bit value widened (v = 257 * w, as tools write 8-bit data
 *   saved at 16 bits), else `ImageFormatError`: the codec is 8-bit and does not drop precision silently.
 * - PGM with maxval M < 255: v -> round(v * 255 / M), which is one-to-one, so nothing is lost (M itself is not
 *   kept: the image is written back with maxval 255 and looks the same). M = 255: as is. 255 < M <= 65535
 *   (16-bit samples): read when every v * 255 / M is a whole number, else `ImageFormatError`.
 *
 * A PNG's colour metadata (iCCP with the profile's compressed bytes as stored, sRGB, gAMA, cHRM) comes back as
 * `image.meta` when the file has any of those chunks.
 *
 * Anything else (not PNG/PGM, corrupt, truncated, samples above maxval) throws `ImageFormatError`.
 */
export function readImage(bytes: Uint8Array): PcImage {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('readImage: expected a Uint8Array');
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return readPng(bytes);
  if (bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x32)) return readPgm(bytes);
  throw new ImageFormatError('readImage: not a PNG or PGM file');
}

/** The samples of a decoded PNG, unpacked to one array entry per sample (rows of depth < 8 are bit-packed). */
function pngSamples(png: DecodedPng): Uint8Array | Uint16Array {
  const { width, height, depth } = png;
  const spp = png.palette ? 1 : png.channels;
  const n = width * height * spp;
  if (depth === 16) {
    if (!(png.data instanceof Uint16Array) || png.data.length !== n) throw new ImageFormatError('readImage: PNG data has the wrong size');
    return png.data;
  }
  const packed = png.data as Uint8Array;
  if (depth === 8) {
    if (packed.length !== n) throw new ImageFormatError('readImage: PNG data has the wrong size');
    return packed;
  }
  const rowBytes = Math.ceil((width * spp * depth) / 8);
  if (packed.length !== rowBytes * height) throw new ImageFormatError('readImage: PNG data has the wrong size');
  const out = new Uint8Array(n);
  const mask = (1 << depth) - 1;
  for (let y = 0, o = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let i = 0; i < width * spp; i++) {
      const bit = i * depth;
      out[o++] = (packed[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function readPng(bytes: Uint8Array): PcImage {
  let png: DecodedPng;
  try {
    png = decodePngFile(bytes);
  } catch (e) {
    throw new ImageFormatError(`readImage: PNG does not decode: ${(e as Error).message}`);
  }
  const img = pngImage(png);
  const meta = readPngMeta(bytes);
  return meta ? { ...img, meta } : img;
}

/** The fields of a decoded PNG that pngImage reads (fast-png's DecodedPng, or a deflate stream's layout). */
export type PngPixels = Pick<DecodedPng, 'width' | 'height' | 'depth' | 'channels' | 'data' | 'palette' | 'transparency'>;

/** @internal The 8-bit image readImage makes of decoded PNG samples (palettes expanded, keys made alpha). */
export function pngImage(png: PngPixels): PcImage {
  const { width, height, depth } = png;
  const n = width * height;
  const raw = pngSamples(png as DecodedPng);
  if (png.palette) {
    const pal = png.palette;
    const alpha = pal[0]?.length === 4;
    const gray = pal.every((c) => c[0] === c[1] && c[1] === c[2]);
    const channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
    const lut = new Uint8Array(pal.length * channels);
    pal.forEach((c, i) => {
      if (gray) lut[i * channels] = c[0];
      else lut.set(c.slice(0, 3), i * channels);
      if (alpha) lut[i * channels + channels - 1] = c[3];
    });
    const data = new Uint8Array(n * channels);
    for (let i = 0; i < n; i++) {
      const k = raw[i];
      if (k >= pal.length) {
        throw new ImageFormatError(`readImage: PNG pixel (${i % width}, ${Math.floor(i / width)}) has palette index ${k}; the palette has ${pal.length} colours`);
      }
      for (let c = 0; c < channels; c++) data[i * channels + c] = lut[k * channels + c];
    }
    return { width, height, channels, data };
  }
  const channels = png.channels;
  if (depth === 16) {
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] % 257 !== 0) {
        const p = Math.floor(i / channels);
        throw new ImageFormatError(`readImage: 16-bit PNG: sample ${raw[i]} at pixel (${p % width}, ${Math.floor(p / width)}) is not an 8-bit value ` +
          `(257 x 0..255); pcpress codes 8-bit samples and will not drop the low bits: convert the file to 8 bits first`);
      }
    }
  }
  const scale = depth === 16 ? 257 : 255 / ((1 << depth) - 1); // 16 bits: divide; up to 8 bits: multiply
  const key = png.transparency && (channels === 1 || channels === 3) && png.transparency.length === channels ? png.transparency : undefined;
  const outChannels = channels + (key ? 1 : 0);
  const data = new Uint8Array(n * outChannels);
  for (let i = 0; i < n; i++) {
    let keyed = !!key;
    for (let c = 0; c < channels; c++) {
      const v = raw[i * channels + c];
      data[i * outChannels + c] = depth === 16 ? v / scale : v * scale;
      if (key && v !== key[c]) keyed = false;
    }
    if (key) data[i * outChannels + channels] = keyed ? 0 : 255;
  }
  return { width, height, channels: outChannels, data };
}

function readPgm(bytes: Uint8Array): PcImage {
  const ascii = bytes[1] === 0x32;
  let p = 2;
  const fields: number[] = [];
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const need = ascii ? Infinity : 3;
  while (fields.length < need && p < bytes.length) {
    const c = bytes[p];
    if (c === 0x23) {
      while (p < bytes.length && bytes[p] !== 0x0a) p++;
    } else if (isSpace(c)) {
      p++;
    } else if (c >= 0x30 && c <= 0x39) {
      let v = 0;
      while (p < bytes.length && bytes[p] >= 0x30 && bytes[p] <= 0x39) v = Math.min(v * 10 + bytes[p++] - 0x30, 2 ** 40);
      fields.push(v);
      if (!ascii && fields.length === 3) break;
    } else {
      throw new ImageFormatError(`readImage: unexpected byte 0x${c.toString(16)} in PGM ${fields.length < 3 ? 'header' : 'samples'}`);
    }
  }
  const [width, height, maxval] = fields;
  if (!(width >= 1 && height >= 1 && maxval >= 1)) throw new ImageFormatError('readImage: PGM header is incomplete');
  if (maxval > 65535) throw new ImageFormatError(`readImage: PGM maxval ${maxval}; PGM allows at most 65535`);
  if (width > 65535 || height > 65535) throw new ImageFormatError(`readImage: PGM is ${width}x${height}; each side must be at most 65535`);
  const n = width * height;
  const wide = maxval > 255; // binary samples are 2 bytes, big-endian
  // the samples must all be in the file before anything of their size is allocated
  if (ascii) {
    if (fields.length - 3 < n) throw new ImageFormatError(`readImage: PGM has ${fields.length - 3} of ${n} samples`);
  } else {
    if (p >= bytes.length || !isSpace(bytes[p])) throw new ImageFormatError('readImage: PGM header is incomplete');
    if (p + 1 + n * (wide ? 2 : 1) > bytes.length) {
      throw new ImageFormatError(`readImage: PGM data is truncated (${bytes.length - p - 1} of ${n * (wide ? 2 : 1)} bytes)`);
    }
  }
  const samples = new Uint16Array(n);
  if (ascii) {
    for (let i = 0; i < n; i++) samples[i] = Math.min(fields[3 + i], 65535);
  } else {
    p++; // the single whitespace after maxval
    for (let i = 0; i < n; i++) samples[i] = wide ? (bytes[p + 2 * i] << 8) | bytes[p + 2 * i + 1] : bytes[p + i];
  }
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = samples[i];
    const at = () => `at pixel (${i % width}, ${Math.floor(i / width)})`;
    if (v > maxval || (ascii && fields[3 + i] > maxval)) throw new ImageFormatError(`readImage: PGM sample ${fields[3 + i] ?? v} ${at()} exceeds maxval ${maxval}`);
    if (maxval === 255) data[i] = v;
    else if (maxval < 255) data[i] = Math.floor((v * 510 + maxval) / (2 * maxval)); // round(v * 255 / maxval), halves up
    else if ((v * 255) % maxval === 0) data[i] = (v * 255) / maxval;
    else {
      throw new ImageFormatError(`readImage: PGM with maxval ${maxval}: sample ${v} ${at()} has no exact 8-bit value; ` +
        'pcpress codes 8-bit samples and will not drop precision: convert the file to maxval 255 first');
    }
  }
  return { width, height, channels: 1, data };
}

// ---- PNG writer ----

/** @internal One way to store an image in a PNG: colour type, bit depth, optional PLTE/tRNS and the unfiltered scanlines. */
export interface PngLayout {
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8;
  /** Bytes per complete pixel (at least 1): the distance the Sub/Average/Paeth filters look back. */
  bpp: number;
  rowBytes: number;
  /** height x rowBytes, unfiltered. */
  rows: Uint8Array;
  plte?: Uint8Array;
  trns?: Uint8Array;
}

/** Pixel i of an image as one integer holding all its channels (channel j in bits 8j..8j+7). */
function pixelKey(data: Uint8Array, c: number, i: number): number {
  const o = i * c;
  if (c === 1) return data[o];
  if (c === 2) return data[o] | (data[o + 1] << 8);
  if (c === 3) return data[o] | (data[o + 1] << 8) | (data[o + 2] << 16);
  return (data[o] | (data[o + 1] << 8) | (data[o + 2] << 16) | (data[o + 3] << 24)) >>> 0;
}

/** Packs one small value per pixel (palette indices or gray levels, each < 2^depth) into PNG scanlines. */
function packRows(width: number, height: number, depth: 1 | 2 | 4 | 8, value: (i: number) => number): { rows: Uint8Array; rowBytes: number } {
  const rowBytes = Math.ceil((width * depth) / 8);
  const rows = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      rows[y * rowBytes + (bit >> 3)] |= value(y * width + x) << (8 - depth - (bit & 7));
    }
  }
  return { rows, rowBytes };
}

const depthFor = (levels: number): 1 | 2 | 4 | 8 => (levels <= 2 ? 1 : levels <= 4 ? 2 : levels <= 16 ? 4 : 8);

/** The smallest PNG gray depth whose levels (v * 255 / (2^depth - 1)) include every value `has` marks. */
function grayDepth(has: Uint8Array): 1 | 2 | 4 | 8 {
  for (const d of [1, 2, 4] as const) {
    const step = 255 / ((1 << d) - 1);
    if (has.every((used, v) => !used || v % step === 0)) return d;
  }
  return 8;
}

/** Gray scanlines of channel 0 (at `depth`), with a tRNS gray key when `key` is given. */
function grayLayout(img: PcImage, depth: 1 | 2 | 4 | 8, key?: number): PngLayout {
  const { width, height, channels: c, data } = img;
  const step = 255 / ((1 << depth) - 1);
  const trns = key === undefined ? undefined : Uint8Array.of(0, key / step);
  if (depth === 8) {
    const rows = c === 1 ? data : new Uint8Array(width * height);
    if (c !== 1) for (let i = 0; i < rows.length; i++) rows[i] = data[i * c];
    return { colorType: 0, depth, bpp: 1, rowBytes: width, rows, trns };
  }
  return { colorType: 0, depth, bpp: 1, ...packRows(width, height, depth, (i) => data[i * c] / step), trns };
}

/** The distinct pixels of an image (as pixelKey), in first-seen order; undefined when there are more than `limit`. */
function distinctPixels(img: PcImage, limit: number): number[] | undefined {
  const { data, channels: c } = img;
  const seen = new Set<number>();
  let last = -1;
  for (let i = 0, n = img.width * img.height; i < n; i++) {
    const k = pixelKey(data, c, i);
    if (k === last) continue;
    last = k;
    if (!seen.has(k)) {
      if (seen.size === limit) return undefined;
      seen.add(k);
    }
  }
  return [...seen];
}

/** A palette layout (with tRNS when the image has alpha), or undefined when reading it back would give other channels. */
function paletteLayout(img: PcImage, pixels: number[]): PngLayout | undefined {
  const { data, channels: c } = img;
  const alpha = c === 2 || c === 4;
  const entries = pixels.map((k) => {
    const g = k & 255;
    const rgb = c <= 2 ? [g, g, g] : [g, (k >>> 8) & 255, (k >>> 16) & 255];
    return { k, rgb, a: alpha ? k >>> (8 * (c - 1)) : 255 };
  });
  // readImage reads an all-gray palette as gray channels, so an RGB(A) image of gray pixels stays truecolour
  if (c >= 3 && entries.every((e) => e.rgb[0] === e.rgb[1] && e.rgb[1] === e.rgb[2])) return undefined;
  // translucent entries first (tRNS lists only those), otherwise in the order the pixels first use them (which
  // compressed better than sorting by luma on the palette images we measured)
  entries.sort((a, b) => (a.a === 255 ? 1 : 0) - (b.a === 255 ? 1 : 0));
  const slot = new Map(entries.map((e, i) => [e.k, i]));
  const plte = new Uint8Array(entries.length * 3);
  entries.forEach((e, i) => plte.set(e.rgb, 3 * i));
  let trns: Uint8Array | undefined;
  if (alpha) {
    // a tRNS chunk is what makes readImage add the alpha channel back, so there is one even when all are opaque
    const translucent = entries.filter((e) => e.a !== 255).length;
    trns = Uint8Array.from(entries.slice(0, Math.max(1, translucent)), (e) => e.a);
  }
  const depth = depthFor(entries.length);
  let lastKey = -1, lastSlot = 0;
  const index = (i: number) => {
    const k = pixelKey(data, c, i);
    if (k !== lastKey) (lastKey = k), (lastSlot = slot.get(k)!);
    return lastSlot;
  };
  return { colorType: 3, depth, bpp: 1, ...packRows(img.width, img.height, depth, index), plte, trns };
}

/**
 * For an image with alpha (2 or 4 channels): when alpha is only 0 or 255, every transparent pixel has one colour K
 * and no opaque pixel has it, the image is exactly gray/RGB plus a tRNS colour key K (readImage gives back the
 * same alpha channel). Fully opaque images take an unused colour as K. Returns K (gray 0..255, or RGB as
 * r | g << 8 | b << 16) or undefined.
 */
function colourKey(img: PcImage): number | undefined {
  const { data, channels: c } = img;
  const n = img.width * img.height;
  const opaque = new Uint32Array(c === 2 ? 8 : 1 << 19); // one bit per gray level / RGB colour
  let key = -1;
  for (let i = 0; i < n; i++) {
    const a = data[i * c + c - 1];
    const k = c === 2 ? data[i * 2] : data[i * 4] | (data[i * 4 + 1] << 8) | (data[i * 4 + 2] << 16);
    if (a === 255) opaque[k >>> 5] |= 1 << (k & 31);
    else if (a !== 0 || (key >= 0 && key !== k)) return undefined;
    else key = k;
  }
  const used = (k: number) => (opaque[k >>> 5] >>> (k & 31)) & 1;
  if (key >= 0) return used(key) ? undefined : key;
  // fully opaque: any unused colour; gray levels of the coarsest scales first so the gray depth can stay low
  for (const step of c === 2 ? [255, 85, 17, 1] : [1]) {
    for (let k = 0; k < (c === 2 ? 256 : 1 << 24); k += step) if (!used(k)) return k;
  }
  return undefined;
}

/** Every encoding of `img` that readImage reads back as exactly `img` and that may be the smallest. */
function pngLayouts(img: PcImage): PngLayout[] {
  const { width, height, channels: c, data } = img;
  const n = width * height;
  const layouts: PngLayout[] = [];
  const key = c === 2 || c === 4 ? colourKey(img) : undefined;
  if (c === 1 || (c === 2 && key !== undefined)) {
    const has = new Uint8Array(256);
    for (let i = 0; i < n; i++) has[data[i * c]] = 1;
    if (key !== undefined) has[key] = 1;
    layouts.push(grayLayout(img, grayDepth(has), key));
  } else if (c === 4 && key !== undefined && n >= 3) { // fast-png refuses an RGB key on images of 1 or 2 pixels
    const rows = new Uint8Array(n * 3);
    for (let i = 0, o = 0; i < n; i++) (rows[o++] = data[4 * i]), (rows[o++] = data[4 * i + 1]), (rows[o++] = data[4 * i + 2]);
    const trns = Uint8Array.of(0, key & 255, 0, (key >>> 8) & 255, 0, key >>> 16);
    layouts.push({ colorType: 2, depth: 8, bpp: 3, rowBytes: width * 3, rows, trns });
  } else {
    // 8-bit samples as they are (gray + alpha, RGB, RGBA)
    layouts.push({ colorType: ([0, 0, 4, 2, 6] as const)[c], depth: 8, bpp: c, rowBytes: width * c, rows: data });
  }
  // a palette, unless its indices would be no narrower than the gray samples they replace
  const pixels = distinctPixels(img, 256);
  if (pixels && (c > 1 || depthFor(pixels.length) < layouts[0].depth)) {
    const pal = paletteLayout(img, pixels);
    if (pal) layouts.push(pal);
  }
  return layouts;
}

/**
 * Scanlines, each after its filter byte. Unfiltered (`adaptive` false), or each row with the filter whose output
 * has the smallest sum of |bytes as signed| (libpng's heuristic; applied to samples of 8 bits).
 */
function filterRows(l: PngLayout, height: number, adaptive: boolean): Uint8Array {
  const { rowBytes: rb, bpp, rows } = l;
  const out = new Uint8Array((rb + 1) * height);
  if (!adaptive) {
    for (let y = 0; y < height; y++) out.set(rows.subarray(y * rb, (y + 1) * rb), y * (rb + 1) + 1);
    return out;
  }
  const trial = Array.from({ length: 5 }, () => new Uint8Array(rb));
  const zero = new Uint8Array(rb);
  const cost = (t: Uint8Array) => {
    let s = 0;
    for (let i = 0; i < rb; i++) s += t[i] < 128 ? t[i] : 256 - t[i];
    return s;
  };
  for (let y = 0; y < height; y++) {
    const cur = rows.subarray(y * rb, (y + 1) * rb);
    const up = y ? rows.subarray((y - 1) * rb, y * rb) : zero;
    const [none, sub, upf, avg, paeth] = trial;
    for (let i = 0; i < rb; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0, x = cur[i];
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      none[i] = x;
      sub[i] = x - a;
      upf[i] = x - b;
      avg[i] = x - ((a + b) >> 1);
      paeth[i] = x - (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    }
    let best = 0, bestCost = Infinity;
    for (let f = 0; f < 5; f++) {
      const s = cost(trial[f]);
      if (s < bestCost) (best = f), (bestCost = s);
    }
    out[y * (rb + 1)] = best;
    out.set(trial[best], y * (rb + 1) + 1);
  }
  return out;
}

/** A PNG chunk: length, type, body, CRC-32 of type and body. */
function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** @internal The smallest PNG form of an image (see writePng): its layout and the zlib stream of its filtered rows. */
export interface PngForm {
  layout: PngLayout;
  /** zlib (deflate level 9, fflate) of the filtered scanlines, each after its filter byte. */
  idat: Uint8Array;
}

/**
 * @internal The smallest exact PNG form of `img`: every layout that readImage reads back as exactly `img`,
 * unfiltered and with per-row filters, deflated at level 9; the one with the fewest bytes of IDAT, PLTE and
 * tRNS (the rest of a PNG file does not depend on the form).
 */
export function bestPngForm(img: PcImage): PngForm {
  let best: PngForm | undefined, bestSize = Infinity;
  for (const layout of pngLayouts(img)) {
    for (const adaptive of layout.depth === 8 && layout.colorType !== 3 ? [true, false] : [false, true]) {
      const idat = zlibSync(filterRows(layout, img.height, adaptive), { level: 9 });
      const size = idat.length + (layout.plte ? 12 + layout.plte.length : 0) + (layout.trns ? 12 + layout.trns.length : 0);
      if (size < bestSize) (best = { layout, idat }), (bestSize = size);
    }
  }
  return best!;
}

/**
 * @internal Undoes PNG filtering in place of `filtered` (height rows of 1 + rowBytes bytes: filter type, then
 * the row) into unfiltered rows. Returns undefined when a row names a filter type other than 0..4.
 */
export function unfilterRows(filtered: Uint8Array, height: number, rowBytes: number, bpp: number): Uint8Array | undefined {
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const f = filtered[y * (rowBytes + 1)], src = y * (rowBytes + 1) + 1, o = y * rowBytes, u = o - rowBytes;
    if (f > 4) return undefined;
    for (let i = 0; i < rowBytes; i++) {
      const a = i >= bpp ? out[o + i - bpp] : 0, b = y ? out[u + i] : 0, c = y && i >= bpp ? out[u + i - bpp] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[o + i] = (filtered[src + i] + pred) & 255;
    }
  }
  return out;
}

function encodeLayout(width: number, height: number, l: PngLayout, idat: Uint8Array, meta: Uint8Array[]): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = l.depth;
  ihdr[9] = l.colorType; // then compression 0, filter method 0, interlace 0
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk('IHDR', ihdr),
    ...meta,
    ...(l.plte ? [chunk('PLTE', l.plte)] : []),
    ...(l.trns ? [chunk('tRNS', l.trns)] : []),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/**
 * Writes an 8-bit image (1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA channels) as a compact PNG that
 * `readImage` reads back as exactly the same image. It tries the forms that fit and keeps the smallest file:
 * gray at 1/2/4 bits when every value is a level of that scale (only 0 and 255 -> 1-bit); a palette (tRNS for
 * alpha) when there are at most 256 colours; gray or RGB plus a tRNS colour key when alpha is 0 on exactly the
 * pixels of one colour and 255 elsewhere; else 8-bit samples. Each form is tried unfiltered and with per-row
 * filters (libpng's minimum-sum heuristic), then deflated at level 9 (fflate), so it works the same in Node,
 * Deno and browsers. `img.meta` (colour metadata, as readImage returns it) is written as the iCCP, sRGB, gAMA
 * and cHRM chunks.
 */
export function writePng(img: PcImage): Uint8Array {
  checkImageShape(img, 'writePng');
  if (img.channels > 4) throw new ArgumentError(`writePng: ${img.channels} channels; PNG holds 1 to 4`);
  const meta = hasMeta(img.meta) ? metaChunks(img.meta, 'writePng').map(([type, body]) => chunk(type, body)) : [];
  const { layout, idat } = bestPngForm(img);
  return encodeLayout(img.width, img.height, layout, idat, meta);
}

/** Writes a one-channel 8-bit image as binary PGM (P5, maxval 255). */
export function writePgm(img: PcImage): Uint8Array {
  checkImageShape(img, 'writePgm');
  if (img.channels !== 1) throw new ArgumentError(`writePgm: PGM holds one channel, the image has ${img.channels}`);
  const head = new TextEncoder().encode(`P5\n${img.width} ${img.height}\n255\n`);
  const out = new Uint8Array(head.length + img.data.length);
  out.set(head);
  out.set(img.data, head.length);
  return out;
}
