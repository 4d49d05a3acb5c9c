// Bad or hostile arguments found in review: each must be a typed error before any large allocation, and an
// option must never be silently ignored.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import * as pc from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const enc = (s: string) => new TextEncoder().encode(s);

describe('input bounds and options (node)', () => {
  it('a PGM header declaring a huge image is an ImageFormatError before its samples are allocated', () => {
    for (const h of ['P5 1000000000 1000000000 255\n', 'P5 60000 60000 255\n', 'P2 1000000 1000000 255 1 2 3', 'P5 70000 1 255\n']) {
      expect(() => pc.readImage(enc(h)), h).toThrow(pc.ImageFormatError);
    }
    expect(pc.readImage(enc('P2 2 1 15 0 15')).data).toEqual(Uint8Array.from([0, 255]));
  });

  it('decompressImages applies maxBytes and maxPixels to a single-image stream too', async () => {
    const mnist = await pc.loadModel('mnist');
    const one = pc.compressImage(mnist.sample(1, Math.random)[0], mnist);
    expect(() => pc.decompressImages(one, mnist, { maxBytes: 100 })).toThrow(pc.LimitError);
    expect(() => pc.decompressImages(one, mnist, { maxPixels: 783 })).toThrow(pc.LimitError);
    expect(pc.decompressImages(one, mnist, { maxBytes: 784, maxPixels: 784 })).toHaveLength(1);
  });

  it('parallel and automatic decoders refuse a non-object options argument and a bad workers value', async () => {
    const model = await pc.loadPhotoModel();
    const img = { width: 40, height: 30, channels: 3, data: Uint8Array.from({ length: 3600 }, (_, i) => (i * 37) % 251) };
    const s = pc.compressPhoto(img, model);
    for (const bad of [10, 'x', null]) {
      await expect(pc.decompressPhotoParallel(s, model, bad as never)).rejects.toBeInstanceOf(pc.ArgumentError);
      await expect(pc.decompressAuto(s, bad as never)).rejects.toBeInstanceOf(pc.ArgumentError);
    }
    for (const workers of [0, -1, 1.5, 'x']) {
      await expect(pc.decompressPhotoParallel(s, model, { workers } as never)).rejects.toBeInstanceOf(pc.ArgumentError);
      await expect(pc.decompressAuto(s, { models: [model], workers } as never)).rejects.toBeInstanceOf(pc.ArgumentError);
    }
    expect((await pc.decompressAuto(s, { models: [model], workers: 1 })).data).toEqual(img.data);
  });

  it('threads > 1 with backend "webgpu" is an ArgumentError (never ignored); a bad backend is named before threads', async () => {
    await expect(pc.createRuntime({ backend: 'webgpu', threads: 2 })).rejects.toThrow(/threads 2 applies to the wasm backend/);
    await expect(pc.createRuntime({ backend: 'bogus' as never, threads: 99 })).rejects.toThrow(/backend must be/);
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 1 });
    expect(rt.info.threads).toBe(1);
    rt.destroy();
  });

  it('generate with a very large maxNewTokens allocates nothing up front (the caches grow as tokens come)', async () => {
    const dir = path.join(root, 'test/fixtures/lm/llama');
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 1 });
    const lm = await pc.loadTransformer(rt, { config: fs.readFileSync(path.join(dir, 'config.json')), weights: new Uint8Array(fs.readFileSync(path.join(dir, 'model.safetensors'))) });
    const got: number[] = [];
    for await (const t of lm.generate([1, 2, 3, 4], { maxNewTokens: 1e9 })) {
      got.push(t);
      if (got.length === 3) break;
    }
    expect(got).toHaveLength(3);
    lm.dispose();
    rt.destroy();
  });
  it('a short format-1 photo stream is named as format 1; a tile too small for its samples allocates nothing', async () => {
    await expect(async () => pc.decompressPhoto(Uint8Array.of(0xb3, 1, 2, 3, 4, 5), await pc.loadPhotoModel())).rejects.toBeInstanceOf(pc.FormatVersionError);
    expect(() => pc.photoStreamInfo(new Uint8Array(0))).toThrow(pc.TruncatedDataError);
  });

  it('a safetensors dtype named like an Object property ("constructor") is refused as an unknown dtype', () => {
    const header = enc(JSON.stringify({ w: { dtype: 'constructor', shape: [1], data_offsets: [0, 4] } }));
    const file = new Uint8Array(8 + header.length + 4);
    new DataView(file.buffer).setUint32(0, header.length, true);
    file.set(header, 8);
    expect(() => pc.parseSafetensors(file)).toThrow(/not a safetensors dtype/);
  });
  it('photo options are checked, never ignored: packHistograms must be a boolean, png needs the fallback, evaluatePhoto knows its options', async () => {
    const model = await pc.loadPhotoModel();
    const img = { width: 20, height: 10, channels: 3, data: Uint8Array.from({ length: 600 }, (_, i) => (i * 29) % 256) };
    const png = pc.writePng(img);
    for (const v of ['no', 0, 1, null]) expect(() => pc.compressPhoto(img, model, { packHistograms: v } as never), String(v)).toThrow(pc.ArgumentError);
    expect(() => pc.compressPhoto(img, model, { png, fallback: false })).toThrow(/fallback/);
    expect(() => pc.compressPhoto(img, model, { png: [1, 2] } as never)).toThrow(pc.ArgumentError);
    await expect(pc.compressAuto(img, { png, fallback: false })).rejects.toThrow(/fallback/);
    await expect(pc.compressAuto(img, { png: 'x' } as never)).rejects.toBeInstanceOf(pc.ArgumentError);
    expect(() => pc.evaluatePhoto(model, [img], { tile: 16 } as never)).toThrow(/unknown option "tile"/);
    // the accepted forms still work
    expect(pc.decompressPhoto(pc.compressPhoto(img, model, { packHistograms: false, png }), model).data).toEqual(img.data);
    expect(pc.evaluatePhoto(model, [img], { tileSize: 16 }).roundTrip).toBe(true);
  });

  it('a short stream of another kind is named by its kind before the deflate parser calls it truncated', () => {
    expect(() => pc.decompressDeflate(Uint8Array.of(0xb1, 1, 2))).toThrow(pc.FormatVersionError);
    expect(() => pc.decompressDeflate(Uint8Array.of(0x00, 1, 2))).toThrow(pc.CorruptDataError);
    expect(() => pc.decompressDeflate(Uint8Array.of(0xb8, 1, 2))).toThrow(pc.TruncatedDataError);
  });
  it('adaptive streams (0xB9): a forged header declaring a 1024 x 1024 x 4 tile is refused before the decoder allocates; a 96-byte blank tile costs at most the capped tables', async () => {
    const crc = (b: Uint8Array) => {
      let c = ~0;
      for (const v of b) { c ^= v; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
      return ~c >>> 0;
    };
    const model = await pc.loadPhotoModel('photo');
    const id = parseInt(model.id, 16);
    // header: magic, model id, width 1024 and height 1024 (varints), 4 channels, tile 2^10, no flags, one tile of 3 bytes;
    // its CRC recomputed, so only the payload bound stands between it and the decoder
    const head = [0xb9, id & 255, (id >>> 8) & 255, (id >>> 16) & 255, id >>> 24, 0x80, 0x08, 0x80, 0x08, 4, 10, 0, 3];
    const h = crc(Uint8Array.from(head));
    const forged = Uint8Array.from([...head, h & 255, (h >>> 8) & 255, (h >>> 16) & 255, h >>> 24, 1, 2, 3, 0, 0, 0, 0]);
    const m0 = model.ex.memory.buffer.byteLength;
    const err = (() => { try { pc.decompressPhoto(forged, model); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(pc.CorruptDataError);
    expect((err as Error).message).toMatch(/too few for its/);
    expect(model.ex.memory.buffer.byteLength).toBe(m0);
    // an honest stream of a blank 256 x 256 RGB tile is ~100 bytes; decoding it grows a fresh decoder's wasm memory by the
    // capped counter tables (11 x 2^20 counters, 44 MiB) and small fixed state, never by the 176 MiB of 2^22 tables
    const blank = { width: 256, height: 256, channels: 3, data: new Uint8Array(256 * 256 * 3).fill(77) };
    const s = pc.compressAdaptive(blank, model, { palette: false });
    expect(s.length).toBeLessThan(200);
    const dec = await pc.loadPhotoModel('photo');
    const d0 = dec.ex.memory.buffer.byteLength;
    expect(pc.decompressPhoto(s, dec).data).toEqual(blank.data);
    expect(dec.ex.memory.buffer.byteLength - d0).toBeLessThan(56 * 2 ** 20);
  });
});
