/**
 * pcpress: the same compute in every JavaScript runtime. WGSL compute shaders on WebGPU where a
 * real GPU is there, AssemblyScript WebAssembly (SIMD) everywhere else, behind one API.
 *
 * @example
 * ```ts
 * import { createRuntime } from 'pcpress';
 * const rt = await createRuntime();            // 'auto': WebGPU only on a hardware adapter
 * console.log(rt.backend, rt.reason);
 * const c = await rt.matmul(a, b, { m: 2, k: 3, n: 4 });
 * rt.destroy();
 * ```
 */
export { createRuntime, detectEngine, Runtime } from './runtime.js';
export type { BackendChoice, RuntimeOptions, RuntimeInfo, TensorInput } from './runtime.js';
export { Tensor } from './tensor.js';
export type { MatmulOptions, PackBOptions, PackedDType } from './ops/matmul.js';
export { PackedB } from './ops/matmul.js';
export { ThreadPoolError } from './threads/pool.js';
export type { AttentionOptions, DecodeOptions, AttentionResult } from './ops/attention.js';
export type { RopeOptions } from './ops/rope.js';
export type { RmsNormOptions, RmsNormResult } from './ops/rms_norm.js';
export type { AddOptions } from './ops/add.js';
export type { SiluMulOptions } from './ops/silu_mul.js';
export type { TransposeOptions } from './ops/transpose.js';
export { KVCache } from './kvcache.js';
export type { KVCacheOptions, KVCacheContents } from './kvcache.js';
export { setGpuProvider, summarizeAdapter } from './backends/webgpu.js';
export type { AdapterSummary, GpuProvider } from './backends/webgpu.js';
export {
  PcpressError, BackendUnavailableError, DeviceLostError, DisposedError, ValidationError, ShapeError,
  DTypeError, ArgumentError, LimitError, GpuError,
} from './errors.js';
/** Package version. */
export const version = '0.1.0';
export * from './kv/index.js';
export * from './lm/index.js';
export type { WeightDType, TransformerInfo } from './lm/model.js';
export * from './pc/index.js';
export * from './photo/index.js';
