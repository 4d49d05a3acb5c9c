// Public types of the KV-eviction API (scoreKV / selectKV / evictKV / evaluateEviction).
import type { Runtime } from '../runtime.js';

/**
 * Scoring methods, selectable by name. Several share a scorer and differ by default allocation:
 * - `'snapkv'`: mean over window queries and the GQA group of avg-pooled window attention.
 * - `'pyramidkv'`: SnapKV scores; default allocation `'pyramid'`.
 * - `'adakv'`: SnapKV scores; default allocation `'head-adaptive'` with alpha 0.2.
 * - `'criticalkv'`: SnapKV scores x cross-head-normalised ||v W_o||_1, plus stage-1 mass protection.
 * - `'defensivekv'`: defensive aggregation (max over window and group, clamped below at the head mean)
 *   of mass-preserving pooled attention, then the CriticalKV stages; default `'head-adaptive'`.
 * - `'layer-defensivekv'`: DefensiveKV scores; default allocation `'global'` (one top-k across layers).
 * - `'h2o'`: attention accumulated over every given prompt query, divided by how many of them see the key; recent window pinned.
 * - `'tova'`: the last query's attention averaged over all query heads.
 * - `'prefixkv'`: attention summed over every given query, averaged over all heads; default allocation `'prefix'`.
 * - `'streamingllm'`: sinks pinned, then the most recent tokens.
 * - `'knorm'`: -||k_j||_2 (keeps low-norm keys).
 */
export type KVMethod = 'snapkv' | 'pyramidkv' | 'adakv' | 'criticalkv' | 'defensivekv' | 'layer-defensivekv' |
  'h2o' | 'tova' | 'prefixkv' | 'streamingllm' | 'knorm';

/** Every method name, in a stable order. */
export const KV_METHODS: readonly KVMethod[] = [
  'snapkv', 'pyramidkv', 'adakv', 'criticalkv', 'defensivekv', 'layer-defensivekv', 'h2o', 'tova', 'prefixkv',
  'streamingllm', 'knorm',
];

/** Option names of each options object, for the unknown-option check (a misspelt option is an ArgumentError). */
export const KV_OPTION_KEYS = {
  budget: ['compression', 'keepTokens'],
  score: ['compression', 'keepTokens', 'q', 'k', 'v', 'wo', 'lse', 'numHeads', 'numKvHeads', 'headDim', 'window', 'kernel', 'sinks'],
  select: ['compression', 'keepTokens', 'allocation', 'alpha', 'beta', 'layerRatios', 'runtime'],
  evict: ['compression', 'keepTokens', 'allocation', 'alpha', 'beta', 'layerRatios', 'selectOnHost'],
  evictLayer: ['q', 'k', 'v', 'wo', 'lse', 'numHeads', 'numKvHeads', 'headDim', 'window', 'kernel', 'sinks', 'cache'],
  evictCache: ['compression', 'keepTokens', 'q', 'wo', 'numHeads', 'window', 'kernel', 'sinks', 'selectOnHost'],
  evaluate: ['methods', 'budgets', 'runtime', 'window', 'kernel'],
  synth: ['layers', 'numHeads', 'numKvHeads', 'headDim', 'n', 'future', 'drift', 'dModel', 'seed'],
} as const;

/** Budget: exactly one of `compression` (fraction removed) or `keepTokens` (tokens kept per KV head, pinned included). */
export interface KVBudget {
  /** Fraction of tokens removed, in [0, 1] (kvpress convention: 0.8 keeps 20 %). Kept per head = floor(N (1 - r)). */
  compression?: number;
  /** Tokens kept per KV head (the average per head for adaptive allocations), an integer in [0, N]. */
  keepTokens?: number;
}

/** Inputs of `scoreKV` for one layer. All f32, row-major, keys post-RoPE as cached. */
export interface ScoreKVOptions extends KVBudget {
  /** Queries [numHeads, numQueries, headDim]: the last numQueries prompt positions (window methods use the last `window`). */
  q?: Float32Array;
  /** Keys [numKvHeads, N, headDim]. N is taken from this length. */
  k: Float32Array;
  /** Values [numKvHeads, N, headDim]; required by criticalkv / defensivekv / layer-defensivekv. */
  v?: Float32Array;
  /** Output projection, [numHeads * headDim, D] (o_proj weight transposed: rows h*d..h*d+d-1 belong to head h). Optional. */
  wo?: Float32Array;
  /** Optional precomputed log-sum-exp of each given query row over its visible keys, [numHeads, numQueries]. */
  lse?: Float32Array;
  /** Query heads. */
  numHeads: number;
  /** KV heads (numHeads must be a multiple). */
  numKvHeads: number;
  /** Head dimension. */
  headDim: number;
  /** Observation window w (window methods) or recent window (h2o); default 32; must be < N. */
  window?: number;
  /** Avg-pool kernel (odd, 1..31), default 5. */
  kernel?: number;
  /** Leading tokens always kept. Default 4 for streamingllm, 1 for prefixkv, else 0. */
  sinks?: number;
}

/** Scores of one layer: higher = keep. Pinned tokens are flagged, not encoded as scores. */
export interface KVScores {
  /** The method that produced them. */
  method: KVMethod;
  /** KV heads. */
  numKvHeads: number;
  /** Tokens N. */
  n: number;
  /** How many trailing tokens are pinned (the window), for reference. */
  window: number;
  /** [numKvHeads, N] scores (f32). Window tokens of window methods score 0. */
  scores: Float32Array;
  /** [numKvHeads, N] 1 where a token must be kept (window, sinks, CriticalKV-protected). */
  pinned: Uint8Array;
}

/** How the budget is spread over heads and layers. */
export type KVAllocation = 'per-head' | 'head-adaptive' | 'pyramid' | 'prefix' | 'global';

/** Options of `selectKV`. */
export interface SelectKVOptions extends KVBudget {
  /** Default `'per-head'`. `'pyramid'`, `'prefix'` and `'global'` need every layer's scores (an array). */
  allocation?: KVAllocation;
  /** AdaKV safeguard for `'head-adaptive'`: each head first keeps its top floor(alpha * kept) (default 0). */
  alpha?: number;
  /** PyramidKV ratio between the first and last layers' budgets (default 20). */
  beta?: number;
  /** PrefixKV offline profile: fraction removed per layer (from `profilePrefixKV`); otherwise computed from these scores. */
  layerRatios?: readonly number[];
  /** Run the radix select on this runtime (wasm or WebGPU); without it the selection runs in JS (same result). */
  runtime?: Runtime;
}

/** Kept tokens of one layer. */
export interface KVSelection {
  /** Per KV head, sorted ascending token indices to keep (the input of `cache.compact(keep)`). */
  keep: Int32Array[];
  /** KV heads. */
  numKvHeads: number;
  /** Tokens N before eviction. */
  n: number;
  /** Tokens kept per head. */
  counts: number[];
  /** Tokens kept over all heads. */
  total: number;
}
