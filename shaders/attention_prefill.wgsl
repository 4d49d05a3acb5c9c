// Attention prefill: a tiled online-softmax ("flash") kernel.
//
// One workgroup (64 invocations) owns BQ = 64 / LANES query rows of one query head; LANES
// invocations share a row (4 for headDim <= 128, 8 up to 256). The scaled query rows sit in
// workgroup memory; the KV head's keys and values stream through workgroup memory in tiles of
// BK rows (BK * headDim <= 2048 floats each, so Q + K + V + scores use 28 KiB of the portable
// 32 KiB). Per tile: each lane scores its share of the keys; every lane of a row reads the row's
// scores for the running max; each lane turns its keys' scores into probabilities (one exp per
// key); then every lane folds the row's probabilities into the running sum and its share of the
// output columns. Only the BQ x BK score tile ever exists: never seqQ x seqK. Key tiles outside
// every row's causal / window range are skipped; the sink prefix is its own range.
//
// Query i sits at position qpos0 + i (qpos0 = seqK - seqQ: queries are the last positions), key j
// at position j. Rows that see no key get 0 and lse = -inf.

struct Params {
  seqQ: u32,
  seqK: u32,
  headDim: u32,
  group: u32,    // query heads per KV head
  bk: u32,       // keys per tile
  causal: u32,
  window: u32,   // 0 = none
  sinks: u32,
  hasLse: u32,
  scale: f32,
  qpos0: i32,
  negInf: u32,   // 0xff800000: -inf, bitcast at run time
  lanes: u32,    // invocations per query row: 4 or 8
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> O: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;

// WG, SROW, NEG, MASKED and the Qs / Ks / Vs / S tiles come from attention_tile.wgsl.

// Whether a query at position pq sees the key at position p under this call's masks.
fn visible(pq: i32, p: i32) -> bool {
  return keyVisible(pq, p, P.causal != 0u, P.window, P.sinks);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let lanes = P.lanes;
  let bq = WG / lanes;
  let r = t / lanes;
  let lane = t % lanes;
  let hd4 = P.headDim / 4u;
  let h = wid.y;
  let g = h / P.group;
  let i0 = wid.x * bq;
  let i = i0 + r;
  let rowOk = i < P.seqQ;
  let pq = P.qpos0 + i32(i);

  // Scaled query rows.
  for (var x = t; x < bq * hd4; x += WG) {
    let qi = i0 + x / hd4;
    var qv = vec4<f32>(0.0);
    if (qi < P.seqQ) { qv = Q[(h * P.seqQ + qi) * hd4 + x % hd4] * P.scale; }
    Qs[x] = qv;
  }

  // Key ranges seen by any row of this block (uniform: from the workgroup id and P only).
  let seqK = i32(P.seqK);
  let iLast = min(i0 + bq, P.seqQ) - 1u;
  let pqFirst = P.qpos0 + i32(i0);
  let pqLast = P.qpos0 + i32(iLast);
  var hi = seqK;
  if (P.causal != 0u) { hi = clamp(pqLast + 1, 0, seqK); }
  else if (P.window > 0u) { hi = clamp(pqLast + i32(P.window), 0, seqK); }
  var lo = 0;
  if (P.window > 0u) { lo = clamp(pqFirst - i32(P.window) + 1, 0, hi); }
  var ns = min(i32(P.sinks), seqK);
  if (P.causal != 0u) { ns = min(ns, hi); }

  var m = NEG;
  var l = 0.0;
  var acc: array<vec4<f32>, 8>;
  let kvBase = g * P.seqK * hd4;

  for (var phase = 0u; phase < 2u; phase++) {
    var a = 0;
    var b = min(ns, lo);
    if (phase == 1u) { a = lo; b = max(hi, ns); }
    for (var j0 = a; j0 < b; j0 += i32(P.bk)) {
      let n = u32(min(i32(P.bk), b - j0));
      workgroupBarrier();
      let base = kvBase + u32(j0) * hd4;
      for (var x = t; x < n * hd4; x += WG) {
        Ks[x] = K[base + x];
        Vs[x] = V[base + x];
      }
      workgroupBarrier();
      // Scores of this lane's keys.
      for (var jj = lane; jj < n; jj += lanes) {
        var s = MASKED;
        if (visible(pq, j0 + i32(jj))) {
          var d4 = vec4<f32>(0.0);
          for (var c = 0u; c < hd4; c++) { d4 += Qs[r * hd4 + c] * Ks[jj * hd4 + c]; }
          s = d4.x + d4.y + d4.z + d4.w;
        }
        S[r * SROW + jj] = s;
      }
      workgroupBarrier();
      foldTile(r, n, lane, lanes, hd4, &m, &l, &acc);
    }
  }

  if (rowOk) {
    var inv = 0.0;
    if (l > 0.0) { inv = 1.0 / l; }
    let ob = (h * P.seqQ + i) * hd4;
    for (var u = 0u; u < 8u; u++) {
      let c = lane + u * lanes;
      if (c < hd4) { O[ob + c] = acc[u] * inv; }
    }
    if (lane == 0u && P.hasLse != 0u) {
      var v = bitcast<f32>(P.negInf);
      if (l > 0.0) { v = m + log(l); }
      LSE[h * P.seqQ + i] = v;
    }
  }
}
