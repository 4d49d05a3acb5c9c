// Tile-parallel photo coding on worker_threads (compressPhotoParallel / decompressPhotoParallel): the
// streams must be byte-identical to compressPhoto's, decoding must give the image back, corrupt streams
// must reject with the same typed errors as decompressPhoto (never hang), and no worker may outlive a call
// (a child process using the API must exit by itself). Uses the built package (npm run build).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it, expect, beforeAll } from 'vitest';
import * as pc from 'pcpress';
import { mosaic as tiled } from '../shared/mosaic.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const fixture = (name: string) => pc.readImage(fs.readFileSync(path.join(root, 'test/fixtures', name)));
const seed = Number(process.env.PCPRESS_SEED ?? (Date.now() >>> 0));
const rand = pc.seededRandom(seed);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const sources = () => [fixture('chelsea-192x144.png'), fixture('coffee-64x48.png'), fixture('camera-48x40.png')];
/** A w x h image tiled from crops of the fixture photos at random offsets. */
const mosaic = (w: number, h: number, channels: number) => tiled(sources(), w, h, channels, int);

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** The error decompressPhoto throws on `bytes` (fails the test if it does not throw). */
function seqError(bytes: Uint8Array, model: pc.PhotoModel): pc.PcpressError {
  try {
    pc.decompressPhoto(bytes, model);
  } catch (e) {
    return e as pc.PcpressError;
  }
  throw new Error('decompressPhoto accepted a corrupt stream');
}

async function parError(p: Promise<unknown>): Promise<pc.PcpressError> {
  try {
    await p;
  } catch (e) {
    return e as pc.PcpressError;
  }
  throw new Error('the parallel call did not reject');
}

describe(`photo parallel (node worker_threads, seed ${seed})`, () => {
  let model: pc.PhotoModel;
  beforeAll(async () => {
    model = await pc.loadPhotoModel();
  });

  it('RGB mosaic with odd edges: the same bytes as compressPhoto, decoded back exactly', async () => {
    const img = mosaic(int(150, 230), int(100, 160), 3);
    const tileSize = 64;
    const ref = pc.compressPhoto(img, model, { tileSize, fallback: false });
    expect(pc.photoStreamInfo(ref).tiles.length).toBeGreaterThan(4);
    for (const workers of [2, 3]) {
      const par = await pc.compressPhotoParallel(img, model, { tileSize, fallback: false, workers });
      expect(same(par, ref)).toBe(true);
    }
    const back = await pc.decompressPhotoParallel(ref, model, { workers: 3 });
    expect([back.width, back.height, back.channels]).toEqual([img.width, img.height, img.channels]);
    expect(same(back.data, img.data)).toBe(true);
  });

  it('adaptive streams (0xB9, model mixing and palette indices): tiles decoded on workers, exactly', async () => {
    const img = mosaic(int(120, 170), int(80, 120), 3);
    const few = { ...img, data: img.data.map((v) => v & 0xc0) }; // at most 64 colours: palette indices
    for (const [im, mode] of [[img, 'adaptive'], [few, 'palette']] as const) {
      const ref = pc.compressAdaptive(im, model, { tileSize: 32, palette: mode === 'palette' });
      const info = pc.photoStreamInfo(ref);
      expect(info.mode).toBe(mode);
      expect(info.tiles.length).toBeGreaterThan(4);
      const back = await pc.decompressPhotoParallel(ref, model, { workers: 3 });
      expect(same(back.data, im.data)).toBe(true);
    }
  });

  it('gray + constant alpha, RGBA, packed histograms and default worker count', async () => {
    const g = mosaic(int(90, 140), int(40, 70), 1);
    const ga = { ...g, channels: 2, data: new Uint8Array(g.data.length * 2) };
    g.data.forEach((v, i) => { ga.data[2 * i] = v; ga.data[2 * i + 1] = 200; });
    const rgba = mosaic(int(40, 80), int(40, 80), 4);
    const packed = mosaic(int(80, 120), int(60, 90), 3);
    for (let i = 0; i < packed.data.length; i++) packed.data[i] &= 0xf8; // gaps in every histogram
    for (const img of [ga, rgba, packed]) {
      const ref = pc.compressPhoto(img, model, { tileSize: 32, fallback: false });
      const par = await pc.compressPhotoParallel(img, model, { tileSize: 32, fallback: false });
      expect(same(par, ref)).toBe(true);
      const back = await pc.decompressPhotoParallel(par, model);
      expect(back.channels).toBe(img.channels);
      expect(same(back.data, img.data)).toBe(true);
    }
    expect(pc.photoStreamInfo(pc.compressPhoto(packed, model, { tileSize: 32, fallback: false })).palettes).toBeDefined();
  });

  it('a model loaded from bytes (not the bundled one) is what the workers use', async () => {
    const other = await pc.createRandomPhotoModel({ M: 4, random: pc.seededRandom(seed ^ 0x5a5a), peak: 4 });
    const img = mosaic(100, 70, 3);
    const ref = pc.compressPhoto(img, other, { tileSize: 32, fallback: false });
    expect(same(await pc.compressPhotoParallel(img, other, { tileSize: 32, fallback: false, workers: 2 }), ref)).toBe(true);
    expect(same((await pc.decompressPhotoParallel(ref, other, { workers: 2 })).data, img.data)).toBe(true);
    const e = await parError(pc.decompressPhotoParallel(ref, model, { workers: 2 }));
    expect(e).toBeInstanceOf(pc.WrongModelError);
  });

  it('corrupt and truncated streams reject with the typed errors of decompressPhoto', async () => {
    const img = mosaic(160, 96, 3);
    const ref = pc.compressPhoto(img, model, { tileSize: 32, fallback: false });
    const info = pc.photoStreamInfo(ref);
    // corrupt two tiles' payloads: the lowest one is reported, as by the sequential decoder
    const a = int(1, info.tiles.length - 3), b = int(a + 1, info.tiles.length - 1);
    const bad = ref.slice();
    for (const t of [info.tiles[a], info.tiles[b]]) bad[t.offset + int(0, t.length - 1)] ^= 1 << int(0, 7);
    const s = seqError(bad, model), p = await parError(pc.decompressPhotoParallel(bad, model, { workers: 2 }));
    expect(p).toBeInstanceOf(pc.CorruptDataError);
    expect(p.name).toBe(s.name);
    expect(p.code).toBe(s.code);
    expect(/tile (\d+)/.exec(p.message)?.[1]).toBe(/tile (\d+)/.exec(s.message)?.[1]);
    // truncated: the header check runs before any worker starts
    const cut = ref.subarray(0, ref.length - int(1, 20));
    const pt = await parError(pc.decompressPhotoParallel(cut, model, { workers: 2 }));
    expect(pt).toBeInstanceOf(pc.TruncatedDataError);
    expect(pt.code).toBe(seqError(cut, model).code);
  });

  it('bad options and a missing worker script are typed errors, not hangs', async () => {
    const img = mosaic(64, 64, 1);
    expect(await parError(pc.compressPhotoParallel(img, model, { tileSize: 16, fallback: false, workers: 0 }))).toBeInstanceOf(pc.ArgumentError);
    expect(await parError(pc.compressPhotoParallel(img, model, { tileSize: 12, fallback: false }))).toBeInstanceOf(pc.ArgumentError);
    const missing = pathToFileURL(path.join(root, 'dist', 'no-such-worker.js'));
    const e = await parError(pc.compressPhotoParallel(img, model, { tileSize: 16, fallback: false, workers: 2, workerUrl: missing }));
    expect(e).toBeInstanceOf(pc.PhotoWorkerError);
    expect(e.code).toBe('photo-worker');
  });

  it('a PhotoWorkerPool codes many images, stays usable after a corrupt stream, and rejects once closed', async () => {
    const pool = await pc.PhotoWorkerPool.create(model, { workers: 2 });
    try {
      expect(pool.size).toBe(2);
      const imgs = [mosaic(int(60, 120), int(40, 80), 3), mosaic(int(60, 120), int(40, 80), 1), mosaic(int(30, 60), int(30, 60), 4)];
      // two calls at once run one after the other
      const [s0, s1] = await Promise.all([pool.compress(imgs[0], { tileSize: 16, fallback: false }), pool.compress(imgs[1], { tileSize: 32, fallback: false })]);
      expect(same(s0, pc.compressPhoto(imgs[0], model, { tileSize: 16, fallback: false }))).toBe(true);
      expect(same(s1, pc.compressPhoto(imgs[1], model, { tileSize: 32, fallback: false }))).toBe(true);
      const bad = s0.slice();
      const t = pc.photoStreamInfo(s0).tiles[int(0, 5)];
      bad[t.offset + int(0, t.length - 1)] ^= 1 << int(0, 7);
      expect(await parError(pool.decompress(bad))).toBeInstanceOf(pc.CorruptDataError);
      expect(same((await pool.decompress(s0)).data, imgs[0].data)).toBe(true);
      const s2 = await pool.compress(imgs[2], { tileSize: 16, fallback: false });
      expect(same((await pool.decompress(s2)).data, imgs[2].data)).toBe(true);
      const big = await pool.compress(mosaic(320, 240, 3), { tileSize: 32, fallback: false });
      const running = pool.decompress(big);
      await new Promise((r) => setTimeout(r, 20)); // mid-call (77k pixels take longer than that)
      pool.close();
      expect(await parError(running)).toBeInstanceOf(pc.PhotoWorkerError);
      expect(await parError(pool.compress(imgs[0]))).toBeInstanceOf(pc.PhotoWorkerError);
    } finally {
      pool.close();
    }
  });

  it('workers are terminated after use: a process that codes in parallel exits by itself', () => {
    const script = `
      import * as pc from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/node.js')).href)};
      const model = await pc.loadPhotoModel();
      const img = { width: 100, height: 60, channels: 1, data: new Uint8Array(6000).map((_, i) => (i * 7) % 251) };
      const s = await pc.compressPhotoParallel(img, model, { tileSize: 16, fallback: false, workers: 2 });
      const back = await pc.decompressPhotoParallel(s, model, { workers: 2 });
      const bad = s.slice(); bad[bad.length - 3] ^= 0x10;
      const err = await pc.decompressPhotoParallel(bad, model, { workers: 2 }).catch((e) => e.name);
      const pool = await pc.PhotoWorkerPool.create(model, { workers: 2 });
      await pool.decompress(s);
      pool.close();
      console.log(JSON.stringify({ ok: back.data.every((v, i) => v === img.data[i]), err }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(r.signal).toBeNull(); // not killed by the timeout: it exited on its own
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ ok: true, err: 'CorruptDataError' });
  });
});
