// Attention decode over a KV cache: split-K ("flash decoding"), plus the cache's row gather.
//
// The cache holds every KV head's tokens in one flat buffer: head g's tokens start at token
// META[g] and number META[numKvHeads + g], each with its original position in POS. A dense cache
// and a compacted (evicted) one look the same to these kernels: nothing is gathered back.
//
// `partial`: workgroup (c, g, b) takes chunk c (tilesPerChunk tiles of BK keys) of KV head g
//   against row block b of that head's query rows (every query position of every query head in
//   the GQA group, position-major), and writes per row the unnormalised output and (max, sum) of
//   its chunk. Same tiling as the prefill kernel (64 invocations, LANES per row, Q / K / V tiles
//   and the score tile in 28 KiB of workgroup memory), except that LANES grows when there are few
//   rows (decode of one token with GQA group 4: 16 lanes per row), and each probability is
//   computed once, by the lane that scored the key.
//   Logits: scale * q.k, softcap, + BIAS[bias row of (head, query)][j] (j = the token's index in its
//   head), then the masks (and logits <= -3e38, a -inf bias, count as masked), as in prefill.
// `merge`: one workgroup per query row combines the chunks' partials:
//   M = max m_c, L = sum l_c e^(m_c - M), out = sum o_c e^(m_c - M) / L, lse = M + log L,
//   after the head's sink logit and the smooth-softmax zero logit joined M and L (finishRow); a chunk
//   that saw a NaN or +inf score (sum -1 from partial) makes the row's output and lse NaN.
// `gather`: dst[t] = src[IDX[t]] row by row for keys and values (cache compaction and growth).
//
// Bindings are numbered per entry point (0-7 and 19 partial, 8-12 and 20 merge, 13-18 gather) so the three
// entry points can share one module.

struct Params {
  seqQ: u32,
  headDim: u32,
  group: u32,
  numKvHeads: u32,
  bk: u32,
  tilesPerChunk: u32,
  nChunks: u32,
  causal: u32,
  window: u32,
  sinks: u32,
  scale: f32,
  qpos0: i32,
  negInf: u32,   // 0xff800000: -inf, bitcast at run time
  rows: u32,     // seqQ * group: query rows per KV head
  hasLse: u32,
  lanes: u32,    // invocations per query row (partial): 4 .. 64, at least headDim / 32
  hd4: u32,      // vec4s per padded row: ceil(headDim / 4)
  softcap: f32,  // 0 = none
  flags: u32,    // 1: bias, 2: sink logits, 4: smooth softmax
  biasHpb: u32,  // query heads per bias batch entry
  biasSB: u32,   // bias elements per batch entry (0: broadcast)
  biasSH: u32,   // bias elements per head (0: broadcast)
  biasRow: u32,  // bias elements per query row (the cache length)
  sinkHeads: u32,
}

@group(0) @binding(0) var<storage, read> Q: array<E>;
@group(0) @binding(1) var<storage, read> K: array<E>;
@group(0) @binding(2) var<storage, read> V: array<E>;
@group(0) @binding(3) var<storage, read> POS: array<i32>;
@group(0) @binding(4) var<storage, read> META: array<u32>;
@group(0) @binding(5) var<storage, read_write> PO: array<vec4<f32>>;   // [numHeads * seqQ][nChunks][headDim / 4]
@group(0) @binding(6) var<storage, read_write> PML: array<vec2<f32>>;  // [numHeads * seqQ][nChunks] (max, sum)
@group(0) @binding(7) var<uniform> P: Params;
@group(0) @binding(19) var<storage, read> BIAS: array<f32>;

// WG, SROW, NEG, MASKED and the Qs / Ks / Vs / S tiles come from attention_tile.wgsl.

// Whether a query at position pq sees the key at position p under this call's masks.
fn visible(pq: i32, p: i32) -> bool {
  return keyVisible(pq, p, P.causal != 0u, P.window, P.sinks);
}

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let lanes = P.lanes;
  let bq = WG / lanes;
  let r = t / lanes;
  let lane = t % lanes;
  let hd4 = P.hd4;
  let c = wid.x;
  let g = wid.y;
  let row = wid.z * bq + r;
  let rowOk = row < P.rows;
  let i = row / P.group;
  let hq = g * P.group + row % P.group;
  let pq = P.qpos0 + i32(i);

  for (var x = t; x < bq * hd4; x += WG) {
    let rr = wid.z * bq + x / hd4;
    var qv = vec4<f32>(0.0);
    if (rr < P.rows) {
      let qh = g * P.group + rr % P.group;
      qv = ldQ(qh * P.seqQ + rr / P.group, x % hd4) * P.scale;
    }
    Qs[x] = qv;
  }

  let off = META[g];
  let len = i32(META[P.numKvHeads + g]);
  let cs = i32(c * P.tilesPerChunk * P.bk);
  var m = NEG;
  var l = 0.0;
  var acc: array<vec4<f32>, 8>;
  var bad = false;  // a NaN or +inf score seen (badScore)
  let hasBias = (P.flags & 1u) != 0u;
  let biasBase = (hq / P.biasHpb) * P.biasSB + (hq % P.biasHpb) * P.biasSH + min(i, P.seqQ - 1u) * P.biasRow;

  for (var tile = 0u; tile < P.tilesPerChunk; tile++) {
    let j0 = cs + i32(tile * P.bk);
    let n = u32(clamp(len - j0, 0, i32(P.bk)));
    workgroupBarrier();
    let base = off + u32(max(j0, 0));
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
    for (var jj = lane; jj < n; jj += lanes) {
      var s = MASKED;
      if (visible(pq, POS[off + u32(j0) + jj])) {
        var d4 = vec4<f32>(0.0);
        for (var k = 0u; k < hd4; k++) { d4 += Qs[r * hd4 + k] * Ks[jj * hd4 + k]; }
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

  if (rowOk) {
    let pidx = (hq * P.seqQ + i) * P.nChunks + c;
    for (var u = 0u; u < 8u; u++) {
      let col = lane + u * lanes;
      if (col < hd4) { PO[pidx * hd4 + col] = acc[u]; }
    }
    // a NaN or +inf score: sum -1, which merge turns into a NaN row
    if (lane == 0u) { PML[pidx] = vec2<f32>(m, select(l, -1.0, bad)); }
  }
}

@group(0) @binding(8) var<storage, read> MPO: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> MML: array<vec2<f32>>;
@group(0) @binding(10) var<storage, read_write> OUT: array<E>;
@group(0) @binding(11) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(12) var<uniform> MP: Params;
@group(0) @binding(20) var<storage, read> SINK: array<f32>;

fn stOut(row: u32, c: u32, x: vec4<f32>) {
  if (EW == 4u) { OUT[row * MP.hd4 + c] = asE(x); return; }
  let b = row * MP.headDim + 4u * c;
  let n = MP.headDim - 4u * c;
  OUT[b] = asE(x);
  if (n > 1u) { OUT[b + 1u] = asE(x.yyyy); }
  if (n > 2u) { OUT[b + 2u] = asE(x.zzzz); }
  if (n > 3u) { OUT[b + 3u] = asE(x.wwww); }
}

@compute @workgroup_size(64)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row = wid.x;
  let hd4 = MP.hd4;
  let nc = MP.nChunks;
  var M = NEG;
  var bad = false;  // a chunk saw a NaN or +inf score (its sum is -1): the row's output and lse are NaN
  for (var c = 0u; c < nc; c++) {
    let ml = MML[row * nc + c];
    if (ml.y < 0.0) { bad = true; }
    if (ml.y > 0.0) { M = max(M, ml.x); }
  }
  var L = 0.0;
  for (var c = 0u; c < nc; c++) {
    let ml = MML[row * nc + c];
    if (ml.y > 0.0) { L += ml.y * exp(ml.x - M); }
  }
  // Rows are head-major (row = head * seqQ + i); the extra logits join here, once per row.
  let hasSink = (MP.flags & 2u) != 0u;
  var sink = 0.0;
  if (hasSink) { sink = SINK[(row / MP.seqQ) % MP.sinkHeads]; }
  let fin = finishRow(M, L, hasSink, sink, (MP.flags & 4u) != 0u);
  let nan = bitcast<f32>(MP.negInf | 0x00400000u);  // a quiet NaN, made at run time
  for (var col = t; col < hd4; col += WG) {
    var o = vec4<f32>(0.0);
    for (var c = 0u; c < nc; c++) {
      let ml = MML[row * nc + c];
      if (ml.y > 0.0) { o += MPO[(row * nc + c) * hd4 + col] * exp(ml.x - M); }
    }
    stOut(row, col, select(o * fin.z, vec4<f32>(nan), bad));
  }
  if (t == 0u && MP.hasLse != 0u) {
    var v = bitcast<f32>(MP.negInf);
    if (fin.y > 0.0) { v = fin.x + log(fin.y); }
    if (bad) { v = nan; }
    LSE[row] = v;
  }
}

struct GatherParams {
  count: u32,  // rows to copy
  hd4: u32,    // elements (E) per row: headDim / 4 or headDim
  nx: u32,     // workgroups along x
  _p: u32,
}

@group(0) @binding(13) var<storage, read> GK: array<E>;
@group(0) @binding(14) var<storage, read> GV: array<E>;
@group(0) @binding(15) var<storage, read> IDX: array<u32>;
@group(0) @binding(16) var<storage, read_write> DK: array<E>;
@group(0) @binding(17) var<storage, read_write> DV: array<E>;
@group(0) @binding(18) var<uniform> GP: GatherParams;

@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let e = (wid.y * GP.nx + wid.x) * WG + t;
  let row = e / GP.hd4;
  if (row >= GP.count) { return; }
  let src = IDX[row] * GP.hd4 + e % GP.hd4;
  DK[e] = GK[src];
  DV[e] = GV[src];
}
