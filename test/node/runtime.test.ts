// Backend choice, typed errors when a backend cannot start, device loss and destroy, in Node.
import { describe, it, expect, afterEach } from 'vitest';
import * as pc from 'pcpress';

// One Dawn instance for the whole file: several instances in one process crash Dawn at exit.
// Without XDG_RUNTIME_DIR, Mesa's device-select layer prints "XDG_RUNTIME_DIR is invalid" from
// native code when this file's own Dawn instance enumerates adapters; pcpress's provider turns
// the layer off the same way (see src/node.ts), so do it here too.
if (process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR) process.env.NODEVICE_SELECT ??= '1';
let dawn: GPU | undefined;
const realProvider = async () => {
  const { create } = (await import('webgpu')) as unknown as { create(f: string[]): GPU };
  dawn ??= create([]);
  return dawn;
};
const hasAdapter = Boolean(await (await realProvider()).requestAdapter());
const requireGpu = process.env.PCPRESS_REQUIRE_WEBGPU === '1';
const gpuIt = hasAdapter || requireGpu ? it : it.skip;

afterEach(() => pc.setGpuProvider(realProvider));

function fakeGpu(requestAdapter: () => Promise<GPUAdapter | null>): GPU {
  return { requestAdapter, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: new Set() } as unknown as GPU;
}

describe('createRuntime', () => {
  it('wasm on request, with a reason', async () => {
    const rt = await pc.createRuntime({ backend: 'wasm' });
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toMatch(/forced/);
    expect(rt.info.engine).toMatch(/^node /);
    expect(rt.diagnostics).toEqual([]); // nothing was probed
    expect(Object.isFrozen(rt.diagnostics)).toBe(true);
    rt.destroy();
  });

  it('rejects an unknown option with an ArgumentError naming it (and never throws synchronously)', async () => {
    let pending: Promise<unknown> | undefined;
    expect(() => { pending = pc.createRuntime({ backend: 'wasm', poisonOutput: true } as never); }).not.toThrow();
    const err = await pending!.catch((e) => e);
    expect(err).toBeInstanceOf(pc.ArgumentError);
    expect(err.message).toMatch(/"poisonOutput" .*did you mean "poisonOutputs"/);
  });

  it('rejects an unknown backend name with ArgumentError', async () => {
    await expect(pc.createRuntime({ backend: 'cuda' as never })).rejects.toBeInstanceOf(pc.ArgumentError);
  });

  gpuIt('auto picks wasm on a software adapter and says why', async () => {
    const rt = await pc.createRuntime();
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toMatch(/software|fallback/);
    rt.destroy();
  });

  gpuIt('forced webgpu on a software adapter works and says it is software', async () => {
    const rt = await pc.createRuntime({ backend: 'webgpu' });
    expect(rt.backend).toBe('webgpu');
    expect(Array.isArray(rt.diagnostics)).toBe(true);
    expect(rt.reason).toMatch(/software adapter/);
    expect(rt.info.adapter?.isSoftware).toBe(true);
    expect(rt.info.adapter?.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    rt.destroy();
  });

  gpuIt('auto picks webgpu on a hardware adapter', async () => {
    // Wrap the real (software) adapter so it reports itself as hardware: auto must then choose WebGPU.
    pc.setGpuProvider(async () => {
      const gpu = await realProvider();
      return fakeGpu(async () => {
        const a = await gpu.requestAdapter();
        if (!a) return null;
        const info = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'H200', isFallbackAdapter: false };
        return new Proxy(a, {
          get(t, k) {
            if (k === 'info') return info;
            if (k === 'isFallbackAdapter') return false;
            const v = Reflect.get(t, k, t);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      });
    });
    const rt = await pc.createRuntime();
    expect(rt.backend).toBe('webgpu');
    expect(rt.reason).toMatch(/hardware adapter nvidia/);
    const c = await rt.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, k: 2, n: 2 });
    expect([...c]).toEqual([19, 22, 43, 50]);
    rt.destroy();
  });

  it('forced webgpu with no GPU object throws BackendUnavailableError naming the cause', async () => {
    pc.setGpuProvider(async () => {
      throw new Error('Cannot find package "webgpu"');
    });
    const err = await pc.createRuntime({ backend: 'webgpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(pc.BackendUnavailableError);
    expect(err.backend).toBe('webgpu');
    expect(err.code).toBe('backend-unavailable');
    expect(err.message).toMatch(/npm install webgpu/);
    // auto never throws for this: it says why it chose wasm.
    const rt = await pc.createRuntime();
    expect(rt.backend).toBe('wasm');
    expect(rt.reason).toMatch(/could not be loaded/);
    rt.destroy();
  });

  it('forced webgpu with no adapter throws BackendUnavailableError', async () => {
    pc.setGpuProvider(async () => fakeGpu(async () => null));
    const err = await pc.createRuntime({ backend: 'webgpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(pc.BackendUnavailableError);
    expect(err.message).toMatch(/requestAdapter\(\) returned null/);
  });

  it('a failing requestDevice is a BackendUnavailableError, not a crash', async () => {
    pc.setGpuProvider(async () => {
      const gpu = await realProvider();
      return fakeGpu(async () => {
        const a = await gpu.requestAdapter();
        if (!a) return null;
        return new Proxy(a, {
          get(t, k) {
            if (k === 'requestDevice') return async () => { throw new Error('device creation refused'); };
            const v = Reflect.get(t, k, t);
            return typeof v === 'function' ? v.bind(t) : v;
          },
        });
      });
    });
    const err = await pc.createRuntime({ backend: 'webgpu' }).catch((e) => e);
    if (!hasAdapter) return; // without an adapter the earlier error is the expected one
    expect(err).toBeInstanceOf(pc.BackendUnavailableError);
    expect(err.message).toMatch(/requestDevice\(\) failed: device creation refused/);
  });
});

describe('uncaptured GPU errors', () => {
  gpuIt('are kept (the next call rejects with GpuError) and not left to Dawn to print', async () => {
    const rt = await pc.createRuntime({ backend: 'webgpu' });
    const device = (rt.impl as unknown as { device: GPUDevice }).device;
    const seen: boolean[] = [];
    device.addEventListener('uncapturederror', (ev) => seen.push(ev.defaultPrevented));
    device.createBuffer({ size: 16, usage: 0xffff });
    await device.queue.onSubmittedWorkDone();
    for (let i = 0; i < 50 && !seen.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([true]); // pcpress's listener ran first and called preventDefault()
    await expect(rt.matmul(new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1 })).rejects.toBeInstanceOf(pc.GpuError);
    rt.destroy();
  });
});

describe('lifetime', () => {
  gpuIt('a lost device rejects further calls with DeviceLostError; a new runtime works', async () => {
    const rt = await pc.createRuntime({ backend: 'webgpu' });
    const t = rt.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const impl = rt.impl as unknown as { device: GPUDevice };
    impl.device.destroy();
    await impl.device.lost;
    await expect(rt.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 })).rejects.toBeInstanceOf(pc.DeviceLostError);
    expect(() => rt.tensor(new Float32Array(4))).toThrow(pc.DeviceLostError);
    await expect(t.read()).rejects.toBeInstanceOf(pc.DeviceLostError);
    const rt2 = await pc.createRuntime({ backend: 'webgpu' });
    const c = await rt2.matmul(new Float32Array([2]), new Float32Array([3]), { m: 1, k: 1, n: 1 });
    expect(c[0]).toBe(6);
    rt2.destroy();
  });

  it.each(['wasm', 'webgpu'] as const)('%s: calls after destroy() throw DisposedError', async (backend) => {
    if (backend === 'webgpu' && !hasAdapter && !requireGpu) return;
    const rt = await pc.createRuntime({ backend });
    const t = rt.tensor(new Float32Array([1, 2]));
    rt.destroy();
    await expect(rt.matmul(new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1 })).rejects.toBeInstanceOf(pc.DisposedError);
    await expect(t.read()).rejects.toBeInstanceOf(pc.DisposedError);
  });
});

describe('summarizeAdapter', () => {
  const limits = { maxStorageBufferBindingSize: 1 << 27 } as unknown as GPUSupportedLimits;
  const mk = (info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) =>
    pc.summarizeAdapter({ info, limits, features: new Set() } as unknown as GPUAdapter);
  it.each([
    [{ vendor: 'google', architecture: 'swiftshader' }, true],
    [{ vendor: 'mesa', architecture: 'software', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }, true],
    [{ vendor: '65541', description: 'llvmpipe' }, true],
    [{ vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: true }, true],
    [{ vendor: 'nvidia', architecture: 'ampere' }, false],
    [{ vendor: 'apple', architecture: 'metal-3' }, false],
  ])('%o -> software %s', (info, software) => {
    expect(mk(info).isSoftware).toBe(software);
  });
});
