// Shared by attention_prefill.wgsl and attention_decode.wgsl (prepended to each): the workgroup tiles,
// the logit transforms (softcap, bias), the online-softmax step that folds one scored key tile into a
// row's running (max, sum, output), and the final step that adds the sink / smooth-softmax terms.
//
// A prelude (src/ops/attention_common.ts) fixes E, the element type of the q / k / v / output
// buffers: vec4<f32> when headDim % 4 == 0 (fast path), f32 otherwise (any headDim: rows are read
// element by element into zero-padded vec4 tiles of hd4 = ceil(headDim / 4) vectors).

const WG: u32 = 64u;
const SROW: u32 = 64u;          // score row stride (max BK)
const NEG: f32 = -3.0e38;       // running max before any visible key
const MASKED: f32 = -3.4e38;    // score of a key the row may not see

var<workgroup> Qs: array<vec4<f32>, 512>;  // [BQ][hd4], scaled query rows (zero-padded)
var<workgroup> Ks: array<vec4<f32>, 512>;  // [BK][hd4]
var<workgroup> Vs: array<vec4<f32>, 512>;
var<workgroup> S: array<f32, 1024>;        // [BQ][SROW] scores, then probabilities

// Vector c (values 4c .. 4c + 3, zero past headDim) of row `row` of Q, K or V (both kernels bind
// Q, K, V with element type E and have P.headDim and P.hd4; module-scope names resolve in any order).
fn ldQ(row: u32, c: u32) -> vec4<f32> {
  if (EW == 4u) { return vec4<f32>(Q[row * P.hd4 + c]); }
  let b = row * P.headDim + 4u * c;
  let n = P.headDim - 4u * c;
  var x = vec4<f32>(vec4<f32>(Q[b]).x, 0.0, 0.0, 0.0);
  if (n > 1u) { x.y = vec4<f32>(Q[b + 1u]).x; }
  if (n > 2u) { x.z = vec4<f32>(Q[b + 2u]).x; }
  if (n > 3u) { x.w = vec4<f32>(Q[b + 3u]).x; }
  return x;
}
fn ldK(row: u32, c: u32) -> vec4<f32> {
  if (EW == 4u) { return vec4<f32>(K[row * P.hd4 + c]); }
  let b = row * P.headDim + 4u * c;
  let n = P.headDim - 4u * c;
  var x = vec4<f32>(vec4<f32>(K[b]).x, 0.0, 0.0, 0.0);
  if (n > 1u) { x.y = vec4<f32>(K[b + 1u]).x; }
  if (n > 2u) { x.z = vec4<f32>(K[b + 2u]).x; }
  if (n > 3u) { x.w = vec4<f32>(K[b + 3u]).x; }
  return x;
}
fn ldV(row: u32, c: u32) -> vec4<f32> {
  if (EW == 4u) { return vec4<f32>(V[row * P.hd4 + c]); }
  let b = row * P.headDim + 4u * c;
  let n = P.headDim - 4u * c;
  var x = vec4<f32>(vec4<f32>(V[b]).x, 0.0, 0.0, 0.0);
  if (n > 1u) { x.y = vec4<f32>(V[b + 1u]).x; }
  if (n > 2u) { x.z = vec4<f32>(V[b + 2u]).x; }
  if (n > 3u) { x.w = vec4<f32>(V[b + 3u]).x; }
  return x;
}

// Mask of a query at position pq for the key at position p: causal (keys up to pq), a sliding window
// of `window` positions (0 = none; without causal, |pq - p| < window), and `sinks` leading keys that
// stay visible through the window.
fn keyVisible(pq: i32, p: i32, causal: bool, window: u32, sinks: u32) -> bool {
  let d = pq - p;
  var vis = !causal || d >= 0;
  if (window > 0u) {
    let w = i32(window);
    var inWin = d < w;
    if (!causal) { inWin = inWin && d > -w; }
    vis = vis && (inWin || p < i32(sinks));
  }
  return vis;
}

// A NaN score (NaN in q, k or a bias) or a +inf one (an overflowing dot product), tested on the bits:
// WGSL does not promise that comparisons or max() see a NaN. A row with one gets NaN output and lse,
// whether its keys are split into chunks or not (the wasm kernels do the same).
fn badScore(s: f32) -> bool {
  let b = bitcast<u32>(s);
  return (b & 0x7fffffffu) > 0x7f800000u || b == 0x7f800000u;
}

// A score at or below NEG (a -inf bias, a masked key) is masked; a NaN or +inf one is kept for badScore.
fn maskLow(s: f32) -> f32 {
  if (!(s > NEG) && !badScore(s)) { return MASKED; }
  return s;
}

// Row r's scores S[r][0..n] are written. Every lane of the row reads them all for the row max; each
// lane turns its own keys' scores into probabilities in place (f32 elements: no two invocations write
// one location); then every lane folds the row's probabilities into the running sum `l` and its share
// of the output columns `acc` (column lane + u * lanes, u < 8), rescaled from the old max `m`.
// Must be called from uniform control flow (it holds barriers).
// `bad` is set when a score is NaN or +inf (badScore): the row's output and lse are then NaN.
fn foldTile(r: u32, n: u32, lane: u32, lanes: u32, hd4: u32,
            m: ptr<function, f32>, l: ptr<function, f32>, acc: ptr<function, array<vec4<f32>, 8>>, bad: ptr<function, bool>) {
  var mt = NEG;
  for (var jj = 0u; jj < n; jj++) {
    let s = S[r * SROW + jj];
    if (badScore(s)) { *bad = true; }
    mt = max(mt, s);
  }
  let mNew = max(*m, mt);
  var alpha = 0.0;
  if (*m > NEG) { alpha = exp(*m - mNew); }
  *m = mNew;
  workgroupBarrier();
  for (var jj = lane; jj < n; jj += lanes) {
    let s = S[r * SROW + jj];
    var p = 0.0;
    if (s > NEG) { p = exp(s - mNew); }
    S[r * SROW + jj] = p;
  }
  workgroupBarrier();
  *l *= alpha;
  for (var u = 0u; u < 8u; u++) { (*acc)[u] *= alpha; }
  for (var jj = 0u; jj < n; jj++) {
    let p = S[r * SROW + jj];
    *l += p;
    for (var u = 0u; u < 8u; u++) {
      let col = lane + u * lanes;
      if (col < hd4) { (*acc)[u] += p * Vs[jj * hd4 + col]; }
    }
  }
}

// softcap * tanh(s / softcap). tanh by an odd Taylor polynomial below 0.3 (no cancellation near 0)
// and 1 - 2 / (e^2a + 1) above, with the exponent clamped so no infinity is formed.
fn softcapped(s: f32, cap: f32) -> f32 {
  let x = s / cap;
  let a = abs(x);
  var t: f32;
  if (a < 0.3) {
    let z = x * x;
    t = a * (1.0 + z * (-0.33333333 + z * (0.13333333 + z * (-0.053968254 + z * (0.021869489 + z * -0.0088632355)))));
  } else {
    t = 1.0 - 2.0 / (exp(min(2.0 * a, 80.0)) + 1.0);
  }
  return cap * select(t, -t, x < 0.0);
}

// Ends a row: folds the extra logits that join the denominator without a value (the head's sink
// logit, and 0 for smooth softmax) into the row's (max m, sum l). Returns (M, L, f): the final max,
// the denominator sum relative to M (lse = M + log L), and the factor that turns the running output
// (relative to m) into the normalised output.
fn finishRow(m: f32, l: f32, hasSink: bool, sink: f32, hasZero: bool) -> vec3<f32> {
  var M = NEG;
  if (l > 0.0) { M = m; }
  if (hasSink) { M = max(M, sink); }
  if (hasZero) { M = max(M, 0.0); }
  var L = 0.0;
  var a = 0.0;
  if (l > 0.0) { a = exp(m - M); L = l * a; }
  if (hasSink) { L += exp(sink - M); }
  if (hasZero) { L += exp(-M); }
  var f = 0.0;
  if (L > 0.0) { f = a / L; }
  return vec3<f32>(M, L, f);
}
