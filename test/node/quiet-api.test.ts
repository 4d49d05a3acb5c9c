// A quiet, predictable API:
// 1. createRuntime() prints nothing (stdout or stderr) while it probes WebGPU, whichever backend it
//    ends on: checked in child `node` processes, whose whole output is compared.
// 2. Every Promise-returning entry point reports bad input by rejecting with a typed error, never
//    by throwing synchronously; ops given Tensors return Tensors and throw synchronously.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as pc from 'pcpress';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = pathToFileURL(path.join(root, 'dist/node.js')).href;
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const hasDawn = (() => {
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
})();
const hasSwiftshader = hasDawn && fs.existsSync(swiftshader);
const MARK = '@@quiet-test ';

// The child: every runtime it is asked for, one matmul on each, then one line of its own (MARK + JSON).
const CHILD = `
const [entry, plan] = process.argv.slice(1);
const pc = await import(entry);
const out = {};
const a = new Float32Array([1, 2, 3, 4]), b = new Float32Array([5, 6, 7, 8]), o = { m: 2, k: 2, n: 2 };
for (const step of plan.split(',')) {
  try {
    const rt = await pc.createRuntime(step === 'auto' ? undefined : { backend: step });
    const r = { backend: rt.backend, reason: rt.reason, diagnostics: rt.diagnostics, c: [...await rt.matmul(a, b, o)] };
    if (rt.backend === 'webgpu') {
      // An uncaptured WebGPU error: Dawn prints these unless the handler prevents it.
      rt.impl.device.createBuffer({ size: 16, usage: 0xffff });
      await rt.impl.device.queue.onSubmittedWorkDone();
      await new Promise((res) => setTimeout(res, 100));
      r.afterUncaptured = await rt.matmul(a, b, o).then(() => 'resolved', (e) => e.name);
    }
    rt.destroy();
    out[step] = r;
  } catch (e) {
    out[step] = { error: e.name, message: e.message };
  }
}
process.stdout.write(${JSON.stringify(MARK)} + JSON.stringify(out) + '\\n');
`;

interface StepResult {
  backend?: string; reason?: string; diagnostics?: string[]; c?: number[]; afterUncaptured?: string;
  error?: string; message?: string;
}

/** Runs the child with `env` changes (undefined deletes a variable); returns its parsed line and raw output. */
function runChild(plan: string[], envChanges: Record<string, string | undefined>) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const [k, v] of Object.entries(envChanges)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, entry, plan.join(',')], {
    cwd: root, env, encoding: 'utf8', timeout: 90_000,
  });
  const stdout = r.stdout ?? '';
  const lines = stdout.split('\n');
  const own = lines.find((l) => l.startsWith(MARK));
  const rest = lines.filter((l) => !l.startsWith(MARK)).join('\n');
  const result = (own ? JSON.parse(own.slice(MARK.length)) : {}) as Record<string, StepResult>;
  return { status: r.status, stdout, stderr: r.stderr ?? '', rest, result };
}

// XDG_RUNTIME_DIR is removed so Mesa's device-select layer would complain if it were loaded.
const noisy = { XDG_RUNTIME_DIR: undefined, VK_LOADER_DEBUG: undefined, PCPRESS_REQUIRE_WEBGPU: undefined };

describe('createRuntime prints nothing', () => {
  it('auto and wasm with no Vulkan driver (VK_ICD_FILENAMES pointing at nothing): wasm, messages kept in rt.diagnostics', () => {
    const r = runChild(['auto', 'wasm'], { ...noisy, VK_ICD_FILENAMES: path.join(root, 'no-such-icd.json') });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.rest).toBe('');
    expect(r.result.auto.backend).toBe('wasm');
    expect(r.result.auto.c).toEqual([19, 22, 43, 50]);
    if (hasDawn) expect(r.result.auto.reason).toMatch(/requestAdapter\(\) returned null/);
    expect(r.result.wasm.backend).toBe('wasm');
    expect(r.result.wasm.diagnostics).toEqual([]);
  });

  it('forced webgpu with no Vulkan driver rejects with BackendUnavailableError naming the native messages', (ctx) => {
    if (!hasDawn) return ctx.skip('the optional "webgpu" package is not installed');
    const r = runChild(['webgpu'], { ...noisy, VK_ICD_FILENAMES: path.join(root, 'no-such-icd.json') });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.rest).toBe('');
    expect(r.result.webgpu.error).toBe('BackendUnavailableError');
    expect(r.result.webgpu.message).toMatch(/requestAdapter\(\) returned null/);
  });

  it('auto and wasm with the system Vulkan drivers', () => {
    const r = runChild(['auto', 'wasm'], { ...noisy, VK_ICD_FILENAMES: undefined });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.rest).toBe('');
    expect(r.result.auto.c).toEqual([19, 22, 43, 50]);
    expect(r.result.wasm.backend).toBe('wasm');
  });

  it('auto, wasm and forced webgpu on SwiftShader (VK_ICD_FILENAMES), an uncaptured GPU error included', (ctx) => {
    if (!hasSwiftshader) return ctx.skip(`needs the "webgpu" package and ${swiftshader}`);
    const r = runChild(['auto', 'wasm', 'webgpu'], { ...noisy, VK_ICD_FILENAMES: swiftshader });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.rest).toBe('');
    expect(r.result.auto.backend).toBe('wasm');
    expect(r.result.auto.reason).toMatch(/software\/fallback adapter/);
    expect(r.result.wasm.backend).toBe('wasm');
    expect(r.result.webgpu.backend).toBe('webgpu');
    expect(r.result.webgpu.c).toEqual([19, 22, 43, 50]);
    expect(r.result.webgpu.afterUncaptured).toBe('GpuError');
  });
});

/** Calls fn, keeping a synchronous throw apart from what it returns. */
function callSafely(fn: () => unknown): { value?: unknown; threw?: unknown } {
  try {
    return { value: fn() };
  } catch (e) {
    return { threw: e };
  }
}

/** fn must return a Promise (not throw) and that Promise must reject with an instance of `cls`. */
async function expectRejects(fn: () => unknown, cls: new (...args: never[]) => Error): Promise<Error> {
  const r = callSafely(fn);
  expect(r.threw, `threw synchronously: ${String(r.threw)}`).toBeUndefined();
  expect(r.value).toBeInstanceOf(Promise);
  const err = await (r.value as Promise<unknown>).then(() => undefined, (e: unknown) => e);
  expect(err, 'the Promise resolved').toBeDefined();
  expect(err).toBeInstanceOf(cls);
  return err as Error;
}

const f32 = (n: number) => new Float32Array(n);

for (const backend of ['wasm', 'webgpu'] as const) {
  describe(`${backend}: Promise-returning entry points reject on bad input`, () => {
    let rt: pc.Runtime | undefined;
    let unavailable = '';
    beforeAll(async () => {
      try {
        rt = await pc.createRuntime({ backend });
      } catch (e) {
        if (!(e instanceof pc.BackendUnavailableError) || process.env.PCPRESS_REQUIRE_WEBGPU === '1') throw e;
        unavailable = e.message;
      }
    });
    afterAll(() => rt?.destroy());

    const att = { numHeads: 2, numKvHeads: 1, headDim: 4 };
    const cases: [string, (rt: pc.Runtime) => unknown, new (...args: never[]) => Error][] = [
      ['matmul: a too short', (rt) => rt.matmul(f32(3), f32(4), { m: 2, k: 2, n: 2 }), pc.ShapeError],
      ['matmul: b an Int32Array', (rt) => rt.matmul(f32(4), new Int32Array(4) as never, { m: 2, k: 2, n: 2 }), pc.DTypeError],
      ['matmul: a null', (rt) => rt.matmul(null as never, f32(4), { m: 2, k: 2, n: 2 }), pc.DTypeError],
      ['matmul: m = 0', (rt) => rt.matmul(f32(4), f32(4), { m: 0, k: 2, n: 2 }), pc.ArgumentError],
      ['matmul: no options', (rt) => rt.matmul(f32(4), f32(4), undefined as never), pc.ShapeError],
      ['matmul: transposeA not a boolean', (rt) => rt.matmul(f32(4), f32(4), { m: 2, k: 2, n: 2, transposeA: 1 as never }), pc.ArgumentError],
      ['attention: q of the wrong length', (rt) => rt.attention(f32(7), f32(8), f32(8), att), pc.ShapeError],
      ['attention: v differs from k', (rt) => rt.attention(f32(8), f32(8), f32(4), att), pc.ShapeError],
      ['attention: headDim 257 (over 256)', (rt) => rt.attention(f32(12), f32(6), f32(6), { ...att, headDim: 257 }), pc.ArgumentError],
      ['attention: numHeads not a multiple of numKvHeads', (rt) => rt.attention(f32(12), f32(8), f32(8), { numHeads: 3, numKvHeads: 2, headDim: 4 }), pc.ShapeError],
      ['attention: k a Float64Array', (rt) => rt.attention(f32(8), new Float64Array(8) as never, f32(8), att), pc.DTypeError],
      ['attention: no options', (rt) => rt.attention(f32(8), f32(8), f32(8), null as never), pc.ArgumentError],
      ['attention: returnLse not a boolean', (rt) => rt.attention(f32(8), f32(8), f32(8), { ...att, returnLse: 'yes' as never }), pc.ArgumentError],
      ['decode: cache is not a KVCache', (rt) => rt.decode(f32(8), {} as never, { numHeads: 2 }), pc.ArgumentError],
      ['decode: q a Uint8Array', (rt) => rt.decode(new Uint8Array(8) as never, rt.createKVCache({ numKvHeads: 1, headDim: 4 }), { numHeads: 2 }), pc.DTypeError],
      ['decode: q of the wrong length', (rt) => {
        const cache = rt.createKVCache({ numKvHeads: 1, headDim: 4 });
        cache.append(f32(4), f32(4));
        return rt.decode(f32(6), cache, { numHeads: 2 });
      }, pc.ShapeError],
      ['decode: headDim differs from the cache', (rt) => rt.decode(f32(8), rt.createKVCache({ numKvHeads: 1, headDim: 4 }), { numHeads: 2, headDim: 8 }), pc.ShapeError],
      ['decode: a disposed cache', (rt) => {
        const cache = rt.createKVCache({ numKvHeads: 1, headDim: 4 });
        cache.dispose();
        return rt.decode(f32(8), cache, { numHeads: 2 });
      }, pc.DisposedError],
      ['KVCache.read on a disposed cache', (rt) => {
        const cache = rt.createKVCache({ numKvHeads: 1, headDim: 4 });
        cache.dispose();
        return cache.read();
      }, pc.DisposedError],
      ['Tensor.read on a disposed tensor', (rt) => {
        const t = rt.tensor(f32(4));
        t.dispose();
        return t.read();
      }, pc.DisposedError],
      ['scoreKV: not a runtime', () => pc.scoreKV({} as never, 'snapkv', { k: f32(8), numHeads: 1, numKvHeads: 1, headDim: 4, compression: 0.5 }), pc.ArgumentError],
      ['scoreKV: unknown method', (rt) => pc.scoreKV(rt, 'lru' as never, { k: f32(8), numHeads: 1, numKvHeads: 1, headDim: 4, compression: 0.5 }), pc.ArgumentError],
      ['scoreKV: k of the wrong length', (rt) => pc.scoreKV(rt, 'knorm', { k: f32(7), numHeads: 1, numKvHeads: 1, headDim: 4, compression: 0.5 }), pc.ShapeError],
      ['scoreKVReference: k of the wrong length', () => pc.scoreKVReference('knorm', { k: f32(7), numHeads: 1, numKvHeads: 1, headDim: 4, compression: 0.5 }), pc.ShapeError],
      ['selectKV: not scores', (rt) => pc.selectKV({} as never, { compression: 0.5, runtime: rt }), pc.ArgumentError],
      ['evictKV: no layers', (rt) => pc.evictKV(rt, 'knorm', [], { compression: 0.5 }), pc.ArgumentError],
      ['evictCache: not a cache', (rt) => pc.evictCache(rt, 'knorm', {} as never, { numHeads: 1, compression: 0.5 }), pc.ArgumentError],
      ['evaluateEviction: not a dump', () => pc.evaluateEviction({} as never), pc.ArgumentError],
      ['createRuntime: unknown backend', () => pc.createRuntime({ backend: 'cuda' as never }), pc.ArgumentError],
      ['createRuntime: options not an object', () => pc.createRuntime(42 as never), pc.ArgumentError],
    ];
    it.for(cases)('%s', async ([, call, cls], ctx) => {
      if (!rt) return ctx.skip(unavailable);
      await expectRejects(() => call(rt!), cls);
    });

    it('calls on a destroyed runtime reject with DisposedError', async (ctx) => {
      if (!rt) return ctx.skip(unavailable);
      const dead = await pc.createRuntime({ backend });
      const cache = dead.createKVCache({ numKvHeads: 1, headDim: 4 });
      dead.destroy();
      await expectRejects(() => dead.matmul(f32(1), f32(1), { m: 1, k: 1, n: 1 }), pc.DisposedError);
      await expectRejects(() => dead.attention(f32(8), f32(4), f32(4), att), pc.DisposedError);
      await expectRejects(() => dead.decode(f32(8), cache, { numHeads: 2 }), pc.DisposedError);
    });

    it('ops given a Tensor return Tensors and throw synchronously', async (ctx) => {
      if (!rt) return ctx.skip(unavailable);
      const t = rt.tensor(f32(4), [2, 2]);
      expect(() => rt!.matmul(t, f32(3), { m: 2, k: 2, n: 2 })).toThrow(pc.ShapeError);
      expect(() => rt!.matmul(t, new Int32Array(4) as never, { m: 2, k: 2, n: 2 })).toThrow(pc.DTypeError);
      expect(() => rt!.attention(t, f32(4), f32(4), { numHeads: 1, numKvHeads: 1, headDim: 257 })).toThrow(pc.ArgumentError);
      expect(() => rt!.decode(t, {} as never, { numHeads: 1 })).toThrow(pc.ArgumentError);
      const c = rt.matmul(t, t, { m: 2, k: 2, n: 2 });
      expect(c).toBeInstanceOf(pc.Tensor);
      expect([...await c.read()]).toEqual([0, 0, 0, 0]);
      c.dispose();
      t.dispose();
    });
  });
}
