// transpose conformance: every permutation of ranks 1..4 (odd sizes, the head <-> token swap of a
// transformer), default perm (reversed), exact copies on both backends, device chaining, typed errors.
import { check, expectError, type Case, type CaseContext } from './util.js';

/** Reference: numpy's x.reshape(shape).transpose(perm).ravel(). */
export function transposeRef(x: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length, out = new Float32Array(x.length);
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((p) => shape[p]);
  const idx = new Array<number>(rank).fill(0);
  for (let e = 0; e < x.length; e++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += idx[i] * stride[perm[i]];
    out[e] = x[src];
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

function perms(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of perms(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

function transposeCase(shape: number[], only?: number[][]): Case {
  return {
    op: 'transpose',
    name: `shape [${shape.join(', ')}], ${only ? `perm ${only.map((p) => `[${p}]`).join(' ')}` : 'every perm'}`,
    async run({ rt, rng }: CaseContext) {
      const x = rng.f32(shape.reduce((a, b) => a * b, 1));
      const tx = rt.tensor(x, shape);
      try {
        for (const perm of only ?? perms(shape.length)) {
          const ref = transposeRef(x, shape, perm);
          const got = await rt.transpose(x, { shape, perm });
          check(got.every((v, i) => v === ref[i]), `perm [${perm}]: values differ from numpy's transpose`);
          const t = rt.transpose(tx, { shape, perm });
          check(t.shape.join() === perm.map((p) => shape[p]).join(), `perm [${perm}]: tensor shape [${t.shape}]`);
          check((await t.read()).every((v, i) => v === ref[i]), `perm [${perm}]: tensor values differ`);
          t.dispose();
        }
      } finally {
        tx.dispose();
      }
    },
  };
}

/** The transpose cases. */
export const transposeCases: Case[] = [
  transposeCase([5]),
  transposeCase([3, 7]),
  transposeCase([4, 5, 6]),
  transposeCase([2, 3, 4, 5]),
  transposeCase([1, 7, 1, 3]),
  transposeCase([37, 4, 16], [[1, 0, 2]]),
  transposeCase([4, 37, 16], [[1, 0, 2]]),
  transposeCase([300, 301], [[1, 0]]),
  {
    op: 'transpose',
    name: 'default perm reverses the dims; empty tensors',
    async run({ rt, rng }) {
      const x = rng.f32(24);
      const got = await rt.transpose(x, { shape: [2, 3, 4] });
      const ref = transposeRef(x, [2, 3, 4], [2, 1, 0]);
      check(got.every((v, i) => v === ref[i]), 'default perm is [2, 1, 0]');
      check((await rt.transpose(new Float32Array(0), { shape: [0, 3], perm: [1, 0] })).length === 0, 'empty');
    },
  },
  {
    op: 'transpose',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const x = new Float32Array(24);
      await expectError(() => rt.transpose(x, { shape: [2, 3, 5], perm: [1, 0, 2] }), pc.ShapeError, 'shape does not match x');
      await expectError(() => rt.transpose(x, { shape: [2, 3, 4], perm: [1, 1, 2] }), pc.ArgumentError, 'repeated axis');
      await expectError(() => rt.transpose(x, { shape: [2, 3, 4], perm: [1, 0] }), pc.ArgumentError, 'perm too short');
      await expectError(() => rt.transpose(x, { shape: [1, 2, 3, 4, 1], perm: [0, 1, 2, 3, 4] }), pc.ArgumentError, 'rank 5');
      await expectError(() => rt.transpose(x, { shape: [2, 3, 4.5] }), pc.ArgumentError, 'non-integer dim');
      await expectError(() => rt.transpose(x, { shape: [24], axes: [0] } as never), pc.ArgumentError, 'unknown option');
      await expectError(() => rt.transpose(x, undefined as never), pc.ArgumentError, 'missing options');
    },
  },
];
