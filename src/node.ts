// Node entry: the same API, plus WebGPU through the optional npm package "webgpu" (Dawn),
// loaded lazily and only when a runtime asks for WebGPU.
import { setGpuProvider } from './backends/webgpu.js';

let gpu: Promise<GPU | undefined> | undefined;
setGpuProvider(() => {
  gpu ??= (async () => {
    const name = 'webgpu';
    const mod = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU };
    return mod.create([]);
  })();
  return gpu;
});

export * from './index.js';
