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
import { PREC, ransQueue, ransQueueEncode, ransQueueReserve, ransDecInit, ransDecSlot, ransDecAdvance, ransDecConsumed, ransDecDead, MINFREQ } from "./rans";
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
