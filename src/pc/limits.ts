// Limits on work done for untrusted input: sizes read from a stream or model header are checked against
// these before any allocation or loop. Callers can lower or raise them within hard ceilings; a value
// outside its range is an ArgumentError, never ignored.
import { ArgumentError, LimitError } from '../errors.js';

/** Limits a decoder applies to the sizes a stream declares (checked before anything is allocated). */
export interface DecodeLimits {
  /** Most pixels (width x height, summed over all images) a stream may declare. Default 2^26 (8192 x 8192). */
  maxPixels?: number;
  /** Most images a multi-image stream may declare. Default 2^20. */
  maxImages?: number;
  /** Most bytes of samples (width x height x channels, summed) a stream may declare. Default 2^28. */
  maxBytes?: number;
}

/** Limits applied when loading a model file. */
export interface ModelLimits {
  /** Most parameters (over all sub-models) a model file may declare. Default 2^25; at most 2^27. */
  maxModelParameters?: number;
}

/** Default decode limits. */
export const DEFAULT_LIMITS: Readonly<Required<DecodeLimits>> = Object.freeze({ maxPixels: 2 ** 26, maxImages: 2 ** 20, maxBytes: 2 ** 28 });
/** Hard ceilings: a typed array of more than 2^31 bytes is not portable across runtimes. */
export const LIMIT_CEILINGS: Readonly<Required<DecodeLimits>> = Object.freeze({ maxPixels: 2 ** 31, maxImages: 2 ** 31, maxBytes: 2 ** 31 });
/** Parameters of an HCLT with M latent states over D variables: pi (M), transitions (D M M), emissions (D M 256). */
export function hcltParameters(M: number, D: number): number {
  return M + D * M * M + D * M * 256;
}

/** Default and ceiling of maxModelParameters (2^27 f32 parameters is 512 MiB, all one wasm instance holds). */
export const DEFAULT_MODEL_PARAMETERS = 2 ** 25;
export const MAX_MODEL_PARAMETERS_CEILING = 2 ** 27;

function checkLimit(name: string, v: unknown, ceiling: number, what: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > ceiling) {
    throw new ArgumentError(`${what}: ${name} must be an integer in 1..${ceiling}, got ${String(v)}`);
  }
}

/** Validates decode options and fills in the defaults. Unknown keys are refused (never ignored). */
export function decodeLimits(options: unknown, what: string, allowed: readonly string[] = []): Required<DecodeLimits> {
  if (options === undefined) return { ...DEFAULT_LIMITS };
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] === undefined) continue;
    if (!(k in DEFAULT_LIMITS) && !allowed.includes(k)) throw new ArgumentError(`${what}: unknown option "${k}"`);
  }
  const out = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof DecodeLimits)[]) {
    if (o[k] === undefined) continue;
    checkLimit(k, o[k], LIMIT_CEILINGS[k], what);
    out[k] = o[k] as number;
  }
  return out;
}

/** Validates model-loading options; returns maxModelParameters. */
export function modelLimit(options: unknown, what: string): number {
  if (options === undefined) return DEFAULT_MODEL_PARAMETERS;
  if (options === null || typeof options !== 'object') throw new ArgumentError(`${what}: options must be an object`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (o[k] !== undefined && k !== 'maxModelParameters') throw new ArgumentError(`${what}: unknown option "${k}"`);
  if (o.maxModelParameters === undefined) return DEFAULT_MODEL_PARAMETERS;
  checkLimit('maxModelParameters', o.maxModelParameters, MAX_MODEL_PARAMETERS_CEILING, what);
  return o.maxModelParameters as number;
}

/** Allocates a zeroed output buffer; an allocation the runtime refuses is a LimitError, not a RangeError. */
export function allocPixels(n: number, what: string): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch (e) {
    throw new LimitError(`${what}: cannot allocate ${n} bytes for the decoded pixels (${(e as Error).message})`);
  }
}
