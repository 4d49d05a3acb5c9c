// createRuntime: honest backend choice, and the Runtime facade every op hangs off.
import { ArgumentError, BackendUnavailableError, DTypeError, LimitError } from './errors.js';
import { defaultThreads, threadsUnavailable } from './threads/pool.js';
import { WasmBackend, wasmSimdSupported } from './backends/wasm.js';
import { WebGpuBackend, type AdapterSummary } from './backends/webgpu.js';
import { Tensor, type BackendImpl } from './tensor.js';
import { checkMatmulLimits, matmulPackedOp, matmulTensors, packBOp, PackedB, type MatmulOptions, type PackBOptions } from './ops/matmul.js';
import { checkF32, checkInt, checkKeys, describe, promised } from './validate.js';
import { attentionOp, decodeOp, type AttentionOptions, type AttentionResult, type DecodeOptions } from './ops/attention.js';
import { KVCache, type KVCacheOptions } from './kvcache.js';
import { ropeOp, type RopeOptions } from './ops/rope.js';
import { rmsNormOp, type RmsNormOptions, type RmsNormResult } from './ops/rms_norm.js';
import { addOp, type AddOptions } from './ops/add.js';
import { siluMulOp, type SiluMulOptions } from './ops/silu_mul.js';
import { transposeOp, type TransposeOptions } from './ops/transpose.js';

/** Which backend to use: `'auto'` picks WebGPU only when it is expected to beat wasm. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

/** Options of `createRuntime`. */
export interface RuntimeOptions {
  /** Default `'auto'`. `'webgpu'` and `'wasm'` force a backend and throw BackendUnavailableError if it cannot start. */
  backend?: BackendChoice;
  /** Passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Testing aid: fill every freshly allocated output with NaN before a kernel writes it. */
  poisonOutputs?: boolean;
  /**
   * Wasm threads (main thread included) that run matmul, attention, decode and KV scoring: a number (1 to
   * 64), or `'auto'`: the cores available less the workers of live photo worker pools (at least 1, at
   * most 16) where shared wasm memory and workers work (Node, Deno, cross-origin isolated pages), else 1. Default `'auto'`. A number > 1 where threads cannot start throws
   * BackendUnavailableError; over 64 rejects with LimitError. A number above 1 with backend: "webgpu" is an
   * ArgumentError; under "auto" it applies only if wasm is chosen (the reason says so otherwise).
   */
  threads?: number | 'auto';
}

/** What the runtime runs on. */
export interface RuntimeInfo {
  /** `'wasm'` or `'webgpu'`. */
  backend: 'wasm' | 'webgpu';
  /** Adapter facts and limits (WebGPU), or wasm features. */
  adapter?: AdapterSummary;
  /** Where the GPU object came from (WebGPU). */
  source?: string;
  /** Wasm features (wasm). */
  features?: string[];
  /** Threads that run wasm kernels, the main thread included (wasm; 1 = no pool). */
  threads?: number;
  /** JS engine the runtime lives in. */
  engine: string;
}

/** Which JS runtime this is. */
export function detectEngine(): string {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Deno === 'object') return `deno ${(g.Deno as { version?: { deno?: string } }).version?.deno ?? ''}`.trim();
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (proc?.versions?.node) return `node ${proc.versions.node}`;
  const nav = g.navigator as { userAgent?: string } | undefined;
  if (nav?.userAgent) {
    const m = /(Firefox|Edg|Chromium|Chrome|Version(?=.*Safari))\/(\d+)/.exec(nav.userAgent);
    if (!m) return `browser ${nav.userAgent}`;
    const name = m[1] === 'Edg' ? 'edge' : m[1] === 'Version' ? 'safari' : m[1].toLowerCase();
    return `${name} ${m[2]}`;
  }
  return 'unknown';
}

/**
 * Creates a runtime on the chosen backend. See RuntimeOptions.
 *
 * It prints nothing. In Node, `'auto'` and `'webgpu'` first ask a short-lived subprocess what
 * `requestAdapter()` finds, so that what Dawn, the Vulkan loader and drivers print while
 * enumerating adapters goes to `rt.diagnostics` (or, when a forced WebGPU cannot start, into the
 * BackendUnavailableError message) instead of the console; Dawn is loaded into this process only
 * when WebGPU will be used. Always rejects (never throws synchronously) on bad options.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError(`createRuntime: options must be an object, got ${describe(options)}`);
  }
  checkKeys('createRuntime', 'options', options, ['backend', 'powerPreference', 'poisonOutputs', 'threads']);
  const choice = options.backend ?? 'auto';
  if (choice !== 'auto' && choice !== 'webgpu' && choice !== 'wasm') {
    throw new ArgumentError(`createRuntime: backend must be 'auto', 'webgpu' or 'wasm', got ${describe(choice)}`);
  }
  checkThreadsOption(options.threads);
  const askedThreads = typeof options.threads === 'number' && options.threads > 1 ? options.threads : 0;
  if (choice === 'webgpu' && askedThreads) {
    throw new ArgumentError(`createRuntime: threads ${askedThreads} applies to the wasm backend; backend: "webgpu" runs on the GPU (leave threads out, or use backend: "wasm" or "auto")`);
  }
  const poison = options.poisonOutputs;
  const diagnostics: string[] = [];
  /** A wasm runtime; its reason ends with how many threads run and why (threads are checked only here). */
  const wasm = async (reason: string): Promise<Runtime> => {
    const { be, why } = await startWasmThreads(await resolveThreads(options.threads));
    return new Runtime(be, `${reason}; ${why}`, poison, diagnostics);
  };
  if (choice === 'wasm') {
    return await wasm('wasm forced by backend: "wasm"');
  }
  if (choice === 'webgpu') {
    try {
      await WebGpuBackend.probe(options.powerPreference, diagnostics);
    } catch (e) {
      throw e instanceof BackendUnavailableError ? withMessages(e, diagnostics) : e;
    }
    const found = await WebGpuBackend.requestAdapter(options.powerPreference);
    const be = await WebGpuBackend.create(found);
    const a = found.summary;
    const note = a.isSoftware ? ' (a software adapter: for correctness, not speed; wasm SIMD is faster on CPUs)' : '';
    return new Runtime(be, `webgpu forced by backend: "webgpu" on ${adapterName(a)}${note}`, poison, diagnostics);
  }
  // auto
  const software = (a: AdapterSummary) =>
    `wasm chosen: the WebGPU adapter (${adapterName(a)}) is a software/fallback adapter, and wasm SIMD is 5-50x faster than WebGPU emulated on the CPU`;
  let found: Awaited<ReturnType<typeof WebGpuBackend.requestAdapter>>;
  try {
    const probed = await WebGpuBackend.probe(options.powerPreference, diagnostics);
    // A software adapter found by the probe: wasm, without loading the native GPU stack here.
    if (probed?.isSoftware) return await wasm(software(probed));
    found = await WebGpuBackend.requestAdapter(options.powerPreference);
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    return await wasm(`wasm chosen: ${e.message}`);
  }
  const a = found.summary;
  if (a.isSoftware) return await wasm(software(a));
  try {
    const be = await WebGpuBackend.create(found);
    const unused = askedThreads ? `; threads ${askedThreads} not used (they apply to wasm)` : '';
    return new Runtime(be, `webgpu chosen: hardware adapter ${adapterName(a)}${unused}`, poison, diagnostics);
  } catch (e) {
    if (!(e instanceof BackendUnavailableError)) throw e;
    return await wasm(`wasm chosen: ${e.message}`);
  }
}

/** The same error with the native messages seen while probing appended (there is no runtime to hold them). */
function withMessages(e: BackendUnavailableError, messages: string[]): BackendUnavailableError {
  if (!messages.length) return e;
  const prefix = `${e.backend} backend unavailable: `;
  const text = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  return new BackendUnavailableError(e.backend, `${text}. Native messages while probing: ${messages.join(' | ')}`, { cause: e.cause ?? e });
}

/** Most threads a runtime may ask for, and most that `'auto'` picks. */
const MAX_THREADS = 64, AUTO_MAX_THREADS = 16;

/** Checks the `threads` option's value (not whether threads can start): 'auto', undefined or 1..MAX_THREADS. */
function checkThreadsOption(option: unknown): void {
  if (option === undefined || option === 'auto') return;
  if (typeof option !== 'number' || !Number.isInteger(option) || option < 1) {
    throw new ArgumentError(`createRuntime: threads must be 'auto' or a positive integer, got ${describe(option)}`);
  }
  if (option > MAX_THREADS) throw new LimitError(`createRuntime: threads ${option} is over the limit of ${MAX_THREADS}`);
}

/** How many wasm threads to start and why, from the `threads` option; throws what createRuntime rejects with. */
async function resolveThreads(option: unknown): Promise<{ count: number; why: string; auto?: boolean }> {
  if (option === undefined || option === 'auto') {
    const why = threadsUnavailable();
    if (why) return { count: 1, why: `1 thread: ${why}` };
    // the cores, less the threads live photo worker pools hold (the rule in src/threads/pool.ts, defaultThreads)
    const { count: free, cores, heldByOther } = await defaultThreads('kernel');
    const count = Math.min(free, AUTO_MAX_THREADS);
    const photo = heldByOther ? `, ${heldByOther} held by photo workers` : '';
    return { count, auto: true, why: `${count} thread${count > 1 ? 's' : ''}: threads 'auto', ${cores} core${cores > 1 ? 's' : ''}${photo}${free > AUTO_MAX_THREADS ? ` (auto uses at most ${AUTO_MAX_THREADS})` : ''}` };
  }
  if (typeof option !== 'number' || !Number.isInteger(option) || option < 1) {
    throw new ArgumentError(`createRuntime: threads must be 'auto' or a positive integer, got ${describe(option)}`);
  }
  if (option > MAX_THREADS) throw new LimitError(`createRuntime: threads ${option} is over the limit of ${MAX_THREADS}`);
  if (option > 1) {
    const why = threadsUnavailable();
    if (why) throw new BackendUnavailableError('wasm', `${option} threads were asked for, but threads cannot start here: ${why}`);
  }
  return { count: option, why: `${option} thread${option > 1 ? 's' : ''}: asked for by threads: ${option}` };
}

/**
 * Starts the wasm backend on `threads.count` threads. Under threads 'auto' (`threads.auto`), workers that
 * cannot start (a page whose CSP blocks workers, Node's permission model without --allow-worker) give 1
 * thread, and the reason says so; an explicit count > 1 rejects with BackendUnavailableError.
 */
async function startWasmThreads(threads: { count: number; why: string; auto?: boolean }): Promise<{ be: WasmBackend; why: string }> {
  if (!wasmSimdSupported()) {
    throw new BackendUnavailableError('wasm', 'this JavaScript engine does not support WebAssembly SIMD (simd128)');
  }
  try {
    try {
      return { be: await WasmBackend.create(threads.count), why: threads.why };
    } catch (e) {
      if (!(threads.auto && threads.count > 1 && e instanceof BackendUnavailableError)) throw e;
      const cause = e.cause as Error | undefined;
      const message = cause === undefined ? e.message : cause?.message ?? String(cause);
      return { be: await WasmBackend.create(1), why: `1 thread: workers could not start: ${message} (threads 'auto' asked for ${threads.count})` };
    }
  } catch (e) {
    if (e instanceof BackendUnavailableError) throw e;
    throw new BackendUnavailableError('wasm', `instantiating the module failed: ${(e as Error)?.message ?? e}`, { cause: e });
  }
}

function adapterName(a: AdapterSummary): string {
  const parts = [a.vendor, a.architecture, a.description || a.device].filter(Boolean);
  return parts.length ? parts.join(' / ') : 'unnamed adapter';
}

/** Input to ops: a typed array (copied in) or a tensor already on this runtime. */
export type TensorInput = Float32Array | Tensor;

/**
 * A runtime bound to one backend. Ops take typed arrays and return typed arrays (Promise),
 * or take Tensors and return a Tensor that stays on the backend.
 *
 * Errors follow the return type. A call that returns a Promise (every op given only typed arrays,
 * and every other Promise-returning method) reports every failure, bad input included, as a
 * rejected Promise with a typed error (ShapeError, DTypeError, ArgumentError, LimitError,
 * DisposedError, DeviceLostError, GpuError) and never throws synchronously. A call given any
 * Tensor returns Tensors synchronously (device-resident chaining) and throws synchronously.
 */
export class Runtime {
  /** The backend ops run on. */
  readonly backend: 'wasm' | 'webgpu';
  /** Why this backend was chosen, in words. */
  readonly reason: string;
  /** Adapter info and limits, or wasm features. */
  readonly info: RuntimeInfo;
  /**
   * What native code (Dawn, the Vulkan loader, drivers) printed while WebGPU was probed, one
   * message per entry, kept here instead of on the console; empty when it printed nothing or
   * nothing was probed (`backend: 'wasm'`, browsers, Deno).
   */
  readonly diagnostics: readonly string[];

  /** @internal */
  constructor(readonly impl: BackendImpl, reason: string, poison = false, diagnostics: readonly string[] = []) {
    impl.poison = poison;
    this.backend = impl.kind;
    this.reason = reason;
    this.diagnostics = Object.freeze([...diagnostics]);
    const engine = detectEngine();
    this.info = impl.kind === 'webgpu'
      ? { backend: 'webgpu', adapter: impl.adapter, source: impl.source, engine }
      : { backend: 'wasm', features: impl.pool ? ['simd128', 'threads'] : ['simd128'], threads: impl.threads, engine };
  }

  /** Uploads `data` as a tensor of `shape` (defaults to [data.length]). */
  tensor(data: Float32Array, shape?: readonly number[]): Tensor {
    checkF32('tensor', 'data', data);
    const s = shape ?? [data.length];
    // tensor takes no options: an object in place of the shape names its keys as unknown options
    if (s !== null && typeof s === 'object' && !Array.isArray(s)) checkKeys('tensor', 'the shape argument (tensor takes (data, shape?))', s, []);
    if (!Array.isArray(s)) throw new ArgumentError(`tensor: shape must be an array of integers, got ${describe(s)}`);
    let size = 1;
    s.forEach((d, i) => {
      size *= checkInt('tensor', `shape[${i}]`, d, 0);
    });
    if (size !== data.length) {
      throw new ArgumentError(`tensor: shape [${s.join(', ')}] holds ${size} elements but data has ${data.length}`);
    }
    this.impl.check();
    if (this.impl.kind === 'webgpu') this.impl.checkBindable('tensor', 'data', data.length);
    return new Tensor(this.impl, this.impl.upload(data), [...s]);
  }

  /**
   * C = op(A) x op(B), f32, row-major; `batch` products at once, or batch dims `batchA` / `batchB`
   * broadcast against each other as in numpy (see MatmulOptions).
   * With typed arrays it resolves to a Float32Array, and bad input rejects the Promise; with any
   * Tensor input it returns a Tensor on this backend, and bad input throws synchronously.
   * `b` may be a PackedB from rt.packB (a weight packed once; then a decides: a Tensor gives a Tensor).
   */
  matmul(a: Float32Array, b: Float32Array | PackedB, options: MatmulOptions): Promise<Float32Array>;
  matmul(a: Tensor, b: PackedB, options: MatmulOptions): Tensor;
  matmul(a: TensorInput, b: TensorInput, options: MatmulOptions): Tensor;
  matmul(a: TensorInput, b: TensorInput | PackedB, options: MatmulOptions): Tensor | Promise<Float32Array> {
    if (b instanceof PackedB) return matmulPackedOp(this.impl, a, b, options);
    const run = () => {
      const ta = this.input('matmul', 'a', a), tb = this.input('matmul', 'b', b);
      checkMatmulLimits(this.impl, ta, tb, options);
    };
    if (a instanceof Tensor || b instanceof Tensor) {
      run();
      return this.withTemps([a, b], (ts) => matmulTensors(this.impl, ts[0], ts[1], options));
    }
    return promised(() => {
      run();
      return this.runArrays([a, b], (ts) => matmulTensors(this.impl, ts[0], ts[1], options));
    });
  }

  /**
   * Keeps b, the right-hand operand op(B) of later matmuls (k x n; stored n x k with transposeB), in the
   * kernel's layout: pass the result as rt.matmul's b as often as needed, then dispose() it. On wasm B is
   * packed once instead of inside every call (same result bits); on WebGPU it holds the plain buffer.
   * b is copied (a Tensor b stays usable). Bad input throws synchronously, as rt.tensor does. With
   * `dtype: 'f16'` b is f16 (a Uint16Array of half bits, or a Float32Array rounded to f16): WebGPU keeps it
   * 16-bit on the device (`packed.storage === 'f16'`), wasm converts it to f32 (`'f32'`).
   */
  packB(b: TensorInput | Uint16Array, options: PackBOptions): PackedB {
    return packBOp(this.impl, b, options);
  }

  /**
   * Rotary position embeddings on x `[batch][numHeads][seq][headDim]` (see RopeOptions): pairs
   * (i, i + rotaryDim / 2), or (2i, 2i + 1) with `interleaved`, rotated by pos * theta^(-2i / rotaryDim)
   * or by explicit cos/sin caches. A Float32Array resolves to a new Float32Array and bad input
   * rejects; a Tensor returns a new Tensor of x's shape synchronously and bad input throws.
   */
  rope(x: Float32Array, options: RopeOptions): Promise<Float32Array>;
  rope(x: Tensor, options: RopeOptions): Tensor;
  rope(x: TensorInput, options: RopeOptions): Tensor | Promise<Float32Array>;
  rope(x: TensorInput, options: RopeOptions): Tensor | Promise<Float32Array> {
    return ropeOp(this.impl, x, options);
  }

  /**
   * RMSNorm over the last dim: y = h / sqrt(mean(h^2) + eps) * weight per row, h = x or x + residual
   * (then the result is `{ out, sum: h }`). Typed arrays resolve to Float32Arrays and bad input
   * rejects; any Tensor among x, weight and residual returns Tensors synchronously and bad input throws.
   */
  rmsNorm(x: Float32Array, weight: Float32Array, options: RmsNormOptions & { residual: Float32Array }): Promise<RmsNormResult<Float32Array>>;
  rmsNorm(x: Float32Array, weight: Float32Array, options: RmsNormOptions & { residual?: undefined }): Promise<Float32Array>;
  rmsNorm(x: TensorInput, weight: TensorInput, options: RmsNormOptions & { residual: TensorInput }): RmsNormResult<Tensor>;
  rmsNorm(x: TensorInput, weight: TensorInput, options: RmsNormOptions & { residual?: undefined }): Tensor;
  rmsNorm(x: TensorInput, weight: TensorInput, options: RmsNormOptions): unknown;
  rmsNorm(x: TensorInput, weight: TensorInput, options: RmsNormOptions): unknown {
    return rmsNormOp(this.impl, x, weight, options);
  }

  /**
   * y = a + b element-wise; b's length must divide a's, and b is then repeated over a's leading dims
   * (a residual of a's shape, or a bias [n] over rows [m][n]). Typed arrays resolve to a Float32Array
   * and bad input rejects; any Tensor returns a Tensor of a's shape synchronously and bad input throws.
   */
  add(a: Float32Array, b: Float32Array, options?: AddOptions): Promise<Float32Array>;
  add(a: TensorInput, b: TensorInput, options?: AddOptions): Tensor;
  add(a: TensorInput, b: TensorInput, options?: AddOptions): Tensor | Promise<Float32Array> {
    return addOp(this.impl, a, b, options);
  }

  /**
   * y = silu(gate) * up element-wise, silu(x) = x / (1 + e^-x): the gated MLP of Llama, Mistral and
   * Qwen2. gate and up have the same length. Typed arrays resolve to a Float32Array and bad input
   * rejects; any Tensor returns a Tensor of gate's shape synchronously and bad input throws.
   */
  siluMul(gate: Float32Array, up: Float32Array, options?: SiluMulOptions): Promise<Float32Array>;
  siluMul(gate: TensorInput, up: TensorInput, options?: SiluMulOptions): Tensor;
  siluMul(gate: TensorInput, up: TensorInput, options?: SiluMulOptions): Tensor | Promise<Float32Array> {
    return siluMulOp(this.impl, gate, up, options);
  }

  /**
   * Permutes the axes of x (row-major, `shape` of rank 1..4) as numpy's transpose: output axis i is
   * input axis `perm[i]` (default: reversed), e.g. `{ shape: [seq, heads, headDim], perm: [1, 0, 2] }`
   * turns token-major rows into the head-major layout of rt.attention. A Float32Array resolves to a
   * Float32Array and bad input rejects; a Tensor returns a Tensor of the permuted shape synchronously.
   */
  transpose(x: Float32Array, options: TransposeOptions): Promise<Float32Array>;
  transpose(x: Tensor, options: TransposeOptions): Tensor;
  transpose(x: TensorInput, options: TransposeOptions): Tensor | Promise<Float32Array> {
    return transposeOp(this.impl, x, options);
  }

  /**
   * Attention: softmax(scale * q k^T + mask) v per query head, with grouped-query heads, causal
   * mask aligned to the end, sliding window and sinks (see AttentionOptions for the layout).
   * Memory is O(seq x headDim): the seqQ x seqK matrix is never formed. Typed arrays resolve to a
   * Float32Array (or { out, lse } with returnLse) and bad input rejects; any Tensor input returns
   * Tensors synchronously and bad input throws.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions & { returnLse: true }): Promise<AttentionResult<Float32Array>>;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions & { returnLse?: false }): Promise<Float32Array>;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): Promise<Float32Array | AttentionResult<Float32Array>>;
  attention(q: TensorInput, k: TensorInput, v: TensorInput, options: AttentionOptions & { returnLse: true }): AttentionResult<Tensor>;
  attention(q: TensorInput, k: TensorInput, v: TensorInput, options: AttentionOptions & { returnLse?: false }): Tensor;
  attention(q: TensorInput, k: TensorInput, v: TensorInput, options: AttentionOptions): Tensor | AttentionResult<Tensor>;
  attention(q: TensorInput, k: TensorInput, v: TensorInput, options: AttentionOptions): unknown {
    return attentionOp(this.impl, q, k, v, options);
  }

  /** A KV cache for one attention layer on this runtime's backend (see KVCache). */
  createKVCache(options: KVCacheOptions): KVCache {
    return new KVCache(this.impl, options);
  }

  /**
   * Attention of q `[numHeads][seqQ][headDim]` over everything `cache` holds (dense or compacted),
   * at the keys' original positions. On WebGPU a split-K kernel; on wasm the SIMD kernel.
   * A Float32Array q resolves to a Float32Array (bad input, a bad or disposed cache included,
   * rejects); a Tensor q returns Tensors synchronously and bad input throws.
   */
  decode(q: Float32Array, cache: KVCache, options: DecodeOptions & { returnLse: true }): Promise<AttentionResult<Float32Array>>;
  decode(q: Float32Array, cache: KVCache, options: DecodeOptions & { returnLse?: false }): Promise<Float32Array>;
  decode(q: Float32Array, cache: KVCache, options: DecodeOptions): Promise<Float32Array | AttentionResult<Float32Array>>;
  decode(q: Tensor, cache: KVCache, options: DecodeOptions & { returnLse: true }): AttentionResult<Tensor>;
  decode(q: Tensor, cache: KVCache, options: DecodeOptions & { returnLse?: false }): Tensor;
  decode(q: Tensor, cache: KVCache, options: DecodeOptions): Tensor | AttentionResult<Tensor>;
  decode(q: TensorInput, cache: KVCache, options: DecodeOptions): unknown {
    return decodeOp(this.impl, q, cache, options);
  }

  /** Frees the backend (GPU device or wasm instance). Further calls throw DisposedError. */
  destroy(): void {
    this.impl.destroy();
  }

  /** Validates an op input and returns its element count. */
  private input(op: string, name: string, x: unknown): number {
    if (x instanceof Tensor) {
      if (x.backend !== this.impl) throw new ArgumentError(`${op}: ${name} is a Tensor of another runtime`);
      return x.data().length;
    }
    if (x instanceof Float32Array) return x.length;
    throw new DTypeError(`${op}: ${name} must be a Float32Array or a Tensor, got ${describe(x)}`);
  }

  /** Uploads typed-array inputs as temporaries, runs `fn`, frees the temporaries. */
  private withTemps(inputs: TensorInput[], fn: (ts: Tensor[]) => Tensor): Tensor {
    this.impl.check();
    const temps: Tensor[] = [];
    try {
      const ts = inputs.map((x) => {
        if (x instanceof Tensor) return x;
        const t = new Tensor(this.impl, this.impl.upload(x), [x.length]);
        temps.push(t);
        return t;
      });
      return fn(ts);
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  /** Typed arrays in, typed array out; GPU errors become GpuError. */
  private async runArrays(inputs: Float32Array[], fn: (ts: Tensor[]) => Tensor): Promise<Float32Array> {
    const run = async () => {
      const out = this.withTemps(inputs, fn);
      try {
        return await out.read();
      } finally {
        out.dispose();
      }
    };
    if (this.impl.kind === 'webgpu') return this.impl.scoped(run);
    return run();
  }
}
