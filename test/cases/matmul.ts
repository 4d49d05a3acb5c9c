// matmul conformance: odd shapes, transposes, batch and broadcast, device-resident chaining,
// and one case per validation rule. References are computed in f64.
import type { RuntimeOptions as PcRuntimeOptions } from '../../src/index.js';
import { check, CheckFailed, checkClose, expectError, skipCase, type Case, type CaseContext } from './util.js';

/** f64 reference of op(A) x op(B) for one batch entry. */
export function matmulRef(a: Float32Array, b: Float32Array, m: number, k: number, n: number,
  ta = false, tb = false, batch = 1, bcastA = false, bcastB = false): Float64Array {
  const c = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const oa = bcastA ? 0 : z * m * k, ob = bcastB ? 0 : z * k * n, oc = z * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[oa + (ta ? p * m + i : i * k + p)] * b[ob + (tb ? j * k + p : p * n + j)];
        c[oc + i * n + j] = s;
      }
    }
  }
  return c;
}

const TOL = 1e-5;

/**
 * f64 reference of a broadcast batched product, written from the numpy rule (not from pcpress's
 * merged strides): each output batch index is unravelled over the broadcast shape and each
 * operand's index re-ravelled over its own dims, with a size-1 (or missing) dim read at 0.
 */
export function matmulBroadcastRef(a: Float32Array, b: Float32Array, m: number, k: number, n: number,
  batchA: readonly number[], batchB: readonly number[], ta = false, tb = false): { out: Float64Array; shape: number[] } {
  const r = Math.max(batchA.length, batchB.length);
  const pa = [...Array(r - batchA.length).fill(1), ...batchA], pb = [...Array(r - batchB.length).fill(1), ...batchB];
  const shape = pa.map((x, i) => (x === 1 ? pb[i] : x));
  const total = shape.reduce((x, y) => x * y, 1);
  const out = new Float64Array(total * m * n);
  for (let z = 0; z < total; z++) {
    let rem = z, ia = 0, ib = 0, mulA = 1, mulB = 1;
    for (let d = r - 1; d >= 0; d--) {
      const idx = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (pa[d] !== 1) ia += idx * mulA;
      if (pb[d] !== 1) ib += idx * mulB;
      mulA *= pa[d];
      mulB *= pb[d];
    }
    const oa = ia * m * k, ob = ib * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[oa + (ta ? p * m + i : i * k + p)] * b[ob + (tb ? j * k + p : p * n + j)];
        out[(z * m + i) * n + j] = s;
      }
    }
  }
  return { out, shape: [...shape, m, n] };
}

/** A batchA / batchB product on fresh random inputs, as typed arrays and as Tensors (result shape checked). */
function broadcastCase(m: number, k: number, n: number, batchA: number[], batchB: number[], ta = false, tb = false): Case {
  const tag = `${m}x${k}x${n} batchA [${batchA}] batchB [${batchB}]${ta ? ' tA' : ''}${tb ? ' tB' : ''}`;
  return {
    op: 'matmul',
    name: `broadcast ${tag}`,
    async run({ rt, rng, pc }: CaseContext) {
      await checkBroadcast(rt, rng, pc, m, k, n, batchA, batchB, ta, tb, tag);
    },
  };
}

async function checkBroadcast(rt: CaseContext['rt'], rng: CaseContext['rng'], pc: CaseContext['pc'], m: number, k: number, n: number,
  batchA: number[], batchB: number[], ta: boolean, tb: boolean, tag: string): Promise<void> {
  const size = (d: number[]) => d.reduce((x, y) => x * y, 1);
  const a = rng.f32(size(batchA) * m * k), b = rng.f32(size(batchB) * k * n);
  const ref = matmulBroadcastRef(a, b, m, k, n, batchA, batchB, ta, tb);
  const opts = { m, k, n, batchA, batchB, transposeA: ta, transposeB: tb };
  const c = await rt.matmul(a, b, opts);
  check(c instanceof Float32Array, `${tag}: result is not a Float32Array`);
  checkClose(c, ref.out, TOL, tag);
  const ta_ = rt.tensor(a), tb_ = rt.tensor(b);
  const t = rt.matmul(ta_, tb_, opts);
  check(t instanceof pc.Tensor, `${tag}: Tensor inputs must give a Tensor`);
  check(t.shape.join() === ref.shape.join(), `${tag}: Tensor shape [${t.shape}], expected [${ref.shape}]`);
  checkClose(await t.read(), ref.out, TOL, `${tag} (tensors)`);
  for (const x of [ta_, tb_, t]) x.dispose();
}

/** Expects `fn()` to return a Promise that rejects with `cls` (it must not throw synchronously). */
async function expectRejects(fn: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<Error> {
  let r: unknown;
  try {
    r = fn();
  } catch (e) {
    throw new CheckFailed(`${what}: threw synchronously (${(e as Error)?.name}) instead of returning a rejected Promise`);
  }
  check(r instanceof Promise, `${what}: did not return a Promise`);
  return expectError(() => r, cls, what);
}

/** Expects `fn()` to throw `cls` synchronously (Tensor calls). */
function expectThrows(fn: () => unknown, cls: new (...a: never[]) => Error, what: string): Error {
  try {
    fn();
  } catch (e) {
    check(e instanceof cls, `${what}: expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return e as Error;
  }
  throw new CheckFailed(`${what}: expected ${cls.name}, nothing was thrown`);
}

/** The error message must name the misspelt option. */
function names(e: Error, option: string, what: string): void {
  check(e.message.includes(`"${option}"`), `${what}: the message should name "${option}": ${e.message}`);
}

/**
 * A product on fresh random inputs, uniform in [-1, 1). With `positive` the inputs are in [0, 1): a single
 * long dot product of zero-mean values can cancel to near zero, where no f32 summation order meets a
 * relative bound (measured: 1x4096x1 fails 1e-5 in 2-3% of signed draws on both backends, never with
 * positive ones), so such shapes would test the draw, not the kernel.
 */
function shapeCase(m: number, k: number, n: number, ta = false, tb = false, batch = 1, bcast: '' | 'a' | 'b' = '', positive = false): Case {
  const tag = `${m}x${k}x${n}${positive ? ' positive' : ''}${ta ? ' tA' : ''}${tb ? ' tB' : ''}${batch > 1 ? ` batch ${batch}` : ''}${bcast ? ` broadcast ${bcast}` : ''}`;
  return {
    op: 'matmul',
    name: tag,
    async run({ rt, rng }: CaseContext) {
      const draw = (len: number) => (positive ? rng.f32(len).map((x) => (x + 1) / 2) : rng.f32(len));
      const a = draw((bcast === 'a' ? 1 : batch) * m * k);
      const b = draw((bcast === 'b' ? 1 : batch) * k * n);
      const c = await rt.matmul(a, b, { m, k, n, transposeA: ta, transposeB: tb, batch });
      check(c instanceof Float32Array, 'result is not a Float32Array');
      checkClose(c, matmulRef(a, b, m, k, n, ta, tb, batch, bcast === 'a', bcast === 'b'), TOL, tag);
    },
  };
}

/** Bitwise equality of two f32 results (same kernel, same order: no tolerance); x is checked against y. */
function sameBits(x: Float32Array, y: Float32Array, what: string): void {
  check(x.length === y.length, `${what}: ${x.length} values vs ${y.length}`);
  const ux = new Uint32Array(x.buffer, x.byteOffset, x.length), uy = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < ux.length; i++) {
    if (ux[i] !== uy[i]) throw new CheckFailed(`${what}: element ${i} is ${x[i]}, expected ${y[i]} (bits must be equal)`);
  }
}

/** B packed once by rt.packB gives the bits of the unpacked B, as arrays and as tensors, over several calls. */
function packedCase(m: number, k: number, n: number, ta = false, tb = false, batch = 1): Case {
  const tag = `${m}x${k}x${n}${ta ? ' tA' : ''}${tb ? ' tB' : ''}${batch > 1 ? ` batch ${batch}` : ''}`;
  return {
    op: 'matmul',
    name: `packed B ${tag}`,
    async run({ rt, rng, pc }: CaseContext) {
      const b = rng.f32(k * n), packed = rt.packB(b, { k, n, transposeB: tb });
      check(packed instanceof pc.PackedB && packed.k === k && packed.n === n && packed.transposeB === tb, `${tag}: packB result`);
      for (let call = 0; call < 2; call++) {
        const a = rng.f32(batch * m * k);
        const opts = { m, k, n, transposeA: ta, batch };
        const plain = await rt.matmul(a, b, { ...opts, transposeB: tb });
        const got = await rt.matmul(a, packed, opts);
        check(got instanceof Float32Array, `${tag}: typed-array a with a packed b must resolve to a Float32Array`);
        checkClose(got, matmulRef(a, b, m, k, n, ta, tb, batch, false, true), TOL, `${tag} packed`);
        sameBits(got, plain, `${tag} call ${call}`);
        const t = rt.tensor(a), c = rt.matmul(t, packed, opts);
        check(c instanceof pc.Tensor && c.shape.join() === (batch > 1 ? `${batch},${m},${n}` : `${m},${n}`), `${tag}: Tensor a gives a Tensor of shape [batch, m, n]`);
        sameBits(await c.read(), plain, `${tag} tensors, call ${call}`);
        t.dispose();
        c.dispose();
      }
      packed.dispose();
      check(packed.disposed, 'dispose() marks it disposed');
    },
  };
}

/** The value of IEEE half bits, computed in f64 from the format (independent of pcpress's conversion). */
export function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** x rounded to the nearest f16 value (ties to even), in f64: the reference of packB's Float32Array rounding. */
export function roundHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const ax = Math.abs(x);
  const ulp = ax < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(ax)) - 10);
  const q = ax / ulp, f = Math.floor(q), r = q - f;
  const n = r > 0.5 || (r === 0.5 && f % 2 === 1) ? f + 1 : f;
  return Math.sign(x) * n * ulp;
}

/** Random finite f16 bits: mostly |x| in [2^-6, 2), some subnormals and zeros (which a GPU may flush: tiny next to the rest). */
function randomHalfBits(rng: CaseContext['rng'], len: number): Uint16Array {
  const h = new Uint16Array(len);
  for (let i = 0; i < len; i++) {
    const u = rng.next(), sign = rng.next() < 0.5 ? 0x8000 : 0, mant = rng.int(0, 1023);
    h[i] = sign | (u < 0.01 ? mant : u < 0.02 ? 0 : (rng.int(9, 15) << 10) | mant);
  }
  return h;
}

/**
 * B packed as f16 (`dtype: 'f16'`): from half bits or from a Float32Array rounded to f16, against an f64 reference
 * computed from the f16 values; shapes with odd k and n put one u32 pair of halves across two rows of B. WebGPU keeps
 * the halves on the device (storage 'f16', half the bytes), wasm converts them to f32: the same values either way.
 * Outputs are poisoned (the runner's poisonOutputs), so an unwritten element fails the comparison.
 */
function packedF16Case(m: number, k: number, n: number, ta = false, tb = false, batch = 1, from: 'bits' | 'f32' = 'bits'): Case {
  const tag = `${m}x${k}x${n}${ta ? ' tA' : ''}${tb ? ' tB' : ''}${batch > 1 ? ` batch ${batch}` : ''} from ${from === 'bits' ? 'half bits' : 'f32, rounded'}`;
  return {
    op: 'matmul',
    name: `f16 packed B ${tag}`,
    async run({ rt, rng, pc }: CaseContext) {
      let stored: Float32Array, packed: InstanceType<typeof pc.PackedB>;
      if (from === 'bits') {
        const bits = randomHalfBits(rng, k * n);
        stored = Float32Array.from(bits, halfValue);
        packed = rt.packB(bits, { k, n, transposeB: tb, dtype: 'f16' });
      } else {
        const b = rng.f32(k * n);
        stored = Float32Array.from(b, roundHalf);
        packed = rt.packB(b, { k, n, transposeB: tb, dtype: 'f16' });
      }
      const gpu = rt.backend === 'webgpu';
      check(packed.dtype === 'f16' && packed.storage === (gpu ? 'f16' : 'f32'), `${tag}: dtype ${packed.dtype}, storage ${packed.storage} on ${rt.backend}`);
      check(gpu ? packed.bytes === Math.ceil((k * n) / 2) * 4 : packed.bytes >= k * n * 4, `${tag}: ${packed.bytes} bytes on ${rt.backend}`);
      // read() gives op(B) (k x n) with the f16 values exactly
      const opB = await packed.read();
      for (let kk = 0; kk < k; kk++) {
        for (let j = 0; j < n; j++) {
          const want = stored[tb ? j * k + kk : kk * n + j], got = opB[kk * n + j];
          if (!(got === want || (gpu && want !== 0 && Math.abs(want) < 2 ** -14 && got === 0))) {
            throw new CheckFailed(`${tag}: read() element (${kk}, ${j}) is ${got}, expected the f16 value ${want}`);
          }
        }
      }
      for (let call = 0; call < 2; call++) {
        const a = rng.f32(batch * m * k);
        const opts = { m, k, n, transposeA: ta, batch };
        const ref = matmulRef(a, stored, m, k, n, ta, tb, batch, false, true);
        const got = await rt.matmul(a, packed, opts);
        check(got instanceof Float32Array && got.length === batch * m * n, `${tag}: result length ${got.length}`);
        checkClose(got, ref, TOL, `${tag} call ${call}`);
        // the same values as an f32 B: the same products in f32 (bit for bit on wasm, the same kernel)
        const plain = await rt.matmul(a, stored, { ...opts, transposeB: tb });
        if (gpu) checkClose(got, plain, 1e-6, `${tag}: f16 and f32 B, call ${call}`);
        else sameBits(got, plain, `${tag}: f16 and f32 B, call ${call}`);
        const t = rt.tensor(a), c = rt.matmul(t, packed, opts);
        checkClose(await c.read(), ref, TOL, `${tag}: tensors, call ${call}`);
        t.dispose();
        c.dispose();
      }
      packed.dispose();
      await expectRejects(() => packed.read(), pc.DisposedError, 'read() after dispose');
    },
  };
}

export const matmulCases: Case[] = [
  shapeCase(1, 1, 1),
  shapeCase(37, 53, 29),
  shapeCase(1, 4096, 1, false, false, 1, '', true), // one 4096-term dot product: positive inputs (see shapeCase)
  shapeCase(64, 64, 64),
  shapeCase(513, 257, 129),
  shapeCase(4, 8, 12),
  shapeCase(9, 700, 45), // few rows: B read in place, several K blocks accumulate
  shapeCase(3, 5, 2100), // wider than one N block
  shapeCase(5, 37, 300, true, true), // short A (the GPU's 16 x 256 tile) with both transposes
  ...[[false, true], [true, false], [true, true]].flatMap(([ta, tb]) => [
    shapeCase(37, 53, 29, ta, tb),
    shapeCase(130, 68, 72, ta, tb),
  ]),
  shapeCase(513, 257, 129, true, true),
  shapeCase(17, 33, 9, false, false, 3),
  shapeCase(16, 20, 24, true, false, 3),
  shapeCase(9, 12, 7, false, true, 4, 'b'),
  shapeCase(9, 12, 7, false, false, 2, 'a'),
  {
    op: 'matmul',
    name: 'random shape',
    async run(ctx) {
      const { rng } = ctx;
      const m = rng.int(1, 150), k = rng.int(1, 150), n = rng.int(1, 150);
      await shapeCase(m, k, n, rng.next() < 0.5, rng.next() < 0.5, rng.int(1, 3)).run(ctx);
    },
  },
  {
    op: 'matmul',
    name: 'tensors chain on the device: (A x B) x C',
    async run({ rt, rng, pc }) {
      const m = 33, k = 20, n = 18, p = 11;
      const a = rng.f32(m * k), b = rng.f32(k * n), cIn = rng.f32(n * p);
      const ta = rt.tensor(a, [m, k]), tb = rt.tensor(b, [k, n]), tc = rt.tensor(cIn, [n, p]);
      const ab = rt.matmul(ta, tb, { m, k, n });
      check(ab instanceof pc.Tensor, 'matmul of tensors must return a Tensor');
      check(ab.shape.join() === `${m},${n}`, `shape ${ab.shape}`);
      const abc = rt.matmul(ab, tc, { m, k: n, n: p });
      const abRef = matmulRef(a, b, m, k, n);
      const ref = matmulRef(Float32Array.from(abRef), cIn, m, n, p);
      checkClose(await abc.read(), ref, TOL, '(AxB)xC');
      checkClose(await ab.read(), abRef, TOL, 'AxB');
      for (const t of [ta, tb, tc, ab, abc]) t.dispose();
      check(ab.disposed, 'dispose() must mark the tensor disposed');
      await expectError(() => ab.read(), pc.DisposedError, 'read after dispose');
      // Mixed input: a typed array and a tensor give a tensor.
      const tb2 = rt.tensor(b, [k, n]);
      const mixed = rt.matmul(a, tb2, { m, k, n });
      checkClose(await mixed.read(), abRef, TOL, 'array x tensor');
      mixed.dispose();
      tb2.dispose();
    },
  },
  {
    op: 'matmul',
    name: 'bad input gets typed errors',
    async run({ rt, pc }) {
      const a = new Float32Array(6), b = new Float32Array(12);
      const ok = { m: 2, k: 3, n: 4 };
      await expectError(() => rt.matmul(a, new Float32Array(11), ok), pc.ShapeError, 'b too short');
      await expectError(() => rt.matmul(new Float32Array(7), b, ok), pc.ShapeError, 'a too long');
      await expectError(() => rt.matmul(new Float32Array(12), b, { ...ok, batch: 3 }), pc.ShapeError, 'batch 3 with two matrices of A');
      await expectError(() => rt.matmul(new Float64Array(6) as unknown as Float32Array, b, ok), pc.DTypeError, 'Float64Array');
      await expectError(() => rt.matmul([1, 2, 3, 4, 5, 6] as unknown as Float32Array, b, ok), pc.DTypeError, 'plain array');
      await expectError(() => rt.matmul(a, b, { ...ok, m: 1.5 }), pc.ArgumentError, 'non-integer m');
      await expectError(() => rt.matmul(a, b, { ...ok, k: -3 }), pc.ArgumentError, 'negative k');
      await expectError(() => rt.matmul(a, b, { ...ok, n: 0 }), pc.ArgumentError, 'zero n');
      await expectError(() => rt.matmul(a, b, { ...ok, n: NaN }), pc.ArgumentError, 'NaN n');
      await expectError(() => rt.matmul(a, b, { ...ok, batch: 0 }), pc.ArgumentError, 'zero batch');
      await expectError(() => rt.matmul(a, b, { ...ok, transposeA: 'yes' as unknown as boolean }), pc.ArgumentError, 'non-boolean transposeA');
      await expectError(() => rt.matmul(a, b, undefined as unknown as { m: number; k: number; n: number }), pc.ShapeError, 'missing options');
      // Over the limits: a 65536 x 65536 output (2^32 elements) from tiny inputs.
      const big = new Float32Array(65536);
      await expectError(() => rt.matmul(big, big, { m: 65536, k: 1, n: 65536 }), pc.LimitError, 'output over the limit');
      await expectError(() => rt.tensor(new Float32Array(6), [4, 2]), pc.ArgumentError, 'tensor shape mismatch');
      await expectError(() => rt.tensor(new Float32Array(6), [2, -3]), pc.ArgumentError, 'negative tensor dim');
      // The shape error message must say what was expected.
      const e = await expectError(() => rt.matmul(a, new Float32Array(11), ok), pc.ShapeError, 'message');
      check(/expected 12/.test(e.message), `message should name the expected length: ${e.message}`);
    },
  },
  packedCase(1, 1, 1),
  packedCase(8, 300, 70), // few rows (unpacked: B read in place), two K blocks, ragged columns
  packedCase(37, 53, 29, false, true),
  packedCase(130, 600, 67, true, false), // three K blocks, two M blocks, A transposed
  packedCase(5, 17, 2100, false, true), // wider than one N block
  packedCase(9, 12, 7, false, false, 3), // the batch folds into A's rows
  packedCase(9, 12, 7, true, true, 4), // A transposed: one product per batch entry, one packed B for all
  {
    op: 'matmul',
    name: 'packed B: batchA dims, a Tensor b stays usable, and typed errors',
    async run({ rt, rng, pc }) {
      const m = 6, k = 11, n = 10, b = rng.f32(k * n), a = rng.f32(2 * 3 * m * k);
      const tb = rt.tensor(b, [k, n]);
      const packed = rt.packB(tb, { k, n });
      const c = await rt.matmul(a, packed, { m, k, n, batchA: [2, 3], transposeA: true });
      sameBits(c, await rt.matmul(a, b, { m, k, n, batchA: [2, 3], transposeA: true }), 'batchA [2, 3] tA');
      checkClose(await tb.read(), b, 0, 'the Tensor b is unchanged');
      tb.dispose();
      sameBits(await rt.matmul(a.subarray(0, m * k), packed, { m, k, n }), await rt.matmul(a.subarray(0, m * k), b, { m, k, n }), 'after the Tensor b is disposed');
      const ok = { m, k, n }, a1 = a.subarray(0, m * k);
      await expectRejects(() => rt.matmul(a1, packed, { ...ok, k: k + 1 }), pc.ShapeError, 'k differs from the packed k');
      await expectRejects(() => rt.matmul(a1.subarray(1), packed, ok), pc.ShapeError, 'a one short');
      const tbErr = await expectRejects(() => rt.matmul(a1, packed, { ...ok, transposeB: true }), pc.ArgumentError, 'transposeB differs');
      check(/transposeB/.test(tbErr.message), `message should name transposeB: ${tbErr.message}`);
      await expectRejects(() => rt.matmul(a, packed, { m, k, n, batchA: [6], batchB: [6] }), pc.ShapeError, 'batchB with a packed b');
      names(await expectRejects(() => rt.matmul(a1, packed, { ...ok, transposeb: true } as unknown as typeof ok), pc.ArgumentError, 'unknown option'), 'transposeb', 'matmul (packed)');
      const ta1 = rt.tensor(a1);
      expectThrows(() => rt.matmul(ta1, packed, { ...ok, n: n + 1 }), pc.ShapeError, 'Tensor a, n differs');
      ta1.dispose();
      expectThrows(() => rt.packB(b.subarray(1), { k, n }), pc.ShapeError, 'packB b one short');
      expectThrows(() => rt.packB(new Float64Array(k * n) as unknown as Float32Array, { k, n }), pc.DTypeError, 'packB Float64Array');
      expectThrows(() => rt.packB(b, { k, n: 0 }), pc.ArgumentError, 'packB zero n');
      names(expectThrows(() => rt.packB(b, { k, n, transposeA: true } as unknown as { k: number; n: number }), pc.ArgumentError, 'packB unknown option'), 'transposeA', 'packB');
      const other = await pc.createRuntime({ backend: 'wasm' });
      try {
        const foreign = other.packB(b, { k, n });
        await expectRejects(() => rt.matmul(a1, foreign, ok), pc.ArgumentError, 'a PackedB of another runtime');
      } finally {
        other.destroy();
      }
      packed.dispose();
      packed.dispose();
      await expectRejects(() => rt.matmul(a1, packed, ok), pc.DisposedError, 'after dispose');
    },
  },
  packedF16Case(5, 37, 29, false, true), // odd k and n: halves of one u32 straddle rows of B
  packedF16Case(3, 17, 33), // odd k and n, B not transposed
  packedF16Case(37, 53, 29, true, true, 1, 'f32'), // 16 x 16 tiles, both transposes, rounded from f32
  packedF16Case(9, 64, 24, false, true), // rows of B a multiple of 4: vec4 loads of half pairs
  packedF16Case(9, 12, 8, false, false, 3, 'f32'), // the batch folds into A's rows; vec4 loads
  packedF16Case(9, 13, 7, true, true, 4), // one f16 B for each product of a transposed A
  packedF16Case(5, 17, 2100, false, true), // wider than one N block
  packedF16Case(8, 1024, 1024, false, true), // the decode shape of a 1024-wide linear layer
  {
    op: 'matmul',
    name: 'f16 packed B: typed errors (bad dtype, wrong length, a Tensor or Uint16Array without dtype f16, a value past the f16 range)',
    async run({ rt, pc }) {
      const k = 5, n = 3, bits = new Uint16Array(k * n).fill(0x3c00), f = new Float32Array(k * n).fill(1);
      names(expectThrows(() => rt.packB(f, { k, n, dtype: 'f8' } as never), pc.ArgumentError, 'dtype f8'), 'f8', 'packB dtype');
      expectThrows(() => rt.packB(f, { k, n, dtype: 'F16' } as never), pc.ArgumentError, 'dtype F16 (the safetensors name)');
      expectThrows(() => rt.packB(bits.subarray(1), { k, n, dtype: 'f16' }), pc.ShapeError, 'half bits one short');
      expectThrows(() => rt.packB(new Uint16Array(k * n + 1), { k, n, dtype: 'f16' }), pc.ShapeError, 'half bits one long');
      expectThrows(() => rt.packB(bits, { k, n }), pc.DTypeError, 'a Uint16Array without dtype f16');
      expectThrows(() => rt.packB(bits, { k, n, dtype: 'f32' }), pc.DTypeError, 'a Uint16Array with dtype f32');
      expectThrows(() => rt.packB(new Float64Array(k * n) as never, { k, n, dtype: 'f16' }), pc.DTypeError, 'a Float64Array with dtype f16');
      const t = rt.tensor(f);
      expectThrows(() => rt.packB(t, { k, n, dtype: 'f16' }), pc.DTypeError, 'a Tensor with dtype f16');
      t.dispose();
      const big = f.slice();
      big[7] = 70000;
      const e = expectThrows(() => rt.packB(big, { k, n, dtype: 'f16' }), pc.ArgumentError, 'a value past 65504');
      check(e.message.includes('70000') && e.message.includes('[7]'), `the message names the value and index: ${e.message}`);
      big[7] = 65519; // rounds to 65504, the largest f16
      const ok = rt.packB(big, { k, n, dtype: 'f16' });
      check((await ok.read())[7] === 65504, 'packB rounds 65519 to 65504, the largest f16');
      ok.dispose();
      const a = new Float32Array(2 * k).fill(1);
      const p = rt.packB(bits, { k, n, dtype: 'f16', transposeB: true });
      check(p.transposeB && p.dtype === 'f16', 'f16 with transposeB');
      await expectRejects(() => rt.matmul(a, p, { m: 2, k, n, transposeB: false }), pc.ArgumentError, 'transposeB differs from the packing');
      const c = await rt.matmul(a, p, { m: 2, k, n });
      check(c.every((v) => v === k), `ones x ones: every element is k, got [${c}]`);
      p.dispose();
    },
  },
  {
    op: 'matmul',
    name: 'wasm threads: 1, 2 and 3 threads give the same bits (odd shapes, transposes, batches, packed B); typed errors',
    async run({ rt, rng, pc }) {
      if (rt.backend !== 'wasm') skipCase('the thread pool is a wasm feature: this case runs on the wasm pass');
      const g = globalThis as { SharedArrayBuffer?: unknown; crossOriginIsolated?: boolean };
      const canThread = typeof g.SharedArrayBuffer === 'function' && g.crossOriginIsolated !== false;
      check(typeof rt.info.threads === 'number' && rt.info.threads >= 1, `rt.info.threads is ${rt.info.threads}`);
      check(/thread/.test(rt.reason), `rt.reason should say how many threads and why: ${rt.reason}`);
      if (!canThread) {
        // browsers without cross-origin isolation: threads: 'auto' gives 1 and says why; a number > 1 is an error
        check(rt.info.threads === 1, `no shared memory here, yet rt.info.threads is ${rt.info.threads}`);
        const e = await expectError(() => pc.createRuntime({ backend: 'wasm', threads: 2 }), pc.BackendUnavailableError, 'threads: 2 without shared memory');
        check(/cross-origin|SharedArrayBuffer/.test(e.message), `the message should say why: ${e.message}`);
        return;
      }
      const rts = [await pc.createRuntime({ backend: 'wasm', threads: 1 })];
      try {
        rts.push(await pc.createRuntime({ backend: 'wasm', threads: 2 }), await pc.createRuntime({ backend: 'wasm', threads: 3 }));
        rts.forEach((r, i) => check(r.info.threads === i + 1 && new RegExp(`${i + 1} threads?`).test(r.reason), `threads ${i + 1}: info.threads ${r.info.threads}, reason ${r.reason}`));
        // every product over the pool's 128^3 threshold: split by columns, rows (n < 16) and batch entries
        const shapes: [number, number, number, boolean, boolean, number][] = [
          [67, 331, 193, false, false, 1], [8, 520, 1000, false, false, 1], [130, 170, 129, true, true, 1],
          [45, 260, 250, false, true, 1], [5, 900, 601, true, false, 1], [3001, 120, 7, false, false, 1], [3001, 120, 7, true, true, 1],
          [23, 140, 131, true, false, 9], [200, 164, 73, true, false, 2],
        ];
        for (const [m, k, n, ta, tb, batch] of shapes) {
          const tag = `${m}x${k}x${n}${ta ? ' tA' : ''}${tb ? ' tB' : ''}${batch > 1 ? ` batch ${batch}` : ''}`;
          const a = rng.f32(batch * m * k), b = rng.f32(k * n), o = { m, k, n, transposeA: ta, transposeB: tb, batch };
          const outs = await Promise.all(rts.map((r) => r.matmul(a, b, o)));
          checkClose(outs[0], matmulRef(a, b, m, k, n, ta, tb, batch, false, true), TOL, tag);
          for (let i = 1; i < 3; i++) sameBits(outs[i], outs[0], `${tag}: ${i + 1} threads vs 1`);
          const packs = rts.map((r) => r.packB(b, { k, n, transposeB: tb }));
          const { transposeB: _, ...po } = o;
          for (let i = 0; i < 3; i++) sameBits(await rts[i].matmul(a, packs[i], po), outs[0], `${tag}: packed B, ${i + 1} threads vs 1`);
          packs.forEach((x) => x.dispose());
        }
        // Tensors in, Tensor out, synchronously, on 3 threads
        const a = rng.f32(96 * 80), b = rng.f32(80 * 72);
        const t3 = rts[2].matmul(rts[2].tensor(a), rts[2].tensor(b), { m: 96, k: 80, n: 72 });
        check(t3 instanceof pc.Tensor, 'Tensor inputs on a threaded runtime give a Tensor');
        sameBits(await t3.read(), await rts[0].matmul(a, b, { m: 96, k: 80, n: 72 }), 'Tensor path, 3 threads vs 1');
      } finally {
        for (const r of rts) r.destroy();
      }
      await expectError(() => rts[1].matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 }), pc.DisposedError, 'matmul after destroy on a threaded runtime');
      await expectError(() => pc.createRuntime({ backend: 'wasm', threads: 0 }), pc.ArgumentError, 'threads: 0');
      await expectError(() => pc.createRuntime({ backend: 'wasm', threads: 1.5 }), pc.ArgumentError, 'threads: 1.5');
      await expectError(() => pc.createRuntime({ backend: 'wasm', threads: 'all' as unknown as number }), pc.ArgumentError, "threads: 'all'");
      await expectError(() => pc.createRuntime({ backend: 'wasm', threads: 65 }), pc.LimitError, 'threads: 65 (over the cap)');
    },
  },
  broadcastCase(7, 9, 5, [3, 1, 5], [4, 1]), // -> [3, 4, 5]
  broadcastCase(7, 9, 5, [3, 1, 5], [4, 1], true, true),
  broadcastCase(13, 6, 11, [2], [3, 1], false, true), // -> [3, 2]
  broadcastCase(5, 17, 3, [], [2, 3], true, false), // one A for every B
  broadcastCase(9, 4, 21, [4, 3], []), // one B: the batch folds into A's rows
  broadcastCase(9, 4, 21, [4, 3], [], true, false), // one B with A transposed: no folding
  broadcastCase(6, 10, 7, [1, 1, 3], [3]), // leading 1-dims in A
  broadcastCase(3, 5, 9, [1], [1]), // all 1: output batch shape [1]
  broadcastCase(3, 5, 4, [2, 1, 2, 1, 2, 1], [1, 2, 1, 2, 1, 2], true, true), // six dims that do not merge: 64 products
  broadcastCase(19, 33, 70, [2, 3], [2, 3]), // equal batches merge to one dim
  broadcastCase(8, 7, 6, [2, 3], [1, 3]), // A's dims would merge, B's do not
  broadcastCase(8, 7, 6, [4, 1], [4, 5], false, true), // B's dims would merge, A's do not
  broadcastCase(1, 40, 1, [5, 1], [1, 6]), // dot products broadcast to [5, 6]
  broadcastCase(130, 20, 68, [1, 2], [3, 1], false, true), // 64 x 64 GPU tiles, several per product
  {
    op: 'matmul',
    name: 'broadcast random batch dims, shapes and transposes',
    async run({ rt, rng, pc }) {
      for (let t = 0; t < 3; t++) {
        const r = rng.int(0, 4), out = Array.from({ length: r }, () => rng.int(1, 4));
        // each operand keeps a random suffix of the dims, with some dims set to 1
        const pick = () => out.slice(rng.int(0, r)).map((d) => (rng.next() < 0.3 ? 1 : d));
        const m = rng.int(1, 40), k = rng.int(1, 40), n = rng.int(1, 40);
        const ta = rng.next() < 0.5, tb = rng.next() < 0.5, batchA = pick(), batchB = pick();
        await checkBroadcast(rt, rng, pc, m, k, n, batchA, batchB, ta, tb, `${m}x${k}x${n} batchA [${batchA}] batchB [${batchB}]${ta ? ' tA' : ''}${tb ? ' tB' : ''}`);
      }
    },
  },
  {
    op: 'matmul',
    name: 'broadcast with a 0-size batch dim gives an empty result of the broadcast shape',
    async run({ rt, pc }) {
      const m = 3, k = 5, n = 2;
      for (const [batchA, batchB, shape] of [[[0, 3], [1, 3], '0,3'], [[0], [], '0'], [[2, 1], [0], '2,0'], [[0], [0], '0']] as const) {
        const a = new Float32Array((batchA as readonly number[]).reduce((x, y) => x * y, 1) * m * k);
        const b = new Float32Array((batchB as readonly number[]).reduce((x, y) => x * y, 1) * k * n);
        const c = await rt.matmul(a, b, { m, k, n, batchA, batchB });
        check(c instanceof Float32Array && c.length === 0, `[${batchA}] x [${batchB}]: ${c.length} values, expected none`);
        const ta = rt.tensor(a), t = rt.matmul(ta, b, { m, k, n, batchA, batchB });
        check(t.shape.join() === `${shape},${m},${n}` && t.size === 0 && (await t.read()).length === 0, `[${batchA}] x [${batchB}]: Tensor shape [${t.shape}]`);
        ta.dispose();
        t.dispose();
      }
      await expectRejects(() => rt.matmul(new Float32Array(0), new Float32Array(3 * k * n), { m, k, n, batchA: [0], batchB: [3] }), pc.ShapeError, '0 against 3');
    },
  },
  {
    op: 'matmul',
    name: 'batchA / batchB typed errors: both batch forms, incompatible dims, wrong lengths, bad dims',
    async run({ rt, pc }) {
      const m = 2, k = 3, n = 4, a = new Float32Array(6 * m * k), b = new Float32Array(3 * k * n);
      const ok = { m, k, n, batchA: [2, 3], batchB: [3] };
      check((await rt.matmul(a, b, ok)).length === 6 * m * n, 'the valid call');
      const both = await expectRejects(() => rt.matmul(a, b, { ...ok, batch: 6 }), pc.ArgumentError, 'batch with batchA / batchB');
      check(/batch/.test(both.message), `message: ${both.message}`);
      await expectRejects(() => rt.matmul(a, b, { m, k, n, batch: 3, batchB: [3] }), pc.ArgumentError, 'batch with batchB only');
      const inc = await expectRejects(() => rt.matmul(a, new Float32Array(2 * k * n), { ...ok, batchB: [2] }), pc.ShapeError, '[2, 3] vs [2]');
      check(/broadcast/.test(inc.message), `message should say the dims do not broadcast: ${inc.message}`);
      await expectRejects(() => rt.matmul(new Float32Array(4 * 3 * m * k), new Float32Array(2 * k * n), { m, k, n, batchA: [4, 3], batchB: [2, 1] }), pc.ShapeError, '[4, 3] vs [2, 1]');
      const len = await expectRejects(() => rt.matmul(a.subarray(1), b, ok), pc.ShapeError, 'a one short');
      check(/expected 36/.test(len.message), `message should name the expected length: ${len.message}`);
      await expectRejects(() => rt.matmul(a, b.subarray(0, k * n), ok), pc.ShapeError, 'b holds one matrix, batchB says 3');
      await expectRejects(() => rt.matmul(a, b, { m, k, n, batchA: [2, 3] }), pc.ShapeError, 'batchB omitted means one B matrix');
      await expectRejects(() => rt.matmul(a, b, { ...ok, batchA: 6 as unknown as number[] }), pc.ArgumentError, 'batchA not an array');
      await expectRejects(() => rt.matmul(a, b, { ...ok, batchA: [2, -3] }), pc.ArgumentError, 'negative dim');
      await expectRejects(() => rt.matmul(a, b, { ...ok, batchA: [2, 1.5] }), pc.ArgumentError, 'fractional dim');
      const t = rt.tensor(a);
      expectThrows(() => rt.matmul(t, b, { ...ok, batchB: [4] }), pc.ShapeError, 'Tensor call, incompatible dims');
      expectThrows(() => rt.matmul(t, b, { ...ok, batch: 6 }), pc.ArgumentError, 'Tensor call, both batch forms');
      t.dispose();
      // Over the output limit through broadcasting alone (inputs are tiny).
      await expectRejects(() => rt.matmul(new Float32Array(65536), new Float32Array(65536), { m: 1, k: 1, n: 1, batchA: [65536, 1], batchB: [65536] }), pc.LimitError, 'output over 2^31');
    },
  },
  {
    op: 'matmul',
    name: 'unknown option names are an ArgumentError naming them (matmul, tensor, createRuntime)',
    async run({ rt, pc }) {
      const a = new Float32Array(6), b = new Float32Array(12), ok = { m: 2, k: 3, n: 4 };
      const bad = (extra: Record<string, unknown>) => ({ ...ok, ...extra }) as unknown as { m: number; k: number; n: number };
      names(await expectRejects(() => rt.matmul(a, b, bad({ transposeB2: true })), pc.ArgumentError, 'matmul transposeB2'), 'transposeB2', 'matmul');
      names(await expectRejects(() => rt.matmul(a, b, bad({ batchs: [1] })), pc.ArgumentError, 'matmul batchs'), 'batchs', 'matmul');
      names(await expectRejects(() => rt.matmul(a, b, bad({ transposea: false })), pc.ArgumentError, 'matmul transposea'), 'transposea', 'matmul');
      const t = rt.tensor(a);
      names(expectThrows(() => rt.matmul(t, b, bad({ batch_a: [1] })), pc.ArgumentError, 'matmul (Tensor) batch_a'), 'batch_a', 'matmul (Tensor)');
      t.dispose();
      names(expectThrows(() => rt.tensor(a, { shape: [2, 3] } as unknown as number[]), pc.ArgumentError, 'tensor options object'), 'shape', 'tensor');
      names(await expectRejects(() => pc.createRuntime({ backend: 'wasm', poisonOutput: true } as unknown as PcRuntimeOptions), pc.ArgumentError, 'createRuntime poisonOutput'), 'poisonOutput', 'createRuntime');
      names(await expectRejects(() => pc.createRuntime({ backnd: 'wasm' } as unknown as PcRuntimeOptions), pc.ArgumentError, 'createRuntime backnd'), 'backnd', 'createRuntime');
    },
  },
];
