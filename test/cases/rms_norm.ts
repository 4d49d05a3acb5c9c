// rmsNorm conformance: cols 1..8192 (odd, power-of-two and around the kernels' block sizes), many
// rows, eps, residual ({ out, sum }), rows of very different scales, all against an f64 reference
// on fresh random inputs; tensors chain on the device; one case per validation rule.
import { check, expectError, type Case, type CaseContext } from './util.js';

/**
 * Element-wise bound, relative to |h| * |w| * inv (the size of each output's exact value before
 * cancellation-free scaling): f32 sums of squares blocked as the kernels do stay within a few ulps.
 */
const TOL = 1e-6;

/** f64 reference: out[r] = h[r] / sqrt(mean(h[r]^2) + eps) * w, h = x (+ residual). */
export function rmsNormRef(x: Float32Array, w: Float32Array, rows: number, cols: number, eps: number,
  residual?: Float32Array): { out: Float64Array; sum: Float64Array; inv: Float64Array } {
  const out = new Float64Array(rows * cols), sum = new Float64Array(rows * cols), inv = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) {
      // The sum is formed in f32 by the kernels (it is an output), so the reference rounds it too.
      const h = residual ? Math.fround(x[r * cols + j] + residual[r * cols + j]) : x[r * cols + j];
      sum[r * cols + j] = h;
      ss += h * h;
    }
    inv[r] = 1 / Math.sqrt(ss / cols + eps);
    for (let j = 0; j < cols; j++) out[r * cols + j] = sum[r * cols + j] * inv[r] * w[j];
  }
  return { out, sum, inv };
}

/** Checks every output against the reference, error relative to |h * inv * w| (plus a tiny floor). */
function checkRms(got: Float32Array, ref: ReturnType<typeof rmsNormRef>, w: Float32Array, cols: number, what: string): void {
  check(got.length === ref.out.length, `${what}: got ${got.length} values, expected ${ref.out.length}`);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const scale = Math.abs(ref.sum[i] * ref.inv[Math.floor(i / cols)] * w[i % cols]);
    const e = Math.abs(got[i] - ref.out[i]) / (scale + 1e-30);
    if (!(e <= worst) && !(got[i] === ref.out[i])) {
      worst = e;
      at = i;
    }
  }
  check(worst <= TOL, `${what}: element ${at}: got ${got[at]}, expected ${ref.out[at]} (relative ${worst} > ${TOL})`);
}

interface Shape { rows: number; cols: number; eps?: number; residual?: boolean; scales?: boolean; zeroRow?: boolean }

function rmsCase(o: Shape): Case {
  const { rows, cols } = o;
  const tag = [`${rows}x${cols}`, o.eps !== undefined && `eps ${o.eps}`, o.residual && 'residual', o.scales && 'rows at scales 1e-3..1e3',
    o.zeroRow && 'a zero row'].filter(Boolean).join(' ');
  return {
    op: 'rmsNorm',
    name: tag,
    async run({ rt, rng }: CaseContext) {
      const x = rng.f32(rows * cols), w = rng.f32(cols);
      if (o.scales) {
        for (let r = 0; r < rows; r++) {
          const s = 10 ** (rng.next() * 6 - 3), shift = rng.next() * 2; // a shifted row: a mean far from 0
          for (let j = 0; j < cols; j++) x[r * cols + j] = (x[r * cols + j] + shift) * s;
        }
      }
      if (o.zeroRow) x.fill(0, 0, cols);
      const res = o.residual ? rng.f32(rows * cols) : undefined;
      const opts = { rows, cols, ...(o.eps !== undefined ? { eps: o.eps } : {}) };
      const ref = rmsNormRef(x, w, rows, cols, o.eps ?? 1e-6, res);
      if (res) {
        const r = await rt.rmsNorm(x, w, { ...opts, residual: res });
        check(r.out instanceof Float32Array && r.sum instanceof Float32Array, 'with a residual the result is { out, sum } of Float32Arrays');
        checkRms(r.out, ref, w, cols, `${tag} out`);
        for (let i = 0; i < r.sum.length; i++) check(r.sum[i] === ref.sum[i], `${tag} sum[${i}]: got ${r.sum[i]}, expected ${ref.sum[i]} (f32 x + residual)`);
      } else {
        const y = await rt.rmsNorm(x, w, opts);
        check(y instanceof Float32Array, 'result is not a Float32Array');
        checkRms(y, ref, w, cols, tag);
      }
    },
  };
}

/** The rmsNorm cases: shapes, eps and residual against rmsNormRef, device chaining, validation. */
export const rmsNormCases: Case[] = [
  rmsCase({ rows: 1, cols: 1 }),
  rmsCase({ rows: 7, cols: 1, eps: 0.5 }),
  rmsCase({ rows: 5, cols: 3 }),
  rmsCase({ rows: 3, cols: 4 }),
  rmsCase({ rows: 17, cols: 37, residual: true }),
  rmsCase({ rows: 2, cols: 4095 }),
  rmsCase({ rows: 3, cols: 4096, residual: true }),
  rmsCase({ rows: 2, cols: 8192, scales: true }),
  rmsCase({ rows: 4, cols: 8191, residual: true, eps: 1e-5 }),
  rmsCase({ rows: 300, cols: 64, scales: true }),
  rmsCase({ rows: 9, cols: 513, zeroRow: true }),
  rmsCase({ rows: 6, cols: 255, eps: 0, scales: true }),
  {
    op: 'rmsNorm',
    name: 'random shape',
    async run(ctx) {
      const { rng } = ctx;
      await rmsCase({ rows: rng.int(1, 40), cols: rng.int(1, 3000), residual: rng.next() < 0.5, eps: rng.next() * 1e-4 }).run(ctx);
    },
  },
  {
    op: 'rmsNorm',
    name: 'eps defaults to 1e-6',
    async run({ rt, rng }) {
      // Tiny values make eps matter: mean(x^2) = 1e-12, so 1e-6 and 1e-5 give very different outputs.
      const cols = 16, x = rng.f32(cols).map((v) => v * 1e-6), w = new Float32Array(cols).fill(1);
      const a = await rt.rmsNorm(x, w, { rows: 1, cols });
      const b = await rt.rmsNorm(x, w, { rows: 1, cols, eps: 1e-6 });
      check(a.every((v, i) => v === b[i]), 'the default eps is not 1e-6');
      checkRms(a, rmsNormRef(x, w, 1, cols, 1e-6), w, cols, 'default eps');
    },
  },
  {
    op: 'rmsNorm',
    name: 'tensors chain on the device: residual stream through two norms',
    async run({ rt, rng, pc }) {
      const rows = 5, cols = 96;
      const x = rng.f32(rows * cols), d1 = rng.f32(rows * cols), d2 = rng.f32(rows * cols), w1 = rng.f32(cols), w2 = rng.f32(cols);
      const tx = rt.tensor(x, [rows, cols]), td1 = rt.tensor(d1, [rows, cols]), td2 = rt.tensor(d2, [rows, cols]);
      const tw1 = rt.tensor(w1), tw2 = rt.tensor(w2);
      const a = rt.rmsNorm(tx, tw1, { rows, cols, residual: td1 });
      check(a.out instanceof pc.Tensor && a.sum instanceof pc.Tensor, 'tensors with a residual give { out: Tensor, sum: Tensor }');
      check(a.out.shape.join() === `${rows},${cols}` && a.sum.shape.join() === `${rows},${cols}`, `shapes ${a.out.shape} / ${a.sum.shape}`);
      const b = rt.rmsNorm(a.sum, tw2, { rows, cols, residual: td2 });
      const c = rt.rmsNorm(b.sum, w1, { rows, cols }); // a typed-array weight with a tensor x: a Tensor
      check(c instanceof pc.Tensor, 'a Tensor x without a residual gives a Tensor');
      const r1 = rmsNormRef(x, w1, rows, cols, 1e-6, d1);
      const h1 = Float32Array.from(r1.sum);
      const r2 = rmsNormRef(h1, w2, rows, cols, 1e-6, d2);
      const h2 = Float32Array.from(r2.sum);
      const r3 = rmsNormRef(h2, w1, rows, cols, 1e-6);
      checkRms(await a.out.read(), r1, w1, cols, 'first norm');
      checkRms(await b.out.read(), r2, w2, cols, 'second norm');
      checkRms(await c.read(), r3, w1, cols, 'third norm');
      const s2 = await b.sum.read();
      check(s2.every((v, i) => v === h2[i]), 'the residual stream must be x + d1 + d2 in f32');
      // rmsNorm then rope, still on the device (the q path of a transformer layer).
      const q = rt.rope(c, { numHeads: 1, headDim: cols, seq: rows, offset: 3 });
      check(q instanceof pc.Tensor && q.shape.join() === `${rows},${cols}`, 'rope of the normed tensor keeps its shape');
      check((await q.read()).every(Number.isFinite), 'rope after rmsNorm: finite values');
      for (const t of [tx, td1, td2, tw1, tw2, a.out, a.sum, b.out, b.sum, c, q]) t.dispose();
    },
  },
  {
    op: 'rmsNorm',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const rows = 3, cols = 4, x = new Float32Array(12), w = new Float32Array(4), ok = { rows, cols };
      const bad: [() => unknown, new (...a: never[]) => Error, string][] = [
        [() => rt.rmsNorm(x, w, { ...ok, rows: 1.5 }), pc.ArgumentError, 'non-integer rows'],
        [() => rt.rmsNorm(x, w, { ...ok, cols: 0 }), pc.ArgumentError, 'zero cols'],
        [() => rt.rmsNorm(x, w, { ...ok, cols: -4 }), pc.ArgumentError, 'negative cols'],
        [() => rt.rmsNorm(x, w, { ...ok, rows: NaN }), pc.ArgumentError, 'NaN rows'],
        [() => rt.rmsNorm(x, w, { ...ok, rows: 4 }), pc.ShapeError, 'rows do not match x'],
        [() => rt.rmsNorm(x, new Float32Array(3), ok), pc.ShapeError, 'weight too short'],
        [() => rt.rmsNorm(x, new Float32Array(12), ok), pc.ShapeError, 'weight of x\'s shape'],
        [() => rt.rmsNorm(x, w, { ...ok, residual: new Float32Array(11) }), pc.ShapeError, 'residual too short'],
        [() => rt.rmsNorm(x, w, { ...ok, eps: -1e-6 }), pc.ArgumentError, 'negative eps'],
        [() => rt.rmsNorm(x, w, { ...ok, eps: NaN }), pc.ArgumentError, 'NaN eps'],
        [() => rt.rmsNorm(x, w, { ...ok, eps: Infinity }), pc.ArgumentError, 'infinite eps'],
        [() => rt.rmsNorm(x, w, { ...ok, eps: '1e-6' as unknown as number }), pc.ArgumentError, 'string eps'],
        [() => rt.rmsNorm(x, w, { ...ok, epsilon: 1e-5 } as never), pc.ArgumentError, 'unknown option epsilon'],
        [() => rt.rmsNorm(x, w, { ...ok, axis: -1 } as never), pc.ArgumentError, 'unknown option axis'],
        [() => rt.rmsNorm(new Float64Array(12) as unknown as Float32Array, w, ok), pc.DTypeError, 'Float64Array x'],
        [() => rt.rmsNorm(x, Array.from(w) as unknown as Float32Array, ok), pc.DTypeError, 'plain-array weight'],
        [() => rt.rmsNorm(x, w, { ...ok, residual: new Float64Array(12) as unknown as Float32Array }), pc.DTypeError, 'Float64Array residual'],
        [() => rt.rmsNorm(x, w, { ...ok, residual: null as unknown as Float32Array }), pc.DTypeError, 'null residual'],
        [() => rt.rmsNorm(x, w, undefined as never), pc.ArgumentError, 'missing options'],
      ];
      for (const [fn, cls, what] of bad) await expectError(fn, cls, what);
      const e = await expectError(() => rt.rmsNorm(x, w, { ...ok, epsilon: 1e-5 } as never), pc.ArgumentError, 'message');
      check(e.message.includes('epsilon'), `the message must name the unknown option: ${e.message}`);
      const s = await expectError(() => rt.rmsNorm(x, new Float32Array(3), ok), pc.ShapeError, 'message');
      check(/expected 4/.test(s.message), `the message must say what was expected: ${s.message}`);
      // Typed arrays: a rejected Promise; any Tensor: a synchronous throw.
      let threw = false, pending: Promise<unknown> | undefined;
      try {
        pending = rt.rmsNorm(x, w, { ...ok, cols: 5 });
      } catch {
        threw = true;
      }
      check(!threw && pending instanceof Promise, 'rmsNorm on typed arrays must reject, not throw');
      await pending!.catch(() => {});
      const tw = rt.tensor(w);
      let sync: unknown;
      try {
        rt.rmsNorm(x, tw, { ...ok, cols: 5 });
      } catch (err) {
        sync = err;
      }
      check(sync instanceof pc.ShapeError || sync instanceof pc.ArgumentError, 'rmsNorm with a Tensor must throw synchronously');
      tw.dispose();
      await expectError(() => rt.rmsNorm(x, tw, ok), pc.DisposedError, 'disposed weight tensor');
    },
  },
];
