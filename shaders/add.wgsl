// Element-wise add with a repeated second operand: Y[i] = A[i] + B[i % nB].
//
// B's length divides A's, so B is broadcast along A's leading dims (numpy broadcasting of a trailing
// shape: a bias [n] over rows [m][n], or a residual of A's own shape when nB = nA). One invocation per
// element; workgroups laid out 2-D (groupsX per row of the grid) so more than 65535 x 256 elements fit.

struct Params {
  total: u32,   // elements of A and Y
  nB: u32,      // elements of B (divides total)
  groupsX: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = (wid.y * P.groupsX + wid.x) * 256u + li;
  if (e >= P.total) { return; }
  Y[e] = A[e] + B[e % P.nB];
}
