// Probabilistic-circuit image codec conformance: exact conditionals against brute-force marginals, integer
// tables, exact round trips (random models, the bundled MNIST model), byte-exact fixtures shared by every
// runtime, and typed errors for corrupt, truncated, wrong-model and random streams.
// The codec always runs in wasm, so these cases check the same thing on either backend.
import { check, expectError, type Case, type CaseContext, type Pkg } from './util.js';
import { seededRandom } from '../../src/random.js';

type Model = Awaited<ReturnType<Pkg['loadModel']>>;
type Image = { width: number; height: number; channels: number; data: Uint8Array };

/** FNV-1a 32 of bytes, as 8 hex digits. */
function fnv(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

function randomImage(m: { width: number; height: number; channels: number }, next: () => number): Image {
  const D = m.width * m.height * m.channels;
  return { width: m.width, height: m.height, channels: m.channels, data: Uint8Array.from({ length: D }, () => Math.floor(next() * 256)) };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Brute-force P(x_S) in f64: sums the joint over every latent assignment (M^D terms); pixels outside S are
 * marginalised by leaving their emission out (each emission row sums to one).
 */
function bruteMarginal(model: Model, p: ReturnType<Model['parameters']>, x: Uint8Array, S: Set<number>): number {
  const { D, M } = model;
  const z = new Int32Array(D);
  let total = 0;
  for (let a = 0; a < M ** D; a++) {
    let r = a;
    for (let v = 0; v < D; v++) {
      z[v] = r % M;
      r = Math.floor(r / M);
    }
    let prob = 1;
    for (let v = 0; v < D; v++) {
      const par = model.parent[v];
      prob *= par < 0 ? p.pi[z[v]] : p.transitions[(v * M + z[par]) * M + z[v]];
      if (S.has(v)) prob *= p.emissions[(v * M + z[v]) * 256 + x[v]];
    }
    total += prob;
  }
  return total;
}

function bruteCase(width: number, height: number, channels: number, M: number, peak: number): Case {
  return {
    op: 'pc',
    name: `conditionals = brute-force marginal ratios (${width}x${height}x${channels}, M=${M})`,
    async run({ pc, rng }: CaseContext) {
      const model = await pc.createRandomModel({ width, height, channels, M, random: () => rng.next(), peak });
      const params = model.parameters();
      const img = randomImage(model, () => rng.next());
      const cond = model.conditionals(img) as Float32Array;
      const S = new Set<number>();
      let worst = 0;
      for (let t = 0; t < model.D; t++) {
        const v = model.order[t];
        const base = bruteMarginal(model, params, img.data, S);
        S.add(v);
        const x = img.data.slice();
        // every value for the first pixels, a spread of values (always incl. the true one) for the rest
        const values = t < 2 ? Array.from({ length: 256 }, (_, c) => c) : [0, 1, 128, 255, img.data[v], rng.int(0, 255)];
        let sum = 0;
        for (let c = 0; c < 256; c++) sum += cond[t * 256 + c];
        check(Math.abs(sum - 1) < 1e-5, `position ${t}: conditional sums to ${sum}`);
        for (const c of values) {
          x[v] = c;
          const ref = bruteMarginal(model, params, x, S) / base;
          const err = Math.abs(cond[t * 256 + c] - ref) / ref;
          worst = Math.max(worst, err);
          check(err < 1e-4, `position ${t} (pixel ${v}) value ${c}: wasm ${cond[t * 256 + c]} vs brute force ${ref}`);
        }
      }
      // and the log-likelihood is the sum of the log conditionals
      let ll = 0;
      for (let t = 0; t < model.D; t++) ll += Math.log(cond[t * 256 + img.data[model.order[t]]]);
      const full = Math.log(bruteMarginal(model, params, img.data, new Set(model.order)));
      check(Math.abs(ll - full) < 1e-4 * Math.abs(full), `sum of log conditionals ${ll} vs brute-force log P(x) ${full}`);
      check(Math.abs(model.logLikelihood(img) - full) < 1e-4 * Math.abs(full), `logLikelihood ${model.logLikelihood(img)} vs ${full}`);
    },
  };
}

const rt = (pc: Pkg, model: Model, images: Image[], what: string): number => {
  let bytes = 0;
  for (let i = 0; i < images.length; i++) {
    const f = pc.compressImage(images[i], model);
    bytes += f.length;
    const back = pc.decompressImage(f, model);
    check(back.width === images[i].width && back.height === images[i].height && back.channels === images[i].channels, `${what} ${i}: shape changed`);
    check(same(back.data, images[i].data), `${what} ${i}: round trip differs`);
  }
  return bytes;
};

// Byte-exact fixtures: the FNV-1a hash of streams made from fixed seeds. Every runtime must produce these
// exact bytes (coding tables come from wasm arithmetic only), so a Node-made file decodes everywhere.
const FIXTURE_RANDOM = { single: '8222c26c', multi: '7a6e6077' };
const FIXTURE_MNIST = { model: '37a009aa', single: 'f59676d1', multi: '8189fb63' };

const seeded = seededRandom;

export const pcCases: Case[] = [
  bruteCase(3, 2, 1, 3, 1),
  bruteCase(2, 2, 2, 2, 4),
  bruteCase(7, 1, 1, 2, 2),
  {
    op: 'pc',
    name: 'integer tables: every frequency >= 1, total exactly 2^24, close to the conditional',
    async run({ pc, rng }) {
      const model = await pc.createRandomModel({ width: 4, height: 3, M: 5, random: () => rng.next(), peak: 4 });
      const img = randomImage(model, () => rng.next());
      const freq = model.conditionals(img, true) as Uint32Array;
      const cond = model.conditionals(img) as Float32Array;
      for (let t = 0; t < model.D; t++) {
        let s = 0;
        for (let c = 0; c < 256; c++) {
          const f = freq[t * 256 + c];
          check(f >= 1, `position ${t} value ${c}: frequency ${f}`);
          s += f;
          const p = f / 2 ** 24;
          check(Math.abs(p - cond[t * 256 + c]) <= 2e-5, `position ${t} value ${c}: table ${p} vs ${cond[t * 256 + c]}`);
        }
        check(s === 2 ** 24, `position ${t}: frequencies sum to ${s}`);
      }
      // ideal code length = sum of -log2(freq / 2^24) of the coded values
      let bits = 0;
      for (let t = 0; t < model.D; t++) bits += 24 - Math.log2(freq[t * 256 + img.data[model.order[t]]]);
      check(Math.abs(model.idealBits(img) - bits) < 1e-6 * bits, `idealBits ${model.idealBits(img)} vs ${bits}`);
      // on an image drawn from the model, the tables cost about the model's own -log2 P(x)
      // (random images may be cheaper: rare values are clamped up to frequency 1 / 2^24)
      const typical = model.sample(1, () => rng.next())[0];
      const ideal = model.idealBits(typical), exact = -model.logLikelihood(typical) / Math.LN2;
      check(Math.abs(ideal - exact) < 0.01 * model.D, `ideal ${ideal} bits vs model ${exact} bits`);
    },
  },
  {
    op: 'pc',
    name: 'round trip: random models, random and sampled images, one file and many',
    async run({ pc, rng }) {
      const w = rng.int(1, 9), h = rng.int(1, 9), c = rng.int(1, 3), M = rng.int(1, 9);
      const model = await pc.createRandomModel({ width: w, height: h, channels: c, M, random: () => rng.next(), peak: rng.int(1, 6) });
      const images = [...model.sample(6, () => rng.next()), randomImage(model, () => rng.next()),
        { width: w, height: h, channels: c, data: new Uint8Array(w * h * c).fill(255) },
        { width: w, height: h, channels: c, data: new Uint8Array(w * h * c) }];
      rt(pc, model, images, `${w}x${h}x${c} M=${M} image`);
      const many = pc.compressImages(images, model, { chunk: rng.int(1, 4) });
      const back = pc.decompressImages(many, model);
      check(back.length === images.length, `many: ${back.length} images back of ${images.length}`);
      back.forEach((b, i) => check(same(b.data, images[i].data), `many: image ${i} differs`));
      check(pc.decompressImages(pc.compressImages([], model), model).length === 0, 'empty container');
    },
  },
  {
    op: 'pc',
    name: 'byte-exact fixture (random model): identical streams in every runtime',
    async run({ pc }) {
      const next = seeded(20260601);
      const model = await pc.createRandomModel({ width: 6, height: 5, channels: 1, M: 7, random: next, peak: 3 });
      const images = [...model.sample(3, next), randomImage(model, next)];
      const single = pc.compressImage(images[0], model);
      const multi = pc.compressImages(images, model, { chunk: 3 });
      check(same(pc.decompressImage(single, model).data, images[0].data), 'fixture round trip');
      check(fnv(single) === FIXTURE_RANDOM.single && fnv(multi) === FIXTURE_RANDOM.multi,
        `stream hashes ${fnv(single)}/${fnv(multi)}, expected ${FIXTURE_RANDOM.single}/${FIXTURE_RANDOM.multi} (model ${model.id})`);
    },
  },
  {
    op: 'pc',
    name: 'bundled MNIST model: round trip of sampled digits and extreme images, byte-exact fixture',
    async run({ pc, rng }) {
      const model = await pc.loadModel('mnist');
      check(model.width === 28 && model.height === 28 && model.channels === 1, 'mnist model shape');
      const digits = model.sample(6, () => rng.next());
      const extreme = [{ width: 28, height: 28, channels: 1, data: new Uint8Array(784).fill(255) }, randomImage(model, () => rng.next())];
      const bytes = rt(pc, model, digits, 'sampled digit');
      rt(pc, model, extreme, 'extreme image');
      // the file size follows the model: the sampled digits cost about their own -log2 P(x)
      let ideal = 0;
      for (const d of digits) ideal += -model.logLikelihood(d) / Math.LN2;
      check(8 * bytes < ideal + digits.length * 48, `files ${8 * bytes} bits vs model ${ideal.toFixed(0)} bits`);
      const next = seeded(7);
      const fixed = model.sample(4, next);
      const single = pc.compressImage(fixed[0], model), multi = pc.compressImages(fixed, model);
      const got = { model: model.id, single: fnv(single), multi: fnv(multi) };
      check(JSON.stringify(got) === JSON.stringify(FIXTURE_MNIST),
        `got ${JSON.stringify(got)}, expected ${JSON.stringify(FIXTURE_MNIST)} (a new bundled model needs a new fixture)`);
    },
  },
  {
    op: 'pc',
    name: 'typed errors: corrupt, truncated, wrong model, random bytes, bad shapes, bad model files',
    async run({ pc, rng }) {
      const model = await pc.createRandomModel({ width: 5, height: 4, M: 4, random: () => rng.next(), peak: 2 });
      const other = await pc.createRandomModel({ width: 5, height: 4, M: 4, random: () => rng.next(), peak: 2 });
      const img = model.sample(1, () => rng.next())[0];
      const file = pc.compressImage(img, model);
      await expectError(() => pc.decompressImage(file, other),
        other.hash % 256 === model.hash % 256 ? pc.CorruptDataError : pc.WrongModelError, 'wrong model');
      await expectError(() => pc.decompressImages(pc.compressImages([img, img], model), other), pc.WrongModelError, 'wrong model (many)');
      await expectError(() => pc.decompressImage(new Uint8Array(0), model), pc.TruncatedDataError, 'empty');
      await expectError(() => pc.decompressImage(file.subarray(0, 2), model), pc.TruncatedDataError, 'header only');
      let failures = 0;
      for (let i = 0; i < 100; i++) {
        const bad = file.slice(0, i % 3 === 0 ? rng.int(3, file.length - 1) : file.length);
        if (i % 3 !== 0) bad[rng.int(2, bad.length - 1)] ^= 1 << rng.int(0, 7);
        try {
          pc.decompressImage(bad, model);
          failures++; // accepted: possible with probability ~2^-24 per stream (the size of the integrity check)
        } catch (e) {
          check(e instanceof pc.CorruptDataError, `mutation ${i}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
        }
      }
      check(failures === 0, `${failures} of 100 corrupt streams decoded without an error`);
      for (let i = 0; i < 50; i++) {
        const junk = Uint8Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 255));
        if (i % 2) junk[0] = i % 4 === 3 ? 0xb1 : 0xb4;
        if (i % 4 === 1) junk[1] = model.hash & 0xff;
        try {
          pc.decompressImage(junk, model);
          failures++;
        } catch (e) {
          check(e instanceof pc.PcpressError, `random bytes: ${(e as Error)?.name}: ${(e as Error)?.message}`);
        }
      }
      check(failures === 0, `${failures} random inputs decoded without an error`);
      await expectError(() => pc.compressImage({ width: 4, height: 5, channels: 1, data: new Uint8Array(20) }, model), pc.ShapeError, 'transposed shape');
      await expectError(() => pc.compressImage({ width: 5, height: 4, channels: 1, data: new Uint8Array(19) }, model), pc.ShapeError, 'short data');
      await expectError(() => pc.compressImage({ width: 5, height: 4, channels: 1, data: [1, 2] } as unknown as Image, model), pc.ArgumentError, 'not bytes');
      const mf = model.fileBytes.slice();
      mf[rng.int(0, mf.length - 1)] ^= 1 << rng.int(0, 7);
      await expectError(() => pc.loadModel(mf), pc.ModelFormatError, 'flipped bit in a model file');
      await expectError(() => pc.loadModel(model.fileBytes.subarray(0, rng.int(0, model.fileBytes.length - 1))), pc.ModelFormatError, 'truncated model file');
      await expectError(() => pc.loadModel('cifar' as 'mnist'), pc.ArgumentError, 'unknown model name');
    },
  },
  {
    op: 'pc',
    name: 'PNG and PGM files round trip through readImage',
    async run({ pc, rng }) {
      const img = { width: rng.int(1, 30), height: rng.int(1, 30), channels: 1, data: new Uint8Array(0) };
      img.data = Uint8Array.from({ length: img.width * img.height }, () => rng.int(0, 255));
      for (const bytes of [pc.writePng(img), pc.writePgm(img)]) {
        const back = pc.readImage(bytes);
        check(back.width === img.width && back.height === img.height && back.channels === 1 && same(back.data, img.data), 'image file round trip');
      }
      const rgb = { width: 3, height: 2, channels: 3, data: Uint8Array.from({ length: 18 }, () => rng.int(0, 255)) };
      check(same(pc.readImage(pc.writePng(rgb)).data, rgb.data), 'RGB PNG round trip');
      const ascii = new TextEncoder().encode('P2\n# comment\n2 2\n255\n0 1\n254 255\n');
      check(same(pc.readImage(ascii).data, Uint8Array.from([0, 1, 254, 255])), 'ASCII PGM');
      await expectError(() => pc.readImage(new Uint8Array([1, 2, 3, 4])), pc.ImageFormatError, 'not an image');
      await expectError(() => pc.readImage(pc.writePng(img).subarray(0, 30)), pc.ImageFormatError, 'truncated PNG');
    },
  },
];
