// Transformer language models on a pcpress Runtime: safetensors and config.json loading, forward, generate.
export { loadTransformer, Transformer, Generation, LMSession, sampleToken } from './model.js';
export type { LoadTransformerOptions, GenerateOptions, GenerateEviction, SessionOptions, AppendOptions } from './model.js';
export { BUNDLED_MODELS, bundledModelUrl } from './files.js';
export type { BundledModel } from './files.js';
export { parseSafetensors, Safetensors, SAFETENSORS_MAX_HEADER } from './safetensors.js';
export type { SafetensorsDType, SafetensorsEntry } from './safetensors.js';
export { parseTransformerConfig, TRANSFORMER_ARCHITECTURES } from './config.js';
export type { TransformerConfig, TransformerArchitecture } from './config.js';
export { SafetensorsError, ModelConfigError, ModelWeightsError, ModelFileError, TokenizerError, SessionStateError } from './errors.js';
export { loadTokenizer } from './tokenizer.js';
export type { Tokenizer } from './tokenizer.js';
export { evaluateLMEviction, formatLMEval, retrievalPrompts, heldoutVerses } from './eval.js';
export type { LMEvalOptions, LMEvalProgress, LMEvalRow, LMEvalComparison, LMEvalResult, RetrievalPrompt } from './eval.js';
