// Hidden Chow-Liu tree (HCLT) probabilistic circuit over 8-bit pixels: evaluation, EM training,
// exact per-pixel conditionals and the rANS image codec.
//
// Model (one per wasm instance, in module globals): D pixels on a tree (parent[v], root has -1), every
// node v has a latent z_v with M states, a transition matrix T_v[j][k] = P(z_v = k | z_parent = j)
// (the root has a prior pi[k] instead) and emissions E_v[k][c] = P(x_v = c | z_v = k), c in 0..255.
// As a circuit: node v's vector is u_v[k] = E_v[k][x_v] * prod_children (T_c u_c)[k]; the root is one
// sum over M products. Marginalising pixel v sets its emission to 1 (rows sum to one).
//
// Coding order `ord` is a post-order of the tree (children before parents), stored with the model.
// Conditionals P(x_v | pixels coded so far) come from a DFS over the tree that touches each node
// twice per image: "enter" (outside message out_v = (out_p * acc_p) T_v) before the first pixel of v's
// subtree, and "commit" (acc_p *= T_v u_v) when v is coded. The next pixel's full 256-way PMF is then
// w = out_v * acc_v, pmf[c] = sum_k w[k] E_v[k][c]: one M x 256 pass, identical in encoder and decoder.
// All coding arithmetic is f32 wasm arithmetic in a fixed order, so every runtime gets the same tables.
import { PREC, MINFREQ, ransQueue, ransQueueEncode, ransQueueReserve, ransDecInit, ransDecSlot, ransDecAdvance, ransDecConsumed, ransDecDead } from "./rans";
import { zalloc } from "./mem";

const K: i32 = 256;

let D: i32 = 0;
let M: i32 = 0;
let root: i32 = 0;
let parentP: usize = 0; // i32[D]
let ordP: usize = 0; // i32[D]
let firstP: usize = 0; // i32[D]: first coding position in v's subtree
let piP: usize = 0; // f32[M]
let tP: usize = 0; // f32[D][M][M]
let eP: usize = 0; // f32[D][M][K]
// per-node vectors (f32[D][M])
let outP: usize = 0;
let accP: usize = 0;
let uP: usize = 0;
let mP: usize = 0;
let qP: usize = 0;
// scratch
let wP: usize = 0; // f32[M]
let rP: usize = 0; // f32[M]
let pmfP: usize = 0; // f32[K]
let cdfP: usize = 0; // u32[K+1]
let stackP: usize = 0; // i32[D]
// training flows
let fpiP: usize = 0;
let ftP: usize = 0;
let feP: usize = 0;

// @ts-ignore: decorator
@inline function vec(base: usize, v: i32): usize {
  return base + (<usize>(v * M) << 2);
}

// @ts-ignore: decorator
@inline function trow(v: i32): usize {
  return tP + (<usize>(v * M * M) << 2);
}

// @ts-ignore: decorator
@inline function erow(v: i32, k: i32): usize {
  return eP + (<usize>((v * M + k) * K) << 2);
}

/**
 * Sets up a model with `d` pixels and `m` latent states. Copies parent (i32[d], -1 for the root) and
 * ord (i32[d], a post-order of the tree) and allocates parameters and scratch. Returns 0, or a negative
 * code if the tree or the order is invalid (-1 sizes, -2 parents, -3 order).
 */
export function pcInit(d: i32, m: i32, parent: usize, ord: usize): i32 {
  if (d < 1 || d > 1 << 20 || m < 1 || m > 1024) return -1;
  D = d;
  M = m;
  parentP = zalloc(<usize>d << 2);
  ordP = zalloc(<usize>d << 2);
  firstP = zalloc(<usize>d << 2);
  memory.copy(parentP, parent, <usize>d << 2);
  memory.copy(ordP, ord, <usize>d << 2);
  // validate: exactly one root, parents in range
  root = -1;
  for (let v = 0; v < d; v++) {
    const p = load<i32>(parentP + (<usize>v << 2));
    if (p == -1) {
      if (root >= 0) return -2;
      root = v;
    } else if (p < 0 || p >= d || p == v) return -2;
  }
  if (root < 0) return -2;
  // validate ord: a permutation where every node comes after all its children, root last
  const pos = zalloc(<usize>d << 2);
  for (let v = 0; v < d; v++) store<i32>(pos + (<usize>v << 2), -1);
  for (let t = 0; t < d; t++) {
    const v = load<i32>(ordP + (<usize>t << 2));
    if (v < 0 || v >= d || load<i32>(pos + (<usize>v << 2)) >= 0) { heap.free(pos); return -3; }
    store<i32>(pos + (<usize>v << 2), t);
  }
  for (let v = 0; v < d; v++) {
    const p = load<i32>(parentP + (<usize>v << 2));
    if (p >= 0 && load<i32>(pos + (<usize>p << 2)) <= load<i32>(pos + (<usize>v << 2))) { heap.free(pos); return -3; }
  }
  heap.free(pos);
  // first coding position of each subtree; post-order => subtrees are contiguous
  for (let v = 0; v < d; v++) store<i32>(firstP + (<usize>v << 2), d);
  for (let t = 0; t < d; t++) {
    const v = load<i32>(ordP + (<usize>t << 2));
    let f = load<i32>(firstP + (<usize>v << 2));
    if (f > t) { f = t; store<i32>(firstP + (<usize>v << 2), t); }
    const p = load<i32>(parentP + (<usize>v << 2));
    if (p >= 0 && load<i32>(firstP + (<usize>p << 2)) > f) store<i32>(firstP + (<usize>p << 2), f);
  }
  // contiguity: the subtree of v must occupy exactly positions first[v]..pos[v] (a true post-order)
  const size = zalloc(<usize>d << 2);
  for (let t = 0; t < d; t++) {
    const v = load<i32>(ordP + (<usize>t << 2));
    const sz = load<i32>(size + (<usize>v << 2)) + 1;
    store<i32>(size + (<usize>v << 2), sz);
    if (t - load<i32>(firstP + (<usize>v << 2)) + 1 != sz) { heap.free(size); return -3; }
    const p = load<i32>(parentP + (<usize>v << 2));
    if (p >= 0) store<i32>(size + (<usize>p << 2), load<i32>(size + (<usize>p << 2)) + sz);
  }
  heap.free(size);
  piP = zalloc(<usize>m << 2);
  tP = zalloc(<usize>d * <usize>m * <usize>m << 2);
  eP = zalloc(<usize>d * <usize>m * <usize>K << 2);
  outP = zalloc(<usize>d * <usize>m << 2);
  accP = zalloc(<usize>d * <usize>m << 2);
  uP = zalloc(<usize>d * <usize>m << 2);
  mP = zalloc(<usize>d * <usize>m << 2);
  qP = zalloc(<usize>d * <usize>m << 2);
  wP = zalloc(<usize>m << 2);
  rP = zalloc(<usize>m << 2);
  pmfP = zalloc(<usize>K << 2);
  cdfP = zalloc(<usize>(K + 1) << 2);
  stackP = zalloc(<usize>d << 2);
  return 0;
}

/** Pointer to the root prior pi (f32[M]). */
export function pcPiPtr(): usize { return piP; }
/** Pointer to the transitions (f32[D][M][M], row j = parent state). */
export function pcTransPtr(): usize { return tP; }
/** Pointer to the emissions (f32[D][M][256]). */
export function pcEmitPtr(): usize { return eP; }
/** Pointer to the scratch PMF (f32[256]) written by pcPmf. */
export function pcPmfPtr(): usize { return pmfP; }
/** Pointer to the integer CDF (u32[257]) written by pcCdf. */
export function pcCdfPtr(): usize { return cdfP; }

// ---------------------------------------------------------------------------------------------
// small vector kernels (fixed summation order: SIMD lanes, then lanes 0..3, then the scalar tail)

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
  let s = hsum(acc);
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// y += alpha * x
function axpy(alpha: f32, x: usize, y: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = y + (<usize>i << 2);
    v128.store(p, f32x4.add(v128.load(p), f32x4.mul(va, v128.load(x + (<usize>i << 2)))));
  }
  for (; i < n; i++) {
    const p = y + (<usize>i << 2);
    store<f32>(p, load<f32>(p) + alpha * load<f32>(x + (<usize>i << 2)));
  }
}

function vsum(a: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = f32x4.add(acc, v128.load(a + (<usize>i << 2)));
  let s = hsum(acc);
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2));
  return s;
}

function vscale(a: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = a + (<usize>i << 2);
    v128.store(p, f32x4.mul(v128.load(p), vs));
  }
  for (; i < n; i++) {
    const p = a + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * s);
  }
}

function vfill(a: usize, x: f32, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(a + (<usize>i << 2), x);
}

// Normalises a vector to sum 1; an all-zero (or non-finite) vector becomes uniform.
function normalize(a: usize, n: i32): void {
  const s = vsum(a, n);
  if (s > 0 && s < Infinity) vscale(a, 1 / s, n);
  else vfill(a, 1 / <f32>n, n);
}

// Scales a vector by a power of two so that its sum lies in [1, 2); returns the exponent removed.
// Exact (no rounding), so the log-likelihood is sum(exponents) * ln 2 + log(final).
function pow2norm(a: usize, n: i32): i32 {
  const s = vsum(a, n);
  if (!(s > 0) || s == Infinity) return -1000000;
  const bits = reinterpret<u32>(s);
  let e = <i32>((bits >> 23) & 0xff) - 127;
  if (e == -127) {
    // subnormal sum: scale up by 2^64 first
    vscale(a, reinterpret<f32>(<u32>(127 + 64) << 23), n);
    return pow2norm(a, n) - 64;
  }
  if (e != 0) vscale(a, reinterpret<f32>(<u32>(127 - e) << 23), n);
  return e;
}

// ---------------------------------------------------------------------------------------------
// coding: the DFS conditional

// enter(v): out_v = normalize((out_p * acc_p) T_v) (pi for the root); acc_v = 1
function enter(v: i32): void {
  const o = vec(outP, v);
  if (v == root) {
    memory.copy(o, piP, <usize>M << 2);
  } else {
    const p = load<i32>(parentP + (<usize>v << 2));
    const op = vec(outP, p), ap = vec(accP, p);
    vfill(o, 0, M);
    const t = trow(v);
    for (let j = 0; j < M; j++) {
      const g = load<f32>(op + (<usize>j << 2)) * load<f32>(ap + (<usize>j << 2));
      axpy(g, t + (<usize>(j * M) << 2), o, M);
    }
  }
  normalize(o, M);
  vfill(vec(accP, v), 1, M);
}

// Enters every node whose subtree starts at coding position t, top-down.
function enterAt(t: i32): void {
  let v = load<i32>(ordP + (<usize>t << 2));
  let n = 0;
  while (load<i32>(firstP + (<usize>v << 2)) == t) {
    store<i32>(stackP + (<usize>n << 2), v);
    n++;
    if (v == root) break;
    v = load<i32>(parentP + (<usize>v << 2));
  }
  for (let i = n - 1; i >= 0; i--) enter(load<i32>(stackP + (<usize>i << 2)));
}

/**
 * Computes the PMF (f32[256], at pcPmfPtr, normalised to sum 1) of the pixel at coding position t,
 * given the pixels at positions < t committed with pcCommit. Returns the pixel index ord[t].
 */
export function pcPmf(t: i32): i32 {
  enterAt(t);
  const v = load<i32>(ordP + (<usize>t << 2));
  const o = vec(outP, v), a = vec(accP, v);
  for (let k = 0; k < M; k++) store<f32>(wP + (<usize>k << 2), load<f32>(o + (<usize>k << 2)) * load<f32>(a + (<usize>k << 2)));
  normalize(wP, M);
  // pmf[c] = sum_k w[k] E_v[k][c], 16 values at a time in registers (same operation order as an axpy per k)
  const rowBytes = <usize>K << 2;
  for (let c0 = 0; c0 < K; c0 += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let e = erow(v, 0) + (<usize>c0 << 2);
    for (let k = 0; k < M; k++) {
      const wk = f32x4.splat(load<f32>(wP + (<usize>k << 2)));
      a0 = f32x4.add(a0, f32x4.mul(wk, v128.load(e)));
      a1 = f32x4.add(a1, f32x4.mul(wk, v128.load(e, 16)));
      a2 = f32x4.add(a2, f32x4.mul(wk, v128.load(e, 32)));
      a3 = f32x4.add(a3, f32x4.mul(wk, v128.load(e, 48)));
      e += rowBytes;
    }
    const d = pmfP + (<usize>c0 << 2);
    v128.store(d, a0);
    v128.store(d, a1, 16);
    v128.store(d, a2, 32);
    v128.store(d, a3, 48);
  }
  normalize(pmfP, K);
  return v;
}

/**
 * Quantises the PMF at pcPmfPtr into an integer CDF (u32[257] at pcCdfPtr): every frequency >= MINFREQ
 * (16), cdf[256] = 2^PREC exactly. The one routine both the encoder and the decoder use.
 */
export function pcQuantizePmf(): void {
  const total: u32 = 1 << PREC;
  const budget: f64 = <f64>(total - <u32>K * MINFREQ);
  let s: f64 = 0;
  for (let c = 0; c < K; c++) s += <f64>load<f32>(pmfP + (<usize>c << 2));
  const scale: f64 = s > 0 && s < Infinity ? budget / s : 0;
  let sum: u32 = 0;
  let best = 0;
  let bestF: u32 = 0;
  // frequencies first into cdf[1..256]
  for (let c = 0; c < K; c++) {
    let f: u32 = MINFREQ;
    const x = <f64>load<f32>(pmfP + (<usize>c << 2)) * scale;
    if (x > 0) f += x >= budget ? <u32>budget : <u32>Math.floor(x);
    store<u32>(cdfP + (<usize>(c + 1) << 2), f);
    sum += f;
    if (f > bestF) { bestF = f; best = c; }
  }
  const pb = cdfP + (<usize>(best + 1) << 2);
  if (sum <= total) {
    store<u32>(pb, load<u32>(pb) + (total - sum));
  } else if (bestF >= sum - total + MINFREQ) {
    // rounding overshoot (a few units at most): take it from the most probable symbol
    store<u32>(pb, load<u32>(pb) - (sum - total));
  } else {
    for (let c = 0; c < K; c++) store<u32>(cdfP + (<usize>(c + 1) << 2), total / <u32>K);
  }
  store<u32>(cdfP, 0);
  for (let c = 1; c <= K; c++) {
    const p = cdfP + (<usize>c << 2);
    store<u32>(p, load<u32>(p) + load<u32>(p - 4));
  }
}

/** Integer CDF of the pixel at coding position t (pcPmf + pcQuantizePmf); returns the pixel index. */
export function pcCdf(t: i32): i32 {
  const v = pcPmf(t);
  pcQuantizePmf();
  return v;
}

/** Commits value x for the pixel at coding position t (after pcPmf/pcCdf for t). */
export function pcCommit(t: i32, x: i32): void {
  const v = load<i32>(ordP + (<usize>t << 2));
  if (v == root) return;
  const a = vec(accP, v), u = vec(uP, v), m = vec(mP, v);
  for (let k = 0; k < M; k++) store<f32>(u + (<usize>k << 2), load<f32>(erow(v, k) + (<usize>x << 2)) * load<f32>(a + (<usize>k << 2)));
  const t0 = trow(v);
  for (let j = 0; j < M; j++) store<f32>(m + (<usize>j << 2), dot(t0 + (<usize>(j * M) << 2), u, M));
  normalize(m, M);
  const p = load<i32>(parentP + (<usize>v << 2));
  const ap = vec(accP, p);
  for (let j = 0; j < M; j++) {
    const q = ap + (<usize>j << 2);
    store<f32>(q, load<f32>(q) * load<f32>(m + (<usize>j << 2)));
  }
  normalize(ap, M);
}

// @ts-ignore: decorator
@inline function findSymbol(slot: u32): i32 {
  // largest s with cdf[s] <= slot (cdf[0] = 0 <= slot < cdf[256])
  let lo = 0, hi = K;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (load<u32>(cdfP + (<usize>mid << 2)) <= slot) lo = mid; else hi = mid;
  }
  return lo;
}

/**
 * Encodes n images (u8[n][D], pixel order) into one rANS stream in dst (capacity cap bytes) with start
 * state x0. Returns the byte count, or -1 if cap is too small (3 * n * D + 16 always suffices).
 */
export function pcEncode(img: usize, n: i32, dst: usize, cap: i32, x0: u64): i32 {
  ransQueueReserve(n * D);
  let i = 0;
  for (let b = 0; b < n; b++) {
    const im = img + <usize>b * <usize>D;
    for (let t = 0; t < D; t++, i++) {
      const v = pcCdf(t);
      const x = <i32>load<u8>(im + <usize>v);
      const lo = load<u32>(cdfP + (<usize>x << 2));
      ransQueue(i, lo, load<u32>(cdfP + (<usize>(x + 1) << 2)) - lo);
      pcCommit(t, x);
    }
  }
  return ransQueueEncode(n * D, x0, dst, cap);
}

/** Ideal code length in bits of the image under the quantised tables (sum of -log2(freq / 2^PREC)). */
export function pcIdealBits(img: usize): f64 {
  let bits: f64 = 0;
  for (let t = 0; t < D; t++) {
    const v = pcCdf(t);
    const x = <i32>load<u8>(img + <usize>v);
    const f = load<u32>(cdfP + (<usize>(x + 1) << 2)) - load<u32>(cdfP + (<usize>x << 2));
    bits += <f64>PREC - Math.log2(<f64>f);
    pcCommit(t, x);
  }
  return bits;
}

/**
 * Decodes n images from len bytes at src into img (u8[n][D], pixel order); xmin is the smallest start
 * state the stream may have been coded from. Returns 0 when every byte was consumed (the caller then
 * checks ransDecState() against the start state it expects), -1 for a malformed stream, -2 if the stream
 * runs dry early or has bytes left (corrupt, truncated, or coded with another model).
 */
export function pcDecode(src: usize, len: i32, img: usize, n: i32, xmin: u64): i32 {
  if (ransDecInit(src, len) != 0) return -1;
  for (let b = 0; b < n; b++) {
    const im = img + <usize>b * <usize>D;
    for (let t = 0; t < D; t++) {
      const v = pcCdf(t);
      const s = findSymbol(ransDecSlot());
      const lo = load<u32>(cdfP + (<usize>s << 2));
      ransDecAdvance(lo, load<u32>(cdfP + (<usize>(s + 1) << 2)) - lo);
      store<u8>(im + <usize>v, <u8>s);
      if (ransDecDead(xmin)) return -2;
      pcCommit(t, s);
    }
  }
  return ransDecConsumed() ? 0 : -2;
}

// ---------------------------------------------------------------------------------------------
// likelihood and EM

// Upward pass for one image; fills u (normalised), m (unnormalised T u) per node.
// Returns log P(x) in nats.
function upward(img: usize): f64 {
  for (let i = 0; i < D * M; i++) store<f32>(accP + (<usize>i << 2), 1);
  let e: i64 = 0;
  for (let t = 0; t < D; t++) {
    const v = load<i32>(ordP + (<usize>t << 2));
    const x = <i32>load<u8>(img + <usize>v);
    const a = vec(accP, v), u = vec(uP, v);
    for (let k = 0; k < M; k++) store<f32>(u + (<usize>k << 2), load<f32>(erow(v, k) + (<usize>x << 2)) * load<f32>(a + (<usize>k << 2)));
    e += pow2norm(u, M);
    if (v == root) break;
    const m = vec(mP, v), t0 = trow(v);
    for (let j = 0; j < M; j++) store<f32>(m + (<usize>j << 2), dot(t0 + (<usize>(j * M) << 2), u, M));
    const p = load<i32>(parentP + (<usize>v << 2));
    const ap = vec(accP, p);
    for (let j = 0; j < M; j++) {
      const q = ap + (<usize>j << 2);
      store<f32>(q, load<f32>(q) * load<f32>(m + (<usize>j << 2)));
    }
    e += pow2norm(ap, M);
  }
  const z = dot(piP, vec(uP, root), M);
  return <f64>e * Math.LN2 + Math.log(<f64>z);
}

/** log P(image) in nats (image: u8[D] in pixel order). */
export function pcLogLik(img: usize): f64 {
  return upward(img);
}

/** Allocates (zeroed) EM flow accumulators. */
export function pcTrainInit(): void {
  fpiP = zalloc(<usize>M << 2);
  ftP = zalloc(<usize>D * <usize>M * <usize>M << 2);
  feP = zalloc(<usize>D * <usize>M * <usize>K << 2);
}

// E-step for one image: adds expected counts to the flows. Returns log P(x).
function estep(img: usize): f64 {
  const ll = upward(img);
  const ur = vec(uP, root), qr = vec(qP, root);
  for (let k = 0; k < M; k++) store<f32>(qr + (<usize>k << 2), load<f32>(piP + (<usize>k << 2)) * load<f32>(ur + (<usize>k << 2)));
  normalize(qr, M);
  axpy(1, qr, fpiP, M);
  const xr = <i32>load<u8>(img + <usize>root);
  for (let k = 0; k < M; k++) {
    const f = feP + (<usize>((root * M + k) * K + xr) << 2);
    store<f32>(f, load<f32>(f) + load<f32>(qr + (<usize>k << 2)));
  }
  for (let t = D - 2; t >= 0; t--) {
    const v = load<i32>(ordP + (<usize>t << 2));
    const p = load<i32>(parentP + (<usize>v << 2));
    const qp = vec(qP, p), m = vec(mP, v), u = vec(uP, v), q = vec(qP, v);
    for (let j = 0; j < M; j++) {
      const mj = load<f32>(m + (<usize>j << 2));
      store<f32>(rP + (<usize>j << 2), mj > 0 ? load<f32>(qp + (<usize>j << 2)) / mj : 0);
    }
    vfill(q, 0, M);
    const t0 = trow(v), f0 = ftP + (<usize>(v * M * M) << 2);
    // q_v[k] = u[k] * sum_j r[j] T[j][k];  F[j][k] += r[j] T[j][k] u[k]
    for (let j = 0; j < M; j++) {
      const rj = load<f32>(rP + (<usize>j << 2));
      if (rj == 0) continue;
      const tr = t0 + (<usize>(j * M) << 2), fr = f0 + (<usize>(j * M) << 2);
      const vr = f32x4.splat(rj);
      let k = 0;
      for (; k + 4 <= M; k += 4) {
        const o = <usize>k << 2;
        const g = f32x4.mul(vr, v128.load(tr + o));
        v128.store(q + o, f32x4.add(v128.load(q + o), g));
        v128.store(fr + o, f32x4.add(v128.load(fr + o), f32x4.mul(g, v128.load(u + o))));
      }
      for (; k < M; k++) {
        const o = <usize>k << 2;
        const g = rj * load<f32>(tr + o);
        store<f32>(q + o, load<f32>(q + o) + g);
        store<f32>(fr + o, load<f32>(fr + o) + g * load<f32>(u + o));
      }
    }
    for (let k = 0; k < M; k++) {
      const o = <usize>k << 2;
      store<f32>(q + o, load<f32>(q + o) * load<f32>(u + o));
    }
    const x = <i32>load<u8>(img + <usize>v);
    for (let k = 0; k < M; k++) {
      const f = feP + (<usize>((v * M + k) * K + x) << 2);
      store<f32>(f, load<f32>(f) + load<f32>(q + (<usize>k << 2)));
    }
  }
  return ll;
}

/**
 * E-step over a batch: images at data + idx[i] * D for i < n (idx: i32[n]). Adds flows; returns the
 * summed log-likelihood in nats.
 */
export function pcEstep(data: usize, idx: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const j = load<i32>(idx + (<usize>i << 2));
    s += estep(data + <usize>j * <usize>D);
  }
  return s;
}

/** Summed log-likelihood (nats) of n images at data (u8[n][D]). */
export function pcLogLikBatch(data: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += upward(data + <usize>i * <usize>D);
  return s;
}

// theta <- lambda theta + (1 - lambda) (F + alpha / n) / (sum F + alpha), then F <- 0
function mrow(theta: usize, f: usize, n: i32, lambda: f64, alpha: f64): void {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(f + (<usize>i << 2));
  const z = s + alpha, a = alpha / <f64>n;
  let tot: f64 = 0;
  for (let i = 0; i < n; i++) {
    const p = theta + (<usize>i << 2);
    const nv = lambda * <f64>load<f32>(p) + (1 - lambda) * ((<f64>load<f32>(f + (<usize>i << 2)) + a) / z);
    store<f32>(p, <f32>nv);
    tot += nv;
  }
  const inv = <f32>(1 / tot);
  vscale(theta, inv, n);
  memory.fill(f, 0, <usize>n << 2);
}

/** M-step with inertia lambda and pseudocount alpha; clears the flows. */
export function pcMstep(lambda: f64, alpha: f64): void {
  mrow(piP, fpiP, M, lambda, alpha);
  for (let v = 0; v < D; v++) {
    if (v != root) for (let j = 0; j < M; j++) mrow(trow(v) + (<usize>(j * M) << 2), ftP + (<usize>((v * M + j) * M) << 2), M, lambda, alpha);
    for (let k = 0; k < M; k++) mrow(erow(v, k), feP + (<usize>((v * M + k) * K) << 2), K, lambda, alpha);
  }
}

// ---------------------------------------------------------------------------------------------
// parameter quantisation: each probability as an 8-bit code q = round(-8 log2 p), clamped to 0..255;
// dequantised p = 2^(-q/8), then every distribution is renormalised (f64) and stored as f32.

// 2^(-i/8), i = 0..7 (f64 literals: exact and identical everywhere)
const FRAC: StaticArray<f64> = [
  1.0, 0.9170040432046712, 0.8408964152537145, 0.7711054127039704,
  0.7071067811865476, 0.6484197773255048, 0.5946035575013605, 0.5452538663326288,
];

function quantRow(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <f64>load<f32>(src + (<usize>i << 2));
    let q: f64 = p > 0 ? Math.round(-8 * Math.log2(p)) : 255;
    if (q < 0) q = 0;
    if (q > 255) q = 255;
    store<u8>(dst + <usize>i, <u8>q);
  }
}

function dequantRow(src: usize, dst: usize, n: i32): void {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) {
    const q = <i32>load<u8>(src + <usize>i);
    s += FRAC[q & 7] * reinterpret<f64>(<u64>(1023 - (q >> 3)) << 52);
  }
  for (let i = 0; i < n; i++) {
    const q = <i32>load<u8>(src + <usize>i);
    store<f32>(dst + (<usize>i << 2), <f32>(FRAC[q & 7] * reinterpret<f64>(<u64>(1023 - (q >> 3)) << 52) / s));
  }
}

/** Number of parameter codes: M + D*M*M + D*M*256 (the root's transition block is unused but kept). */
export function pcParamCount(): i32 {
  return M + D * M * M + D * M * K;
}

/** Writes the 8-bit codes of all parameters (pi, T, E in that order) to dst (u8[pcParamCount()]). */
export function pcQuantize(dst: usize): void {
  quantRow(piP, dst, M);
  quantRow(tP, dst + <usize>M, D * M * M);
  quantRow(eP, dst + <usize>(M + D * M * M), D * M * K);
}

/** Loads all parameters from 8-bit codes (the inverse of pcQuantize, renormalising every row). */
export function pcDequantize(src: usize): void {
  dequantRow(src, piP, M);
  const tb = src + <usize>M;
  for (let r = 0; r < D * M; r++) dequantRow(tb + <usize>(r * M), tP + (<usize>(r * M) << 2), M);
  const eb = src + <usize>(M + D * M * M);
  for (let r = 0; r < D * M; r++) dequantRow(eb + <usize>(r * K), eP + (<usize>(r * K) << 2), K);
}

// ---------------------------------------------------------------------------------------------
// structure learning: pairwise mutual information on 4-bit pixels, Laplace smoothing

/**
 * Pairwise MI (nats) between the d pixels of n images (data: u8[n][d], 8-bit; truncated to 4 bits
 * here) with pseudocount alpha spread as alpha/16 per single cell and alpha/256 per pair cell.
 * Writes f64[d][d] to out (diagonal 0). Standalone: needs no model.
 */
export function pcMutualInfo(data: usize, n: i32, d: i32, alpha: f64, out: usize): void {
  const cols = heap.alloc(<usize>n * <usize>d);
  for (let i = 0; i < n; i++) for (let v = 0; v < d; v++) {
    store<u8>(cols + <usize>v * <usize>n + <usize>i, load<u8>(data + <usize>i * <usize>d + <usize>v) >> 4);
  }
  const z = <f64>n + alpha;
  const logPair = heap.alloc(<usize>(n + 1) << 3);
  const logOne = heap.alloc(<usize>(n + 1) << 3);
  for (let c = 0; c <= n; c++) {
    store<f64>(logPair + (<usize>c << 3), Math.log((<f64>c + alpha / 256) / z));
    store<f64>(logOne + (<usize>c << 3), Math.log((<f64>c + alpha / 16) / z));
  }
  const single = heap.alloc(<usize>d * 16 * 4);
  memory.fill(single, 0, <usize>d * 64);
  for (let v = 0; v < d; v++) {
    const col = cols + <usize>v * <usize>n;
    for (let i = 0; i < n; i++) {
      const p = single + (<usize>(v * 16 + load<u8>(col + <usize>i)) << 2);
      store<i32>(p, load<i32>(p) + 1);
    }
  }
  const cnt = heap.alloc(256 * 4);
  for (let a = 0; a < d; a++) {
    store<f64>(out + (<usize>(a * d + a) << 3), 0);
    const ca = cols + <usize>a * <usize>n;
    for (let b = a + 1; b < d; b++) {
      const cb = cols + <usize>b * <usize>n;
      memory.fill(cnt, 0, 1024);
      for (let i = 0; i < n; i++) {
        const p = cnt + (<usize>((<i32>load<u8>(ca + <usize>i) << 4) | <i32>load<u8>(cb + <usize>i)) << 2);
        store<i32>(p, load<i32>(p) + 1);
      }
      let mi: f64 = 0;
      for (let x = 0; x < 16; x++) {
        const lx = load<f64>(logOne + (<usize>load<i32>(single + (<usize>(a * 16 + x) << 2)) << 3));
        for (let y = 0; y < 16; y++) {
          const c = load<i32>(cnt + (<usize>(x * 16 + y) << 2));
          const ly = load<f64>(logOne + (<usize>load<i32>(single + (<usize>(b * 16 + y) << 2)) << 3));
          const lp = load<f64>(logPair + (<usize>c << 3));
          mi += ((<f64>c + alpha / 256) / z) * (lp - lx - ly);
        }
      }
      store<f64>(out + (<usize>(a * d + b) << 3), mi);
      store<f64>(out + (<usize>(b * d + a) << 3), mi);
    }
  }
  heap.free(cnt);
  heap.free(single);
  heap.free(logOne);
  heap.free(logPair);
  heap.free(cols);
}
