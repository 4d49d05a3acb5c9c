// HCLT training on the runtime's backend: one E-step's expected counts (WGSL on WebGPU, the wasm E-step
// on wasm) against an f64 sum-product reference (itself checked against brute-force enumeration on a
// tiny tree), and trainModel on the runtime's backend against the wasm trainer (same seed).
import { check, checkClose, expectError, type Case, type CaseContext, type Pkg } from './util.js';

type Model = Awaited<ReturnType<Pkg['loadModel']>>;
type Params = ReturnType<Model['parameters']>;
type Image = { width: number; height: number; channels: number; data: Uint8Array };

interface Counts {
  pi: Float64Array;
  transitions: Float64Array;
  emissions: Float64Array;
  logLikelihood: number;
}

const K = 256;

/** f64 EM flows by exact sum-product on the tree (upward messages, then downward posteriors). */
function referenceCounts(model: Model, p: Params, images: Image[]): Counts {
  const { D, M } = model;
  const out: Counts = {
    pi: new Float64Array(M), transitions: new Float64Array(D * M * M), emissions: new Float64Array(D * M * K), logLikelihood: 0,
  };
  const order = model.order, parent = model.parent;
  const root = order[D - 1];
  const u = new Float64Array(D * M), m = new Float64Array(D * M), acc = new Float64Array(D * M), q = new Float64Array(D * M);
  for (const img of images) {
    const x = img.data;
    acc.fill(1);
    let logScale = 0;
    for (let t = 0; t < D; t++) {
      const v = order[t];
      let s = 0;
      for (let k = 0; k < M; k++) s += u[v * M + k] = acc[v * M + k] * p.emissions[(v * M + k) * K + x[v]];
      for (let k = 0; k < M; k++) u[v * M + k] /= s;
      logScale += Math.log(s);
      if (v === root) break;
      const pv = parent[v];
      for (let j = 0; j < M; j++) {
        let mj = 0;
        for (let k = 0; k < M; k++) mj += p.transitions[(v * M + j) * M + k] * u[v * M + k];
        m[v * M + j] = mj;
        acc[pv * M + j] *= mj;
      }
    }
    let z = 0;
    for (let k = 0; k < M; k++) z += q[root * M + k] = p.pi[k] * u[root * M + k];
    out.logLikelihood += logScale + Math.log(z);
    for (let k = 0; k < M; k++) {
      q[root * M + k] /= z;
      out.pi[k] += q[root * M + k];
      out.emissions[(root * M + k) * K + x[root]] += q[root * M + k];
    }
    for (let t = D - 2; t >= 0; t--) {
      const v = order[t], pv = parent[v];
      for (let k = 0; k < M; k++) q[v * M + k] = 0;
      for (let j = 0; j < M; j++) {
        const r = q[pv * M + j] / m[v * M + j];
        for (let k = 0; k < M; k++) {
          const f = r * p.transitions[(v * M + j) * M + k] * u[v * M + k];
          out.transitions[(v * M + j) * M + k] += f;
          q[v * M + k] += f;
        }
      }
      for (let k = 0; k < M; k++) out.emissions[(v * M + k) * K + x[v]] += q[v * M + k];
    }
  }
  return out;
}

/** f64 EM flows by enumerating every latent assignment (M^D terms per image). */
function bruteCounts(model: Model, p: Params, images: Image[]): Counts {
  const { D, M } = model;
  const out: Counts = {
    pi: new Float64Array(M), transitions: new Float64Array(D * M * M), emissions: new Float64Array(D * M * K), logLikelihood: 0,
  };
  const z = new Int32Array(D);
  const joint = new Float64Array(M ** D);
  for (const img of images) {
    let total = 0;
    for (let a = 0; a < joint.length; a++) {
      let r = a;
      for (let v = 0; v < D; v++) { z[v] = r % M; r = Math.floor(r / M); }
      let prob = 1;
      for (let v = 0; v < D; v++) {
        const pv = model.parent[v];
        prob *= pv < 0 ? p.pi[z[v]] : p.transitions[(v * M + z[pv]) * M + z[v]];
        prob *= p.emissions[(v * M + z[v]) * K + img.data[v]];
      }
      joint[a] = prob;
      total += prob;
    }
    out.logLikelihood += Math.log(total);
    for (let a = 0; a < joint.length; a++) {
      let r = a;
      for (let v = 0; v < D; v++) { z[v] = r % M; r = Math.floor(r / M); }
      const w = joint[a] / total;
      for (let v = 0; v < D; v++) {
        const pv = model.parent[v];
        if (pv < 0) out.pi[z[v]] += w;
        else out.transitions[(v * M + z[pv]) * M + z[v]] += w;
        out.emissions[(v * M + z[v]) * K + img.data[v]] += w;
      }
    }
  }
  return out;
}

function compare(got: { pi: Float32Array; transitions: Float32Array; emissions: Float32Array; logLikelihood: number },
  ref: Counts, tol: number, what: string): void {
  checkClose(got.pi, ref.pi, tol, `${what}: prior counts`);
  checkClose(got.transitions, ref.transitions, tol, `${what}: transition counts`);
  checkClose(got.emissions, ref.emissions, tol, `${what}: emission counts`);
  // every large count individually, not only the norm
  for (let i = 0; i < ref.emissions.length; i++) {
    if (ref.emissions[i] > 0.5) {
      const e = Math.abs(got.emissions[i] - ref.emissions[i]) / ref.emissions[i];
      check(e < 10 * tol, `${what}: emission count ${i} is ${got.emissions[i]}, reference ${ref.emissions[i]}`);
    }
  }
  const lle = Math.abs(got.logLikelihood - ref.logLikelihood) / Math.abs(ref.logLikelihood);
  check(lle < tol, `${what}: log-likelihood ${got.logLikelihood} vs reference ${ref.logLikelihood}`);
}

function randomImages(model: Model, n: number, next: () => number): Image[] {
  return Array.from({ length: n }, () => ({
    width: model.width, height: model.height, channels: model.channels,
    data: Uint8Array.from({ length: model.D }, () => Math.floor(next() * 256)),
  }));
}

function bpd(model: Model, images: Image[]): number {
  let ll = 0;
  for (const im of images) ll += model.logLikelihood(im);
  return -ll / (images.length * model.D * Math.LN2);
}

export const pcTrainCases: Case[] = [
  {
    op: 'pc-train',
    name: 'E-step counts = brute-force enumeration (2x2 pixels, M=3, 5 images)',
    async run({ pc, rt, rng }: CaseContext) {
      const model = await pc.createRandomModel({ width: 2, height: 2, M: 3, random: () => rng.next(), peak: 2 });
      const p = model.parameters();
      const images = [...model.sample(3, () => rng.next()), ...randomImages(model, 2, () => rng.next())];
      const brute = bruteCounts(model, p, images);
      // the f64 reference used below is exact
      const ref = referenceCounts(model, p, images);
      compare({ pi: Float32Array.from(ref.pi), transitions: Float32Array.from(ref.transitions),
        emissions: Float32Array.from(ref.emissions), logLikelihood: ref.logLikelihood }, brute, 1e-6, 'f64 reference');
      compare(await pc.expectedCounts(rt, model, images), brute, 1e-4, `${rt.backend} E-step`);
    },
  },
  {
    op: 'pc-train',
    name: 'E-step counts = f64 sum-product (6x6 pixels, M=4, 64 images; 3x5x2, M=5, 37 images; 3x2, M=70, 100 images)',
    async run({ pc, rt, rng }: CaseContext) {
      for (const [width, height, channels, M, n] of [[6, 6, 1, 4, 64], [3, 5, 2, 5, 37], [3, 2, 1, 70, 100]]) {
        const model = await pc.createRandomModel({ width, height, channels, M, random: () => rng.next(), peak: 3 });
        const p = model.parameters();
        const images = [...model.sample(n - 4, () => rng.next()), ...randomImages(model, 4, () => rng.next())];
        const got = await pc.expectedCounts(rt, model, images);
        check(got.transitions.length === model.D * M * M && got.emissions.length === model.D * M * 256, 'count array sizes');
        compare(got, referenceCounts(model, p, images), 1e-4, `${rt.backend} E-step ${width}x${height}x${channels} M=${M}`);
      }
    },
  },
  {
    op: 'pc-train',
    name: "trainModel on the runtime's backend ~ wasm trainer (6x6, M=4, 2 epochs, same seed)",
    async run({ pc, rt, rng }: CaseContext) {
      // four 6x6 prototypes (values 0, 128, 255) plus noise in -3..3: a few bits per pixel to learn
      const protos = Array.from({ length: 4 }, () => Array.from({ length: 36 }, () => [0, 128, 255][rng.int(0, 2)]));
      const draw = (n: number): Image[] => Array.from({ length: n }, () => {
        const pr = protos[rng.int(0, 3)];
        return { width: 6, height: 6, channels: 1, data: Uint8Array.from(pr, (x) => Math.min(255, Math.max(0, x + rng.int(-3, 3)))) };
      });
      const train = draw(256), test = draw(128);
      const opts = { M: 4, epochs: 2, fullBatchEpochs: 1, batchSize: 64, seed: 1 + rng.int(0, 1000), compress: false };
      const phases: string[] = [];
      const viaRt = await pc.trainModel(train, { ...opts, runtime: rt, validation: test.slice(0, 16), onProgress: (q) => phases.push(q.phase) });
      const viaWasm = await pc.trainModel(train, opts);
      check(phases.join() === 'structure,minibatch,minibatch,fullbatch', `progress phases ${phases.join()}`);
      check(viaRt.parent.join() === viaWasm.parent.join(), 'same learned tree');
      const a = bpd(viaRt, test), b = bpd(viaWasm, test);
      check(Number.isFinite(a) && a < 4, `${rt.backend}-trained model: ${a} bpd (the data has about 2.9)`);
      check(Math.abs(a - b) / b < 0.01, `${rt.backend}-trained model ${a} bpd vs wasm-trained ${b} bpd`);
      // the stored model codes exactly (its tables come from wasm)
      const img = test[0];
      const back = pc.decompressImage(pc.compressImage(img, viaRt), viaRt);
      check(back.data.every((x, i) => x === img.data[i]), 'round trip with the trained model');
      // typed errors: something that is not a runtime, images of another shape
      await expectError(() => pc.trainModel(train, { ...opts, runtime: {} as never }), pc.ArgumentError, 'trainModel with a non-runtime');
      await expectError(() => pc.expectedCounts(rt, viaRt, [{ width: 5, height: 6, channels: 1, data: new Uint8Array(30) }]),
        pc.ShapeError, 'expectedCounts with 5x6 images');
    },
  },
];
