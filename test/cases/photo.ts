// Photo codec conformance: symbols (prediction + colour transform) against an independent JS reference,
// the coder's integer CDFs against brute-force f64 conditionals of the HCLT, exact round trips of real
// photographs (held-out skimage crops) and of random images of odd shapes, channel counts and tilings,
// byte-exact streams shared by every runtime, and typed errors for corrupt, truncated, wrong-model,
// oversized and fuzzed streams. The coder runs in wasm on either backend.
import coffeePng from '../fixtures/coffee-64x48.png' with { type: 'bytes' };
import cameraPng from '../fixtures/camera-48x40.png' with { type: 'bytes' };
import { check, expectError, type Case, type CaseContext, type Pkg } from './util.js';

type PhotoModel = Awaited<ReturnType<Pkg['loadPhotoModel']>>;
type Image = { width: number; height: number; channels: number; data: Uint8Array };

function fnv(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A random "photo": a smooth random field plus noise, so predictions matter. */
function randomPhoto(width: number, height: number, channels: number, next: () => number, noise = 12): Image {
  const data = new Uint8Array(width * height * channels);
  const fx = 0.05 + next() * 0.2, fy = 0.05 + next() * 0.2;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) {
    const v = 128 + 90 * Math.sin(fx * x + c) * Math.cos(fy * y - c) + (next() - 0.5) * noise;
    data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
  }
  return { width, height, channels, data };
}

// --- independent reference of the symbol computation (MED, subtract-green, zigzag) ------------------
function med(a: number, b: number, c: number): number {
  const mx = Math.max(a, b), mn = Math.min(a, b);
  return c >= mx ? mn : c <= mn ? mx : a + b - c;
}

function refSymbols(img: Image): Uint8Array {
  const { width: w, height: h, channels: C, data } = img;
  const at = (x: number, y: number, c: number) => data[(y * w + x) * C + c];
  const zig = (v: number) => {
    const s = ((v + 128) & 255) - 128;
    return s >= 0 ? 2 * s : -2 * s - 1;
  };
  const out = new Uint8Array(w * h * C);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const e: number[] = [];
    for (let c = 0; c < C; c++) {
      const p = y === 0 ? (x === 0 ? 0 : at(x - 1, y, c)) : x === 0 ? at(x, y - 1, c) : med(at(x - 1, y, c), at(x, y - 1, c), at(x - 1, y - 1, c));
      e.push((at(x, y, c) - p) & 255);
    }
    const d = C >= 3 ? [e[1], (e[0] - e[1]) & 255, (e[2] - e[1]) & 255, ...e.slice(3)] : e;
    for (let c = 0; c < C; c++) out[(c * h + y) * w + x] = zig(d[c]);
  }
  return out;
}

/** Brute-force f64 P(x_0 = c | context) of an HCLT rooted at variable 0 (M^D latent assignments). */
function bruteConditional(p: { pi: Float32Array; transitions: Float32Array; emissions: Float32Array }, parent: Int32Array, M: number,
  ctx: number[]): Float64Array {
  const D = parent.length;
  const out = new Float64Array(256);
  const z = new Int32Array(D);
  for (let a = 0; a < M ** D; a++) {
    let r = a;
    for (let v = 0; v < D; v++) { z[v] = r % M; r = Math.floor(r / M); }
    let w = p.pi[z[0]];
    for (let v = 1; v < D; v++) w *= p.transitions[(v * M + z[parent[v]]) * M + z[v]] * p.emissions[(v * M + z[v]) * 256 + ctx[v]];
    if (w === 0) continue;
    for (let c = 0; c < 256; c++) out[c] += w * p.emissions[z[0] * 256 + c];
  }
  let s = 0;
  for (let c = 0; c < 256; c++) s += out[c];
  for (let c = 0; c < 256; c++) out[c] /= s;
  return out;
}

async function randomModel(pc: Pkg, next: () => number, M = 3, extra = false,
  predictor: 'med' | 'med-bias' = 'med', transform: 'subtract-green' | 'ycocg-r' = 'subtract-green'): Promise<PhotoModel> {
  const v = (plane: number, ox: number, oy: number) => ({ plane, ox, oy });
  // extra: contexts that also read raw samples relative to the prediction (planes 16+) and features (24+)
  return pc.createRandomPhotoModel({
    M, random: next, peak: 2, predictor, transform,
    grayContext: extra ? [v(255, 0, 0), v(255, -1, 0), v(16, 1, -1), v(24, 0, 0)] : [v(255, 0, 0), v(255, -1, 0), v(255, 0, -1), v(255, 1, -1)],
    colorContext: [
      extra ? [v(255, 0, 0), v(17, -1, 0), v(29, 0, 0), v(255, -1, -1)] : [v(255, 0, 0), v(255, -1, 0), v(255, 0, -1), v(255, -1, -1)],
      extra ? [v(255, 0, 0), v(255, -1, 0), v(0, 0, 0), v(32, 0, 0)] : [v(255, 0, 0), v(255, -1, 0), v(0, 0, 0), v(255, 0, -1)],
      [v(255, 0, 0), v(1, 0, 0), v(0, 0, 0), v(255, -1, 0)],
    ],
  });
}

/** MED prediction of channel c at (x, y) with the codec's edge rules. */
function refPred(img: Image, x: number, y: number, c: number): number {
  const at = (xx: number, yy: number) => img.data[(yy * img.width + xx) * img.channels + c];
  return y === 0 ? (x === 0 ? 0 : at(x - 1, y)) : x === 0 ? at(x, y - 1) : med(at(x - 1, y), at(x, y - 1), at(x - 1, y - 1));
}

/** Reference value of context variable (plane, ox, oy) for the symbol of `slot` at (x, y). */
function refContext(img: Image, sym: Uint8Array, slot: number, x: number, y: number, v: { plane: number; ox: number; oy: number }): number {
  const { width: w, height: h, channels: C } = img;
  const zig = (d: number) => {
    const s = ((d + 128) & 255) - 128;
    return s >= 0 ? 2 * s : -2 * s - 1;
  };
  const raw = (xx: number, yy: number, c: number) => img.data[(yy * w + xx) * C + c];
  if (v.plane >= 24 && v.plane < 36) {
    const ch = (v.plane - 24) & 3, kind = (v.plane - 24) >> 2;
    if (x < 1 || y < 1 || ch >= C) return 0;
    const a = raw(x - 1, y, ch), b = raw(x, y - 1, ch), c = raw(x - 1, y - 1, ch);
    if (kind === 0) return zig(Math.max(0, Math.min(255, a + b - c)) - refPred(img, x, y, ch));
    if (kind === 1) return zig(b - a);
    return x + 1 >= w ? 0 : zig(raw(x + 1, y - 1, ch) - b);
  }
  const xx = x + v.ox, yy = y + v.oy;
  if (xx < 0 || yy < 0 || xx >= w) return 0;
  if (v.plane >= 16 && v.plane < 20) return v.plane - 16 >= C ? 0 : zig(raw(xx, yy, v.plane - 16) - refPred(img, x, y, v.plane - 16));
  const pl = v.plane === 255 ? slot : v.plane;
  return sym[(pl * h + yy) * w + xx];
}

/** Flat-colour graphics (a few colours in blocks and stripes), the kind of image a PC photo model codes badly. */
function graphics(width: number, height: number, channels: number, next: () => number, colours = 5): Image {
  const pal = Array.from({ length: colours }, () => Array.from({ length: 4 }, () => Math.floor(next() * 256)));
  const bw = 2 + Math.floor(next() * 12), bh = 2 + Math.floor(next() * 12);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const k = (Math.floor(x / bw) * 3 + Math.floor(y / bh) * 7 + ((x * y) >> 6)) % colours;
    for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = pal[k][c];
  }
  return { width, height, channels, data };
}

/** A zlib stream of `data` in stored (uncompressed) deflate blocks, with its Adler-32: what an ICC profile's bytes look like to a PNG reader. */
function storedZlib(data: Uint8Array): Uint8Array {
  const out: number[] = [0x78, 0x01];
  for (let o = 0; o === 0 || o < data.length; o += 65535) {
    const n = Math.min(65535, data.length - o), last = o + n >= data.length ? 1 : 0;
    out.push(last, n & 255, n >> 8, ~n & 255, (~n >> 8) & 255, ...data.subarray(o, o + n));
  }
  let a = 1, b = 0;
  for (const v of data) (a = (a + v) % 65521), (b = (b + a) % 65521);
  out.push(b >> 8, b & 255, a >> 8, a & 255);
  return Uint8Array.from(out);
}

/** Random colour metadata: an ICC "profile" of random bytes (zlib, as iCCP stores it), sRGB intent, gamma, chromaticities. */
function randomMeta(next: () => number): { iccp: { name: string; profile: Uint8Array }; srgb: number; gama: number; chrm: number[] } {
  const profile = storedZlib(Uint8Array.from({ length: 40 + Math.floor(next() * 400) }, () => Math.floor(next() * 256)));
  return { iccp: { name: `Profile ${Math.floor(next() * 1000)}`, profile }, srgb: Math.floor(next() * 4), gama: 30000 + Math.floor(next() * 40000),
    chrm: Array.from({ length: 8 }, () => Math.floor(next() * 100000)) };
}

function sameMeta(a: unknown, b: unknown): boolean {
  const norm = (m: unknown) => JSON.stringify(m, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v));
  return norm(a) === norm(b);
}

// Byte-exact fixtures: FNV-1a of streams that every runtime must reproduce exactly.
const FIXTURE_RANDOM = 'da297b80';
const FIXTURE_BUNDLED = '84b02444';
const FIXTURE_DEFLATE = '3bad092a';
const FIXTURE_ADAPTIVE_PALETTE = '1e75999d';
const FIXTURE_ADAPTIVE_MODEL = '43509011';
const FIXTURE_ADAPTIVE_CAPPED = '86fa7bdd';

export const photoCases: Case[] = [
  {
    op: 'photo',
    name: 'symbols (MED residuals, subtract-green, zigzag) = JS reference (gray, RGB, RGBA)',
    async run({ pc, rng }: CaseContext) {
      const model = await randomModel(pc, () => rng.next());
      for (const [w, h, c] of [[7, 5, 1], [9, 4, 3], [3, 6, 4], [1, 1, 3]]) {
        const img = randomPhoto(w, h, c, () => rng.next(), 200);
        check(same(pc.photoSymbols(model, img), refSymbols(img)), `symbols of a ${w}x${h}x${c} image differ from the reference`);
      }
    },
  },
  {
    op: 'photo',
    name: 'integer CDFs = brute-force HCLT conditionals given the causal context (symbols, raw samples, features; M=3)',
    async run({ pc, rng }: CaseContext) {
      for (const [w, h, c, extra] of [[5, 4, 1, 0], [4, 3, 3, 0], [5, 4, 1, 1], [5, 3, 3, 1]]) {
        const model = await randomModel(pc, () => rng.next(), 3, extra === 1);
        const parts = pc.parsePhotoModel(model.fileBytes);
        const img = randomPhoto(w, h, c, () => rng.next(), 60);
        const sym = pc.photoSymbols(model, img);
        const cdfs = pc.photoCdfs(model, img);
        const subIdx = c === 1 ? [parts.roles.gray] : parts.roles.color;
        const subs = await Promise.all(subIdx.map((i) => pc.loadModel(parts.subModels[i].pcm)));
        let worst = 0, i = 0;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let s = 0; s < c; s++, i++) {
          const sub = subs[s], spec = parts.subModels[subIdx[s]].spec;
          const ctx = spec.map((v, k) => (k === 0 ? 0 : refContext(img, sym, s, x, y, v)));
          const ref = bruteConditional(sub.parameters(), sub.parent, sub.M, ctx);
          const cdf = cdfs[i];
          check(cdf[0] === 0 && cdf[256] === 1 << 24, `cdf ends: ${cdf[0]}, ${cdf[256]}`);
          let tv = 0;
          for (let k = 0; k < 256; k++) {
            const f = cdf[k + 1] - cdf[k];
            check(f >= 1, `symbol ${k} at (${x}, ${y}) slot ${s} has frequency ${f}`);
            tv += Math.abs(f / 2 ** 24 - ref[k]);
          }
          worst = Math.max(worst, tv);
        }
        // quantisation bound: emissions floored to 2^-16 (<= 2 x 256 x 2^-16 total variation with the
        // remainder), weights to 2^-15 (<= 2 x 2Mp x 2^-15), the +1 floor of every frequency (256 x 2^-24)
        check(worst < 0.0085, `total variation between coder and brute force up to ${worst} (${w}x${h}x${c}${extra ? ', raw and feature contexts' : ''})`);
      }
    },
  },
  {
    op: 'photo',
    name: 'real photographs (held-out crops) round trip with the bundled model; beat PNG; byte-exact stream',
    async run({ pc }: CaseContext) {
      const model = await pc.loadPhotoModel('photo');
      for (const [name, png] of [['coffee-64x48', coffeePng], ['camera-48x40', cameraPng]] as const) {
        const img = pc.readImage(png);
        const bytes = pc.compressPhoto(img, model);
        check(pc.streamKind(bytes) === 'photo', `${name}: the photo model lost to the deflate fallback`);
        const back = pc.decompressPhoto(bytes, model);
        check(back.width === img.width && back.height === img.height && back.channels === img.channels && same(back.data, img.data),
          `${name}: round trip differs`);
        check(bytes.length < png.length, `${name}: ${bytes.length} bytes, not smaller than its PNG (${png.length})`);
        // rANS writes the ideal code length plus its start state and final flush (< 48 bits per tile)
        const ideal = pc.photoIdealBits(img, model).bits;
        const info = pc.photoStreamInfo(bytes);
        const payload = 8 * info.tiles.reduce((s, t) => s + t.length, 0);
        check(payload >= ideal && payload - ideal < 48 * info.tiles.length, `${name}: ${payload} payload bits vs ${ideal.toFixed(0)} ideal`);
        if (name === 'coffee-64x48') {
          check(fnv(bytes) === FIXTURE_BUNDLED, `bundled-model stream hash ${fnv(bytes)}, expected ${FIXTURE_BUNDLED} (a new bundled model needs a new fixture)`);
        }
      }
    },
  },
  {
    op: 'photo',
    name: 'byte-exact fixture (seeded random model and image): identical streams in every runtime',
    async run({ pc }: CaseContext) {
      const r = pc.seededRandom(7);
      const model = await randomModel(pc, r, 4);
      const img = randomPhoto(21, 13, 3, r, 30);
      const bytes = pc.compressPhoto(img, model, { tileSize: 16, fallback: false });
      check(fnv(bytes) === FIXTURE_RANDOM, `stream hash ${fnv(bytes)}, expected ${FIXTURE_RANDOM}`);
      check(same(pc.decompressPhoto(bytes, model).data, img.data), 'fixture round trip');
    },
  },
  {
    op: 'photo',
    name: 'round trips: 1x1 .. 37x29, 1-4 channels, constant and varying alpha, tiles of 16 and 32, MED / MED + bias cancellation, subtract-green / YCoCg-R',
    async run({ pc, rng }: CaseContext) {
      const models = [await randomModel(pc, () => rng.next(), 4), await randomModel(pc, () => rng.next(), 4, true, 'med-bias', 'ycocg-r')];
      const shapes = [[1, 1], [1, 17], [17, 1], [16, 16], [37, 29], [33, 2]];
      for (const model of models) for (const [w, h] of shapes) for (const c of [1, 2, 3, 4]) {
        const img = randomPhoto(w, h, c, () => rng.next(), rng.int(0, 255));
        if ((c === 2 || c === 4) && rng.next() < 0.5) for (let i = c - 1; i < img.data.length; i += c) img.data[i] = 255;
        const tileSize = rng.next() < 0.5 ? 16 : 32;
        const bytes = pc.compressPhoto(img, model, { tileSize, fallback: false });
        const info = pc.photoStreamInfo(bytes);
        check(info.width === w && info.height === h && info.channels === c && info.tiles.length === Math.ceil(w / tileSize) * Math.ceil(h / tileSize),
          `${w}x${h}x${c}: header ${JSON.stringify({ ...info, tiles: info.tiles.length })}`);
        const back = pc.decompressPhoto(bytes, model);
        check(back.channels === c && same(back.data, img.data), `${w}x${h}x${c} (tile ${tileSize}) round trip differs`);
      }
    },
  },
  {
    op: 'photo',
    name: 'packed histograms: a stretched image (every third value) codes as ranks, round trip exact, smaller',
    async run({ pc }: CaseContext) {
      const model = await pc.loadPhotoModel('photo');
      // a 70 x 64 piece of a real photo, mirrored to fill it, every sample floored to a multiple of 3
      const src = pc.readImage(coffeePng);
      const img = { width: 70, height: 64, channels: 3, data: new Uint8Array(70 * 64 * 3) };
      for (let y = 0; y < 64; y++) for (let x = 0; x < 70; x++) for (let c = 0; c < 3; c++) {
        const sx = x < 64 ? x : 127 - x, sy = y < 48 ? y : 95 - y;
        img.data[(y * 70 + x) * 3 + c] = Math.floor(src.data[(sy * 64 + sx) * 3 + c] / 3) * 3;
      }
      const packed = pc.compressPhoto(img, model, { tileSize: 32, fallback: false });
      const plain = pc.compressPhoto(img, model, { tileSize: 32, packHistograms: false, fallback: false });
      const info = pc.photoStreamInfo(packed);
      check(info.palettes?.length === 3 && info.palettes.every((p) => p.every((v) => v % 3 === 0)), 'palettes of every third value');
      check(!pc.photoStreamInfo(plain).palettes, 'packing can be turned off');
      check(same(pc.decompressPhoto(packed, model).data, img.data) && same(pc.decompressPhoto(plain, model).data, img.data), 'round trips');
      check(packed.length < plain.length, `packed ${packed.length} bytes, not smaller than ${plain.length}`);
      // a rank past the end of a palette is corrupt data. The header CRC and the tile checks refuse an edited
      // palette long before that, so make a consistent stream whose channel-0 palette is cut to one value
      const plan = pc.planPhotoTiles(img, { tileSize: 32, fallback: false });
      check(plan.palettes !== undefined, 'the plan packs histograms');
      plan.palettes![0] = plan.palettes![0].subarray(0, 1);
      const seeds = pc.photoTileSeeds(model, plan);
      const bad = pc.finishPhotoStream(model, plan, plan.tiles.map((r, i) => pc.encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h, seeds[i])));
      const err = await expectError(() => pc.decompressPhoto(bad, model), pc.CorruptDataError, 'rank outside its palette');
      check(/outside the 1 values/.test(err.message), `expected the palette check to fire, got: ${err.message}`);
    },
  },
  {
    op: 'photo',
    name: 're-rooting an HCLT at the coded symbol keeps the joint (brute force); training (Chow-Liu and star) codes photos',
    async run({ pc, rng }: CaseContext) {
      const m = await pc.createRandomModel({ width: 5, height: 1, M: 3, random: () => rng.next() });
      const p = m.parameters();
      const r = pc.rerootAtZero(3, m.parent, p.pi, p.transitions);
      check(r.parent[0] === -1 && Array.from(r.parent).filter((x) => x < 0).length === 1, `re-rooted parents ${Array.from(r.parent)}`);
      const joint = (parent: Int32Array, pi: ArrayLike<number>, T: ArrayLike<number>, x: number[]) => {
        let root = 0;
        for (let v = 0; v < 5; v++) if (parent[v] < 0) root = v;
        let total = 0;
        const z = new Int32Array(5);
        for (let a = 0; a < 3 ** 5; a++) {
          let q = a;
          for (let v = 0; v < 5; v++) { z[v] = q % 3; q = Math.floor(q / 3); }
          let pr = pi[z[root]];
          for (let v = 0; v < 5; v++) {
            if (v !== root) pr *= T[(v * 3 + z[parent[v]]) * 3 + z[v]];
            pr *= p.emissions[(v * 3 + z[v]) * 256 + x[v]];
          }
          total += pr;
        }
        return total;
      };
      for (let t = 0; t < 5; t++) {
        const x = Array.from({ length: 5 }, () => rng.int(0, 255));
        const a = joint(m.parent, p.pi, p.transitions, x), b = joint(r.parent, r.pi, r.T, x);
        check(Math.abs(a - b) <= 1e-5 * a, `joint before ${a}, after re-rooting ${b}`);
      }
      const photos = [randomPhoto(48, 40, 3, () => rng.next(), 10), randomPhoto(40, 32, 1, () => rng.next(), 10)];
      for (const structure of ['chow-liu', 'star'] as const) {
        const model = await pc.trainPhotoModel(photos, { M: 4, samples: 1500, epochs: 2, fullBatchEpochs: 1, batchSize: 256, structure });
        if (structure === 'star') {
          const sub = await pc.loadModel(pc.parsePhotoModel(model.fileBytes).subModels[0].pcm);
          check(Array.from(sub.parent).every((q, v) => (v === 0 ? q === -1 : q === 0)), `star tree: ${Array.from(sub.parent)}`);
        }
        for (const img of photos) {
          const bytes = pc.compressPhoto(img, model);
          check(same(pc.decompressPhoto(bytes, model).data, img.data), `${structure}: round trip`);
          check(8 * bytes.length < 6.5 * img.data.length, `${structure}: ${((8 * bytes.length) / img.data.length).toFixed(2)} bits/subpixel on a smooth photo`);
        }
      }
    },
  },
  {
    op: 'photo',
    name: 'typed errors: truncated, corrupt, wrong model, oversized header, fuzzed streams, bad images and models',
    async run({ pc, rng }: CaseContext) {
      const model = await randomModel(pc, () => rng.next(), 4);
      const other = await randomModel(pc, () => rng.next(), 4);
      const img = randomPhoto(40, 24, 3, () => rng.next(), 20);
      const bytes = pc.compressPhoto(img, model, { tileSize: 16, fallback: false });
      await expectError(() => pc.decompressPhoto(bytes, other), pc.WrongModelError, 'wrong model');
      await expectError(() => pc.decompressPhoto(new Uint8Array(0), model), pc.TruncatedDataError, 'empty');
      await expectError(() => pc.decompressPhoto(bytes.subarray(0, 12), model), pc.TruncatedDataError, 'header only');
      await expectError(() => pc.decompressPhoto(bytes.subarray(0, bytes.length - 1), model), pc.TruncatedDataError, 'last byte cut');
      await expectError(() => pc.decompressPhoto(Uint8Array.from([...bytes, 0]), model), pc.CorruptDataError, 'stray byte');
      // a header announcing 65535 x 65535 x 4 is refused before any pixel is allocated
      const huge = Uint8Array.from([0xb7, ...bytes.subarray(1, 5), 0xff, 0xff, 0x03, 0xff, 0xff, 0x03, 4, 8, 0, 1, 1]);
      await expectError(() => pc.decompressPhoto(huge, model), pc.LimitError, 'oversized image');
      await expectError(() => pc.decompressPhoto(huge, model, { maxBytes: 2 ** 40 }), pc.ArgumentError, 'maxBytes beyond its ceiling');
      await expectError(() => pc.decompressPhoto(huge, model, { maxPixels: 0.5 } as never), pc.ArgumentError, 'maxPixels not an integer');
      await expectError(() => pc.decompressPhoto(bytes, model, { maxPixel: 10 } as never), pc.ArgumentError, 'misspelt option');
      await expectError(() => pc.decompressPhoto(bytes, model, { maxPixels: 40 * 24 - 1 }), pc.LimitError, 'one pixel over maxPixels');
      check(same(pc.decompressPhoto(bytes, model, { maxPixels: 40 * 24, maxBytes: 40 * 24 * 3 }).data, img.data), 'limits met exactly');
      const bigTiles = Uint8Array.from([0xb7, ...bytes.subarray(1, 5), 0x80, 0x40, 0x80, 0x40, 1, 4, 0, 1, 1]);
      await expectError(() => pc.decompressPhoto(bigTiles, model), pc.TruncatedDataError, '262144 tiles announced in 16 bytes');
      let slipped = 0;
      for (let i = 0; i < 150; i++) {
        const bad = bytes.slice();
        const k = rng.int(0, 2);
        if (k === 0) bad[rng.int(20, bad.length - 1)] ^= 1 << rng.int(0, 7);
        else if (k === 1) bad[rng.int(0, 19)] = rng.int(0, 255);
        else for (let j = rng.int(5, bad.length - 1); j < bad.length; j++) bad[j] = rng.int(0, 255);
        try {
          const back = pc.decompressPhoto(bad, model);
          if (!same(back.data, img.data)) slipped++;
        } catch (e) {
          check(e instanceof pc.PcpressError, `fuzz: untyped error ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
      // header CRC, a 24-bit check per tile and a CRC-32 of the pixels: a mutation slips past with p < 2^-32
      check(slipped === 0, `${slipped} of 150 mutated streams decoded to a wrong image without an error`);
      await expectError(() => pc.compressPhoto({ width: 4, height: 5, channels: 3, data: new Uint8Array(59) }, model), pc.ArgumentError, 'short data');
      await expectError(() => pc.compressPhoto({ width: 4, height: 5, channels: 5, data: new Uint8Array(100) }, model), pc.ArgumentError, '5 channels');
      await expectError(() => pc.compressPhoto(img, model, { tileSize: 24 }), pc.ArgumentError, 'tile size not a power of two');
      await expectError(() => pc.compressPhoto(img, model, { tileSize: 2048 }), pc.ArgumentError, 'tile size above 1024');
      await expectError(() => pc.compressPhoto(img, {} as PhotoModel), pc.ArgumentError, 'not a model');
      const mf = model.fileBytes.slice();
      mf[rng.int(0, mf.length - 1)] ^= 1 << rng.int(0, 7);
      await expectError(() => pc.photoModelFromBytes(mf), pc.ModelFormatError, 'flipped bit in a photo model file');
      // a context that reads a symbol not decoded yet is refused when the model is used
      const parts = pc.parsePhotoModel(model.fileBytes);
      parts.subModels[parts.roles.gray].spec[1] = { plane: 255, ox: 1, oy: 0 };
      const leaky = await pc.photoModelFromBytes(pc.encodePhotoModel(parts));
      await expectError(() => pc.compressPhoto({ width: 3, height: 3, channels: 1, data: new Uint8Array(9) }, leaky), pc.ModelFormatError, 'non-causal context');
    },
  },
  {
    op: 'photo',
    name: 'adaptive streams (0xB9): round trips (odd sizes, 1-4 channels, constant and varying alpha, palette indices and model mixing, tiles of 16 and 32), smaller than the photo model, byte-exact fixtures, typed errors',
    async run({ pc, rng }: CaseContext) {
      const next = () => rng.next();
      const model = await pc.loadPhotoModel('photo');
      const shapes = [[1, 1], [1, 17], [17, 1], [16, 16], [37, 29], [33, 2]];
      let palettes = 0;
      for (const [w, h] of shapes) for (const c of [1, 2, 3, 4]) {
        const img = rng.next() < 0.5 ? randomPhoto(w, h, c, next, rng.int(0, 255)) : graphics(w, h, c, next, rng.int(1, 12));
        if ((c === 2 || c === 4) && rng.next() < 0.5) for (let i = c - 1; i < img.data.length; i += c) img.data[i] = 255;
        const tileSize = rng.next() < 0.5 ? 16 : 32;
        for (const palette of [true, false]) {
          const bytes = pc.compressAdaptive(img, model, { tileSize, palette });
          check(pc.streamKind(bytes) === 'photo' && bytes[0] === 0xb9, `${w}x${h}x${c}: not an adaptive stream`);
          const info = pc.photoStreamInfo(bytes);
          check(palette || info.mode === 'adaptive', `${w}x${h}x${c}: palette: false made a ${info.mode} stream`);
          if (info.mode === 'palette') palettes++;
          const back = pc.decompressPhoto(bytes, model);
          check(back.width === w && back.height === h && back.channels === c && same(back.data, img.data), `${w}x${h}x${c} (tile ${tileSize}, ${info.mode}) round trip differs`);
        }
      }
      check(palettes > 0, 'no palette stream among the round trips');
      // flat graphics: palette indices, a fraction of the photo model's stream; compressAuto keeps the smallest
      const g = graphics(120, 80, 3, next, 4);
      const a = pc.compressAdaptive(g, model), p = pc.compressPhoto(g, model, { fallback: false });
      check(pc.photoStreamInfo(a).mode === 'palette' && 4 * a.length < p.length, `graphics: adaptive ${a.length} bytes, photo model ${p.length}`);
      check(same(pc.decompressPhoto(a, await randomModel(pc, next, 3)).data, g.data), 'a palette stream needs no particular model');
      const auto = await pc.compressAuto(g, { models: [model] });
      check(auto.bytes.length <= a.length && auto.candidates.some((x) => x.kind === 'adaptive' && x.bytes === a.length && x.palette === true),
        `compressAuto: ${JSON.stringify(auto.candidates)}`);
      check(same((await pc.decompressAuto(auto.bytes, { models: [model] })).data, g.data), 'decompressAuto');
      check(same((await pc.decompressPhotoParallel(a, model, { workers: 1 })).data, g.data), 'decompressPhotoParallel');
      // a real photo crop: mixing the model with the adaptive contexts beats the model alone
      const coffee = pc.readImage(coffeePng);
      const ac = pc.compressAdaptive(coffee, model, { palette: false });
      check(ac.length < pc.compressPhoto(coffee, model, { fallback: false }).length, `coffee: adaptive ${ac.length} bytes`);
      check(same(pc.decompressPhoto(ac, model).data, coffee.data), 'coffee round trip');
      // byte-exact fixtures: the same bytes in every runtime
      const fx = pc.compressAdaptive(graphics(45, 31, 3, pc.seededRandom(13), 7), model, { tileSize: 32 });
      check(pc.photoStreamInfo(fx).mode === 'palette' && fnv(fx) === FIXTURE_ADAPTIVE_PALETTE, `palette stream hash ${fnv(fx)}, expected ${FIXTURE_ADAPTIVE_PALETTE}`);
      check(fnv(ac) === FIXTURE_ADAPTIVE_MODEL, `adaptive stream hash ${fnv(ac)}, expected ${FIXTURE_ADAPTIVE_MODEL}`);
      // a tile of 128 x 128 x 3 = 49,152 samples: past the counter tables' cap (2^20 per context, the same for
      // every tile above 32,768 samples), so the cap is part of the format every runtime reproduces
      // (integer arithmetic only: no Math.sin in a fixture's input)
      const br = pc.seededRandom(29), big = { width: 128, height: 128, channels: 3, data: new Uint8Array(128 * 128 * 3) };
      for (let i = 0; i < big.data.length; i++) {
        const x = (i / 3 | 0) % 128, y = i / 384 | 0, c = i % 3;
        big.data[i] = Math.max(0, Math.min(255, 128 + (((x - 64) * (y - 50)) >> 5) + 30 * c + Math.floor(br() * 9) - 4));
      }
      const bs = pc.compressAdaptive(big, model, { tileSize: 128, palette: false });
      check(fnv(bs) === FIXTURE_ADAPTIVE_CAPPED, `capped-table stream hash ${fnv(bs)}, expected ${FIXTURE_ADAPTIVE_CAPPED}`);
      check(same(pc.decompressPhoto(bs, model).data, big.data), 'capped-table round trip');
      // typed errors
      await expectError(() => pc.decompressPhoto(ac.subarray(0, ac.length - 1), model), pc.PcpressError, 'last byte cut');
      await expectError(() => pc.decompressPhoto(Uint8Array.from([...ac, 0]), model), pc.CorruptDataError, 'stray byte');
      const other = await randomModel(pc, next, 3);
      await expectError(() => pc.decompressPhoto(ac, other), pc.WrongModelError, 'another model');
      await expectError(() => pc.decompressPhoto(ac, model, { maxPixels: 64 * 48 - 1 }), pc.LimitError, 'one pixel over maxPixels');
      await expectError(() => pc.compressAdaptive(g, model, { palette: 'yes' } as never), pc.ArgumentError, 'palette: not a boolean');
      await expectError(() => pc.compressAdaptive(g, model, { fallback: false } as never), pc.ArgumentError, 'unknown option');
      // an index past the end of the palette is corrupt data: a consistent stream whose palette is cut to one colour
      const pf = pc.paletteForm(g)!;
      const plan = { ...pc.planPhotoTiles(g, { fallback: false }), img: pf.img, palettes: undefined, mode: 'palette' as const, palette: pf.palette.subarray(0, 3) };
      const seeds = pc.photoTileSeeds(model, plan);
      const bad = pc.finishPhotoStream(model, plan, plan.tiles.map((r, i) => pc.encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h, seeds[i], 'palette')));
      const err = await expectError(() => pc.decompressPhoto(bad, model), pc.CorruptDataError, 'index outside its palette');
      check(/outside the 1 colours/.test(err.message), `expected the palette check to fire, got: ${err.message}`);
    },
  },
  {
    op: 'photo',
    name: 'deflate fallback (0xB8): exact round trips of graphics, low-bit gray, keyed and varying alpha; smaller than writePng; byte-exact fixture',
    async run({ pc, rng }: CaseContext) {
      const next = () => rng.next();
      const images: Image[] = [
        graphics(rng.int(1, 90), rng.int(1, 70), 3, next), graphics(rng.int(1, 90), rng.int(1, 70), 4, next), graphics(61, 33, 1, next, 2),
        graphics(40, 30, 2, next, 300), randomPhoto(rng.int(1, 50), rng.int(1, 40), rng.int(1, 4), next, 40),
      ];
      // gray at 2 bits (levels 0, 85, 170, 255) and gray + a colour-key alpha (alpha 0 exactly on one value)
      const levels = graphics(37, 23, 1, next, 4);
      for (let i = 0; i < levels.data.length; i++) levels.data[i] = 85 * (levels.data[i] % 4);
      const keyed = graphics(30, 20, 2, next, 6);
      for (let i = 0; i < keyed.data.length; i += 2) keyed.data[i + 1] = keyed.data[i] === keyed.data[0] ? 0 : 255;
      images.push(levels, keyed);
      for (const img of images) {
        const d = pc.compressDeflate(img);
        check(pc.streamKind(d) === 'deflate', 'streamKind of a deflate stream');
        const png = pc.writePng(img);
        // the stream holds what the PNG holds minus its signature, IHDR, IEND and chunk framing, plus ~12 header bytes
        check(d.length <= png.length - 20, `${img.width}x${img.height}x${img.channels}: deflate ${d.length} bytes, writePng ${png.length}`);
        const back = pc.decompressDeflate(d);
        check(back.width === img.width && back.height === img.height && back.channels === img.channels && same(back.data, img.data),
          `${img.width}x${img.height}x${img.channels}: deflate round trip differs`);
        const info = pc.deflateStreamInfo(d);
        check(info.width === img.width && info.height === img.height && info.channels === img.channels, 'deflateStreamInfo');
      }
      // compressPhoto keeps the smaller: flat graphics go to deflate, and decompressPhoto (any model) reads it
      const model = await pc.loadPhotoModel('photo');
      const g = graphics(120, 80, 3, next, 4);
      const pcOnly = pc.compressPhoto(g, model, { fallback: false }), auto = pc.compressPhoto(g, model);
      check(auto.length === Math.min(pcOnly.length, pc.compressDeflate(g).length), `compressPhoto ${auto.length}: not the smaller of ${pcOnly.length} and deflate`);
      check(pc.streamKind(auto) === 'deflate' && auto.length < pcOnly.length, `graphics: photo ${pcOnly.length} bytes, deflate should win (${auto.length})`);
      check(same(pc.decompressPhoto(auto, model).data, g.data), 'decompressPhoto of a deflate stream');
      const pooled = await pc.decompressPhotoParallel(auto, model, { workers: 1 });
      check(same(pooled.data, g.data), 'decompressPhotoParallel of a deflate stream');
      const r = pc.seededRandom(11);
      const fixture = pc.compressDeflate(graphics(45, 31, 3, r, 7));
      check(fnv(fixture) === FIXTURE_DEFLATE, `deflate stream hash ${fnv(fixture)}, expected ${FIXTURE_DEFLATE}`);
    },
  },
  {
    op: 'photo',
    name: 'deflate streams: typed errors for truncation, stray bytes, forged headers, a zlib stream that inflates past its size, limits',
    async run({ pc, rng }: CaseContext) {
      const img = graphics(50, 40, 3, () => rng.next(), 6);
      const d = pc.compressDeflate(img);
      await expectError(() => pc.decompressDeflate(d.subarray(0, d.length - 1)), pc.TruncatedDataError, 'last byte cut');
      await expectError(() => pc.decompressDeflate(Uint8Array.from([...d, 0])), pc.CorruptDataError, 'stray byte');
      await expectError(() => pc.decompressDeflate(d, { maxPixels: 50 * 40 - 1 }), pc.LimitError, 'one pixel over maxPixels');
      await expectError(() => pc.decompressDeflate(d, { maxPixel: 1 } as never), pc.ArgumentError, 'misspelt option');
      await expectError(() => pc.decompressDeflate(Uint8Array.from([0xb3, ...d.subarray(1)])), pc.FormatVersionError, 'format 1');
      // forged: a valid header (its CRC recomputed) over a zlib stream of more rows than declared
      const head = [0xb8, 4, 4, 1, 0, 8, 0];
      // zlib header, one stored deflate block of 100 rows of 1 + 4 zero bytes (4 rows declared), an Adler-32
      const big = Uint8Array.from([0x78, 0x01, 0x01, 500 & 255, 500 >> 8, ~500 & 255, (~500 >> 8) & 255, ...new Uint8Array(500), 0, 0, 0, 0]);
      const lenBytes: number[] = [];
      for (let v = big.length; ; v = Math.floor(v / 128)) { if (v < 128) { lenBytes.push(v); break; } lenBytes.push((v & 127) | 128); }
      const h = Uint8Array.from([...head, ...lenBytes]);
      const forged = new Uint8Array(h.length + 4 + big.length + 4);
      forged.set(h);
      new DataView(forged.buffer).setUint32(h.length, pc.crc32(h), true);
      forged.set(big, h.length + 4);
      const e = await expectError(() => pc.decompressDeflate(forged), pc.CorruptDataError, 'inflates past its size');
      // fflate stops at the end of the buffer (a stored block) or the size check sees the extra byte
      check(/inflates to more|does not inflate/.test(e.message), `expected the size check to fire, got: ${e.message}`);
      let slipped = 0;
      for (let i = 0; i < 200; i++) {
        const bad = d.slice();
        const k = rng.int(0, 2);
        if (k === 0) bad[rng.int(0, bad.length - 1)] ^= 1 << rng.int(0, 7);
        else if (k === 1) bad[rng.int(1, 12)] = rng.int(0, 255);
        else for (let j = rng.int(1, bad.length - 1); j < bad.length; j++) bad[j] = rng.int(0, 255);
        try {
          if (!same(pc.decompressDeflate(bad).data, img.data)) slipped++;
        } catch (err) {
          check(err instanceof pc.PcpressError, `fuzz: untyped error ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
      check(slipped === 0, `${slipped} of 200 mutated deflate streams decoded to a wrong image`);
    },
  },
  {
    op: 'photo',
    name: 'PNG colour metadata (ICC profile, sRGB, gAMA, cHRM): readImage -> photo and deflate streams -> decompress -> writePng keeps it; header CRC covers it',
    async run({ pc, rng }: CaseContext) {
      const next = () => rng.next();
      const model = await pc.loadPhotoModel('photo');
      const meta = randomMeta(next);
      const photo = { ...randomPhoto(30, 20, 3, next, 20), meta };
      const png = pc.writePng(photo);
      const read = pc.readImage(png);
      check(sameMeta(read.meta, meta) && same(read.data, photo.data), 'writePng -> readImage keeps the metadata and pixels');
      for (const stream of [pc.compressPhoto(read, model, { fallback: false }), pc.compressDeflate(read)]) {
        const back = pc.decompressPhoto(stream, model);
        check(same(back.data, photo.data) && sameMeta(back.meta, meta), `${pc.streamKind(stream)} stream: metadata or pixels lost`);
        check(sameMeta(pc.readImage(pc.writePng(back)).meta, meta), `${pc.streamKind(stream)}: metadata lost in writePng`);
        // a changed byte of the metadata block is refused (the header CRC), even with the name's length unchanged
        const i = stream.indexOf(0x50, 8); // 'P' of "Profile"
        const bad = stream.slice();
        bad[i] ^= 0x20;
        await expectError(() => pc.decompressPhoto(bad, model), pc.CorruptDataError, 'metadata byte changed');
      }
      const info = pc.photoStreamInfo(pc.compressPhoto(read, model, { fallback: false }));
      check(sameMeta(info.meta, meta), 'photoStreamInfo reports the metadata');
      const plain = pc.compressPhoto({ ...photo, meta: undefined }, model, { fallback: false });
      check(pc.decompressPhoto(plain, model).meta === undefined, 'no metadata, none invented');
      await expectError(() => pc.compressPhoto({ ...photo, meta: { srgb: 7 } }, model), pc.ArgumentError, 'sRGB intent out of range');
      await expectError(() => pc.compressDeflate({ ...photo, meta: { iccp: { name: '', profile: new Uint8Array(3) } } }), pc.ArgumentError, 'empty profile name');
    },
  },
  {
    op: 'photo',
    name: 'compressAuto keeps the smallest of the MNIST model, the photo model, the adaptive stream and deflate; decompressAuto dispatches by streamKind',
    async run({ pc, rng }: CaseContext) {
      const mnist = await pc.loadModel('mnist'), photo = await pc.loadPhotoModel('photo');
      const models = [mnist, photo];
      const digit = mnist.sample(1, () => rng.next())[0];
      const texture = randomPhoto(28, 28, 1, () => rng.next(), 60); // far from MNIST digits
      const flat = graphics(28, 28, 1, () => rng.next(), 2);
      const kinds = new Set<string>();
      for (const img of [digit, texture, flat]) {
        const r = await pc.compressAuto(img, { models });
        check(r.candidates.length === 4, `${r.candidates.length} candidates for a 28x28 gray image`);
        const sizes = [pc.compressImage(img, mnist).length, pc.compressPhoto(img, photo, { fallback: false }).length, pc.compressAdaptive(img, photo).length,
          pc.compressDeflate(img).length];
        check(r.candidates.every((c, i) => c.bytes === sizes[i]), `candidate sizes ${JSON.stringify(r.candidates)} vs ${sizes}`);
        check(r.bytes.length === Math.min(...sizes) && r.chosen.bytes === r.bytes.length, `kept ${r.bytes.length} bytes of ${sizes}`);
        kinds.add(r.chosen.kind);
        const back = await pc.decompressAuto(r.bytes, { models });
        check(same(back.data, img.data) && back.width === 28 && back.channels === 1, `${r.chosen.kind}: decompressAuto round trip`);
      }
      check(kinds.has('image') && kinds.size >= 2, `chosen kinds ${[...kinds]}: a digit should go to MNIST, a texture or flat image elsewhere`);
      // an RGB image: the MNIST model does not fit, so it is not tried
      const rgb = await pc.compressAuto(randomPhoto(20, 10, 3, () => rng.next()), { models });
      check(rgb.candidates.every((c) => c.kind !== 'image'), 'no whole-image candidate for an RGB image');
      const noAdaptive = await pc.compressAuto(flat, { models, adaptive: false });
      check(noAdaptive.candidates.map((c) => c.kind).join() === 'image,photo,deflate', `adaptive: false: ${JSON.stringify(noAdaptive.candidates)}`);
      await expectError(() => pc.decompressAuto(pc.compressImages([digit, digit], mnist), { models }), pc.ArgumentError, 'multi-image container');
      await expectError(() => pc.decompressAuto(pc.compressPhoto(texture, photo, { fallback: false }), { models: [mnist] }), pc.ArgumentError, 'no photo model');
      await expectError(() => pc.compressAuto(digit, { models: [mnist], fallback: false, tile: 3 } as never), pc.ArgumentError, 'unknown option');
    },
  },
];
