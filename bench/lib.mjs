// Shared benchmark helpers. Browser-safe (no Node imports): the WebGPU page imports this file too.

/** Deterministic PRNG (mulberry32) so Node and the browser page build the same inputs. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `len` values uniform in [-1, 1) from `seed`. */
export function randomF32(len, seed) {
  const r = rng(seed), a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = r() * 2 - 1;
  return a;
}

/** C = A x B in f64 (row-major A m x k, B k x n); the reference every measured result is checked against. */
export function refMatmulF64(a, b, m, k, n) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p], bp = p * n;
      if (av === 0) continue;
      for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
    }
  }
  return c;
}

/**
 * Error of `x` against `ref`: max_i |x_i - ref_i| / max_i |ref_i| (elementwise, scaled by the largest reference
 * magnitude). NaN/Infinity anywhere, or a length mismatch, gives Infinity.
 */
export function maxRelDiff(x, ref) {
  if (!x || x.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(x[i] - ref[i]);
    if (!(d <= Infinity) || !Number.isFinite(x[i])) return Infinity;
    if (d > num) num = d;
    const r = Math.abs(ref[i]);
    if (r > den) den = r;
  }
  return den === 0 ? num : num / den;
}

/** Median of numbers. */
export function median(xs) {
  const s = [...xs].sort((p, q) => p - q);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** GFLOP/s of an m x k x n matmul that took `ms` milliseconds. */
export function gflops(m, k, n, ms) {
  return (2 * m * k * n) / (ms * 1e6);
}

/**
 * Times several contenders on the same work, interleaved: each round runs every contender once per sample,
 * so machine noise (other processes on a shared box) hits all of them alike.
 * A contender is { name, fn } where `fn` runs the timed work once (may be async) and returns its result.
 * Each sample repeats `fn` `iters` times (calibrated so a sample lasts >= minSampleMs) and records ms per call.
 * Returns { [name]: { samples: number[] (ms per call), iters, medianMs, last } }.
 */
export async function timeInterleaved(contenders, { warmup = 2, samples = 7, minSampleMs = 25, maxIters = 1000 } = {}) {
  const out = {};
  for (const c of contenders) {
    // The fastest warm-up call sets the iteration count (the first call may compile or pack).
    let last, per = Infinity;
    for (let i = 0; i < Math.max(warmup, 1); i++) {
      const t0 = performance.now();
      last = await c.fn();
      per = Math.min(per, performance.now() - t0);
    }
    per = Math.max(per, 1e-3);
    const iters = Math.max(1, Math.min(maxIters, Math.ceil(minSampleMs / per)));
    out[c.name] = { samples: [], iters, medianMs: NaN, last };
  }
  for (let s = 0; s < samples; s++) {
    for (const c of contenders) {
      const o = out[c.name];
      const t0 = performance.now();
      for (let i = 0; i < o.iters; i++) o.last = await c.fn();
      o.samples.push((performance.now() - t0) / o.iters);
    }
  }
  for (const c of contenders) out[c.name].medianMs = median(out[c.name].samples);
  return out;
}

/** Formats a number for a table: 3 significant digits, or a dash. */
export function fmt(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000 || a < 1e-3) return x.toExponential(digits - 1);
  return x.toPrecision(digits);
}

/** Markdown table from a header row and rows of cells. */
export function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.map((c) => String(c)).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** [heads][S][D] -> [S][heads][D] (ORT's BSNH layout). */
export function toBSNH(x, heads, S, D) {
  const y = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let s = 0; s < S; s++) y.set(x.subarray((h * S + s) * D, (h * S + s + 1) * D), (s * heads + h) * D);
  return y;
}

/**
 * f64 causal attention of one query row against keys 0..pos: `qr` the query row (length D), `keyRow(j)` key j's row,
 * `valueAt(j)` value j's row offset in `v`, `logit(dot)` the score of a dot product (default dot / sqrt(D); softcap
 * and the like go here). Returns the output row (Float64Array of D). The benches' references all go through it.
 */
export function attentionRefRow(qr, keyRow, v, valueAt, D, pos, logit = (d) => d / Math.sqrt(D)) {
  const n = pos + 1, s = new Float64Array(n);
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const kr = keyRow(j);
    let d = 0;
    for (let x = 0; x < D; x++) d += qr[x] * kr[x];
    s[j] = logit(d);
    if (s[j] > m) m = s[j];
  }
  let l = 0;
  for (let j = 0; j < n; j++) l += (s[j] = Math.exp(s[j] - m));
  const out = new Float64Array(D);
  for (let j = 0; j < n; j++) {
    const w = s[j] / l, vr = valueAt(j);
    for (let x = 0; x < D; x++) out[x] += w * v[vr + x];
  }
  return out;
}
