// Image files in and out (readImage / writePng / writePgm): PGM of any maxval, PNG of every bit depth and colour
// type a user may have, and a PNG writer that picks a compact form without changing a single pixel. Files to read
// are built here by a separate, minimal PNG encoder (node:zlib), and written files are checked with a second,
// independent decoder (the Rust png crate in @jsquash/png). Uses the built package (npm run build).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, it, expect, beforeAll } from 'vitest';
import { encode as fastPngEncode } from 'fast-png';
import * as pc from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const seed = Number(process.env.PCPRESS_SEED ?? (Date.now() >>> 0));
const rand = pc.seededRandom(seed);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const why = `(seed ${seed}; rerun with PCPRESS_SEED=${seed})`;

type Img = { width: number; height: number; channels: number; data: Uint8Array };
const image = (width: number, height: number, channels: number, f: (i: number) => number): Img =>
  ({ width, height, channels, data: Uint8Array.from({ length: width * height * channels }, (_, i) => f(i)) });
const same = (a: Img, b: Img) => a.width === b.width && a.height === b.height && a.channels === b.channels && Buffer.from(a.data).equals(Buffer.from(b.data));

// ---- a minimal PNG encoder of our own (unfiltered rows, node:zlib), to build the files readImage must read ----
function pngChunk(type: string, body: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(tb));
  return Buffer.concat([len, tb, crc]);
}
/** A PNG of `samples` (one number per sample, row-major) at `depth` bits and PNG colour type `colorType`. */
function craftPng(o: { width: number; height: number; depth: 1 | 2 | 4 | 8 | 16; colorType: 0 | 2 | 3 | 4 | 6; samples: ArrayLike<number>; plte?: number[]; trns?: number[];
  extra?: Buffer[] }): Uint8Array {
  const spp = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[o.colorType];
  const rowBytes = Math.ceil((o.width * spp * o.depth) / 8);
  const raw = Buffer.alloc((rowBytes + 1) * o.height);
  for (let y = 0; y < o.height; y++) {
    for (let i = 0; i < o.width * spp; i++) {
      const v = o.samples[y * o.width * spp + i];
      const at = y * (rowBytes + 1) + 1;
      if (o.depth === 16) raw.writeUInt16BE(v, at + 2 * i);
      else if (o.depth === 8) raw[at + i] = v;
      else raw[at + ((i * o.depth) >> 3)] |= v << (8 - o.depth - ((i * o.depth) & 7));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width, 0);
  ihdr.writeUInt32BE(o.height, 4);
  ihdr[8] = o.depth;
  ihdr[9] = o.colorType;
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), ...(o.extra ?? []),
    ...(o.plte ? [pngChunk('PLTE', Uint8Array.from(o.plte))] : []),
    ...(o.trns ? [pngChunk('tRNS', Uint8Array.from(o.trns))] : []),
    pngChunk('IDAT', zlib.deflateSync(raw)), pngChunk('IEND', new Uint8Array(0)),
  ]));
}
/** IHDR bit depth and colour type, and whether the file has PLTE / tRNS chunks. */
function pngHeader(bytes: Uint8Array): { depth: number; colorType: number; chunks: string[] } {
  const b = Buffer.from(bytes);
  const chunks: string[] = [];
  for (let p = 8; p < b.length; p += 12 + b.readUInt32BE(p)) chunks.push(b.toString('latin1', p + 4, p + 8));
  return { depth: b[24], colorType: b[25], chunks };
}
const pgm = (text: string) => new TextEncoder().encode(text);
const pgm16 = (w: number, h: number, maxval: number, samples: number[]) => {
  const head = Buffer.from(`P5\n${w} ${h}\n${maxval}\n`);
  const body = Buffer.alloc(2 * samples.length);
  samples.forEach((v, i) => body.writeUInt16BE(v, 2 * i));
  return new Uint8Array(Buffer.concat([head, body]));
};
function expectFormatError(f: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an ImageFormatError').toBeInstanceOf(pc.ImageFormatError);
  expect((err as Error).message).toMatch(message);
}

// ---- an independent PNG decoder: the Rust png crate (@jsquash/png, wasm), which returns RGBA ----
let rgbaDecode: (bytes: Uint8Array) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
beforeAll(async () => {
  const g = globalThis as { ImageData?: unknown };
  g.ImageData ??= class { constructor(public data: Uint8ClampedArray, public width: number, public height: number) {} };
  const dir = path.dirname(createRequire(import.meta.url).resolve('@jsquash/png/package.json'));
  const dec = await import('@jsquash/png/decode.js');
  await dec.init(await WebAssembly.compile(fs.readFileSync(path.join(dir, 'codec/pkg/squoosh_png_bg.wasm'))));
  rgbaDecode = (bytes) => dec.default(bytes.slice().buffer) as Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
});
/** The image as RGBA, the way a viewer composes it (gray -> r = g = b, no alpha -> 255). */
function toRgba(img: Img): Uint8Array {
  const n = img.width * img.height, c = img.channels, out = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    const s = img.data.subarray(i * c, i * c + c);
    out.set(c >= 3 ? [s[0], s[1], s[2]] : [s[0], s[0], s[0]], 4 * i);
    out[4 * i + 3] = c === 2 || c === 4 ? s[c - 1] : 255;
  }
  return out;
}

/** Writes img, reads it back with readImage and the independent decoder; both must give exactly img. */
async function roundTrip(img: Img, what: string): Promise<Uint8Array> {
  const bytes = pc.writePng(img);
  const back = pc.readImage(bytes);
  expect(same(back, img), `${what}: readImage(writePng(img)) differs (${back.width}x${back.height}x${back.channels}) ${why}`).toBe(true);
  const other = await rgbaDecode(bytes);
  expect([other.width, other.height], what).toEqual([img.width, img.height]);
  expect(Buffer.from(other.data).equals(Buffer.from(toRgba(img))), `${what}: the png crate sees other pixels ${why}`).toBe(true);
  // the deflate fallback stream stores the same form: exact, and smaller than the PNG by its framing
  const d = pc.compressDeflate(img);
  expect(same(pc.decompressDeflate(d), img), `${what}: deflate stream round trip ${why}`).toBe(true);
  expect(d.length, `${what}: deflate ${d.length} bytes vs writePng ${bytes.length} ${why}`).toBeLessThanOrEqual(bytes.length - 20);
  return bytes;
}

describe('PGM of any maxval', () => {
  it('maxval 15 (P2 and P5) maps to 0..255 as v * 255 / 15', () => {
    const want = [0, 17, 34, 221, 238, 255];
    expect([...pc.readImage(pgm('P2\n# gray\n3 2\n15\n0 1 2\n13 14 15\n')).data]).toEqual(want);
    const p5 = new Uint8Array([...pgm('P5 3 2 15\n'), 0, 1, 2, 13, 14, 15]);
    expect(pc.readImage(p5)).toMatchObject({ width: 3, height: 2, channels: 1 });
    expect([...pc.readImage(p5).data]).toEqual(want);
  });

  it('rounds halves up (maxval 100: 50 -> 128) and is one-to-one for every maxval 1..255', () => {
    expect([...pc.readImage(pgm('P2 3 1 100 1 50 99')).data]).toEqual([3, 128, 252]);
    for (let m = 1; m <= 255; m++) {
      const out = pc.readImage(new Uint8Array([...pgm(`P5 ${m + 1} 1 ${m}\n`), ...Array.from({ length: m + 1 }, (_, v) => v)])).data;
      for (let v = 0; v <= m; v++) expect(out[v], `maxval ${m}, sample ${v}`).toBe(Math.round((v * 255) / m));
      expect(out[0]).toBe(0);
      expect(out[m]).toBe(255);
      for (let v = 1; v <= m; v++) expect(out[v] > out[v - 1], `maxval ${m}: ${v - 1} and ${v} collide`).toBe(true);
    }
  });

  it('16-bit PGM: exact 8-bit levels are read, anything else is a typed error', () => {
    const w = int(1, 9), h = int(1, 9);
    const levels = Array.from({ length: w * h }, () => int(0, 255));
    expect([...pc.readImage(pgm16(w, h, 65535, levels.map((v) => v * 257))).data], why).toEqual(levels);
    expect([...pc.readImage(pgm(`P2 2 1 65535 0 65535`)).data]).toEqual([0, 255]);
    expect([...pc.readImage(pgm16(3, 1, 1023, [0, 1023, 0])).data]).toEqual([0, 255, 0]);
    expectFormatError(() => pc.readImage(pgm16(2, 1, 65535, [0, 1000])), /maxval 65535: sample 1000 at pixel \(1, 0\).*8-bit/);
    expectFormatError(() => pc.readImage(pgm16(2, 1, 1023, [4, 0])), /no exact 8-bit value/);
  });

  it('broken PGM files give ImageFormatError', () => {
    expectFormatError(() => pc.readImage(pgm('P2 2 1 15 3 16')), /sample 16 at pixel \(1, 0\) exceeds maxval 15/);
    expectFormatError(() => pc.readImage(new Uint8Array([...pgm('P5 2 1 15\n'), 3, 200])), /exceeds maxval/);
    expectFormatError(() => pc.readImage(pgm('P2 2 1 70000 0 0')), /at most 65535/);
    expectFormatError(() => pc.readImage(pgm('P2 2 1 0 0 0')), /incomplete/);
    expectFormatError(() => pc.readImage(pgm('P2 2 2 255 0 0 0')), /3 of 4 samples/);
    expectFormatError(() => pc.readImage(new Uint8Array([...pgm('P5 2 2 255\n'), 1, 2, 3])), /truncated/);
    expectFormatError(() => pc.readImage(pgm16(2, 1, 300, [1]).subarray(0, 14)), /truncated/);
  });

  it('writePgm round trips and refuses colour', () => {
    const img = image(int(1, 40), int(1, 40), 1, () => int(0, 255));
    expect(same(pc.readImage(pc.writePgm(img)), img), why).toBe(true);
    expect(() => pc.writePgm(image(2, 2, 3, () => 0))).toThrow(pc.ArgumentError);
  });
});

describe('PNG files a user has', () => {
  it('1-, 2- and 4-bit gray (odd widths, rows padded) read on the 0..255 scale', () => {
    for (const depth of [1, 2, 4] as const) {
      const width = int(1, 21) | 1, height = int(1, 7);
      const max = (1 << depth) - 1;
      const samples = Array.from({ length: width * height }, () => int(0, max));
      const img = pc.readImage(craftPng({ width, height, depth, colorType: 0, samples }));
      expect(img).toMatchObject({ width, height, channels: 1 });
      expect([...img.data], `${depth}-bit ${why}`).toEqual(samples.map((v) => (v * 255) / max));
    }
    // known answer: a 1-bit 3x2 image
    expect([...pc.readImage(craftPng({ width: 3, height: 2, depth: 1, colorType: 0, samples: [1, 0, 1, 0, 0, 1] })).data]).toEqual([255, 0, 255, 0, 0, 255]);
  });

  it('16-bit PNGs holding 8-bit values are read; other 16-bit PNGs are a clear ImageFormatError', () => {
    for (const [colorType, c] of [[0, 1], [4, 2], [2, 3], [6, 4]] as const) {
      const width = int(1, 9), height = int(1, 9);
      const levels = Array.from({ length: width * height * c }, () => int(0, 255));
      const img = pc.readImage(craftPng({ width, height, depth: 16, colorType, samples: levels.map((v) => v * 257) }));
      expect(img.channels).toBe(c);
      expect([...img.data], `colour type ${colorType} ${why}`).toEqual(levels);
    }
    expectFormatError(() => pc.readImage(craftPng({ width: 2, height: 1, depth: 16, colorType: 0, samples: [0, 1234] })),
      /16-bit PNG: sample 1234 at pixel \(1, 0\) is not an 8-bit value.*convert the file to 8 bits/);
    // the same through fast-png's own 16-bit encoder
    expectFormatError(() => pc.readImage(fastPngEncode({ width: 1, height: 1, channels: 3, depth: 16, data: Uint16Array.of(1, 2, 3) })), /16-bit/);
  });

  it('palette PNGs: RGB, gray (one channel), with tRNS (alpha), at 1/2/4/8 bits', () => {
    const plte = [255, 0, 0, 0, 128, 255, 10, 10, 10];
    const idx = [0, 1, 2, 2, 1];
    const rgb = pc.readImage(craftPng({ width: 5, height: 1, depth: 2, colorType: 3, samples: idx, plte }));
    expect(rgb.channels).toBe(3);
    expect([...rgb.data]).toEqual(idx.flatMap((k) => plte.slice(3 * k, 3 * k + 3)));
    const rgba = pc.readImage(craftPng({ width: 5, height: 1, depth: 8, colorType: 3, samples: idx, plte, trns: [0, 77] }));
    expect(rgba.channels).toBe(4);
    expect([...rgba.data]).toEqual(idx.flatMap((k) => [...plte.slice(3 * k, 3 * k + 3), [0, 77, 255][k]]));
    const grayPlte = [0, 0, 0, 200, 200, 200, 90, 90, 90];
    const gray = pc.readImage(craftPng({ width: 5, height: 1, depth: 4, colorType: 3, samples: idx, plte: grayPlte }));
    expect(gray.channels).toBe(1);
    expect([...gray.data]).toEqual([0, 200, 90, 90, 200]);
    const grayAlpha = pc.readImage(craftPng({ width: 5, height: 1, depth: 1, colorType: 3, samples: [0, 1, 1, 0, 1], plte: grayPlte.slice(0, 6), trns: [9] }));
    expect(grayAlpha.channels).toBe(2);
    expect([...grayAlpha.data]).toEqual([0, 9, 200, 255, 200, 255, 0, 9, 200, 255]);
    // random palette images of odd sizes at every depth
    for (const depth of [1, 2, 4, 8] as const) {
      const width = int(1, 33), height = int(1, 17), colours = int(1, 1 << depth);
      const pal = Array.from({ length: 3 * colours }, () => int(0, 255));
      pal[0] = 1; // not all gray
      const samples = Array.from({ length: width * height }, () => int(0, colours - 1));
      const img = pc.readImage(craftPng({ width, height, depth, colorType: 3, samples, plte: pal }));
      expect([...img.data], `${depth}-bit palette ${why}`).toEqual(samples.flatMap((k) => pal.slice(3 * k, 3 * k + 3)));
    }
    expectFormatError(() => pc.readImage(craftPng({ width: 3, height: 1, depth: 2, colorType: 3, samples: [0, 3, 1], plte: plte.slice(0, 6) })),
      /pixel \(1, 0\) has palette index 3; the palette has 2 colours/);
  });

  it('a tRNS colour key on gray or RGB becomes an alpha channel', () => {
    const g = pc.readImage(craftPng({ width: 4, height: 1, depth: 4, colorType: 0, samples: [0, 5, 15, 5], trns: [0, 5] }));
    expect(g.channels).toBe(2);
    expect([...g.data]).toEqual([0, 255, 85, 0, 255, 255, 85, 0]);
    const rgb = pc.readImage(craftPng({ width: 3, height: 1, depth: 8, colorType: 2, samples: [1, 2, 3, 1, 2, 4, 1, 2, 3], trns: [0, 1, 0, 2, 0, 3] }));
    expect([...rgb.data]).toEqual([1, 2, 3, 0, 1, 2, 4, 255, 1, 2, 3, 0]);
  });

  it('interlaced (Adam7) PNGs read the same as plain ones', () => {
    const img = image(int(1, 23), int(1, 23), 3, () => int(0, 255));
    const adam7 = fastPngEncode({ width: img.width, height: img.height, channels: 3, depth: 8, data: img.data }, { interlace: 'Adam7' });
    expect(same(pc.readImage(adam7), img), why).toBe(true);
  });

  it('bad PNG input gives ImageFormatError', () => {
    const ok = pc.writePng(image(5, 5, 3, (i) => i));
    expectFormatError(() => pc.readImage(ok.subarray(0, 40)), /PNG does not decode/);
    expectFormatError(() => pc.readImage(new Uint8Array([1, 2, 3, 4])), /not a PNG or PGM/);
  });
});

describe('writePng: compact and exact', () => {
  it('fresh random images of odd shapes, every channel count and colour structure, read back exactly', async () => {
    const kinds: [string, (c: number) => () => number][] = [
      ['noise', () => () => int(0, 255)],
      ['two levels 0/255', () => () => (rand() < 0.5 ? 0 : 255)],
      ['four levels of 85', () => () => 85 * int(0, 3)],
      ['sixteen levels of 17', () => () => 17 * int(0, 15)],
      ['a few values', () => { const v = [int(0, 255), int(0, 255), int(0, 255)]; return () => v[int(0, 2)]; }],
      ['smooth', () => { let v = int(0, 255); return () => (v = (v + int(-3, 3)) & 255); }],
    ];
    for (let t = 0; t < 60; t++) {
      const width = int(1, 45), height = int(1, 45), channels = int(1, 4);
      const [kind, gen] = kinds[int(0, kinds.length - 1)];
      const sample = gen(channels);
      const img = image(width, height, channels, sample);
      // some with a palette of at most 256 colours, some with binary alpha or an opaque alpha channel
      if (rand() < 0.3) {
        const palette = Array.from({ length: int(1, 300) }, () => Array.from({ length: channels }, sample));
        for (let i = 0; i < width * height; i++) img.data.set(palette[int(0, palette.length - 1)], i * channels);
      }
      if ((channels === 2 || channels === 4) && rand() < 0.5) {
        const keyed = rand() < 0.5;
        for (let i = 0; i < width * height; i++) {
          const transparent = keyed && rand() < 0.3;
          img.data[i * channels + channels - 1] = transparent ? 0 : 255;
          if (transparent) img.data.fill(7, i * channels, i * channels + channels - 1);
        }
      }
      await roundTrip(img, `#${t} ${width}x${height}x${channels} ${kind}`);
    }
  });

  it('picks the compact form: 1-bit gray, palette, colour key; keeps RGB of gray pixels RGB', async () => {
    const w = 61, h = 37;
    const bilevel = image(w, h, 1, (i) => ((i % w >> 2) + (Math.floor(i / w) >> 2)) % 2 ? 255 : 0);
    expect(pngHeader(await roundTrip(bilevel, '0/255 gray'))).toMatchObject({ depth: 1, colorType: 0 });
    const levels = image(w, h, 1, (i) => [0, 85, 170, 255][(i % w) >> 4]);
    expect(pngHeader(await roundTrip(levels, '4 levels'))).toMatchObject({ depth: 2, colorType: 0 });
    const fewGray = image(w, h, 1, () => [3, 100, 201][int(0, 2)]);
    expect(pngHeader(await roundTrip(fewGray, '3 gray values'))).toMatchObject({ depth: 2, colorType: 3 });
    const colours = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [250, 250, 0], [0, 0, 0], [255, 255, 255]];
    const blocks = image(w, h, 3, (i) => colours[(((i / 3) | 0) % w >> 3) % 6][i % 3]);
    expect(pngHeader(await roundTrip(blocks, '6 colours'))).toMatchObject({ depth: 4, colorType: 3, chunks: ['IHDR', 'PLTE', 'IDAT', 'IEND'] });
    const withAlpha = image(w, h, 4, (i) => (i % 4 === 3 ? [255, 128, 0][((i >> 2) % w) % 3] : colours[((i >> 2) % w) % 6][i % 4]));
    expect(pngHeader(await roundTrip(withAlpha, 'palette + alpha'))).toMatchObject({ colorType: 3, chunks: ['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND'] });
    const opaque = image(w, h, 4, (i) => (i % 4 === 3 ? 255 : int(0, 255)));
    expect(pngHeader(await roundTrip(opaque, 'opaque RGBA'))).toMatchObject({ depth: 8, colorType: 2, chunks: ['IHDR', 'tRNS', 'IDAT', 'IEND'] });
    for (const n of [1, 2, 3]) await roundTrip(image(n, 1, 4, (i) => (i % 4 === 3 ? 255 : i)), `opaque RGBA of ${n} pixels`);
    const grayRgb = image(w, h, 3, (i) => [0, 255][((i / 3) | 0) % 2]);
    expect(pngHeader(await roundTrip(grayRgb, 'gray pixels in RGB')).colorType).toBe(2);
    expect(() => pc.writePng(image(1, 1, 5, () => 0))).toThrow(pc.ArgumentError);
    expect(() => pc.writePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) })).toThrow(pc.ArgumentError);
  });

  it('is about the size of the input: no larger for the fixture photos, within 2 % for a palette PNG', async () => {
    for (const name of ['camera-48x40.png', 'coffee-64x48.png', 'chelsea-192x144.png']) {
      const file = new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures', name)));
      const out = await roundTrip(pc.readImage(file), name);
      expect(out.length, name).toBeLessThanOrEqual(file.length);
    }
    // a dithered palette PNG as fast-png writes it (8-bit indices): decoded to RGB, it is written back as a palette
    const w = 97, h = 61;
    const palette = Array.from({ length: 40 }, () => [int(0, 255), int(0, 255), int(0, 255)]);
    const index = Uint8Array.from({ length: w * h }, (_, i) => ((i % w >> 3) * 7 + (Math.floor(i / w) >> 3) * 3 + int(0, 2)) % 40);
    const file = fastPngEncode({ width: w, height: h, channels: 1, depth: 8, data: index, palette });
    const img = pc.readImage(file);
    expect(img.channels).toBe(3);
    const out = await roundTrip(img, 'palette PNG');
    expect(pngHeader(out).colorType).toBe(3);
    expect(out.length, why).toBeLessThanOrEqual(Math.ceil(1.02 * file.length));
    // the same image as 8-bit RGB, which is what writePng used to write, is larger
    expect(fastPngEncode({ width: w, height: h, channels: 3, depth: 8, data: img.data }).length, why).toBeGreaterThan(1.1 * out.length);
  });
});

describe('deflate fallback stream with the input file', () => {
  it('compressDeflate(img, { png: file }) is exact and at most the smaller of its own form and the file minus its framing', () => {
    let fileWon = 0;
    for (let t = 0; t < 40; t++) {
      const w = int(1, 60), h = int(1, 40);
      const forms: Parameters<typeof craftPng>[0][] = [
        { width: w, height: h, depth: 8, colorType: 2, samples: Array.from({ length: w * h * 3 }, (_, i) => (i % 3) * 60 + ((i / (3 * w)) | 0) * 3) },
        { width: w, height: h, depth: 2, colorType: 3, samples: Array.from({ length: w * h }, (_, i) => ((i % w) >> 2) % 3), plte: [9, 9, 9, 200, 10, 10, 10, 200, 10] },
        { width: w, height: h, depth: 4, colorType: 0, samples: Array.from({ length: w * h }, () => int(0, 15)) },
        { width: w, height: h, depth: 8, colorType: 6, samples: Array.from({ length: w * h * 4 }, () => int(0, 3) * 80) },
      ];
      const o = forms[t % forms.length];
      // rows as this file stores them (unfiltered, node:zlib): sometimes smaller than writePng's form
      const file = craftPng(o);
      const img = pc.readImage(file);
      const own = pc.compressDeflate(img), withFile = pc.compressDeflate(img, { png: file });
      expect(same(pc.decompressDeflate(withFile), img), why).toBe(true);
      expect(withFile.length, why).toBeLessThanOrEqual(own.length);
      const idat = file.length - 8 - 25 - 12 - 12 - (o.plte ? 12 + o.plte.length : 0);
      expect(withFile.length, why).toBeLessThanOrEqual(Math.min(own.length, idat + (o.plte?.length ?? 0) + 20));
      if (withFile.length < own.length) fileWon++;
      // the file of another image is never used
      const other = craftPng({ ...o, samples: Array.from(o.samples, (v, i) => (i === 0 ? (v ? 0 : 1) : v)) });
      expect(pc.compressDeflate(img, { png: other })).toEqual(own);
    }
    console.log(`the file's own rows were smaller in ${fileWon} of 40 files`);
  });
});

describe('PNG colour metadata (iCCP, sRGB, gAMA, cHRM)', () => {
  it('readImage returns the chunks as stored (the ICC profile compressed), writePng writes them back before PLTE/IDAT, both decoders agree', async () => {
    for (let t = 0; t < 6; t++) {
      // an "ICC profile" of fresh random bytes, compressed as iCCP stores it (zlib)
      const profileRaw = Uint8Array.from({ length: int(100, 3000) }, () => int(0, 255));
      const profile = new Uint8Array(zlib.deflateSync(profileRaw, { level: int(1, 9) }));
      const name = `Display P3 #${int(0, 9999)}`;
      const gama = int(1, 200000), srgb = int(0, 3), chrm = Array.from({ length: 8 }, () => int(0, 100000));
      const u32 = (...v: number[]) => { const b = Buffer.alloc(4 * v.length); v.forEach((x, i) => b.writeUInt32BE(x, 4 * i)); return b; };
      const extra = [pngChunk('cHRM', u32(...chrm)), pngChunk('gAMA', u32(gama)),
        pngChunk('iCCP', Buffer.concat([Buffer.from(name, 'latin1'), Buffer.from([0, 0]), profile])), pngChunk('sRGB', Buffer.from([srgb]))];
      const keep = extra.filter(() => rand() < 0.7);
      const w = int(1, 30), h = int(1, 30), palette = rand() < 0.5;
      const file = palette
        ? craftPng({ width: w, height: h, depth: 8, colorType: 3, samples: Array.from({ length: w * h }, () => int(0, 2)), plte: [255, 0, 0, 0, 255, 0, 0, 0, 255], extra: keep })
        : craftPng({ width: w, height: h, depth: 8, colorType: 2, samples: Array.from({ length: w * h * 3 }, () => int(0, 255)), extra: keep });
      const img = pc.readImage(file);
      const want: pc.PngMeta = {};
      for (const c of keep) {
        const type = c.toString('latin1', 4, 8);
        if (type === 'iCCP') want.iccp = { name, profile };
        if (type === 'sRGB') want.srgb = srgb;
        if (type === 'gAMA') want.gama = gama;
        if (type === 'cHRM') want.chrm = chrm;
      }
      expect(img.meta ?? {}, why).toEqual(want);
      if (want.iccp) expect(Buffer.from(zlib.inflateSync(img.meta!.iccp!.profile)).equals(Buffer.from(profileRaw))).toBe(true);
      const out = pc.writePng(img);
      const chunks = pngHeader(out).chunks;
      const order = ['iCCP', 'sRGB', 'gAMA', 'cHRM'].filter((c) => keep.some((k) => k.toString('latin1', 4, 8) === c));
      expect(chunks.filter((c) => order.includes(c)), why).toEqual(order);
      const firstData = chunks.findIndex((c) => c === 'PLTE' || c === 'IDAT');
      expect(chunks.slice(1, 1 + order.length), `metadata right after IHDR, before ${chunks[firstData]} ${why}`).toEqual(order);
      const back = pc.readImage(out);
      expect(back.meta ?? {}).toEqual(want);
      expect(same(back, img)).toBe(true);
      const other = await rgbaDecode(out);
      expect(Buffer.from(other.data).equals(Buffer.from(toRgba(img))), `the png crate reads the file with metadata ${why}`).toBe(true);
    }
  });

  it('an ICC profile survives compress -> decompress on the photo stream and on the deflate stream', async () => {
    const model = await pc.loadPhotoModel('photo');
    const photo = pc.readImage(new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/coffee-64x48.png'))));
    const profile = new Uint8Array(zlib.deflateSync(Uint8Array.from({ length: 2000 }, () => int(0, 255))));
    const img = { ...photo, meta: { iccp: { name: 'wide gamut', profile }, chrm: [31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000] } };
    const stream = pc.compressPhoto(img, model);
    expect(pc.streamKind(stream)).toBe('photo');
    expect(stream.length).toBeGreaterThan(profile.length);
    const flat = { width: 40, height: 30, channels: 3, data: new Uint8Array(3600).fill(int(0, 255)), meta: img.meta };
    const flatStream = pc.compressDeflate(flat);
    for (const [s, orig] of [[stream, img], [flatStream, flat]] as const) {
      const back = pc.decompressPhoto(s, model);
      expect(back.meta).toEqual(orig.meta);
      expect(pc.readImage(pc.writePng(back)).meta).toEqual(orig.meta);
    }
  });
});
