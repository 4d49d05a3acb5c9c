// The wasm thread pool in Node: 'auto' and explicit counts, typed errors where threads cannot start,
// workers that never keep the process alive, and destroy() ending the pool; the split-K decode, prefill and
// KV scoring partitions at their edges (query rows 1..40, keys around the chunk limits), bit for bit on 1, 2
// and 3 threads and against an f64 reference, and the LM fixture's prefill 600 + append 17 on 2 threads.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pc from 'pcpress';
import { wasmSectionIds } from '../../scripts/wasm-sections.mjs';

const root = path.resolve(import.meta.dirname, '../..');

type WithLse = { out: Float32Array; lse: Float32Array };
const rand = pc.seededRandom(20261129);
const f32 = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
/** Index of the first element whose bits differ (-1: none; 0 on a length mismatch). */
function firstDiff(x: Float32Array, y: Float32Array): number {
  if (x.length !== y.length) return 0;
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length), b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return a.findIndex((v, i) => v !== b[i]);
}

/**
 * f64 attention of q ([H][seqQ][D]) over KV heads of L tokens each (k, v: [KH][L][D]), query i at position
 * L - seqQ + i (causal: sees keys <= its position); returns out and lse.
 */
function refAttention(q: Float32Array, k: Float32Array, v: Float32Array, H: number, KH: number, seqQ: number, L: number, D: number,
  causal: boolean): { out: Float64Array; lse: Float64Array } {
  const G = H / KH, scale = 1 / Math.sqrt(D);
  const out = new Float64Array(H * seqQ * D), lse = new Float64Array(H * seqQ), s = new Float64Array(L);
  for (let h = 0; h < H; h++) {
    const kb = Math.floor(h / G) * L * D;
    for (let i = 0; i < seqQ; i++) {
      const qo = (h * seqQ + i) * D, n = causal ? Math.min(L, L - seqQ + i + 1) : L;
      let m = -Infinity;
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let x = 0; x < D; x++) d += q[qo + x] * k[kb + j * D + x];
        s[j] = d * scale;
        if (s[j] > m) m = s[j];
      }
      let l = 0;
      for (let j = 0; j < n; j++) l += (s[j] = Math.exp(s[j] - m));
      for (let j = 0; j < n; j++) {
        const w = s[j] / l, vo = kb + j * D;
        for (let x = 0; x < D; x++) out[qo + x] += w * v[vo + x];
      }
      lse[h * seqQ + i] = n > 0 ? m + Math.log(l) : -Infinity;
    }
  }
  return { out, lse };
}

/** Calls the runtime's thread pool has run (0 without a pool): its internal test counter. */
function poolRuns(r: pc.Runtime): number {
  return (r as unknown as { impl: { pool?: { _testRuns: number } } }).impl.pool?._testRuns ?? 0;
}
/** Multiply-adds (twice) at which attention and KV scoring calls go to the pool (src/ops/attention.ts, src/kv/backend.ts). */
const POOL_MIN_WORK = 1 << 19, KV_POOL_MIN_WORK = 1 << 18;
/** Expects the calls since `before` (poolRuns of each runtime) to have reached the pool of every threaded runtime, or none. */
function expectPool(rts: pc.Runtime[], before: number[], expected: boolean, tag: string): void {
  rts.forEach((r, i) => {
    if (r.info.threads > 1) expect(poolRuns(r) > before[i], `${tag}: the ${r.info.threads}-thread pool ${expected ? 'should run' : 'should not run'}`).toBe(expected);
  });
}

/** max |got - ref| / max(1, max |ref|). */
function maxErr(got: Float32Array, ref: Float64Array): number {
  let e = 0, r = 1;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(got[i] - ref[i]));
    r = Math.max(r, Math.abs(ref[i]));
  }
  return e / r;
}

describe('wasm threads', () => {
  it("threads 'auto' (the default) runs on every available core, at most 16, and says so", async () => {
    const cores = Math.min(os.availableParallelism(), 16);
    for (const options of [{ backend: 'wasm' as const }, { backend: 'wasm' as const, threads: 'auto' as const }]) {
      const rt = await pc.createRuntime(options);
      expect(rt.info.threads).toBe(cores);
      expect(rt.reason).toMatch(new RegExp(`${cores} threads?: threads 'auto', \\d+ cores?`));
      expect(rt.info.features).toEqual(cores > 1 ? ['simd128', 'threads'] : ['simd128']);
      rt.destroy();
    }
  });

  it('a count > 1 without SharedArrayBuffer is a BackendUnavailableError; auto falls to 1 and says why', async () => {
    const g = globalThis as { SharedArrayBuffer?: unknown };
    const saved = g.SharedArrayBuffer;
    g.SharedArrayBuffer = undefined;
    try {
      const err = await pc.createRuntime({ backend: 'wasm', threads: 2 }).catch((e) => e);
      expect(err).toBeInstanceOf(pc.BackendUnavailableError);
      expect(err.message).toMatch(/2 threads were asked for.*SharedArrayBuffer/);
      const rt = await pc.createRuntime({ backend: 'wasm' });
      expect(rt.info.threads).toBe(1);
      expect(rt.reason).toMatch(/1 thread: this runtime has no SharedArrayBuffer/);
      rt.destroy();
    } finally {
      g.SharedArrayBuffer = saved;
    }
  });

  it("workers that cannot start (Node's permission model without --allow-worker): 'auto' runs 1 thread and says why; threads: 2 is a BackendUnavailableError", () => {
    // threadsUnavailable() sees shared memory and worker_threads here; only starting a worker fails
    const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
    const code = "import * as pc from 'pcpress';" +
      "const rt = await pc.createRuntime({ backend: 'wasm' });" +
      "const c = await rt.matmul(new Float32Array(4).fill(1), new Float32Array(4).fill(1), { m: 2, k: 2, n: 2 });" +
      "const e = await pc.createRuntime({ backend: 'wasm', threads: 2 }).then(() => undefined, (x) => x);" +
      "console.log(JSON.stringify({ threads: rt.info.threads, reason: rt.reason, c: c[0], error: e?.name, typed: e instanceof pc.BackendUnavailableError, message: e?.message }));";
    const out = execFileSync('node', [flag, '--allow-fs-read=*', '--no-warnings', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    if (os.availableParallelism() > 1) {
      expect(r.threads).toBe(1);
      expect(r.reason).toMatch(/1 thread: workers could not start: .+\(threads 'auto' asked for \d+\)/);
    }
    expect(r.c).toBe(2);
    expect(r.typed, JSON.stringify(r)).toBe(true);
    expect(r.message).toMatch(/2 threads were asked for but a worker could not start/);
  });

  it('bad counts are typed errors, over 64 a LimitError', async () => {
    for (const threads of [0, -1, 2.5, NaN, '2', null]) {
      await expect(pc.createRuntime({ backend: 'wasm', threads: threads as never })).rejects.toBeInstanceOf(pc.ArgumentError);
    }
    await expect(pc.createRuntime({ backend: 'wasm', threads: 65 })).rejects.toBeInstanceOf(pc.LimitError);
  });

  it('an undestroyed threaded runtime does not keep Node alive', () => {
    const code = "import { createRuntime } from 'pcpress'; const rt = await createRuntime({ backend: 'wasm', threads: 3 });" +
      "const c = await rt.matmul(new Float32Array(128 * 128).fill(1), new Float32Array(128 * 128).fill(1), { m: 128, k: 128, n: 128 });" +
      "console.log(rt.info.threads, c[0]);";
    const out = execFileSync('node', ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(out.trim()).toBe('3 128');
  });

  it('destroy() stops the pool: later calls are a DisposedError, and destroy is idempotent', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    const a = new Float32Array(200 * 200).fill(0.5);
    expect((await rt.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
    rt.destroy();
    rt.destroy();
    await expect(rt.matmul(a, a, { m: 200, k: 200, n: 200 })).rejects.toBeInstanceOf(pc.DisposedError);
  });

  it('a worker that dies mid-call: the call throws ThreadPoolError (broken) instead of hanging; later calls reject the same way', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    const pool = (rt as unknown as { impl: { pool: { _testWorkerDies(): void; broken: boolean } } }).impl.pool;
    const a = new Float32Array(200 * 200).fill(0.5);
    expect((await rt.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
    const t0 = performance.now();
    let err: unknown;
    try {
      pool._testWorkerDies(); // the worker that takes the task exits (process.exit in the worker)
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(pc.ThreadPoolError);
    expect((err as pc.ThreadPoolError).broken).toBe(true);
    expect((err as Error).message).toMatch(/worker \d+ (died|exited)/);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(pool.broken).toBe(true);
    // every later call rejects with the same typed error (typed arrays: a rejected Promise; Tensors: a throw)
    for (const call of [
      () => rt.matmul(a, a, { m: 200, k: 200, n: 200 }),
      () => rt.attention(new Float32Array(64), new Float32Array(64), new Float32Array(64), { numHeads: 1, numKvHeads: 1, headDim: 8 }),
    ]) {
      const e = await Promise.resolve().then(call).catch((x) => x);
      expect(e).toBeInstanceOf(pc.ThreadPoolError);
      expect(e.message).toMatch(/broken.*create a new runtime/);
    }
    rt.destroy();
    await expect(rt.matmul(a, a, { m: 200, k: 200, n: 200 })).rejects.toBeInstanceOf(pc.DisposedError);
    // a fresh runtime works
    const rt2 = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    expect((await rt2.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
    rt2.destroy();
  });

  it('a kernel that traps on pool threads: ThreadPoolError with broken: false, and the pool stays usable', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    try {
      const pool = (rt as unknown as { impl: { pool: { _testKernelTraps(): void; broken: boolean } } }).impl.pool;
      const a = new Float32Array(200 * 200).fill(0.5);
      for (let rep = 0; rep < 3; rep++) {
        let err: unknown;
        try {
          pool._testKernelTraps(); // every thread's runTask hits unreachable
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(pc.ThreadPoolError);
        expect((err as pc.ThreadPoolError).broken).toBe(false);
        expect((err as Error).message).toMatch(/a kernel failed on a pool thread/);
        expect(pool.broken).toBe(false);
        // the pool still runs calls, on all its threads
        const before = poolRuns(rt);
        expect((await rt.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
        expect(poolRuns(rt)).toBeGreaterThan(before);
      }
    } finally {
      rt.destroy();
    }
  });

  it('the supervisor dying mid-call: the call throws ThreadPoolError (broken) after its heartbeat stops, instead of waiting forever', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    const pool = (rt as unknown as { impl: { pool: { _testSupervisorDies(): void; broken: boolean } } }).impl.pool;
    const a = new Float32Array(200 * 200).fill(0.5);
    expect((await rt.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
    const t0 = performance.now();
    let err: unknown;
    try {
      pool._testSupervisorDies(); // the supervisor exits while a worker holds the call open
    } catch (e) {
      err = e;
    }
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(pc.ThreadPoolError);
    expect((err as pc.ThreadPoolError).broken).toBe(true);
    expect((err as Error).message).toMatch(/supervisor worker stopped: no heartbeat/);
    expect(ms).toBeGreaterThan(1500);
    expect(ms).toBeLessThan(10_000);
    await expect(rt.matmul(a, a, { m: 200, k: 200, n: 200 })).rejects.toThrow(/broken.*create a new runtime/);
    rt.destroy();
    const rt2 = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    expect((await rt2.matmul(a, a, { m: 200, k: 200, n: 200 }))[0]).toBe(50);
    rt2.destroy();
  });

  it('a worker that dies after checking in does not fail the call it finished; later calls throw ThreadPoolError (broken)', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    const pool = (rt as unknown as { impl: { pool: { _testWorkerDiesAfterCheckIn(): void; broken: boolean } } }).impl.pool;
    // one worker checks in and exits; the other holds the call open 1.5 s, long enough for the supervisor to
    // see the death while the call still waits (it used to set ERR too: "a kernel failed")
    pool._testWorkerDiesAfterCheckIn();
    for (let i = 0; i < 100 && !pool.broken; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pool.broken).toBe(true);
    const a = new Float32Array(200 * 200).fill(0.5);
    const e = await rt.matmul(a, a, { m: 200, k: 200, n: 200 }).catch((x) => x);
    expect(e).toBeInstanceOf(pc.ThreadPoolError);
    expect(e.broken).toBe(true);
    rt.destroy();
  });

  it('a threaded runtime dropped without destroy() gives its cores back when it is garbage-collected', () => {
    // the photo pool's default is the cores less the kernel threads live runtimes hold
    // gc() from v8 flags, not --expose-gc on the command line: photo workers inherit execArgv and reject that flag
    const code = "import * as pc from 'pcpress'; import os from 'node:os'; import v8 from 'node:v8'; import vm from 'node:vm';" +
      "v8.setFlagsFromString('--expose-gc'); const gc = vm.runInNewContext('gc');" +
      "const model = await pc.loadPhotoModel();" +
      "await (async () => { const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });" +
      "  await rt.matmul(new Float32Array(200 * 200).fill(1), new Float32Array(200 * 200).fill(1), { m: 200, k: 200, n: 200 }); })();" +
      "for (let i = 0; i < 40; i++) { gc(); await new Promise((r) => setTimeout(r, 25)); }" +
      "const p = await pc.PhotoWorkerPool.create(model); console.log(JSON.stringify({ size: p.size, cores: os.availableParallelism() })); p.close();";
    const out = execFileSync('node', ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.size).toBe(r.cores);
  });

  it('the kernel module the workers instantiate has no data segments and no start function', () => {
    const ids: number[] = wasmSectionIds(fs.readFileSync(path.join(root, 'build/pcpress-threads.wasm')));
    expect(ids).toContain(10); // code
    expect(ids.filter((id) => id === 8 || id === 11 || id === 12)).toEqual([]); // start, data, data count
  });

  it('decode with 17 query rows of 4 query / 2 KV heads (headDim 16) over 617 keys: 2 threads run (no out-of-bounds trap) and equal 1 thread', async () => {
    // the combine of the split-K partials runs on the pool in tasks of 16 rows once numHeads x seqQ > 64:
    // 68 rows made the last task combine rows 64..79, reading past the partials and writing past out and lse
    const [rt1, rt2] = await Promise.all([1, 2].map((threads) => pc.createRuntime({ backend: 'wasm', threads })));
    try {
      const k = f32(2 * 617 * 16), v = f32(2 * 617 * 16);
      for (const seqQ of [17, 18, 19, 30]) {
        const q = f32(4 * seqQ * 16);
        const outs: WithLse[] = [];
        for (const r of [rt1, rt2]) {
          const cache = r.createKVCache({ numKvHeads: 2, headDim: 16 });
          cache.append(k, v);
          // repeated calls: a write past the outputs corrupts the heap, a later call traps
          for (let rep = 0; rep < 3; rep++) outs.push(await r.decode(q, cache, { numHeads: 4, causal: true, returnLse: true }) as WithLse);
          cache.dispose();
        }
        const ref = refAttention(q, k, v, 4, 2, seqQ, 617, 16, true);
        expect(maxErr(outs[0].out, ref.out), `${seqQ} rows`).toBeLessThan(1e-5);
        expect(maxErr(outs[0].lse, ref.lse), `${seqQ} rows lse`).toBeLessThan(1e-5);
        for (const o of outs.slice(1)) {
          expect(firstDiff(o.out, outs[0].out), `${seqQ} rows out`).toBe(-1);
          expect(firstDiff(o.lse, outs[0].lse), `${seqQ} rows lse`).toBe(-1);
        }
      }
    } finally {
      rt1.destroy();
      rt2.destroy();
    }
  });

  it('split-K decode sweep: query rows 1..40 x GQA 1/2/4 x keys 511..1025 (and 16385) x headDim 16/64/80/128, same bits on 1, 2, 3 threads, f64 reference', async () => {
    const rts = await Promise.all([1, 2, 3].map((threads) => pc.createRuntime({ backend: 'wasm', threads })));
    try {
      const KH = 2, keys = [511, 512, 513, 617, 1024, 1025], dims = [16, 64, 80, 128];
      const cases: [number, number, number, number][] = [];
      for (let seqQ = 1; seqQ <= 40; seqQ++) {
        for (const [gi, G] of [1, 2, 4].entries()) {
          for (const [ki, L] of keys.entries()) cases.push([seqQ, G, L, dims[(seqQ + gi + ki) % dims.length]]);
        }
      }
      for (const seqQ of [1, 17, 33]) for (const G of [1, 2, 4]) cases.push([seqQ, G, 16385, 16]);
      cases.push([17, 2, 16384, 64], [9, 4, 16385, 80], [33, 1, 16385, 128]);
      // one cache per (keys, headDim) and runtime, shared by the cases (random input is the slow part here)
      const made = new Map<string, { k: Float32Array; v: Float32Array; caches: pc.KVCache[] }>();
      let checked = 0, onPool = 0;
      for (const [seqQ, G, L, D] of cases) {
        const H = KH * G, causal = (seqQ + L + G) % 2 === 0;
        const tag = `${seqQ} rows h${H}/${KH} keys ${L} d${D}${causal ? ' causal' : ''}`;
        let kv = made.get(`${L} ${D}`);
        if (!kv) {
          const k = f32(KH * L * D), v = f32(KH * L * D);
          kv = { k, v, caches: rts.map((r) => r.createKVCache({ numKvHeads: KH, headDim: D })) };
          for (const c of kv.caches) c.append(k, v);
          made.set(`${L} ${D}`, kv);
        }
        const { k, v } = kv, q = f32(H * seqQ * D);
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (let i = 0; i < 3; i++) outs.push(await rts[i].decode(q, kv.caches[i], { numHeads: H, causal, returnLse: true }) as WithLse);
        const pooled = 2 * H * seqQ * L * D >= POOL_MIN_WORK;
        expectPool(rts, before, pooled, tag);
        onPool += pooled ? 1 : 0;
        for (let i = 1; i < 3; i++) {
          expect(firstDiff(outs[i].out, outs[0].out), `${tag}: ${i + 1} threads vs 1`).toBe(-1);
          expect(firstDiff(outs[i].lse, outs[0].lse), `${tag} lse: ${i + 1} threads vs 1`).toBe(-1);
        }
        // the f64 reference on the rows at and around the partition's edges (64 output rows, 16-row combine
        // tasks, 64-row tiles) and on every long cache; the bit equality above covers the rest
        if ([1, 16, 17, 32, 33, 40].includes(seqQ) || L > 2000) {
          const ref = refAttention(q, k, v, H, KH, seqQ, L, D, causal);
          expect(maxErr(outs[0].out, ref.out), tag).toBeLessThan(1e-5);
          expect(maxErr(outs[0].lse, ref.lse), `${tag} lse`).toBeLessThan(1e-5);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(100);
      expect(onPool).toBeGreaterThan(300); // the rest check the partition's edges on the calling thread
    } finally {
      for (const r of rts) r.destroy();
    }
  });

  it('prefill and KV scoring at the partition edges: same bits on 1, 2, 3 threads, f64 reference', async () => {
    const rts = await Promise.all([1, 2, 3].map((threads) => pc.createRuntime({ backend: 'wasm', threads })));
    try {
      const KH = 2;
      let onPool = 0;
      // few rows over many keys (one row tile: split-K, the combine on the pool past 64 output rows), and full
      // causal prefills around the 64-row tile (R = seqQ x group)
      const prefills: [number, number, number, number, boolean][] = [];
      for (const S of [1, 15, 16, 17, 32, 33, 40]) for (const [gi, G] of [1, 2, 4].entries()) prefills.push([S, G, [513, 617, 1025][gi], [16, 80, 128, 64][(S + gi) % 4], S % 2 === 1]);
      for (const [S, G] of [[64, 1], [65, 1], [32, 2], [33, 2], [64, 2], [16, 4], [17, 4], [33, 4], [129, 1]]) prefills.push([S, G, S, [16, 64, 80, 128][S % 4], true]);
      prefills.push([17, 2, 16385, 16, false], [1, 4, 16385, 80, true]);
      for (const [S, G, SK, D, causal] of prefills) {
        const H = KH * G;
        const tag = `prefill ${S} rows h${H}/${KH} keys ${SK} d${D}${causal ? ' causal' : ''}`;
        const q = f32(H * S * D), k = f32(KH * SK * D), v = f32(KH * SK * D);
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await r.attention(q, k, v, { numHeads: H, numKvHeads: KH, headDim: D, causal, returnLse: true }) as WithLse);
        const pooled = 2 * H * S * SK * D >= POOL_MIN_WORK;
        expectPool(rts, before, pooled, tag);
        onPool += pooled ? 1 : 0;
        for (let i = 1; i < 3; i++) {
          expect(firstDiff(outs[i].out, outs[0].out), `${tag}: ${i + 1} threads vs 1`).toBe(-1);
          expect(firstDiff(outs[i].lse, outs[0].lse), `${tag} lse: ${i + 1} threads vs 1`).toBe(-1);
        }
        const ref = refAttention(q, k, v, H, KH, S, SK, D, causal);
        expect(maxErr(outs[0].out, ref.out), tag).toBeLessThan(1e-5);
        expect(maxErr(outs[0].lse, ref.lse), `${tag} lse`).toBeLessThan(1e-5);
      }
      // KV scoring: one task per query head, window rows in and around the kernel's blocks of 4
      for (const [w, G, n, d] of [[1, 1, 8200, 16], [3, 2, 511, 64], [4, 4, 512, 80], [5, 1, 513, 128], [16, 2, 1024, 16], [17, 4, 617, 16], [33, 2, 1025, 80], [40, 1, 617, 128]]) {
        for (const method of ['snapkv', 'h2o'] as const) {
          const hq = KH * G, nq = Math.max(w, 8);
          const tag = `scoreKV ${method} hq ${hq} N ${n} d ${d} window ${w}`;
          const o = { q: f32(hq * nq * d), k: f32(KH * n * d), v: f32(KH * n * d), numHeads: hq, numKvHeads: KH, headDim: d, window: w, compression: 0.5 };
          const outs = [], before = rts.map(poolRuns);
          for (const r of rts) outs.push((await pc.scoreKV(r, method, o)).scores);
          expect(hq * w * n * d, `${tag} is over the KV pool's threshold`).toBeGreaterThanOrEqual(KV_POOL_MIN_WORK);
          expectPool(rts, before, true, tag);
          for (let i = 1; i < 3; i++) expect(firstDiff(outs[i], outs[0]), `${tag}: ${i + 1} threads vs 1`).toBe(-1);
          const ref = pc.refScoreKV(method, o).scores;
          let e = 0, m = 0;
          for (let j = 0; j < ref.length; j++) {
            e = Math.max(e, Math.abs(outs[0][j] - ref[j]));
            m = Math.max(m, Math.abs(ref[j]));
          }
          expect(e / Math.max(m, 1e-30), tag).toBeLessThan(1e-5);
        }
      }
      expect(onPool, 'prefill cases that reached the pool').toBeGreaterThan(15);
    } finally {
      for (const r of rts) r.destroy();
    }
  });

  it('the LM fixture (4 query / 2 KV heads of 16) on 2 threads: prefill 600 then append 17 (and 1000 then 17) equal 1 thread bit for bit', async () => {
    const dir = path.join(root, 'test/fixtures/lm/llama');
    const rts = await Promise.all([1, 2].map((threads) => pc.createRuntime({ backend: 'wasm', threads })));
    try {
      const lms = await Promise.all(rts.map((r) => pc.loadTransformer(r, { dir })));
      const V = lms[0].config.vocabSize;
      for (const [n0, n1] of [[600, 17], [600, 16], [600, 40], [1000, 17], [600, 33]]) {
        const ids = Array.from({ length: n0 + n1 }, () => Math.floor(rand() * V));
        const got: Float32Array[] = [];
        for (const lm of lms) {
          const s = await lm.prefill(ids.slice(0, n0));
          try {
            got.push(await s.append(ids.slice(n0)));
          } finally {
            s.dispose();
          }
        }
        expect(got[1].length).toBe(n1 * V);
        expect(firstDiff(got[1], got[0]), `prefill ${n0} + append ${n1}`).toBe(-1);
      }
      for (const lm of lms) lm.dispose();
    } finally {
      for (const r of rts) r.destroy();
    }
  });

  it('kernel threads and photo workers share the cores: a default count leaves out what the other kind holds (at least 1)', async () => {
    const cores = os.availableParallelism();
    const model = await pc.loadPhotoModel();
    // kernel pool first: the photo pool's default is cores - kernel threads held
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    const photo = await pc.PhotoWorkerPool.create(model);
    expect(photo.size).toBe(Math.max(1, cores - 2));
    photo.close();
    rt.destroy();
    const photo2 = await pc.PhotoWorkerPool.create(model); // the runtime gave its threads back
    expect(photo2.size).toBe(cores);
    // photo pool first: threads 'auto' is cores - photo workers held, and the reason says so
    const auto = await pc.createRuntime({ backend: 'wasm' });
    expect(auto.info.threads).toBe(Math.min(16, Math.max(1, cores - cores)));
    expect(auto.reason).toMatch(new RegExp(`threads 'auto', ${cores} cores?, ${cores} held by photo workers`));
    auto.destroy();
    photo2.close();
    // explicit counts are taken as given
    const rt3 = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    const photo3 = await pc.PhotoWorkerPool.create(model, { workers: 2 });
    expect([rt3.info.threads, photo3.size]).toEqual([3, 2]);
    photo3.close();
    rt3.destroy();
    const again = await pc.createRuntime({ backend: 'wasm' });
    expect(again.info.threads).toBe(Math.min(cores, 16));
    again.destroy();
  });
});
