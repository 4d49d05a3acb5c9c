// The wasm thread pool in Deno (Web Workers, the kernel workers started by a supervisor worker): attention
// prefill and split-K decode give the same bits on 1, 2 and 3 threads at odd shapes (decode also at 17, 18,
// 33 query rows, where the split-K combine runs on the pool), and a worker that dies mid-call makes the call
// throw ThreadPoolError (broken) instead of hanging; a kernel that traps is ThreadPoolError (not broken) and
// the pool runs on; where threads cannot start, 'auto' gives 1 thread and a count is a BackendUnavailableError.
// Every pool shape asserts that the pool ran (its internal call counter). The seed is printed.
// Run: npx deno test -A --no-check test/deno/   (after npm run build)
import * as pc from '../../dist/index.js';

// a fresh seed per run, printed, and in every failure message (PCPRESS_SEED=<n> replays it)
const seed = Number(Deno.env.get('PCPRESS_SEED') ?? ((Date.now() ^ (Math.random() * 2 ** 31)) >>> 0));
console.log(`deno threads seed ${seed} (PCPRESS_SEED to replay)`);
const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
function same(x: Float32Array, y: Float32Array, what: string): void {
  const a = bits(x), b = bits(y);
  const i = a.length === b.length ? a.findIndex((v, j) => v !== b[j]) : 0;
  if (i >= 0) throw new Error(`${what}: element ${i} differs (${x[i]} vs ${y[i]}; seed ${seed})`);
}
/** Calls the runtime's thread pool has run (0 without a pool): its internal test counter. */
const poolRuns = (r: pc.Runtime) => (r as unknown as { impl: { pool?: { _testRuns: number } } }).impl.pool?._testRuns ?? 0;
/** Throws unless the calls since `before` reached the pool of every threaded runtime (every shape here is over its threshold). */
function ranOnPool(rts: pc.Runtime[], before: number[], what: string): void {
  rts.forEach((r, i) => {
    if (r.info.threads > 1 && !(poolRuns(r) > before[i])) throw new Error(`${what}: the ${r.info.threads}-thread pool did not run (seed ${seed})`);
  });
}
const rand = pc.seededRandom(seed);
const f32 = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
type WithLse = { out: Float32Array; lse: Float32Array };

Deno.test({
  name: 'deno wasm threads: attention prefill and split-K decode, same bits on 1, 2 and 3 threads',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rts = await Promise.all([1, 2, 3].map((threads) => pc.createRuntime({ backend: 'wasm', threads })));
    try {
      for (const [H, KH, S, D, causal] of [[6, 2, 333, 37, true], [3, 3, 140, 5, false], [4, 1, 97, 128, true]] as const) {
        const q = f32(H * S * D), k = f32(KH * S * D), v = f32(KH * S * D);
        const o = { numHeads: H, numKvHeads: KH, headDim: D, causal, returnLse: true };
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (const r of rts) outs.push(await r.attention(q, k, v, o) as WithLse);
        ranOnPool(rts, before, `prefill h${H}/${KH} s${S} d${D}`);
        for (let i = 1; i < 3; i++) {
          same(outs[i].out, outs[0].out, `prefill h${H}/${KH} s${S} d${D}: ${i + 1} threads vs 1`);
          same(outs[i].lse, outs[0].lse, `prefill lse: ${i + 1} threads vs 1`);
        }
      }
      // [4, 2, 617, 16, 17]: the LM fixture's heads at 17 rows = 68 output rows, the first count whose split-K
      // combine ran a last pool task past the partials, out and lse (memory access out of bounds)
      for (const [H, KH, L, D, seqQ] of [[8, 2, 3001, 33, 1], [4, 1, 1500, 64, 3], [4, 2, 617, 16, 17], [2, 2, 1025, 80, 33], [8, 2, 16385, 16, 9], [4, 2, 513, 128, 18]] as const) {
        const k = f32(KH * L * D), v = f32(KH * L * D), q = f32(H * seqQ * D);
        const outs: WithLse[] = [], before = rts.map(poolRuns);
        for (const r of rts) {
          const cache = r.createKVCache({ numKvHeads: KH, headDim: D });
          cache.append(k, v);
          outs.push(await r.decode(q, cache, { numHeads: H, causal: true, returnLse: true }) as WithLse);
          cache.dispose();
        }
        ranOnPool(rts, before, `decode h${H}/${KH} cache ${L} d${D} seqQ ${seqQ}`);
        for (let i = 1; i < 3; i++) {
          same(outs[i].out, outs[0].out, `decode h${H}/${KH} cache ${L} d${D} seqQ ${seqQ}: ${i + 1} threads vs 1`);
          same(outs[i].lse, outs[0].lse, `decode lse h${H}/${KH} cache ${L} d${D} seqQ ${seqQ}: ${i + 1} threads vs 1`);
        }
      }
    } finally {
      for (const r of rts) r.destroy();
    }
  },
});

Deno.test({
  name: 'deno wasm threads: a worker that dies mid-call is a ThreadPoolError (broken), not a hang',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    const pool = (rt as unknown as { impl: { pool: { _testWorkerDies(): void } } }).impl.pool;
    let err: unknown;
    try {
      pool._testWorkerDies();
    } catch (e) {
      err = e;
    }
    if (!(err instanceof pc.ThreadPoolError) || !err.broken) throw new Error(`expected a broken ThreadPoolError, got ${err}`);
    const later = await rt.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 }).then(() => undefined, (e) => e);
    if (!(later instanceof pc.ThreadPoolError) || !/broken/.test(later.message)) throw new Error(`a later call: ${later}`);
    rt.destroy();
  },
});

Deno.test({
  name: "deno wasm threads: where threads cannot start, 'auto' runs 1 thread and says why, threads: 2 is a BackendUnavailableError",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const g = globalThis as { Worker?: unknown; SharedArrayBuffer?: unknown };
    // a Worker that cannot start (as under a CSP that blocks workers): shared memory is there, the worker is not
    const savedWorker = g.Worker;
    g.Worker = class {
      constructor() {
        throw new Error('workers are blocked here (test)');
      }
    };
    try {
      const rt = await pc.createRuntime({ backend: 'wasm' });
      if (rt.info.threads !== 1 || !/1 thread: workers could not start: workers are blocked here \(test\)/.test(rt.reason)) {
        throw new Error(`'auto' with a Worker that throws: ${rt.info.threads} threads, reason ${rt.reason}`);
      }
      const c = await rt.matmul(new Float32Array(4).fill(1), new Float32Array(4).fill(1), { m: 2, k: 2, n: 2 });
      if (c[0] !== 2) throw new Error(`the 1-thread runtime computed ${c[0]}`);
      rt.destroy();
      const e = await pc.createRuntime({ backend: 'wasm', threads: 2 }).then(() => undefined, (x) => x);
      if (!(e instanceof pc.BackendUnavailableError) || !/2 threads were asked for but a worker could not start: workers are blocked/.test(e.message)) {
        throw new Error(`threads: 2 with a Worker that throws: expected BackendUnavailableError, got ${e}`);
      }
    } finally {
      g.Worker = savedWorker;
    }
    // no SharedArrayBuffer: threadsUnavailable says so before any worker starts
    const savedSab = g.SharedArrayBuffer;
    g.SharedArrayBuffer = undefined;
    try {
      const e = await pc.createRuntime({ backend: 'wasm', threads: 2 }).then(() => undefined, (x) => x);
      if (!(e instanceof pc.BackendUnavailableError) || !/2 threads were asked for.*SharedArrayBuffer/.test(e.message)) {
        throw new Error(`threads: 2 without SharedArrayBuffer: expected BackendUnavailableError, got ${e}`);
      }
      const rt = await pc.createRuntime({ backend: 'wasm' });
      if (rt.info.threads !== 1 || !/1 thread: this runtime has no SharedArrayBuffer/.test(rt.reason)) throw new Error(`'auto' without SharedArrayBuffer: ${rt.reason}`);
      rt.destroy();
    } finally {
      g.SharedArrayBuffer = savedSab;
    }
  },
});

Deno.test({
  name: 'deno wasm threads: a kernel that traps on pool threads is ThreadPoolError (broken: false) and the pool stays usable',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 3 });
    try {
      const pool = (rt as unknown as { impl: { pool: { _testKernelTraps(): void; broken: boolean } } }).impl.pool;
      const a = new Float32Array(200 * 200).fill(0.5);
      for (let rep = 0; rep < 3; rep++) {
        let err: unknown;
        try {
          pool._testKernelTraps();
        } catch (e) {
          err = e;
        }
        if (!(err instanceof pc.ThreadPoolError) || err.broken || pool.broken) throw new Error(`expected ThreadPoolError with broken: false, got ${err}`);
        const before = poolRuns(rt);
        const c = await rt.matmul(a, a, { m: 200, k: 200, n: 200 });
        if (c[0] !== 50 || !(poolRuns(rt) > before)) throw new Error(`the pool after a trap: ${c[0]}, ran ${poolRuns(rt) - before} calls`);
      }
    } finally {
      rt.destroy();
    }
  },
});

Deno.test({
  name: 'deno wasm threads: the supervisor dying mid-call is a ThreadPoolError (broken) once its heartbeat stops, not a hang',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rt = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    try {
      const pool = (rt as unknown as { impl: { pool: { _testSupervisorDies(): void } } }).impl.pool;
      const t0 = performance.now();
      let err: unknown;
      try {
        pool._testSupervisorDies();
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      if (!(err instanceof pc.ThreadPoolError) || !err.broken || !/no heartbeat/.test(err.message) || ms > 10_000) {
        throw new Error(`expected a broken ThreadPoolError (no heartbeat) within 10 s, got ${err} after ${ms} ms`);
      }
    } finally {
      rt.destroy();
    }
  },
});
