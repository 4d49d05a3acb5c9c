// Host side of the KV-eviction kernels: uploads, dispatches (wasm: assembly/kv.ts; WebGPU:
// shaders/kv_score.wgsl, shaders/kv_select.wgsl) and read-back. Validation happens before (plan.ts).
import scoreShader from '../../shaders/kv_score.wgsl';
import selectShader from '../../shaders/kv_select.wgsl';
import { LimitError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { WasmBackend, WasmStorage } from '../backends/wasm.js';
import { TaskKind } from '../threads/pool.js';
import type { WebGpuBackend, GpuStorage } from '../backends/webgpu.js';

/** Exports of assembly/kv.ts. */
interface KvExports {
  kvScoreTasks(args: number, t0: number, t1: number, slot: number): void;
  kvScoreCombine(args: number): void;
  kvValueNorm(v: number, wo: number, out: number, hq: number, hkv: number, n: number, d: number, D: number, haveWo: number): void;
  kvKeyNorm(k: number, out: number, rows: number, d: number): void;
  kvSelect(scores: number, pinned: number, keep: number, segs: number, nseg: number, hist: number): void;
}

/** Sizes of one attention pass. */
export interface PassSizes {
  hq: number; hkv: number; nq: number; R: number; n: number; d: number; C: number; ks: number;
}

/** Result of the fused window pass: per-row [lse, b, scale] and the three [Hkv, C] planes (max, sum pooled, sum raw). */
export interface PassResult {
  rows: Float32Array;
  planes: Float32Array;
}

const MAX_GPU_HEAD_DIM = 256;
/** Words of kvScoreTasks' argument block (assembly/kv.ts). */
const KV_SCORE_ARGS = 16;
/** Scoring passes with fewer multiply-adds (hq x R x n x d) than this stay on the calling thread. */
const KV_POOL_MIN_WORK = 1 << 18;

function kx(be: WasmBackend): KvExports {
  return be.ex as unknown as KvExports;
}

/** Runs `fn` with wasm blocks that are freed afterwards. */
function withWasm<T>(be: WasmBackend, fn: (keep: (s: WasmStorage) => WasmStorage) => T): T {
  const blocks: WasmStorage[] = [];
  try {
    return fn((s) => {
      blocks.push(s);
      return s;
    });
  } finally {
    for (const b of blocks) be.release(b);
  }
}

function gpuRun(be: WebGpuBackend, entry: string, code: string, name: string,
  bindings: [number, GPUBuffer][], groups: [number, number, number], enc: GPUCommandEncoder): void {
  const pipeline = be.pipeline(name, code, {}, entry);
  const bg = be.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: bindings.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
  });
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  pass.end();
}

function params(be: WebGpuBackend, s: Partial<PassSizes> & { haveLse?: number; D?: number; haveWo?: number; rows?: number }): GPUBuffer {
  return be.uniform([s.hq ?? 0, s.hkv ?? 0, s.nq ?? 0, s.R ?? 0, s.n ?? 0, s.d ?? 0, s.C ?? 0, s.ks ?? 1,
    s.haveLse ?? 0, s.D ?? 0, s.haveWo ?? 0, s.rows ?? 0]);
}

function checkGpu(be: WebGpuBackend, op: string, d: number, buffers: [string, number][]): void {
  if (d > MAX_GPU_HEAD_DIM) throw new LimitError(`${op}: headDim ${d} exceeds the WebGPU kernel's limit of ${MAX_GPU_HEAD_DIM}`);
  for (const [name, len] of buffers) be.checkBindable(op, name, len);
}

/** The fused window-attention pass on the runtime's backend. */
export async function windowPass(rt: Runtime, s: PassSizes, q: Float32Array, k: Float32Array, lse?: Float32Array): Promise<PassResult> {
  const impl = rt.impl;
  impl.check();
  const rowsLen = s.hq * s.R * 3, planeLen = 3 * s.hkv * s.C;
  if (impl.kind === 'wasm') {
    const ex = kx(impl);
    return withWasm(impl, (keep) => {
      // One task per query head (fixed, whatever the thread count), each into its own partial planes;
      // kvScoreCombine folds the heads of each KV group in head order: 1 and N threads give the same bits.
      const pool = impl.pool;
      const threaded = pool !== undefined && s.hq > 1 && s.hq * s.R * s.n * s.d >= KV_POOL_MIN_WORK;
      const slots = threaded ? pool.threads : 1;
      const tq = keep(impl.upload(q)), tk = keep(impl.upload(k));
      const tl = keep(lse ? impl.upload(lse) : impl.allocF32(1));
      const tr = keep(impl.allocF32(rowsLen)), to = keep(impl.allocF32(planeLen)), ts = keep(impl.allocF32(4 * s.n * slots));
      const tp = keep(impl.allocF32(Math.max(1, 3 * s.hq * s.C))), ta = keep(impl.allocF32(KV_SCORE_ARGS));
      new Int32Array(impl.ex.memory.buffer, ta.ptr, KV_SCORE_ARGS).set([tq.ptr, tk.ptr, tl.ptr, tr.ptr, to.ptr, tp.ptr, ts.ptr,
        s.hq, s.hkv, s.nq, s.R, s.n, s.d, s.C, s.ks, lse ? 1 : 0]);
      if (threaded) pool.run(TaskKind.kvScore, ta.ptr, s.hq, 2 + Math.floor((s.hq * s.R * s.n * s.d) / (1 << 21)));
      else ex.kvScoreTasks(ta.ptr, 0, s.hq, 0);
      ex.kvScoreCombine(ta.ptr);
      return { rows: impl.read(tr), planes: impl.read(to) };
    });
  }
  const be = impl;
  checkGpu(be, 'scoreKV', s.d, [['q', q.length], ['k', k.length], ['scores', planeLen]]);
  const maxGroups = be.device.limits.maxComputeWorkgroupsPerDimension;
  if (s.R > maxGroups || s.hq > maxGroups || Math.ceil(s.C / (64 - (s.ks - 1))) > maxGroups) {
    throw new LimitError(`scoreKV: ${s.R} query rows x ${s.hq} heads over N = ${s.n} need more than ${maxGroups} workgroups per dimension`);
  }
  return be.scoped(async () => {
    const bufs: GpuStorage[] = [];
    const up = (x: Float32Array) => { const b = be.upload(x); bufs.push(b); return b.buffer; };
    const mk = (n: number) => { const b = be.alloc(n); bufs.push(b); return b.buffer; };
    const u = params(be, { ...s, haveLse: lse ? 1 : 0 });
    try {
      const bq = up(q), bk = up(k), bl = lse ? up(lse) : mk(4), br = mk(rowsLen), bo = mk(planeLen);
      const rowsStore = bufs[bufs.length - 2], outStore = bufs[bufs.length - 1];
      const enc = be.device.createCommandEncoder();
      gpuRun(be, 'row_stats', scoreShader, 'kv_score', [[0, bq], [1, bk], [2, bl], [3, br], [4, u]], [s.R, s.hq, 1], enc);
      if (s.C > 0) {
        const T = 64 - (s.ks - 1);
        gpuRun(be, 'window_scores', scoreShader, 'kv_score', [[0, bq], [1, bk], [3, br], [4, u], [5, bo]], [Math.ceil(s.C / T), s.hkv, 1], enc);
      }
      be.device.queue.submit([enc.finish()]);
      const rows = await be.read(rowsStore);
      const planes = s.C > 0 ? await be.read(outStore) : new Float32Array(0);
      return { rows, planes };
    } finally {
      u.destroy();
      for (const b of bufs) be.release(b);
    }
  });
}

/** mean over the group of ||v_j W_o^(h)||_1 (or ||v_j||_1), [Hkv, N]. */
export async function valueNorm(rt: Runtime, v: Float32Array, wo: Float32Array | undefined,
  hq: number, hkv: number, n: number, d: number, D: number): Promise<Float32Array> {
  const impl = rt.impl;
  impl.check();
  if (impl.kind === 'wasm') {
    return withWasm(impl, (keep) => {
      const tv = keep(impl.upload(v)), tw = keep(wo ? impl.upload(wo) : impl.allocF32(1)), to = keep(impl.allocF32(hkv * n));
      kx(impl).kvValueNorm(tv.ptr, tw.ptr, to.ptr, hq, hkv, n, d, D, wo ? 1 : 0);
      return impl.read(to);
    });
  }
  const be = impl;
  checkGpu(be, 'scoreKV', d, [['v', v.length], ['wo', wo?.length ?? 0]]);
  if (Math.ceil(n / 64) > be.device.limits.maxComputeWorkgroupsPerDimension) throw new LimitError(`scoreKV: N = ${n} is too large for one dispatch`);
  return be.scoped(async () => {
    const bv = be.upload(v), bw = wo ? be.upload(wo) : be.alloc(4), bo = be.alloc(hkv * n);
    const u = params(be, { hq, hkv, n, d, D, haveWo: wo ? 1 : 0 });
    try {
      const enc = be.device.createCommandEncoder();
      gpuRun(be, 'value_norm', scoreShader, 'kv_score', [[4, u], [6, bv.buffer], [7, bw.buffer], [8, bo.buffer]], [Math.ceil(n / 64), hkv, 1], enc);
      be.device.queue.submit([enc.finish()]);
      return await be.read(bo);
    } finally {
      u.destroy();
      for (const b of [bv, bw, bo]) be.release(b);
    }
  });
}

/** -||k_r||_2 for every row of k ([rows, d]). */
export async function keyNorm(rt: Runtime, k: Float32Array, rows: number, d: number): Promise<Float32Array> {
  const impl = rt.impl;
  impl.check();
  if (impl.kind === 'wasm') {
    return withWasm(impl, (keep) => {
      const tk = keep(impl.upload(k)), to = keep(impl.allocF32(rows));
      kx(impl).kvKeyNorm(tk.ptr, to.ptr, rows, d);
      return impl.read(to);
    });
  }
  const be = impl;
  checkGpu(be, 'scoreKV', 0, [['k', k.length]]);
  return be.scoped(async () => {
    const bk = be.upload(k), bo = be.alloc(rows);
    const u = params(be, { d, rows });
    try {
      const enc = be.device.createCommandEncoder();
      const gx = Math.min(Math.ceil(rows / 64), 65535), gy = Math.ceil(rows / (65535 * 64));
      gpuRun(be, 'key_norm', scoreShader, 'kv_score', [[1, bk.buffer], [4, u], [8, bo.buffer]], [gx, gy, 1], enc);
      be.device.queue.submit([enc.finish()]);
      return await be.read(bo);
    } finally {
      u.destroy();
      for (const b of [bk, bo]) be.release(b);
    }
  });
}

/**
 * Radix top-k per segment on the backend. `segs` = [start, length, k] triples over the flat arrays.
 * Returns the keep mask (1 = keep).
 */
export async function selectMask(rt: Runtime, scores: Float32Array, pinned: Uint8Array, segs: number[]): Promise<Uint8Array> {
  const impl = rt.impl;
  impl.check();
  const len = scores.length, nseg = segs.length / 3;
  const pin32 = Uint32Array.from(pinned);
  const seg32 = Uint32Array.from(segs);
  let keep32: Uint32Array;
  if (impl.kind === 'wasm') {
    keep32 = withWasm(impl, (keep) => {
      const ts = keep(impl.upload(scores)), tp = keep(impl.allocF32(len)), tk = keep(impl.allocF32(len));
      const tg = keep(impl.allocF32(seg32.length)), th = keep(impl.allocF32(256));
      const mem = impl.ex.memory.buffer;
      new Uint32Array(mem, tp.ptr, len).set(pin32);
      new Uint32Array(mem, tg.ptr, seg32.length).set(seg32);
      kx(impl).kvSelect(ts.ptr, tp.ptr, tk.ptr, tg.ptr, nseg, th.ptr);
      return new Uint32Array(impl.ex.memory.buffer, tk.ptr, len).slice();
    });
  } else {
    const be = impl;
    checkGpu(be, 'selectKV', 0, [['scores', len]]);
    if (nseg > be.device.limits.maxComputeWorkgroupsPerDimension) throw new LimitError(`selectKV: ${nseg} segments exceed one dispatch`);
    keep32 = await be.scoped(async () => {
      const bs = be.upload(scores), bp = be.alloc(len), bk = be.alloc(len), bg = be.alloc(seg32.length);
      try {
        be.device.queue.writeBuffer(bp.buffer, 0, pin32);
        be.device.queue.writeBuffer(bg.buffer, 0, seg32);
        const enc = be.device.createCommandEncoder();
        gpuRun(be, 'select_topk', selectShader, 'kv_select', [[0, bs.buffer], [1, bp.buffer], [2, bk.buffer], [3, bg.buffer]], [nseg, 1, 1], enc);
        be.device.queue.submit([enc.finish()]);
        const f = await be.read(bk);
        return new Uint32Array(f.buffer, f.byteOffset, len);
      } finally {
        for (const b of [bs, bp, bk, bg]) be.release(b);
      }
    });
  }
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    if (keep32[i] > 1) throw new LimitError(`selectKV: the backend left entry ${i} unwritten`);
    out[i] = keep32[i];
  }
  return out;
}
