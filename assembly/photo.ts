// Photo codec kernels: per-pixel HCLT conditionals over a causal neighbourhood, with prediction,
// a reversible colour transform on the residuals, and rANS, for one rectangular region (tile).
//
// Every subpixel is coded as one 8-bit symbol z. With predictor "none" z is the raw sample; otherwise
// z = zigzag(d), where d is the prediction residual e = (x - pred) mod 256 after the colour transform
// (subtract-green or YCoCg-R lifting, both in mod-256 arithmetic on the residuals, so always 8 bits).
// Symbols live in per-slot planes Z[slot][y][x]; the coding order is raster order, slots 0..C-1 within
// each pixel.
//
// Model of slot s: an HCLT over D variables: variable 0 is the symbol being coded, variables 1..D-1
// are already-coded symbols at fixed offsets (ox, oy) in slot planes (0 outside the tile). The tree is
// rooted at variable 0 and given with a post-order (root last). P(z | context) is the exact PC
// conditional: one upward pass with the context as evidence (leaf messages are precomputed 256 x M
// tables, inner nodes one M x M product), then w[k] = pi[k] prod_children msg[k] and
// P(z = c) = sum_k w[k] E_0[k][c]. The mixture is evaluated in integers: w quantised to weights summing
// to 2^15, each E_0[k] to a cumulative table summing to 2^16, so
//   cdf(c) = sum_k W[k] CE[k][c] (<= 2^31),  cdfq(c) = floor(cdf(c) (2^24 - 4096) / 2^31) + 16 c,
// which is strictly increasing (every frequency >= MINFREQ = 16) with cdfq(256) = 2^24 exactly. Encoder and
// decoder run the same code; the decoder finds its symbol by binary search on cdfq (8 mixtures of M).
import { PREC, ransPut, ransFinish, ransQueue, ransQueueEncode, ransQueueReserve, ransDecInit, ransDecSlot, ransDecAdvance, ransDecConsumed, ransDecDead, MINFREQ } from "./rans";
import { zalloc } from "./mem";

const K: i32 = 256;
const MAXSLOT: i32 = 8;
const WTOT: u32 = 1 << 15;
const ETOT: u32 = 1 << 16;

// per model (index 0..MAXSLOT-1)
const mD = new StaticArray<i32>(MAXSLOT);
const mM = new StaticArray<i32>(MAXSLOT); // padded to a multiple of 4
const mParent = new StaticArray<usize>(MAXSLOT); // i32[D]
const mOrd = new StaticArray<usize>(MAXSLOT); // i32[D], post-order, root (0) last
const mKidStart = new StaticArray<usize>(MAXSLOT); // i32[D+1]
const mKids = new StaticArray<usize>(MAXSLOT); // i32[D]
const mSpec = new StaticArray<usize>(MAXSLOT); // i32[D][3]: plane, ox, oy
const mPi = new StaticArray<usize>(MAXSLOT); // f32[Mp]
const mT = new StaticArray<usize>(MAXSLOT); // f32[D][Mp][Mp] (row = parent state)
const mTab = new StaticArray<usize>(MAXSLOT); // f32[D][256][Mp]: leaf messages (leaves) or transposed emissions
const mCE = new StaticArray<usize>(MAXSLOT); // u32[257][Mp]: cumulative integer emissions of the root
const mMsg = new StaticArray<usize>(MAXSLOT); // f32[D][Mp] scratch messages
const mMsgPtr = new StaticArray<usize>(MAXSLOT); // usize[D]: where each node's message is
const mVals = new StaticArray<usize>(MAXSLOT); // i32[D] gathered context
const slotModel = new StaticArray<i32>(MAXSLOT);
const mOff = new StaticArray<usize>(MAXSLOT); // i32[D]: linear offset of each context symbol (this tile)
const mRaw = new StaticArray<i32>(MAXSLOT); // 1 if any context variable reads raw samples
const mReach = new StaticArray<i32>(MAXSLOT); // largest |ox| or |oy| of the context

let wP: usize = 0; // f32[1024] scratch weights
let uP: usize = 0; // f32[1024]
let WP: usize = 0; // u32[1024] integer weights

function scratch(): void {
  if (wP == 0) {
    wP = zalloc(4096);
    uP = zalloc(4096);
    WP = zalloc(4096);
  }
}

function freeModel(s: i32): void {
  if (unchecked(mD[s]) == 0) return;
  heap.free(unchecked(mParent[s]));
  heap.free(unchecked(mOrd[s]));
  heap.free(unchecked(mKidStart[s]));
  heap.free(unchecked(mKids[s]));
  heap.free(unchecked(mSpec[s]));
  heap.free(unchecked(mPi[s]));
  heap.free(unchecked(mT[s]));
  heap.free(unchecked(mTab[s]));
  heap.free(unchecked(mCE[s]));
  heap.free(unchecked(mMsg[s]));
  heap.free(unchecked(mMsgPtr[s]));
  heap.free(unchecked(mVals[s]));
  heap.free(unchecked(mOff[s]));
  unchecked(mD[s] = 0);
}

/**
 * Sets up model `s` (0..7): d variables, m latent states, parent (i32[d], parent[0] = -1 and variable 0
 * is the root), ord (i32[d], a post-order with 0 last), spec (i32[d][3]: slot plane, ox, oy of each
 * variable; variable 0 is the coded symbol itself). Returns 0, or -1 (sizes), -2 (tree), -3 (order).
 * Then fill pi/T/E through phPiPtr/phTransPtr/phEmitPtr and call phPrepare.
 */
export function phInit(s: i32, d: i32, m: i32, parent: usize, ord: usize, spec: usize): i32 {
  scratch();
  if (s < 0 || s >= MAXSLOT || d < 1 || d > 64 || m < 1 || m > 1024) return -1;
  freeModel(s);
  const mp = (m + 3) & ~3;
  // validate tree: parent[0] = -1, others in range; ord a post-order with 0 last
  if (load<i32>(parent) != -1) return -2;
  for (let v = 1; v < d; v++) {
    const p = load<i32>(parent + (<usize>v << 2));
    if (p < 0 || p >= d || p == v) return -2;
  }
  const pos = zalloc(<usize>d << 2);
  for (let v = 0; v < d; v++) store<i32>(pos + (<usize>v << 2), -1);
  let bad = false;
  for (let t = 0; t < d; t++) {
    const v = load<i32>(ord + (<usize>t << 2));
    if (v < 0 || v >= d || load<i32>(pos + (<usize>v << 2)) >= 0) { bad = true; break; }
    store<i32>(pos + (<usize>v << 2), t);
  }
  if (!bad && load<i32>(ord + (<usize>(d - 1) << 2)) != 0) bad = true;
  if (!bad) for (let v = 1; v < d; v++) {
    const p = load<i32>(parent + (<usize>v << 2));
    if (load<i32>(pos + (<usize>p << 2)) <= load<i32>(pos + (<usize>v << 2))) { bad = true; break; }
  }
  heap.free(pos);
  if (bad) return -3;
  unchecked(mD[s] = d);
  unchecked(mM[s] = mp);
  const par = zalloc(<usize>d << 2);
  memory.copy(par, parent, <usize>d << 2);
  unchecked(mParent[s] = par);
  const od = zalloc(<usize>d << 2);
  memory.copy(od, ord, <usize>d << 2);
  unchecked(mOrd[s] = od);
  const sp = zalloc(<usize>d * 12);
  memory.copy(sp, spec, <usize>d * 12);
  unchecked(mSpec[s] = sp);
  // children in CSR form
  const ks = zalloc(<usize>(d + 1) << 2);
  for (let v = 1; v < d; v++) {
    const p = load<i32>(par + (<usize>v << 2));
    store<i32>(ks + (<usize>(p + 1) << 2), load<i32>(ks + (<usize>(p + 1) << 2)) + 1);
  }
  for (let v = 0; v < d; v++) store<i32>(ks + (<usize>(v + 1) << 2), load<i32>(ks + (<usize>(v + 1) << 2)) + load<i32>(ks + (<usize>v << 2)));
  const kids = zalloc(<usize>d << 2);
  const fill = zalloc(<usize>d << 2);
  for (let v = 1; v < d; v++) {
    const p = load<i32>(par + (<usize>v << 2));
    const f = load<i32>(fill + (<usize>p << 2));
    store<i32>(kids + (<usize>(load<i32>(ks + (<usize>p << 2)) + f) << 2), v);
    store<i32>(fill + (<usize>p << 2), f + 1);
  }
  heap.free(fill);
  unchecked(mKidStart[s] = ks);
  unchecked(mKids[s] = kids);
  unchecked(mPi[s] = zalloc(<usize>mp << 2));
  unchecked(mT[s] = zalloc(<usize>d * <usize>mp * <usize>mp << 2));
  unchecked(mTab[s] = zalloc(<usize>d * 256 * <usize>mp << 2));
  unchecked(mCE[s] = zalloc(<usize>257 * <usize>mp << 2));
  unchecked(mMsg[s] = zalloc(<usize>d * <usize>mp << 2));
  unchecked(mMsgPtr[s] = zalloc(<usize>d << 3));
  unchecked(mVals[s] = zalloc(<usize>d << 2));
  unchecked(mOff[s] = zalloc(<usize>d << 2));
  let raw = 0, reach = 0;
  for (let v = 1; v < d; v++) {
    const pl = load<i32>(sp + <usize>v * 12);
    if (pl >= 8 && pl < 24) raw = 1;
    const ox = abs(load<i32>(sp + <usize>v * 12, 4)), oy = abs(load<i32>(sp + <usize>v * 12, 8));
    reach = max(reach, max(ox, oy));
  }
  unchecked(mRaw[s] = raw);
  unchecked(mReach[s] = max(reach, 1));
  return 0;
}

// Linear offsets of the context symbols in the planes of a tw x th tile, for the models of c slots.
function setOffsets(c: i32): void {
  for (let slot = 0; slot < c; slot++) {
    const s = unchecked(slotModel[slot]);
    const d = unchecked(mD[s]), sp = unchecked(mSpec[s]), off = unchecked(mOff[s]);
    for (let v = 1; v < d; v++) {
      const q = sp + <usize>v * 12;
      store<i32>(off + (<usize>v << 2), (load<i32>(q) * th + load<i32>(q, 8)) * tw + load<i32>(q, 4));
    }
  }
}

/** Pointer to model s's root prior pi (f32[Mp], Mp = M rounded up to a multiple of 4). */
export function phPiPtr(s: i32): usize { return unchecked(mPi[s]); }
/** Pointer to model s's transitions (f32[D][Mp][Mp], row = parent state; block 0 unused). */
export function phTransPtr(s: i32): usize { return unchecked(mT[s]); }
/** Pointer to where model s's emissions go before phPrepare: f32[D][256][Mp] (value-major). */
export function phEmitPtr(s: i32): usize { return unchecked(mTab[s]); }

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
  return hsum(acc);
}

function vsum(a: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) acc = f32x4.add(acc, v128.load(a + (<usize>i << 2)));
  return hsum(acc);
}

function vscale(a: usize, s: f32, n: i32): void {
  const vs = f32x4.splat(s);
  for (let i = 0; i < n; i += 4) v128.store(a + (<usize>i << 2), f32x4.mul(v128.load(a + (<usize>i << 2)), vs));
}

/**
 * Turns the loaded emissions into coding tables: leaf messages msg[x][j] = sum_k T[j][k] E[k][x]
 * (each row scaled to max 1) for leaves, and the root's integer cumulative table (each E_0[k] to
 * integers summing to 2^16, remainder to the largest). Deterministic f32/integer arithmetic.
 */
export function phPrepare(s: i32): void {
  const d = unchecked(mD[s]), mp = unchecked(mM[s]);
  const tab = unchecked(mTab[s]), ks = unchecked(mKidStart[s]);
  const tmp = zalloc(<usize>mp << 2);
  for (let v = 1; v < d; v++) {
    const leaf = load<i32>(ks + (<usize>v << 2)) == load<i32>(ks + (<usize>(v + 1) << 2));
    if (!leaf) continue;
    const tv = unchecked(mT[s]) + (<usize>(v * mp * mp) << 2);
    for (let x = 0; x < K; x++) {
      const row = tab + (<usize>((v * K + x) * mp) << 2);
      memory.copy(tmp, row, <usize>mp << 2);
      let mx: f32 = 0;
      for (let j = 0; j < mp; j++) {
        const m = dot(tv + (<usize>(j * mp) << 2), tmp, mp);
        store<f32>(row + (<usize>j << 2), m);
        if (m > mx) mx = m;
      }
      if (mx > 0) vscale(row, 1 / mx, mp);
    }
  }
  // inner nodes: emission rows scaled to max 1 (a constant factor per value: the posterior is the same,
  // and products stay far from underflow), and T_v transposed in place (TT[k][j] = T[j][k]) so that
  // messages are sums of columns
  for (let v = 1; v < d; v++) {
    const leaf = load<i32>(ks + (<usize>v << 2)) == load<i32>(ks + (<usize>(v + 1) << 2));
    if (leaf) continue;
    for (let x = 0; x < K; x++) {
      const row = tab + (<usize>((v * K + x) * mp) << 2);
      let mx: f32 = 0;
      for (let j = 0; j < mp; j++) mx = max(mx, load<f32>(row + (<usize>j << 2)));
      if (mx > 0) vscale(row, 1 / mx, mp);
    }
    const tv = unchecked(mT[s]) + (<usize>(v * mp * mp) << 2);
    for (let j = 0; j < mp; j++) for (let k = j + 1; k < mp; k++) {
      const a = tv + (<usize>(j * mp + k) << 2), b = tv + (<usize>(k * mp + j) << 2);
      const t = load<f32>(a);
      store<f32>(a, load<f32>(b));
      store<f32>(b, t);
    }
  }
  heap.free(tmp);
  // root: integer cumulative emissions, transposed: CE[c][k]
  const ce = unchecked(mCE[s]);
  const q = zalloc(256 << 2);
  for (let k = 0; k < mp; k++) {
    let sum: f64 = 0;
    for (let c = 0; c < K; c++) sum += <f64>load<f32>(tab + (<usize>(c * mp + k) << 2));
    let tot: u32 = 0;
    let best = 0;
    let bestQ: u32 = 0;
    for (let c = 0; c < K; c++) {
      let f: u32 = 0;
      if (sum > 0) {
        const x = <f64>load<f32>(tab + (<usize>(c * mp + k) << 2)) / sum * <f64>ETOT;
        f = x >= <f64>ETOT ? ETOT : <u32>Math.floor(x);
      }
      store<u32>(q + (<usize>c << 2), f);
      tot += f;
      if (f > bestQ) { bestQ = f; best = c; }
    }
    if (tot <= ETOT) store<u32>(q + (<usize>best << 2), bestQ + (ETOT - tot));
    else if (bestQ >= tot - ETOT) store<u32>(q + (<usize>best << 2), bestQ - (tot - ETOT));
    else for (let c = 0; c < K; c++) store<u32>(q + (<usize>c << 2), ETOT / 256);
    let acc: u32 = 0;
    for (let c = 0; c <= K; c++) {
      store<u32>(ce + (<usize>(c * mp + k) << 2), acc);
      if (c < K) acc += load<u32>(q + (<usize>c << 2));
    }
  }
  heap.free(q);
}

/** Maps slot `slot` (0..7) of the pixels to model `model`. */
export function phMap(slot: i32, model: i32): void {
  unchecked(slotModel[slot] = model);
}

// ---------------------------------------------------------------------------------------------
// tile state
let tw: i32 = 0;
let th: i32 = 0;
let tc: i32 = 0;
let zP: usize = 0; // u8[tc][th][tw] symbol planes
let pP: usize = 0; // u8[tc][th][tw] the prediction of every sample
let zCap: usize = 0;

function ensurePlanes(w: i32, h: i32, c: i32): void {
  const need = <usize>w * <usize>h * <usize>c;
  if (need > zCap) {
    if (zCap > 0) { heap.free(zP); heap.free(pP); }
    zP = zalloc(need);
    pP = zalloc(need);
    zCap = need;
  }
  tw = w;
  th = h;
  tc = c;
}

let imgP: usize = 0; // raw pixels of the tile being coded (u8[th][tw][tc])
const predBuf = new StaticArray<i32>(8); // prediction of each raw channel at the current pixel

// Context value: planes 0..7 are symbol planes; plane 16 + ch is zigzag(raw_ch(x, y) - pred_ch(current)),
// the neighbour relative to the current prediction; planes 24..35 are features of the current pixel
// (offset 0, 0) from its causal neighbours W, N, NW, NE of channel ch = (plane - 24) & 3:
// kind (plane - 24) >> 2 = 0: zigzag(clamp(W + N - NW) - pred), 1: zigzag(N - W), 2: zigzag(NE - N).
// 0 outside the tile.
// @ts-ignore: decorator
@inline function zat(plane: i32, x: i32, y: i32): i32 {
  if (plane >= 24) return feature(plane - 24, x, y);
  if (x < 0 || y < 0 || x >= tw) return 0;
  if (plane >= 16) {
    const ch = plane - 16;
    if (ch >= tc) return 0;
    return zig(<i32>load<u8>(imgP + (<usize>y * <usize>tw + <usize>x) * <usize>tc + <usize>ch) - unchecked(predBuf[ch]));
  }
  if (<u32>plane >= <u32>tc) return 0;
  return <i32>load<u8>(zP + (<usize>plane * <usize>th + <usize>y) * <usize>tw + <usize>x);
}

function feature(f: i32, x: i32, y: i32): i32 {
  const ch = f & 3, kind = f >> 2;
  if (x < 1 || y < 1 || ch >= tc) return 0;
  const a = <i32>load<u8>(imgP + (<usize>y * <usize>tw + <usize>(x - 1)) * <usize>tc + <usize>ch);
  const b = <i32>load<u8>(imgP + (<usize>(y - 1) * <usize>tw + <usize>x) * <usize>tc + <usize>ch);
  if (kind == 0) {
    const c = <i32>load<u8>(imgP + (<usize>(y - 1) * <usize>tw + <usize>(x - 1)) * <usize>tc + <usize>ch);
    let g = a + b - c;
    g = g < 0 ? 0 : g > 255 ? 255 : g;
    return zig(g - unchecked(predBuf[ch]));
  }
  if (kind == 1) return zig(b - a);
  if (x + 1 >= tw) return 0;
  return zig(<i32>load<u8>(imgP + (<usize>(y - 1) * <usize>tw + <usize>(x + 1)) * <usize>tc + <usize>ch) - b);
}

// predictions of the pixel at (x, y), as phSymbols (or the decoder) computed them
function setPreds(x: i32, y: i32, pred: i32): void {
  for (let c = 0; c < tc; c++) unchecked(predBuf[c] = <i32>load<u8>(pP + (<usize>c * <usize>th + <usize>y) * <usize>tw + <usize>x));
}

// ---------------------------------------------------------------------------------------------
// predictor 5: MED plus LOCO-I's bias cancellation. The context of a sample is its three quantised local
// gradients (NE - N, N - NW, NW - W; 9 levels each, sign-merged); each context keeps a running error sum B,
// a count N and a correction C that moves by one whenever the mean error leaves (-1, 0]. Per channel,
// reset at every tile; integer arithmetic only.
const NCTX: i32 = 729;
let biasP: usize = 0; // i32[8][729][3]: B, N, C
const ctxIdx = new StaticArray<i32>(8);
const ctxSign = new StaticArray<i32>(8);

function biasReset(c: i32): void {
  if (biasP == 0) biasP = zalloc(<usize>8 * <usize>NCTX * 12);
  for (let i = 0; i < c * NCTX; i++) {
    const q = biasP + <usize>i * 12;
    store<i32>(q, 0);
    store<i32>(q, 1, 4);
    store<i32>(q, 0, 8);
  }
}

// @ts-ignore: decorator
@inline function quant(g: i32): i32 {
  return g <= -21 ? -4 : g <= -7 ? -3 : g <= -3 ? -2 : g < 0 ? -1 : g == 0 ? 0 : g < 3 ? 1 : g < 7 ? 2 : g < 21 ? 3 : 4;
}

// Prediction of channel ch at (x, y) with the live bias state (predictor 5), or predict() otherwise.
function predictLive(img: usize, x: i32, y: i32, ch: i32, pred: i32): i32 {
  if (pred != 5) return predict(img, x, y, ch, pred);
  const m = predict(img, x, y, ch, 1);
  unchecked(ctxIdx[ch] = -1);
  if (x < 1 || y < 1 || x + 1 >= tw) return m;
  const w = px(img, x - 1, y, ch), n = px(img, x, y - 1, ch), nw = px(img, x - 1, y - 1, ch), ne = px(img, x + 1, y - 1, ch);
  let q1 = quant(ne - n), q2 = quant(n - nw), q3 = quant(nw - w);
  let sg = 1;
  if (q1 < 0 || (q1 == 0 && (q2 < 0 || (q2 == 0 && q3 < 0)))) { q1 = -q1; q2 = -q2; q3 = -q3; sg = -1; }
  const idx = ((q1 + 4) * 9 + (q2 + 4)) * 9 + (q3 + 4);
  unchecked(ctxIdx[ch] = idx);
  unchecked(ctxSign[ch] = sg);
  const p = m + sg * load<i32>(biasP + (<usize>(ch * NCTX + idx) * 12), 8);
  return p < 0 ? 0 : p > 255 ? 255 : p;
}

// After the sample v of channel ch was coded with prediction p.
function biasUpdate(ch: i32, v: i32, p: i32): void {
  const idx = unchecked(ctxIdx[ch]);
  if (idx < 0) return;
  const q = biasP + <usize>(ch * NCTX + idx) * 12;
  let b = load<i32>(q) + unchecked(ctxSign[ch]) * sgn8(v - p), n = load<i32>(q, 4), c = load<i32>(q, 8);
  if (n == 64) { n >>= 1; b >>= 1; }
  n++;
  if (b <= -n) {
    if (c > -127) c--;
    b += n;
    if (b <= -n) b = -n + 1;
  } else if (b > 0) {
    if (c < 127) c++;
    b -= n;
    if (b > 0) b = 0;
  }
  store<i32>(q, b);
  store<i32>(q, n, 4);
  store<i32>(q, c, 8);
}

// Mixture weights for the symbol of `slot` at (x, y): integer weights W (sum 2^15) at WP. Returns Mp.
function condWeights(slot: i32, x: i32, y: i32): i32 {
  const s = unchecked(slotModel[slot]);
  const d = unchecked(mD[s]), mp = unchecked(mM[s]);
  const spec = unchecked(mSpec[s]), vals = unchecked(mVals[s]);
  const reach = unchecked(mReach[s]);
  if (unchecked(mRaw[s]) == 0 && x >= reach && y >= reach && x + reach < tw) {
    // interior: every context symbol is inside the tile, at a fixed offset
    const base = zP + <usize>(y * tw + x), off = unchecked(mOff[s]);
    for (let v = 1; v < d; v++) {
      const pl = load<i32>(spec + <usize>v * 12);
      store<i32>(vals + (<usize>v << 2), pl < 8 ? <i32>load<u8>(base + <usize>load<i32>(off + (<usize>v << 2))) : feature(pl - 24, x, y));
    }
  } else {
    for (let v = 1; v < d; v++) {
      const sp = spec + <usize>v * 12;
      store<i32>(vals + (<usize>v << 2), zat(load<i32>(sp), x + load<i32>(sp, 4), y + load<i32>(sp, 8)));
    }
  }
  const ord = unchecked(mOrd[s]), ks = unchecked(mKidStart[s]), kids = unchecked(mKids[s]);
  const tab = unchecked(mTab[s]), msg = unchecked(mMsg[s]), mptr = unchecked(mMsgPtr[s]);
  const T = unchecked(mT[s]);
  for (let t = 0; t < d - 1; t++) {
    const v = load<i32>(ord + (<usize>t << 2));
    const row = tab + (<usize>((v * K + load<i32>(vals + (<usize>v << 2))) * mp) << 2);
    const k0 = load<i32>(ks + (<usize>v << 2)), k1 = load<i32>(ks + (<usize>(v + 1) << 2));
    if (k0 == k1) {
      store<usize>(mptr + (<usize>v << 3), row);
      continue;
    }
    // inner node: u = E_v[.][x_v] * prod children; msg = T u
    memory.copy(uP, row, <usize>mp << 2);
    for (let i = k0; i < k1; i++) {
      const c = load<i32>(kids + (<usize>i << 2));
      const cm = load<usize>(mptr + (<usize>c << 3));
      for (let j = 0; j < mp; j += 4) v128.store(uP + (<usize>j << 2), f32x4.mul(v128.load(uP + (<usize>j << 2)), v128.load(cm + (<usize>j << 2))));
    }
    const out = msg + (<usize>(v * mp) << 2);
    const tv = T + (<usize>(v * mp * mp) << 2);
    memory.fill(out, 0, <usize>mp << 2);
    for (let k = 0; k < mp; k++) {
      const uk = load<f32>(uP + (<usize>k << 2));
      if (uk == 0) continue;
      const vu = f32x4.splat(uk);
      const col = tv + (<usize>(k * mp) << 2);
      for (let j = 0; j < mp; j += 4) v128.store(out + (<usize>j << 2), f32x4.add(v128.load(out + (<usize>j << 2)), f32x4.mul(vu, v128.load(col + (<usize>j << 2)))));
    }
    store<usize>(mptr + (<usize>v << 3), out);
  }
  memory.copy(wP, unchecked(mPi[s]), <usize>mp << 2);
  const r0 = load<i32>(ks), r1 = load<i32>(ks + 4);
  for (let i = r0; i < r1; i++) {
    const c = load<i32>(kids + (<usize>i << 2));
    const cm = load<usize>(mptr + (<usize>c << 3));
    for (let j = 0; j < mp; j += 4) v128.store(wP + (<usize>j << 2), f32x4.mul(v128.load(wP + (<usize>j << 2)), v128.load(cm + (<usize>j << 2))));
  }
  // integer weights summing to 2^15: W = floor(w (2^15 - Mp) / sum w) in SIMD, the remainder (<= 2 Mp)
  // to state 0
  const sw = vsum(wP, mp);
  if (sw > 0 && sw < Infinity) {
    const vi = f32x4.splat(<f32>(WTOT - <u32>mp) / sw);
    let acc = i32x4.splat(0);
    for (let k = 0; k < mp; k += 4) {
      const q = i32x4.trunc_sat_f32x4_u(f32x4.mul(v128.load(wP + (<usize>k << 2)), vi));
      v128.store(WP + (<usize>k << 2), q);
      acc = i32x4.add(acc, q);
    }
    const sum = <u32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
    if (sum <= WTOT) {
      store<u32>(WP, load<u32>(WP) + (WTOT - sum));
      return s;
    }
  }
  let tot: u32 = 0, best = 0, bestW: u32 = 0;
  if (sw > 0 && sw < Infinity) {
    const inv: f32 = <f32>WTOT / sw;
    for (let k = 0; k < mp; k++) {
      let f = load<f32>(wP + (<usize>k << 2)) * inv;
      let q: u32 = f >= <f32>WTOT ? WTOT : <u32>f;
      store<u32>(WP + (<usize>k << 2), q);
      tot += q;
      if (q > bestW) { bestW = q; best = k; }
    }
  }
  if (tot == 0 || (tot > WTOT && bestW < tot - WTOT)) {
    // degenerate: the prior's shape would be better, but any fixed rule works; uniform over states
    const pi = unchecked(mPi[s]);
    tot = 0; best = 0; bestW = 0;
    for (let k = 0; k < mp; k++) {
      const q: u32 = load<f32>(pi + (<usize>k << 2)) > 0 ? 1 : 0;
      store<u32>(WP + (<usize>k << 2), q);
      tot += q;
      if (q > bestW) { bestW = q; best = k; }
    }
    if (tot == 0) { store<u32>(WP, 1); tot = 1; best = 0; bestW = 1; }
    // scale so the sum is <= WTOT, remainder below
    const f = WTOT / tot;
    tot = 0;
    for (let k = 0; k < mp; k++) {
      const q = load<u32>(WP + (<usize>k << 2)) * f;
      store<u32>(WP + (<usize>k << 2), q);
      tot += q;
    }
    bestW = load<u32>(WP + (<usize>best << 2));
  }
  if (tot <= WTOT) store<u32>(WP + (<usize>best << 2), bestW + (WTOT - tot));
  else store<u32>(WP + (<usize>best << 2), bestW - (tot - WTOT));
  return s;
}

// the CDF scale: 256 symbols of at least MINFREQ each, the rest shared by the mixture
const S24: u64 = (1 << PREC) - 256 * MINFREQ;

// @ts-ignore: decorator
@inline function cdfq(ce: usize, mp: i32, c: i32): u32 {
  const row = ce + (<usize>(c * mp) << 2);
  let acc = i32x4.splat(0);
  for (let k = 0; k < mp; k += 4) acc = i32x4.add(acc, i32x4.mul(v128.load(WP + (<usize>k << 2)), v128.load(row + (<usize>k << 2))));
  const cdf: u64 = <u64>(<u32>i32x4.extract_lane(acc, 0)) + <u64>(<u32>i32x4.extract_lane(acc, 1)) +
    <u64>(<u32>i32x4.extract_lane(acc, 2)) + <u64>(<u32>i32x4.extract_lane(acc, 3));
  return <u32>((cdf * S24) >> 31) + <u32>c * MINFREQ;
}

// ---------------------------------------------------------------------------------------------
// prediction and colour transform

// @ts-ignore: decorator
@inline function px(img: usize, x: i32, y: i32, ch: i32): i32 {
  return <i32>load<u8>(img + (<usize>y * <usize>tw + <usize>x) * <usize>tc + <usize>ch);
}

// Prediction of channel ch at (x, y) from already-coded samples. pred: 0 none, 1 MED (LOCO-I),
// 2 clamped gradient W + N - NW, 3 average of W and N, 4 MED with green's decision for all channels
// (5, MED with bias cancellation, is predictLive's).
function predict(img: usize, x: i32, y: i32, ch: i32, pred: i32): i32 {
  if (pred == 0) return 0;
  if (y == 0) return x == 0 ? 0 : px(img, x - 1, y, ch);
  if (x == 0) return px(img, x, y - 1, ch);
  const a = px(img, x - 1, y, ch), b = px(img, x, y - 1, ch), c = px(img, x - 1, y - 1, ch);
  if (pred == 4) {
    // MED with the decision taken on green (channel 1) for every channel of a colour image
    const g = tc >= 3 ? 1 : ch;
    const ga = px(img, x - 1, y, g), gb = px(img, x, y - 1, g), gc = px(img, x - 1, y - 1, g);
    const gmx = ga > gb ? ga : gb, gmn = ga < gb ? ga : gb;
    if (gc >= gmx) return ga < gb ? a : ga > gb ? b : (a < b ? a : b);
    if (gc <= gmn) return ga > gb ? a : ga < gb ? b : (a > b ? a : b);
    const v = a + b - c;
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }
  if (pred == 1) {
    const mx = a > b ? a : b, mn = a < b ? a : b;
    if (c >= mx) return mn;
    if (c <= mn) return mx;
    return a + b - c;
  }
  if (pred == 2) {
    const g = a + b - c;
    return g < 0 ? 0 : g > 255 ? 255 : g;
  }
  return (a + b) >> 1;
}

// @ts-ignore: decorator
@inline function sgn8(v: i32): i32 {
  return ((v + 128) & 255) - 128;
}

// @ts-ignore: decorator
@inline function zig(v: i32): i32 {
  const s = sgn8(v);
  return s >= 0 ? s << 1 : ((-s) << 1) - 1;
}

// @ts-ignore: decorator
@inline function unzig(z: i32): i32 {
  return (z & 1) ? -((z + 1) >> 1) : z >> 1;
}

// residuals of the pixel at (x, y) (raw channel order) -> slot symbols (xf: 0 none, 1 subtract-green, 2 YCoCg-R)
const eBuf = new StaticArray<i32>(8);
const dBuf = new StaticArray<i32>(8);

function forward(xf: i32, pred: i32): void {
  // eBuf holds residuals (raw channel order), result symbols (before zigzag) in dBuf
  if (tc >= 3 && xf == 1) {
    const g = unchecked(eBuf[1]);
    unchecked(dBuf[0] = g);
    unchecked(dBuf[1] = (unchecked(eBuf[0]) - g) & 255);
    unchecked(dBuf[2] = (unchecked(eBuf[2]) - g) & 255);
  } else if (tc >= 3 && xf == 2) {
    const r = unchecked(eBuf[0]), g = unchecked(eBuf[1]), b = unchecked(eBuf[2]);
    const co = (r - b) & 255;
    const t = (b + (sgn8(co) >> 1)) & 255;
    const cg = (g - t) & 255;
    const yy = (t + (sgn8(cg) >> 1)) & 255;
    unchecked(dBuf[0] = yy);
    unchecked(dBuf[1] = cg);
    unchecked(dBuf[2] = co);
  } else {
    for (let c = 0; c < 3 && c < tc; c++) unchecked(dBuf[c] = unchecked(eBuf[c]));
  }
  for (let c = 3; c < tc; c++) unchecked(dBuf[c] = unchecked(eBuf[c]));
}

function inverse(xf: i32): void {
  if (tc >= 3 && xf == 1) {
    const g = unchecked(dBuf[0]);
    unchecked(eBuf[1] = g);
    unchecked(eBuf[0] = (unchecked(dBuf[1]) + g) & 255);
    unchecked(eBuf[2] = (unchecked(dBuf[2]) + g) & 255);
  } else if (tc >= 3 && xf == 2) {
    const yy = unchecked(dBuf[0]), cg = unchecked(dBuf[1]), co = unchecked(dBuf[2]);
    const t = (yy - (sgn8(cg) >> 1)) & 255;
    const g = (cg + t) & 255;
    const b = (t - (sgn8(co) >> 1)) & 255;
    const r = (b + co) & 255;
    unchecked(eBuf[0] = r);
    unchecked(eBuf[1] = g);
    unchecked(eBuf[2] = b);
  } else {
    for (let c = 0; c < 3 && c < tc; c++) unchecked(eBuf[c] = unchecked(dBuf[c]));
  }
  for (let c = 3; c < tc; c++) unchecked(eBuf[c] = unchecked(dBuf[c]));
}

// Symbols of the pixel at (x, y) of img into the Z planes.
function symbols(img: usize, x: i32, y: i32, pred: i32, xf: i32): void {
  for (let c = 0; c < tc; c++) {
    const p = predictLive(img, x, y, c, pred), v = px(img, x, y, c);
    store<u8>(pP + (<usize>c * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>p);
    unchecked(eBuf[c] = (v - p) & 255);
    if (pred == 5) biasUpdate(c, v, p);
  }
  forward(xf, pred);
  for (let c = 0; c < tc; c++) {
    const d = unchecked(dBuf[c]);
    store<u8>(zP + (<usize>c * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>(pred == 0 ? d : zig(d)));
  }
}

let lastPred: i32 = 0;

/**
 * Computes the symbol planes of a tile (img: u8[h][w][c] interleaved) for prediction `pred` and
 * transform `xf`. Returns 0, or -1 for bad sizes.
 */
export function phSymbols(img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32): i32 {
  if (w < 1 || h < 1 || c < 1 || c > MAXSLOT) return -1;
  ensurePlanes(w, h, c);
  imgP = img;
  lastPred = pred;
  if (pred == 5) biasReset(c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) symbols(img, x, y, pred, xf);
  return 0;
}

/** Pointer to the symbol planes (u8[c][h][w]) of the last tile. */
export function phPlanesPtr(): usize { return zP; }

/**
 * Training samples: after phSymbols, writes for every pixel of the tile the D-vector of model `s`'s
 * variables for slot `slot` (variable 0 = the symbol) to out (u8[w*h][D]), using spec only
 * (phInit of s with any parameters). Returns the count written.
 */
export function phGather(s: i32, slot: i32, out: usize): i32 {
  const d = unchecked(mD[s]), spec = unchecked(mSpec[s]);
  let o = out;
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) {
    setPreds(x, y, lastPred);
    for (let v = 0; v < d; v++) {
      const sp = spec + <usize>v * 12;
      const pl = v == 0 ? slot : load<i32>(sp);
      store<u8>(o, <u8>zat(pl, x + load<i32>(sp, 4), y + load<i32>(sp, 8)));
      o++;
    }
  }
  return tw * th;
}

/**
 * Ideal code length (bits) of the tile whose planes phSymbols computed, under the models mapped to its
 * slots (sum of -log2(freq / 2^24)); per-slot totals go to out (f64[c]) when out != 0.
 */
export function phBits(out: usize): f64 {
  setOffsets(tc);
  let bits: f64 = 0;
  for (let c = 0; c < tc; c++) if (out) store<f64>(out + (<usize>c << 3), 0);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) for (let c = 0; c < tc; c++) {
    if (c == 0) setPreds(x, y, lastPred);
    const s = condWeights(c, x, y);
    const mp = unchecked(mM[s]), ce = unchecked(mCE[s]);
    const z = zat(c, x, y);
    const f = cdfq(ce, mp, z + 1) - cdfq(ce, mp, z);
    const b = <f64>PREC - Math.log2(<f64>f);
    bits += b;
    if (out) store<f64>(out + (<usize>c << 3), load<f64>(out + (<usize>c << 3)) + b);
  }
  return bits;
}

/**
 * Encodes a tile (img: u8[h][w][c]) into dst (capacity cap) as one rANS stream starting at state x0.
 * Returns the byte count, -1 if cap is too small, -2 for bad sizes.
 */
export function phEncode(img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32, dst: usize, cap: i32, x0: u64): i32 {
  if (phSymbols(img, w, h, c, pred, xf) != 0) return -2;
  const n = w * h * c;
  ransQueueReserve(n);
  setOffsets(c);
  let i = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++, i++) {
    if (ch == 0) setPreds(x, y, pred);
    const s = condWeights(ch, x, y);
    const mp = unchecked(mM[s]), ce = unchecked(mCE[s]);
    const z = zat(ch, x, y);
    const lo = cdfq(ce, mp, z);
    ransQueue(i, lo, cdfq(ce, mp, z + 1) - lo);
  }
  return ransQueueEncode(n, x0, dst, cap);
}

/**
 * Decodes a tile of w x h x c from len bytes at src into img (u8[h][w][c]); xmin is the smallest start
 * state the tile may have been coded from. Returns 0 when every byte was consumed (the caller then checks
 * ransDecState() against the start state it expects), -1 for a malformed stream, -2 if the stream runs
 * dry early or has bytes left (corrupt, truncated, another model), -3 for bad sizes.
 */
export function phDecode(src: usize, len: i32, img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32, xmin: u64): i32 {
  if (w < 1 || h < 1 || c < 1 || c > MAXSLOT) return -3;
  ensurePlanes(w, h, c);
  if (ransDecInit(src, len) != 0) return -1;
  imgP = img;
  setOffsets(c);
  if (pred == 5) biasReset(c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    for (let ch = 0; ch < c; ch++) {
      const p = predictLive(img, x, y, ch, pred);
      unchecked(predBuf[ch] = p);
      store<u8>(pP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>p);
    }
    for (let ch = 0; ch < c; ch++) {
      const s = condWeights(ch, x, y);
      const mp = unchecked(mM[s]), ce = unchecked(mCE[s]);
      const slot = ransDecSlot();
      let lo = 0, hi = 256;
      let clo: u32 = 0, chi: u32 = 1 << PREC;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const cm = cdfq(ce, mp, mid);
        if (cm <= slot) { lo = mid; clo = cm; } else { hi = mid; chi = cm; }
      }
      ransDecAdvance(clo, chi - clo);
      if (ransDecDead(xmin)) return -2;
      store<u8>(zP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>lo);
      const d = pred == 0 ? lo : unzig(lo) & 255;
      unchecked(dBuf[ch] = d);
    }
    inverse(xf);
    for (let ch = 0; ch < c; ch++) {
      const v = (unchecked(eBuf[ch]) + unchecked(predBuf[ch])) & 255;
      store<u8>(img + (<usize>y * <usize>tw + <usize>x) * <usize>tc + <usize>ch, <u8>v);
      if (pred == 5) biasUpdate(ch, v, unchecked(predBuf[ch]));
    }
  }
  return ransDecConsumed() ? 0 : -2;
}

/**
 * The coder's integer CDF (u32[257], cdf[256] = 2^24) of the symbol of `slot` at (x, y) of the tile whose
 * planes phSymbols computed, written to out. For tests: the same tables the encoder and decoder use.
 */
export function phCdf(slot: i32, x: i32, y: i32, out: usize): void {
  setOffsets(tc);
  setPreds(x, y, lastPred);
  const s = condWeights(slot, x, y);
  const mp = unchecked(mM[s]), ce = unchecked(mCE[s]);
  for (let c = 0; c <= K; c++) store<u32>(out + (<usize>c << 2), cdfq(ce, mp, c));
}

// ---------------------------------------------------------------------------------------------
// Adaptive mode (stream 0xB9): backward-adaptive context mixing over the same symbols z, bit by bit.
// Each 8-bit symbol is coded MSB first as 8 binary decisions (node = 1, then node * 2 + bit). For each
// decision, NH adaptive counters (selected by hashes of exact causal neighbour values and the node) and,
// optionally, the PC's conditional (the exact binary split of its integer CDF at the node) are mixed by two
// logistic mixers (integer weights per (slot, node) and per (slot, depth, neighbour equalities); squash and
// stretch by integer tables) averaged in the stretched domain, then refined by an adaptive
// probability map; the final 12-bit probability is coded with rANS (frequencies p << 12 and 2^24 - (p << 12),
// both >= 4096). Everything is integer arithmetic, reset at every tile, identical in encoder and decoder.

const SQT: StaticArray<i32> = [1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607,
  3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094];

// @ts-ignore: decorator
@inline function squash(d: i32): i32 {
  if (d > 2047) d = 2047;
  if (d < -2047) d = -2047;
  const w = d & 127, i = (d >> 7) + 16;
  return (unchecked(SQT[i]) * (128 - w) + unchecked(SQT[i + 1]) * w + 64) >> 7;
}

const NH: i32 = 11; // hashed contexts
const NI: i32 = NH + 2; // + PC input + bias
let cmReady = false;
const stretchT = new StaticArray<i16>(4096);
const dtT = new StaticArray<i32>(1024);

function cmTables(): void {
  if (cmReady) return;
  let pi = 0;
  for (let x = -2047; x <= 2047; x++) {
    const v = squash(x);
    for (let j = pi; j <= v; j++) unchecked(stretchT[j] = <i16>x);
    pi = v + 1;
  }
  for (let j = pi; j < 4096; j++) unchecked(stretchT[j] = 2047);
  for (let n = 0; n < 1024; n++) unchecked(dtT[n] = 131072 / (2 * n + 3));
  cmReady = true;
}

// parameters (cmParams)
let cmLimit: i32 = 127; // counter count limit (adaptation floor 1 / (limit + 1.5))
let cmLr: i32 = 14; // mixer learning rate
// most log2 entries per context table (fewer for small tiles: cmReset). 20: 11 tables of 4 MiB (44 MiB) at
// most, whatever the tile; a decoder allocates this for any stream (even a few bytes of a blank tile), so it
// is a fixed small cap, not a size that follows the tile (2^22 was 176 MiB for +0.5% ideal bits)
let cmTB: i32 = 20;
let cmMask: i32 = 0x7ff; // contexts used (bit i = context i)
let cmApm: i32 = 1; // final APM on/off
let cmW2: usize = 0; // i32[8 slots][8 depths][32 selectors][NI]: the second mixer
let cmSel: i32 = 0; // its selector: W == N, N == NE, W == NW, N == NN (raw, this channel), a match run

/** Experiment knobs of the adaptive mode (the stream's coder uses the defaults). */
export function cmParams(limit: i32, lr: i32, tb: i32, mask: i32, apm: i32): void {
  cmLimit = limit; cmLr = lr; cmTB = tb < 16 ? 16 : tb > 24 ? 24 : tb; cmMask = mask; cmApm = apm;
}

let cmTab: usize = 0; // u32[NH][2^TB] counters (p22 << 10 | count) ^ 2^31, so 0 = (1/2, 0)
let cmTabBits: i32 = 0;
let cmW: usize = 0; // i32[8 slots][256 nodes][NI] mixer weights (16.16)
let cmA: usize = 0; // u16[8][256][33] APM
const cmH = new StaticArray<u32>(16);
const cmSt = new StaticArray<i32>(16);
const cmIdx = new StaticArray<usize>(16);
const cmLine = new StaticArray<usize>(16);
let cmBitsAcc: f64 = 0;
let cmQ: usize = 0; // u16 queue: p12 | bit << 15
let cmQCap: i32 = 0;
let cmQn: i32 = 0;
let cmUsePc: i32 = 0;
// match model: the last position whose causal neighbourhood (whole pixels W, N, NW, NE, WW) hashed alike
const MMBITS: i32 = 18;
let mmTab: usize = 0; // i32[2^MMBITS]: position + 1
let mmPtr: i32 = 0; // candidate position + 1 for the current pixel (0: none)
let mmLen: i32 = 0; // pixels the candidate's run has matched
let cmXf: i32 = 0;

let cmTabCap: i32 = 0;

// Fresh state for a tile of n samples: tables of 2^tb counters per context, tb = ceil(log2(32 n)) in 16..cmTB.
function cmReset(n: i32): void {
  cmTables();
  let tb = 16;
  while (tb < cmTB && (<i64>1 << tb) < <i64>n * 32) tb++;
  if (tb > cmTabCap) {
    if (cmTab != 0) heap.free(cmTab);
    cmTab = heap.alloc(<usize>NH << (<usize>tb + 2));
    cmTabCap = tb;
  }
  cmTabBits = tb;
  memory.fill(cmTab, 0, <usize>NH << (<usize>tb + 2));
  if (cmW == 0) cmW = heap.alloc(<usize>8 * 256 * NI * 4);
  for (let i = 0; i < 8 * 256; i++) {
    const w = cmW + <usize>i * NI * 4;
    for (let j = 0; j < NI; j++) store<i32>(w + (<usize>j << 2), j < NH ? 16384 : j == NH ? 32768 : 0);
  }
  if (mmTab == 0) mmTab = heap.alloc(<usize>4 << MMBITS);
  memory.fill(mmTab, 0, <usize>4 << MMBITS);
  mmPtr = 0;
  mmLen = 0;
  if (cmW2 == 0) cmW2 = heap.alloc(<usize>8 * 8 * 32 * NI * 4);
  for (let i = 0; i < 8 * 8 * 32; i++) {
    const w = cmW2 + <usize>i * NI * 4;
    for (let j = 0; j < NI; j++) store<i32>(w + (<usize>j << 2), j < NH ? 16384 : j == NH ? 32768 : 0);
  }
  if (cmA == 0) cmA = heap.alloc(<usize>8 * 256 * 33 * 2);
  for (let i = 0; i < 8 * 256; i++) for (let j = 0; j < 33; j++) {
    store<u16>(cmA + (<usize>(i * 33 + j) << 1), <u16>(squash((j - 16) * 128) * 16));
  }
}

// raw sample of channel ch at (x, y) of the tile, 256 outside
// @ts-ignore: decorator
@inline function rv(ch: i32, x: i32, y: i32): u32 {
  if (x < 0 || y < 0 || x >= tw) return 256;
  return <u32>load<u8>(imgP + (<usize>y * <usize>tw + <usize>x) * <usize>tc + <usize>ch);
}

// whole pixel at (x, y) packed, 0xFFFFFFFF outside
// @ts-ignore: decorator
@inline function rpix(x: i32, y: i32): u32 {
  if (x < 0 || y < 0 || x >= tw) return 0xffffffff;
  const p = imgP + (<usize>y * <usize>tw + <usize>x) * <usize>tc;
  let v: u32 = 0;
  for (let c = 0; c < tc; c++) v = (v << 8) | <u32>load<u8>(p + <usize>c);
  return v;
}

// symbol of slot s at (x, y), 0 outside
// @ts-ignore: decorator
@inline function zv(s: i32, x: i32, y: i32): u32 {
  if (x < 0 || y < 0 || x >= tw) return 0;
  return <u32>load<u8>(zP + (<usize>s * <usize>th + <usize>y) * <usize>tw + <usize>x);
}

// @ts-ignore: decorator
@inline function hh(h: u32, v: u32): u32 {
  h = (h ^ v) * 0x9E3779B1;
  return h ^ (h >>> 15);
}

// @ts-ignore: decorator
@inline function qz(z: u32): u32 {
  return z < 4 ? z : z < 8 ? 4 : z < 16 ? 5 : z < 32 ? 6 : 7;
}

// Contexts of slot s at (x, y): hashes into cmH.
function cmContexts(s: i32, x: i32, y: i32): void {
  const ch = (tc >= 3 && cmXf == 1) ? (s == 0 ? 1 : s == 1 ? 0 : s) : s;
  let cur: u32 = 0;
  for (let j = 0; j < s; j++) cur = (cur << 8) | zv(j, x, y);
  const W = rv(ch, x - 1, y), N = rv(ch, x, y - 1), NW = rv(ch, x - 1, y - 1), NE = rv(ch, x + 1, y - 1);
  const WW = rv(ch, x - 2, y), NN = rv(ch, x, y - 2);
  cmSel = (W == N ? 1 : 0) | (N == NE ? 2 : 0) | (W == NW ? 4 : 0) | (N == NN ? 8 : 0) | (mmLen > 0 ? 16 : 0);
  const b = <u32>(s + 1) * 0x1000193;
  const pr0 = <u32>load<u8>(pP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x);
  unchecked(cmH[0] = hh(hh(hh(b, pr0), (qz(zv(s, x - 1, y)) << 3) | qz(zv(s, x, y - 1))), cur));
  unchecked(cmH[1] = hh(hh(hh(b + 1, W), N), cur));
  unchecked(cmH[2] = hh(hh(hh(hh(hh(b + 2, W), N), NW), NE), cur));
  unchecked(cmH[3] = hh(hh(hh(hh(b + 3, N), NN), NE), cur));
  unchecked(cmH[4] = hh(hh(hh(hh(b + 4, W), WW), NW), cur));
  unchecked(cmH[5] = hh(hh(hh(b + 5, rpix(x - 1, y)), rpix(x, y - 1)), cur));
  const zW = zv(s, x - 1, y), zN = zv(s, x, y - 1), zNW = zv(s, x - 1, y - 1), zNE = zv(s, x + 1, y - 1);
  unchecked(cmH[6] = hh(hh(hh(b + 6, zW), zN), cur));
  let cq: u32 = 0;
  for (let j = 0; j < s; j++) cq = (cq << 3) | qz(zv(j, x, y));
  unchecked(cmH[7] = hh(hh(b + 7, (qz(zW) << 9) | (qz(zN) << 6) | (qz(zNW) << 3) | qz(zNE)), cq));
  const pr = <u32>load<u8>(pP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x);
  unchecked(cmH[8] = hh(hh(b + 8, pr), cur));
  unchecked(cmH[9] = hh(hh(hh(hh(b + 9, rpix(x - 1, y)), rpix(x, y - 1)), rpix(x + 1, y - 1)), rpix(x - 1, y - 1)));
  if (mmPtr > 0) {
    const mp = mmPtr - 1, mx = mp % tw, my = mp / tw;
    let ok: u32 = 1;
    for (let j = 0; j < s; j++) if (zv(j, mx, my) != zv(j, x, y)) ok = 0;
    const lb: u32 = mmLen == 0 ? 0 : mmLen < 4 ? 1 : mmLen < 8 ? 2 : mmLen < 16 ? 3 : mmLen < 32 ? 4 : 5;
    unchecked(cmH[10] = hh(b + 10, (zv(s, mx, my) << 4) | (lb << 1) | ok));
  } else unchecked(cmH[10] = hh(b + 10, 0xfffff));
}

// @ts-ignore: decorator
@inline function mmHash(x: i32, y: i32): u32 {
  return hh(hh(hh(hh(hh(0x5bd1e995, rpix(x - 1, y)), rpix(x, y - 1)), rpix(x - 1, y - 1)), rpix(x + 1, y - 1)), rpix(x - 2, y)) >>> (32 - MMBITS);
}

// After the pixel at (x, y) is coded (its samples in imgP): verify and advance the match, remember the
// position under its neighbourhood's hash, and find a candidate for the next pixel.
function mmUpdate(x: i32, y: i32): void {
  const cur = y * tw + x;
  if (mmPtr > 0) {
    const mp = mmPtr - 1;
    let eq = true;
    for (let c = 0; c < tc; c++) {
      if (load<u8>(imgP + <usize>mp * <usize>tc + <usize>c) != load<u8>(imgP + <usize>cur * <usize>tc + <usize>c)) { eq = false; break; }
    }
    if (eq) { if (mmLen < 65535) mmLen++; } else mmLen = 0;
  }
  store<i32>(mmTab + (<usize>mmHash(x, y) << 2), cur + 1);
  let nx = x + 1, ny = y;
  if (nx >= tw) { nx = 0; ny++; }
  if (ny >= th) return;
  if (mmLen > 0 && nx > 0 && (mmPtr % tw) != 0) {
    mmPtr++;
  } else {
    mmLen = 0;
    mmPtr = load<i32>(mmTab + (<usize>mmHash(nx, ny) << 2));
  }
}

/**
 * Codes (mode 0: ideal bits, 1: queue for encoding) or decodes (mode 2) the symbol of slot s at (x, y);
 * z is the symbol when coding. Returns the symbol, or -1 when the decoder's stream is dead.
 */
function cmSymbol(s: i32, x: i32, y: i32, z: i32, mode: i32, xmin: u64): i32 {
  cmContexts(s, x, y);
  let mp = 0, ce: usize = 0;
  if (cmUsePc) {
    const sm = condWeights(s, x, y);
    mp = unchecked(mM[sm]);
    ce = unchecked(mCE[sm]);
  }
  // each context's counters for one nibble of the bit tree lie in one 64-byte line (16 counters, nodes
  // 1..15 of the nibble), found by hashing the context with the high nibble: 2 cache lines per context
  // and symbol instead of 8
  const shift = <u32>(32 - (cmTabBits - 4));
  let node = 1;
  let lo = 0;
  let clo: u32 = 0, chi: u32 = 1 << PREC;
  const lim = cmLimit;
  for (let k = 0; k < 8; k++) {
    if (k == 0 || k == 4) {
      const hi = k == 0 ? 0 : <u32>(node - 15);
      for (let i = 0; i < NH; i++) {
        const line = <usize>(hh(unchecked(cmH[i]), hi * 0x2545F491) >>> shift);
        unchecked(cmLine[i] = cmTab + (((<usize>i << <usize>cmTabBits) + (line << 4)) << 2));
      }
    }
    const nib = k < 4 ? node : ((1 << (k - 4)) | (node & ((1 << (k - 4)) - 1)));
    // counters
    for (let i = 0; i < NH; i++) {
      if (!((cmMask >> i) & 1)) { unchecked(cmSt[i] = 0); continue; }
      const a = unchecked(cmLine[i]) + (<usize>nib << 2);
      unchecked(cmIdx[i] = a);
      const e = load<u32>(a) ^ 0x80000000;
      unchecked(cmSt[i] = <i32>unchecked(stretchT[e >>> 20]));
    }
    // the PC's split at this node
    const mid = lo + (128 >> k);
    let cmid: u32 = 0;
    if (cmUsePc) {
      cmid = cdfq(ce, mp, mid);
      let p1 = <i32>((<u64>(chi - cmid) << 12) / <u64>(chi - clo));
      p1 = p1 < 1 ? 1 : p1 > 4095 ? 4095 : p1;
      unchecked(cmSt[NH] = <i32>unchecked(stretchT[p1]));
    } else unchecked(cmSt[NH] = 0);
    unchecked(cmSt[NH + 1] = 256);
    const wset = cmW + <usize>((s * 256 + node) * NI) * 4;
    let dot: i64 = 0;
    for (let i = 0; i < NI; i++) dot += <i64>unchecked(cmSt[i]) * <i64>load<i32>(wset + (<usize>i << 2));
    let d = <i32>(dot >> 16);
    d = d < -2047 ? -2047 : d > 2047 ? 2047 : d;
    const p1 = squash(d);
    // the second mixer (weights per slot, bit depth and selector); the two average in the stretched domain
    const wset2 = cmW2 + <usize>(((s * 8 + k) * 32 + cmSel) * NI) * 4;
    let dot2: i64 = 0;
    for (let i = 0; i < NI; i++) dot2 += <i64>unchecked(cmSt[i]) * <i64>load<i32>(wset2 + (<usize>i << 2));
    let d2 = <i32>(dot2 >> 16);
    d2 = d2 < -2047 ? -2047 : d2 > 2047 ? 2047 : d2;
    const p2 = squash(d2);
    d = (d + d2) >> 1;
    const pm = squash(d);
    let p = pm;
    let aIdx: usize = 0, aw = 0;
    if (cmApm) {
      const t = d + 2048, j = t >> 7;
      aw = t & 127;
      aIdx = cmA + (<usize>((s * 256 + node) * 33 + j) << 1);
      const pa = (<i32>load<u16>(aIdx) * (128 - aw) + <i32>load<u16>(aIdx, 2) * aw) >> 11;
      p = (pm + 3 * pa) >> 2;
    }
    p = p < 1 ? 1 : p > 4095 ? 4095 : p;
    // the bit
    let bit = 0;
    const f1: u32 = <u32>p << 12, f0: u32 = (<u32>1 << PREC) - f1;
    if (mode == 2) {
      bit = ransDecSlot() >= f0 ? 1 : 0;
      if (bit) ransDecAdvance(f0, f1); else ransDecAdvance(0, f0);
      if (ransDecDead(xmin)) return -1;
    } else {
      bit = (z >> (7 - k)) & 1;
      if (mode == 0) cmBitsAcc += <f64>12 - Math.log2(<f64>(bit ? p : 4096 - p));
      else { store<u16>(cmQ + (<usize>cmQn << 1), <u16>(p | (bit << 15))); cmQn++; }
    }
    // updates
    const err = ((bit << 12) - p1) * cmLr;
    for (let i = 0; i < NI; i++) {
      const q = wset + (<usize>i << 2);
      store<i32>(q, load<i32>(q) + ((unchecked(cmSt[i]) * err) >> 14));
    }
    const err2 = ((bit << 12) - p2) * cmLr;
    for (let i = 0; i < NI; i++) {
      const q = wset2 + (<usize>i << 2);
      store<i32>(q, load<i32>(q) + ((unchecked(cmSt[i]) * err2) >> 14));
    }
    for (let i = 0; i < NH; i++) {
      if (!((cmMask >> i) & 1)) continue;
      const a = unchecked(cmIdx[i]);
      const e = load<u32>(a) ^ 0x80000000;
      const n = <i32>(e & 1023);
      const pv = <i32>(e >>> 10);
      const tgt = bit ? 4194303 : 0;
      const np = pv + <i32>((<i64>(tgt - pv) * <i64>unchecked(dtT[n])) >> 16);
      store<u32>(a, ((<u32>np << 10) | <u32>(n < lim ? n + 1 : n)) ^ 0x80000000);
    }
    if (cmApm) {
      const tgt = bit << 16;
      const a0 = <i32>load<u16>(aIdx), a1 = <i32>load<u16>(aIdx, 2);
      store<u16>(aIdx, <u16>(a0 + (((tgt - a0) >> 6) * (128 - aw) >> 7)));
      store<u16>(aIdx, <u16>(a1 + (((tgt - a1) >> 6) * aw >> 7)), 2);
    }
    if (cmUsePc) { if (bit) clo = cmid; else chi = cmid; }
    if (bit) lo = mid;
    node = (node << 1) | bit;
  }
  return node & 255;
}

/** Ideal code length (bits) of a tile (img: u8[h][w][c]) in the adaptive mode; usePc: mix in the PC model. */
export function cmBits(img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32, usePc: i32): f64 {
  if (phSymbols(img, w, h, c, pred, xf) != 0) return -1;
  cmReset(w * h * c);
  cmUsePc = usePc;
  cmXf = xf;
  if (usePc) setOffsets(c);
  cmBitsAcc = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (usePc) setPreds(x, y, pred);
    for (let ch = 0; ch < c; ch++) cmSymbol(ch, x, y, <i32>zv(ch, x, y), 0, 0);
    mmUpdate(x, y);
  }
  return cmBitsAcc;
}

function cmStart(w: i32, h: i32, c: i32, pred: i32, xf: i32, usePc: i32): void {
  cmReset(w * h * c);
  cmUsePc = usePc;
  cmXf = xf;
  if (usePc) setOffsets(c);
  if (pred == 5) biasReset(c);
}

/**
 * Encodes a tile (img: u8[h][w][c]) in the adaptive mode into dst (capacity cap) as one rANS stream
 * starting at state x0. Returns the byte count, -1 if cap is too small, -2 for bad sizes.
 */
export function cmEncode(img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32, usePc: i32, dst: usize, cap: i32, x0: u64): i32 {
  if (phSymbols(img, w, h, c, pred, xf) != 0) return -2;
  cmStart(w, h, c, pred, xf, usePc);
  const n = w * h * c * 8;
  if (n > cmQCap) {
    if (cmQ != 0) heap.free(cmQ);
    cmQ = heap.alloc(<usize>n << 1);
    cmQCap = n;
  }
  cmQn = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (usePc) setPreds(x, y, pred);
    for (let ch = 0; ch < c; ch++) cmSymbol(ch, x, y, <i32>zv(ch, x, y), 1, 0);
    mmUpdate(x, y);
  }
  const maxw = (cap >> 2) + 2;
  const words = heap.alloc(<usize>(maxw + 2) << 2), st = heap.alloc(8);
  store<u64>(st, x0);
  let nw = 0;
  for (let j = cmQn - 1; j >= 0; j--) {
    const e = <u32>load<u16>(cmQ + (<usize>j << 1));
    const f1: u32 = (e & 4095) << 12, f0: u32 = (<u32>1 << PREC) - f1;
    nw = (e >> 15) ? ransPut(load<u64>(st), f0, f1, words, nw, st) : ransPut(load<u64>(st), 0, f0, words, nw, st);
    if (nw >= maxw) { heap.free(words); heap.free(st); return -1; }
  }
  const r = ransFinish(load<u64>(st), words, nw, dst, cap);
  heap.free(words);
  heap.free(st);
  return r;
}

/**
 * Decodes a tile of w x h x c in the adaptive mode from len bytes at src into img (u8[h][w][c]); xmin is
 * the smallest start state. Returns 0 when every byte was consumed (the caller then checks ransDecState()),
 * -1 for a malformed stream, -2 if the stream runs dry early or has bytes left, -3 for bad sizes.
 */
export function cmDecode(src: usize, len: i32, img: usize, w: i32, h: i32, c: i32, pred: i32, xf: i32, usePc: i32, xmin: u64): i32 {
  if (w < 1 || h < 1 || c < 1 || c > MAXSLOT) return -3;
  ensurePlanes(w, h, c);
  if (ransDecInit(src, len) != 0) return -1;
  imgP = img;
  cmStart(w, h, c, pred, xf, usePc);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    for (let ch = 0; ch < c; ch++) {
      const p = predictLive(img, x, y, ch, pred);
      unchecked(predBuf[ch] = p);
      store<u8>(pP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>p);
    }
    for (let ch = 0; ch < c; ch++) {
      const z = cmSymbol(ch, x, y, 0, 2, xmin);
      if (z < 0) return -2;
      store<u8>(zP + (<usize>ch * <usize>th + <usize>y) * <usize>tw + <usize>x, <u8>z);
      unchecked(dBuf[ch] = pred == 0 ? z : unzig(z) & 255);
    }
    inverse(xf);
    for (let ch = 0; ch < c; ch++) {
      const v = (unchecked(eBuf[ch]) + unchecked(predBuf[ch])) & 255;
      store<u8>(img + (<usize>y * <usize>tw + <usize>x) * <usize>tc + <usize>ch, <u8>v);
      if (pred == 5) biasUpdate(ch, v, unchecked(predBuf[ch]));
    }
    mmUpdate(x, y);
  }
  return ransDecConsumed() ? 0 : -2;
}
