// Reads a Hugging Face `config.json` of the Llama family (Llama, Mistral, SmolLM, Qwen2) into the
// sizes the transformer code needs, checking each field and naming any it cannot use.
import { ModelConfigError } from './errors.js';

/** Architectures `loadTransformer` runs (from `architectures[0]`, or `model_type`). */
export const TRANSFORMER_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;

/** One of TRANSFORMER_ARCHITECTURES. */
export type TransformerArchitecture = (typeof TRANSFORMER_ARCHITECTURES)[number];

/** A checked config: the sizes and constants of a Llama-family decoder. */
export interface TransformerConfig {
  /** `architectures[0]` (or the one `model_type` names). */
  architecture: TransformerArchitecture;
  /** Model width (`hidden_size`). */
  hiddenSize: number;
  /** MLP width (`intermediate_size`). */
  intermediateSize: number;
  /** Decoder layers (`num_hidden_layers`). */
  numLayers: number;
  /** Query heads (`num_attention_heads`). */
  numHeads: number;
  /** Key/value heads (`num_key_value_heads`, default numHeads); numHeads is a multiple. */
  numKvHeads: number;
  /** Per-head size (`head_dim`, default hiddenSize / numHeads). */
  headDim: number;
  /** RMSNorm epsilon (`rms_norm_eps`, default 1e-6). */
  rmsNormEps: number;
  /** RoPE base (`rope_theta`, default 10000). */
  ropeTheta: number;
  /** Leading dims of each head that rotate: headDim x `partial_rotary_factor` (default 1), even. */
  rotaryDim: number;
  /** Vocabulary (`vocab_size`). */
  vocabSize: number;
  /** The output projection is the embedding (`tie_word_embeddings`, default false). */
  tieWordEmbeddings: boolean;
  /** `max_position_embeddings` (informational: RoPE works past it). */
  maxPositionEmbeddings: number;
  /** q/k/v projections have biases (Qwen2 always; Llama with `attention_bias`). */
  qkvBias: boolean;
  /** o_proj has a bias (Llama with `attention_bias`). */
  oBias: boolean;
  /** Sliding attention window (Mistral's `sliding_window`), or 0 for full attention. */
  slidingWindow: number;
}

const BY_MODEL_TYPE: Record<string, TransformerArchitecture> = {
  llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM',
};

function intField(c: Record<string, unknown>, name: string, dflt?: number): number {
  const v = c[name] ?? dflt;
  if (v === undefined) throw new ModelConfigError(name, `${name} is missing`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ModelConfigError(name, `${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function numField(c: Record<string, unknown>, name: string, dflt: number, allowZero: boolean): number {
  const v = c[name] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new ModelConfigError(name, `${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Parses a Hugging Face `config.json` (a parsed object, its text, or its bytes) of a Llama-family
 * causal LM. Throws ModelConfigError naming the field for: bytes that are not JSON, an architecture
 * other than LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM (named in the message), a
 * missing or invalid size, numHeads not a multiple of numKvHeads, an odd rotary size, an activation
 * other than SiLU, and options not supported yet (`rope_scaling`, Qwen2's `use_sliding_window`).
 */
export function parseTransformerConfig(config: object | string | Uint8Array | ArrayBuffer): TransformerConfig {
  let c: unknown = config;
  if (config instanceof Uint8Array || config instanceof ArrayBuffer || typeof config === 'string') {
    const text = typeof config === 'string' ? config : new TextDecoder().decode(config);
    try {
      c = JSON.parse(text);
    } catch (e) {
      throw new ModelConfigError('(file)', `not valid JSON (${(e as Error).message})`);
    }
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ModelConfigError('(file)', 'expected a JSON object');
  const o = c as Record<string, unknown>;
  let arch: string | undefined;
  if (o.architectures !== undefined) {
    if (!Array.isArray(o.architectures) || typeof o.architectures[0] !== 'string') {
      throw new ModelConfigError('architectures', `architectures must be an array of names, got ${JSON.stringify(o.architectures)}`);
    }
    arch = o.architectures[0];
  } else if (typeof o.model_type === 'string') {
    arch = BY_MODEL_TYPE[o.model_type] ?? `model_type ${o.model_type}`;
  }
  if (arch === undefined) throw new ModelConfigError('architectures', 'neither architectures nor model_type says which model this is');
  if (!(TRANSFORMER_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelConfigError('architectures', `architecture ${JSON.stringify(arch)} is not supported (supported: ${TRANSFORMER_ARCHITECTURES.join(', ')})`);
  }
  const architecture = arch as TransformerArchitecture;
  const act = o.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new ModelConfigError('hidden_act', `hidden_act ${JSON.stringify(act)} is not supported (SiLU only)`);
  if (o.rope_scaling !== undefined && o.rope_scaling !== null) {
    throw new ModelConfigError('rope_scaling', `rope_scaling ${JSON.stringify(o.rope_scaling)} is not supported yet (plain RoPE only)`);
  }
  if (architecture === 'Qwen2ForCausalLM' && o.use_sliding_window === true) {
    throw new ModelConfigError('use_sliding_window', 'Qwen2 use_sliding_window is not supported yet');
  }
  if (o.mlp_bias === true) throw new ModelConfigError('mlp_bias', 'mlp_bias is not supported yet');
  const hiddenSize = intField(o, 'hidden_size');
  const numHeads = intField(o, 'num_attention_heads');
  const numKvHeads = intField(o, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError('num_key_value_heads', `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  if (o.head_dim === undefined || o.head_dim === null) {
    if (hiddenSize % numHeads !== 0) throw new ModelConfigError('head_dim', `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads} and head_dim is not given`);
  }
  const headDim = o.head_dim === undefined || o.head_dim === null ? hiddenSize / numHeads : intField(o, 'head_dim');
  if (headDim > 256) throw new ModelConfigError('head_dim', `head_dim ${headDim} is over 256, the most rt.attention takes`);
  const factor = numField(o, 'partial_rotary_factor', 1, false);
  if (factor > 1) throw new ModelConfigError('partial_rotary_factor', `partial_rotary_factor must be in (0, 1], got ${factor}`);
  const rotaryDim = Math.floor(headDim * factor);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) {
    throw new ModelConfigError('partial_rotary_factor', `head_dim ${headDim} x partial_rotary_factor ${factor} = ${rotaryDim} rotary dims, expected an even number >= 2`);
  }
  const tie = o.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw new ModelConfigError('tie_word_embeddings', `tie_word_embeddings must be a boolean, got ${JSON.stringify(tie)}`);
  const attnBias = o.attention_bias ?? false;
  if (typeof attnBias !== 'boolean') throw new ModelConfigError('attention_bias', `attention_bias must be a boolean, got ${JSON.stringify(attnBias)}`);
  let slidingWindow = 0;
  if (architecture === 'MistralForCausalLM' && o.sliding_window !== undefined && o.sliding_window !== null) {
    slidingWindow = intField(o, 'sliding_window');
  }
  return {
    architecture,
    hiddenSize,
    intermediateSize: intField(o, 'intermediate_size'),
    numLayers: intField(o, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: numField(o, 'rms_norm_eps', 1e-6, true),
    ropeTheta: numField(o, 'rope_theta', 10000, false),
    rotaryDim,
    vocabSize: intField(o, 'vocab_size'),
    tieWordEmbeddings: tie,
    maxPositionEmbeddings: intField(o, 'max_position_embeddings', 2048),
    qkvBias: architecture === 'Qwen2ForCausalLM' || attnBias,
    oBias: architecture !== 'Qwen2ForCausalLM' && attnBias,
    slidingWindow,
  };
}
