// SiLU-gated product on wasm: out[i] = silu(g[i]) * u[i], silu(x) = x / (1 + exp(-x)) (the MLP of
// Llama, Mistral and Qwen2). Scalar: wasm SIMD has no exp. exp(-x) overflows to +inf for x below
// about -88, and x / inf is -0, the limit of silu.

/** out = silu(g) * u over n values. */
export function siluMulF32(g: usize, u: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(g + o);
    store<f32>(out + o, x / (<f32>1 + Mathf.exp(-x)) * load<f32>(u + o));
  }
}
