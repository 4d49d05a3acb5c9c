// KV-cache eviction kernels (wasm SIMD): the fused window-attention scoring pass, the value-norm
// pass, key norms, and a radix select on float bits with ties broken by index.
// All buffers are f32 (or u32) arrays in linear memory, row-major, allocated by the host.

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

/**
 * Fused window-attention scoring. For each query head h and each of the last R given query rows
 * (row i sits at position n - R + i and sees keys 0..n-R+i), computes the softmax over its visible
 * keys (or uses lse[h*nq + row] when haveLse), then over the scored columns j < C:
 *   out[0][g][j] = max over rows of pool(p)_j * b / sum(pool(p))   (mass-preserving pooled max)
 *   out[1][g][j] = sum over rows of pool(p)_j                      (avg-pool, zero pad, divide by ks)
 *   out[2][g][j] = sum over rows of p_j
 * and per row rowOut[(h*R+i)*3 + 0..2] = lse, b = sum_{j<C} p_j, scale = b / sum(pool(p)).
 * `scratch` holds n f32. Never builds the [Hq, R, n] tensor.
 */
export function kvWindowScores(q: usize, k: usize, lse: usize, rowOut: usize, out: usize, scratch: usize,
  hq: i32, hkv: i32, nq: i32, R: i32, n: i32, d: i32, C: i32, ks: i32, haveLse: i32): void {
  const g = hq / hkv;
  const inv = <f32>(1.0 / Math.sqrt(<f64>d));
  const half = ks >> 1;
  const plane = <usize>hkv * <usize>C;
  for (let x: usize = 0; x < plane * 3; x++) store<f32>(out + (x << 2), 0);
  for (let h = 0; h < hq; h++) {
    const kh = h / g;
    const kBase = k + ((<usize>kh * <usize>n * <usize>d) << 2);
    const oMax = out + ((<usize>kh * <usize>C) << 2);
    const oPool = oMax + (plane << 2);
    const oRaw = oPool + (plane << 2);
    for (let i = 0; i < R; i++) {
      const row = nq - R + i, pos = n - R + i;
      const qRow = q + ((<usize>(h * nq + row) * <usize>d) << 2);
      let m: f32 = -Infinity;
      for (let j = 0; j <= pos; j++) {
        const l = dot(qRow, kBase + ((<usize>j * <usize>d) << 2), d) * inv;
        store<f32>(scratch + (<usize>j << 2), l);
        if (l > m) m = l;
      }
      let z: f64;
      if (haveLse) {
        z = <f64>load<f32>(lse + (<usize>(h * nq + row) << 2));
      } else {
        let s: f64 = 0;
        for (let j = 0; j <= pos; j++) s += Math.exp(<f64>(load<f32>(scratch + (<usize>j << 2)) - m));
        z = <f64>m + Math.log(s);
      }
      let b: f64 = 0;
      const cv = C < pos + 1 ? C : pos + 1;
      for (let j = 0; j <= pos; j++) {
        const p = <f32>Math.exp(<f64>load<f32>(scratch + (<usize>j << 2)) - z);
        store<f32>(scratch + (<usize>j << 2), p);
        if (j < cv) b += <f64>p;
      }
      for (let j = pos + 1; j < C; j++) store<f32>(scratch + (<usize>j << 2), 0);
      // sum of the pooled row = sum_m p_m * (taps of m inside [0, C)) / ks; only boundary entries lose taps
      let lost: f64 = 0;
      for (let mm = 0; mm < C; mm++) {
        if (mm >= half && mm < C - half) {
          mm = C - half - 1;
          continue;
        }
        const lo = mm < half ? mm : half;
        const hi = C - 1 - mm < half ? C - 1 - mm : half;
        lost += <f64>load<f32>(scratch + (<usize>mm << 2)) * <f64>(ks - (lo + hi + 1));
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
        for (let u = a; u <= e; u++) s += load<f32>(scratch + (<usize>u << 2));
        const pooled = s * invK;
        const jo = <usize>j << 2;
        const sc = pooled * scale;
        if (sc > load<f32>(oMax + jo)) store<f32>(oMax + jo, sc);
        store<f32>(oPool + jo, load<f32>(oPool + jo) + pooled);
        store<f32>(oRaw + jo, load<f32>(oRaw + jo) + load<f32>(scratch + jo));
      }
    }
  }
}

/**
 * out[g*n + j] = mean over the group's query heads h of ||v[g, j, :] . wo[h*d .. h*d+d-1, :]||_1
 * (wo is [hq*d, D]); without wo (haveWo = 0) it is ||v[g, j, :]||_1.
 */
export function kvValueNorm(v: usize, wo: usize, out: usize, hq: i32, hkv: i32, n: i32, d: i32, D: i32, haveWo: i32): void {
  const g = hq / hkv;
  for (let kh = 0; kh < hkv; kh++) {
    for (let j = 0; j < n; j++) {
      const vr = v + ((<usize>(kh * n + j) * <usize>d) << 2);
      let acc: f64 = 0;
      if (!haveWo) {
        for (let t = 0; t < d; t++) acc += <f64>Mathf.abs(load<f32>(vr + (<usize>t << 2)));
      } else {
        for (let hh = 0; hh < g; hh++) {
          const h = kh * g + hh;
          const wBase = wo + ((<usize>(h * d) * <usize>D) << 2);
          let c = 0;
          for (; c + 4 <= D; c += 4) {
            let s = f32x4.splat(0);
            for (let t = 0; t < d; t++) {
              const vt = f32x4.splat(load<f32>(vr + (<usize>t << 2)));
              s = f32x4.add(s, f32x4.mul(vt, v128.load(wBase + ((<usize>(t * D + c)) << 2))));
            }
            s = f32x4.abs(s);
            acc += <f64>(f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
          }
          for (; c < D; c++) {
            let s: f32 = 0;
            for (let t = 0; t < d; t++) s += load<f32>(vr + (<usize>t << 2)) * load<f32>(wBase + ((<usize>(t * D + c)) << 2));
            acc += <f64>Mathf.abs(s);
          }
        }
        acc /= <f64>g;
      }
      store<f32>(out + (<usize>(kh * n + j) << 2), <f32>acc);
    }
  }
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
