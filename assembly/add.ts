// Element-wise add on wasm SIMD with a repeated second operand: out[i] = a[i] + b[i % nb].
//
// nb divides n (checked by the op file), so a is walked as n / nb rows of nb values and b is added to
// each row: a residual add when nb = n, a bias [nb] over rows otherwise.

/** out = a + b, b (nb values) repeated over the n values of a. */
export function addF32(a: usize, b: usize, out: usize, n: i32, nb: i32): void {
  const rows = n / nb;
  const nb4 = nb & ~3;
  const rowBytes = <usize>nb << 2;
  for (let r = 0; r < rows; r++) {
    const ar = a + <usize>r * rowBytes, yr = out + <usize>r * rowBytes;
    let j = 0;
    for (; j < nb4; j += 4) {
      const o = <usize>j << 2;
      v128.store(yr + o, f32x4.add(v128.load(ar + o), v128.load(b + o)));
    }
    for (; j < nb; j++) {
      const o = <usize>j << 2;
      store<f32>(yr + o, load<f32>(ar + o) + load<f32>(b + o));
    }
  }
}
