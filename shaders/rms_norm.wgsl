// RMSNorm: Y[r] = H[r] / sqrt(mean(H[r]^2) + eps) * W for rows of `cols` values, H = X, or
// H = X + R (also written out) with RESIDUAL.
//
// A workgroup of 256 invocations takes 256 / TPR rows, TPR invocations per row (TPR is picked so
// that each sums about 32 elements: 256 at cols 8192, 1 for rows of up to 32 values). Invocation
// `lane` of a row sums the squares of elements lane, lane + TPR, ..., then a tree reduction in
// workgroup memory adds the row's TPR partial sums, so no f32 running sum takes more than about
// 32 + log2(TPR) terms. Workgroups are laid out 2-D (groupsX per row of the grid) so that more
// than 65535 of them fit.

override TPR: u32 = 256u;         // invocations per row: a power of two, 1..256
override RESIDUAL: bool = false;  // add R first and write the sum to H

struct Params {
  rows: u32,
  cols: u32,
  groupsX: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> R: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> H: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;

var<workgroup> part: array<f32, 256>;

// Element i of X, with the residual added when there is one.
fn value(i: u32) -> f32 {
  var v = X[i];
  if (RESIDUAL) { v = v + R[i]; }
  return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let lane = li % TPR;
  let row = (wid.y * P.groupsX + wid.x) * (256u / TPR) + li / TPR;
  // Invocations past the last row take part in the barriers but touch no element.
  let n = select(0u, P.cols, row < P.rows);
  let base = row * P.cols;
  var acc = 0.0;
  for (var j = lane; j < n; j += TPR) {
    let v = value(base + j);
    if (RESIDUAL) { H[base + j] = v; }
    acc += v * v;
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(part[li - lane] / f32(P.cols) + P.eps);
  for (var j = lane; j < n; j += TPR) {
    Y[base + j] = (value(base + j) * inv) * W[j];
  }
}
