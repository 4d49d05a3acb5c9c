// HCLT learning: Chow-Liu structure (mutual information in wasm, maximum spanning tree, rooted at the
// tree's centre) and EM (mini-batches with inertia and a pseudocount, then full-batch epochs), all
// heavy loops in wasm, or the EM steps in WGSL when given a WebGPU runtime (train-gpu.ts). Reproducible
// from a seed. Whatever trained it, the model is quantised and stored by wasm, and all coding tables come
// from wasm on the stored model: the GPU never touches coding.
import { ArgumentError, LimitError, ShapeError } from '../errors.js';
import { hcltParameters } from './limits.js';
import { MAX_MODEL_PARAMETERS, encodeModelFile, modelFromBytes, pcInstance, postOrder, walloc, type PcImage, type PcModel,
  type PcStructure, type PcWasmExports } from './model.js';
import type { Runtime } from '../runtime.js';
import { GpuEm, gpuBackendOf } from './train-gpu.js';
import { seededRandom } from '../random.js';

/** A set of same-shape 8-bit images stored back to back (`data.length = count * width*height*channels`). */
export interface PcImageSet {
  count: number;
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** One line of training progress. */
export interface TrainProgress {
  phase: 'structure' | 'minibatch' | 'fullbatch';
  epoch: number;
  epochs: number;
  /** Average train bits per dimension over the epoch (while parameters moved). */
  trainBpd?: number;
  /** Validation bits per dimension after the epoch (if validation images were given). */
  validBpd?: number;
  /** Seconds since training started. */
  seconds: number;
}

/** Options of trainModel. */
export interface TrainOptions {
  /** Latent states per pixel (default 16). */
  M?: number;
  /** Mini-batch EM epochs (default 10). */
  epochs?: number;
  /** Full-batch EM epochs after the mini-batch phase (default 1). */
  fullBatchEpochs?: number;
  /** Mini-batch size (default 512). */
  batchSize?: number;
  /** Pseudocount alpha (default 0.1). */
  alpha?: number;
  /** Inertia lambda at the first and last mini-batch epoch, annealed linearly (default [0.1, 0.9]). */
  inertia?: [number, number];
  /** Images used for the mutual information (default the first 5000). */
  structureImages?: number;
  /** Seed of the parameter initialisation and the batch shuffling (default 1). */
  seed?: number;
  /** Validation images, scored after each epoch. */
  validation?: PcImage[] | PcImageSet;
  /** Called after each epoch. */
  onProgress?: (p: TrainProgress) => void;
  /** Store the parameter block gzip-compressed (default true). */
  compress?: boolean;
  /**
   * Runtime whose backend runs EM (default: none, EM in wasm). With a WebGPU runtime the E-step
   * (upward and downward passes, expected counts) and the M-step run as WGSL dispatches; structure
   * learning, quantisation and every coding table stay in wasm. Results match the wasm trainer up to
   * f32 rounding order, not bit for bit.
   */
  runtime?: Runtime;
}

/** The package's seeded PRNG (mulberry32), re-exported for training scripts. */
export { seededRandom };

/** Packs images (or an image set) into one contiguous set, checking that all share a shape. */
export function toImageSet(images: PcImage[] | PcImageSet, what = 'images'): PcImageSet {
  if (!Array.isArray(images)) {
    const s = images as PcImageSet;
    if (!(s && s.data instanceof Uint8Array) || s.data.length !== s.count * s.width * s.height * s.channels) {
      throw new ShapeError(`${what}: image set data length does not match count x width x height x channels`);
    }
    return s;
  }
  if (images.length === 0) throw new ArgumentError(`${what}: no images`);
  const { width, height, channels } = images[0];
  const D = width * height * channels;
  const data = new Uint8Array(images.length * D);
  images.forEach((im, i) => {
    if (!(im?.data instanceof Uint8Array)) throw new ArgumentError(`${what}[${i}]: expected { width, height, channels, data: Uint8Array }`);
    if (im.width !== width || im.height !== height || im.channels !== channels || im.data.length !== D) {
      throw new ShapeError(`${what}[${i}]: shape ${im.width}x${im.height}x${im.channels} differs from ${width}x${height}x${channels}`);
    }
    data.set(im.data, i * D);
  });
  return { count: images.length, width, height, channels, data };
}

/**
 * Chow-Liu tree from a mutual-information matrix (f64 [D][D]): maximum spanning tree (Prim, ties by
 * index), rooted at the tree's centre. Returns parent[] (-1 at the root).
 */
export function chowLiuTree(mi: Float64Array, D: number): Int32Array {
  const inTree = new Uint8Array(D);
  const best = new Float64Array(D).fill(-Infinity);
  const link = new Int32Array(D).fill(-1);
  const adj: number[][] = Array.from({ length: D }, () => []);
  let v = 0;
  inTree[0] = 1;
  for (let step = 1; step < D; step++) {
    for (let u = 0; u < D; u++) {
      if (!inTree[u] && mi[v * D + u] > best[u]) {
        best[u] = mi[v * D + u];
        link[u] = v;
      }
    }
    let pick = -1;
    for (let u = 0; u < D; u++) if (!inTree[u] && (pick < 0 || best[u] > best[pick])) pick = u;
    inTree[pick] = 1;
    adj[pick].push(link[pick]);
    adj[link[pick]].push(pick);
    v = pick;
  }
  const bfs = (s: number): { dist: Int32Array; from: Int32Array; far: number } => {
    const dist = new Int32Array(D).fill(-1), from = new Int32Array(D).fill(-1);
    const q = [s];
    dist[s] = 0;
    let far = s;
    for (let i = 0; i < q.length; i++) {
      const a = q[i];
      if (dist[a] > dist[far] || (dist[a] === dist[far] && a < far)) far = a;
      for (const b of adj[a]) if (dist[b] < 0) { dist[b] = dist[a] + 1; from[b] = a; q.push(b); }
    }
    return { dist, from, far };
  };
  const a = bfs(0).far;
  const { from, far: b, dist } = bfs(a);
  const path = [b];
  while (path[path.length - 1] !== a) path.push(from[path[path.length - 1]]);
  const root = path[Math.floor(dist[b] / 2)];
  const parent = new Int32Array(D).fill(-1);
  const seen = new Uint8Array(D);
  const q = [root];
  seen[root] = 1;
  for (let i = 0; i < q.length; i++) {
    for (const c of adj[q[i]]) if (!seen[c]) { seen[c] = 1; parent[c] = q[i]; q.push(c); }
  }
  return parent;
}

function upload(ex: PcWasmExports, data: Uint8Array): number {
  const p = walloc(ex, data.length);
  new Uint8Array(ex.memory.buffer, p, data.length).set(data);
  return p;
}


/**
 * EM initialisation in the wasm instance: every distribution (root prior, transitions, emissions)
 * proportional to entries drawn from Uniform(0.6, 1.4), taken from `rand` (which the caller keeps using).
 */
export function initParameters(ex: PcWasmExports, D: number, M: number, rand: () => number): void {
  const fill = (ptr: number, rows: number, n: number) => {
    const a = new Float32Array(ex.memory.buffer, ptr, rows * n);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += a[r * n + i] = 0.6 + 0.8 * rand();
      for (let i = 0; i < n; i++) a[r * n + i] /= s;
    }
  };
  fill(ex.pcPiPtr(), 1, M);
  fill(ex.pcTransPtr(), D * M, M);
  fill(ex.pcEmitPtr(), D * M, 256);
}

/**
 * Learns an HCLT from images: structure (Chow-Liu on 4-bit pixels), then EM. Returns the model as it
 * will be stored (parameters quantised exactly as in the file), ready to code.
 */
export async function trainModel(images: PcImage[] | PcImageSet, options: TrainOptions = {}): Promise<PcModel> {
  const set = toImageSet(images);
  const { width, height, channels } = set;
  const D = width * height * channels;
  const M = options.M ?? 16;
  const epochs = options.epochs ?? 10;
  const fullEpochs = options.fullBatchEpochs ?? 1;
  const batch = options.batchSize ?? 512;
  const alpha = options.alpha ?? 0.1;
  const [lam0, lam1] = options.inertia ?? [0.1, 0.9];
  const seed = options.seed ?? 1;
  const check = (ok: boolean, msg: string) => { if (!ok) throw new ArgumentError(`trainModel: ${msg}`); };
  check(Number.isInteger(M) && M >= 1 && M <= 1024, `M must be an integer in 1..1024, got ${M}`);
  if (D > 8192) throw new LimitError(`trainModel: images have ${D} pixels; structure learning holds a D x D matrix, at most 8192 pixels`);
  if (hcltParameters(M, D) > MAX_MODEL_PARAMETERS) throw new LimitError(`trainModel: M=${M} with ${D} pixels exceeds ${MAX_MODEL_PARAMETERS} parameters`);
  check(Number.isInteger(epochs) && epochs >= 0 && Number.isInteger(fullEpochs) && fullEpochs >= 0, 'epochs must be non-negative integers');
  check(Number.isInteger(batch) && batch >= 1, 'batchSize must be a positive integer');
  check(alpha >= 0 && lam0 >= 0 && lam0 < 1 && lam1 >= 0 && lam1 < 1, 'alpha >= 0 and inertia in [0, 1) required');
  const valid = options.validation ? toImageSet(options.validation, 'validation') : undefined;
  if (valid) check(valid.width === width && valid.height === height && valid.channels === channels, 'validation images differ in shape');
  const gpuBe = gpuBackendOf(options.runtime, 'trainModel');
  const t0 = performance.now();
  const secs = () => (performance.now() - t0) / 1000;
  const ex = await pcInstance();

  // structure
  const ns = Math.min(set.count, options.structureImages ?? 5000);
  const dataPtr = upload(ex, set.data);
  const miPtr = walloc(ex, D * D * 8);
  ex.pcMutualInfo(dataPtr, ns, D, alpha, miPtr);
  const mi = new Float64Array(ex.memory.buffer, miPtr, D * D).slice();
  ex.free(miPtr);
  const parent = chowLiuTree(mi, D);
  const { order } = postOrder(parent);
  options.onProgress?.({ phase: 'structure', epoch: 0, epochs, seconds: secs() });

  const par = walloc(ex, 4 * D), ord = walloc(ex, 4 * D);
  new Int32Array(ex.memory.buffer, par, D).set(parent);
  new Int32Array(ex.memory.buffer, ord, D).set(order);
  if (ex.pcInit(D, M, par, ord) !== 0) throw new Error('pcInit rejected a learned tree (bug)');
  ex.pcTrainInit();

  const rand = seededRandom(seed);
  initParameters(ex, D, M, rand);

  const validPtr = valid ? upload(ex, valid.data) : 0;
  const N = set.count;
  const idxPtr = walloc(ex, 4 * N);
  const bpd = (ll: number, n: number) => -ll / (n * D * Math.LN2);
  const validBpd = () => (valid ? bpd(ex.pcLogLikBatch(validPtr, valid.count), valid.count) : undefined);
  if (gpuBe) {
    const em = new GpuEm(gpuBe, parent, M, Math.min(batch, N));
    try {
      await trainOnGpu(em, ex, set, { epochs, fullEpochs, batch, alpha, lam0, lam1, rand, bpd, validBpd: valid ? validBpd : undefined,
        onProgress: options.onProgress, secs });
    } finally {
      em.destroy();
    }
    return finish(ex, { width, height, channels, M, parent, order }, {
      trainer: 'pcpress', images: N, M, epochs, fullBatchEpochs: fullEpochs, batchSize: batch, alpha,
      inertia: [lam0, lam1], structureImages: ns, seed,
    }, options.compress ?? true);
  }
  const perm = new Int32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  const nb = Math.max(1, Math.floor(N / batch));
  for (let e = 0; e < epochs; e++) {
    const lambda = epochs > 1 ? lam0 + ((lam1 - lam0) * e) / (epochs - 1) : lam0;
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    new Int32Array(ex.memory.buffer, idxPtr, N).set(perm);
    let ll = 0, seen = 0;
    for (let b = 0; b < nb; b++) {
      const n = Math.min(batch, N - b * batch);
      ll += ex.pcEstep(dataPtr, idxPtr + 4 * b * batch, n);
      seen += n;
      ex.pcMstep(lambda, alpha);
    }
    options.onProgress?.({ phase: 'minibatch', epoch: e + 1, epochs, trainBpd: bpd(ll, seen), validBpd: validBpd(), seconds: secs() });
  }
  for (let e = 0; e < fullEpochs; e++) {
    for (let i = 0; i < N; i++) perm[i] = i;
    new Int32Array(ex.memory.buffer, idxPtr, N).set(perm);
    const ll = ex.pcEstep(dataPtr, idxPtr, N);
    ex.pcMstep(0, alpha);
    options.onProgress?.({ phase: 'fullbatch', epoch: e + 1, epochs: fullEpochs, trainBpd: bpd(ll, N), validBpd: validBpd(), seconds: secs() });
  }
  const meta = {
    trainer: 'pcpress', images: N, M, epochs, fullBatchEpochs: fullEpochs, batchSize: batch, alpha,
    inertia: [lam0, lam1], structureImages: ns, seed,
  };
  return finish(ex, { width, height, channels, M, parent, order }, meta, options.compress ?? true);
}

// Quantises the parameters in the wasm instance (the only place models are quantised) and builds the model.
async function finish(ex: PcWasmExports, s: PcStructure, meta: Record<string, unknown>, compress: boolean): Promise<PcModel> {
  const codesPtr = walloc(ex, ex.pcParamCount());
  ex.pcQuantize(codesPtr);
  const codes = new Uint8Array(ex.memory.buffer, codesPtr, ex.pcParamCount()).slice();
  const bytes = await encodeModelFile(s, codes, meta, compress);
  return modelFromBytes(bytes, { maxModelParameters: MAX_MODEL_PARAMETERS });
}

interface GpuSchedule {
  epochs: number; fullEpochs: number; batch: number; alpha: number; lam0: number; lam1: number;
  rand: () => number; bpd: (ll: number, n: number) => number; validBpd?: () => number | undefined;
  onProgress?: (p: TrainProgress) => void; secs: () => number;
}

// Copies the GPU's parameters into the wasm instance (for validation scores and quantisation).
async function paramsToWasm(em: GpuEm, ex: PcWasmExports): Promise<void> {
  const p = await em.readParams();
  new Float32Array(ex.memory.buffer, ex.pcPiPtr(), p.pi.length).set(p.pi);
  new Float32Array(ex.memory.buffer, ex.pcTransPtr(), p.transitions.length).set(p.transitions);
  new Float32Array(ex.memory.buffer, ex.pcEmitPtr(), p.emissions.length).set(p.emissions);
}

// The wasm trainer's schedule (same shuffles from the same PRNG), with E- and M-steps on the GPU.
async function trainOnGpu(em: GpuEm, ex: PcWasmExports, set: PcImageSet, o: GpuSchedule): Promise<void> {
  const N = set.count, M = em.M, D = em.parent.length;
  em.setParams(new Float32Array(ex.memory.buffer, ex.pcPiPtr(), M), new Float32Array(ex.memory.buffer, ex.pcTransPtr(), D * M * M),
    new Float32Array(ex.memory.buffer, ex.pcEmitPtr(), D * M * 256));
  const perm = new Int32Array(N);
  for (let i = 0; i < N; i++) perm[i] = i;
  const nb = Math.max(1, Math.floor(N / o.batch));
  for (let e = 0; e < o.epochs; e++) {
    const lambda = o.epochs > 1 ? o.lam0 + ((o.lam1 - o.lam0) * e) / (o.epochs - 1) : o.lam0;
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(o.rand() * (i + 1));
      const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    let seen = 0;
    for (let b = 0; b < nb; b++) {
      const n = Math.min(o.batch, N - b * o.batch);
      em.estep(set.data, perm.subarray(b * o.batch), n);
      seen += n;
      em.mstep(lambda, o.alpha);
    }
    const ll = await em.takeLogLik();
    if (o.validBpd) await paramsToWasm(em, ex);
    o.onProgress?.({ phase: 'minibatch', epoch: e + 1, epochs: o.epochs, trainBpd: o.bpd(ll, seen), validBpd: o.validBpd?.(), seconds: o.secs() });
  }
  for (let e = 0; e < o.fullEpochs; e++) {
    for (let i = 0; i < N; i++) perm[i] = i;
    em.estep(set.data, perm, N);
    em.mstep(0, o.alpha);
    const ll = await em.takeLogLik();
    if (o.validBpd) await paramsToWasm(em, ex);
    o.onProgress?.({ phase: 'fullbatch', epoch: e + 1, epochs: o.fullEpochs, trainBpd: o.bpd(ll, N), validBpd: o.validBpd?.(), seconds: o.secs() });
  }
  await paramsToWasm(em, ex);
}
