// A Llama-family decoder (Llama, Mistral, SmolLM, Qwen2) on a pcpress Runtime: weights from a
// safetensors file and a Hugging Face config, forward (prefill) and token-by-token generation with
// per-layer KV caches and optional eviction after the prefill.
//
// The model sits above the ops: every step is an rt.* call on device tensors (rt.matmul on the HF
// [out, in] weights packed once by rt.packB with transposeB, rt.rmsNorm with the fused residual, rt.transpose between
// token-major rows and the head-major layout of rt.rope / rt.attention, rt.rope, rt.attention for
// the prefill, rt.decode over rt.createKVCache caches, rt.siluMul, rt.add for biases), so it runs on
// wasm and WebGPU alike. Only the embedding gather and the sampling run in JS.
//
// Linear weights are packed once at load (rt.packB): F16 tensors stay f16 on WebGPU (two halves per u32,
// unpacked in the matmul shader; weightDtype 'auto'), everything else is f32 (BF16 / F16 converted exactly;
// wasm has no f16 arithmetic). Norm weights and biases are f32 device tensors.
import { ArgumentError, DisposedError } from '../errors.js';
import type { KVCache } from '../kvcache.js';
import { evictCache, evictKV } from '../kv/index.js';
import type { KVAllocation, KVMethod, KVSelection } from '../kv/types.js';
import { KV_METHODS } from '../kv/types.js';
import { seededRandom } from '../random.js';
import { Runtime } from '../runtime.js';
import { Tensor } from '../tensor.js';
import type { PackedB } from '../ops/matmul.js';
import { checkKeys, describe } from '../validate.js';
import { parseTransformerConfig, type TransformerConfig } from './config.js';
import { ModelConfigError, ModelWeightsError, SessionStateError } from './errors.js';
import { BUNDLED_MODELS, bundledModelUrl, folderUrl, readModelFile, type BundledModel } from './files.js';
import { parseSafetensors, type Safetensors } from './safetensors.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

/**
 * Inputs of `loadTransformer`: the files' contents (`config` and `weights`, optionally `tokenizer`), or a folder
 * (`dir`) holding `config.json`, `model.safetensors` and optionally `tokenizer.json`.
 */
export interface LoadTransformerOptions {
  /** `config.json`: a parsed object, its text, or its bytes. */
  config?: object | string | Uint8Array | ArrayBuffer;
  /** `model.safetensors` bytes (F32, F16 or BF16 tensors). */
  weights?: Uint8Array | ArrayBuffer;
  /** `tokenizer.json` (object, text or bytes; byte-level BPE, see `loadTokenizer`) or a loaded Tokenizer: becomes `lm.tokenizer`. */
  tokenizer?: object | string | Uint8Array | ArrayBuffer | Tokenizer;
  /**
   * A model folder instead of `config` / `weights`: a URL (`http(s):`, `file:`; a URL object or a string) or, in
   * Node and Deno, a file-system path. Its `config.json` and `model.safetensors` are read (node:fs for files,
   * fetch otherwise), and `tokenizer.json` when present.
   */
  dir?: string | URL;
  /**
   * How the linear layers' weights (q/k/v/o, gate/up/down, lm_head) are held: `'auto'` (default) keeps F16 tensors
   * as f16 where the backend computes with them (WebGPU: 16-bit on the device, half the memory; wasm: converted
   * to f32 at load, same values) and F32 / BF16 ones as f32; `'f32'` converts everything to f32; `'f16'` rounds
   * every linear weight to f16 (F32 and BF16 too: lossy; a value past 65504 is a ModelWeightsError). See `lm.info`.
   * Every weight must be finite: an Inf or NaN in any tensor is a ModelWeightsError naming it, on every backend
   * (on WebGPU an f16 Inf/NaN would be indeterminate through the shader's unpack2x16float). F16 subnormals
   * (|x| < 6.1e-5) are kept exactly on wasm (converted to f32 at load) but may be flushed to 0 by a WebGPU device's
   * f16 unpacking: a difference of at most 6.1e-5 per weight.
   */
  weightDtype?: WeightDType;
}

/** `loadTransformer`'s `weightDtype`. */
export type WeightDType = 'auto' | 'f32' | 'f16';

/** What a loaded model holds and where (`lm.info`). */
export interface TransformerInfo {
  /** The backend the weights live on. */
  backend: 'wasm' | 'webgpu';
  /** The `weightDtype` asked for (default `'auto'`). */
  weightDtype: WeightDType;
  /** The linear layers' values: all f16, all f32, or some of each (`'auto'` on a file mixing dtypes). */
  linearDtype: 'f16' | 'f32' | 'mixed';
  /** How the linear layers' weights are stored on the device: `'f16'` (WebGPU), `'f32'` (wasm converts f16 at load), or `'mixed'`. */
  linearStorage: 'f16' | 'f32' | 'mixed';
  /** Bytes every weight takes on the device: the linear layers, norms, biases and lm_head. */
  weightBytes: number;
  /** Of these, the linear layers (lm_head included). */
  linearBytes: number;
  /** Bytes of the f32 embedding table kept in JS for the token gather. */
  hostBytes: number;
}

/** Eviction applied to every layer's KV cache after the prefill (see `evictKV`). */
export interface GenerateEviction {
  /** A KV-cache eviction method (`'snapkv'`, `'defensivekv'`, ...). */
  method: KVMethod;
  /** Fraction of the prompt's tokens removed (0.8 keeps 20 %); or give `keepTokens`. */
  compression?: number;
  /** Tokens kept per KV head; or give `compression`. */
  keepTokens?: number;
  /** Budget allocation; default the method's own. */
  allocation?: KVAllocation;
  /**
   * Observation window: the last queries scored with (default 32). `generate` lowers it (given or default) to the
   * prompt length - 1; `session.evict` lowers the default to what the session holds but rejects a given window over
   * position - 1 or over the queries it keeps (ArgumentError naming both numbers).
   */
  window?: number;
  /** Avg-pool kernel (default 5). */
  kernel?: number;
  /** Leading tokens always kept (method default). */
  sinks?: number;
  /** AdaKV floor. */
  alpha?: number;
  /** PyramidKV beta. */
  beta?: number;
  /**
   * Eviction during decoding too (generate only; default off): after every `every` generated tokens, each
   * layer's cache is compacted back to the size the prefill eviction left (per KV head: that layer's mean kept
   * count), re-scored by `evictCache` over what each head holds, with the queries of the tokens generated since the
   * last eviction as the window (at most `window`). So the cache never exceeds the budget by more than `every`.
   */
  every?: number;
}

/** Options of `lm.generate`. */
export interface GenerateOptions {
  /** Tokens to generate (a positive integer). */
  maxNewTokens: number;
  /** 0 (default): greedy (argmax, ties to the lower id); > 0: sample from softmax(logits / temperature). */
  temperature?: number;
  /** Sample only among the topK most likely tokens (default: all). */
  topK?: number;
  /** Seed of the sampler (default 0): the same seed gives the same tokens. */
  seed?: number;
  /** Stop after any of these token ids (it is yielded first). */
  stopTokens?: readonly number[];
  /** Compress every layer's cache after the prefill (the prompt alone, query-agnostic). */
  eviction?: GenerateEviction;
}

/** Options of `lm.prefill` and `lm.session`. */
export interface SessionOptions {
  /**
   * Queries kept per layer for eviction scoring: the last `window` tokens' post-RoPE queries (default 32), updated
   * by every append until the session is evicted. `evict` scores with at most this many; 0: the session cannot evict.
   */
  window?: number;
  /** Tokens per KV head to reserve in each layer's cache (default: the prefill's length + 64); caches grow by doubling past it. */
  capacity?: number;
}

/** Options of `session.append`. */
export interface AppendOptions {
  /** `'all'` (default): logits of every appended token, `[n][vocab]`; `'last'`: of the last one only, `[vocab]`. */
  logits?: 'all' | 'last';
}

/** Default observation window of eviction (the last prompt queries scored with). */
const DEFAULT_WINDOW = 32;

const GENERATE_KEYS = ['maxNewTokens', 'temperature', 'topK', 'seed', 'stopTokens', 'eviction'];
const EVICTION_KEYS = ['method', 'compression', 'keepTokens', 'allocation', 'window', 'kernel', 'sinks', 'alpha', 'beta', 'every'];

/** One decoder layer's device weights (linear weights packed once, [out, in] with transposeB). */
interface LayerWeights {
  inNorm: Tensor; postNorm: Tensor;
  q: PackedB; k: PackedB; v: PackedB; o: PackedB;
  qb?: Tensor; kb?: Tensor; vb?: Tensor; ob?: Tensor;
  gate: PackedB; up: PackedB; down: PackedB;
}

/** Per-layer state a forward pass may fill: the KV caches, and the post-RoPE queries when eviction needs them. */
interface PassState {
  caches?: KVCache[];
  queries?: Float32Array[];
}

/**
 * Loads a Llama-family causal LM (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM) onto `rt`: from
 * `{ config, weights, tokenizer? }`, from a folder `{ dir }`, or the bundled model by name (`'tiny'`: the
 * package's `models/tiny/`, read from disk in Node and Deno and fetched next to the package's code in browsers).
 * A model file that cannot be read is a ModelFileError naming the file and where it was looked for; a tokenizer
 * (given, or `tokenizer.json` in the folder) becomes `lm.tokenizer`. The config is checked first (ModelConfigError), then the safetensors header (SafetensorsError), then
 * every tensor the config implies, by its Hugging Face name and shape, before anything is uploaded
 * (ModelWeightsError naming the tensor: missing, wrong shape, or left over). Rejects, never throws.
 */
export async function loadTransformer(rt: Runtime, source: LoadTransformerOptions | BundledModel): Promise<Transformer> {
  if (!(rt instanceof Runtime)) throw new ArgumentError('loadTransformer: the first argument must be a Runtime from createRuntime()');
  let options: LoadTransformerOptions;
  let hint = '';
  if (typeof source === 'string') {
    if (!(BUNDLED_MODELS as readonly string[]).includes(source)) {
      throw new ArgumentError(`loadTransformer: ${JSON.stringify(source)} is not a bundled model (bundled: ${BUNDLED_MODELS.join(', ')}); give { dir } for a model folder`);
    }
    options = { dir: bundledModelUrl(source) };
    hint = `: the bundled model ${JSON.stringify(source)} is read from the package's models/${source}/ folder (in a bundle of your own, serve that folder and pass { dir: its URL })`;
  } else options = source;
  if (options === null || typeof options !== 'object') throw new ArgumentError("loadTransformer: give options { config, weights } or { dir }, or a bundled model's name ('tiny')");
  checkKeys('loadTransformer', 'options', options, ['config', 'weights', 'tokenizer', 'dir', 'weightDtype']);
  const weightDtype = options.weightDtype ?? 'auto';
  if (weightDtype !== 'auto' && weightDtype !== 'f32' && weightDtype !== 'f16') {
    throw new ArgumentError(`loadTransformer: weightDtype must be 'auto', 'f32' or 'f16', got ${describe(options.weightDtype)}`);
  }
  let { config: cfg, weights, tokenizer: tok } = options;
  if (options.dir !== undefined) {
    if (typeof options.dir !== 'string' && !(options.dir instanceof URL)) throw new ArgumentError(`loadTransformer: dir must be a path or URL, got ${describe(options.dir)}`);
    if (cfg !== undefined || weights !== undefined) throw new ArgumentError('loadTransformer: give either dir or config and weights, not both');
    const dir = await folderUrl(options.dir);
    cfg = await readModelFile(dir, 'config.json', false, hint);
    weights = await readModelFile(dir, 'model.safetensors', false, hint);
    tok ??= await readModelFile(dir, 'tokenizer.json', true, hint);
  }
  if (cfg === undefined) throw new ArgumentError('loadTransformer: config (config.json as an object, text or bytes) is required');
  if (weights === undefined) throw new ArgumentError('loadTransformer: weights (model.safetensors bytes) are required');
  const config = parseTransformerConfig(cfg);
  const st = parseSafetensors(weights);
  const plan = weightPlan(config);
  for (const [name, shape] of plan) {
    const e = st.entries.get(name);
    if (!e) throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} is missing (the config implies [${shape.join(', ')}])`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} has shape [${e.shape.join(', ')}], the config implies [${shape.join(', ')}]`);
    }
  }
  for (const name of st.names) {
    // A separate lm_head next to tied embeddings is ignored (some exporters write both); rotary caches too.
    if (plan.has(name) || name === 'lm_head.weight' || name.endsWith('.rotary_emb.inv_freq')) continue;
    throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} is not used by a ${config.architecture} with this config (a config/weights mismatch?)`);
  }
  let tokenizer: Tokenizer | undefined;
  if (tok !== undefined) {
    tokenizer = isTokenizer(tok) ? tok : loadTokenizer(tok);
    if (tokenizer.vocabSize > config.vocabSize) {
      throw new ModelConfigError('vocab_size', `the tokenizer has ${tokenizer.vocabSize} ids, more than vocab_size ${config.vocabSize}`);
    }
  }
  return new Transformer(rt, config, st, tokenizer, weightDtype);
}

/** `data` when every value is finite, else a ModelWeightsError naming the tensor and the first bad index. */
function finite(name: string, data: Float32Array): Float32Array {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} holds ${data[i]} at element ${i}: every weight must be finite`);
  }
  return data;
}

/** The same for raw f16 bits (exponent all ones: Inf or NaN). */
function finiteF16(name: string, bits: Uint16Array): Uint16Array {
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7c00) === 0x7c00) {
      throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} holds ${bits[i] & 0x3ff ? 'NaN' : bits[i] & 0x8000 ? '-Infinity' : 'Infinity'} at element ${i}: every weight must be finite`);
    }
  }
  return bits;
}

function isTokenizer(x: unknown): x is Tokenizer {
  const t = x as Tokenizer;
  return typeof t?.encode === 'function' && typeof t?.decode === 'function' && typeof t?.vocabSize === 'number';
}

/** Every tensor name the config implies, with its shape. */
function weightPlan(c: TransformerConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const H = c.hiddenSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim, I = c.intermediateSize;
  m.set('model.embed_tokens.weight', [c.vocabSize, H]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [H]);
    m.set(`${p}self_attn.q_proj.weight`, [qd, H]);
    m.set(`${p}self_attn.k_proj.weight`, [kvd, H]);
    m.set(`${p}self_attn.v_proj.weight`, [kvd, H]);
    m.set(`${p}self_attn.o_proj.weight`, [H, qd]);
    if (c.qkvBias) {
      m.set(`${p}self_attn.q_proj.bias`, [qd]);
      m.set(`${p}self_attn.k_proj.bias`, [kvd]);
      m.set(`${p}self_attn.v_proj.bias`, [kvd]);
    }
    if (c.oBias) m.set(`${p}self_attn.o_proj.bias`, [H]);
    m.set(`${p}post_attention_layernorm.weight`, [H]);
    m.set(`${p}mlp.gate_proj.weight`, [I, H]);
    m.set(`${p}mlp.up_proj.weight`, [I, H]);
    m.set(`${p}mlp.down_proj.weight`, [H, I]);
  }
  m.set('model.norm.weight', [H]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, H]);
  return m;
}

/** Reads token ids into an Int32Array, each checked against the vocabulary. */
function readTokens(what: string, tokens: unknown, vocab: number): Int32Array {
  if (!Array.isArray(tokens) && !(tokens instanceof Int32Array) && !(tokens instanceof Uint32Array)) {
    throw new ArgumentError(`${what}: tokens must be an array, Int32Array or Uint32Array of token ids, got ${describe(tokens)}`);
  }
  if (tokens.length === 0) throw new ArgumentError(`${what}: tokens is empty (at least one token id is needed)`);
  const out = new Int32Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocab) {
      throw new ArgumentError(`${what}: token ${i} is ${describe(t)}, expected an integer id in 0..${vocab - 1} (vocab_size ${vocab})`);
    }
    out[i] = t;
  }
  return out;
}

/**
 * The async iterator `lm.generate` returns: yields token ids. `cacheLengths` holds, after the prefill
 * (and eviction) and after each step, the tokens each KV head of each layer holds (`[layer][kvHead]`);
 * `selections` the eviction's keep-lists per layer, when eviction ran; `logits` the scores the latest
 * token was chosen from.
 */
export class Generation implements AsyncIterableIterator<number> {
  /** Tokens each KV head of each layer holds, `[layer][kvHead]` (updated as generation runs). */
  cacheLengths: number[][] = [];
  /** The eviction's per-layer selections (after the prefill), when `eviction` was given. */
  selections?: KVSelection[];
  /** The latest decode-time eviction's per-layer selections (`eviction.every`), once one ran. */
  decodeSelections?: KVSelection[];
  /** The logits (`[vocabSize]`) the latest yielded token was chosen from: the next-token distribution after everything before it. */
  logits?: Float32Array;
  private readonly it: AsyncGenerator<number, void, undefined>;

  /** @internal */
  constructor(make: (g: Generation) => AsyncGenerator<number, void, undefined>) {
    this.it = make(this);
  }

  /** The next token id. */
  next(): Promise<IteratorResult<number>> {
    return this.it.next();
  }

  /** Stops early and frees the caches. */
  async return(): Promise<IteratorResult<number>> {
    await this.it.return(undefined);
    return { done: true, value: undefined };
  }

  /** The iterator itself (so `for await` works). */
  [Symbol.asyncIterator](): Generation {
    return this;
  }
}

/**
 * A loaded transformer: `forward(tokens)` gives logits, `generate(prompt, options)` streams tokens,
 * `dispose()` frees the device weights. Create with `loadTransformer`.
 */
export class Transformer {
  /** The checked config. */
  readonly config: TransformerConfig;
  /** The model's tokenizer, when one was given or found next to the weights (the bundled model has one). */
  readonly tokenizer?: Tokenizer;
  private readonly embedHost: Float32Array;
  private readonly layers: LayerWeights[] = [];
  private readonly finalNorm: Tensor;
  private readonly lmHead: PackedB;
  private readonly owned: (Tensor | PackedB)[] = [];
  /** Weight types and the bytes they take (see TransformerInfo). */
  readonly info: TransformerInfo;
  private woHost?: Float32Array[];
  private disposed = false;

  /** @internal Use loadTransformer. */
  constructor(/** The runtime the weights live on. */ readonly runtime: Runtime, config: TransformerConfig, st: Safetensors, tokenizer?: Tokenizer,
    weightDtype: WeightDType = 'auto') {
    this.config = config;
    if (tokenizer) this.tokenizer = tokenizer;
    const rt = runtime;
    const up = (name: string, shape: number[]): Tensor => {
      const t = rt.tensor(finite(name, st.f32(name)), shape);
      this.owned.push(t);
      return t;
    };
    const linear: PackedB[] = [];
    // A Linear weight [out][in] as op(B) = W^T (k = in, n = out), packed once; f16 per weightDtype.
    const pack = (name: string, out: number, inF: number, host?: Float32Array): PackedB => {
      const f16 = weightDtype === 'f16' || (weightDtype === 'auto' && st.entries.get(name)!.dtype === 'F16');
      const src = f16 && st.entries.get(name)!.dtype === 'F16' ? finiteF16(name, st.f16Bits(name)) : host ?? finite(name, st.f32(name));
      let w: PackedB;
      try {
        w = rt.packB(src, { k: inF, n: out, transposeB: true, ...(f16 ? { dtype: 'f16' as const } : {}) });
      } catch (e) {
        if (e instanceof ArgumentError && f16) throw new ModelWeightsError(name, `tensor ${JSON.stringify(name)} does not fit f16 (weightDtype 'f16'): ${e.message}`);
        throw e;
      }
      this.owned.push(w);
      linear.push(w);
      return w;
    };
    try {
      const c = config, H = c.hiddenSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim, I = c.intermediateSize;
      this.embedHost = finite('model.embed_tokens.weight', st.f32('model.embed_tokens.weight'));
      for (let l = 0; l < c.numLayers; l++) {
        const p = `model.layers.${l}.`;
        this.layers.push({
          inNorm: up(`${p}input_layernorm.weight`, [H]),
          postNorm: up(`${p}post_attention_layernorm.weight`, [H]),
          q: pack(`${p}self_attn.q_proj.weight`, qd, H),
          k: pack(`${p}self_attn.k_proj.weight`, kvd, H),
          v: pack(`${p}self_attn.v_proj.weight`, kvd, H),
          o: pack(`${p}self_attn.o_proj.weight`, H, qd),
          qb: c.qkvBias ? up(`${p}self_attn.q_proj.bias`, [qd]) : undefined,
          kb: c.qkvBias ? up(`${p}self_attn.k_proj.bias`, [kvd]) : undefined,
          vb: c.qkvBias ? up(`${p}self_attn.v_proj.bias`, [kvd]) : undefined,
          ob: c.oBias ? up(`${p}self_attn.o_proj.bias`, [H]) : undefined,
          gate: pack(`${p}mlp.gate_proj.weight`, I, H),
          up: pack(`${p}mlp.up_proj.weight`, I, H),
          down: pack(`${p}mlp.down_proj.weight`, H, I),
        });
      }
      this.finalNorm = up('model.norm.weight', [H]);
      this.lmHead = c.tieWordEmbeddings
        ? pack('model.embed_tokens.weight', c.vocabSize, H, this.embedHost)
        : pack('lm_head.weight', c.vocabSize, H);
    } catch (e) {
      for (const t of this.owned) t.dispose();
      throw e;
    }
    const kinds = (f: (w: PackedB) => 'f16' | 'f32') => {
      const s = new Set(linear.map(f));
      return s.size === 1 ? [...s][0] : 'mixed';
    };
    const linearBytes = linear.reduce((x, w) => x + w.bytes, 0);
    const otherBytes = this.owned.reduce((x, t) => x + (t instanceof Tensor ? t.size * 4 : 0), 0);
    this.info = {
      backend: rt.backend, weightDtype, linearDtype: kinds((w) => w.dtype), linearStorage: kinds((w) => w.storage),
      weightBytes: linearBytes + otherBytes, linearBytes, hostBytes: this.embedHost.byteLength,
    };
  }

  /**
   * Logits of every position for the token ids `tokens` (one sequence, causal attention from
   * position 0): a Float32Array `[tokens.length][vocabSize]`, row-major. Token ids outside
   * 0..vocabSize-1 reject with ArgumentError.
   */
  async forward(tokens: readonly number[] | Int32Array | Uint32Array): Promise<Float32Array> {
    this.check();
    const ids = readTokens('forward', tokens, this.config.vocabSize);
    return this.scoped(async () => {
      const logits = await this.pass(ids, 0, {}, 'all');
      try {
        return await logits.read();
      } finally {
        logits.dispose();
      }
    });
  }

  /**
   * Generates up to `maxNewTokens` token ids after `prompt`, as an async iterator: the prompt is
   * prefilled through every layer into per-layer KV caches (then, with `eviction`, every cache is
   * compacted by `evictKV` over the prompt), and each new token is decoded with rt.decode against
   * those caches. Greedy at temperature 0 (default); seeded sampling (temperature, topK, seed)
   * otherwise. Bad options and token ids out of range reject the first `next()` with a typed error.
   */
  generate(prompt: readonly number[] | Int32Array | Uint32Array, options: GenerateOptions): Generation {
    return new Generation((g) => this.run(g, prompt, options));
  }

  /**
   * Runs `tokens` through every layer into a new session's per-layer KV caches and resolves to the session:
   * `session.logits` is the next-token distribution after the last token; `session.append` continues the
   * sequence, `session.evict` compresses the caches (scored with the last `window` queries, kept here),
   * `session.fork()` copies it. Dispose the session when done. Token ids out of range reject with ArgumentError.
   */
  async prefill(tokens: readonly number[] | Int32Array | Uint32Array, options: SessionOptions = {}): Promise<LMSession> {
    this.check();
    const ids = readTokens('prefill', tokens, this.config.vocabSize);
    if (options === null || typeof options !== 'object') throw new ArgumentError(`prefill: options must be an object { window?, capacity? }, got ${describe(options)}`);
    const session = this.session({ ...options, capacity: options.capacity ?? ids.length + 64 });
    try {
      await session.append(ids, { logits: 'last' });
    } catch (e) {
      session.dispose();
      throw e;
    }
    return session;
  }

  /** A new, empty session (no tokens yet): its first `append` is the prefill. See `prefill`. */
  session(options: SessionOptions = {}): LMSession {
    this.check();
    if (options === null || typeof options !== 'object') throw new ArgumentError('session: options must be an object { window?, capacity? }');
    checkKeys('session', 'options', options, ['window', 'capacity']);
    const window = options.window ?? DEFAULT_WINDOW;
    if (typeof window !== 'number' || !Number.isInteger(window) || window < 0) {
      throw new ArgumentError(`session: window must be a non-negative integer (0: the session cannot evict), got ${describe(window)}`);
    }
    const capacity = options.capacity ?? 64;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0) {
      throw new ArgumentError(`session: capacity must be a non-negative integer, got ${describe(capacity)}`);
    }
    const c = this.config, rt = this.runtime;
    const caches: KVCache[] = [];
    try {
      for (let l = 0; l < this.layers.length; l++) caches.push(rt.createKVCache({ numKvHeads: c.numKvHeads, headDim: c.headDim, capacity: Math.max(16, capacity) }));
    } catch (e) {
      for (const k of caches) k.dispose();
      throw e;
    }
    return new LMSession(this, caches, window, this.internals());
  }

  /** Frees the device weights; later calls throw DisposedError. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.owned) t.dispose();
  }

  private check(): void {
    if (this.disposed) throw new DisposedError('transformer');
    this.runtime.impl.check();
  }

  private scoped<T>(fn: () => Promise<T>): Promise<T> {
    const be = this.runtime.impl;
    return be.kind === 'webgpu' ? be.scoped(fn) : fn();
  }

  private async *run(g: Generation, prompt: readonly number[] | Int32Array | Uint32Array, options: GenerateOptions):
    AsyncGenerator<number, void, undefined> {
    this.check();
    const c = this.config;
    const ids = readTokens('generate', prompt, c.vocabSize);
    const o = checkGenerate(options, c.vocabSize);
    let window = 0;
    if (o.eviction) {
      window = Math.min(o.eviction.window ?? DEFAULT_WINDOW, ids.length - 1);
      if (window < 1) throw new ArgumentError('generate: eviction needs a prompt of at least 2 tokens (the observation window is the last prompt queries)');
    }
    // room for the prompt and the first tokens; the cache doubles when full, so a large maxNewTokens allocates nothing up front
    const session = await this.prefill(ids, { window, capacity: ids.length + Math.min(o.maxNewTokens, 64) });
    try {
      let logits = session.logits!;
      const { every, ...once } = o.eviction ?? { every: undefined };
      // decode steps read queries back only when a decode-time eviction will score with them
      if (!every) session.untrackAfterEvict();
      if (o.eviction) g.selections = await session.evict({ ...(once as GenerateEviction), window });
      g.cacheLengths = session.cacheLengths;
      // decode-time eviction keeps each layer at the mean per-head size the prefill eviction left
      const keepPerLayer = every && g.selections ? g.selections.map((s) => Math.max(1, Math.round(s.total / s.numKvHeads))) : [];
      let since = 0;
      const rand = seededRandom(o.seed);
      for (let i = 0; i < o.maxNewTokens; i++) {
        const tok = sampleToken(logits, o.temperature, o.topK, rand);
        g.logits = logits;
        yield tok;
        if (i === o.maxNewTokens - 1 || o.stopTokens.includes(tok)) break;
        this.check();
        logits = await session.append(Int32Array.of(tok), { logits: 'last' });
        if (every && ++since >= every) {
          since = 0;
          g.decodeSelections = await session.evictLayers(keepPerLayer, { ...(once as GenerateEviction), window: Math.min(window, every) }) ?? g.decodeSelections;
        }
        g.cacheLengths = session.cacheLengths;
      }
    } finally {
      session.dispose();
    }
  }

  /** @internal What a session needs of the model: one pass, the o_proj weights, the checks. */
  private internals(): ModelInternals {
    return {
      check: () => this.check(),
      outputProjections: () => this.outputProjections(),
      step: (ids, start, caches, rows, window) => this.scoped(async () => {
        const state: PassState = { caches, queries: window > 0 ? [] : undefined };
        const t = await this.pass(ids, start, state, rows, window);
        try {
          return { logits: await t.read(), queries: state.queries };
        } finally {
          t.dispose();
        }
      }),
    };
  }

  /** Each layer's o_proj weight transposed, [numHeads * headDim][hidden] (evictKV's `wo`), read once. */
  private async outputProjections(): Promise<Float32Array[]> {
    if (this.woHost) return this.woHost;
    const out: Float32Array[] = [];
    // packed as op(B) = W^T: k = numHeads * headDim rows, n = hidden columns, which is wo's layout
    for (const L of this.layers) out.push(await L.o.read());
    this.woHost = out;
    return out;
  }

  /**
   * One pass over `ids` at positions start.. through every layer: with `state.caches` the new keys
   * and values are appended to each layer's cache, and a continuation (start > 0) attends through
   * rt.decode; with `state.queries` the last `window` post-RoPE queries of each layer are read back
   * ([numHeads][window][headDim]) for eviction. Resolves to the logits of every row (`'all'`) or of
   * the last row only, as a device tensor.
   */
  private async pass(ids: Int32Array, start: number, state: PassState, rows: 'all' | 'last', window = 0): Promise<Tensor> {
    const c = this.config, rt = this.runtime;
    const S = ids.length, H = c.hiddenSize, hd = c.headDim, nH = c.numHeads, nKv = c.numKvHeads, I = c.intermediateSize;
    const x = new Float32Array(S * H);
    for (let s = 0; s < S; s++) x.set(this.embedHost.subarray(ids[s] * H, (ids[s] + 1) * H), s * H);
    const live: Tensor[] = [];
    const keep = (t: Tensor): Tensor => {
      live.push(t);
      return t;
    };
    const free = () => {
      for (const t of live.splice(0)) t.dispose();
    };
    let resid = rt.tensor(x, [S, H]);
    let delta: Tensor | undefined; // the last block's output, not yet added to resid
    try {
      for (let l = 0; l < this.layers.length; l++) {
        const L = this.layers[l];
        let h: Tensor;
        if (delta) {
          const r = rt.rmsNorm(delta, L.inNorm, { rows: S, cols: H, eps: c.rmsNormEps, residual: resid });
          delta.dispose();
          resid.dispose();
          delta = undefined;
          resid = r.sum;
          h = keep(r.out);
        } else {
          h = keep(rt.rmsNorm(resid, L.inNorm, { rows: S, cols: H, eps: c.rmsNormEps }));
        }
        const proj = (w: PackedB, b: Tensor | undefined, heads: number): Tensor => {
          let y = keep(rt.matmul(h, w, { m: S, k: H, n: heads * hd, transposeB: true }));
          if (b) y = keep(rt.add(y, b));
          // [S][heads][hd] -> [heads][S][hd] (the same memory when S = 1)
          return S === 1 ? y : keep(rt.transpose(y, { shape: [S, heads, hd], perm: [1, 0, 2] }));
        };
        const ropeOpts = { headDim: hd, seq: S, offset: start, theta: c.ropeTheta, rotaryDim: c.rotaryDim };
        const q = keep(rt.rope(proj(L.q, L.qb, nH), { ...ropeOpts, numHeads: nH }));
        const k = keep(rt.rope(proj(L.k, L.kb, nKv), { ...ropeOpts, numHeads: nKv }));
        const v = proj(L.v, L.vb, nKv);
        const mask = { causal: true, ...(c.slidingWindow ? { window: c.slidingWindow } : {}) };
        const cache = state.caches?.[l];
        if (cache) cache.append(k, v);
        const attn = keep(cache && start > 0
          ? rt.decode(q, cache, { numHeads: nH, ...mask })
          : rt.attention(q, k, v, { numHeads: nH, numKvHeads: nKv, headDim: hd, ...mask }));
        if (state.queries && window > 0) {
          const all = await q.read();
          const w = new Float32Array(nH * window * hd);
          for (let hh = 0; hh < nH; hh++) w.set(all.subarray((hh * S + S - window) * hd, (hh * S + S) * hd), hh * window * hd);
          state.queries[l] = w;
        }
        const attnRows = S === 1 ? attn : keep(rt.transpose(attn, { shape: [nH, S, hd], perm: [1, 0, 2] }));
        let o = keep(rt.matmul(attnRows, L.o, { m: S, k: nH * hd, n: H, transposeB: true }));
        if (L.ob) o = keep(rt.add(o, L.ob));
        const r2 = rt.rmsNorm(o, L.postNorm, { rows: S, cols: H, eps: c.rmsNormEps, residual: resid });
        resid.dispose();
        resid = r2.sum;
        const h2 = keep(r2.out);
        const gate = keep(rt.matmul(h2, L.gate, { m: S, k: H, n: I, transposeB: true }));
        const upv = keep(rt.matmul(h2, L.up, { m: S, k: H, n: I, transposeB: true }));
        const act = keep(rt.siluMul(gate, upv));
        delta = rt.matmul(act, L.down, { m: S, k: I, n: H, transposeB: true });
        free();
      }
      const fin = rt.rmsNorm(delta!, this.finalNorm, { rows: S, cols: H, eps: c.rmsNormEps, residual: resid });
      keep(fin.sum);
      let hFinal = keep(fin.out);
      let m = S;
      if (rows === 'last' && S > 1) {
        // The last row on the device: a one-hot row [1][S] times [S][H] (exact: one product by 1, the rest 0).
        const pickLast = new Float32Array(S);
        pickLast[S - 1] = 1;
        hFinal = keep(rt.matmul(keep(rt.tensor(pickLast, [1, S])), hFinal, { m: 1, k: S, n: H }));
        m = 1;
      }
      return rt.matmul(hFinal, this.lmHead, { m, k: H, n: c.vocabSize, transposeB: true });
    } finally {
      free();
      resid.dispose();
      delta?.dispose();
    }
  }
}

/** @internal What an LMSession needs of its model. */
interface ModelInternals {
  check(): void;
  outputProjections(): Promise<Float32Array[]>;
  /** One pass of `ids` at positions start.. appending to `caches`; the last min(window, n) queries per layer when window > 0. */
  step(ids: Int32Array, start: number, caches: KVCache[], rows: 'all' | 'last', window: number): Promise<{ logits: Float32Array; queries?: Float32Array[] }>;
}

/**
 * A sequence in progress on a Transformer: every layer's KV cache, the next-token logits, and the last `window`
 * queries of each layer (what eviction scores with). Made by `lm.prefill(tokens)` (or `lm.session()` then
 * `append`).
 *
 * ```ts
 * const s = await lm.prefill(context);            // s.logits: the next-token distribution
 * const a = s.fork();                             // an independent copy of the caches
 * await a.evict({ method: 'defensivekv', compression: 0.8 });   // a's caches keep 20 %
 * const logits = await a.append(question);        // [question.length][vocab], causal over cache + question
 * a.dispose(); s.dispose();
 * ```
 *
 * Appending n tokens is one pass through the model at positions `position .. position + n - 1` (rt.decode over
 * the cache, causal among the new tokens), so it gives what `lm.forward` gives on the whole sequence (with no
 * eviction), up to float rounding. After `evict`, later tokens attend only to what each KV head kept, at their
 * original positions.
 */
export class LMSession {
  /** Logits `[vocab]` after the last token: the next-token distribution (undefined before the first append). */
  logits?: Float32Array;
  /** The latest eviction's per-layer selections (indices into the tokens each KV head held before it). */
  selections?: KVSelection[];
  private pos = 0;
  private queries?: Float32Array[];
  private qRows = 0;
  private evictedFlag = false;
  private closed = false;
  /** An append, evict or fork is running (its passes await between layers): a second call is a SessionStateError. */
  private busy = false;
  /** A call failed after changing some layers' caches: only dispose() is left. */
  private broken = false;
  /** dispose() was called while busy: the caches are freed when the running call ends. */
  private freeLater = false;
  /** Appends after an eviction keep queries (for a later evict); off where none follows (untrackAfterEvict). */
  private trackAfterEvict = true;

  /** @internal Use lm.prefill or lm.session. */
  constructor(/** The model this session runs on. */ readonly model: Transformer, private readonly caches: KVCache[],
    /** Queries kept per layer for eviction (the session option `window`). */ readonly window: number,
    private readonly m: ModelInternals) {}

  /** Tokens in the sequence so far (the position the next token gets), evicted ones included. */
  get position(): number {
    return this.pos;
  }

  /** Tokens each KV head of each layer holds, `[layer][kvHead]`. */
  get cacheLengths(): number[][] {
    this.check();
    return this.caches.map((k) => k.lengths);
  }

  /** Every layer's KV cache (read-only use: `cache.read()`, `lengths`; the session owns and disposes them). */
  get layerCaches(): readonly KVCache[] {
    this.check();
    return this.caches;
  }

  /** True once `evict` ran: the caches are compacted; a later evict re-scores each KV head over what it holds. */
  get evicted(): boolean {
    return this.evictedFlag;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.closed;
  }

  /** True once a call failed midway (some layers changed, others not): every later call is a SessionStateError; dispose it. */
  get isBroken(): boolean {
    return this.broken;
  }

  /**
   * Appends `tokens` (ids in 0..vocab-1) to the sequence: one pass through every layer against the caches, which
   * grow by the new keys and values. Resolves to the logits of every appended token (`[n][vocab]`, row i predicts
   * the token after tokens[i]) or, with `{ logits: 'last' }`, of the last one (`[vocab]`). Sets `logits`.
   */
  async append(tokens: readonly number[] | Int32Array | Uint32Array, options: AppendOptions = {}): Promise<Float32Array> {
    this.check();
    this.m.check();
    const vocab = this.model.config.vocabSize;
    const ids = readTokens('append', tokens, vocab);
    if (options === null || typeof options !== 'object') throw new ArgumentError('append: options must be an object { logits? }');
    checkKeys('append', 'options', options, ['logits']);
    const rows = options.logits ?? 'all';
    if (rows !== 'all' && rows !== 'last') throw new ArgumentError(`append: logits must be 'all' or 'last', got ${describe(rows)}`);
    const track = this.window > 0 && (!this.evictedFlag || this.trackAfterEvict);
    const w = track ? Math.min(this.window, ids.length) : 0;
    return this.exclusive('append', async () => {
      const { logits, queries } = await this.m.step(ids, this.pos, this.caches, rows, w);
      this.pos += ids.length;
      if (queries) this.keepQueries(queries, w);
      this.logits = rows === 'last' ? logits : logits.slice(logits.length - vocab);
      return logits;
    });
  }

  /**
   * Compresses every layer's cache with `evictKV` (the method, budget and options of `generate`'s `eviction`),
   * scored with the last min(eviction.window ?? 32, window, position - 1) queries and each layer's o_proj (value
   * weighting). Query-agnostic: only what the session holds is seen. Resolves to the per-layer selections.
   * The first evict scores the dense caches with the model-wide allocation (`evictKV`). A later one (after at least
   * one append) re-scores each KV head over what it holds (`evictCache`), with the queries of the tokens appended
   * since: its budget is per head (`keepTokens` at most the smallest head's length, or `compression` of each head),
   * and `allocation`, `alpha` and `beta` are ArgumentErrors there (no allocation across heads or layers applies).
   * ArgumentError too: a session made with window 0, one of fewer than 2 tokens, an evict with nothing appended
   * since the last one. Budget out of range (compression outside [0, 1], keepTokens over the length): typed errors.
   */
  async evict(eviction: GenerateEviction): Promise<KVSelection[]> {
    this.check();
    this.m.check();
    return this.exclusive('evict', () => this.evictNow(eviction));
  }

  private async evictNow(eviction: GenerateEviction): Promise<KVSelection[]> {
    const e = checkEviction('evict', eviction);
    if (e.every !== undefined) throw new ArgumentError('evict: eviction.every is a generate option (evict compresses once per call)');
    if (!this.queries || this.qRows === 0) {
      throw new ArgumentError(this.evictedFlag
        ? 'evict: no token was appended since the last eviction: nothing to score with'
        : 'evict: the session keeps no queries (made with window 0, or empty): nothing to score with');
    }
    if (e.window !== undefined && e.window > this.qRows) {
      throw new ArgumentError(`evict: eviction.window ${e.window} is more than the ${this.qRows} queries this session keeps (its window option, or the tokens appended since the last eviction)`);
    }
    if (this.evictedFlag) {
      for (const k of ['allocation', 'alpha', 'beta'] as const) {
        if (e[k] !== undefined) {
          throw new ArgumentError(`evict: eviction.${k} applies to the first eviction only: a later one re-scores each KV head over what it holds (evictCache), with a per-head budget and no allocation across heads or layers`);
        }
      }
      if (e.keepTokens !== undefined) {
        const least = Math.min(...this.caches.flatMap((k) => k.lengths));
        if (e.keepTokens > least) throw new ArgumentError(`evict: eviction.keepTokens ${e.keepTokens} is more than the ${least} tokens the smallest KV head holds (a later evict keeps keepTokens per head)`);
      }
      return this.reEvict(e);
    }
    if (e.window !== undefined && e.window > this.pos - 1) {
      throw new ArgumentError(`evict: eviction.window ${e.window} is more than position - 1 = ${this.pos - 1} (the first token has no earlier key to score)`);
    }
    const w = Math.min(e.window ?? DEFAULT_WINDOW, this.qRows, this.pos - 1);
    if (w < 1) throw new ArgumentError('evict: eviction needs at least 2 tokens (the observation window is the last queries)');
    const c = this.model.config, hd = c.headDim, nH = c.numHeads;
    const q = this.queries.map((all) => {
      if (w === this.qRows) return all;
      const out = new Float32Array(nH * w * hd);
      for (let h = 0; h < nH; h++) out.set(all.subarray((h * this.qRows + this.qRows - w) * hd, (h * this.qRows + this.qRows) * hd), h * w * hd);
      return out;
    });
    const wo = await this.m.outputProjections();
    const budget = e.compression !== undefined ? { compression: e.compression } : { keepTokens: e.keepTokens };
    const { selections } = await evictKV(this.model.runtime, e.method, this.caches.map((cache, l) => ({
      q: q[l], wo: wo[l], numHeads: nH, numKvHeads: c.numKvHeads, headDim: hd, cache, window: w,
      ...(e.kernel !== undefined ? { kernel: e.kernel } : {}), ...(e.sinks !== undefined ? { sinks: e.sinks } : {}),
    })), {
      ...budget,
      ...(e.allocation !== undefined ? { allocation: e.allocation } : {}),
      ...(e.alpha !== undefined ? { alpha: e.alpha } : {}),
      ...(e.beta !== undefined ? { beta: e.beta } : {}),
    });
    this.evictedFlag = true;
    this.queries = undefined;
    this.qRows = 0;
    this.selections = selections;
    return selections;
  }

  /**
   * A second (or later) eviction, of caches already compacted: each layer through `evictCache`, every KV head scored
   * over what it holds now with the queries of the tokens appended since the last eviction (the last of them, at most
   * the window). The budget is per head (`keepTokens`, or `compression` of each head's current length); layer-level
   * allocations (PyramidKV, Layer-DefensiveKV) do not apply here.
   */
  private async reEvict(e: GenerateEviction, keepPerLayer?: readonly number[]): Promise<KVSelection[]> {
    const w = Math.min(e.window ?? DEFAULT_WINDOW, this.qRows);
    const c = this.model.config, hd = c.headDim, nH = c.numHeads;
    const wo = await this.m.outputProjections();
    const selections: KVSelection[] = [];
    for (let l = 0; l < this.caches.length; l++) {
      const all = this.queries![l];
      let q = all;
      if (w !== this.qRows) {
        q = new Float32Array(nH * w * hd);
        for (let h = 0; h < nH; h++) q.set(all.subarray((h * this.qRows + this.qRows - w) * hd, (h * this.qRows + this.qRows) * hd), h * w * hd);
      }
      selections.push(await evictCache(this.model.runtime, e.method, this.caches[l], {
        numHeads: nH, q, wo: wo[l], window: w,
        ...(keepPerLayer ? { keepTokens: keepPerLayer[l] } : e.compression !== undefined ? { compression: e.compression } : { keepTokens: e.keepTokens }),
        ...(e.kernel !== undefined ? { kernel: e.kernel } : {}), ...(e.sinks !== undefined ? { sinks: e.sinks } : {}),
      }));
    }
    this.queries = undefined;
    this.qRows = 0;
    this.selections = selections;
    return selections;
  }

  /**
   * @internal generate's decode-time eviction: compacts each layer l's evicted caches to keepPerLayer[l] tokens per
   * KV head (method and options of `e`), when some head holds more; scored as `evict` re-scores.
   */
  async evictLayers(keepPerLayer: readonly number[], e: GenerateEviction): Promise<KVSelection[] | undefined> {
    this.check();
    if (!this.evictedFlag || !this.queries || this.qRows === 0) return undefined;
    if (!this.caches.some((k, l) => k.lengths.some((n) => n > keepPerLayer[l]))) return undefined;
    return this.exclusive('evict', () => this.reEvict(e, keepPerLayer));
  }

  /**
   * @internal No later evict will follow the next one (generate without eviction.every, lm-eval's forks): appends
   * after an eviction keep no queries, sparing a read-back per layer per step (a GPU round trip on WebGPU). A later
   * evict is then the 'no token was appended since the last eviction' ArgumentError. Forks inherit it.
   */
  untrackAfterEvict(): void {
    this.trackAfterEvict = false;
    if (this.evictedFlag) {
      this.queries = undefined;
      this.qRows = 0;
    }
  }

  /** An independent copy: its own caches (copied on the device), queries, logits and position. Dispose both. */
  fork(): LMSession {
    this.check();
    this.checkState('fork');
    const caches: KVCache[] = [];
    try {
      for (const k of this.caches) caches.push(k.clone());
    } catch (e) {
      for (const k of caches) k.dispose();
      throw e;
    }
    const f = new LMSession(this.model, caches, this.window, this.m);
    f.pos = this.pos;
    f.logits = this.logits;
    f.queries = this.queries?.map((x) => x.slice());
    f.qRows = this.qRows;
    f.evictedFlag = this.evictedFlag;
    f.trackAfterEvict = this.trackAfterEvict;
    f.selections = this.selections;
    return f;
  }

  /**
   * Frees the caches; later calls throw DisposedError. Idempotent, never throws. Called while an append or evict
   * runs, it is deferred: the session counts as disposed at once, and the caches are freed when that call settles.
   */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.busy) {
      this.freeLater = true;
      return;
    }
    for (const k of this.caches) k.dispose();
  }

  private check(): void {
    if (this.closed) throw new DisposedError('LM session');
  }

  /** Busy and broken sessions refuse every call but dispose (SessionStateError). */
  private checkState(op: string): void {
    if (this.broken) throw new SessionStateError('broken', `${op}: this session is broken (an earlier call failed midway and left its layers' caches inconsistent): dispose it and prefill again`);
    if (this.busy) throw new SessionStateError('busy', `${op}: this session is busy (an append or evict of it has not finished; sessions are not re-entrant): await that call first, or fork before running in parallel`);
  }

  /**
   * Runs `fn` as the session's only call: a concurrent one rejects (its passes await between layers, so two would
   * interleave per layer). When `fn` fails after some cache changed (lengths differ from before), the session is
   * marked broken. A dispose() that came in meanwhile frees the caches at the end.
   */
  private async exclusive<T>(op: string, fn: () => Promise<T>): Promise<T> {
    this.checkState(op);
    this.busy = true;
    const before = this.caches.map((k) => k.lengths.join()).join(';');
    try {
      return await fn();
    } catch (e) {
      if (this.caches.some((k) => k.disposed) || this.caches.map((k) => k.lengths.join()).join(';') !== before) this.broken = true;
      throw e;
    } finally {
      this.busy = false;
      if (this.freeLater) {
        this.freeLater = false;
        for (const k of this.caches) k.dispose();
      }
    }
  }

  /** Keeps the last `window` rows of (old queries ++ new `n`-row queries) per layer, [numHeads][rows][headDim]. */
  private keepQueries(fresh: Float32Array[], n: number): void {
    const c = this.model.config, hd = c.headDim, nH = c.numHeads;
    const old = this.qRows, rows = Math.min(this.window, old + n), fromOld = rows - n;
    this.queries = fresh.map((q, l) => {
      if (fromOld <= 0) return q;
      const prev = this.queries![l];
      const out = new Float32Array(nH * rows * hd);
      for (let h = 0; h < nH; h++) {
        out.set(prev.subarray((h * old + old - fromOld) * hd, (h * old + old) * hd), h * rows * hd);
        out.set(q.subarray(h * n * hd, (h + 1) * n * hd), (h * rows + fromOld) * hd);
      }
      return out;
    });
    this.qRows = rows;
  }
}

/** Checked generate options with defaults. */
interface GenerateConfig {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  seed: number;
  stopTokens: number[];
  eviction?: GenerateEviction;
}

function checkGenerate(options: GenerateOptions, vocab: number): GenerateConfig {
  const op = 'generate';
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${op}: options { maxNewTokens, ... } are required`);
  checkKeys(op, 'options', options, GENERATE_KEYS);
  const o = options as unknown as Record<string, unknown>;
  const maxNewTokens = o.maxNewTokens;
  if (typeof maxNewTokens !== 'number' || !Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new ArgumentError(`${op}: maxNewTokens must be a positive integer, got ${describe(maxNewTokens)}`);
  }
  const temperature = o.temperature ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new ArgumentError(`${op}: temperature must be a finite number >= 0, got ${describe(temperature)}`);
  }
  const topK = o.topK ?? 0;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) throw new ArgumentError(`${op}: topK must be a non-negative integer (0: all), got ${describe(topK)}`);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new ArgumentError(`${op}: seed must be an integer, got ${describe(seed)}`);
  const stop = o.stopTokens ?? [];
  if (!Array.isArray(stop) || stop.some((t) => typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocab)) {
    throw new ArgumentError(`${op}: stopTokens must be an array of token ids in 0..${vocab - 1}`);
  }
  const eviction = o.eviction === undefined ? undefined : checkEviction(op, o.eviction);
  return { maxNewTokens, temperature, topK, seed, stopTokens: stop as number[], eviction };
}

/** Checks an eviction options object (names, method, one budget, window); the budget's range is checked by evictKV. */
function checkEviction(op: string, eviction: unknown): GenerateEviction {
  const e = eviction as Record<string, unknown>;
  if (e === null || typeof e !== 'object') throw new ArgumentError(`${op}: eviction must be an object { method, compression | keepTokens, ... }`);
  checkKeys(op, 'eviction', e, EVICTION_KEYS);
  if (!KV_METHODS.includes(e.method as KVMethod)) throw new ArgumentError(`${op}: eviction.method must be one of ${KV_METHODS.join(', ')}, got ${describe(e.method)}`);
  if ((e.compression === undefined) === (e.keepTokens === undefined)) throw new ArgumentError(`${op}: eviction needs exactly one of compression and keepTokens`);
  if (e.compression !== undefined && (typeof e.compression !== 'number' || !(e.compression >= 0 && e.compression <= 1))) {
    throw new ArgumentError(`${op}: eviction.compression must be a number in [0, 1] (the fraction removed), got ${describe(e.compression)}`);
  }
  if (e.keepTokens !== undefined && (typeof e.keepTokens !== 'number' || !Number.isInteger(e.keepTokens) || e.keepTokens < 0)) {
    throw new ArgumentError(`${op}: eviction.keepTokens must be a non-negative integer, got ${describe(e.keepTokens)}`);
  }
  if (e.window !== undefined && (typeof e.window !== 'number' || !Number.isInteger(e.window) || e.window < 1)) {
    throw new ArgumentError(`${op}: eviction.window must be a positive integer, got ${describe(e.window)}`);
  }
  if (e.every !== undefined && (typeof e.every !== 'number' || !Number.isInteger(e.every) || e.every < 1)) {
    throw new ArgumentError(`${op}: eviction.every must be a positive integer (generated tokens between evictions), got ${describe(e.every)}`);
  }
  return e as unknown as GenerateEviction;
}

/**
 * The next token from one row of logits, as `generate` picks it: argmax at temperature 0 (ties to the lower id),
 * else a draw with `rand()` (uniform in [0, 1)) from softmax(logits / temperature) over the topK most likely ids
 * (topK 0: all). For code that drives a session itself and wants generate's sampling. ArgumentError for logits
 * with a NaN or no finite maximum (all -Infinity, or +Infinity: generate rejects with it too), a temperature that
 * is negative or not finite, a topK that is not a non-negative integer, and a rand that is not a function.
 */
export function sampleToken(logits: Float32Array, temperature: number, topK: number, rand: () => number): number {
  if (!(logits instanceof Float32Array) || logits.length === 0) throw new ArgumentError(`sampleToken: logits must be a non-empty Float32Array, got ${describe(logits)}`);
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new ArgumentError(`sampleToken: temperature must be a finite number >= 0, got ${describe(temperature)}`);
  }
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) throw new ArgumentError(`sampleToken: topK must be a non-negative integer (0: all), got ${describe(topK)}`);
  if (typeof rand !== 'function') throw new ArgumentError(`sampleToken: rand must be a function returning a number in [0, 1), got ${describe(rand)}`);
  let best = 0, nan = -1;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > logits[best]) best = i;
    else if (logits[i] !== logits[i] && nan < 0) nan = i;
  }
  if (nan >= 0 || !Number.isFinite(logits[best])) {
    throw new ArgumentError(`sampleToken: the logits have no finite maximum (${nan >= 0 ? `NaN at id ${nan}` : `the largest is ${logits[best]}`}): nothing to choose from (a model or input that overflowed?)`);
  }
  if (temperature === 0) return best;
  let ids = Array.from(logits.keys());
  if (topK > 0 && topK < ids.length) ids = ids.sort((a, b) => logits[b] - logits[a] || a - b).slice(0, topK).sort((a, b) => a - b);
  let mx = -Infinity;
  for (const i of ids) mx = Math.max(mx, logits[i]);
  const p = ids.map((i) => Math.exp((logits[i] - mx) / temperature));
  const total = p.reduce((a, b) => a + b, 0);
  let r = rand() * total;
  for (let j = 0; j < ids.length; j++) {
    r -= p[j];
    if (r < 0) return ids[j];
  }
  return ids[ids.length - 1];
}
