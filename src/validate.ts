// Small validation helpers shared by the ops. Messages say what was wrong and what was expected.
import { ArgumentError, DTypeError, ShapeError } from './errors.js';

/** Throws unless `v` is an integer >= min (default 1). */
export function checkInt(op: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    const want = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
    throw new ArgumentError(`${op}: ${name} must be ${want}, got ${describe(v)}`);
  }
  return v;
}

/** Throws unless `v` is undefined or a boolean. */
export function checkBool(op: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ArgumentError(`${op}: ${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** Throws unless `x` is a Float32Array. */
export function checkF32(op: string, name: string, x: unknown): Float32Array {
  if (!(x instanceof Float32Array)) {
    throw new DTypeError(`${op}: ${name} must be a Float32Array (f32), got ${describe(x)}`);
  }
  return x;
}

/** Throws a ShapeError unless `actual === expected`. */
export function checkLength(op: string, name: string, actual: number, expected: number, shape: string): void {
  if (actual !== expected) {
    throw new ShapeError(`${op}: ${name} has ${actual} elements, expected ${expected} (${shape})`);
  }
}

/**
 * Runs `fn`, turning a synchronous throw into a rejected Promise: Promise-returning entry points
 * report validation errors by rejecting, never by throwing.
 */
export function promised<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** A short human description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `an Array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return typeof v;
}

/**
 * Throws an ArgumentError naming the first own key of the options object `o` that is not in
 * `known` (a misspelt option is never ignored). `what` says which object, e.g. 'options'.
 */
export function checkKeys(op: string, what: string, o: object, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
    throw new ArgumentError(
      `${op}: unknown option ${JSON.stringify(key)} in ${what}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}${known.length ? `; known: ${known.join(', ')}` : ''}`,
    );
  }
}

/** Levenshtein distance of two short strings. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
