// Image files in and out: PNG (through the fast-png library) and binary/ASCII PGM, 8 bits per sample.
import { decode as decodePngFile, encode as encodePngFile, convertIndexedToRgb } from 'fast-png';
import { ArgumentError } from '../errors.js';
import { ImageFormatError } from './errors.js';
import type { PcImage } from './model.js';

function checkImageShape(img: PcImage, what: string): void {
  if (!img || !(img.data instanceof Uint8Array) || !Number.isInteger(img.width) || !Number.isInteger(img.height) ||
    !Number.isInteger(img.channels) || img.width < 1 || img.height < 1 || img.channels < 1 ||
    img.data.length !== img.width * img.height * img.channels) {
    throw new ArgumentError(`${what}: expected { width, height, channels, data: Uint8Array(width*height*channels) }`);
  }
}

/** Reads a PNG or PGM (P2/P5, maxval <= 255) file into an 8-bit image. */
export function readImage(bytes: Uint8Array): PcImage {
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('readImage: expected a Uint8Array');
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return readPng(bytes);
  if (bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x32)) return readPgm(bytes);
  throw new ImageFormatError('readImage: not a PNG or PGM file');
}

function readPng(bytes: Uint8Array): PcImage {
  let png;
  try {
    png = decodePngFile(bytes);
  } catch (e) {
    throw new ImageFormatError(`readImage: PNG does not decode: ${(e as Error).message}`);
  }
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    const channels = png.palette[0]?.length ?? 3;
    return { width: png.width, height: png.height, channels, data: Uint8Array.from(rgb) };
  }
  if (png.depth !== 8) {
    throw new ImageFormatError(`readImage: PNG has ${png.depth}-bit samples; only 8-bit images are supported`);
  }
  return { width: png.width, height: png.height, channels: png.channels, data: Uint8Array.from(png.data as Uint8Array) };
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
      while (p < bytes.length && bytes[p] >= 0x30 && bytes[p] <= 0x39) v = v * 10 + bytes[p++] - 0x30;
      fields.push(v);
      if (!ascii && fields.length === 3) break;
    } else {
      throw new ImageFormatError(`readImage: unexpected byte 0x${c.toString(16)} in PGM header`);
    }
  }
  const [width, height, maxval] = fields;
  if (!(width >= 1 && height >= 1 && maxval >= 1)) throw new ImageFormatError('readImage: PGM header is incomplete');
  if (maxval > 255) throw new ImageFormatError(`readImage: PGM maxval ${maxval}; only 8-bit images are supported`);
  const n = width * height;
  let data: Uint8Array;
  if (ascii) {
    if (fields.length - 3 < n) throw new ImageFormatError(`readImage: PGM has ${fields.length - 3} of ${n} samples`);
    data = Uint8Array.from(fields.slice(3, 3 + n));
  } else {
    p++; // the single whitespace after maxval
    if (p + n > bytes.length) throw new ImageFormatError(`readImage: PGM data is truncated (${bytes.length - p} of ${n} bytes)`);
    data = bytes.slice(p, p + n);
  }
  for (let i = 0; i < n; i++) if (data[i] > maxval) throw new ImageFormatError('readImage: PGM sample exceeds maxval');
  return { width, height, channels: 1, data };
}

/** Writes an 8-bit image as PNG (1 = gray, 2 = gray+alpha, 3 = RGB, 4 = RGBA channels). */
export function writePng(img: PcImage): Uint8Array {
  checkImageShape(img, 'writePng');
  if (img.channels > 4) throw new ArgumentError(`writePng: ${img.channels} channels; PNG holds 1 to 4`);
  return encodePngFile({ width: img.width, height: img.height, channels: img.channels, depth: 8, data: img.data });
}

/** Writes a one-channel 8-bit image as binary PGM (P5). */
export function writePgm(img: PcImage): Uint8Array {
  checkImageShape(img, 'writePgm');
  if (img.channels !== 1) throw new ArgumentError(`writePgm: PGM holds one channel, the image has ${img.channels}`);
  const head = new TextEncoder().encode(`P5\n${img.width} ${img.height}\n255\n`);
  const out = new Uint8Array(head.length + img.data.length);
  out.set(head);
  out.set(img.data, head.length);
  return out;
}
