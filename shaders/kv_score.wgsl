// KV-cache eviction scoring passes (see src/kv/backend.ts for the host side).
// Entry points:
//   row_stats      one workgroup per (window row i, query head h): online softmax over the row's
//                  visible keys -> lse, b = mass on scored columns j < C, scale = b / sum(pool(p)).
//   window_scores  one workgroup per (tile of keys, KV head g): recomputes p for the tile plus a
//                  halo of ks-1 keys, avg-pools it in workgroup memory and reduces over the group's
//                  rows: out[0] = max(pool * scale), out[1] = sum(pool), out[2] = sum(p).
//                  The [Hq, R, N] attention tensor is never written.
//   value_norm     one thread per (g, j): mean over the group of ||v_j W_o^(h)||_1 (or ||v_j||_1).
//   key_norm       one thread per row: -||k_j||_2.
// Sizes come from the uniform block; headDim <= 256 (checked on the host).

struct Params {
  hq: u32, hkv: u32, nq: u32, R: u32,
  n: u32, d: u32, C: u32, ks: u32,
  haveLse: u32, D: u32, haveWo: u32, rows: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> lseIn: array<f32>;
@group(0) @binding(3) var<storage, read_write> rowOut: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;
@group(0) @binding(5) var<storage, read_write> scoreOut: array<f32>;
@group(0) @binding(6) var<storage, read> v: array<f32>;
@group(0) @binding(7) var<storage, read> wo: array<f32>;
@group(0) @binding(8) var<storage, read_write> normOut: array<f32>;

const WG: u32 = 256u;
const TILE: u32 = 64u;

var<workgroup> qs: array<f32, 256>;
var<workgroup> redM: array<f32, 256>;
var<workgroup> redA: array<f32, 256>;
var<workgroup> redC: array<f32, 256>;
var<workgroup> pw: array<f32, 64>;

fn logit(qOff: u32, kOff: u32) -> f32 {
  var s = 0.0;
  for (var x = 0u; x < P.d; x++) {
    s += qs[x] * k[kOff + x];
  }
  return s * inverseSqrt(f32(P.d));
}

@compute @workgroup_size(256)
fn row_stats(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = wid.x;
  let h = wid.y;
  let g = P.hq / P.hkv;
  let kh = h / g;
  let row = P.nq - P.R + i;
  let pos = P.n - P.R + i;
  let qOff = (h * P.nq + row) * P.d;
  let kBase = kh * P.n * P.d;
  for (var x = t; x < P.d; x += WG) {
    qs[x] = q[qOff + x];
  }
  workgroupBarrier();
  var m = -3.0e38;
  var sa = 0.0;
  var sc = 0.0;
  for (var j = t; j <= pos; j += WG) {
    let l = logit(qOff, kBase + j * P.d);
    if (l > m) {
      let f = exp(m - l);
      sa *= f;
      sc *= f;
      m = l;
    }
    let e = exp(l - m);
    sa += e;
    if (j < P.C) {
      sc += e;
    }
  }
  redM[t] = m;
  redA[t] = sa;
  redC[t] = sc;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (t < st) {
      let m2 = max(redM[t], redM[t + st]);
      redA[t] = redA[t] * exp(redM[t] - m2) + redA[t + st] * exp(redM[t + st] - m2);
      redC[t] = redC[t] * exp(redM[t] - m2) + redC[t + st] * exp(redM[t + st] - m2);
      redM[t] = m2;
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    var lse = redM[0] + log(redA[0]);
    if (P.haveLse != 0u) {
      lse = lseIn[h * P.nq + row];
    }
    let b = redC[0] * exp(redM[0] - lse);
    // the pooled row loses the taps that fall outside [0, C): only the first and last ks/2 entries
    let half = P.ks / 2u;
    let cv = min(P.C, pos + 1u);
    var lost = 0.0;
    for (var mm = 0u; mm < P.C; mm++) {
      if (mm >= half && mm + half < P.C) {
        mm = P.C - half - 1u;
        continue;
      }
      var p = 0.0;
      if (mm < cv) {
        p = exp(logit(qOff, kBase + mm * P.d) - lse);
      }
      let lo = min(mm, half);
      let hi = min(P.C - 1u - mm, half);
      lost += p * f32(P.ks - (lo + hi + 1u));
    }
    let poolSum = b - lost / f32(P.ks);
    var scale = 0.0;
    if (poolSum > 0.0) {
      scale = b / poolSum;
    }
    let o = (h * P.R + i) * 3u;
    rowOut[o] = lse;
    rowOut[o + 1u] = b;
    rowOut[o + 2u] = scale;
  }
}

@compute @workgroup_size(64)
fn window_scores(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let half = P.ks / 2u;
  let T = TILE - (P.ks - 1u);
  let kh = wid.y;
  let g = P.hq / P.hkv;
  let jt = i32(wid.x * T + t) - i32(half);
  let jo = wid.x * T + t;
  let kBase = kh * P.n * P.d;
  var mx = 0.0;
  var sp = 0.0;
  var sr = 0.0;
  for (var hh = 0u; hh < g; hh++) {
    let h = kh * g + hh;
    for (var i = 0u; i < P.R; i++) {
      let row = P.nq - P.R + i;
      let pos = P.n - P.R + i;
      let qOff = (h * P.nq + row) * P.d;
      for (var x = t; x < P.d; x += TILE) {
        qs[x] = q[qOff + x];
      }
      workgroupBarrier();
      let ro = (h * P.R + i) * 3u;
      let lse = rowOut[ro];
      let scale = rowOut[ro + 2u];
      var p = 0.0;
      if (jt >= 0 && u32(jt) < P.C && u32(jt) <= pos) {
        p = exp(logit(qOff, kBase + u32(jt) * P.d) - lse);
      }
      pw[t] = p;
      workgroupBarrier();
      if (t < T && jo < P.C) {
        var s = 0.0;
        for (var u = 0u; u < P.ks; u++) {
          s += pw[t + u];
        }
        let pooled = s / f32(P.ks);
        mx = max(mx, pooled * scale);
        sp += pooled;
        sr += pw[t + half];
      }
      workgroupBarrier();
    }
  }
  if (t < T && jo < P.C) {
    let plane = P.hkv * P.C;
    let o = kh * P.C + jo;
    scoreOut[o] = mx;
    scoreOut[plane + o] = sp;
    scoreOut[2u * plane + o] = sr;
  }
}

@compute @workgroup_size(64)
fn value_norm(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  let kh = gid.y;
  if (j >= P.n) {
    return;
  }
  let g = P.hq / P.hkv;
  let vo = (kh * P.n + j) * P.d;
  var acc = 0.0;
  if (P.haveWo == 0u) {
    for (var x = 0u; x < P.d; x++) {
      acc += abs(v[vo + x]);
    }
  } else {
    for (var hh = 0u; hh < g; hh++) {
      let wb = (kh * g + hh) * P.d * P.D;
      for (var c = 0u; c < P.D; c++) {
        var s = 0.0;
        for (var x = 0u; x < P.d; x++) {
          s += v[vo + x] * wo[wb + x * P.D + c];
        }
        acc += abs(s);
      }
    }
    acc /= f32(g);
  }
  normOut[kh * P.n + j] = acc;
}

@compute @workgroup_size(64)
fn key_norm(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x + gid.y * 65535u * 64u;
  if (r >= P.rows) {
    return;
  }
  var s = 0.0;
  for (var x = 0u; x < P.d; x++) {
    let e = k[r * P.d + x];
    s += e * e;
  }
  normOut[r] = -sqrt(s);
}
