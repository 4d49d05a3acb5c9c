// HCLT EM on WebGPU (shaders/pc_em.wgsl): the E-step (upward messages, downward posteriors, expected
// counts) and the M-step run as WGSL dispatches, one per tree level for the passes, so a 784-pixel model
// needs about (height + depth) dispatches per chunk of images, not D.
//
// Determinism: the GPU only trains. Its f32 parameters are copied back into the wasm instance, which
// quantises them into the model file exactly as the wasm trainer does; every coding table is computed in
// wasm from the stored (dequantised) model, never from GPU floats. A GPU-trained model codes and decodes
// bit-exactly everywhere, like any other model file.
import shader from '../../shaders/pc_em.wgsl';
import { ArgumentError, GpuError, LimitError, ShapeError } from '../errors.js';
import type { WebGpuBackend } from '../backends/webgpu.js';
import type { Runtime } from '../runtime.js';
import { pcInstance, walloc, type PcImage, type PcModel } from './model.js';
import { toImageSet, type PcImageSet } from './train.js';

const STORAGE = 0x80, UNIFORM = 0x40, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01;
const K = 256;
const WG = 64;

/** Levels of a rooted tree: children lists, nodes by height (leaves first) and by depth (root first). */
export function treeLevels(parent: Int32Array): {
  root: number; childStart: Int32Array; childList: Int32Array;
  byHeight: Int32Array; heightStart: number[]; byDepth: Int32Array; depthStart: number[];
} {
  const D = parent.length;
  let root = -1;
  const nkids = new Int32Array(D + 1);
  for (let v = 0; v < D; v++) {
    if (parent[v] < 0) root = v;
    else nkids[parent[v] + 1]++;
  }
  if (root < 0) throw new ArgumentError('treeLevels: tree has no root');
  const childStart = new Int32Array(D + 1);
  for (let v = 0; v < D; v++) childStart[v + 1] = childStart[v] + nkids[v + 1];
  const fillAt = childStart.slice(0, D);
  const childList = new Int32Array(Math.max(1, D - 1));
  for (let v = 0; v < D; v++) if (parent[v] >= 0) childList[fillAt[parent[v]]++] = v;
  // BFS from the root gives depths; reverse BFS gives heights
  const bfs = [root];
  const depth = new Int32Array(D);
  for (let i = 0; i < bfs.length; i++) {
    const v = bfs[i];
    for (let c = childStart[v]; c < childStart[v + 1]; c++) {
      depth[childList[c]] = depth[v] + 1;
      bfs.push(childList[c]);
    }
  }
  if (bfs.length !== D) throw new ArgumentError('treeLevels: parent array is not a tree');
  const height = new Int32Array(D);
  for (let i = D - 1; i > 0; i--) {
    const v = bfs[i];
    height[parent[v]] = Math.max(height[parent[v]], height[v] + 1);
  }
  const group = (key: Int32Array) => {
    const nodes = Array.from({ length: D }, (_, i) => i).sort((a, b) => key[a] - key[b] || a - b);
    const starts: number[] = [];
    nodes.forEach((v, i) => { if (i === 0 || key[v] !== key[nodes[i - 1]]) starts.push(i); });
    starts.push(D);
    return { list: Int32Array.from(nodes), starts };
  };
  const h = group(height), d = group(depth);
  return { root, childStart, childList, byHeight: h.list, heightStart: h.starts, byDepth: d.list, depthStart: d.starts };
}

type Bind = [number, GPUBuffer];

/**
 * EM state of one HCLT on a WebGPU device: parameters, flows and per-chunk messages live on the GPU.
 * `estep` queues work and returns at once; read methods wait for it.
 */
export class GpuEm {
  /** Images per chunk (the message buffers hold C images). */
  readonly C: number;
  private readonly dev: GPUDevice;
  private readonly bufs: Record<string, GPUBuffer> = {};
  private readonly glob: ArrayBuffer = new ArrayBuffer(32);
  private readonly upGroups: GPUBindGroup[] = [];
  private readonly downGroups: GPUBindGroup[] = [];
  private readonly upSizes: number[] = [];
  private readonly downSizes: number[] = [];
  private readonly pipes: Record<string, GPUComputePipeline> = {};
  private readonly groups: Record<string, GPUBindGroup> = {};
  private readonly gridGroupsX: number;
  private readonly xs: Uint32Array<ArrayBuffer>;
  private destroyed = false;

  /** Sets up buffers and pipelines for a tree `parent` with M states; `chunk` caps images per pass. */
  constructor(private readonly be: WebGpuBackend, readonly parent: Int32Array, readonly M: number, chunk = 512) {
    be.check();
    const D = parent.length;
    const lv = treeLevels(parent);
    this.dev = be.device;
    const perImage = 4 * D * M;
    const cap = Math.floor(be.maxBindingBytes / perImage);
    const biggest = 4 * Math.max(D * M * K, D * M * M);
    if (cap < 1 || biggest > be.maxBindingBytes) {
      throw new LimitError(`trainModel (webgpu): D=${D}, M=${M} needs buffers over this device's binding limit of ${be.maxBindingBytes} bytes`);
    }
    this.C = Math.max(1, Math.min(chunk, cap, 4096));
    const C = this.C;
    const buf = (name: string, words: number, usage = STORAGE | COPY_SRC | COPY_DST) => {
      this.bufs[name] = this.dev.createBuffer({ label: `pc_em.${name}`, size: Math.max(16, Math.ceil(words / 4) * 16), usage });
    };
    buf('tree', 5 * D + 1);
    buf('xs', D * C);
    buf('T', D * M * M);
    buf('E', D * M * K);
    buf('PI', M);
    for (const n of ['U', 'MM', 'Q']) buf(n, D * M * C);
    buf('LG', D * C);
    buf('LL', C);
    buf('FT', D * M * M);
    buf('FE', D * M * K);
    buf('FPI', M);
    buf('glob', 8, UNIFORM | COPY_DST);
    const tree = new Uint32Array(5 * D + 1);
    for (let v = 0; v < D; v++) tree[v] = parent[v] < 0 ? 0xffffffff : parent[v];
    tree.set(lv.childStart, D);
    tree.set(lv.childList.subarray(0, D - 1), 2 * D + 1);
    tree.set(lv.byHeight, 3 * D + 1);
    tree.set(lv.byDepth, 4 * D + 1);
    this.dev.queue.writeBuffer(this.bufs.tree, 0, tree);
    this.zero('LL', C);
    this.zero('FT', D * M * M);
    this.zero('FE', D * M * K);
    this.zero('FPI', M);
    this.xs = new Uint32Array(D * C);
    const maxTotal = 2 * D * M + 1;
    this.gridGroupsX = Math.max(1, Math.min(1024, Math.ceil(maxTotal / WG)));
    const g = new Uint32Array(this.glob);
    g.set([C, C, M, D, lv.root, this.gridGroupsX * WG]);

    for (const e of ['up', 'root', 'down', 'flowT', 'flowE', 'mstep']) this.pipes[e] = be.pipeline('pc_em', shader, {}, e);
    const b = this.bufs;
    const level = (start: number, count: number) => {
      const u = this.dev.createBuffer({ label: 'pc_em.level', size: 16, usage: UNIFORM | COPY_DST });
      this.bufs[`level${Object.keys(this.bufs).length}`] = u;
      this.dev.queue.writeBuffer(u, 0, new Uint32Array([start, count, 0, 0]));
      return u;
    };
    for (let i = 0; i + 1 < lv.heightStart.length; i++) {
      const s = lv.heightStart[i], n = lv.heightStart[i + 1] - s;
      this.upSizes.push(n);
      this.upGroups.push(this.group('up', [[0, b.glob], [1, level(s, n)], [2, b.tree], [3, b.xs], [4, b.T], [5, b.E], [7, b.U], [8, b.MM], [10, b.LG]]));
    }
    for (let i = 1; i + 1 < lv.depthStart.length; i++) {
      const s = lv.depthStart[i], n = lv.depthStart[i + 1] - s;
      this.downSizes.push(n);
      this.downGroups.push(this.group('down', [[0, b.glob], [1, level(s, n)], [2, b.tree], [4, b.T], [7, b.U], [8, b.MM], [9, b.Q]]));
    }
    this.groups.root = this.group('root', [[0, b.glob], [6, b.PI], [7, b.U], [9, b.Q], [10, b.LG], [11, b.LL]]);
    this.groups.flowT = this.group('flowT', [[0, b.glob], [4, b.T], [7, b.U], [8, b.MM], [12, b.FT]]);
    this.groups.flowE = this.group('flowE', [[0, b.glob], [3, b.xs], [9, b.Q], [13, b.FE], [14, b.FPI]]);
    this.groups.mstep = this.group('mstep', [[0, b.glob], [4, b.T], [5, b.E], [6, b.PI], [12, b.FT], [13, b.FE], [14, b.FPI]]);
  }

  private group(entry: string, binds: Bind[]): GPUBindGroup {
    return this.dev.createBindGroup({
      label: `pc_em.${entry}`,
      layout: this.pipes[entry].getBindGroupLayout(0),
      entries: binds.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
    });
  }

  private zero(name: string, words: number): void {
    this.dev.queue.writeBuffer(this.bufs[name], 0, new Float32Array(Math.max(4, Math.ceil(words / 4) * 4)));
  }

  private check(): void {
    if (this.destroyed) throw new ArgumentError('GpuEm used after destroy()');
    this.be.check();
  }

  /** Uploads parameters: pi[M], transitions[D][M][M], emissions[D][M][256]. */
  setParams(pi: Float32Array, T: Float32Array, E: Float32Array): void {
    this.check();
    const q = this.dev.queue;
    q.writeBuffer(this.bufs.PI, 0, pi as Float32Array<ArrayBuffer>);
    q.writeBuffer(this.bufs.T, 0, T as Float32Array<ArrayBuffer>);
    q.writeBuffer(this.bufs.E, 0, E as Float32Array<ArrayBuffer>);
  }

  private setGlob(n: number, lambda = 0, alpha = 0): void {
    const g = new Uint32Array(this.glob), f = new Float32Array(this.glob);
    g[1] = n;
    f[6] = lambda;
    f[7] = alpha;
    this.dev.queue.writeBuffer(this.bufs.glob, 0, this.glob);
  }

  private grid(total: number): [number, number] {
    return [this.gridGroupsX, Math.ceil(total / (this.gridGroupsX * WG))];
  }

  /**
   * Queues the E-step for images data[idx[i]*D ...] (i < n, data: u8 images back to back), adding their
   * expected counts to the flows and their log-likelihoods to the running sum.
   */
  estep(data: Uint8Array, idx: Int32Array, n: number): void {
    this.check();
    const D = this.parent.length, C = this.C, M = this.M, xs = this.xs;
    for (let c0 = 0; c0 < n; c0 += C) {
      const cn = Math.min(C, n - c0);
      for (let b = 0; b < cn; b++) {
        const o = idx[c0 + b] * D;
        for (let v = 0; v < D; v++) xs[v * C + b] = data[o + v];
      }
      this.setGlob(cn);
      this.dev.queue.writeBuffer(this.bufs.xs, 0, xs);
      const enc = this.dev.createCommandEncoder({ label: 'pc_em.estep' });
      const pass = enc.beginComputePass();
      const wx = Math.ceil(cn / WG);
      pass.setPipeline(this.pipes.up);
      this.upGroups.forEach((grp, i) => {
        pass.setBindGroup(0, grp);
        pass.dispatchWorkgroups(wx, this.upSizes[i]);
      });
      pass.setPipeline(this.pipes.root);
      pass.setBindGroup(0, this.groups.root);
      pass.dispatchWorkgroups(wx);
      pass.setPipeline(this.pipes.down);
      this.downGroups.forEach((grp, i) => {
        pass.setBindGroup(0, grp);
        pass.dispatchWorkgroups(wx, this.downSizes[i]);
      });
      pass.setPipeline(this.pipes.flowT);
      pass.setBindGroup(0, this.groups.flowT);
      pass.dispatchWorkgroups(Math.ceil(M / 8) ** 2, D);
      pass.setPipeline(this.pipes.flowE);
      pass.setBindGroup(0, this.groups.flowE);
      pass.dispatchWorkgroups(...this.grid(D * M));
      pass.end();
      this.dev.queue.submit([enc.finish()]);
    }
  }

  /** Queues the M-step (inertia lambda, pseudocount alpha) and clears the flows. */
  mstep(lambda: number, alpha: number): void {
    this.check();
    const D = this.parent.length;
    this.setGlob(this.C, lambda, alpha);
    const enc = this.dev.createCommandEncoder({ label: 'pc_em.mstep' });
    const pass = enc.beginComputePass();
    pass.setPipeline(this.pipes.mstep);
    pass.setBindGroup(0, this.groups.mstep);
    pass.dispatchWorkgroups(...this.grid(2 * D * this.M + 1));
    pass.end();
    this.dev.queue.submit([enc.finish()]);
  }

  private async read(names: string[], words: number[]): Promise<Float32Array[]> {
    this.check();
    const enc = this.dev.createCommandEncoder({ label: 'pc_em.read' });
    const staging = names.map((name, i) => {
      const size = Math.max(16, Math.ceil(words[i] / 4) * 16);
      const s = this.dev.createBuffer({ size, usage: MAP_READ | COPY_DST });
      enc.copyBufferToBuffer(this.bufs[name], 0, s, 0, size);
      return s;
    });
    this.dev.queue.submit([enc.finish()]);
    try {
      await Promise.all(staging.map((s) => s.mapAsync(0x01)));
    } catch (e) {
      this.be.check();
      throw new GpuError(`reading training state back failed: ${(e as Error)?.message ?? e}`);
    }
    const out = staging.map((s, i) => new Float32Array(s.getMappedRange().slice(0, 4 * words[i])));
    staging.forEach((s) => { s.unmap(); s.destroy(); });
    this.be.check();
    return out;
  }

  /** Reads the parameters back: pi, transitions, emissions. */
  async readParams(): Promise<{ pi: Float32Array; transitions: Float32Array; emissions: Float32Array }> {
    const D = this.parent.length, M = this.M;
    const [pi, transitions, emissions] = await this.read(['PI', 'T', 'E'], [M, D * M * M, D * M * K]);
    return { pi, transitions, emissions };
  }

  /** Reads the accumulated flows (expected counts) without clearing them. */
  async readFlows(): Promise<{ pi: Float32Array; transitions: Float32Array; emissions: Float32Array }> {
    const D = this.parent.length, M = this.M;
    const [pi, transitions, emissions] = await this.read(['FPI', 'FT', 'FE'], [M, D * M * M, D * M * K]);
    return { pi, transitions, emissions };
  }

  /** Sum of log-likelihoods (nats) of the images since the last call; resets the sum. */
  async takeLogLik(): Promise<number> {
    const [ll] = await this.read(['LL'], [this.C]);
    this.zero('LL', this.C);
    let s = 0;
    for (let i = 0; i < ll.length; i++) s += ll[i];
    return s;
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of Object.values(this.bufs)) b.destroy();
  }
}

/** Expected counts (EM flows) of one E-step and the summed log-likelihood. */
export interface ExpectedCounts {
  /** Root prior counts [M]. */
  pi: Float32Array;
  /** Transition counts [D][M][M] (row = parent state; the root's block is zero). */
  transitions: Float32Array;
  /** Emission counts [D][M][256]. */
  emissions: Float32Array;
  /** Sum of log P(image) in nats. */
  logLikelihood: number;
}

/** The WebGPU backend of a runtime, or undefined when it runs on wasm. */
export function gpuBackendOf(rt: Runtime | undefined, what: string): WebGpuBackend | undefined {
  if (rt === undefined) return undefined;
  const impl = (rt as { impl?: { kind?: string; check?: () => void } })?.impl;
  if (!impl || (impl.kind !== 'wasm' && impl.kind !== 'webgpu')) throw new ArgumentError(`${what}: runtime must come from createRuntime()`);
  impl.check?.();
  return impl.kind === 'webgpu' ? (impl as unknown as WebGpuBackend) : undefined;
}

/**
 * One E-step of `model` over `images` on the runtime's backend: the expected counts EM would add
 * (WGSL on WebGPU; the wasm E-step otherwise). For tests and tools; trainModel uses the same paths.
 * On wasm the counts are read back through a pseudocount-free M-step (flows normalised per row) and
 * rescaled top-down by the posterior state counts, which recovers them exactly up to f32 rounding.
 */
export async function expectedCounts(rt: Runtime, model: PcModel, images: PcImage[] | PcImageSet): Promise<ExpectedCounts> {
  const set = toImageSet(images);
  if (set.width !== model.width || set.height !== model.height || set.channels !== model.channels) {
    throw new ShapeError(`expectedCounts: images are ${set.width}x${set.height}x${set.channels}, the model ` +
      `codes ${model.width}x${model.height}x${model.channels}`);
  }
  const { D, M } = model;
  const p = model.parameters();
  const idx = Int32Array.from({ length: set.count }, (_, i) => i);
  const gpu = gpuBackendOf(rt, 'expectedCounts');
  if (gpu) {
    const em = new GpuEm(gpu, model.parent, M);
    try {
      em.setParams(p.pi, p.transitions, p.emissions);
      em.estep(set.data, idx, set.count);
      const f = await em.readFlows();
      return { ...f, logLikelihood: await em.takeLogLik() };
    } finally {
      em.destroy();
    }
  }
  const ex = await pcInstance();
  const par = walloc(ex, 4 * D), ord = walloc(ex, 4 * D);
  new Int32Array(ex.memory.buffer, par, D).set(model.parent);
  new Int32Array(ex.memory.buffer, ord, D).set(model.order);
  if (ex.pcInit(D, M, par, ord) !== 0) throw new ArgumentError('expectedCounts: invalid model tree');
  ex.pcTrainInit();
  const dataPtr = walloc(ex, set.data.length), idxPtr = walloc(ex, 4 * set.count);
  new Uint8Array(ex.memory.buffer, dataPtr, set.data.length).set(set.data);
  new Int32Array(ex.memory.buffer, idxPtr, set.count).set(idx);
  new Float32Array(ex.memory.buffer, ex.pcPiPtr(), M).set(p.pi);
  new Float32Array(ex.memory.buffer, ex.pcTransPtr(), D * M * M).set(p.transitions);
  new Float32Array(ex.memory.buffer, ex.pcEmitPtr(), D * M * K).set(p.emissions);
  const logLikelihood = ex.pcEstep(dataPtr, idxPtr, set.count);
  ex.pcMstep(0, 0);
  const pi = new Float32Array(ex.memory.buffer, ex.pcPiPtr(), M).slice();
  const Tn = new Float32Array(ex.memory.buffer, ex.pcTransPtr(), D * M * M).slice();
  const En = new Float32Array(ex.memory.buffer, ex.pcEmitPtr(), D * M * K).slice();
  // state counts c_v[k] = sum_images q_v[k]: the root's is the prior's flow (it sums to the image count)
  const cnt = new Float64Array(D * M);
  const transitions = new Float32Array(D * M * M), emissions = new Float32Array(D * M * K);
  const root = model.order[D - 1];
  for (let k = 0; k < M; k++) cnt[root * M + k] = pi[k] * set.count;
  for (let t = D - 1; t >= 0; t--) {
    const v = model.order[t], pv = model.parent[v];
    if (pv >= 0) {
      for (let j = 0; j < M; j++) {
        for (let k = 0; k < M; k++) {
          const f = cnt[pv * M + j] * Tn[(v * M + j) * M + k];
          transitions[(v * M + j) * M + k] = f;
          cnt[v * M + k] += f;
        }
      }
    }
    for (let k = 0; k < M; k++) for (let c = 0; c < K; c++) emissions[(v * M + k) * K + c] = cnt[v * M + k] * En[(v * M + k) * K + c];
  }
  return { pi: Float32Array.from(pi, (x) => x * set.count), transitions, emissions, logLikelihood };
}
