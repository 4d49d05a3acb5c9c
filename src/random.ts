// One seeded PRNG for the whole package (training, synthetic data, test inputs), so a seed means the same
// numbers everywhere.

/** mulberry32: a small seeded PRNG; returns a function giving uniforms in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
