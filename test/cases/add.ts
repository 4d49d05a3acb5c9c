// add conformance: a + b with b of a's length (residual) or a divisor of it (a bias repeated over rows),
// both backends bit-exact to the f32 sum; tensors chain on the device; typed errors.
import { check, expectError, type Case, type CaseContext } from './util.js';

/** f32 reference: a[i] + b[i % b.length], rounded to f32 exactly as the kernels do. */
export function addRef(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i % b.length]);
}

function same(got: Float32Array, ref: Float32Array, what: string): void {
  check(got.length === ref.length, `${what}: got ${got.length} values, expected ${ref.length}`);
  for (let i = 0; i < ref.length; i++) {
    check(Object.is(got[i], ref[i]) || got[i] === ref[i], `${what}: element ${i}: got ${got[i]}, expected ${ref[i]}`);
  }
}

function addCase(rows: number, cols: number, bias: boolean): Case {
  return {
    op: 'add',
    name: `${rows}x${cols} ${bias ? `+ bias [${cols}]` : '+ same shape'}`,
    async run({ rt, rng }: CaseContext) {
      const a = rng.f32(rows * cols), b = rng.f32(bias ? cols : rows * cols);
      same(await rt.add(a, b), addRef(a, b), 'typed arrays');
      const ta = rt.tensor(a, [rows, cols]), tb = rt.tensor(b);
      const t = rt.add(ta, tb);
      check(t.shape.join() === `${rows},${cols}`, `a Tensor result keeps a's shape, got [${t.shape}]`);
      same(await t.read(), addRef(a, b), 'tensors');
      for (const x of [ta, tb, t]) x.dispose();
    },
  };
}

/** The add cases. */
export const addCases: Case[] = [
  addCase(1, 1, false),
  addCase(3, 5, true),
  addCase(7, 64, true),
  addCase(33, 97, false),
  addCase(300, 257, true),
  addCase(1, 70000, false),
  {
    op: 'add',
    name: 'empty a and b',
    async run({ rt }) {
      check((await rt.add(new Float32Array(0), new Float32Array(0))).length === 0, 'empty sum');
    },
  },
  {
    op: 'add',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const a = new Float32Array(12);
      await expectError(() => rt.add(a, new Float32Array(5)), pc.ShapeError, 'b length not a divisor');
      await expectError(() => rt.add(a, new Float32Array(24)), pc.ShapeError, 'b longer than a');
      await expectError(() => rt.add(a, new Float32Array(0)), pc.ShapeError, 'empty b');
      await expectError(() => rt.add(a, new Float64Array(12) as unknown as Float32Array), pc.DTypeError, 'Float64Array b');
      await expectError(() => rt.add(a, a, { axis: 0 } as never), pc.ArgumentError, 'unknown option');
      const t = rt.tensor(a);
      let sync: unknown;
      try {
        rt.add(t, new Float32Array(5));
      } catch (e) {
        sync = e;
      }
      check(sync instanceof pc.ShapeError, 'a Tensor input throws synchronously');
      t.dispose();
      await expectError(() => rt.add(t, a), pc.DisposedError, 'disposed tensor');
    },
  },
];
