// Typed errors of the transformer loader: a malformed safetensors file, an unsupported or inconsistent
// config.json, weights that do not fit the config. Each names what is wrong (and the tensor or field).
import { ValidationError } from '../errors.js';

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
