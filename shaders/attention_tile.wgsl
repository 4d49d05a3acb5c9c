// Shared by attention_prefill.wgsl and attention_decode.wgsl (prepended to each): the workgroup tiles
// and the online-softmax step that folds one scored key tile into a row's running (max, sum, output).

const WG: u32 = 64u;
const SROW: u32 = 64u;          // score row stride (max BK)
const NEG: f32 = -3.0e38;       // running max before any visible key
const MASKED: f32 = -3.4e38;    // score of a key the row may not see

var<workgroup> Qs: array<vec4<f32>, 512>;  // [BQ][headDim / 4], scaled query rows
var<workgroup> Ks: array<vec4<f32>, 512>;  // [BK][headDim / 4]
var<workgroup> Vs: array<vec4<f32>, 512>;
var<workgroup> S: array<f32, 1024>;        // [BQ][SROW] scores, then probabilities

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

// Row r's scores S[r][0..n] are written. Every lane of the row reads them all for the row max; each
// lane turns its own keys' scores into probabilities in place (f32 elements: no two invocations write
// one location); then every lane folds the row's probabilities into the running sum `l` and its share
// of the output columns `acc` (column lane + u * lanes, u < 8), rescaled from the old max `m`.
// Must be called from uniform control flow (it holds barriers).
fn foldTile(r: u32, n: u32, lane: u32, lanes: u32, hd4: u32,
            m: ptr<function, f32>, l: ptr<function, f32>, acc: ptr<function, array<vec4<f32>, 8>>) {
  var mt = NEG;
  for (var jj = 0u; jj < n; jj++) { mt = max(mt, S[r * SROW + jj]); }
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
