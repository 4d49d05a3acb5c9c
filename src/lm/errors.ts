// Typed errors of the transformer loader: a malformed safetensors file, an unsupported or inconsistent
// config.json, weights that do not fit the config. Each names what is wrong (and the tensor or field).
import { PcpressError, ValidationError } from '../errors.js';

/** `model.safetensors` bytes are malformed (header, dtype, offsets, sizes); `tensor` names the entry when one is at fault. */
export class SafetensorsError extends ValidationError {
  /** The tensor entry at fault, when the problem is one entry. */
  readonly tensor?: string;
  constructor(message: string, tensor?: string) {
    super('safetensors', `malformed safetensors: ${message}`);
    this.tensor = tensor;
  }
}

/** A `config.json` describes a model pcpress cannot run (unknown architecture, unsupported option) or has a bad field. */
export class ModelConfigError extends ValidationError {
  /** The config field at fault (e.g. `'architectures'`, `'num_key_value_heads'`). */
  readonly field: string;
  constructor(field: string, message: string) {
    super('model-config', `config.json: ${message}`);
    this.field = field;
  }
}

/** The weights do not fit the config: a tensor is missing, has the wrong shape, or a name is not used. */
export class ModelWeightsError extends ValidationError {
  /** The tensor at fault, by its Hugging Face name. */
  readonly tensor: string;
  constructor(tensor: string, message: string) {
    super('model-weights', `weights: ${message}`);
    this.tensor = tensor;
  }
}

/** A model file (config.json, model.safetensors, tokenizer.json) could not be read: `file` names it, `location` says where it was looked for. */
export class ModelFileError extends ValidationError {
  /** The file's name, e.g. `'model.safetensors'`. */
  readonly file: string;
  /** The path or URL it was read from. */
  readonly location: string;
  constructor(file: string, location: string, message: string) {
    super('model-file', `${file}: ${message}`);
    this.file = file;
    this.location = location;
  }
}

/** `tokenizer.json` describes a tokenizer pcpress cannot run, or is malformed, or decode got an unknown id; `feature` names the part at fault. */
export class TokenizerError extends ValidationError {
  /** The part of tokenizer.json at fault, e.g. `'model.type'`, `'pre_tokenizer'`, `'decoder'` (or `'encode'` / `'decode'` for bad input). */
  readonly feature: string;
  constructor(feature: string, message: string) {
    super('tokenizer', `tokenizer.json: ${message}`);
    this.feature = feature;
  }
}

/**
 * An LMSession cannot run the call in its state: `state` `'busy'` (another append, evict or fork of the same session
 * has not finished: await it first; sessions are not re-entrant) or `'broken'` (a pass or eviction failed midway and
 * left the layers' caches inconsistent: dispose the session and prefill again).
 */
export class SessionStateError extends PcpressError {
  /** Why: `'busy'` or `'broken'`. */
  readonly state: 'busy' | 'broken';
  constructor(state: 'busy' | 'broken', message: string, options?: { cause?: unknown }) {
    super(state === 'busy' ? 'session-busy' : 'session-broken', message, options);
    this.state = state;
  }
}
