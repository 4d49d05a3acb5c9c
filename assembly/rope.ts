// Rotary position embeddings on wasm SIMD.
//
// x and out are [batch][numHeads][seq][headDim] f32. Token (b, s) is rotated with row
// b * tableRows + s of the cos/sin tables ([rows][rotaryDim / 2], built on the host: the op file
// either gathers a user's cache at the tokens' positions or evaluates the angles in f64), so both
// backends read the very same cos/sin values. Pair i is (i, i + half) ("halves", GPT-NeoX/Llama) or
// (2i, 2i + 1) (interleaved, GPT-J); dims from rotaryDim on are copied unchanged.

/** Rotates the pairs (i, i + half) of one head vector, 4 pairs per SIMD step. */
function rotateHalves(src: usize, dst: usize, c: usize, s: usize, half: i32): void {
  const hb = <usize>half << 2;
  let i = 0;
  for (; i + 4 <= half; i += 4) {
    const o = <usize>i << 2;
    const x1 = v128.load(src + o), x2 = v128.load(src + o + hb);
    const cv = v128.load(c + o), sv = v128.load(s + o);
    v128.store(dst + o, f32x4.sub(f32x4.mul(x1, cv), f32x4.mul(x2, sv)));
    v128.store(dst + o + hb, f32x4.add(f32x4.mul(x2, cv), f32x4.mul(x1, sv)));
  }
  for (; i < half; i++) {
    const o = <usize>i << 2;
    const x1 = load<f32>(src + o), x2 = load<f32>(src + o + hb);
    const cv = load<f32>(c + o), sv = load<f32>(s + o);
    store<f32>(dst + o, x1 * cv - x2 * sv);
    store<f32>(dst + o + hb, x2 * cv + x1 * sv);
  }
}

/** Rotates the adjacent pairs (2i, 2i + 1) of one head vector, 4 pairs (8 values) per SIMD step. */
function rotatePairs(src: usize, dst: usize, c: usize, s: usize, half: i32): void {
  let i = 0;
  for (; i + 4 <= half; i += 4) {
    const p = <usize>i << 3;
    const a = v128.load(src + p), b = v128.load(src + p, 16);
    const x1 = v128.shuffle<f32>(a, b, 0, 2, 4, 6), x2 = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
    const cv = v128.load(c + (<usize>i << 2)), sv = v128.load(s + (<usize>i << 2));
    const y1 = f32x4.sub(f32x4.mul(x1, cv), f32x4.mul(x2, sv));
    const y2 = f32x4.add(f32x4.mul(x2, cv), f32x4.mul(x1, sv));
    v128.store(dst + p, v128.shuffle<f32>(y1, y2, 0, 4, 1, 5));
    v128.store(dst + p, v128.shuffle<f32>(y1, y2, 2, 6, 3, 7), 16);
  }
  for (; i < half; i++) {
    const p = <usize>i << 3, o = <usize>i << 2;
    const x1 = load<f32>(src + p), x2 = load<f32>(src + p, 4);
    const cv = load<f32>(c + o), sv = load<f32>(s + o);
    store<f32>(dst + p, x1 * cv - x2 * sv);
    store<f32>(dst + p, x2 * cv + x1 * sv, 4);
  }
}

/**
 * out = rope(x): x, out [batch][numHeads][seq][headDim]; cos/sin tables [rows][rotaryDim / 2] where
 * token (b, s) uses row b * tableRows + s (tableRows = 0 shares rows 0..seq-1 across the batch).
 * interleaved != 0 pairs (2i, 2i + 1), otherwise (i, i + rotaryDim / 2).
 */
export function ropeF32(x: usize, out: usize, cosT: usize, sinT: usize, batch: i32, numHeads: i32, seq: i32,
  headDim: i32, rotaryDim: i32, interleaved: i32, tableRows: i32): void {
  const half = rotaryDim >> 1;
  const rest = <usize>(headDim - rotaryDim) << 2;
  const rb = <usize>rotaryDim << 2;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < numHeads; h++) {
      for (let s = 0; s < seq; s++) {
        const row = (<usize>((b * numHeads + h) * seq + s) * <usize>headDim) << 2;
        const t = (<usize>(b * tableRows + s) * <usize>half) << 2;
        if (interleaved) rotatePairs(x + row, out + row, cosT + t, sinT + t, half);
        else rotateHalves(x + row, out + row, cosT + t, sinT + t, half);
        if (rest) memory.copy(out + row + rb, x + row + rb, rest);
      }
    }
  }
}
