// rope conformance: halves and interleaved pairs, partial rotaryDim, offset, per-token positions,
// theta, explicit cos/sin caches, batch > 1, headDim 2..256 and odd head/seq counts, all against an
// f64 reference on fresh random inputs; tensors chain on the device; one case per validation rule.
import { check, checkClose, expectError, type Case, type CaseContext } from './util.js';

/** Element-wise bound: |got - ref| <= TOL * (|x1| + |x2|) of the pair (f32 inputs, f32 cos/sin). */
const TOL = 1e-6;

/** Reference options: angle tables from theta (f64) or explicit caches, positions or offset. */
interface RefRope {
  batch: number; numHeads: number; seq: number; headDim: number;
  rotaryDim?: number; interleaved?: boolean; offset?: number; positions?: ArrayLike<number>;
  theta?: number; cos?: Float32Array; sin?: Float32Array;
}

/** f64 reference of rope on x [batch][numHeads][seq][headDim]. */
export function ropeRef(x: Float32Array, r: RefRope): Float64Array {
  const out = Float64Array.from(x);
  const R = r.rotaryDim ?? r.headDim, half = R / 2, theta = r.theta ?? 10000;
  for (let b = 0; b < r.batch; b++) {
    for (let h = 0; h < r.numHeads; h++) {
      for (let s = 0; s < r.seq; s++) {
        const pos = r.positions ? r.positions[b * r.seq + s] : (r.offset ?? 0) + s;
        const base = ((b * r.numHeads + h) * r.seq + s) * r.headDim;
        for (let i = 0; i < half; i++) {
          let c: number, sn: number;
          if (r.cos && r.sin) {
            c = r.cos[pos * half + i];
            sn = r.sin[pos * half + i];
          } else {
            const a = pos * Math.pow(theta, -(2 * i) / R);
            c = Math.cos(a);
            sn = Math.sin(a);
          }
          const i1 = r.interleaved ? 2 * i : i, i2 = r.interleaved ? 2 * i + 1 : i + half;
          out[base + i1] = x[base + i1] * c - x[base + i2] * sn;
          out[base + i2] = x[base + i2] * c + x[base + i1] * sn;
        }
      }
    }
  }
  return out;
}

/** Checks every element against the reference (a pair's error scales with its inputs' size). */
function checkRope(got: Float32Array, ref: Float64Array, x: Float32Array, what: string): void {
  check(got.length === ref.length, `${what}: got ${got.length} values, expected ${ref.length}`);
  let worst = 0, at = -1;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i] - ref[i]) / (Math.abs(x[i]) + Math.abs(ref[i]) + 1e-30);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  check(worst <= TOL, `${what}: element ${at}: got ${got[at]}, expected ${ref[at]} (relative ${worst} > ${TOL})`);
}

type Opts = Omit<RefRope, 'positions'> & { positions?: 'random' | 'array'; maxPos?: number; cache?: boolean };

function ropeCase(o: Opts): Case {
  const { batch, numHeads, seq, headDim } = o;
  const tag = [`b${batch} h${numHeads} s${seq} d${headDim}`, o.rotaryDim !== undefined && `rotaryDim ${o.rotaryDim}`,
    o.interleaved && 'interleaved', o.offset !== undefined && `offset ${o.offset}`, o.positions && `positions (${o.positions === 'array' ? 'array' : 'Int32Array'})`,
    o.theta !== undefined && `theta ${o.theta}`, o.cache && 'cos/sin cache'].filter(Boolean).join(' ');
  return {
    op: 'rope',
    name: tag,
    async run({ rt, rng }: CaseContext) {
      const x = rng.f32(batch * numHeads * seq * headDim);
      const half = (o.rotaryDim ?? headDim) / 2;
      const maxPos = o.maxPos ?? 64;
      let positions: Int32Array | number[] | undefined;
      if (o.positions) {
        const p = Int32Array.from({ length: batch * seq }, () => rng.int(0, maxPos - 1));
        positions = o.positions === 'array' ? Array.from(p) : p;
      }
      const cos = o.cache ? new Float32Array(maxPos * half) : undefined, sin = o.cache ? new Float32Array(maxPos * half) : undefined;
      if (cos && sin) {
        // Any table works: random angles, not a theta schedule, so the cache is really read.
        for (let i = 0; i < cos.length; i++) {
          const a = rng.next() * 2 * Math.PI;
          cos[i] = Math.cos(a);
          sin[i] = Math.sin(a);
        }
      }
      const opts: Record<string, unknown> = { numHeads, headDim, seq };
      if (batch !== 1) opts.batch = batch;
      for (const k of ['rotaryDim', 'interleaved', 'offset', 'theta'] as const) if (o[k] !== undefined) opts[k] = o[k];
      if (positions) opts.positions = positions;
      if (cos) Object.assign(opts, { cos, sin });
      const y = await rt.rope(x, opts as never);
      check(y instanceof Float32Array, 'result is not a Float32Array');
      checkRope(y, ropeRef(x, { ...o, positions, cos, sin }), x, tag);
    },
  };
}

/** The rope cases: shapes and options against ropeRef, device chaining, validation. */
export const ropeCases: Case[] = [
  ropeCase({ batch: 1, numHeads: 1, seq: 1, headDim: 2 }),
  ropeCase({ batch: 1, numHeads: 3, seq: 7, headDim: 2, interleaved: true, offset: 5 }),
  ropeCase({ batch: 1, numHeads: 3, seq: 5, headDim: 6 }),
  ropeCase({ batch: 2, numHeads: 3, seq: 5, headDim: 6, interleaved: true }),
  ropeCase({ batch: 1, numHeads: 5, seq: 9, headDim: 6, rotaryDim: 2 }),
  ropeCase({ batch: 1, numHeads: 4, seq: 33, headDim: 64 }),
  ropeCase({ batch: 1, numHeads: 3, seq: 17, headDim: 80 }),
  ropeCase({ batch: 1, numHeads: 3, seq: 17, headDim: 80, rotaryDim: 36, interleaved: true }), // half 18: SIMD + tail
  ropeCase({ batch: 2, numHeads: 2, seq: 13, headDim: 96, rotaryDim: 64 }),
  ropeCase({ batch: 1, numHeads: 7, seq: 11, headDim: 128, offset: 4093 }),
  ropeCase({ batch: 1, numHeads: 2, seq: 3, headDim: 128, offset: 500000, theta: 500000 }), // far positions, Llama 3 base
  ropeCase({ batch: 1, numHeads: 2, seq: 9, headDim: 256, interleaved: true, theta: 10 }),
  ropeCase({ batch: 3, numHeads: 2, seq: 6, headDim: 128, rotaryDim: 32, positions: 'random', maxPos: 4096 }),
  ropeCase({ batch: 2, numHeads: 3, seq: 4, headDim: 80, interleaved: true, positions: 'array', maxPos: 100 }),
  ropeCase({ batch: 1, numHeads: 4, seq: 10, headDim: 64, cache: true, offset: 20, maxPos: 30 }),
  ropeCase({ batch: 2, numHeads: 3, seq: 5, headDim: 6, cache: true, interleaved: true, positions: 'random', maxPos: 7 }),
  ropeCase({ batch: 2, numHeads: 1, seq: 8, headDim: 96, rotaryDim: 48, cache: true, positions: 'array', maxPos: 12 }),
  {
    op: 'rope',
    name: 'random shape',
    async run(ctx) {
      const { rng } = ctx;
      const headDim = 2 * rng.int(1, 80), rotaryDim = 2 * rng.int(1, headDim / 2);
      await ropeCase({
        batch: rng.int(1, 3), numHeads: rng.int(1, 5), seq: rng.int(1, 40), headDim, rotaryDim,
        interleaved: rng.next() < 0.5, offset: rng.int(0, 10000),
      }).run(ctx);
    },
  },
  {
    op: 'rope',
    name: 'the default is the halves layout at offset 0 with theta 10000',
    async run({ rt, rng }) {
      const x = rng.f32(2 * 5 * 16);
      const a = await rt.rope(x, { numHeads: 2, headDim: 16, seq: 5 });
      const b = await rt.rope(x, { numHeads: 2, headDim: 16, seq: 5, batch: 1, offset: 0, theta: 10000, rotaryDim: 16, interleaved: false });
      check(a.every((v, i) => Object.is(v, b[i])), 'defaults differ from the explicit options');
      checkRope(a, ropeRef(x, { batch: 1, numHeads: 2, seq: 5, headDim: 16 }), x, 'defaults');
      // Token 0 at position 0 is not rotated.
      for (let h = 0; h < 2; h++) for (let d = 0; d < 16; d++) check(a[h * 80 + d] === x[h * 80 + d], 'position 0 must be the identity');
    },
  },
  {
    op: 'rope',
    name: 'tensors chain on the device: rope(rope(x, offset a), offset b) = rope(x, offset a + b)',
    async run({ rt, rng, pc }) {
      const numHeads = 3, seq = 7, headDim = 48, shape = [numHeads, seq, headDim];
      const x = rng.f32(numHeads * seq * headDim);
      const tx = rt.tensor(x, shape);
      const t1 = rt.rope(tx, { numHeads, headDim, seq, offset: 11 });
      check(t1 instanceof pc.Tensor, 'rope of a tensor must return a Tensor');
      check(t1.shape.join() === shape.join(), `shape ${t1.shape}, expected ${shape}`);
      const t2 = rt.rope(t1, { numHeads, headDim, seq, offset: 20, rotaryDim: 48 });
      const ref1 = ropeRef(x, { batch: 1, numHeads, seq, headDim, offset: 11 });
      checkRope(await t1.read(), ref1, x, 'first rotation');
      // Rotations compose: positions add (per token, each pair by the same frequency).
      const composed = ropeRef(x, { batch: 1, numHeads, seq, headDim, positions: Int32Array.from({ length: seq }, (_, s) => 31 + 2 * s) });
      const got = await t2.read();
      let err = 0;
      for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - composed[i]));
      check(err < 1e-5, `composed rotation off by ${err}`);
      check(!tx.disposed && (await tx.read()).every((v, i) => v === x[i]), 'the input tensor must be unchanged');
      for (const t of [tx, t1, t2]) t.dispose();
    },
  },
  {
    op: 'rope',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const ok = { numHeads: 2, headDim: 8, seq: 3 };
      const x = new Float32Array(2 * 3 * 8);
      const cache = new Float32Array(5 * 4);
      const bad: [Record<string, unknown>, new (...a: never[]) => Error, string][] = [
        [{ ...ok, rotaryDim: 3 }, pc.ArgumentError, 'odd rotaryDim'],
        [{ ...ok, rotaryDim: 10 }, pc.ArgumentError, 'rotaryDim > headDim'],
        [{ ...ok, rotaryDim: 0 }, pc.ArgumentError, 'zero rotaryDim'],
        [{ numHeads: 2, headDim: 7, seq: 3 }, pc.ArgumentError, 'odd headDim'],
        [{ ...ok, numHeads: 1.5 }, pc.ArgumentError, 'non-integer numHeads'],
        [{ ...ok, headDim: 8.5 }, pc.ArgumentError, 'non-integer headDim'],
        [{ ...ok, seq: 0 }, pc.ArgumentError, 'zero seq'],
        [{ ...ok, batch: -1 }, pc.ArgumentError, 'negative batch'],
        [{ ...ok, batch: 2 }, pc.ShapeError, 'batch 2 with one batch of x'],
        [{ ...ok, seq: 4 }, pc.ShapeError, 'seq does not match the length'],
        [{ ...ok, offset: -1 }, pc.ArgumentError, 'negative offset'],
        [{ ...ok, offset: 0.5 }, pc.ArgumentError, 'non-integer offset'],
        [{ ...ok, offset: 2 ** 31 }, pc.ArgumentError, 'offset beyond 2^31 - 1'],
        [{ ...ok, positions: [0, 1, -2] }, pc.ArgumentError, 'negative position'],
        [{ ...ok, positions: [0, 1.5, 2] }, pc.ArgumentError, 'non-integer position'],
        [{ ...ok, positions: Int32Array.of(0, -1, 2) }, pc.ArgumentError, 'negative position (Int32Array)'],
        [{ ...ok, positions: [0, 1] }, pc.ShapeError, 'positions of the wrong length'],
        [{ ...ok, positions: Float32Array.of(0, 1, 2) }, pc.DTypeError, 'Float32Array positions'],
        [{ ...ok, positions: [0, 1, 2], offset: 1 }, pc.ArgumentError, 'positions and offset'],
        [{ ...ok, theta: 0 }, pc.ArgumentError, 'zero theta'],
        [{ ...ok, theta: NaN }, pc.ArgumentError, 'NaN theta'],
        [{ ...ok, theta: '10000' }, pc.ArgumentError, 'string theta'],
        [{ ...ok, interleaved: 1 }, pc.ArgumentError, 'non-boolean interleaved'],
        [{ ...ok, cos: cache }, pc.ArgumentError, 'cos without sin'],
        [{ ...ok, sin: cache }, pc.ArgumentError, 'sin without cos'],
        [{ ...ok, cos: cache, sin: cache, theta: 500 }, pc.ArgumentError, 'theta with caches'],
        [{ ...ok, cos: Array.from(cache), sin: cache }, pc.DTypeError, 'cos as a plain array'],
        [{ ...ok, cos: new Float32Array(18), sin: new Float32Array(18) }, pc.ShapeError, 'cache not a multiple of rotaryDim / 2'],
        [{ ...ok, cos: cache, sin: new Float32Array(24) }, pc.ShapeError, 'sin longer than cos'],
        [{ ...ok, cos: cache, sin: cache, offset: 3 }, pc.ArgumentError, 'offset + seq beyond the cache'],
        [{ ...ok, cos: cache, sin: cache, positions: [0, 5, 1] }, pc.ArgumentError, 'position beyond the cache'],
        [{ ...ok, rotaryDim: 4, cos: cache, sin: cache, positions: [0, 10, 1] }, pc.ArgumentError, 'position beyond the cache (partial rotaryDim)'],
        [{ ...ok, thetaa: 100 }, pc.ArgumentError, 'unknown option (misspelt theta)'],
        [{ ...ok, scale: 2 }, pc.ArgumentError, 'unknown option scale'],
      ];
      for (const [o, cls, what] of bad) await expectError(() => rt.rope(x, o as never), cls, what);
      const e = await expectError(() => rt.rope(x, { ...ok, thetaa: 100 } as never), pc.ArgumentError, 'unknown option message');
      check(e.message.includes('thetaa'), `the message must name the unknown option: ${e.message}`);
      const p = await expectError(() => rt.rope(x, { ...ok, cos: cache, sin: cache, positions: [0, 5, 1] }), pc.ArgumentError, 'position message');
      check(/positions\[1\] = 5/.test(p.message), `the message must name the position: ${p.message}`);
      await expectError(() => rt.rope(new Float64Array(48) as unknown as Float32Array, ok), pc.DTypeError, 'Float64Array x');
      await expectError(() => rt.rope(x, undefined as never), pc.ArgumentError, 'missing options');
      await expectError(() => rt.rope(new Float32Array(47), ok), pc.ShapeError, 'x too short');
      // Typed arrays: a rejected Promise, never a synchronous throw.
      let threw = false, pending: Promise<unknown> | undefined;
      try {
        pending = rt.rope(x, { ...ok, rotaryDim: 3 });
      } catch {
        threw = true;
      }
      check(!threw && pending instanceof Promise, 'rope on typed arrays must reject, not throw');
      await pending!.catch(() => {});
      // Tensors: a synchronous throw.
      const t = rt.tensor(x);
      let sync: unknown;
      try {
        rt.rope(t, { ...ok, rotaryDim: 3 });
      } catch (err) {
        sync = err;
      }
      check(sync instanceof pc.ArgumentError, 'rope on a Tensor must throw synchronously');
      t.dispose();
      await expectError(() => rt.rope(t, ok), pc.DisposedError, 'disposed tensor');
    },
  },
];
