// Attention on wasm SIMD: out = softmax(scale * Q K^T + mask) V, one pass, online softmax.
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
// Scratch (attentionScratchBytes): Qs [4][headDim] scaled queries, O [4][headDim] running
// outputs, S [BC][4] scores / probabilities (key-major, rows in lanes), 64 bytes of lane spill.

const BR: i32 = 4; // query rows per block (lanes)
const BC: i32 = 128; // keys per tile

/** Bytes of scratch memory attentionF32 needs for `headDim`. */
export function attentionScratchBytes(headDim: i32): i32 {
  return (2 * BR * headDim + BC * BR + 16) * 4;
}

// exp on four lanes: Cody-Waite range reduction, degree-7 polynomial (relative error < 1e-7),
// exactly 0 below -87 (so exp(-inf) = 0), saturating above 88.
// @ts-ignore: decorator
@inline
function expv(x: v128): v128 {
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
let gHd: i32 = 0;
let gQs: usize = 0;
let gO: usize = 0;
let gS: usize = 0;
let gSpill: usize = 0;
let gM: v128 = f32x4.splat(0);
let gL: v128 = f32x4.splat(0);
let gPQ: v128 = i32x4.splat(0);
let gMasked: bool = false;
let gCausal: bool = false;
let gWindow: i32 = 0;
let gSinks: i32 = 0;

// Scores of keys kp0 and kp1 against the four scaled query rows: two vectors, rows in lanes.
// @ts-ignore: decorator
@inline
function scores2(kp0: usize, kp1: usize, dst: usize): void {
  const hd = gHd;
  const q0 = gQs, q1 = gQs + (<usize>hd << 2), q2 = gQs + (<usize>hd << 3), q3 = gQs + (<usize>(3 * hd) << 2);
  let a00 = f32x4.splat(0), a10 = f32x4.splat(0), a20 = f32x4.splat(0), a30 = f32x4.splat(0);
  let a01 = f32x4.splat(0), a11 = f32x4.splat(0), a21 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let d = 0; d < hd; d += 4) {
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
  const o0 = gO, o1 = gO + rowBytes, o2 = gO + 2 * rowBytes, o3 = gO + 3 * rowBytes;
  const al0 = f32x4.splat(f32x4.extract_lane(alpha, 0)), al1 = f32x4.splat(f32x4.extract_lane(alpha, 1));
  const al2 = f32x4.splat(f32x4.extract_lane(alpha, 2)), al3 = f32x4.splat(f32x4.extract_lane(alpha, 3));
  const vrow = vb + <usize>j0 * rowBytes;
  let d = 0;
  for (; d + 8 <= hd; d += 8) {
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
  if (d < hd) {
    // headDim % 8 == 4: one last group of four columns.
    const off = <usize>d << 2;
    let x0 = f32x4.mul(v128.load(o0 + off), al0), x1 = f32x4.mul(v128.load(o1 + off), al1);
    let x2 = f32x4.mul(v128.load(o2 + off), al2), x3 = f32x4.mul(v128.load(o3 + off), al3);
    let vp = vrow + off, sp = S;
    for (let jj = 0; jj < n; jj++) {
      const va = v128.load(vp);
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
    for (let d = 0; d < hd; d += 4) {
      const o = <usize>d << 2;
      const qv = v128.load(gQs + o);
      a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(kp0 + o)));
      a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(kp1 + o)));
      a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(kp2 + o)));
      a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(kp3 + o)));
    }
    let sv = hsum4(a0, a1, a2, a3);
    // Lanes past n, and keys the row may not see, get -inf.
    const lane = i32x4(0, 1, 2, 3);
    let vis = i32x4.lt_s(lane, i32x4.splat(n - jj));
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
  let d = 0;
  for (; d + 16 <= hd; d += 16) {
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
    let x0 = f32x4.mul(v128.load(op), alpha);
    let vp = vrow + (<usize>d << 2), sp = S;
    for (let jj = 0; jj < n; jj++) {
      x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(sp), v128.load(vp)));
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

/**
 * Attention over a per-KV-head (offset, length) key/value layout. headDim must be a multiple of 4.
 * q, out: [numHeads][seqQ][headDim]; lse (0 = not wanted): [numHeads][seqQ].
 * k, v: flat [tokens][headDim]; meta: i32 offsets[numKvHeads] then lengths[numKvHeads] (tokens).
 * pos: i32 position of each token (same indexing as k), ascending within a head; 0 = identity.
 * Query i of every head sits at position qpos0 + i. causal: key visible only at positions <= the
 * query's; window > 0: only the last `window` positions (|distance| < window when not causal);
 * sinks: positions < sinks are visible despite the window. Rows that see no key get 0 and lse -inf.
 */
export function attentionF32(q: usize, k: usize, v: usize, out: usize, lse: usize,
  numHeads: i32, numKvHeads: i32, seqQ: i32, headDim: i32, meta: usize, pos: usize,
  qpos0: i32, scale: f32, causal: i32, window: i32, sinks: i32, scratch: usize): void {
  const hd = headDim;
  const rowBytes = <usize>hd << 2;
  gHd = hd;
  gQs = scratch;
  gO = scratch + 4 * rowBytes;
  gS = scratch + 8 * rowBytes;
  gSpill = gS + (<usize>(BC * BR) << 2);
  gCausal = causal != 0;
  gWindow = window;
  gSinks = sinks;
  gMasked = causal != 0 || window > 0;
  const G = numHeads / numKvHeads;
  const R = seqQ * G;
  const sc = f32x4.splat(scale);
  for (let g = 0; g < numKvHeads; g++) {
    const koff = load<i32>(meta + (<usize>g << 2));
    const len = load<i32>(meta + (<usize>(numKvHeads + g) << 2));
    const kb = k + <usize>koff * rowBytes;
    const vb = v + <usize>koff * rowBytes;
    const pb = pos != 0 ? pos + (<usize>koff << 2) : 0;
    for (let rb = 0; rb < R; rb += BR) {
      // Rows rb..rb+3 (position-major, head-minor); past the end repeat the last row.
      let lo = len, hi = 0, ns = 0;
      for (let r = 0; r < BR; r++) {
        const t = min(rb + r, R - 1);
        const i = t / G, h = g * G + t % G;
        const qrow = q + <usize>(h * seqQ + i) * rowBytes;
        const qs = gQs + <usize>r * rowBytes;
        for (let d = 0; d < hd; d += 4) {
          const o = <usize>d << 2;
          v128.store(qs + o, f32x4.mul(v128.load(qrow + o), sc));
        }
        memory.fill(gO + <usize>r * rowBytes, 0, rowBytes);
        const pq = qpos0 + i;
        store<i32>(gSpill + (<usize>r << 2), pq);
        // Visible index range of this row, and its sink prefix.
        let rlo = 0, rhi = len;
        if (causal != 0) rhi = lowerBound(pb, len, <i64>pq + 1);
        else if (window > 0) rhi = lowerBound(pb, len, <i64>pq + <i64>window);
        if (window > 0) rlo = lowerBound(pb, len, <i64>pq - <i64>window + 1);
        let rns = sinks > 0 ? lowerBound(pb, len, <i64>sinks) : 0;
        if (causal != 0 && rns > rhi) rns = rhi;
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
      range(kb, vb, pb, 0, min(ns, lo));
      range(kb, vb, pb, lo, max(hi, ns));
      // Normalise and write the real rows.
      v128.store(gSpill, gL);
      v128.store(gSpill, gM, 16);
      for (let r = 0; r < BR; r++) {
        const t = rb + r;
        if (t >= R) break;
        const i = t / G, h = g * G + t % G;
        const l = load<f32>(gSpill + (<usize>r << 2));
        const m = load<f32>(gSpill + 16 + (<usize>r << 2));
        const inv = f32x4.splat(l > 0 ? 1.0 / l : 0);
        const orow = out + <usize>(h * seqQ + i) * rowBytes;
        const src = gO + <usize>r * rowBytes;
        for (let d = 0; d < hd; d += 4) {
          const o = <usize>d << 2;
          v128.store(orow + o, f32x4.mul(v128.load(src + o), inv));
        }
        if (lse != 0) {
          store<f32>(lse + (<usize>(h * seqQ + i) << 2), l > 0 ? m + Mathf.log(l) : -Infinity);
        }
      }
    }
  }
}
