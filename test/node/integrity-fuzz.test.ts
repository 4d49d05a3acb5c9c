// Structure-aware corruption of format-2 streams (docs/compression.md, "Integrity"): every header field,
// length fields, tile/chunk swaps, copies and splices, counts and sizes, truncation and extension, with the
// header CRC left stale or recomputed (as a forger would), on single files, multi-image containers, photo
// streams (also through the parallel decoder, and with colour metadata) and deflate fallback streams (0xB8,
// through every decoder that reads them), plus forged model files and the reproducers in
// ../shared/repro/integrity. A decoder may refuse (typed error) or return the original image; it must never
// return any other image. Run with PCPRESS_SEED=<n> to replay; each run draws fresh mutations.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as pc from 'pcpress';

const seed = Number(process.env.PCPRESS_SEED ?? ((Date.now() ^ (Math.random() * 2 ** 31)) >>> 0));
console.log(`integrity fuzz seed ${seed} (PCPRESS_SEED to replay)`);
const rand = pc.seededRandom(seed);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(a: T[]): T => a[int(0, a.length - 1)];

// --- stream layout: info (header bytes before the length table), lengths, header CRC, payloads, trailer ---
interface Parts {
  info: Uint8Array;
  lens: number[];
  crc: number;
  payloads: Uint8Array[];
  trailer: Uint8Array;
}

function varint(b: Uint8Array, pos: { p: number }): number {
  let v = 0, mul = 1;
  for (;;) {
    const x = b[pos.p++];
    v += (x & 0x7f) * mul;
    if (!(x & 0x80)) return v;
    mul *= 128;
  }
}

function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Skips a colour-metadata block (count, then type, varint length, body per entry). */
function skipMeta(bytes: Uint8Array, pos: { p: number }): void {
  const n = bytes[pos.p++];
  for (let k = 0; k < n; k++) {
    pos.p += 4;
    const len = varint(bytes, pos); // (pos.p += varint(...) would add to the old pos.p)
    pos.p += len;
  }
}

/**
 * Splits a valid photo (0xB7), adaptive (0xB9), multi-image (0xB6) or deflate (0xB8) stream into its parts. A deflate stream
 * is one "payload" (its zlib stream) with one length.
 */
function split(bytes: Uint8Array): Parts {
  const pos = { p: 5 };
  let count: number;
  if (bytes[0] === 0xb8) {
    pos.p = 1;
    varint(bytes, pos);
    varint(bytes, pos);
    const colorType = bytes[pos.p + 1], flags = bytes[pos.p + 3];
    pos.p += 4;
    if (flags & 1) skipMeta(bytes, pos);
    if (colorType === 3) pos.p += 3 * (bytes[pos.p] + 1) + 1;
    if (flags & 2) pos.p += bytes[pos.p] + 1;
    count = 1;
  } else if (bytes[0] === 0xb7 || bytes[0] === 0xb9) {
    const w = varint(bytes, pos), h = varint(bytes, pos);
    const c = bytes[pos.p++], tl = bytes[pos.p++], flags = bytes[pos.p++];
    if (flags & 1) pos.p++;
    if (flags & 2) pos.p += 32 * (c - (flags & 1));
    if (flags & 8) pos.p += 1 + (bytes[pos.p] + 1) * (c - (flags & 1));
    if (flags & 4) skipMeta(bytes, pos);
    count = Math.ceil(w / (1 << tl)) * Math.ceil(h / (1 << tl));
  } else {
    const n = varint(bytes, pos), chunk = varint(bytes, pos);
    count = Math.ceil(n / chunk);
  }
  const info = bytes.slice(0, pos.p);
  const lens = Array.from({ length: count }, () => varint(bytes, pos));
  const crc = new DataView(bytes.buffer, bytes.byteOffset).getUint32(pos.p, true);
  let o = pos.p + 4;
  const payloads = lens.map((n) => bytes.slice(o, (o += n)));
  return { info, lens, crc, payloads, trailer: bytes.slice(o) };
}

/** Serialises parts; with reseal the header CRC is recomputed (a forged header), else the stored one is kept. */
function join(p: Parts, reseal: boolean): Uint8Array {
  const head = [...p.info];
  for (const n of p.lens) putVarint(head, n);
  const crc = reseal ? pc.crc32(Uint8Array.from(head)) : p.crc;
  const out = new Uint8Array(head.length + 4 + p.payloads.reduce((s, q) => s + q.length, 0) + p.trailer.length);
  out.set(head);
  new DataView(out.buffer).setUint32(head.length, crc, true);
  let o = head.length + 4;
  for (const q of p.payloads) {
    out.set(q, o);
    o += q.length;
  }
  out.set(p.trailer, o);
  return out;
}

function clone(p: Parts): Parts {
  return { info: p.info.slice(), lens: [...p.lens], crc: p.crc, payloads: p.payloads.map((q) => q.slice()), trailer: p.trailer.slice() };
}

/** Byte-level damage: flips, replaced bytes, cuts, inserts, deletes, bursts. */
function damage(f: Uint8Array, from = 0): Uint8Array {
  const at = () => int(Math.min(from, f.length - 1), f.length - 1);
  switch (int(0, 5)) {
    case 0: { const g = f.slice(); g[at()] ^= 1 << int(0, 7); return g; }
    case 1: { const g = f.slice(); const i = at(); g[i] = (g[i] + int(1, 255)) & 255; return g; }
    case 2: return f.slice(0, int(0, f.length - 1));
    case 3: { const i = at(); return Uint8Array.from([...f.subarray(0, i), ...f.subarray(i + 1)]); }
    case 4: { const i = at(); return Uint8Array.from([...f.subarray(0, i), int(0, 255), ...f.subarray(i)]); }
    default: { const g = f.slice(); for (let k = int(2, 8); k > 0; k--) g[at()] ^= 1 << int(0, 7); return g; }
  }
}

/**
 * One structure-aware mutation of a container. `other` is a stream with the same info bytes (another image
 * of the same shape) for splices. Returns the mutated stream and the mutation's class name.
 */
function mutateContainer(bytes: Uint8Array, other: Uint8Array): [Uint8Array, string] {
  const p = split(bytes), q = clone(p), reseal = rand() < 0.5, n = q.payloads.length, tag = reseal ? '+crc' : '';
  const k = int(0, 11);
  if (k === 0) { // one header field byte (magic and model id excluded) to any other value
    const i = int(5, q.info.length - 1);
    q.info[i] = (q.info[i] + int(1, 255)) & 255;
    return [join(q, reseal), `header field${tag}`];
  }
  if (k === 1) { // one bit of the header (model id included)
    q.info[int(1, q.info.length - 1)] ^= 1 << int(0, 7);
    return [join(q, reseal), `header bit${tag}`];
  }
  if (k === 2 && n > 1) { // swap two tiles/chunks with their lengths (the D6/D7 reproducers)
    const i = int(0, n - 1), j = (i + int(1, n - 1)) % n;
    [q.payloads[i], q.payloads[j]] = [q.payloads[j], q.payloads[i]];
    [q.lens[i], q.lens[j]] = [q.lens[j], q.lens[i]];
    return [join(q, reseal), `swap${tag}`];
  }
  if (k === 3 && n > 1) { // copy one tile/chunk over another
    const i = int(0, n - 1), j = (i + int(1, n - 1)) % n;
    q.payloads[i] = q.payloads[j].slice();
    q.lens[i] = q.lens[j];
    return [join(q, reseal), `copy${tag}`];
  }
  if (k === 4) { // a length field changed (payload bytes stay where they are)
    const i = int(0, n - 1), d = pick([-2, -1, 1, 2, 7]);
    if (q.lens[i] + d < 1) return [join(q, reseal), `length${tag}`];
    q.lens[i] += d;
    if (rand() < 0.5) q.lens[(i + 1) % n] -= d; // keep the total
    return [join(q, reseal), `length${tag}`];
  }
  if (k === 5) { // splice: tile/chunk i from another stream with the same header info
    const o = split(other);
    const i = int(0, Math.min(n, o.payloads.length) - 1);
    q.payloads[i] = o.payloads[i];
    q.lens[i] = o.lens[i];
    return [join(q, reseal), `splice${tag}`];
  }
  if (k === 6) { // the trailer (pixel CRC)
    const t = damage(q.trailer);
    q.trailer = t.length ? t : Uint8Array.of(1);
    return [join(q, false), 'trailer'];
  }
  if (k === 7) { // damage inside one payload, lengths made consistent again
    const i = int(0, n - 1);
    const d = damage(q.payloads[i]);
    if (!d.length) return [join(q, reseal), `payload${tag}`];
    q.payloads[i] = d;
    q.lens[i] = d.length;
    return [join(q, true), 'payload+crc'];
  }
  if (k === 8) { // the first or last tile/chunk dropped or duplicated
    if (rand() < 0.5 && n > 1) { q.payloads.pop(); q.lens.pop(); } else { q.payloads.push(q.payloads[0]); q.lens.push(q.lens[0]); }
    return [join(q, reseal), `count${tag}`];
  }
  if (k === 9) return [damage(bytes), 'bytes']; // anywhere, lengths not adjusted
  if (k === 10) return [damage(bytes, bytes.length - 12), 'tail'];
  // a size/count field +-1 (the D1/D2 reproducers): the first varint after the model id (photo width / count)
  // or the second (photo height / chunk size), when it stays a one-byte varint
  const base = bytes[0] === 0xb8 ? 1 : 5;
  const at = base + (rand() < 0.5 || q.info[base] & 0x80 ? 0 : 1);
  if (!(q.info[at] & 0x80)) q.info[at] = (q.info[at] + pick([1, 127])) & 0x7f;
  return [join(q, true), 'size+crc'];
}

type Outcome = 'refused' | 'same' | 'wrong';
const tally = new Map<string, Record<Outcome, number>>();
function record(cls: string, o: Outcome): void {
  const t = tally.get(cls) ?? { refused: 0, same: 0, wrong: 0 };
  t[o]++;
  tally.set(cls, t);
}
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
const total = () => [...tally.values()].reduce((s, t) => s + t.refused + t.same + t.wrong, 0);
const wrongs = () => [...tally.values()].reduce((s, t) => s + t.wrong, 0);

const metaKey = (m: unknown) => JSON.stringify(m ?? null, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v));

/** Runs a decoder on a mutated stream; with `metas`, the colour metadata must come back unchanged too. */
async function outcome(cls: string, run: () => unknown, originals: Uint8Array[], metas?: (pc.PngMeta | undefined)[]): Promise<void> {
  let back: unknown;
  try {
    back = await run();
  } catch (e) {
    if (!(e instanceof pc.PcpressError)) throw new Error(`${cls}: untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
    record(cls, 'refused');
    return;
  }
  const imgs = (Array.isArray(back) ? back : [back]) as pc.PcImage[];
  const ok = imgs.length === originals.length && imgs.every((im, i) => same(im.data, originals[i]) && (!metas || metaKey(im.meta) === metaKey(metas[i])));
  record(cls, ok ? 'same' : 'wrong');
  if (!ok) console.log(`WRONG IMAGE from a ${cls} mutation`);
}

/** Flat-colour graphics: `colours` random colours in blocks (deflate wins on these). */
function graphics(w: number, h: number, c: number, colours: number): pc.PcImage {
  const pal = Array.from({ length: colours }, () => Array.from({ length: 4 }, () => int(0, 255)));
  const bw = int(2, 12), bh = int(2, 12), data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const k = (Math.floor(x / bw) * 3 + Math.floor(y / bh) * 7 + ((x * y) >> 6)) % colours;
    for (let ch = 0; ch < c; ch++) data[(y * w + x) * c + ch] = pal[k][ch];
  }
  return { width: w, height: h, channels: c, data };
}

/** Random colour metadata (an ICC profile of random bytes, sRGB, gAMA, cHRM; each present with probability 3/4). */
function randomMeta(): pc.PngMeta {
  const m: pc.PngMeta = {};
  if (rand() < 0.75) m.iccp = { name: `icc ${int(0, 999)}`, profile: Uint8Array.from({ length: int(1, 300) }, () => int(0, 255)) };
  if (rand() < 0.75) m.srgb = int(0, 3);
  if (rand() < 0.75) m.gama = int(0, 100000);
  if (rand() < 0.75 || !m.iccp) m.chrm = Array.from({ length: 8 }, () => int(0, 100000));
  return m;
}

function photo(w: number, h: number, c: number, noise: number, alpha?: 'const' | 'vary', levels = 256): pc.PcImage {
  const data = new Uint8Array(w * h * c);
  const fx = 0.05 + rand() * 0.2, fy = 0.05 + rand() * 0.2;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    let v = 128 + 90 * Math.sin(fx * x + k) * Math.cos(fy * y - k) + (rand() - 0.5) * noise;
    if (alpha && k === c - 1) v = alpha === 'const' ? 200 : (x * 7 + y * 3) % 256;
    const q = Math.max(0, Math.min(255, Math.round(v)));
    data[(y * w + x) * c + k] = Math.floor(q / (256 / levels)) * Math.floor(256 / levels);
  }
  return { width: w, height: h, channels: c, data };
}

describe('format-2 integrity under structure-aware corruption (node)', () => {
  let photoModel: pc.PhotoModel, bundledPhoto: pc.PhotoModel, pcModel: pc.PcModel, mnist: pc.PcModel;
  let pool: pc.PhotoWorkerPool | undefined;
  beforeAll(async () => {
    const v = (plane: number, ox: number, oy: number) => ({ plane, ox, oy });
    photoModel = await pc.createRandomPhotoModel({ M: 4, random: rand, peak: 2, predictor: 'med', transform: 'subtract-green',
      grayContext: [v(255, 0, 0), v(255, -1, 0), v(255, 0, -1)],
      colorContext: [[v(255, 0, 0), v(255, -1, 0), v(255, 0, -1)], [v(255, 0, 0), v(0, 0, 0), v(255, -1, 0)], [v(255, 0, 0), v(0, 0, 0), v(1, 0, 0)]] });
    bundledPhoto = await pc.loadPhotoModel('photo');
    pcModel = await pc.createRandomModel({ width: 6, height: 5, M: 4, random: rand, peak: 2 });
    mnist = await pc.loadModel('mnist');
    pool = await pc.PhotoWorkerPool.create(photoModel, { workers: 2 });
  });
  afterAll(() => {
    pool?.close();
    const rows = [...tally.entries()].sort().map(([k, t]) => `${k}: refused ${t.refused}, same ${t.same}, wrong ${t.wrong}`);
    console.log(`integrity fuzz, ${total()} mutated streams:\n  ${rows.join('\n  ')}`);
  });

  it('photo streams: 9,000 mutations (random model, 5 image kinds) and 600 with the bundled model: never a wrong image', async () => {
    const kinds = [
      () => photo(40, 24, 3, 20),
      () => photo(33, 17, 1, 30),
      () => photo(24, 20, 2, 10, 'const'),
      () => photo(20, 36, 4, 10, 'vary'),
      () => photo(70, 64, 3, 8, undefined, 64), // >= 4096 pixels with gaps: packed histograms
      () => ({ ...photo(30, 20, 3, 20), meta: randomMeta() }), // colour metadata block in the header
    ];
    for (let r = 0; r < 9000; r++) {
      const make = kinds[r % kinds.length];
      const a = make(), b = { ...a, data: a.data.slice() };
      b.data[int(0, b.data.length - 1)] ^= 1; // same shape and header info, other pixels (for splices)
      const opts = { tileSize: 16, fallback: false };
      const sa = pc.compressPhoto(a, photoModel, opts);
      const [bad, cls] = mutateContainer(sa, pc.compressPhoto(b, photoModel, opts));
      await outcome(`photo ${cls}`, () => pc.decompressPhoto(bad, photoModel), [a.data], [a.meta]);
    }
    for (let r = 0; r < 600; r++) {
      const a = photo(36, 20, 3, 12), b = { ...a, data: a.data.slice() };
      b.data[0] ^= 2;
      const opts = { tileSize: 16, fallback: false };
      const [bad, cls] = mutateContainer(pc.compressPhoto(a, bundledPhoto, opts), pc.compressPhoto(b, bundledPhoto, opts));
      await outcome(`photo(bundled) ${cls}`, () => pc.decompressPhoto(bad, bundledPhoto), [a.data]);
    }
    expect(wrongs()).toBe(0);
  });

  it('photo streams through the parallel decoder (PhotoWorkerPool): 400 mutations', async () => {
    for (let r = 0; r < 400; r++) {
      const a = photo(48, 40, 3, 16), b = { ...a, data: a.data.slice() };
      b.data[5] ^= 4;
      const opts = { tileSize: 16, fallback: false };
      const [bad, cls] = mutateContainer(pc.compressPhoto(a, photoModel, opts), pc.compressPhoto(b, photoModel, opts));
      await outcome(`parallel ${cls}`, () => pool!.decompress(bad), [a.data]);
    }
    expect(wrongs()).toBe(0);
  });

  it('adaptive streams (0xB9): 3,000 mutations (model mixing and palette indices; gray, RGB, constant and varying alpha, metadata), through decompressPhoto, the pool and decompressAuto: never a wrong image', async () => {
    const kinds: [() => pc.PcImage, boolean][] = [
      [() => photo(30, 20, 3, 20), false],
      [() => photo(21, 17, 1, 30), false],
      [() => photo(20, 18, 4, 10, 'vary'), false],
      [() => graphics(34, 22, 3, 7), true],
      [() => graphics(25, 19, 4, 12), true],
      [() => graphics(30, 18, 2, 5), true],
      [() => ({ ...graphics(26, 21, 3, 9), meta: randomMeta() }), true],
      [() => photo(24, 20, 2, 10, 'const'), false],
    ];
    const decoders = [
      (b: Uint8Array) => pc.decompressPhoto(b, photoModel),
      (b: Uint8Array) => pool!.decompress(b),
      (b: Uint8Array) => pc.decompressAuto(b, { models: [photoModel] }),
    ];
    let palettes = 0;
    for (let r = 0; r < 3000; r++) {
      const [make, pal] = kinds[r % kinds.length];
      const a = make(), b = { ...a, data: a.data.slice() };
      b.data[int(0, b.data.length - 1)] = a.data[int(0, a.data.length - 1)]; // same shape and palette size (usually), other pixels
      const opts = { tileSize: 16, palette: pal };
      const sa = pc.compressAdaptive(a, photoModel, opts), sb = pc.compressAdaptive(b, photoModel, opts);
      if (pc.photoStreamInfo(sa).mode === 'palette') palettes++;
      const [bad, cls] = mutateContainer(sa, split(sb).info.length === split(sa).info.length ? sb : sa);
      await outcome(`adaptive ${cls}`, () => decoders[r % decoders.length](bad), [a.data], [a.meta]);
    }
    expect(palettes).toBeGreaterThan(1000); // palette mode covered
    expect(wrongs()).toBe(0);
  });

  it('deflate streams (0xB8): 3,000 mutations of graphics, low-bit gray, keyed alpha, RGBA and metadata; through decompressDeflate, decompressPhoto, the pool and decompressAuto', async () => {
    const kinds = [
      () => graphics(int(1, 60), int(1, 40), 3, 5),
      () => graphics(int(8, 50), int(8, 30), 4, 3),
      () => { const g = graphics(40, 24, 1, 4); for (let i = 0; i < g.data.length; i++) g.data[i] = 85 * (g.data[i] % 4); return g; },
      () => { const g = graphics(30, 20, 2, 6); for (let i = 0; i < g.data.length; i += 2) g.data[i + 1] = g.data[i] === g.data[0] ? 0 : 255; return g; },
      () => photo(24, 16, 3, 40),
      () => ({ ...graphics(30, 30, 3, 300), meta: randomMeta() }),
    ];
    const decoders = [
      (b: Uint8Array) => pc.decompressDeflate(b),
      (b: Uint8Array) => pc.decompressPhoto(b, photoModel),
      (b: Uint8Array) => pool!.decompress(b),
      (b: Uint8Array) => pc.decompressAuto(b, { models: [photoModel] }),
    ];
    for (let r = 0; r < 3000; r++) {
      const a = kinds[r % kinds.length](), b = { ...a, data: a.data.slice() };
      b.data[int(0, b.data.length - 1)] ^= 1;
      const sa = pc.compressDeflate(a), sb = pc.compressDeflate(b);
      expect(pc.streamKind(sa)).toBe('deflate');
      // a splice needs the same header bytes before the length: else splice the stream with itself
      const [bad, cls] = mutateContainer(sa, split(sb).info.length === split(sa).info.length ? sb : sa);
      await outcome(`deflate ${cls}`, () => decoders[r % decoders.length](bad), [a.data], [a.meta]);
    }
    expect(wrongs()).toBe(0);
  });

  it('multi-image containers: 6,000 mutations (random model) and 300 of MNIST digits (bundled model)', async () => {
    for (let r = 0; r < 6000; r++) {
      const n = int(2, 11), chunk = int(1, 4);
      const imgs = pcModel.sample(n, rand);
      const alt = imgs.map((im) => ({ ...im, data: im.data.slice() }));
      alt[int(0, n - 1)].data[0] ^= 1;
      const [bad, cls] = mutateContainer(pc.compressImages(imgs, pcModel, { chunk }), pc.compressImages(alt, pcModel, { chunk }));
      await outcome(`images ${cls}`, () => pc.decompressImages(bad, pcModel), imgs.map((im) => im.data));
    }
    const digits = mnist.sample(6, rand);
    const alt = digits.map((im) => ({ ...im, data: im.data.slice() }));
    alt[3].data[400] ^= 8;
    const file = pc.compressImages(digits, mnist, { chunk: 2 }), other = pc.compressImages(alt, mnist, { chunk: 2 });
    for (let r = 0; r < 300; r++) {
      const [bad, cls] = mutateContainer(file, other);
      await outcome(`images(mnist) ${cls}`, () => pc.decompressImages(bad, mnist), digits.map((im) => im.data));
    }
    expect(wrongs()).toBe(0);
  });

  it('single-image files: 4,000 mutations (24- and 32-bit checks) and every single-bit flip of 3 MNIST files', async () => {
    for (let r = 0; r < 4000; r++) {
      const im = pcModel.sample(1, rand)[0];
      const f = pc.compressImage(im, pcModel, { check: r % 2 ? 24 : 32 });
      const g = r % 4 === 0 ? Uint8Array.from([f[0] ^ 1, ...f.subarray(1)]) : damage(f); // 0xB4 <-> 0xB5, or bytes
      await outcome(`single ${r % 4 === 0 ? 'check size' : 'bytes'}`, () => pc.decompressImage(g, pcModel), [im.data]);
    }
    // the D5 reproducer's class: 3 of 2,500 payload bit flips passed format 1's 17-bit check
    for (const im of mnist.sample(3, rand)) {
      const f = pc.compressImage(im, mnist);
      for (let bit = 0; bit < f.length * 8; bit++) {
        const g = f.slice();
        g[bit >> 3] ^= 1 << (bit & 7);
        await outcome('single(mnist) bit flip', () => pc.decompressImage(g, mnist), [im.data]);
      }
    }
    expect(wrongs()).toBe(0);
    expect(total()).toBeGreaterThanOrEqual(20_000);
  });
});

describe('forged sizes and models are refused before the work', () => {
  it('forged headers with valid checksums (the bomb reproducers in format 2) are refused without decoding', async () => {
    const mnist = await pc.loadModel('mnist');
    // 4,096 images in 13 bytes: header with a correct CRC, one chunk of 4,096 images and a 1-byte payload
    const info = [0xb6, mnist.hash & 0xff, (mnist.hash >>> 8) & 0xff, (mnist.hash >>> 16) & 0xff, mnist.hash >>> 24];
    putVarint(info, 4096);
    putVarint(info, 4096);
    const bomb = join({ info: Uint8Array.from(info), lens: [1], crc: 0, payloads: [Uint8Array.of(1)], trailer: new Uint8Array(4) }, true);
    await expect(async () => pc.decompressImages(bomb, mnist)).rejects.toThrow(/too few for 4096 images/);
    // a 4096 x 4096 photo in a few bytes: every tile's payload is far too small for its samples
    const photoModel = await pc.loadPhotoModel('photo');
    const pinfo = [0xb7, photoModel.hash & 0xff, (photoModel.hash >>> 8) & 0xff, (photoModel.hash >>> 16) & 0xff, photoModel.hash >>> 24];
    putVarint(pinfo, 4096);
    putVarint(pinfo, 4096);
    pinfo.push(1, 10, 0);
    const tiles = 16;
    const pbomb = join({ info: Uint8Array.from(pinfo), lens: new Array(tiles).fill(2), crc: 0, payloads: Array.from({ length: tiles }, () => Uint8Array.of(1, 1)), trailer: new Uint8Array(4) }, true);
    await expect(async () => pc.decompressPhoto(pbomb, photoModel)).rejects.toThrow(/too few for its 1048576 samples/);
    // limits from the caller, checked before anything is allocated
    const ok = pc.compressPhoto(photo(64, 48, 3, 10), photoModel);
    await expect(async () => pc.decompressPhoto(ok, photoModel, { maxPixels: 64 * 48 - 1 })).rejects.toBeInstanceOf(pc.LimitError);
    await expect(async () => pc.decompressPhoto(ok, photoModel, { maxBytes: 2 ** 40 })).rejects.toBeInstanceOf(pc.ArgumentError);
    const many = pc.compressImages(mnist.sample(5, rand), mnist);
    await expect(async () => pc.decompressImages(many, mnist, { maxImages: 4 })).rejects.toBeInstanceOf(pc.LimitError);
    await expect(async () => pc.decompressImages(many, mnist, { maxPixels: 5 * 784 - 1 })).rejects.toBeInstanceOf(pc.LimitError);
    expect(pc.decompressImages(many, mnist, { maxImages: 5, maxPixels: 5 * 784 })).toHaveLength(5);
  });

  it('a forged photo model (sub-models with D=64, M=1024 and a valid hash) is refused by maxModelParameters', async () => {
    const model = await pc.loadPhotoModel('photo');
    const parts = pc.parsePhotoModel(model.fileBytes);
    // rewrite each sub-model's PCPM header to M = 1024 without its parameters: only the declared size matters
    for (const sm of parts.subModels) {
      const pcm = sm.pcm.slice();
      new DataView(pcm.buffer).setUint16(6, 1024, true);
      sm.pcm = pcm;
    }
    const forged = pc.encodePhotoModel(parts);
    const t = performance.now();
    await expect(pc.photoModelFromBytes(forged)).rejects.toBeInstanceOf(pc.LimitError);
    console.log(`forged photo model (${forged.length} bytes) refused in ${(performance.now() - t).toFixed(1)} ms`);
    await expect(pc.photoModelFromBytes(model.fileBytes, { maxModelParameters: 2 ** 40 })).rejects.toBeInstanceOf(pc.ArgumentError);
    await expect(pc.photoModelFromBytes(model.fileBytes, { maxModelParameters: 1000 })).rejects.toBeInstanceOf(pc.LimitError);
    const mnist = await pc.loadModel('mnist');
    await expect(pc.loadModel(mnist.fileBytes, { maxModelParameters: 1000 })).rejects.toBeInstanceOf(pc.LimitError);
    await expect(pc.loadModel(mnist.fileBytes, { maxModelParams: 10 } as never)).rejects.toBeInstanceOf(pc.ArgumentError);
  });

  it('every reproducer in ../shared/repro/integrity is refused with a typed error', async (ctx) => {
    const dir = path.resolve(process.cwd(), '..', 'shared', 'repro', 'integrity');
    if (!fs.existsSync(dir)) return ctx.skip(`${dir} is not here`);
    const mnist = await pc.loadModel('mnist'), photoModel = await pc.loadPhotoModel('photo');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.bin'));
    expect(files.length).toBeGreaterThanOrEqual(13);
    for (const f of files) {
      const b = new Uint8Array(fs.readFileSync(path.join(dir, f)));
      const run = f.startsWith('model') ? () => pc.loadPhotoModel(b)
        : f.startsWith('D5') ? () => pc.decompressImage(b, mnist)
          : b[0] === 0xb3 ? () => pc.decompressPhoto(b, photoModel) : () => pc.decompressImages(b, mnist);
      await expect(async () => run(), f).rejects.toBeInstanceOf(pc.PcpressError);
    }
  });
});
