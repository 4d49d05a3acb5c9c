// Tile-parallel photo coding on Deno's Web Workers (compressPhotoParallel / decompressPhotoParallel):
// byte-identical to compressPhoto, exact round trips, typed errors for corrupt streams, no leaked workers
// (Deno's sanitizers stay on: a worker left running fails the test).
// Run: npx deno test -A --no-check test/deno/   (after npm run build)
import * as pc from '../../dist/index.js';
import { mosaic as tiled } from '../shared/mosaic.ts';

const root = new URL('../../', import.meta.url);
const fixture = (name: string) => pc.readImage(Deno.readFileSync(new URL(`test/fixtures/${name}`, root)));
const seed = Number(Deno.env.get('PCPRESS_SEED') ?? (Date.now() >>> 0));
const rand = pc.seededRandom(seed);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(`${msg} (seed ${seed})`);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const sources = () => [fixture('chelsea-192x144.png'), fixture('coffee-64x48.png'), fixture('camera-48x40.png')];
/** A w x h image tiled from crops of the fixture photos at random offsets. */
const mosaic = (w: number, h: number, channels: number) => tiled(sources(), w, h, channels, int);

async function rejection(p: Promise<unknown>): Promise<pc.PcpressError> {
  try {
    await p;
  } catch (e) {
    return e as pc.PcpressError;
  }
  throw new Error('the parallel call did not reject');
}

Deno.test(`deno photo parallel: the same bytes as compressPhoto, exact round trip (seed ${seed})`, async () => {
  const model = await pc.loadPhotoModel();
  for (const channels of [3, 1]) {
    const img = mosaic(int(150, 230), int(90, 150), channels);
    const ref = pc.compressPhoto(img, model, { tileSize: 64, fallback: false });
    assert(pc.photoStreamInfo(ref).tiles.length > 4, 'several tiles');
    for (const workers of [2, 3]) {
      const par = await pc.compressPhotoParallel(img, model, { tileSize: 64, fallback: false, workers });
      assert(same(par, ref), `${channels} channels, ${workers} workers: stream differs from compressPhoto`);
    }
    const back = await pc.decompressPhotoParallel(ref, model, { workers: 2 });
    assert(back.width === img.width && back.height === img.height && back.channels === channels, 'shape');
    assert(same(back.data, img.data), 'decoded pixels differ');
  }
});

Deno.test(`deno photo parallel: adaptive streams (0xB9, model mixing and palette indices) decode on Web Workers exactly; a damaged tile is a CorruptDataError (seed ${seed})`, async () => {
  const model = await pc.loadPhotoModel();
  const img = mosaic(int(90, 130), int(60, 90), 3);
  const few = { ...img, data: img.data.map((v) => v & 0xc0) }; // at most 64 colours: palette indices
  for (const [im, mode] of [[img, 'adaptive'], [few, 'palette']] as const) {
    const ref = pc.compressAdaptive(im, model, { tileSize: 32, palette: mode === 'palette' });
    const info = pc.photoStreamInfo(ref);
    assert(info.mode === mode && info.tiles.length > 4, `${mode}: ${info.mode}, ${info.tiles.length} tiles`);
    const back = await pc.decompressPhotoParallel(ref, model, { workers: 3 });
    assert(same(back.data, im.data), `${mode}: the workers' image differs`);
    const bad = ref.slice();
    const t = info.tiles[int(0, info.tiles.length - 1)];
    bad[t.offset + int(0, t.length - 1)] ^= 1 << int(0, 7);
    const err = await rejection(pc.decompressPhotoParallel(bad, model, { workers: 3 }));
    assert(err instanceof pc.CorruptDataError, `${mode}: a flipped payload bit gave ${err?.name}: ${err?.message}`);
  }
});

Deno.test(`deno photo parallel: corrupt and truncated streams give the typed errors of decompressPhoto (seed ${seed})`, async () => {
  const model = await pc.loadPhotoModel();
  const img = mosaic(160, 96, 3);
  const ref = pc.compressPhoto(img, model, { tileSize: 32, fallback: false });
  const info = pc.photoStreamInfo(ref);
  const a = int(1, info.tiles.length - 3), b = int(a + 1, info.tiles.length - 1);
  const bad = ref.slice();
  for (const t of [info.tiles[a], info.tiles[b]]) bad[t.offset + int(0, t.length - 1)] ^= 1 << int(0, 7);
  let s: pc.PcpressError | undefined;
  try {
    pc.decompressPhoto(bad, model);
  } catch (e) {
    s = e as pc.PcpressError;
  }
  assert(s, 'decompressPhoto accepted a corrupt stream');
  const p = await rejection(pc.decompressPhotoParallel(bad, model, { workers: 2 }));
  assert(p instanceof pc.CorruptDataError && p.code === s.code && p.name === s.name, `got ${p.name} ${p.code}: ${p.message}`);
  assert(/tile (\d+)/.exec(p.message)?.[1] === /tile (\d+)/.exec(s.message)?.[1], `reported ${p.message}, sequential ${s.message}`);
  const cut = ref.subarray(0, ref.length - int(1, 20));
  assert((await rejection(pc.decompressPhotoParallel(cut, model, { workers: 2 }))) instanceof pc.TruncatedDataError, 'truncated');
  const missing = new URL('dist/no-such-worker.js', root);
  const w = await rejection(pc.compressPhotoParallel(img, model, { tileSize: 32, fallback: false, workers: 2, workerUrl: missing }));
  assert(w instanceof pc.PhotoWorkerError && w.code === 'photo-worker', `missing worker script: ${w.name} ${w.message}`);
});

Deno.test(`deno photo parallel: a PhotoWorkerPool codes several images and leaks no worker (seed ${seed})`, async () => {
  const model = await pc.loadPhotoModel();
  const pool = await pc.PhotoWorkerPool.create(model, { workers: 2 });
  try {
    for (const channels of [3, 1, 4]) {
      const img = mosaic(int(40, 120), int(40, 90), channels);
      const s = await pool.compress(img, { tileSize: 16, fallback: false });
      assert(same(s, pc.compressPhoto(img, model, { tileSize: 16, fallback: false })), `${channels} channels: pool stream differs`);
      assert(same((await pool.decompress(s)).data, img.data), `${channels} channels: pool round trip`);
      const bad = s.slice();
      bad[bad.length - 1 - int(0, 5)] ^= 0x21;
      assert((await rejection(pool.decompress(bad))) instanceof pc.CorruptDataError, 'corrupt stream on the pool');
    }
  } finally {
    pool.close();
  }
  assert((await rejection(pool.compress(mosaic(20, 20, 1)))) instanceof pc.PhotoWorkerError, 'closed pool');
});
