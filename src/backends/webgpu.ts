// The WebGPU backend: adapter/device setup, buffers, a pipeline cache and dispatch.
/// <reference types="@webgpu/types" />
import { BackendUnavailableError, DeviceLostError, DisposedError, GpuError, LimitError } from '../errors.js';

// Numeric flags, so the backend works without GPUBufferUsage/GPUMapMode globals (Node's `webgpu`).
const STORAGE = 0x80, UNIFORM = 0x40, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01;
const MAP_MODE_READ = 0x01;

/** Returns a GPU object (navigator.gpu or an equivalent); undefined when none exists. */
export type GpuProvider = () => Promise<GPU | undefined>;

/**
 * What probing the GPU provider found, learnt without loading the native GPU stack into this
 * process (the Node entry runs requestAdapter() in a short-lived subprocess).
 */
export interface AdapterProbe {
  /** The adapter requestAdapter() returned, summarised; null when it returned null or the probe failed. */
  adapter: AdapterSummary | null;
  /** What native code (Dawn, the Vulkan loader, drivers) printed while probing: kept here instead of on the console. */
  messages: string[];
  /** Set when the probe could not ask at all (e.g. it crashed or timed out): the cause, in words. */
  failure?: string;
}

/**
 * Probes the registered provider for an adapter without printing anything; resolves to undefined
 * when it cannot probe (then the adapter is requested in this process, as without a prober).
 */
export type AdapterProber = (powerPreference?: GPUPowerPreference) => Promise<AdapterProbe | undefined>;

let provider: GpuProvider | undefined;
let prober: AdapterProber | undefined;
let providerError: unknown;

/**
 * Registers how to obtain a GPU object where `navigator.gpu` does not exist (the Node entry does
 * this). A provider registered by the caller is asked directly, in this process: the Node entry's
 * out-of-process probe (which keeps native warnings off the console) applies only to its own.
 */
export function setGpuProvider(p: GpuProvider): void {
  provider = p;
  prober = undefined;
}

/**
 * @internal Registers an out-of-process prober for the current provider (the Node entry does this
 * for the npm "webgpu" package). Cleared by the next setGpuProvider call.
 */
export function setAdapterProber(p: AdapterProber | undefined): void {
  prober = p;
}

/** Reads and writes environment variables where the runtime has them (Node, Deno with env access). */
interface EnvAccess {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  delete(name: string): void;
  platform: string;
}

function envAccess(): EnvAccess | undefined {
  const g = globalThis as {
    Deno?: {
      env: { get(n: string): string | undefined; set(n: string, v: string): void; delete(n: string): void };
      permissions?: { querySync?(d: { name: string }): { state: string } };
      build: { os: string };
    };
    process?: { env?: Record<string, string | undefined>; platform?: string };
  };
  if (g.Deno) {
    // Never prompt: only with env access already granted (e.g. -A or --allow-env).
    try {
      if (g.Deno.permissions?.querySync?.({ name: 'env' }).state !== 'granted') return undefined;
    } catch {
      return undefined;
    }
    const e = g.Deno.env;
    return { get: (n) => e.get(n), set: (n, v) => e.set(n, v), delete: (n) => e.delete(n), platform: g.Deno.build.os };
  }
  const env = g.process?.env;
  if (!env || typeof g.process?.platform !== 'string') return undefined;
  return {
    get: (n) => env[n], set: (n, v) => { env[n] = v; }, delete: (n) => { delete env[n]; }, platform: g.process.platform,
  };
}

/**
 * @internal Environment that keeps the Vulkan stack quiet without changing which adapters exist.
 * Mesa's implicit device-select layer only orders devices, and without an XDG_RUNTIME_DIR it
 * prints "XDG_RUNTIME_DIR is invalid or not set" (from wl_display_connect) on every Vulkan
 * instance; NODEVICE_SELECT=1 (the layer's own off switch) keeps it out. Only on Linux, only
 * without XDG_RUNTIME_DIR, and never when the user configured device selection or layers.
 */
export function quietVulkanEnv(get: (name: string) => string | undefined, platform: string): Record<string, string> {
  if (platform !== 'linux' || get('XDG_RUNTIME_DIR')) return {};
  for (const k of ['NODEVICE_SELECT', 'MESA_VK_DEVICE_SELECT', 'DRI_PRIME', 'VK_LOADER_LAYERS_ENABLE', 'VK_LOADER_LAYERS_DISABLE', 'VK_INSTANCE_LAYERS']) {
    if (get(k) !== undefined) return {};
  }
  return { NODEVICE_SELECT: '1' };
}

/** Runs `fn` (which creates Vulkan instances through requestAdapter) under quietVulkanEnv, then restores the environment. */
async function withQuietVulkan<T>(fn: () => Promise<T>): Promise<T> {
  let env: EnvAccess | undefined;
  let vars: Record<string, string> = {};
  try {
    env = envAccess();
    if (env) vars = quietVulkanEnv(env.get, env.platform);
  } catch {
    vars = {};
  }
  const saved = Object.keys(vars).map((k) => [k, env!.get(k)] as const);
  for (const [k, v] of Object.entries(vars)) env!.set(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) env!.delete(k);
      else env!.set(k, v);
    }
  }
}

/** Where the Node entry's GPU object comes from, in words (also used in reasons and errors). */
export const DAWN_SOURCE = 'the npm package "webgpu" (Dawn)';

/** Finds a GPU object: `navigator.gpu`, then the registered provider. */
export async function findGpu(): Promise<{ gpu?: GPU; why: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, why: 'navigator.gpu' };
  if (provider) {
    try {
      const gpu = await provider();
      if (gpu) return { gpu, why: DAWN_SOURCE };
      return { why: 'the WebGPU provider returned nothing' };
    } catch (e) {
      providerError = e;
      return {
        why: `navigator.gpu is undefined and the optional npm package "webgpu" could not be loaded ` +
          `(${(e as Error)?.message ?? e}); install it with "npm install webgpu"`,
      };
    }
  }
  const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
  if (secure === false) return { why: 'navigator.gpu is undefined: the page is not a secure context (serve it over https or from localhost)' };
  return { why: 'navigator.gpu is undefined in this runtime' };
}

/** Adapter facts used for backend choice and reported in `runtime.info`. */
export interface AdapterSummary {
  /** `GPUAdapterInfo.vendor`. */
  vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  architecture: string;
  /** `GPUAdapterInfo.device`. */
  device: string;
  /** `GPUAdapterInfo.description`. */
  description: string;
  /** The adapter says it is a fallback adapter. */
  isFallbackAdapter: boolean;
  /** A CPU implementation (SwiftShader, lavapipe/llvmpipe, WARP, or a fallback adapter). */
  isSoftware: boolean;
  /** Adapter features, sorted. */
  features: string[];
  /** The limits pcpress cares about (the device's, once a device exists). */
  limits: Record<string, number>;
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
  'maxBindGroups', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ',
] as const;

/** Reads adapter info and decides whether it is a software (CPU) implementation. */
export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = (adapter.info ?? {}) as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = Boolean(info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.toLowerCase();
  // 0x10005 is Mesa's CPU vendor id (lavapipe/llvmpipe), 0x1ae0 Google's (SwiftShader).
  const software = fallback || /swiftshader|llvmpipe|lavapipe|softpipe|software|warp|basic render/.test(text) ||
    info.vendor === '65541' || info.vendor === '6880';
  const limits: Record<string, number> = {};
  for (const k of LIMIT_NAMES) limits[k] = Number(adapter.limits[k]);
  return {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
    description: info.description ?? '', isFallbackAdapter: fallback, isSoftware: software,
    features: [...adapter.features].sort() as string[], limits,
  };
}

/** A GPU buffer holding `length` f32 values (size padded to 16 bytes so vec4 views fit). */
export interface GpuStorage {
  /** The storage buffer. */
  buffer: GPUBuffer;
  /** Number of f32 values it holds. */
  length: number;
}

/** The message of a BackendUnavailableError for "requestAdapter() returned null" via `why`. */
export function noAdapterMessage(why: string): string {
  let hint = '';
  const proc = (globalThis as { process?: { platform?: string } }).process;
  if (why.includes('"webgpu"') && proc?.platform === 'linux') {
    hint = '; on Linux without a GPU point Dawn at a Vulkan driver it accepts, e.g. ' +
      'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader from the chromium package)';
  }
  return `requestAdapter() returned null via ${why}: no usable GPU adapter${hint}`;
}

/** WebGPU backend state for one device. */
export class WebGpuBackend {
  /** Backend tag. */
  readonly kind = 'webgpu' as const;
  /** True after destroy(). */
  destroyed = false;
  /** Set once `device.lost` resolves. */
  lost: GPUDeviceLostInfo | undefined;
  /** Testing aid: fill every new output buffer with NaN so unwritten elements show. */
  poison = false;
  private pipelines = new Map<string, GPUComputePipeline>();
  private modules = new Map<string, GPUShaderModule>();
  private uncaptured: string | undefined;

  private constructor(readonly device: GPUDevice, readonly adapter: AdapterSummary, readonly source: string) {
    device.lost.then((info) => {
      this.lost = info;
    });
    // Keep uncaptured errors (they reject the next call as GpuError) instead of letting the
    // implementation log them: preventDefault() is what stops Dawn (and browsers) printing them.
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      ev.preventDefault?.();
      this.uncaptured ??= (ev as GPUUncapturedErrorEvent).error?.message ?? 'unknown GPU error';
    });
  }

  /** Finds an adapter (throws BackendUnavailableError with the cause if none). */
  static async requestAdapter(powerPreference?: GPUPowerPreference): Promise<{ adapter: GPUAdapter; summary: AdapterSummary; source: string }> {
    const { gpu, why } = await findGpu();
    if (!gpu) throw new BackendUnavailableError('webgpu', why, { cause: providerError });
    let adapter: GPUAdapter | null;
    try {
      adapter = await withQuietVulkan(() => gpu.requestAdapter(powerPreference ? { powerPreference } : undefined));
    } catch (e) {
      throw new BackendUnavailableError('webgpu', `requestAdapter() failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    if (!adapter) throw new BackendUnavailableError('webgpu', noAdapterMessage(why));
    return { adapter, summary: summarizeAdapter(adapter), source: why };
  }

  /**
   * Asks the registered prober (Node: a subprocess running requestAdapter()) what this process
   * would find, so that native warnings land in `messages` instead of on the console, and the
   * native GPU stack is loaded here only when WebGPU will be used. Resolves to undefined when
   * there is nothing to probe (navigator.gpu exists, no prober, or the prober could not run):
   * then call requestAdapter() directly. Throws BackendUnavailableError when the probe found no
   * adapter; `messages` (appended to) receives what native code printed either way.
   */
  static async probe(powerPreference: GPUPowerPreference | undefined, messages: string[]): Promise<AdapterSummary | undefined> {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu || !prober) return undefined;
    let r: AdapterProbe | undefined;
    try {
      r = await prober(powerPreference);
    } catch (e) {
      messages.push(`probing WebGPU out of process failed (${(e as Error)?.message ?? e}); probed in this process instead`);
      return undefined;
    }
    if (!r) return undefined;
    messages.push(...r.messages);
    if (r.failure) throw new BackendUnavailableError('webgpu', `requestAdapter() via ${DAWN_SOURCE} failed: ${r.failure}`);
    if (!r.adapter) throw new BackendUnavailableError('webgpu', noAdapterMessage(DAWN_SOURCE));
    return r.adapter;
  }

  /** Requests a device with the limits pcpress kernels need. */
  static async create(found: { adapter: GPUAdapter; summary: AdapterSummary; source: string }): Promise<WebGpuBackend> {
    const { adapter, summary } = found;
    const l = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: Math.min(l.maxComputeWorkgroupStorageSize, 32768),
      maxComputeInvocationsPerWorkgroup: Math.min(l.maxComputeInvocationsPerWorkgroup, 256),
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
    };
    if (l.maxComputeInvocationsPerWorkgroup < 256 || l.maxComputeWorkgroupStorageSize < 17408) {
      throw new BackendUnavailableError('webgpu',
        `adapter limits too small (maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}, ` +
        `maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}; need 256 and 17408: the skinny matmul tile uses 17 KiB)`);
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits });
    } catch (e) {
      throw new BackendUnavailableError('webgpu', `requestDevice() failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    for (const k of Object.keys(requiredLimits)) summary.limits[k] = Number((device.limits as unknown as Record<string, number>)[k]);
    return new WebGpuBackend(device, summary, found.source);
  }

  /** Throws a typed error if the device is lost or the runtime destroyed. */
  check(): void {
    if (this.destroyed) throw new DisposedError('runtime');
    if (this.lost) throw new DeviceLostError(this.lost.reason, this.lost.message);
    if (this.uncaptured) {
      const msg = this.uncaptured;
      this.uncaptured = undefined;
      throw new GpuError(`an earlier WebGPU operation failed: ${msg}`);
    }
  }

  /** Largest buffer (bytes) one binding may hold. */
  get maxBindingBytes(): number {
    return Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
  }

  /** Throws LimitError if `length` f32 values cannot be bound. */
  checkBindable(op: string, name: string, length: number): void {
    const bytes = length * 4;
    if (bytes > this.maxBindingBytes) {
      throw new LimitError(`${op}: ${name} needs ${bytes} bytes, over this device's storage binding limit of ${this.maxBindingBytes} bytes`);
    }
  }

  /** Creates an uninitialised storage buffer for `length` f32 values. */
  alloc(length: number): GpuStorage {
    const size = Math.max(16, Math.ceil((length * 4) / 16) * 16);
    const buffer = this.device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST });
    if (this.poison) this.device.queue.writeBuffer(buffer, 0, new Float32Array(size / 4).fill(NaN));
    return { buffer, length };
  }

  /** Uploads `data` to a new storage buffer. */
  upload(data: Float32Array): GpuStorage {
    const s = this.alloc(data.length);
    if (data.length) this.device.queue.writeBuffer(s.buffer, 0, data as Float32Array<ArrayBuffer>, 0, data.length);
    return s;
  }

  /** Reads a storage buffer back to the CPU. */
  async read(s: GpuStorage): Promise<Float32Array> {
    this.check();
    const bytes = Math.max(16, Math.ceil((s.length * 4) / 16) * 16);
    const staging = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(s.buffer, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
    } catch (e) {
      this.check();
      throw new GpuError(`reading a result back failed: ${(e as Error)?.message ?? e}`);
    }
    const out = new Float32Array(staging.getMappedRange().slice(0, s.length * 4));
    staging.unmap();
    staging.destroy();
    this.check();
    return out;
  }

  /** Frees a storage buffer. */
  release(s: GpuStorage): void {
    s.buffer.destroy();
  }

  /** A small uniform buffer holding u32 values. */
  uniform(values: ArrayLike<number>): GPUBuffer {
    const size = Math.max(16, Math.ceil((values.length * 4) / 16) * 16);
    const data = new Uint32Array(size / 4);
    data.set(values);
    const buffer = this.device.createBuffer({ size, usage: UNIFORM | COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  /** Returns a cached compute pipeline for `code` specialised by override `constants`. */
  pipeline(name: string, code: string, constants: Record<string, number> = {}, entryPoint = 'main'): GPUComputePipeline {
    const key = `${name}:${entryPoint}:${JSON.stringify(constants)}`;
    let p = this.pipelines.get(key);
    if (!p) {
      let module = this.modules.get(name);
      if (!module) {
        module = this.device.createShaderModule({ label: name, code });
        this.modules.set(name, module);
      }
      p = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint, constants } });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Encodes and submits one dispatch; `resources` bind to group 0 in order. */
  dispatch(pipeline: GPUComputePipeline, resources: GPUBuffer[], groups: [number, number, number]): void {
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /** Runs `fn` inside validation and out-of-memory error scopes and throws GpuError if either fires. */
  async scoped<T>(fn: () => Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = await fn();
    } catch (e) {
      thrown = e;
    }
    const validation = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    if (thrown) throw thrown;
    if (oom) throw new GpuError(`out of GPU memory: ${oom.message}`);
    if (validation) throw new GpuError(`WebGPU validation error: ${validation.message}`);
    return result as T;
  }

  /** Adapter summary and where the GPU object came from. */
  info(): Record<string, unknown> {
    return { adapter: this.adapter, source: this.source };
  }

  /** Destroys the device; later calls throw DisposedError. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pipelines.clear();
    this.modules.clear();
    this.device.destroy();
  }
}
