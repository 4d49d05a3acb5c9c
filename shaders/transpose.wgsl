// Permutes the axes of a row-major f32 tensor of rank <= 4 (numpy's transpose): Y = X.transpose(perm).
//
// The host pads the shape to rank 4 with leading 1s and passes the output's dims and, for each output
// axis, the stride (in elements) of the input axis it comes from. One invocation per output element:
// its output coordinates are taken apart from the flat index and dotted with those strides. Workgroups
// are laid out 2-D (groupsX per row of the grid) so more than 65535 x 256 elements fit.

struct Params {
  dims: vec4<u32>,     // output dims (outermost first)
  strides: vec4<u32>,  // input stride of each output axis
  total: u32,
  groupsX: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = (wid.y * P.groupsX + wid.x) * 256u + li;
  if (e >= P.total) { return; }
  var rest = e;
  let c3 = rest % P.dims.w; rest = rest / P.dims.w;
  let c2 = rest % P.dims.z; rest = rest / P.dims.z;
  let c1 = rest % P.dims.y;
  let c0 = rest / P.dims.y;
  Y[e] = X[c0 * P.strides.x + c1 * P.strides.y + c2 * P.strides.z + c3 * P.strides.w];
}
