// KVCache: one attention layer's keys and values on the runtime's backend, per KV head, in one
// flat buffer with per-head offsets and lengths, so a compacted (evicted) cache where every head
// keeps its own tokens is the same layout as a dense one, and decode reads it as it is.
import { ArgumentError, DisposedError, DTypeError, LimitError, ShapeError } from './errors.js';
import { Tensor, type BackendImpl } from './tensor.js';
import type { WasmBackend, WasmStorage } from './backends/wasm.js';
import type { WebGpuBackend, GpuStorage } from './backends/webgpu.js';
import { attentionModule, checkHeadDim, encodePass, MAX_POSITION } from './ops/attention_common.js';
import { checkInt, checkKeys, describe } from './validate.js';

type Store = WasmStorage | GpuStorage;

/** Options of `rt.createKVCache`. */
export interface KVCacheOptions {
  /** Key/value heads (times batch, if batch entries share one cache object). */
  numKvHeads: number;
  /** Values per head vector: 1 to 256. */
  headDim: number;
  /** Tokens per head to reserve up front (default 64); the cache grows by doubling past it. */
  capacity?: number;
}

/** A copy of a cache's contents (`cache.read()`), in the compacted layout. */
export interface KVCacheContents {
  /** `[sum(lengths)][headDim]`: head 0's tokens, then head 1's, ... */
  keys: Float32Array;
  /** Same layout as keys. */
  values: Float32Array;
  /** Original position of every token, same indexing as the rows of keys. */
  positions: Int32Array;
  /** First row of each head in keys / values / positions (prefix sums of lengths). */
  offsets: Int32Array;
  /** Tokens held by each head. */
  lengths: Int32Array;
}

/** @internal What decode reads: the buffers and the per-head layout. */
export interface KVCacheLayout {
  k: Store;
  v: Store;
  pos: Store;
  offsets: Int32Array;
  lengths: Int32Array;
}

const OP = 'KVCache';

/**
 * Keys and values of one attention layer, resident on the runtime's backend (GPU buffers or wasm
 * memory). Create one per layer with `rt.createKVCache({ numKvHeads, headDim })`.
 *
 * Storage: one flat key buffer and one value buffer of rows of headDim floats; KV head g owns
 * rows offsets[g] .. offsets[g] + lengths[g] (plus spare capacity), and every row carries the
 * original position of its token. `append` adds tokens at the next positions to every head
 * (capacity doubles when full: amortised O(1) copies per token). `compact(keep)` keeps a
 * per-head subset of tokens at their original positions (the variable-length layout eviction
 * produces); `rt.decode(q, cache, ...)` attends over exactly what the cache holds.
 */
export class KVCache {
  /** Key/value heads. */
  readonly numKvHeads: number;
  /** Values per head vector. */
  readonly headDim: number;
  private k: Store | undefined;
  private v: Store | undefined;
  private pos: Store | undefined;
  private offsets: Int32Array;
  private lens: Int32Array;
  private caps: Int32Array;
  private posHost: Int32Array;
  private next = 0;

  /** @internal Use `rt.createKVCache`. */
  constructor(readonly backend: BackendImpl, options: KVCacheOptions) {
    if (options === null || typeof options !== 'object') throw new ArgumentError(`${OP}: options { numKvHeads, headDim } are required`);
    checkKeys(OP, 'options', options, ['numKvHeads', 'headDim', 'capacity']);
    this.numKvHeads = checkInt(OP, 'numKvHeads', options.numKvHeads);
    this.headDim = checkHeadDim(OP, options.headDim);
    const cap = options.capacity === undefined ? 64 : checkInt(OP, 'capacity', options.capacity, 0);
    backend.check();
    const caps = new Int32Array(this.numKvHeads).fill(cap);
    this.offsets = new Int32Array(this.numKvHeads);
    this.lens = new Int32Array(this.numKvHeads);
    this.caps = caps;
    this.posHost = new Int32Array(0);
    this.relayout(caps);
  }

  /** Tokens held by each KV head. */
  get lengths(): number[] {
    return Array.from(this.lens);
  }

  /** Tokens held per head: the common length of a dense cache, the longest head after compaction. */
  get length(): number {
    return Math.max(0, ...this.lens);
  }

  /** Tokens appended so far = the position the next appended token gets. */
  get position(): number {
    return this.next;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.k === undefined;
  }

  /**
   * Appends n tokens to every head: k and v are `[numKvHeads][n][headDim]` (Float32Array or a
   * Tensor of this runtime). They get positions `position .. position + n - 1`.
   */
  append(k: Float32Array | Tensor, v: Float32Array | Tensor): void {
    this.check();
    const kl = this.inputLength('k', k), vl = this.inputLength('v', v);
    const row = this.numKvHeads * this.headDim;
    if (kl === 0 || kl % row !== 0) {
      throw new ShapeError(`${OP}.append: k has ${kl} elements, expected a positive multiple of numKvHeads x headDim = ${row} ([numKvHeads, n, headDim])`);
    }
    if (vl !== kl) throw new ShapeError(`${OP}.append: v has ${vl} elements, expected ${kl} (the shape of k)`);
    const n = kl / row;
    if (this.next + n > MAX_POSITION) throw new LimitError(`${OP}.append: positions beyond 2^30 are not supported`);
    let grow = false;
    for (let g = 0; g < this.numKvHeads; g++) if (this.lens[g] + n > this.caps[g]) grow = true;
    if (grow) {
      const caps = new Int32Array(this.numKvHeads);
      for (let g = 0; g < this.numKvHeads; g++) caps[g] = Math.max(this.lens[g] + n, 2 * this.caps[g], 16);
      this.relayout(caps);
    }
    const hd = this.headDim, be = this.backend;
    for (let g = 0; g < this.numKvHeads; g++) {
      const dst = this.offsets[g] + this.lens[g];
      for (let t = 0; t < n; t++) this.posHost[dst + t] = this.next + t;
    }
    if (be.kind === 'wasm') {
      const mem = be.ex.memory.buffer;
      const kd = new Float32Array(mem, (this.k as WasmStorage).ptr), vd = new Float32Array(mem, (this.v as WasmStorage).ptr);
      const ks = k instanceof Tensor ? be.view(k.data() as WasmStorage) : k;
      const vs = v instanceof Tensor ? be.view(v.data() as WasmStorage) : v;
      const pd = new Int32Array(mem, (this.pos as WasmStorage).ptr);
      for (let g = 0; g < this.numKvHeads; g++) {
        const dst = this.offsets[g] + this.lens[g];
        kd.set(ks.subarray(g * n * hd, (g + 1) * n * hd), dst * hd);
        vd.set(vs.subarray(g * n * hd, (g + 1) * n * hd), dst * hd);
        pd.set(this.posHost.subarray(dst, dst + n), dst);
      }
    } else {
      const kb = (this.k as GpuStorage).buffer, vb = (this.v as GpuStorage).buffer, pb = (this.pos as GpuStorage).buffer;
      const q = be.device.queue;
      const enc = k instanceof Tensor || v instanceof Tensor ? be.device.createCommandEncoder() : undefined;
      for (let g = 0; g < this.numKvHeads; g++) {
        const dst = this.offsets[g] + this.lens[g];
        for (const [src, buf] of [[k, kb], [v, vb]] as const) {
          if (src instanceof Tensor) {
            enc!.copyBufferToBuffer((src.data() as GpuStorage).buffer, g * n * hd * 4, buf, dst * hd * 4, n * hd * 4);
          } else {
            q.writeBuffer(buf, dst * hd * 4, src as Float32Array<ArrayBuffer>, g * n * hd, n * hd);
          }
        }
        q.writeBuffer(pb, dst * 4, this.posHost as Int32Array<ArrayBuffer>, dst, n);
      }
      if (enc) q.submit([enc.finish()]);
    }
    for (let g = 0; g < this.numKvHeads; g++) this.lens[g] += n;
    this.next += n;
  }

  /**
   * Keeps, for each KV head g, only the tokens whose indices (0 .. lengths[g] - 1, in the head's
   * current order) are listed in keep[g], strictly increasing. Tokens keep their original
   * positions; the result is the tight variable-length layout (offsets = prefix sums of the new
   * lengths). Later appends continue at `position`.
   */
  compact(keep: ArrayLike<number>[]): void {
    this.check();
    if (!Array.isArray(keep)) throw new ArgumentError(`${OP}.compact: keep must be an array of per-head index lists, got ${describe(keep)}`);
    if (keep.length !== this.numKvHeads) {
      throw new ShapeError(`${OP}.compact: keep has ${keep.length} lists, expected one per KV head (${this.numKvHeads})`);
    }
    const lens = new Int32Array(this.numKvHeads);
    let total = 0;
    keep.forEach((list, g) => {
      if (list === null || typeof list !== 'object' || typeof (list as ArrayLike<number>).length !== 'number') {
        throw new ArgumentError(`${OP}.compact: keep[${g}] must be an array of token indices, got ${describe(list)}`);
      }
      let prev = -1;
      for (let t = 0; t < list.length; t++) {
        const x = list[t];
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= this.lens[g]) {
          throw new ArgumentError(`${OP}.compact: keep[${g}][${t}] = ${describe(x)} is not a token index of head ${g} (0 .. ${this.lens[g] - 1})`);
        }
        if (x <= prev) {
          throw new ArgumentError(`${OP}.compact: keep[${g}] must be strictly increasing (sorted, no duplicates): keep[${g}][${t}] = ${x} after ${prev}`);
        }
        prev = x;
      }
      lens[g] = list.length;
      total += list.length;
    });
    const hd = this.headDim, be = this.backend;
    const idx = new Uint32Array(total);
    const offsets = new Int32Array(this.numKvHeads);
    const posHost = new Int32Array(total);
    let o = 0;
    for (let g = 0; g < this.numKvHeads; g++) {
      offsets[g] = o;
      const list = keep[g];
      for (let t = 0; t < list.length; t++) {
        idx[o + t] = this.offsets[g] + list[t];
        posHost[o + t] = this.posHost[this.offsets[g] + list[t]];
      }
      o += list.length;
    }
    const rows = Math.max(total, 1);
    if (be.kind === 'wasm') {
      const [nk, nv, np] = wasmBuffers(be, rows, hd);
      const mem = be.ex.memory.buffer;
      const f = new Float32Array(mem);
      const ok = (this.k as WasmStorage).ptr >> 2, ov = (this.v as WasmStorage).ptr >> 2;
      for (let r = 0; r < total; r++) {
        const s = idx[r] * hd;
        f.copyWithin((nk.ptr >> 2) + r * hd, ok + s, ok + s + hd);
        f.copyWithin((nv.ptr >> 2) + r * hd, ov + s, ov + s + hd);
      }
      new Int32Array(mem, np.ptr, total).set(posHost);
      this.replace(nk, nv, np);
    } else {
      const [nk, nv, np] = gpuBuffers(be, rows * hd, posHost);
      if (total > 0) {
        const idxBuf = be.upload(new Float32Array(idx.buffer));
        const perRow = hd % 4 === 0 ? hd / 4 : hd; // storage elements (vec4 or f32) per row
        const groups = Math.ceil((total * perRow) / 64);
        const nx = Math.min(groups, 65535), ny = Math.ceil(groups / nx);
        if (ny > 65535) throw new LimitError(`${OP}.compact: ${total} tokens are too many to gather in one dispatch`);
        const params = be.uniform([total, perRow, nx, 0]);
        const mod = attentionModule('decode', hd);
        const pipeline = be.pipeline(mod.name, mod.code, {}, 'gather');
        const enc = be.device.createCommandEncoder();
        encodePass(be, enc, pipeline, [[13, (this.k as GpuStorage).buffer], [14, (this.v as GpuStorage).buffer],
          [15, idxBuf.buffer], [16, nk.buffer], [17, nv.buffer], [18, params]], [nx, ny, 1]);
        be.device.queue.submit([enc.finish()]);
        params.destroy();
        be.release(idxBuf);
      }
      this.replace(nk, nv, np);
    }
    this.offsets = offsets;
    this.lens = lens;
    this.caps = lens.slice();
    this.posHost = posHost;
  }

  /**
   * Copies the contents back (tight layout: see KVCacheContents). For tests and inspection.
   * Rejects (never throws) with DisposedError on a disposed cache or runtime.
   */
  async read(): Promise<KVCacheContents> {
    this.check();
    const be = this.backend, hd = this.headDim;
    let kAll: Float32Array, vAll: Float32Array;
    if (be.kind === 'wasm') {
      kAll = be.view(this.k as WasmStorage);
      vAll = be.view(this.v as WasmStorage);
    } else {
      kAll = await be.read(this.k as GpuStorage);
      vAll = await be.read(this.v as GpuStorage);
    }
    const total = this.lens.reduce((a, b) => a + b, 0);
    const keys = new Float32Array(total * hd), values = new Float32Array(total * hd);
    const positions = new Int32Array(total), offsets = new Int32Array(this.numKvHeads);
    let o = 0;
    for (let g = 0; g < this.numKvHeads; g++) {
      const s = this.offsets[g], n = this.lens[g];
      offsets[g] = o;
      keys.set(kAll.subarray(s * hd, (s + n) * hd), o * hd);
      values.set(vAll.subarray(s * hd, (s + n) * hd), o * hd);
      positions.set(this.posHost.subarray(s, s + n), o);
      o += n;
    }
    return { keys, values, positions, offsets, lengths: this.lens.slice() };
  }

  /**
   * An independent copy on the same backend: the same tokens per head, positions, layout and next position,
   * in new buffers (a device-side copy on WebGPU). Appending to or compacting one leaves the other as it was.
   */
  clone(): KVCache {
    this.check();
    const be = this.backend, hd = this.headDim;
    const c = new KVCache(be, { numKvHeads: this.numKvHeads, headDim: hd, capacity: 0 });
    const rows = Math.max(1, this.caps.reduce((a, b) => a + b, 0), this.posHost.length);
    const posHost = new Int32Array(rows);
    posHost.set(this.posHost.subarray(0, Math.min(rows, this.posHost.length)));
    if (be.kind === 'wasm') {
      let nk: WasmStorage, nv: WasmStorage, np: WasmStorage;
      try {
        [nk, nv, np] = wasmBuffers(be, rows, hd);
      } catch (e) {
        c.dispose();
        throw e;
      }
      const f = new Float32Array(be.ex.memory.buffer);
      const ok = (this.k as WasmStorage).ptr >> 2, ov = (this.v as WasmStorage).ptr >> 2;
      const used = this.usedRows();
      f.copyWithin(nk.ptr >> 2, ok, ok + used * hd);
      f.copyWithin(nv.ptr >> 2, ov, ov + used * hd);
      new Int32Array(be.ex.memory.buffer, np.ptr, rows).set(posHost);
      c.replace(nk, nv, np);
    } else {
      let nk: GpuStorage, nv: GpuStorage, np: GpuStorage;
      try {
        [nk, nv, np] = gpuBuffers(be, rows * hd, posHost);
      } catch (e) {
        c.dispose();
        throw e;
      }
      const used = this.usedRows();
      if (used > 0) {
        const enc = be.device.createCommandEncoder();
        enc.copyBufferToBuffer((this.k as GpuStorage).buffer, 0, nk.buffer, 0, used * hd * 4);
        enc.copyBufferToBuffer((this.v as GpuStorage).buffer, 0, nv.buffer, 0, used * hd * 4);
        be.device.queue.submit([enc.finish()]);
      }
      c.replace(nk, nv, np);
    }
    c.offsets = this.offsets.slice();
    c.lens = this.lens.slice();
    c.caps = this.caps.slice();
    c.posHost = posHost;
    c.next = this.next;
    return c;
  }

  /** Rows up to the end of the last head's tokens (what a copy must carry). */
  private usedRows(): number {
    let end = 0;
    for (let g = 0; g < this.numKvHeads; g++) if (this.lens[g] > 0) end = Math.max(end, this.offsets[g] + this.lens[g]);
    return end;
  }

  /** Frees the cache's buffers; further use throws DisposedError. Idempotent. */
  dispose(): void {
    if (!this.k) return;
    this.release();
  }

  /** @internal The buffers and layout decode reads. */
  _layout(): KVCacheLayout {
    this.check();
    return { k: this.k!, v: this.v!, pos: this.pos!, offsets: this.offsets, lengths: this.lens };
  }

  private check(): void {
    if (!this.k) throw new DisposedError('KV cache');
    this.backend.check();
  }

  private inputLength(name: string, x: unknown): number {
    if (x instanceof Tensor) {
      if (x.backend !== this.backend) throw new ArgumentError(`${OP}.append: ${name} is a Tensor of another runtime`);
      return x.data().length;
    }
    if (x instanceof Float32Array) return x.length;
    throw new DTypeError(`${OP}.append: ${name} must be a Float32Array or a Tensor, got ${describe(x)}`);
  }

  /** Moves every head into new buffers with capacities `caps` (offsets = prefix sums). */
  private relayout(caps: Int32Array): void {
    const hd = this.headDim, be = this.backend;
    const offsets = new Int32Array(this.numKvHeads);
    let total = 0;
    for (let g = 0; g < this.numKvHeads; g++) {
      offsets[g] = total;
      total += caps[g];
    }
    const rows = Math.max(total, 1);
    if (be.kind === 'webgpu') {
      be.checkBindable(OP, 'keys', rows * hd);
    } else if (rows * hd * 4 * 2 > 2 ** 32) {
      throw new LimitError(`${OP}: ${rows} tokens of headDim ${hd} exceed the 4 GiB wasm memory`);
    }
    const posHost = new Int32Array(rows);
    for (let g = 0; g < this.numKvHeads; g++) {
      posHost.set(this.posHost.subarray(this.offsets[g], this.offsets[g] + this.lens[g]), offsets[g]);
    }
    if (be.kind === 'wasm') {
      const [nk, nv, np] = wasmBuffers(be, rows, hd);
      if (this.k) this.copyHeads(be, this.k as WasmStorage, nk, offsets);
      if (this.v) this.copyHeads(be, this.v as WasmStorage, nv, offsets);
      new Int32Array(be.ex.memory.buffer, np.ptr, rows).set(posHost);
      this.replace(nk, nv, np);
    } else {
      const [nk, nv, np] = gpuBuffers(be, rows * hd, posHost);
      if (this.k) {
        const enc = be.device.createCommandEncoder();
        for (let g = 0; g < this.numKvHeads; g++) {
          const n = this.lens[g];
          if (!n) continue;
          enc.copyBufferToBuffer((this.k as GpuStorage).buffer, this.offsets[g] * hd * 4, nk.buffer, offsets[g] * hd * 4, n * hd * 4);
          enc.copyBufferToBuffer((this.v as GpuStorage).buffer, this.offsets[g] * hd * 4, nv.buffer, offsets[g] * hd * 4, n * hd * 4);
        }
        be.device.queue.submit([enc.finish()]);
      }
      this.replace(nk, nv, np);
    }
    this.offsets = offsets;
    this.caps = caps;
    this.posHost = posHost;
  }

  private copyHeads(be: WasmBackend, src: WasmStorage, dst: WasmStorage, offsets: Int32Array): void {
    const f = new Float32Array(be.ex.memory.buffer);
    const hd = this.headDim;
    for (let g = 0; g < this.numKvHeads; g++) {
      const s = (src.ptr >> 2) + this.offsets[g] * hd;
      f.copyWithin((dst.ptr >> 2) + offsets[g] * hd, s, s + this.lens[g] * hd);
    }
  }

  private replace(k: Store, v: Store, pos: Store): void {
    this.release();
    this.k = k;
    this.v = v;
    this.pos = pos;
  }

  private release(): void {
    const be = this.backend;
    for (const s of [this.k, this.v, this.pos]) {
      if (!s) continue;
      if (be.kind === 'wasm') be.release(s as WasmStorage);
      else be.release(s as GpuStorage);
    }
    this.k = this.v = this.pos = undefined;
  }
}

/** Keys, values (`n` f32 each) and positions (`posHost`) buffers on the GPU: all three, or none (what was got is released when one fails). */
/** Keys, values (rows x headDim f32 each) and positions (rows) on the wasm heap: all three, or none (a failed allocation releases the others). */
function wasmBuffers(be: WasmBackend, rows: number, hd: number): [WasmStorage, WasmStorage, WasmStorage] {
  const got: WasmStorage[] = [];
  try {
    got.push(be.allocF32(rows * hd));
    got.push(be.allocF32(rows * hd));
    got.push(be.allocF32(rows));
  } catch (e) {
    for (const b of got) be.release(b);
    throw e;
  }
  return [got[0], got[1], got[2]];
}

function gpuBuffers(be: WebGpuBackend, n: number, posHost: Int32Array): [GpuStorage, GpuStorage, GpuStorage] {
  const got: GpuStorage[] = [];
  try {
    got.push(be.alloc(n));
    got.push(be.alloc(n));
    got.push(be.upload(new Float32Array(posHost.buffer)));
  } catch (e) {
    for (const b of got) be.release(b);
    throw e;
  }
  return [got[0], got[1], got[2]];
}
