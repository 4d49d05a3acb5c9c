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
// at position j. A logit is scale * q.k, then softcap * tanh(logit / softcap) (softcap > 0), then
// + bias[b][h][i][j] (broadcast strides; 0 for a broadcast dim); keys outside the masks, and logits
// at or below -3e38 (a -inf bias), are masked. The head's sink logit and, for smooth softmax, a zero
// logit join each row's denominator with no value. Rows whose denominator is empty get 0 and
// lse = -inf.

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
  hd4: u32,      // vec4s per padded row: ceil(headDim / 4)
  softcap: f32,  // 0 = none
  flags: u32,    // 1: bias, 2: sink logits, 4: smooth softmax
  biasHpb: u32,  // heads per bias batch entry (heads h and h + biasHpb are in consecutive batch entries)
  biasSB: u32,   // bias elements per batch entry (0: broadcast over batch)
  biasSH: u32,   // bias elements per head (0: broadcast over heads)
  biasRow: u32,  // bias elements per query row (= seqK)
  sinkHeads: u32, // sink logits (one per head of a batch entry): head h reads SINK[h % sinkHeads]
  _p0: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<storage, read> Q: array<E>;
@group(0) @binding(1) var<storage, read> K: array<E>;
@group(0) @binding(2) var<storage, read> V: array<E>;
@group(0) @binding(3) var<storage, read_write> O: array<E>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(5) var<uniform> P: Params;
@group(0) @binding(6) var<storage, read> BIAS: array<f32>;
@group(0) @binding(7) var<storage, read> SINK: array<f32>;

// O's store (vector c of row `row`; the Q / K / V loaders are in attention_tile.wgsl).
fn stO(row: u32, c: u32, x: vec4<f32>) {
  if (EW == 4u) { O[row * P.hd4 + c] = asE(x); return; }
  let b = row * P.headDim + 4u * c;
  let n = P.headDim - 4u * c;
  O[b] = asE(x);
  if (n > 1u) { O[b + 1u] = asE(x.yyyy); }
  if (n > 2u) { O[b + 2u] = asE(x.zzzz); }
  if (n > 3u) { O[b + 3u] = asE(x.wwww); }
}

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
  let hd4 = P.hd4;
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
    if (qi < P.seqQ) { qv = ldQ(h * P.seqQ + qi, x % hd4) * P.scale; }
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
  var bad = false;  // a NaN or +inf score seen (badScore)
  let kvRow = g * P.seqK;
  let hasBias = (P.flags & 1u) != 0u;
  let biasBase = (h / P.biasHpb) * P.biasSB + (h % P.biasHpb) * P.biasSH + min(i, P.seqQ - 1u) * P.biasRow;

  for (var phase = 0u; phase < 2u; phase++) {
    var a = 0;
    var b = min(ns, lo);
    if (phase == 1u) { a = lo; b = max(hi, ns); }
    for (var j0 = a; j0 < b; j0 += i32(P.bk)) {
      let n = u32(min(i32(P.bk), b - j0));
      workgroupBarrier();
      let base = kvRow + u32(j0);
      for (var x = t; x < n * hd4; x += WG) {
        if (EW == 4u) {
          Ks[x] = vec4<f32>(K[base * hd4 + x]);  // fast path: the tile is contiguous
          Vs[x] = vec4<f32>(V[base * hd4 + x]);
        } else {
          Ks[x] = ldK(base + x / hd4, x % hd4);
          Vs[x] = ldV(base + x / hd4, x % hd4);
        }
      }
      workgroupBarrier();
      // Scores of this lane's keys.
      for (var jj = lane; jj < n; jj += lanes) {
        var s = MASKED;
        if (visible(pq, j0 + i32(jj))) {
          var d4 = vec4<f32>(0.0);
          for (var c = 0u; c < hd4; c++) { d4 += Qs[r * hd4 + c] * Ks[jj * hd4 + c]; }
          s = d4.x + d4.y + d4.z + d4.w;
          if (P.softcap > 0.0) { s = softcapped(s, P.softcap); }
          if (hasBias) { s += BIAS[biasBase + u32(j0) + jj]; }
          s = maskLow(s);
        }
        S[r * SROW + jj] = s;
      }
      workgroupBarrier();
      foldTile(r, n, lane, lanes, hd4, &m, &l, &acc, &bad);
    }
  }

  if (rowOk) {
    let hasSink = (P.flags & 2u) != 0u;
    var sink = 0.0;
    if (hasSink) { sink = SINK[h % P.sinkHeads]; }
    let fin = finishRow(m, l, hasSink, sink, (P.flags & 4u) != 0u);
    let nan = bitcast<f32>(P.negInf | 0x00400000u);  // a quiet NaN, made at run time
    for (var u = 0u; u < 8u; u++) {
      let c = lane + u * lanes;
      if (c < hd4) { stO(h * P.seqQ + i, c, select(acc[u] * fin.z, vec4<f32>(nan), bad)); }
    }
    if (lane == 0u && P.hasLse != 0u) {
      var v = bitcast<f32>(P.negInf);
      if (fin.y > 0.0) { v = fin.x + log(fin.y); }
      if (bad) { v = nan; }
      LSE[h * P.seqQ + i] = v;
    }
  }
}
