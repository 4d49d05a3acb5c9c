// KV-cache eviction kernels (wasm SIMD): the fused window-attention scoring pass, the value-norm
// pass, key norms, and a radix select on float bits with ties broken by index.
// All buffers are f32 (or u32) arrays in linear memory, row-major, allocated by the host.
import { matmulF32 } from "./matmul";
import { expd, logd } from "./mathx";

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, d: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let t = 0;
  for (; t + 8 <= d; t += 8) {
    const o = <usize>t << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o + 16), v128.load(b + o + 16)));
  }
  for (; t + 4 <= d; t += 4) {
    const o = <usize>t << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  acc0 = f32x4.add(acc0, acc1);
  let s = f32x4.extract_lane(acc0, 0) + f32x4.extract_lane(acc0, 1) + f32x4.extract_lane(acc0, 2) + f32x4.extract_lane(acc0, 3);
  for (; t < d; t++) s += load<f32>(a + (<usize>t << 2)) * load<f32>(b + (<usize>t << 2));
  return s;
}

// Four rows' dot products with one key: out[b * outStep] = (q_b . k) * inv.
// @ts-ignore: decorator
@inline function dot4(q0: usize, qStep: usize, kr: usize, d: i32, inv: f32, out: usize, outStep: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let t = 0;
  for (; t + 4 <= d; t += 4) {
    const o = <usize>t << 2;
    const kv = v128.load(kr + o);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(q0 + o), kv));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(q0 + qStep + o), kv));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(q0 + 2 * qStep + o), kv));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(q0 + 3 * qStep + o), kv));
  }
  let s0 = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1) + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
  let s1 = f32x4.extract_lane(a1, 0) + f32x4.extract_lane(a1, 1) + f32x4.extract_lane(a1, 2) + f32x4.extract_lane(a1, 3);
  let s2 = f32x4.extract_lane(a2, 0) + f32x4.extract_lane(a2, 1) + f32x4.extract_lane(a2, 2) + f32x4.extract_lane(a2, 3);
  let s3 = f32x4.extract_lane(a3, 0) + f32x4.extract_lane(a3, 1) + f32x4.extract_lane(a3, 2) + f32x4.extract_lane(a3, 3);
  for (; t < d; t++) {
    const o = <usize>t << 2;
    const kt = load<f32>(kr + o);
    s0 += load<f32>(q0 + o) * kt;
    s1 += load<f32>(q0 + qStep + o) * kt;
    s2 += load<f32>(q0 + 2 * qStep + o) * kt;
    s3 += load<f32>(q0 + 3 * qStep + o) * kt;
  }
  store<f32>(out, s0 * inv);
  store<f32>(out + outStep, s1 * inv);
  store<f32>(out + 2 * outStep, s2 * inv);
  store<f32>(out + 3 * outStep, s3 * inv);
}

// Argument block of kvScoreTasks / kvScoreCombine (i32 words).
const K_Q = 0, K_K = 1, K_LSE = 2, K_ROWOUT = 3, K_OUT = 4, K_PART = 5, K_SCRATCH = 6, K_HQ = 7, K_HKV = 8,
  K_NQ = 9, K_R = 10, K_N = 11, K_D = 12, K_C = 13, K_KS = 14, K_HAVELSE = 15;
/** Words of the kvScoreTasks argument block. */
export const KV_SCORE_ARGS: i32 = 16;

// @ts-ignore: decorator
@inline function karg(args: usize, i: i32): i32 {
  return load<i32>(args + (<usize>i << 2));
}

/**
 * Fused window-attention scoring, task by task: task t is query head t. For each of the last R given
 * query rows of head h (row i sits at position n - R + i and sees keys 0..n-R+i), computes the softmax
 * over its visible keys (or uses lse[h*nq + row] when haveLse), then over the scored columns j < C the
 * head's partial planes part[h][0..2][j]:
 *   [0] max over rows of pool(p)_j * b / sum(pool(p))   (mass-preserving pooled max)
 *   [1] sum over rows of pool(p)_j                      (avg-pool, zero pad, divide by ks)
 *   [2] sum over rows of p_j
 * and per row rowOut[(h*R+i)*3 + 0..2] = lse, b = sum_{j<C} p_j, scale = b / sum(pool(p)).
 * kvScoreCombine then folds the heads of each KV group in head order, so the result does not depend on
 * which thread ran which head. `slot` picks the caller's scratch: 4*n f32 at scratch + slot * 16n bytes
 * (logits of 4 rows at a time). Never builds the [Hq, R, n] tensor.
 * Argument block (KV_SCORE_ARGS words): q, k, lse, rowOut, out, part, scratch, hq, hkv, nq, R, n, d, C,
 * ks, haveLse.
 */
export function kvScoreTasks(args: usize, t0: i32, t1: i32, slot: i32): void {
  const q = <usize>karg(args, K_Q), k = <usize>karg(args, K_K), lse = <usize>karg(args, K_LSE);
  const rowOut = <usize>karg(args, K_ROWOUT), part = <usize>karg(args, K_PART);
  const hq = karg(args, K_HQ), hkv = karg(args, K_HKV), nq = karg(args, K_NQ), R = karg(args, K_R);
  const n = karg(args, K_N), d = karg(args, K_D), C = karg(args, K_C), ks = karg(args, K_KS), haveLse = karg(args, K_HAVELSE);
  const scratch = <usize>karg(args, K_SCRATCH) + (<usize>slot * <usize>n << 4);
  const g = hq / hkv;
  const inv = <f32>(1.0 / Math.sqrt(<f64>d));
  const half = ks >> 1;
  for (let h = t0; h < t1; h++) {
    const kh = h / g;
    const kBase = k + ((<usize>kh * <usize>n * <usize>d) << 2);
    const oMax = part + ((<usize>h * 3 * <usize>C) << 2);
    const oPool = oMax + (<usize>C << 2);
    const oRaw = oPool + (<usize>C << 2);
    memory.fill(oMax, 0, <usize>C * 12);
    for (let i0 = 0; i0 < R; i0 += 4) {
      // logits of up to 4 rows per pass over the keys (each key is loaded once for the block)
      const nb = R - i0 < 4 ? R - i0 : 4;
      const posMax = n - R + i0 + nb - 1;
      const q0 = q + ((<usize>(h * nq + nq - R + i0) * <usize>d) << 2);
      const qStep = <usize>d << 2;
      if (nb == 4) {
        for (let j = 0; j <= posMax; j++) dot4(q0, qStep, kBase + ((<usize>j * <usize>d) << 2), d, inv, scratch + (<usize>j << 2), <usize>n << 2);
      } else {
        for (let b = 0; b < nb; b++) {
          const qr = q0 + <usize>b * qStep;
          const sr = scratch + ((<usize>b * <usize>n) << 2);
          for (let j = 0; j <= posMax; j++) store<f32>(sr + (<usize>j << 2), dot(qr, kBase + ((<usize>j * <usize>d) << 2), d) * inv);
        }
      }
      for (let bi = 0; bi < nb; bi++) {
      const i = i0 + bi;
      const row = nq - R + i, pos = n - R + i;
      const scratchRow = scratch + ((<usize>bi * <usize>n) << 2);
      let m: f32 = -Infinity;
      for (let j = 0; j <= pos; j++) {
        const l = load<f32>(scratchRow + (<usize>j << 2));
        if (l > m) m = l;
      }
      let z: f64;
      let b: f64 = 0;
      const cv = C < pos + 1 ? C : pos + 1;
      if (haveLse) {
        z = <f64>load<f32>(lse + (<usize>(h * nq + row) << 2));
        for (let j = 0; j <= pos; j++) {
          const p = <f32>expd(<f64>load<f32>(scratchRow + (<usize>j << 2)) - z);
          store<f32>(scratchRow + (<usize>j << 2), p);
          if (j < cv) b += <f64>p;
        }
      } else {
        // one exp per entry: e_j = exp(l_j - max), then p_j = e_j / sum(e)
        let s: f64 = 0;
        for (let j = 0; j <= pos; j++) {
          const e = expd(<f64>(load<f32>(scratchRow + (<usize>j << 2)) - m));
          store<f32>(scratchRow + (<usize>j << 2), <f32>e);
          s += e;
        }
        z = <f64>m + logd(s);
        const invS = 1.0 / s;
        for (let j = 0; j <= pos; j++) {
          const p = <f32>(<f64>load<f32>(scratchRow + (<usize>j << 2)) * invS);
          store<f32>(scratchRow + (<usize>j << 2), p);
          if (j < cv) b += <f64>p;
        }
      }
      for (let j = pos + 1; j < C; j++) store<f32>(scratchRow + (<usize>j << 2), 0);
      // sum of the pooled row = sum_m p_m * (taps of m inside [0, C)) / ks; only boundary entries lose taps
      let lost: f64 = 0;
      for (let mm = 0; mm < C; mm++) {
        if (mm >= half && mm < C - half) {
          mm = C - half - 1;
          continue;
        }
        const lo = mm < half ? mm : half;
        const hi = C - 1 - mm < half ? C - 1 - mm : half;
        lost += <f64>load<f32>(scratchRow + (<usize>mm << 2)) * <f64>(ks - (lo + hi + 1));
      }
      const poolSum = b - lost / <f64>ks;
      const scale = poolSum > 0 ? <f32>(b / poolSum) : <f32>0;
      const ro = rowOut + (<usize>((h * R + i) * 3) << 2);
      store<f32>(ro, <f32>z);
      store<f32>(ro + 4, <f32>b);
      store<f32>(ro + 8, scale);
      const invK = <f32>(1.0 / <f64>ks);
      for (let j = 0; j < C; j++) {
        let s: f32 = 0;
        const a = j - half < 0 ? 0 : j - half;
        const e = j + half > C - 1 ? C - 1 : j + half;
        for (let u = a; u <= e; u++) s += load<f32>(scratchRow + (<usize>u << 2));
        const pooled = s * invK;
        const jo = <usize>j << 2;
        const sc = pooled * scale;
        if (sc > load<f32>(oMax + jo)) store<f32>(oMax + jo, sc);
        store<f32>(oPool + jo, load<f32>(oPool + jo) + pooled);
        store<f32>(oRaw + jo, load<f32>(oRaw + jo) + load<f32>(scratchRow + jo));
      }
      }
    }
  }
}


/**
 * out[0..2][g][j] (planes of hkv x C) from the heads' partial planes of kvScoreTasks: [0] the largest
 * (at least 0), [1] and [2] the sums, each over the group's query heads in head order.
 */
export function kvScoreCombine(args: usize): void {
  const out = <usize>karg(args, K_OUT), part = <usize>karg(args, K_PART);
  const hq = karg(args, K_HQ), hkv = karg(args, K_HKV), C = karg(args, K_C);
  const g = hq / hkv;
  const plane = <usize>hkv * <usize>C;
  for (let kh = 0; kh < hkv; kh++) {
    for (let j = 0; j < C; j++) {
      let mx: f32 = 0, pool: f32 = 0, raw: f32 = 0;
      for (let hh = 0; hh < g; hh++) {
        const p = part + ((<usize>((kh * g + hh) * 3) * <usize>C + <usize>j) << 2);
        const v = load<f32>(p);
        if (v > mx) mx = v;
        pool += load<f32>(p + (<usize>C << 2));
        raw += load<f32>(p + (<usize>C << 3));
      }
      const o = out + ((<usize>kh * <usize>C + <usize>j) << 2);
      store<f32>(o, mx);
      store<f32>(o + (plane << 2), pool);
      store<f32>(o + (plane << 3), raw);
    }
  }
}

const VN_ROWS = 64;

/**
 * out[g*n + j] = mean over the group's query heads h of ||v[g, j, :] . wo[h*d .. h*d+d-1, :]||_1
 * (wo is [hq*d, D]); without wo (haveWo = 0) it is ||v[g, j, :]||_1. With wo, blocks of 64 tokens
 * go through the SIMD matmul (v_block x W_o^(h)) into a scratch block, then an |.| row sum.
 */
export function kvValueNorm(v: usize, wo: usize, out: usize, hq: i32, hkv: i32, n: i32, d: i32, D: i32, haveWo: i32): void {
  const g = hq / hkv;
  if (!haveWo) {
    for (let r = 0; r < hkv * n; r++) {
      const vr = v + ((<usize>r * <usize>d) << 2);
      let acc: f64 = 0;
      for (let t = 0; t < d; t++) acc += <f64>Mathf.abs(load<f32>(vr + (<usize>t << 2)));
      store<f32>(out + (<usize>r << 2), <f32>acc);
    }
    return;
  }
  const tmp = heap.alloc(<usize>(VN_ROWS * D) << 2);
  const acc = heap.alloc(<usize>VN_ROWS << 3);
  for (let kh = 0; kh < hkv; kh++) {
    for (let j0 = 0; j0 < n; j0 += VN_ROWS) {
      const rows = min(VN_ROWS, n - j0);
      memory.fill(acc, 0, <usize>rows << 3);
      const vb = v + ((<usize>(kh * n + j0) * <usize>d) << 2);
      for (let hh = 0; hh < g; hh++) {
        const h = kh * g + hh;
        matmulF32(vb, wo + ((<usize>(h * d) * <usize>D) << 2), tmp, rows, d, D, 0, 0, 1, 0, 0, 0);
        for (let r = 0; r < rows; r++) {
          const tr = tmp + ((<usize>r * <usize>D) << 2);
          let s4 = f32x4.splat(0);
          let c = 0;
          for (; c + 4 <= D; c += 4) s4 = f32x4.add(s4, f32x4.abs(v128.load(tr + (<usize>c << 2))));
          let s = f32x4.extract_lane(s4, 0) + f32x4.extract_lane(s4, 1) + f32x4.extract_lane(s4, 2) + f32x4.extract_lane(s4, 3);
          for (; c < D; c++) s += Mathf.abs(load<f32>(tr + (<usize>c << 2)));
          const ap = acc + (<usize>r << 3);
          store<f64>(ap, load<f64>(ap) + <f64>s);
        }
      }
      for (let r = 0; r < rows; r++) store<f32>(out + (<usize>(kh * n + j0 + r) << 2), <f32>(load<f64>(acc + (<usize>r << 3)) / <f64>g));
    }
  }
  heap.free(acc);
  heap.free(tmp);
}

/** out[r] = -||k[r, :]||_2 for `rows` rows of length d. */
export function kvKeyNorm(k: usize, out: usize, rows: i32, d: i32): void {
  for (let r = 0; r < rows; r++) {
    const kr = k + ((<usize>r * <usize>d) << 2);
    let s: f64 = 0;
    for (let t = 0; t < d; t++) {
      const x = <f64>load<f32>(kr + (<usize>t << 2));
      s += x * x;
    }
    store<f32>(out + (<usize>r << 2), <f32>-Math.sqrt(s));
  }
}

// @ts-ignore: decorator
@inline function orderKey(bits: u32): u32 {
  if (bits == 0x80000000) bits = 0;
  return bits & 0x80000000 ? ~bits : bits | 0x80000000;
}

/**
 * Top-k per segment by radix select on float bits. Segment s covers flat entries
 * [segs[3s], segs[3s] + segs[3s+1]) and keeps segs[3s+2] entries: every pinned entry, then the
 * largest scores among the others, ties by lower index. keep[x] = 1 or 0 (u32). `hist` holds 256 u32.
 */
export function kvSelect(scores: usize, pinned: usize, keep: usize, segs: usize, nseg: i32, hist: usize): void {
  for (let sg = 0; sg < nseg; sg++) {
    const start = load<u32>(segs + (<usize>(sg * 3) << 2));
    const len = load<u32>(segs + (<usize>(sg * 3 + 1) << 2));
    const k = <i64>load<u32>(segs + (<usize>(sg * 3 + 2) << 2));
    let np: i64 = 0;
    for (let x = start; x < start + len; x++) np += <i64>load<u32>(pinned + (<usize>x << 2));
    const free = <i64>len - np;
    let need = k - np;
    if (need < 0) need = 0;
    let thr: u32 = 0xffffffff;
    let takeEq: i64 = 0;
    let all = false;
    if (need >= free) {
      all = true;
    } else if (need > 0) {
      let prefix: u32 = 0, mask: u32 = 0;
      let remaining = need;
      for (let shift = 24; shift >= 0; shift -= 8) {
        memory.fill(hist, 0, 1024);
        for (let x = start; x < start + len; x++) {
          if (load<u32>(pinned + (<usize>x << 2))) continue;
          const key = orderKey(load<u32>(scores + (<usize>x << 2)));
          if ((key & mask) != prefix) continue;
          const bin = (key >> shift) & 255;
          const hp = hist + (<usize>bin << 2);
          store<u32>(hp, load<u32>(hp) + 1);
        }
        let b = 255;
        for (; b > 0; b--) {
          const c = <i64>load<u32>(hist + (<usize>b << 2));
          if (c >= remaining) break;
          remaining -= c;
        }
        prefix |= <u32>b << shift;
        mask |= <u32>255 << shift;
      }
      thr = prefix;
      takeEq = remaining;
    }
    for (let x = start; x < start + len; x++) {
      let kp: u32 = load<u32>(pinned + (<usize>x << 2)) ? 1 : 0;
      if (!kp && all) kp = 1;
      else if (!kp && need > 0) {
        const key = orderKey(load<u32>(scores + (<usize>x << 2)));
        if (key > thr) kp = 1;
        else if (key == thr && takeEq > 0) {
          kp = 1;
          takeEq--;
        }
      }
      store<u32>(keep + (<usize>x << 2), kp);
    }
  }
}
