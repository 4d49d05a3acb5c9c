// Rotary position embeddings: Y = rope(X), X and Y [batch][numHeads][seq][headDim] f32.
//
// One invocation per output element. Token (b, s) reads row b * tableRows + s of the cos/sin tables
// ([rows][rotaryDim / 2], built on the host, so wasm and WebGPU use the same values; tableRows 0
// shares rows 0..seq-1 across the batch). Pair i is (i, i + half), or (2i, 2i + 1) with INTERLEAVED;
// the first of a pair gets x1 c - x2 s, the second x2 c + x1 s; dims >= rotaryDim are copied.
// Workgroups are laid out 2-D (groupsX per row of the grid) so more than 65535 x 256 elements fit.

override INTERLEAVED: bool = false;

struct Params {
  total: u32,     // elements of X
  numHeads: u32,
  seq: u32,
  headDim: u32,
  rotaryDim: u32,
  tableRows: u32, // table rows per batch entry: seq (one row per token) or 0 (shared)
  groupsX: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> COS: array<f32>;
@group(0) @binding(2) var<storage, read> SIN: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = (wid.y * P.groupsX + wid.x) * 256u + li;
  if (e >= P.total) { return; }
  let d = e % P.headDim;
  let x = X[e];
  if (d >= P.rotaryDim) {
    Y[e] = x;
    return;
  }
  let row = e / P.headDim; // (b * numHeads + h) * seq + s
  let s = row % P.seq;
  let b = row / (P.seq * P.numHeads);
  let half = P.rotaryDim / 2u;
  var first: bool;
  var i: u32;
  var partner: u32;
  if (INTERLEAVED) {
    first = (d & 1u) == 0u;
    i = d / 2u;
    partner = select(e - 1u, e + 1u, first);
  } else {
    first = d < half;
    i = select(d - half, d, first);
    partner = select(e - half, e + half, first);
  }
  let t = (b * P.tableRows + s) * half + i;
  let c = COS[t];
  let sn = SIN[t];
  let y = X[partner];
  Y[e] = select(x * c + y * sn, x * c - y * sn, first);
}
