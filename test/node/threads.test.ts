// The wasm thread pool in Node: 'auto' and explicit counts, typed errors where threads cannot start,
// workers that never keep the process alive, and destroy() ending the pool.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pc from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');

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

  it('the kernel module the workers instantiate has no data segments and no start function', () => {
    const bytes = fs.readFileSync(path.join(root, 'build/pcpress-threads.wasm'));
    const ids: number[] = [];
    let at = 8;
    const leb = () => {
      let v = 0, shift = 0, b;
      do {
        b = bytes[at++];
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80);
      return v;
    };
    while (at < bytes.length) {
      ids.push(bytes[at++]);
      const size = leb(); // read before adding: `at += leb()` would add to the old `at`
      at += size;
    }
    expect(ids).toContain(10); // code
    expect(ids.filter((id) => id === 8 || id === 11 || id === 12)).toEqual([]); // start, data, data count
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
