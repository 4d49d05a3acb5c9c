// siluMul conformance: silu(gate) * up against an f64 reference (large, tiny and extreme gates), both
// backends; tensors chain on the device; typed errors.
import { check, expectError, type Case, type CaseContext } from './util.js';

/** Element-wise bound relative to |silu(g) * u| + 1e-30 (f32 exp and two roundings). */
const TOL = 2e-6;

/** f64 reference of silu(g) * u. */
export function siluMulRef(g: Float32Array, u: Float32Array): Float64Array {
  return Float64Array.from(g, (x, i) => (x / (1 + Math.exp(-x))) * u[i]);
}

function checkSilu(got: Float32Array, ref: Float64Array, what: string): void {
  check(got.length === ref.length, `${what}: got ${got.length} values, expected ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i] - ref[i]) / (Math.abs(ref[i]) + 1e-30);
    check(e <= TOL || Math.abs(got[i] - ref[i]) < 1e-37, `${what}: element ${i}: got ${got[i]}, expected ${ref[i]} (relative ${e})`);
  }
}

function siluCase(n: number, scale: number): Case {
  return {
    op: 'siluMul',
    name: `n ${n}, gates x${scale}`,
    async run({ rt, rng }: CaseContext) {
      const g = rng.f32(n).map((v) => v * scale), u = rng.f32(n);
      checkSilu(await rt.siluMul(g, u), siluMulRef(g, u), 'typed arrays');
      const tg = rt.tensor(g, [1, n]), tu = rt.tensor(u, [1, n]);
      const t = rt.siluMul(tg, tu);
      check(t.shape.join() === `1,${n}`, `a Tensor result keeps gate's shape, got [${t.shape}]`);
      checkSilu(await t.read(), siluMulRef(g, u), 'tensors');
      for (const x of [tg, tu, t]) x.dispose();
    },
  };
}

/** The siluMul cases. */
export const siluMulCases: Case[] = [
  siluCase(1, 1),
  siluCase(13, 4),
  siluCase(1000, 20),
  siluCase(65537, 8),
  {
    op: 'siluMul',
    name: 'extreme gates: -100, -88, 0, 88, 100, -0',
    async run({ rt }) {
      const g = new Float32Array([-100, -88, 0, 88, 100, -0]), u = new Float32Array([2, 2, 2, 2, 2, 2]);
      const got = await rt.siluMul(g, u);
      check(got.every(Number.isFinite), `every value finite, got ${Array.from(got)}`);
      checkSilu(got, siluMulRef(g, u), 'extremes');
    },
  },
  {
    op: 'siluMul',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const g = new Float32Array(8);
      await expectError(() => rt.siluMul(g, new Float32Array(7)), pc.ShapeError, 'up of another length');
      await expectError(() => rt.siluMul(g, [1, 2] as unknown as Float32Array), pc.DTypeError, 'plain-array up');
      await expectError(() => rt.siluMul(g, g, { beta: 1 } as never), pc.ArgumentError, 'unknown option');
    },
  },
];
