// Attention on wasm SIMD: out = softmax(logits) V, one pass, online softmax, where a logit is
// scale * q.k, then softcap * tanh(. / softcap) (softcap > 0), then + bias, then the masks; the
// head's sink logit and, for smooth softmax, a zero logit join each row's denominator with no value.
//
// One kernel serves prefill and decode. Keys and values of KV head g live at token offset
// meta[g] with meta[numKvHeads + g] tokens (dense prefill: g * seqK and seqK; a compacted KV
// cache: its own offsets and lengths), optionally with each token's original position in
// `pos` (0 = the position is the token's index). The query rows of one KV head (every query
// position of every query head in its GQA group, position-major) are taken four at a time:
// the four rows are the four lanes of the score vectors, so each key and value row is loaded
// once per four query rows, softmax statistics are lane-wise, and the causal / window / sink
// mask is one vector compare per key. Keys are walked in tiles of BC with a running max and
// sum per row, so memory is O(rows x headDim + BC): no seqQ x seqK matrix ever exists.
//
// Any headDim: rows of q, k, v and out are headDim floats apart; the vector loops cover the
// multiple-of-4 part (all of it on the fast path, headDim % 4 == 0) and a last partial vector is
// read with zero-filling loads (never past the row's end). Scratch rows are padded to a multiple of 4.
//
// Scratch (attentionScratchBytes): Qs [4][hp] scaled queries, O [4][hp] running outputs
// (hp = headDim rounded up to 4), S [BC][4] scores / probabilities (key-major, rows in lanes),
// 64 bytes of lane spill.

import { expv, expf1, logf1 } from "./mathx";

const BR: i32 = 4; // query rows per block (lanes)
const BC: i32 = 128; // keys per tile

/** Bytes of scratch memory attentionF32 needs for `headDim`. */
export function attentionScratchBytes(headDim: i32): i32 {
  return (2 * BR * ((headDim + 3) & ~3) + BC * BR + 16) * 4;
}

// The n (1..3) floats at p in the low lanes, zeros above: never reads past p + 4n.
// @ts-ignore: decorator
@inline
function loadTail(p: usize, n: i32): v128 {
  if (n == 1) return v128.load32_zero(p);
  const v = v128.load64_zero(p);
  return n == 2 ? v : f32x4.replace_lane(v, 2, load<f32>(p, 8));
}

// softcap * tanh(s / softcap) on four lanes: an odd Taylor polynomial of tanh below 0.3, and
// 1 - 2 / (e^2a + 1) above (the exponent clamped at 80), the sign copied back.
// @ts-ignore: decorator
@inline
function softcapv(s: v128, cap: v128): v128 {
  const x = f32x4.div(s, cap);
  const a = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-0.0088632355);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.021869489));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-0.053968254));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.13333333));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-0.33333333));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.0));
  const small = f32x4.mul(a, p);
  const e = expv(f32x4.min(f32x4.add(a, a), f32x4.splat(80.0)));
  const large = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  const t = v128.bitselect(small, large, f32x4.lt(a, f32x4.splat(0.3)));
  return f32x4.mul(v128.or(t, v128.and(x, f32x4.splat(-0.0))), cap);
}

// First index in [0, len) whose position is >= value (positions ascending; pos == 0: identity).
function lowerBound(pos: usize, len: i32, value: i64): i32 {
  if (pos == 0) return value <= 0 ? 0 : (value >= <i64>len ? len : <i32>value);
  let lo = 0, hi = len;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (<i64>load<i32>(pos + (<usize>mid << 2)) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Horizontal sums of four vectors: [sum a0, sum a1, sum a2, sum a3].
// @ts-ignore: decorator
@inline
function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

// Module-level state of the block being processed (keeps the helpers' signatures short).
let gHd: i32 = 0;     // headDim: the row stride of q, k, v and out
let gHd4: i32 = 0;    // headDim & ~3: the part the vector loops cover
let gTail: i32 = 0;   // headDim & 3: floats in the last, partial vector
let gPad: usize = 0;  // bytes of a scratch row (headDim rounded up to 4)
let gSoftcap: f32 = 0;
let gHasBias: bool = false;
let gB0: usize = 0;   // bias rows (f32 per key) of the four lanes' query rows
let gB1: usize = 0;
let gB2: usize = 0;
let gB3: usize = 0;
let gQs: usize = 0;
let gO: usize = 0;
let gS: usize = 0;
let gSpill: usize = 0;
let gM: v128 = v128(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
let gL: v128 = v128(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
let gPQ: v128 = v128(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
let gMasked: bool = false;
let gCausal: bool = false;
let gWindow: i32 = 0;
let gSinks: i32 = 0;

// Scores of keys kp0 and kp1 against the four scaled query rows: two vectors, rows in lanes.
// @ts-ignore: decorator
@inline
function scores2(kp0: usize, kp1: usize, dst: usize): void {
  const hd4 = gHd4;
  const q0 = gQs, q1 = gQs + gPad, q2 = gQs + 2 * gPad, q3 = gQs + 3 * gPad;
  let a00 = f32x4.splat(0), a10 = f32x4.splat(0), a20 = f32x4.splat(0), a30 = f32x4.splat(0);
  let a01 = f32x4.splat(0), a11 = f32x4.splat(0), a21 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let d = 0; d < hd4; d += 4) {
    const o = <usize>d << 2;
    const k0 = v128.load(kp0 + o), k1 = v128.load(kp1 + o);
    let qv = v128.load(q0 + o);
    a00 = f32x4.add(a00, f32x4.mul(qv, k0)); a01 = f32x4.add(a01, f32x4.mul(qv, k1));
    qv = v128.load(q1 + o);
    a10 = f32x4.add(a10, f32x4.mul(qv, k0)); a11 = f32x4.add(a11, f32x4.mul(qv, k1));
    qv = v128.load(q2 + o);
    a20 = f32x4.add(a20, f32x4.mul(qv, k0)); a21 = f32x4.add(a21, f32x4.mul(qv, k1));
    qv = v128.load(q3 + o);
    a30 = f32x4.add(a30, f32x4.mul(qv, k0)); a31 = f32x4.add(a31, f32x4.mul(qv, k1));
  }
  if (gTail) {
    // General path: the last 1-3 values of the rows (the scaled queries are zero-padded).
    const o = <usize>hd4 << 2;
    const k0 = loadTail(kp0 + o, gTail), k1 = loadTail(kp1 + o, gTail);
    let qv = v128.load(q0 + o);
    a00 = f32x4.add(a00, f32x4.mul(qv, k0)); a01 = f32x4.add(a01, f32x4.mul(qv, k1));
    qv = v128.load(q1 + o);
    a10 = f32x4.add(a10, f32x4.mul(qv, k0)); a11 = f32x4.add(a11, f32x4.mul(qv, k1));
    qv = v128.load(q2 + o);
    a20 = f32x4.add(a20, f32x4.mul(qv, k0)); a21 = f32x4.add(a21, f32x4.mul(qv, k1));
    qv = v128.load(q3 + o);
    a30 = f32x4.add(a30, f32x4.mul(qv, k0)); a31 = f32x4.add(a31, f32x4.mul(qv, k1));
  }
  v128.store(dst, hsum4(a00, a10, a20, a30));
  v128.store(dst, hsum4(a01, a11, a21, a31), 16);
}

// Lanes (rows) that may see the key at position p.
// @ts-ignore: decorator
@inline
function visible(p: i32): v128 {
  const d = i32x4.sub(gPQ, i32x4.splat(p)); // query position - key position
  let vis = gCausal ? i32x4.ge_s(d, i32x4.splat(0)) : i32x4.splat(-1);
  if (gWindow > 0) {
    let inWin = i32x4.lt_s(d, i32x4.splat(gWindow));
    if (!gCausal) inWin = v128.and(inWin, i32x4.gt_s(d, i32x4.splat(-gWindow)));
    if (p < gSinks) inWin = i32x4.splat(-1);
    vis = v128.and(vis, inWin);
  }
  return vis;
}

// One tile of keys [j0, j0 + n): scores, mask, online-softmax update, O += P V.
function tile(kb: usize, vb: usize, pb: usize, j0: i32, n: i32): void {
  const hd = gHd;
  const rowBytes = <usize>hd << 2;
  const S = gS;
  // Scores, two keys at a time (an odd last key is paired with itself).
  for (let jj = 0; jj < n; jj += 2) {
    const kp0 = kb + <usize>(j0 + jj) * rowBytes;
    const kp1 = jj + 1 < n ? kp0 + rowBytes : kp0;
    if (jj + 1 < n) {
      scores2(kp0, kp1, S + (<usize>jj << 4));
    } else {
      scores2(kp0, kp1, gSpill);
      v128.store(S + (<usize>jj << 4), v128.load(gSpill));
    }
  }
  const NEG = f32x4.splat(-Infinity);
  if (gSoftcap > 0 || gHasBias) {
    const cap = f32x4.splat(gSoftcap);
    for (let jj = 0; jj < n; jj++) {
      const a = S + (<usize>jj << 4);
      let sv = v128.load(a);
      if (gSoftcap > 0) sv = softcapv(sv, cap);
      if (gHasBias) {
        const o = <usize>(j0 + jj) << 2;
        sv = f32x4.add(sv, f32x4(load<f32>(gB0 + o), load<f32>(gB1 + o), load<f32>(gB2 + o), load<f32>(gB3 + o)));
        // A logit at or below -3e38 (a -inf bias) is masked, as in the WGSL kernels.
        sv = v128.bitselect(sv, NEG, f32x4.gt(sv, f32x4.splat(-3.0e38)));
      }
      v128.store(a, sv);
    }
  }
  if (gMasked) {
    for (let jj = 0; jj < n; jj++) {
      const p = pb != 0 ? load<i32>(pb + (<usize>(j0 + jj) << 2)) : j0 + jj;
      const a = S + (<usize>jj << 4);
      v128.store(a, v128.bitselect(v128.load(a), NEG, visible(p)));
    }
  }
  // Running max and rescale factor.
  let mt = NEG;
  for (let jj = 0; jj < n; jj++) mt = f32x4.max(mt, v128.load(S + (<usize>jj << 4)));
  const mNew = f32x4.max(gM, mt);
  const mUse = v128.bitselect(f32x4.splat(0), mNew, f32x4.eq(mNew, NEG));
  const alpha = expv(f32x4.sub(gM, mUse));
  gM = mNew;
  let sum = f32x4.splat(0);
  for (let jj = 0; jj < n; jj++) {
    const a = S + (<usize>jj << 4);
    const p = expv(f32x4.sub(v128.load(a), mUse));
    v128.store(a, p);
    sum = f32x4.add(sum, p);
  }
  gL = f32x4.add(f32x4.mul(gL, alpha), sum);
  // O = O * alpha + P V, eight columns of the four rows in registers at a time.
  const hd4 = gHd4;
  const o0 = gO, o1 = gO + gPad, o2 = gO + 2 * gPad, o3 = gO + 3 * gPad;
  const al0 = f32x4.splat(f32x4.extract_lane(alpha, 0)), al1 = f32x4.splat(f32x4.extract_lane(alpha, 1));
  const al2 = f32x4.splat(f32x4.extract_lane(alpha, 2)), al3 = f32x4.splat(f32x4.extract_lane(alpha, 3));
  const vrow = vb + <usize>j0 * rowBytes;
  let d = 0;
  for (; d + 8 <= hd4; d += 8) {
    const off = <usize>d << 2;
    let x0 = f32x4.mul(v128.load(o0 + off), al0), y0 = f32x4.mul(v128.load(o0 + off, 16), al0);
    let x1 = f32x4.mul(v128.load(o1 + off), al1), y1 = f32x4.mul(v128.load(o1 + off, 16), al1);
    let x2 = f32x4.mul(v128.load(o2 + off), al2), y2 = f32x4.mul(v128.load(o2 + off, 16), al2);
    let x3 = f32x4.mul(v128.load(o3 + off), al3), y3 = f32x4.mul(v128.load(o3 + off, 16), al3);
    let vp = vrow + off, sp = S;
    for (let jj = 0; jj < n; jj++) {
      const va = v128.load(vp), vc = v128.load(vp, 16);
      let pv = v128.load32_splat(sp);
      x0 = f32x4.add(x0, f32x4.mul(pv, va)); y0 = f32x4.add(y0, f32x4.mul(pv, vc));
      pv = v128.load32_splat(sp, 4);
      x1 = f32x4.add(x1, f32x4.mul(pv, va)); y1 = f32x4.add(y1, f32x4.mul(pv, vc));
      pv = v128.load32_splat(sp, 8);
      x2 = f32x4.add(x2, f32x4.mul(pv, va)); y2 = f32x4.add(y2, f32x4.mul(pv, vc));
      pv = v128.load32_splat(sp, 12);
      x3 = f32x4.add(x3, f32x4.mul(pv, va)); y3 = f32x4.add(y3, f32x4.mul(pv, vc));
      vp += rowBytes;
      sp += 16;
    }
    v128.store(o0 + off, x0); v128.store(o0 + off, y0, 16);
    v128.store(o1 + off, x1); v128.store(o1 + off, y1, 16);
    v128.store(o2 + off, x2); v128.store(o2 + off, y2, 16);
    v128.store(o3 + off, x3); v128.store(o3 + off, y3, 16);
  }
  for (; d < hd; d += 4) {
    // A last group of four columns (headDim % 8 >= 4), then the partial one (headDim % 4 != 0).
    const off = <usize>d << 2;
    const tail = d + 4 > hd ? hd - d : 0;
    let x0 = f32x4.mul(v128.load(o0 + off), al0), x1 = f32x4.mul(v128.load(o1 + off), al1);
    let x2 = f32x4.mul(v128.load(o2 + off), al2), x3 = f32x4.mul(v128.load(o3 + off), al3);
    let vp = vrow + off, sp = S;
    for (let jj = 0; jj < n; jj++) {
      const va = tail ? loadTail(vp, tail) : v128.load(vp);
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(sp), va));
      x1 = f32x4.add(x1, f32x4.mul(v128.load32_splat(sp, 4), va));
      x2 = f32x4.add(x2, f32x4.mul(v128.load32_splat(sp, 8), va));
      x3 = f32x4.add(x3, f32x4.mul(v128.load32_splat(sp, 12), va));
      vp += rowBytes;
      sp += 16;
    }
    v128.store(o0 + off, x0); v128.store(o1 + off, x1);
    v128.store(o2 + off, x2); v128.store(o3 + off, x3);
  }
}

// A block with a single query row (multi-head decode: one row per KV head): keys in the lanes
// instead of rows, so no lane computes a padding row. Row state lives in lane 0 of gM / gL.
function tile1(kb: usize, vb: usize, pb: usize, j0: i32, n: i32): void {
  const hd = gHd;
  const rowBytes = <usize>hd << 2;
  const S = gS;
  const NEG = f32x4.splat(-Infinity);
  const pq = i32x4.splat(i32x4.extract_lane(gPQ, 0));
  const last = kb + <usize>(j0 + n - 1) * rowBytes;
  // Scores of four keys at a time, keys in lanes; past the tile's end the last key repeats (masked below).
  for (let jj = 0; jj < n; jj += 4) {
    const kp0 = kb + <usize>(j0 + jj) * rowBytes;
    const kp1 = jj + 1 < n ? kp0 + rowBytes : last;
    const kp2 = jj + 2 < n ? kp0 + 2 * rowBytes : last;
    const kp3 = jj + 3 < n ? kp0 + 3 * rowBytes : last;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    const hd4 = gHd4;
    for (let d = 0; d < hd4; d += 4) {
      const o = <usize>d << 2;
      const qv = v128.load(gQs + o);
      a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(kp0 + o)));
      a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(kp1 + o)));
      a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(kp2 + o)));
      a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(kp3 + o)));
    }
    if (gTail) {
      const o = <usize>hd4 << 2;
      const qv = v128.load(gQs + o);
      a0 = f32x4.add(a0, f32x4.mul(qv, loadTail(kp0 + o, gTail)));
      a1 = f32x4.add(a1, f32x4.mul(qv, loadTail(kp1 + o, gTail)));
      a2 = f32x4.add(a2, f32x4.mul(qv, loadTail(kp2 + o, gTail)));
      a3 = f32x4.add(a3, f32x4.mul(qv, loadTail(kp3 + o, gTail)));
    }
    let sv = hsum4(a0, a1, a2, a3);
    if (gSoftcap > 0) sv = softcapv(sv, f32x4.splat(gSoftcap));
    if (gHasBias) {
      const bp = gB0 + (<usize>(j0 + jj) << 2);
      let bv: v128;
      if (jj + 4 <= n) bv = v128.load(bp);
      else bv = loadTail(bp, n - jj);
      sv = f32x4.add(sv, bv);
    }
    // Lanes past n, and keys the row may not see, get -inf.
    const lane = i32x4(0, 1, 2, 3);
    let vis = i32x4.lt_s(lane, i32x4.splat(n - jj));
    if (gHasBias) vis = v128.and(vis, f32x4.gt(sv, f32x4.splat(-3.0e38)));
    if (gMasked) {
      const jv = i32x4.add(lane, i32x4.splat(j0 + jj));
      let pv = jv;
      if (pb != 0) {
        const pp = pb + (<usize>(j0 + jj) << 2);
        const pl = pb + (<usize>(j0 + n - 1) << 2);
        pv = i32x4(load<i32>(pp), load<i32>(jj + 1 < n ? pp + 4 : pl), load<i32>(jj + 2 < n ? pp + 8 : pl), load<i32>(jj + 3 < n ? pp + 12 : pl));
      }
      const dd = i32x4.sub(pq, pv);
      let m = gCausal ? i32x4.ge_s(dd, i32x4.splat(0)) : i32x4.splat(-1);
      if (gWindow > 0) {
        let inWin = i32x4.lt_s(dd, i32x4.splat(gWindow));
        if (!gCausal) inWin = v128.and(inWin, i32x4.gt_s(dd, i32x4.splat(-gWindow)));
        m = v128.and(m, v128.or(inWin, i32x4.lt_s(pv, i32x4.splat(gSinks))));
      }
      vis = v128.and(vis, m);
    }
    v128.store(S + (<usize>jj << 2), v128.bitselect(sv, NEG, vis));
  }
  const nv = (n + 3) & ~3;
  let mt = NEG;
  for (let jj = 0; jj < nv; jj += 4) mt = f32x4.max(mt, v128.load(S + (<usize>jj << 2)));
  mt = f32x4.max(mt, v128.shuffle<f32>(mt, mt, 2, 3, 0, 1));
  mt = f32x4.max(mt, v128.shuffle<f32>(mt, mt, 1, 0, 3, 2));
  const mNew = f32x4.max(gM, mt); // all lanes equal
  const mUse = v128.bitselect(f32x4.splat(0), mNew, f32x4.eq(mNew, NEG));
  const alpha = expv(f32x4.sub(gM, mUse));
  gM = mNew;
  let sum = f32x4.splat(0);
  for (let jj = 0; jj < nv; jj += 4) {
    const a = S + (<usize>jj << 2);
    const p = expv(f32x4.sub(v128.load(a), mUse));
    v128.store(a, p);
    sum = f32x4.add(sum, p);
  }
  sum = f32x4.add(sum, v128.shuffle<f32>(sum, sum, 2, 3, 0, 1));
  sum = f32x4.add(sum, v128.shuffle<f32>(sum, sum, 1, 0, 3, 2));
  gL = f32x4.add(f32x4.mul(gL, alpha), sum);
  // O = O * alpha + P V for the one row, 16 columns at a time.
  const vrow = vb + <usize>j0 * rowBytes;
  const hd4 = gHd4;
  let d = 0;
  for (; d + 16 <= hd4; d += 16) {
    const op = gO + (<usize>d << 2);
    let x0 = f32x4.mul(v128.load(op), alpha), x1 = f32x4.mul(v128.load(op, 16), alpha);
    let x2 = f32x4.mul(v128.load(op, 32), alpha), x3 = f32x4.mul(v128.load(op, 48), alpha);
    let vp = vrow + (<usize>d << 2), sp = S;
    for (let jj = 0; jj < n; jj++) {
      const pv = v128.load32_splat(sp);
      x0 = f32x4.add(x0, f32x4.mul(pv, v128.load(vp)));
      x1 = f32x4.add(x1, f32x4.mul(pv, v128.load(vp, 16)));
      x2 = f32x4.add(x2, f32x4.mul(pv, v128.load(vp, 32)));
      x3 = f32x4.add(x3, f32x4.mul(pv, v128.load(vp, 48)));
      vp += rowBytes;
      sp += 4;
    }
    v128.store(op, x0); v128.store(op, x1, 16); v128.store(op, x2, 32); v128.store(op, x3, 48);
  }
  for (; d < hd; d += 4) {
    const op = gO + (<usize>d << 2);
    const tail = d + 4 > hd ? hd - d : 0;
    let x0 = f32x4.mul(v128.load(op), alpha);
    let vp = vrow + (<usize>d << 2), sp = S;
    for (let jj = 0; jj < n; jj++) {
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(sp), tail ? loadTail(vp, tail) : v128.load(vp)));
      vp += rowBytes;
      sp += 4;
    }
    v128.store(op, x0);
  }
}

let gOneRow: bool = false;

function range(kb: usize, vb: usize, pb: usize, a: i32, b: i32): void {
  if (gOneRow) {
    for (let j0 = a; j0 < b; j0 += BC) tile1(kb, vb, pb, j0, min(BC, b - j0));
  } else {
    for (let j0 = a; j0 < b; j0 += BC) tile(kb, vb, pb, j0, min(BC, b - j0));
  }
}

// ---------------------------------------------------------------------------------------------
// The driver: a call is a list of tasks, each one KV head x one tile of its query rows x one chunk of
// its keys, so the thread pool can share them out. The partition is chosen by the host from the shapes
// alone (never from the thread count), every task is computed by the same code whoever runs it, and
// split-K partials are combined in chunk order: 1 and N threads give the same bits.

/** Words of the argument block (i32, scale as f32); see attentionTasks. */
export const ATTENTION_ARGS: i32 = 22;

// Argument block word indices.
const A_Q = 0, A_K = 1, A_V = 2, A_OUT = 3, A_LSE = 4, A_NH = 5, A_NKV = 6, A_SEQQ = 7, A_HD = 8, A_META = 9,
  A_POS = 10, A_QPOS0 = 11, A_SCALE = 12, A_CAUSAL = 13, A_WINDOW = 14, A_SINKS = 15, A_EXTRA = 16,
  A_ROWS = 17, A_TILES = 18, A_CHUNK = 19, A_NCH = 20, A_PART = 21;

// The call being run (set by setup from the argument block).
let cQ: usize = 0, cK: usize = 0, cV: usize = 0, cOut: usize = 0, cLse: usize = 0, cMeta: usize = 0, cPos: usize = 0;
let cNH: i32 = 0, cNKV: i32 = 0, cSeqQ: i32 = 0, cQpos0: i32 = 0, cG: i32 = 0, cR: i32 = 0;
let cScale: f32 = 0;
let cHasSink: bool = false, cSmooth: bool = false;
let cBiasPtr: usize = 0, cSinkPtr: usize = 0;
let cBHpb: i32 = 1, cBSB: i32 = 0, cBSH: i32 = 0, cBRow: i32 = 0, cSinkHeads: i32 = 1;
let cRows: i32 = 0, cTiles: i32 = 0, cChunk: i32 = 0, cNCh: i32 = 1;
let cPart: usize = 0;

// @ts-ignore: decorator
@inline
function arg(args: usize, i: i32): i32 {
  return load<i32>(args + (<usize>i << 2));
}

function setup(args: usize, scratch: usize): void {
  const hd = arg(args, A_HD);
  const pad = <usize>((hd + 3) & ~3) << 2;
  cQ = <usize>arg(args, A_Q); cK = <usize>arg(args, A_K); cV = <usize>arg(args, A_V);
  cOut = <usize>arg(args, A_OUT); cLse = <usize>arg(args, A_LSE);
  cNH = arg(args, A_NH); cNKV = arg(args, A_NKV); cSeqQ = arg(args, A_SEQQ);
  cMeta = <usize>arg(args, A_META); cPos = <usize>arg(args, A_POS); cQpos0 = arg(args, A_QPOS0);
  cScale = load<f32>(args + (<usize>A_SCALE << 2));
  const causal = arg(args, A_CAUSAL), window = arg(args, A_WINDOW);
  const extra = <usize>arg(args, A_EXTRA);
  cRows = arg(args, A_ROWS); cTiles = arg(args, A_TILES); cChunk = arg(args, A_CHUNK); cNCh = arg(args, A_NCH);
  cPart = <usize>arg(args, A_PART);
  cG = cNH / cNKV;
  cR = cSeqQ * cG;
  gHd = hd;
  gHd4 = hd & ~3;
  gTail = hd & 3;
  gPad = pad;
  gQs = scratch;
  gO = scratch + 4 * pad;
  gS = scratch + 8 * pad;
  gSpill = gS + (<usize>(BC * BR) << 2);
  const flags = extra != 0 ? load<i32>(extra, 4) : 0;
  gSoftcap = extra != 0 ? load<f32>(extra) : 0;
  gHasBias = (flags & 1) != 0;
  cHasSink = (flags & 2) != 0;
  cSmooth = (flags & 4) != 0;
  cBiasPtr = extra != 0 ? <usize>load<u32>(extra, 8) : 0;
  cBHpb = extra != 0 ? load<i32>(extra, 12) : 1;
  cBSB = extra != 0 ? load<i32>(extra, 16) : 0;
  cBSH = extra != 0 ? load<i32>(extra, 20) : 0;
  cBRow = extra != 0 ? load<i32>(extra, 24) : 0;
  cSinkPtr = extra != 0 ? <usize>load<u32>(extra, 28) : 0;
  cSinkHeads = extra != 0 ? load<i32>(extra, 32) : 1;
  gCausal = causal != 0;
  gWindow = window;
  gSinks = arg(args, A_SINKS);
  gMasked = causal != 0 || window > 0;
}

/** Bytes of one split-K partial row: the unnormalised output (headDim padded to 4), then max and sum, padded to 16. */
// @ts-ignore: decorator
@inline
function partBytes(): usize {
  return gPad + 16;
}

// Whether a row's (or a chunk's) softmax statistics are poisoned: the sum l is NaN or infinite, or the
// max m is NaN or +inf. Valid ones are l > 0 with m finite, or l == 0 (no visible key) with m == -inf.
// @ts-ignore: decorator
@inline
function badStats(l: f32, m: f32): bool {
  return !(l >= 0) || l == Infinity || m != m || m == Infinity;
}

// Writes output row (h, i) from its denominator l (over the keys), running max m and unnormalised
// output at src; the extra logits (the head's sink, smooth softmax's zero) join the denominator here.
// A NaN score (a NaN in q or k, or a bias) or a +inf one (an overflowing dot product) leaves the
// online softmax with a NaN sum (exp(inf - inf)); such a row's output and lse are NaN, on any partition
// (finish with one chunk, attentionCombine with several), never a finite value without that key.
function finish(h: i32, i: i32, l: f32, m: f32, src: usize): void {
  const hd = gHd, hd4 = gHd4;
  const rowBytes = <usize>hd << 2;
  if (badStats(l, m)) {
    const orow = cOut + <usize>(h * cSeqQ + i) * rowBytes;
    for (let d = 0; d < hd; d++) store<f32>(orow + (<usize>d << 2), NaN);
    if (cLse != 0) store<f32>(cLse + (<usize>(h * cSeqQ + i) << 2), NaN);
    return;
  }
  let M: f32 = l > 0 ? m : -Infinity;
  const sink: f32 = cHasSink ? load<f32>(cSinkPtr + (<usize>(h % cSinkHeads) << 2)) : 0;
  if (cHasSink) M = max(M, sink);
  if (cSmooth) M = max(M, <f32>0);
  let L: f32 = 0, a: f32 = 0;
  if (l > 0) {
    a = expf1(m - M);
    L = l * a;
  }
  if (cHasSink) L += expf1(sink - M);
  if (cSmooth) L += expf1(-M);
  const inv = f32x4.splat(L > 0 ? a / L : 0);
  const orow = cOut + <usize>(h * cSeqQ + i) * rowBytes;
  for (let d = 0; d < hd4; d += 4) {
    const o = <usize>d << 2;
    v128.store(orow + o, f32x4.mul(v128.load(src + o), inv));
  }
  for (let d = hd4; d < hd; d++) {
    store<f32>(orow + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) * f32x4.extract_lane(inv, 0));
  }
  if (cLse != 0) {
    store<f32>(cLse + (<usize>(h * cSeqQ + i) << 2), L > 0 ? M + logf1(L) : -Infinity);
  }
}

// Rows rb..rb+3 of KV head g (position-major, head-minor; past the end repeat the last row) over the
// keys [c0, c1) of the head; chunk c of cNCh (1: write the outputs, else the partials).
function block(g: i32, rb: i32, c0: i32, c1: i32, c: i32): void {
  const hd = gHd;
  const rowBytes = <usize>hd << 2;
  const pad = gPad;
  const G = cG, R = cR, seqQ = cSeqQ;
  const causal = gCausal, window = gWindow, sinks = gSinks;
  const koff = load<i32>(cMeta + (<usize>g << 2));
  const len = load<i32>(cMeta + (<usize>(cNKV + g) << 2));
  const kb = cK + <usize>koff * rowBytes;
  const vb = cV + <usize>koff * rowBytes;
  const pb = cPos != 0 ? cPos + (<usize>koff << 2) : 0;
  const sc = f32x4.splat(cScale);
  let lo = len, hi = 0, ns = 0;
  for (let r = 0; r < BR; r++) {
    const t = min(rb + r, R - 1);
    const i = t / G, h = g * G + t % G;
    const qrow = cQ + <usize>(h * seqQ + i) * rowBytes;
    const qs = gQs + <usize>r * pad;
    for (let d = 0; d < hd; d += 4) {
      const o = <usize>d << 2;
      const qv = d + 4 <= hd ? v128.load(qrow + o) : loadTail(qrow + o, hd - d);
      v128.store(qs + o, f32x4.mul(qv, sc));
    }
    memory.fill(gO + <usize>r * pad, 0, pad);
    const brow = cBiasPtr + (<usize>((h / cBHpb) * cBSB + (h % cBHpb) * cBSH + i * cBRow) << 2);
    if (r == 0) gB0 = brow;
    else if (r == 1) gB1 = brow;
    else if (r == 2) gB2 = brow;
    else gB3 = brow;
    const pq = cQpos0 + i;
    store<i32>(gSpill + (<usize>r << 2), pq);
    // Visible index range of this row, and its sink prefix.
    let rlo = 0, rhi = len;
    if (causal) rhi = lowerBound(pb, len, <i64>pq + 1);
    else if (window > 0) rhi = lowerBound(pb, len, <i64>pq + <i64>window);
    if (window > 0) rlo = lowerBound(pb, len, <i64>pq - <i64>window + 1);
    let rns = sinks > 0 ? lowerBound(pb, len, <i64>sinks) : 0;
    if (causal && rns > rhi) rns = rhi;
    if (rlo > rhi) rlo = rhi;
    lo = min(lo, rlo);
    hi = max(hi, rhi);
    ns = max(ns, rns);
  }
  gPQ = v128.load(gSpill);
  gOneRow = R - rb == 1;
  gM = f32x4.splat(-Infinity);
  gL = f32x4.splat(0);
  if (lo > hi) lo = hi;
  // The two visible ranges [0, min(ns, lo)) and [lo, max(hi, ns)), clipped to the chunk.
  const e1 = min(min(ns, lo), c1);
  if (c0 < e1) range(kb, vb, pb, c0, e1);
  const s2 = max(lo, c0), e2 = min(max(hi, ns), c1);
  if (s2 < e2) range(kb, vb, pb, s2, e2);
  v128.store(gSpill, gL);
  v128.store(gSpill, gM, 16);
  for (let r = 0; r < BR; r++) {
    const t = rb + r;
    if (t >= R) break;
    const i = t / G, h = g * G + t % G;
    const l = load<f32>(gSpill + (<usize>r << 2));
    const m = load<f32>(gSpill + 16 + (<usize>r << 2));
    const src = gO + <usize>r * pad;
    if (cNCh == 1) {
      finish(h, i, l, m, src);
    } else {
      const dst = cPart + (<usize>(h * seqQ + i) * <usize>cNCh + <usize>c) * partBytes();
      memory.copy(dst, src, pad);
      store<f32>(dst + pad, m);
      store<f32>(dst + pad, l, 4);
    }
  }
}

/**
 * Runs tasks [t0, t1) of the call described by the argument block `args` (ATTENTION_ARGS words):
 * q, k, v, out, lse (0 = not wanted), numHeads, numKvHeads, seqQ, headDim, meta, pos, qpos0, scale (f32),
 * causal, window, sinks, extra, then the partition: rows per task (a multiple of 4), row tiles per KV
 * head, keys per chunk (0 = one chunk), chunks, partials pointer (chunks > 1). Task t is KV head
 * t / (tiles x chunks), row tile (t / chunks) % tiles, key chunk t % chunks. With one chunk the tasks
 * write the outputs; with more they write partials, which attentionCombine turns into outputs.
 * `scratch`: attentionScratchBytes(headDim) bytes of the caller's own.
 *
 * Layouts and options (see also src/ops/attention.ts): q, out: [numHeads][seqQ][headDim]; lse:
 * [numHeads][seqQ]. k, v: flat [tokens][headDim]; meta: i32 offsets[numKvHeads] then lengths[numKvHeads].
 * pos: i32 position of each token, ascending within a head; 0 = identity. Query i of every head sits at
 * position qpos0 + i. causal: key visible only at positions <= the query's; window > 0: only the last
 * `window` positions (|distance| < window when not causal); sinks: positions < sinks are visible despite
 * the window. extra (0 = none): f32 softcap (0 = none), i32 flags (1 bias, 2 sink logits, 4 smooth
 * softmax), bias pointer, heads per bias batch entry, bias batch stride, bias head stride, bias row stride
 * (elements; key j of query row i of head h reads bias[(h / hpb) * sB + (h % hpb) * sH + i * row + j],
 * j the token's index in its head), sink pointer (f32 per head; head h reads sink[h % sinkHeads]),
 * sinkHeads. A row's lse is the log of its whole denominator (sink and smooth terms included); rows
 * whose denominator is empty get 0 and lse -inf; rows that see a NaN or +inf logit get NaN (out and lse).
 */
export function attentionTasks(args: usize, t0: i32, t1: i32, scratch: usize): void {
  setup(args, scratch);
  for (let t = t0; t < t1; t++) {
    const c = t % cNCh;
    const tile = (t / cNCh) % cTiles;
    const g = t / (cNCh * cTiles);
    const r0 = tile * cRows, r1 = min(cR, r0 + cRows);
    const len = load<i32>(cMeta + (<usize>(cNKV + g) << 2));
    let c0 = 0, c1 = len;
    if (cNCh > 1) {
      c0 = min(len, c * cChunk);
      c1 = min(len, c0 + cChunk);
    }
    for (let rb = r0; rb < r1; rb += BR) block(g, rb, c0, c1, c);
  }
}

/** Output rows per task of the thread pool's combine (src/ops/attention.ts COMBINE_ROWS; the last task may have fewer). */
export const ATTENTION_COMBINE_ROWS: i32 = 16;

/**
 * Output rows [r0, r1) of numHeads x seqQ from the split-K partials of attentionTasks: the chunks'
 * maxima, sums and outputs combined in chunk order, then finished as with one chunk. r1 is clamped to
 * numHeads x seqQ: a pool task covers ATTENTION_COMBINE_ROWS rows, and the last one may run past the
 * end (68 rows = 4 full tasks and one of 4), where it would read past the partials and write past out
 * and lse.
 */
export function attentionCombine(args: usize, r0: i32, r1: i32, scratch: usize): void {
  setup(args, scratch);
  r1 = min(r1, cNH * cSeqQ);
  const pad = gPad, pb = partBytes(), nch = cNCh;
  const acc = gO;
  for (let row = r0; row < r1; row++) {
    const h = row / cSeqQ, i = row % cSeqQ;
    const base = cPart + <usize>row * <usize>nch * pb;
    let M: f32 = -Infinity;
    let bad = false;
    for (let c = 0; c < nch; c++) {
      const p = base + <usize>c * pb + pad;
      const l = load<f32>(p, 4), m = load<f32>(p);
      if (badStats(l, m)) bad = true; // a NaN / +inf score in this chunk: the row is NaN, as unsplit
      else if (l > 0) M = max(M, m);
    }
    if (bad) {
      finish(h, i, NaN, NaN, acc);
      continue;
    }
    memory.fill(acc, 0, pad);
    let L: f32 = 0;
    if (M != -Infinity) {
      for (let c = 0; c < nch; c++) {
        const p = base + <usize>c * pb;
        const l = load<f32>(p + pad, 4);
        if (!(l > 0)) continue;
        const w = expf1(load<f32>(p + pad) - M);
        L += l * w;
        const wv = f32x4.splat(w);
        for (let o: usize = 0; o < pad; o += 16) v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.mul(v128.load(p + o), wv)));
      }
    }
    finish(h, i, L, M, acc);
  }
}
