// The WebGPU backend: adapter/device setup, buffers, a pipeline cache and dispatch.
/// <reference types="@webgpu/types" />
import { BackendUnavailableError, DeviceLostError, DisposedError, GpuError, LimitError } from '../errors.js';

// Numeric flags, so the backend works without GPUBufferUsage/GPUMapMode globals (Node's `webgpu`).
const STORAGE = 0x80, UNIFORM = 0x40, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01;
const MAP_MODE_READ = 0x01;

/** Returns a GPU object (navigator.gpu or an equivalent); undefined when none exists. */
export type GpuProvider = () => Promise<GPU | undefined>;

let provider: GpuProvider | undefined;
let providerError: unknown;

/** Registers how to obtain a GPU object where `navigator.gpu` does not exist (the Node entry does this). */
export function setGpuProvider(p: GpuProvider): void {
  provider = p;
}

/** Finds a GPU object: `navigator.gpu`, then the registered provider. */
export async function findGpu(): Promise<{ gpu?: GPU; why: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, why: 'navigator.gpu' };
  if (provider) {
    try {
      const gpu = await provider();
      if (gpu) return { gpu, why: 'the npm package "webgpu" (Dawn)' };
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
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  isSoftware: boolean;
  features: string[];
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
  buffer: GPUBuffer;
  length: number;
}

/** WebGPU backend state for one device. */
export class WebGpuBackend {
  readonly kind = 'webgpu' as const;
  destroyed = false;
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
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      this.uncaptured ??= (ev as GPUUncapturedErrorEvent).error?.message ?? 'unknown GPU error';
    });
  }

  /** Finds an adapter (throws BackendUnavailableError with the cause if none). */
  static async requestAdapter(powerPreference?: GPUPowerPreference): Promise<{ adapter: GPUAdapter; summary: AdapterSummary; source: string }> {
    const { gpu, why } = await findGpu();
    if (!gpu) throw new BackendUnavailableError('webgpu', why, { cause: providerError });
    let adapter: GPUAdapter | null;
    try {
      adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : undefined);
    } catch (e) {
      throw new BackendUnavailableError('webgpu', `requestAdapter() failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    if (!adapter) {
      let hint = '';
      const proc = (globalThis as { process?: { platform?: string; versions?: { node?: string } } }).process;
      if (why.includes('"webgpu"') && proc?.platform === 'linux') {
        hint = '; on Linux without a GPU point Dawn at a Vulkan driver it accepts, e.g. ' +
          'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader from the chromium package)';
      }
      throw new BackendUnavailableError('webgpu', `requestAdapter() returned null via ${why}: no usable GPU adapter${hint}`);
    }
    return { adapter, summary: summarizeAdapter(adapter), source: why };
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
    if (l.maxComputeInvocationsPerWorkgroup < 256 || l.maxComputeWorkgroupStorageSize < 16384) {
      throw new BackendUnavailableError('webgpu',
        `adapter limits too small (maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}, ` +
        `maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}; need 256 and 16384)`);
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

  info(): Record<string, unknown> {
    return { adapter: this.adapter, source: this.source };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pipelines.clear();
    this.modules.clear();
    this.device.destroy();
  }
}
