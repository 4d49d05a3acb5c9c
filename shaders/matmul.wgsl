// Batched f32 matmul: C[b] = op(A[b]) x op(B[b]), row-major.
// Workgroup z is the output batch index; its offsets into A and B come from the batch dims in P
// (numpy broadcasting: a dim with stride 0 repeats that operand's matrix).
//
// Each workgroup (WG_X x WG_Y invocations) computes a (4 WG_Y) x (4 WG_X) tile of C; each invocation
// a 4 x 4 block held in registers. The default 16 x 16 gives 64 x 64 tiles; short A (few rows, as in
// decode-time products) uses 64 x 4 for 16 x 256 tiles so no rows are wasted. K is walked in steps of
// 16: the A and B tiles are staged in workgroup memory (8 KiB at 64 x 64, 17 KiB at 16 x 256), loaded
// as vec4 along the stored rows when those rows are a multiple of 4 long (VEC_A / VEC_B), element by
// element otherwise. Every load and store is bounds-checked, so any m, k, n works. Transposition only
// changes how the tiles are loaded.
//
// B_F16: B holds IEEE half values, two per u32 (element j in the low half of word j / 2 when j is
// even, the high half when odd; rows may straddle words), unpacked with unpack2x16float (core WGSL: no
// shader-f16 feature, so it runs on every adapter) and multiplied in f32 exactly as the f32 path does.
// B is bound as u32 words in both cases (bitcast to f32 when B_F16 is off: free) so one shader serves both.

override TRANS_A: bool = false; // A stored k x m
override TRANS_B: bool = false; // B stored n x k
override VEC_A: bool = false;   // stored rows of A have a multiple of 4 elements
override VEC_B: bool = false;
override B_F16: bool = false;   // B is f16, two per u32 (see above)
override WG_X: u32 = 16u;       // invocations along n (tile width 4 WG_X)
override WG_Y: u32 = 16u;       // invocations along m (tile height 4 WG_Y)

const MAX_RANK: u32 = 16u;

struct Params {
  m: u32,
  k: u32,
  n: u32,
  strideC: u32, // elements between output matrices
  rank: u32,    // batch dims in `dims` (0: one product)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  // Batch dims, innermost first: (size, stride of A, stride of B, unused), strides in elements (0 = broadcast).
  dims: array<vec4<u32>, MAX_RANK>,
}

// Buffers are allocated in multiples of 16 bytes, so vec4 views cover every element.
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<u32>>; // f32 bits, or f16 pairs with B_F16
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

const BK: u32 = 16u;

var<workgroup> As: array<f32, BK * WG_Y * 4u>; // [BK][TILE_M], k-major
var<workgroup> Bs: array<f32, BK * WG_X * 4u>; // [BK][TILE_N], k-major

// Four consecutive elements (row r, columns c..c+3) of a stored rows x cols matrix at `base`.
fn loadA4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (r >= rows || c >= cols) { return v; }
  let i = base + r * cols + c;
  if (VEC_A) { return A[i >> 2u]; }
  for (var t = 0u; t < 4u; t++) {
    if (c + t < cols) { let j = i + t; v[t] = A[j >> 2u][j & 3u]; }
  }
  return v;
}

// Element j of B as f32: a bitcast word, or one half of word j / 2 with B_F16.
fn loadB1(j: u32) -> f32 {
  if (B_F16) { return unpack2x16float(B[j >> 3u][(j >> 1u) & 3u])[j & 1u]; }
  return bitcast<f32>(B[j >> 2u][j & 3u]);
}

fn loadB4(base: u32, r: u32, c: u32, rows: u32, cols: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (r >= rows || c >= cols) { return v; }
  let i = base + r * cols + c;
  if (VEC_B) {
    // i is a multiple of 4: four halves are words i / 2 and i / 2 + 1, one half of a vec4 of words
    if (B_F16) {
      let w = B[i >> 3u];
      let p = select(w.xy, w.zw, (i & 4u) != 0u);
      return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
    }
    return bitcast<vec4<f32>>(B[i >> 2u]);
  }
  for (var t = 0u; t < 4u; t++) {
    if (c + t < cols) { v[t] = loadB1(i + t); }
  }
  return v;
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let TM = WG_Y * 4u;
  let TN = WG_X * 4u;
  let threads = WG_X * WG_Y;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  var baseA = 0u;
  var baseB = 0u;
  var z = wid.z;
  for (var d = 0u; d < P.rank; d++) {
    let dim = P.dims[d];
    let i = z % dim.x;
    z = z / dim.x;
    baseA += i * dim.y;
    baseB += i * dim.z;
  }
  var acc: array<vec4<f32>, 4>;

  for (var k0 = 0u; k0 < P.k; k0 += BK) {
    // A tile: op(A)[m0 .. m0+TM, k0 .. k0+BK] -> As[kk][mm], TM * BK / 4 vec4 loads shared by the threads
    for (var i = li; i < TM * BK / 4u; i += threads) {
      if (TRANS_A) {
        let kk = i / (TM / 4u);
        let mq = (i % (TM / 4u)) * 4u;
        let v = loadA4(baseA, k0 + kk, m0 + mq, P.k, P.m);
        let o = kk * TM + mq;
        As[o] = v.x; As[o + 1u] = v.y; As[o + 2u] = v.z; As[o + 3u] = v.w;
      } else {
        let mm = i / (BK / 4u);
        let kq = (i % (BK / 4u)) * 4u;
        let v = loadA4(baseA, m0 + mm, k0 + kq, P.m, P.k);
        let o = kq * TM + mm;
        As[o] = v.x; As[o + TM] = v.y; As[o + 2u * TM] = v.z; As[o + 3u * TM] = v.w;
      }
    }
    // B tile: op(B)[k0 .. k0+BK, n0 .. n0+TN] -> Bs[kk][nn]
    for (var i = li; i < TN * BK / 4u; i += threads) {
      if (TRANS_B) {
        let nn = i / (BK / 4u);
        let kq = (i % (BK / 4u)) * 4u;
        let v = loadB4(baseB, n0 + nn, k0 + kq, P.n, P.k);
        let o = kq * TN + nn;
        Bs[o] = v.x; Bs[o + TN] = v.y; Bs[o + 2u * TN] = v.z; Bs[o + 3u * TN] = v.w;
      } else {
        let kk = i / (TN / 4u);
        let nq = (i % (TN / 4u)) * 4u;
        let v = loadB4(baseB, k0 + kk, n0 + nq, P.k, P.n);
        let o = kk * TN + nq;
        Bs[o] = v.x; Bs[o + 1u] = v.y; Bs[o + 2u] = v.z; Bs[o + 3u] = v.w;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ao = kk * TM + lid.y * 4u;
      let bo = kk * TN + lid.x * 4u;
      let a = vec4<f32>(As[ao], As[ao + 1u], As[ao + 2u], As[ao + 3u]);
      let b = vec4<f32>(Bs[bo], Bs[bo + 1u], Bs[bo + 2u], Bs[bo + 3u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }

  let baseC = wid.z * P.strideC;
  for (var i = 0u; i < 4u; i++) {
    let row = m0 + lid.y * 4u + i;
    if (row >= P.m) { break; }
    for (var t = 0u; t < 4u; t++) {
      let col = n0 + lid.x * 4u + t;
      if (col < P.n) { C[baseC + row * P.n + col] = acc[i][t]; }
    }
  }
}
