// EM for a hidden Chow-Liu tree (HCLT) on WebGPU: the E-step for a chunk of C images, one dispatch per
// tree level, then the flow (expected count) accumulation and the M-step. Training only: the trained
// parameters go back to wasm, which quantises them and computes every coding table (src/pc/train-gpu.ts).
//
// Notation as in assembly/pc.ts: node v has M latent states, T_v[j][k] = P(z_v = k | z_parent = j),
// E_v[k][c] = P(x_v = c | z_v = k), the root has a prior pi. Per (node, image) vectors are stored
// [v][k][b] (image index fastest, so neighbouring invocations touch neighbouring words):
//   U[v]  upward message u_v = E_v[.][x_v] * prod_children m_c, normalised to sum 1 (scale in LG)
//   MM[v] m_v = T_v u_v (the message to the parent); the downward pass overwrites it with r = q_p / m_v
//   Q[v]  posterior marginal q_v[k] = P(z_v = k | x)
// Scaling: every vector is renormalised after each product and log(sum) is added to LG[v][b], so the
// log-likelihood is sum_v LG[v][b] + log(pi . u_root) and nothing underflows.
//
// Workgroup memory: 4 KiB in the transition flows (the passes read T_v from the cache: staging it in
// workgroup memory per level measured 4x slower on SwiftShader, barriers being costly there).
//
// Tree buffer (u32): parent[D] (root: 0xffffffff) | childStart[D+1] | childList[D] |
//                    nodes by height (leaves first)[D] | nodes by depth (root first)[D].

struct Glob {
  C: u32,     // chunk stride (images per buffer)
  n: u32,     // images in this chunk (n <= C)
  M: u32,
  D: u32,
  root: u32,
  gridX: u32, // invocations per row of a 2-D grid (flow and M-step kernels)
  lambda: f32,
  alpha: f32,
}

struct Level {
  start: u32, // offset of the level in the node list
  count: u32,
}

const K: u32 = 256u;

@group(0) @binding(0) var<uniform> g: Glob;
@group(0) @binding(1) var<uniform> lv: Level;
@group(0) @binding(2) var<storage, read> tree: array<u32>;
@group(0) @binding(3) var<storage, read> xs: array<u32>;
@group(0) @binding(4) var<storage, read_write> T: array<f32>;
@group(0) @binding(5) var<storage, read_write> E: array<f32>;
@group(0) @binding(6) var<storage, read_write> PI: array<f32>;
@group(0) @binding(7) var<storage, read_write> U: array<f32>;
@group(0) @binding(8) var<storage, read_write> MM: array<f32>;
@group(0) @binding(9) var<storage, read_write> Q: array<f32>;
@group(0) @binding(10) var<storage, read_write> LG: array<f32>;
@group(0) @binding(11) var<storage, read_write> LL: array<f32>;
@group(0) @binding(12) var<storage, read_write> FT: array<f32>;
@group(0) @binding(13) var<storage, read_write> FE: array<f32>;
@group(0) @binding(14) var<storage, read_write> FPI: array<f32>;

// log-scale charged for an all-zero vector (the wasm path's 2^-1000000 floor, in nats)
const DEAD: f32 = -693147.2;

// Normalises U[base + k*C], k < M, to sum 1; returns log of the removed sum.
fn normU(base: u32) -> f32 {
  let M = g.M;
  let C = g.C;
  var s = 0.0;
  for (var k = 0u; k < M; k++) { s += U[base + k * C]; }
  if (s > 0.0 && s < 3.0e38) {
    let inv = 1.0 / s;
    for (var k = 0u; k < M; k++) { U[base + k * C] *= inv; }
    return log(s);
  }
  for (var k = 0u; k < M; k++) { U[base + k * C] = 1.0 / f32(M); }
  return DEAD;
}

// Upward pass over one level (all its nodes' children are done): grid (ceil(n/64), level size).
@compute @workgroup_size(64)
fn up(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let b = gid.x;
  if (b >= g.n || wid.y >= lv.count) { return; }
  let M = g.M;
  let C = g.C;
  let D = g.D;
  let v = tree[3u * D + 1u + lv.start + wid.y];
  let ub = v * M * C + b;
  var lsum = 0.0;
  let c0 = tree[D + v];
  let c1 = tree[D + v + 1u];
  for (var k = 0u; k < M; k++) { U[ub + k * C] = 1.0; }
  for (var i = c0; i < c1; i++) {
    let c = tree[2u * D + 1u + i];
    let cb = c * M * C + b;
    for (var k = 0u; k < M; k++) { U[ub + k * C] *= MM[cb + k * C]; }
    lsum += normU(ub);
  }
  let x = xs[v * C + b];
  for (var k = 0u; k < M; k++) { U[ub + k * C] *= E[(v * M + k) * K + x]; }
  lsum += normU(ub);
  LG[v * C + b] = lsum;
  if (v == g.root) { return; }
  // m_v = T_v u_v: a [1, M] x [M, M] product per image (the batched sum layer)
  // four rows at a time, so each u[k] is loaded once per four rows
  let tb = v * M * M;
  var j = 0u;
  for (; j + 4u <= M; j += 4u) {
    var s = vec4f(0.0);
    let t0 = tb + j * M;
    for (var k = 0u; k < M; k++) {
      s += vec4f(T[t0 + k], T[t0 + M + k], T[t0 + 2u * M + k], T[t0 + 3u * M + k]) * U[ub + k * C];
    }
    MM[ub + j * C] = s.x;
    MM[ub + (j + 1u) * C] = s.y;
    MM[ub + (j + 2u) * C] = s.z;
    MM[ub + (j + 3u) * C] = s.w;
  }
  for (; j < M; j++) {
    var s = 0.0;
    for (var k = 0u; k < M; k++) { s += T[tb + j * M + k] * U[ub + k * C]; }
    MM[ub + j * C] = s;
  }
}

// Root: log-likelihood of each image (added to LL[b]) and the root's posterior. Grid (ceil(n/64)).
@compute @workgroup_size(64)
fn root(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
  if (b >= g.n) { return; }
  let M = g.M;
  let C = g.C;
  let rb = g.root * M * C + b;
  var s = 0.0;
  for (var k = 0u; k < M; k++) {
    let w = PI[k] * U[rb + k * C];
    Q[rb + k * C] = w;
    s += w;
  }
  var ll = 0.0;
  for (var v = 0u; v < g.D; v++) { ll += LG[v * C + b]; }
  if (s > 0.0) {
    ll += log(s);
    let inv = 1.0 / s;
    for (var k = 0u; k < M; k++) { Q[rb + k * C] *= inv; }
  } else {
    ll += DEAD;
    for (var k = 0u; k < M; k++) { Q[rb + k * C] = 1.0 / f32(M); }
  }
  LL[b] += ll;
}

// Downward pass over one level below the root (parents done): grid (ceil(n/64), level size).
// r_j = q_p[j] / m_v[j];  q_v[k] = u_v[k] sum_j r_j T_v[j][k].
@compute @workgroup_size(64)
fn down(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let b = gid.x;
  if (b >= g.n || wid.y >= lv.count) { return; }
  let M = g.M;
  let C = g.C;
  let D = g.D;
  let v = tree[4u * D + 1u + lv.start + wid.y];
  let p = tree[v];
  let vb = v * M * C + b;
  let pb = p * M * C + b;
  for (var j = 0u; j < M; j++) {
    let m = MM[vb + j * C];
    MM[vb + j * C] = select(0.0, Q[pb + j * C] / m, m > 0.0);
  }
  // four columns at a time, so each r[j] is loaded once per four columns
  let tb = v * M * M;
  var k = 0u;
  for (; k + 4u <= M; k += 4u) {
    var s = vec4f(0.0);
    for (var j = 0u; j < M; j++) {
      let t0 = tb + j * M + k;
      s += vec4f(T[t0], T[t0 + 1u], T[t0 + 2u], T[t0 + 3u]) * MM[vb + j * C];
    }
    Q[vb + k * C] = s.x * U[vb + k * C];
    Q[vb + (k + 1u) * C] = s.y * U[vb + (k + 1u) * C];
    Q[vb + (k + 2u) * C] = s.z * U[vb + (k + 2u) * C];
    Q[vb + (k + 3u) * C] = s.w * U[vb + (k + 3u) * C];
  }
  for (; k < M; k++) {
    var s = 0.0;
    for (var j = 0u; j < M; j++) { s += MM[vb + j * C] * T[tb + j * M + k]; }
    Q[vb + k * C] = s * U[vb + k * C];
  }
}

// Transition flows: FT[v][j][k] += T_v[j][k] sum_b r_b[j] u_b[k], an [M, n] x [n, M] product per node,
// tiled: a workgroup computes an 8 x 8 block of (j, k) for one node, staging 64 images of r and u at a time.
// Grid (ceil(M/8)^2, D).
var<workgroup> rs: array<f32, 512>;
var<workgroup> us: array<f32, 512>;

@compute @workgroup_size(64)
fn flowT(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = g.M;
  let C = g.C;
  let v = wid.y;
  if (v == g.root) { return; }
  let tiles = (M + 7u) / 8u;
  let j0 = (wid.x / tiles) * 8u;
  let k0 = (wid.x % tiles) * 8u;
  let jj = li / 8u;
  let kk = li % 8u;
  var s = 0.0;
  for (var b0 = 0u; b0 < g.n; b0 += 64u) {
    workgroupBarrier();
    for (var i = li; i < 512u; i += 64u) {
      let row = i / 64u;
      let bb = b0 + i % 64u;
      var r = 0.0;
      var u = 0.0;
      if (bb < g.n && j0 + row < M) { r = MM[(v * M + j0 + row) * C + bb]; }
      if (bb < g.n && k0 + row < M) { u = U[(v * M + k0 + row) * C + bb]; }
      rs[i] = r;
      us[i] = u;
    }
    workgroupBarrier();
    for (var t = 0u; t < 64u; t++) { s += rs[jj * 64u + t] * us[kk * 64u + t]; }
  }
  let j = j0 + jj;
  let k = k0 + kk;
  if (j < M && k < M) {
    let i = (v * M + j) * M + k;
    FT[i] += T[i] * s;
  }
}

// Emission flows FE[v][k][x_b] += q_b[k] (and the prior's flow at the root): one invocation per (v, k),
// so no two invocations write the same counter.
@compute @workgroup_size(64)
fn flowE(@builtin(global_invocation_id) gid: vec3u) {
  let M = g.M;
  let i = gid.x + gid.y * g.gridX;
  if (i >= g.D * M) { return; }
  let v = i / M;
  let k = i % M;
  let C = g.C;
  let qb = i * C;
  let fb = i * K;
  var s = 0.0;
  for (var b = 0u; b < g.n; b++) {
    let q = Q[qb + b];
    FE[fb + xs[v * C + b]] += q;
    s += q;
  }
  if (v == g.root) { FPI[k] += s; }
}

// theta <- lambda theta + (1 - lambda) (F + alpha / n) / (sum F + alpha), renormalised; F <- 0.
fn mrowT(o: u32, n: u32) {
  var s = 0.0;
  for (var i = 0u; i < n; i++) { s += FT[o + i]; }
  let z = s + g.alpha;
  let a = g.alpha / f32(n);
  var tot = 0.0;
  for (var i = 0u; i < n; i++) {
    let nv = g.lambda * T[o + i] + (1.0 - g.lambda) * ((FT[o + i] + a) / z);
    T[o + i] = nv;
    tot += nv;
  }
  let inv = 1.0 / tot;
  for (var i = 0u; i < n; i++) { T[o + i] *= inv; FT[o + i] = 0.0; }
}

fn mrowE(o: u32, n: u32) {
  var s = 0.0;
  for (var i = 0u; i < n; i++) { s += FE[o + i]; }
  let z = s + g.alpha;
  let a = g.alpha / f32(n);
  var tot = 0.0;
  for (var i = 0u; i < n; i++) {
    let nv = g.lambda * E[o + i] + (1.0 - g.lambda) * ((FE[o + i] + a) / z);
    E[o + i] = nv;
    tot += nv;
  }
  let inv = 1.0 / tot;
  for (var i = 0u; i < n; i++) { E[o + i] *= inv; FE[o + i] = 0.0; }
}

fn mrowPi(n: u32) {
  var s = 0.0;
  for (var i = 0u; i < n; i++) { s += FPI[i]; }
  let z = s + g.alpha;
  let a = g.alpha / f32(n);
  var tot = 0.0;
  for (var i = 0u; i < n; i++) {
    let nv = g.lambda * PI[i] + (1.0 - g.lambda) * ((FPI[i] + a) / z);
    PI[i] = nv;
    tot += nv;
  }
  let inv = 1.0 / tot;
  for (var i = 0u; i < n; i++) { PI[i] *= inv; FPI[i] = 0.0; }
}

// M-step, one invocation per distribution: rows [0, D*M) are transition rows (the root's are unused and
// skipped), [D*M, 2*D*M) emission rows, 2*D*M the prior.
@compute @workgroup_size(64)
fn mstep(@builtin(global_invocation_id) gid: vec3u) {
  let M = g.M;
  let r = gid.x + gid.y * g.gridX;
  let DM = g.D * M;
  if (r < DM) {
    if (r / M != g.root) { mrowT(r * M, M); }
  } else if (r < 2u * DM) {
    mrowE((r - DM) * K, K);
  } else if (r == 2u * DM) {
    mrowPi(M);
  }
}
