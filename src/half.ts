// IEEE binary16 ("half", f16) bits <-> f32, on the host: for weights kept as f16 on the device (rt.packB's
// dtype 'f16') and for converting them to f32 where the backend has no f16 (wasm).

let table: Float32Array | undefined;

/** f32 value of every f16 bit pattern (exact: subnormals, infinities and NaN included), built once. */
export function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
    t[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  table = t;
  return t;
}

/** The f32 values of f16 bit patterns (exact: every f16 is an f32). */
export function halfToFloat(bits: Uint16Array): Float32Array {
  const t = halfTable(), out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/**
 * f16 bits of f32 values, rounded to nearest, ties to even (as a GPU's f32 -> f16 conversion and PyTorch's
 * `.half()`). NaN stays NaN (quiet), infinities stay infinite; a finite value that rounds past the largest
 * f16 (65504) becomes infinity: `onOverflow(index, value)` is called first and may throw.
 */
export function floatToHalf(x: Float32Array, onOverflow?: (index: number, value: number) => void): Uint16Array {
  const out = new Uint16Array(x.length);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const b = u[i], sign = (b >>> 16) & 0x8000, e = (b >>> 23) & 0xff, m = b & 0x7fffff;
    let h: number;
    if (e === 255) {
      h = 0x7c00 | (m ? 0x200 : 0);
    } else if (e >= 113) {
      // normal in f16 unless the exponent (or the rounding carry) runs past 30
      h = e >= 143 ? 0x7c00 : ((e - 112) << 10) | (m >>> 13);
      if (e < 143) {
        const rem = m & 0x1fff;
        if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
      }
      if (h === 0x7c00 && onOverflow) onOverflow(i, x[i]);
    } else if (e >= 102) {
      // subnormal in f16: value = mant * 2^(e - 150), in units of 2^-24 that is mant >> (126 - e)
      const mant = m | 0x800000, shift = 126 - e;
      h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
    } else {
      h = 0; // below half the smallest subnormal: rounds to (signed) zero
    }
    out[i] = sign | h;
  }
  return out;
}
