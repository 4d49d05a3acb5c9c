// Axis permutation (numpy's transpose) of a row-major f32 tensor of rank <= 4 on wasm.
//
// The op file pads the shape to rank 4 and passes the output's dims d0..d3 and, per output axis, the
// stride (in elements) of the input axis it reads. The innermost output axis is walked in a loop:
// with stride 1 (the last axis stays last, e.g. heads <-> tokens) rows are copied with SIMD.

/** out[c0][c1][c2][c3] = x[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3]. */
export function transposeF32(x: usize, out: usize, d0: i32, d1: i32, d2: i32, d3: i32,
  s0: i32, s1: i32, s2: i32, s3: i32): void {
  let y = out;
  const d34 = d3 & ~3;
  for (let c0 = 0; c0 < d0; c0++) {
    for (let c1 = 0; c1 < d1; c1++) {
      for (let c2 = 0; c2 < d2; c2++) {
        const src = x + ((<usize>(c0 * s0 + c1 * s1 + c2 * s2)) << 2);
        if (s3 == 1) {
          let j = 0;
          for (; j < d34; j += 4) v128.store(y + (<usize>j << 2), v128.load(src + (<usize>j << 2)));
          for (; j < d3; j++) store<f32>(y + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
        } else {
          for (let j = 0; j < d3; j++) store<f32>(y + (<usize>j << 2), load<f32>(src + (<usize>(j * s3) << 2)));
        }
        y += <usize>d3 << 2;
      }
    }
  }
}
