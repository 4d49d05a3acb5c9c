// RMSNorm: Y[r] = H[r] / sqrt(mean(H[r]^2) + eps) * W, one workgroup per row of `cols` values,
// H = X, or H = X + R (also written out) with RESIDUAL.
//
// Each invocation sums the squares of the elements li, li + WG, ... (cols / WG of them, 32 at
// cols 8192 and WG 256), then a tree reduction in workgroup memory adds the WG partial sums, so no
// f32 running sum takes more than cols / WG + log2(WG) terms. Rows are laid out 2-D (groupsX per
// row of the grid) so more than 65535 rows fit.

override WG: u32 = 256u;          // invocations per workgroup, a power of two <= 256
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

// Element j of row `base`, with the residual added when there is one.
fn value(base: u32, j: u32) -> f32 {
  var v = X[base + j];
  if (RESIDUAL) { v = v + R[base + j]; }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.y * P.groupsX + wid.x;
  if (row >= P.rows) { return; }
  let base = row * P.cols;
  var acc = 0.0;
  for (var j = li; j < P.cols; j += WG) {
    let v = value(base, j);
    if (RESIDUAL) { H[base + j] = v; }
    acc += v * v;
  }
  part[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { part[li] += part[li + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(part[0] / f32(P.cols) + P.eps);
  for (var j = li; j < P.cols; j += WG) {
    Y[base + j] = (value(base, j) * inv) * W[j];
  }
}
