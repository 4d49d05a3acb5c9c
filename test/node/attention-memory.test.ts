// Attention memory on wasm: prefill and decode at seqK = 32768 never allocate anything of size
// seqQ x seqK; wasm memory grows by O(seq x headDim) (the output, lse and a few KiB of scratch).
import { describe, it, expect } from 'vitest';
import * as pc from 'pcpress';

interface WasmImpl {
  ex: { memory: WebAssembly.Memory };
  allocF32(length: number): { ptr: number; length: number };
}

/** Records the largest single allocation (in f32 elements) made through the backend. */
function spyAllocations(rt: pc.Runtime): { max: () => number; reset: () => void } {
  const impl = (rt as unknown as { impl: WasmImpl }).impl;
  const orig = impl.allocF32.bind(impl);
  let max = 0;
  impl.allocF32 = (length: number) => {
    max = Math.max(max, length);
    return orig(length);
  };
  return { max: () => max, reset: () => { max = 0; } };
}

function memBytes(rt: pc.Runtime): number {
  return (rt as unknown as { impl: WasmImpl }).impl.ex.memory.buffer.byteLength;
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** f64 attention of one query row against one KV head (causal at position pq). */
function refRow(q: Float32Array, k: Float32Array, v: Float32Array, D: number, pq: number): Float64Array {
  const n = Math.min(k.length / D, pq + 1);
  const s = new Float64Array(n);
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    let d = 0;
    for (let x = 0; x < D; x++) d += q[x] * k[j * D + x];
    s[j] = d / Math.sqrt(D);
    m = Math.max(m, s[j]);
  }
  let l = 0;
  for (let j = 0; j < n; j++) l += (s[j] = Math.exp(s[j] - m));
  const out = new Float64Array(D);
  for (let j = 0; j < n; j++) for (let x = 0; x < D; x++) out[x] += (s[j] / l) * v[j * D + x];
  return out;
}

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / d);
}

describe('attention memory (wasm)', () => {
  const seqK = 32768, seqQ = 256, D = 64, H = 4, KH = 1;

  it('prefill at seqK = 32768 allocates nothing of size seqQ x seqK', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm' });
    const q = rand(H * seqQ * D, 1), k = rand(KH * seqK * D, 2), v = rand(KH * seqK * D, 3);
    const tq = rt.tensor(q), tk = rt.tensor(k), tv = rt.tensor(v);
    const spy = spyAllocations(rt);
    const before = memBytes(rt);
    const r = rt.attention(tq, tk, tv, { numHeads: H, numKvHeads: KH, headDim: D, causal: true, returnLse: true });
    const grown = memBytes(rt) - before;
    const scores = seqQ * seqK; // what a materialised score matrix of one head would need
    expect(spy.max()).toBeLessThan(scores / 16);
    expect(spy.max()).toBeLessThanOrEqual(H * seqQ * D); // the largest allocation is the output
    // Growth covers at most the output, lse and scratch (TLSF may round up to the next pages).
    expect(grown).toBeLessThan(4 * (2 * H * seqQ * D) + (1 << 20));
    expect(grown).toBeLessThan((4 * scores) / 8);
    // And the answer is right (spot rows).
    const out = await r.out.read();
    for (const [h, i] of [[0, 0], [1, 100], [3, seqQ - 1]]) {
      const ref = refRow(q.subarray((h * seqQ + i) * D, (h * seqQ + i + 1) * D), k, v, D, seqK - seqQ + i);
      expect(rel(out.subarray((h * seqQ + i) * D, (h * seqQ + i + 1) * D), ref)).toBeLessThan(1e-5);
    }
    rt.destroy();
  });

  it('decode over a 32768-token cache grows memory by O(headDim) per query row', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm' });
    const cache = rt.createKVCache({ numKvHeads: KH, headDim: D, capacity: seqK });
    const k = rand(KH * seqK * D, 4), v = rand(KH * seqK * D, 5);
    cache.append(k, v);
    const q = rand(H * D, 6);
    const tq = rt.tensor(q);
    const spy = spyAllocations(rt);
    const before = memBytes(rt);
    const out = rt.decode(tq, cache, { numHeads: H, causal: true });
    expect(memBytes(rt) - before).toBeLessThan(1 << 20);
    // split-K: each query row keeps at most MAX_CHUNKS partial rows (headDim padded to 4, + max and sum)
    expect(spy.max()).toBeLessThanOrEqual(H * (D + 4) * 32 + 4096);
    const got = await out.read();
    for (let h = 0; h < H; h++) {
      expect(rel(got.subarray(h * D, (h + 1) * D), refRow(q.subarray(h * D, (h + 1) * D), k, v, D, seqK - 1))).toBeLessThan(1e-5);
    }
    rt.destroy();
  });

  it('KVCache.append grows by doubling: appending 2000 single tokens reallocates O(log n) times', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm' });
    const cache = rt.createKVCache({ numKvHeads: 2, headDim: 32, capacity: 16 });
    const impl = (rt as unknown as { impl: WasmImpl }).impl;
    const orig = impl.allocF32.bind(impl);
    let allocs = 0;
    impl.allocF32 = (length: number) => {
      allocs++;
      return orig(length);
    };
    const k = rand(2 * 32, 7), v = rand(2 * 32, 8);
    for (let t = 0; t < 2000; t++) cache.append(k, v);
    expect(cache.length).toBe(2000);
    // 16 -> 32 -> ... -> 2048: 7 relayouts of 3 buffers (keys, values, positions).
    expect(allocs).toBeLessThanOrEqual(3 * 8);
    const c = await cache.read();
    expect(c.lengths).toEqual(Int32Array.from([2000, 2000]));
    expect(c.positions[1999]).toBe(1999);
    expect(Array.from(c.keys.subarray(1999 * 32, 2000 * 32))).toEqual(Array.from(k.subarray(0, 32)));
    rt.destroy();
  });
});
