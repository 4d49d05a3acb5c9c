// exp and log without lookup tables, for the kernels the thread pool runs.
//
// AssemblyScript's Math/Mathf exp and log (at -O3) read tables placed in active data segments. The pool's
// kernel module (assembly/threaded/index.ts) is instantiated once per thread on one shared memory, and an
// active segment is written at every instantiation, at an address its own compilation chose, which in the
// shared memory belongs to the main module's heap. So the kernels that run on the pool use these
// polynomial versions instead, in both builds (the single-thread module too), which keeps the pool's
// module free of data segments and gives 1 and N threads the same bits. scripts/build.mjs checks that
// build/pcpress-threads.wasm has no data section.

/**
 * exp on four f32 lanes: Cody-Waite range reduction, degree-7 polynomial (relative error < 1e-7),
 * exactly 0 below -87 (so exp(-inf) = 0), saturating above 88.
 */
// @ts-ignore: decorator
@inline
export function expv(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(-87.0));
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504089)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 5040.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  const e = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, e), under);
}

/** exp of one f32 (expv's lane 0). */
export function expf1(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

/** Natural log of one f32 (computed in f64, then rounded): 0 -> -inf, +inf -> +inf, < 0 or NaN -> NaN. */
export function logf1(x: f32): f32 {
  return <f32>logd(<f64>x);
}

const LN2_HI: f64 = 6.93147180369123816490e-01;
const LN2_LO: f64 = 1.90821492927058770002e-10;

/**
 * exp of an f64 without tables: x = n ln2 + r (|r| <= ln2 / 2), a degree-13 Taylor polynomial of e^r
 * (relative error ~1e-16), times 2^n; 0 below -745, +inf above 709.78.
 */
export function expd(x: f64): f64 {
  if (x != x) return x;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  const n = Math.round(x * 1.4426950408889634);
  const r = (x - n * LN2_HI) - n * LN2_LO;
  let p: f64 = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^n in two steps so n down to -1075 (subnormal results) and up to 1024 stay representable
  const ni = <i64>n;
  const h = ni >> 1;
  const s1 = reinterpret<f64>(<u64>(h + 1023) << 52);
  const s2 = reinterpret<f64>(<u64>(ni - h + 1023) << 52);
  return p * s1 * s2;
}

/**
 * Natural log of an f64 without tables: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
 * s = (m - 1) / (m + 1), |s| < 0.172, summed to s^25 (relative error ~1e-16).
 */
export function logd(x: f64): f64 {
  if (x != x || x < 0) return NaN;
  if (x == 0) return -Infinity;
  if (x == Infinity) return x;
  let e: i32 = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984.0; // 2^54: subnormals become normal
    e = -54;
  }
  const bits = reinterpret<u64>(x);
  e += <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1.0) / (m + 1.0);
  const z = s * s;
  let p: f64 = 1.0 / 25.0;
  p = p * z + 1.0 / 23.0;
  p = p * z + 1.0 / 21.0;
  p = p * z + 1.0 / 19.0;
  p = p * z + 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  p = p * z + 1.0;
  const fe = <f64>e;
  return fe * LN2_HI + (2.0 * s * p + fe * LN2_LO);
}
