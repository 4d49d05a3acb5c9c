// RMSNorm on wasm SIMD: y = h / sqrt(mean(h^2) + eps) * weight per row, h = x (+ residual).
//
// The sum of squares is blocked: two f32x4 accumulators take 256 values at a time (32 per lane),
// and the block sums are added into a third, so no single f32 running sum ever takes more than
// max(32, cols / 256) terms (cols 8192: 32 + 32 instead of 2048).

/** Sum of squares of n f32 values at p, in blocks of 256. */
function sumSquares(p: usize, n: i32): f32 {
  let outer = f32x4.splat(0);
  const n8 = n & ~7;
  let i = 0;
  while (i < n8) {
    const end = min(i + 256, n8);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (; i < end; i += 8) {
      const q = p + (<usize>i << 2);
      const v0 = v128.load(q), v1 = v128.load(q, 16);
      a0 = f32x4.add(a0, f32x4.mul(v0, v0));
      a1 = f32x4.add(a1, f32x4.mul(v1, v1));
    }
    outer = f32x4.add(outer, f32x4.add(a0, a1));
  }
  let tail: f32 = 0;
  for (; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    tail += v * v;
  }
  return (f32x4.extract_lane(outer, 0) + f32x4.extract_lane(outer, 1)) +
    (f32x4.extract_lane(outer, 2) + f32x4.extract_lane(outer, 3)) + tail;
}

/**
 * out[r] = h[r] / sqrt(mean(h[r]^2) + eps) * w for each of `rows` rows of `cols` values, where
 * h = x, or h = x + res (written to `sum`) when res != 0.
 */
export function rmsNormF32(x: usize, res: usize, w: usize, out: usize, sum: usize, rows: i32, cols: i32, eps: f32): void {
  const rowBytes = <usize>cols << 2;
  const n4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * rowBytes;
    let h = x + off;
    if (res) {
      const a = x + off, b = res + off, d = sum + off;
      let j = 0;
      for (; j < n4; j += 4) {
        const o = <usize>j << 2;
        v128.store(d + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
      }
      for (; j < cols; j++) {
        const o = <usize>j << 2;
        store<f32>(d + o, load<f32>(a + o) + load<f32>(b + o));
      }
      h = d;
    }
    const inv: f32 = <f32>1 / sqrt<f32>(sumSquares(h, cols) / <f32>cols + eps);
    const iv = f32x4.splat(inv);
    const y = out + off;
    let j = 0;
    for (; j < n4; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.mul(f32x4.mul(v128.load(h + o), iv), v128.load(w + o)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(h + o) * inv * load<f32>(w + o));
    }
  }
}
