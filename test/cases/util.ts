// Helpers shared by the conformance cases: random inputs, f64 references, error measures, assertions.
// Cases run unchanged in Node, Deno and browsers, so nothing here may use runtime-specific APIs.
import type * as PC from '../../src/index.js';
import { seededRandom } from '../../src/random.js';

/** The package under test (passed in, so the cases test the built package the caller imported). */
export type Pkg = typeof PC;

/** What a case gets: the package, a runtime on one backend, and a seeded random source. */
export interface CaseContext {
  pc: Pkg;
  rt: PC.Runtime;
  rng: Rng;
}

/** One conformance case. `run` throws on failure. */
export interface Case {
  op: string;
  name: string;
  run(ctx: CaseContext): Promise<void>;
}

/** A failed check. */
export class CheckFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailed';
  }
}

/**
 * Thrown by a case that cannot run in this runtime (e.g. the wasm thread pool on a page without shared
 * memory): the runners report it as skipped, with the reason, never as passed.
 */
export class CaseSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CaseSkipped';
  }
}

/** Ends the case as skipped (CaseSkipped) with `reason`. */
export function skipCase(reason: string): never {
  throw new CaseSkipped(reason);
}

/** Throws CheckFailed with `message` unless `cond`. */
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CheckFailed(message);
}

/** Small fast PRNG (mulberry32); the seed is reported on failure so a case can be replayed. */
export class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = seededRandom(seed);
  }
  /** Uniform f32 values in [-1, 1). */
  f32(n: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.next() * 2 - 1;
    return a;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

/** ||x - ref|| / ||ref|| (Frobenius), NaN-propagating; 0 when both are zero. */
export function relErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = x[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/** Throws unless relErr(x, ref) <= tol (a NaN error fails). */
export function checkClose(x: ArrayLike<number>, ref: ArrayLike<number>, tol: number, what: string): void {
  check(x.length === ref.length, `${what}: got ${x.length} values, expected ${ref.length}`);
  const e = relErr(x, ref);
  check(e <= tol, `${what}: relative error ${e} > ${tol}`);
}

/** Runs `fn` and checks it throws an instance of `cls` (sync throw or rejection). */
export async function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<Error> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  check(err !== undefined, `${what}: expected ${cls.name}, nothing was thrown`);
  check(err instanceof cls, `${what}: expected ${cls.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
  check(typeof (err as Error).message === 'string' && (err as Error).message.length > 10, `${what}: message too short`);
  return err as Error;
}
