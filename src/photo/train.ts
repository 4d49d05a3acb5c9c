// Training a photo model: the symbols of training photos are computed by the same wasm code that codes
// them, each pixel gives one sample (its symbol and its context), and one HCLT per slot is learned with
// the MNIST codec's trainer (Chow-Liu structure + EM, in wasm). The learned tree is then re-rooted at the
// coded symbol (an exact reparametrisation: same joint distribution) so that coding needs one upward pass.
import { MAX_MODEL_PARAMETERS_CEILING, hcltParameters } from '../pc/limits.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { encodeModelFile, pcInstance, postOrder, walloc } from '../pc/model.js';
import type { PcImage } from '../pc/model.js';
import { initParameters, seededRandom, trainModel, type TrainProgress } from '../pc/train.js';
import {
  encodePhotoModel, palloc, photoInstance, photoModelFromBytes, PREDICTORS, TRANSFORMS, type ColorTransform, type ContextVar,
  type PhotoModel, type PhotoSubModel, type PhotoWasmExports, type Predictor,
} from './model.js';

const SELF = 0xff;
const v = (plane: number, ox: number, oy: number): ContextVar => ({ plane, ox, oy });

/**
 * Default context of a slot. 'residual': same-slot symbols of the causal neighbours, plus earlier slots of
 * the same pixel. 'shape': for the first slot, the raw neighbours relative to the prediction (the local
 * shape of the image around the predicted value) and the two nearest residuals; other slots as 'residual'.
 * `channels`: channels of the images the slot codes (the shape context reads green in colour images).
 */
export function defaultContext(slot: number, kind: 'residual' | 'shape' | 'wide' | 'features' | 'features2' = 'residual', channels = 3): ContextVar[] {
  if (kind === 'shape' && slot === 0) {
    const raw = 16 + (channels >= 3 ? 1 : 0);
    return [v(SELF, 0, 0), v(raw, -1, 0), v(raw, 0, -1), v(raw, -1, -1), v(raw, 1, -1), v(raw, -2, 0), v(raw, 0, -2),
      v(SELF, -1, 0), v(SELF, 0, -1)];
  }
  const own = [v(SELF, 0, 0), v(SELF, -1, 0), v(SELF, 0, -1), v(SELF, -1, -1), v(SELF, 1, -1), v(SELF, -2, 0), v(SELF, 0, -2)];
  if (kind === 'wide') own.push(v(SELF, 1, -2), v(SELF, -1, -2), v(SELF, 2, -1), v(SELF, -2, -1));
  if (kind === 'features' || kind === 'features2') {
    // raw channel behind this slot (subtract-green order: G, R, B; gray: 0)
    const ch = channels >= 3 ? [1, 0, 2, 3][slot] : slot;
    own.push(v(24 + ch, 0, 0));
    if (kind === 'features2') own.push(v(28 + ch, 0, 0), v(32 + ch, 0, 0));
  }
  for (let p = 0; p < slot; p++) own.push(v(p, 0, 0));
  if (kind === 'wide' && slot > 0) own.push(v(0, -1, 0), v(0, 0, -1));
  return own;
}

/** Options of trainPhotoModel. */
export interface PhotoTrainOptions {
  /** Latent states per variable (default 32). */
  M?: number;
  /** Predictor (default 'med'). */
  predictor?: Predictor;
  /** Colour transform on residuals (default 'ycocg-r'). */
  transform?: ColorTransform;
  /** Context of each colour slot (default defaultContext). */
  colorContext?: ContextVar[][];
  /** Kind of default context (default 'residual'). */
  context?: 'residual' | 'shape' | 'wide' | 'features' | 'features2';
  /** Context of gray images / alpha (default defaultContext(0)). */
  grayContext?: ContextVar[];
  /** Training samples (pixels) per sub-model, drawn at random from all training pixels (default 300000). */
  samples?: number;
  /** Mini-batch EM epochs (default 6). */
  epochs?: number;
  /** Full-batch EM epochs (default 1). */
  fullBatchEpochs?: number;
  /** Mini-batch size (default 1024). */
  batchSize?: number;
  /** EM pseudocount (default 0.1). */
  alpha?: number;
  /** Seed (default 1). */
  seed?: number;
  /** Tree: 'chow-liu' (learned, then re-rooted at the coded symbol; default) or 'star' (every context
   * variable a child of the coded symbol: the conditional is M lookups per variable). */
  structure?: 'chow-liu' | 'star';
  /** Progress callback: sub-model name and the trainer's progress. */
  onProgress?: (sub: string, p: TrainProgress) => void;
}

/** Samples (u8[n][D]) of slot `slot` from images with `channels` channels. */
function gather(ex: PhotoWasmExports, images: PcImage[], slot: number, channels: number, spec: ContextVar[], pred: number,
  xf: number, want: number, rand: () => number): Uint8Array {
  const D = spec.length;
  const usable = images.filter((im) => im.channels === channels || (channels === 1 && im.channels >= 3));
  const total = usable.reduce((s, im) => s + im.width * im.height, 0);
  if (!total) return new Uint8Array(0);
  const keep = Math.min(1, want / total);
  const parts: Uint8Array[] = [];
  // model slot 7 holds the spec (a star tree; parameters unused)
  const par = palloc(ex, 4 * D), ord = palloc(ex, 4 * D), sp = palloc(ex, 12 * D);
  const pv = new Int32Array(ex.memory.buffer, par, D), ov = new Int32Array(ex.memory.buffer, ord, D);
  for (let i = 0; i < D; i++) { pv[i] = i === 0 ? -1 : 0; ov[i] = i === D - 1 ? 0 : i + 1; }
  const spv = new Int32Array(ex.memory.buffer, sp, 3 * D);
  spec.forEach((c, i) => { spv[3 * i] = c.plane === SELF ? slot : c.plane; spv[3 * i + 1] = c.ox; spv[3 * i + 2] = c.oy; });
  if (D === 1) ov[0] = 0;
  if (ex.phInit(7, D, 1, par, ord, sp) !== 0) throw new Error('phInit rejected a star tree (bug)');
  for (const im0 of usable) {
    // gray samples from colour photos: their green channel
    const im = im0.channels === channels ? im0 : { width: im0.width, height: im0.height, channels: 1,
      data: im0.data.filter((_, i) => i % im0.channels === 1) };
    const n = im.width * im.height;
    const ip = palloc(ex, im.data.length);
    new Uint8Array(ex.memory.buffer, ip, im.data.length).set(im.data);
    ex.phSymbols(ip, im.width, im.height, im.channels, pred, xf);
    ex.free(ip);
    const op = palloc(ex, n * D);
    ex.phGather(7, slot, op);
    const all = new Uint8Array(ex.memory.buffer, op, n * D);
    const picked: number[] = [];
    for (let i = 0; i < n; i++) if (rand() < keep) picked.push(i);
    const out = new Uint8Array(picked.length * D);
    picked.forEach((p, j) => out.set(all.subarray(p * D, p * D + D), j * D));
    ex.free(op);
    parts.push(out);
  }
  const n = parts.reduce((s, p) => s + p.length, 0);
  const data = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { data.set(p, o); o += p.length; }
  return data;
}

/**
 * Re-roots an HCLT at variable 0 (exact: the joint distribution is unchanged). Reversed edges get
 * T'[k][j] = mu_p[j] T_v[j][k] / mu_v[k] with mu the latent marginals; the new prior is mu_0.
 */
export function rerootAtZero(M: number, parent: Int32Array, pi: Float32Array, T: Float32Array): { parent: Int32Array; pi: Float64Array; T: Float64Array } {
  const D = parent.length;
  const kids: number[][] = Array.from({ length: D }, () => []);
  let root = -1;
  for (let i = 0; i < D; i++) (parent[i] < 0 ? (root = i) : kids[parent[i]].push(i));
  const mu = new Float64Array(D * M);
  for (let k = 0; k < M; k++) mu[root * M + k] = pi[k];
  const bfs = [root];
  for (let i = 0; i < bfs.length; i++) {
    const p = bfs[i];
    for (const c of kids[p]) {
      for (let k = 0; k < M; k++) {
        let s = 0;
        for (let j = 0; j < M; j++) s += mu[p * M + j] * T[(c * M + j) * M + k];
        mu[c * M + k] = s;
      }
      bfs.push(c);
    }
  }
  const T2 = Float64Array.from(T);
  const par2 = Int32Array.from(parent);
  // walk from 0 up to the old root, reversing each edge
  let a = 0;
  while (parent[a] >= 0) {
    const p = parent[a];
    // new: a is p's parent; block of p gets P(z_p = j | z_a = k)
    for (let k = 0; k < M; k++) {
      let rs = 0;
      for (let j = 0; j < M; j++) {
        const x = mu[a * M + k] > 0 ? (mu[p * M + j] * T[(a * M + j) * M + k]) / mu[a * M + k] : 1 / M;
        T2[(p * M + k) * M + j] = x;
        rs += x;
      }
      for (let j = 0; j < M; j++) T2[(p * M + k) * M + j] = rs > 0 ? T2[(p * M + k) * M + j] / rs : 1 / M;
    }
    par2[p] = a;
    a = p;
  }
  par2[0] = -1;
  return { parent: par2, pi: Float64Array.from(mu.subarray(0, M)), T: T2 };
}

function code(p: number): number {
  if (!(p > 0)) return 255;
  const q = Math.round(-8 * Math.log2(p));
  return q < 0 ? 0 : q > 255 ? 255 : q;
}

/** Learns one sub-model from samples (u8[n][D]); returns it re-rooted at variable 0. */
export async function trainSubModel(samples: Uint8Array, spec: ContextVar[], opts: PhotoTrainOptions, name: string): Promise<PhotoSubModel> {
  const D = spec.length;
  const count = samples.length / D;
  if (!Number.isInteger(count) || count < 1) throw new ShapeError(`trainSubModel: ${samples.length} bytes is not a whole number of ${D}-samples`);
  const M = opts.M ?? 32;
  if (opts.structure === 'star') return trainStar(samples, spec, opts, name);
  const pc = await trainModel({ count, width: D, height: 1, channels: 1, data: samples }, {
    M, epochs: opts.epochs ?? 6, fullBatchEpochs: opts.fullBatchEpochs ?? 1, batchSize: opts.batchSize ?? 1024,
    alpha: opts.alpha ?? 0.1, seed: opts.seed ?? 1, structureImages: 20000, compress: true,
    onProgress: (p) => opts.onProgress?.(name, p),
  });
  const { pi, transitions, emissions } = pc.parameters();
  const r = rerootAtZero(M, pc.parent, pi, transitions);
  const { order } = postOrder(r.parent);
  const n = hcltParameters(M, D);
  const codes = new Uint8Array(n);
  for (let i = 0; i < M; i++) codes[i] = code(r.pi[i]);
  for (let i = 0; i < D * M * M; i++) codes[M + i] = code(r.T[i]);
  for (let i = 0; i < D * M * 256; i++) codes[M + D * M * M + i] = code(emissions[i]);
  const pcm = await encodeModelFile({ width: D, height: 1, channels: 1, M, parent: r.parent, order }, codes,
    { trainer: 'pcpress photo', sub: name, samples: count, ...pc.meta });
  pc.destroy();
  return { spec, pcm };
}

/**
 * Trains a photo model on 8-bit photographs (gray, RGB or RGBA; colour sub-models learn from the RGB
 * ones, the gray sub-model from gray photos and the green channel of colour ones).
 */
export async function trainPhotoModel(images: PcImage[], options: PhotoTrainOptions = {}): Promise<PhotoModel> {
  if (!Array.isArray(images) || images.length === 0) throw new ArgumentError('trainPhotoModel: expected a non-empty array of images');
  const predictor = options.predictor ?? 'med', transform = options.transform ?? 'ycocg-r';
  const pred = PREDICTORS.indexOf(predictor), xf = TRANSFORMS.indexOf(transform);
  if (pred < 0 || xf < 0) throw new ArgumentError(`trainPhotoModel: unknown predictor ${predictor} or transform ${transform}`);
  const rgb = images.filter((im) => im.channels >= 3).map((im) => (im.channels === 3 ? im : dropAlpha(im)));
  const gray = images.filter((im) => im.channels === 1);
  const want = options.samples ?? 300000;
  const rand = seededRandom(options.seed ?? 1);
  const ex = await photoInstance();
  const subModels: PhotoSubModel[] = [];
  const roles = { gray: -1, color: [-1, -1, -1] as [number, number, number], alpha: -1 };
  const grayCtx = options.grayContext ?? defaultContext(0, options.context ?? 'residual', 1);
  const graySamples = gather(ex, [...gray, ...rgb], 0, 1, grayCtx, pred, xf, want, rand);
  if (graySamples.length) {
    roles.gray = subModels.length;
    subModels.push(await trainSubModel(graySamples, grayCtx, options, 'gray'));
  }
  if (rgb.length) {
    for (let s = 0; s < 3; s++) {
      const ctx = options.colorContext?.[s] ?? defaultContext(s, options.context ?? 'residual', 3);
      const smp = gather(ex, rgb, s, 3, ctx, pred, xf, want, rand);
      roles.color[s] = subModels.length;
      subModels.push(await trainSubModel(smp, ctx, options, `color${s}`));
    }
  }
  const bytes = encodePhotoModel({
    predictor, transform, subModels, roles,
    meta: { trainer: 'pcpress', images: images.length, M: options.M ?? 32, samples: want, seed: options.seed ?? 1 },
  });
  return photoModelFromBytes(bytes, { maxModelParameters: MAX_MODEL_PARAMETERS_CEILING });
}

/** Drops the 4th channel of an RGBA image. */
export function dropAlpha(im: PcImage): PcImage {
  const n = im.width * im.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = im.data[i * im.channels + c];
  return { width: im.width, height: im.height, channels: 3, data };
}

/**
 * A photo model with random trees (rooted at the coded symbol) and random parameters, for tests and
 * demos. `random` returns uniforms in [0, 1); contexts default to defaultContext.
 */
export async function createRandomPhotoModel(opts: { M: number; random: () => number; predictor?: Predictor;
  transform?: ColorTransform; grayContext?: ContextVar[]; colorContext?: ContextVar[][]; peak?: number }): Promise<PhotoModel> {
  const { M, random } = opts;
  if (!Number.isInteger(M) || M < 1 || M > 256) throw new ArgumentError('createRandomPhotoModel: M must be an integer in 1..256');
  const peak = opts.peak ?? 1;
  const make = async (spec: ContextVar[]): Promise<PhotoSubModel> => {
    const D = spec.length;
    const parent = new Int32Array(D);
    parent[0] = -1;
    for (let i = 1; i < D; i++) parent[i] = Math.floor(random() * i);
    const { order } = postOrder(parent);
    const n = hcltParameters(M, D);
    const codes = new Uint8Array(n);
    for (let i = 0; i < n; i++) codes[i] = Math.min(255, Math.floor(random() * random() * 64 * peak));
    const pcm = await encodeModelFile({ width: D, height: 1, channels: 1, M, parent, order }, codes, { random: true }, false);
    return { spec, pcm };
  };
  const subModels = [await make(opts.grayContext ?? defaultContext(0)), ...(await Promise.all([0, 1, 2].map((s) => make(opts.colorContext?.[s] ?? defaultContext(s)))))];
  const bytes = encodePhotoModel({ predictor: opts.predictor ?? 'med', transform: opts.transform ?? 'subtract-green', subModels,
    roles: { gray: 0, color: [1, 2, 3], alpha: -1 }, meta: { random: true } });
  return photoModelFromBytes(bytes, { maxModelParameters: MAX_MODEL_PARAMETERS_CEILING });
}

/** EM on a fixed star tree rooted at the coded symbol (the MNIST trainer's wasm E/M steps). */
async function trainStar(samples: Uint8Array, spec: ContextVar[], opts: PhotoTrainOptions, name: string): Promise<PhotoSubModel> {
  const D = spec.length, N = samples.length / D, M = opts.M ?? 32;
  const ex = await pcInstance();
  const parent = new Int32Array(D).fill(0);
  parent[0] = -1;
  const { order } = postOrder(parent);
  const par = walloc(ex, 4 * D), ord = walloc(ex, 4 * D);
  new Int32Array(ex.memory.buffer, par, D).set(parent);
  new Int32Array(ex.memory.buffer, ord, D).set(order);
  if (ex.pcInit(D, M, par, ord) !== 0) throw new Error('pcInit rejected a star tree (bug)');
  ex.pcTrainInit();
  const rand = seededRandom(opts.seed ?? 1);
  initParameters(ex, D, M, rand);
  const dataPtr = walloc(ex, samples.length);
  new Uint8Array(ex.memory.buffer, dataPtr, samples.length).set(samples);
  const idxPtr = walloc(ex, 4 * N);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  const epochs = opts.epochs ?? 6, full = opts.fullBatchEpochs ?? 1, batch = opts.batchSize ?? 1024, alpha = opts.alpha ?? 0.1;
  const t0 = performance.now();
  for (let e = 0; e < epochs; e++) {
    const lambda = epochs > 1 ? 0.1 + (0.8 * e) / (epochs - 1) : 0.1;
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    new Int32Array(ex.memory.buffer, idxPtr, N).set(perm);
    let ll = 0;
    for (let b = 0; b + batch <= N || (b === 0 && N < batch); b += batch) {
      const n = Math.min(batch, N - b);
      ll += ex.pcEstep(dataPtr, idxPtr + 4 * b, n);
      ex.pcMstep(lambda, alpha);
    }
    opts.onProgress?.(name, { phase: 'minibatch', epoch: e + 1, epochs, trainBpd: -ll / (N * D * Math.LN2), seconds: (performance.now() - t0) / 1000 });
  }
  for (let e = 0; e < full; e++) {
    for (let i = 0; i < N; i++) perm[i] = i;
    new Int32Array(ex.memory.buffer, idxPtr, N).set(perm);
    const ll = ex.pcEstep(dataPtr, idxPtr, N);
    ex.pcMstep(0, alpha);
    opts.onProgress?.(name, { phase: 'fullbatch', epoch: e + 1, epochs: full, trainBpd: -ll / (N * D * Math.LN2), seconds: (performance.now() - t0) / 1000 });
  }
  const codesPtr = walloc(ex, ex.pcParamCount());
  ex.pcQuantize(codesPtr);
  const codes = new Uint8Array(ex.memory.buffer, codesPtr, ex.pcParamCount()).slice();
  const pcm = await encodeModelFile({ width: D, height: 1, channels: 1, M, parent, order }, codes,
    { trainer: 'pcpress photo (star)', sub: name, samples: N, M, epochs, fullBatchEpochs: full, alpha });
  return { spec, pcm };
}
