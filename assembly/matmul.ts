// f32 matmul on wasm SIMD: C[b] = op(A[b]) x op(B[b]), row-major.
//
// Blocked as in BLIS: B is packed into NR-wide column slivers per (KC x NC) panel,
// A into MR-tall row slivers per (MC x KC) block, and a 4x8 register micro-kernel
// (8 f32x4 accumulators) runs over the packed data. Transposition is absorbed by
// the packing routines, so the micro-kernel only ever sees one layout.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128; // multiple of MR
const NC: i32 = 2048; // multiple of NR
const DIRECT_B_MAX_M: i32 = 16;

// Scratch for one 4x8 edge tile.
let edge: usize = 0;

// Packs op(B)[pc..pc+kc, jc..jc+nc] into slivers of NR columns: dst[s][kk][0..NR].
// Columns past n are zero so the micro-kernel needs no bounds checks.
function packB(b: usize, k: i32, n: i32, transB: bool, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const j0 = jc + jr;
    const cols = min(NR, n - j0);
    const sliver = dst + (<usize>(jr * kc) << 2);
    if (!transB) {
      if (cols == NR) {
        for (let kk = 0; kk < kc; kk++) {
          const src = b + (<usize>((pc + kk) * n + j0) << 2);
          const d = sliver + (<usize>(kk * NR) << 2);
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
        }
      } else {
        for (let kk = 0; kk < kc; kk++) {
          const src = b + (<usize>((pc + kk) * n + j0) << 2);
          const d = sliver + (<usize>(kk * NR) << 2);
          for (let t = 0; t < NR; t++) {
            store<f32>(d + (<usize>t << 2), t < cols ? load<f32>(src + (<usize>t << 2)) : 0);
          }
        }
      }
    } else {
      // B stored as [n][k]: element (kk, j) at b[j*k + kk].
      for (let t = 0; t < NR; t++) {
        if (t < cols) {
          const src = b + (<usize>((j0 + t) * k + pc) << 2);
          for (let kk = 0; kk < kc; kk++) {
            store<f32>(sliver + (<usize>(kk * NR + t) << 2), load<f32>(src + (<usize>kk << 2)));
          }
        } else {
          for (let kk = 0; kk < kc; kk++) store<f32>(sliver + (<usize>(kk * NR + t) << 2), 0);
        }
      }
    }
  }
}

// Packs op(A)[ic..ic+mc, pc..pc+kc] into slivers of MR rows: dst[s][kk][0..MR].
function packA(a: usize, m: i32, k: i32, transA: bool, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const i0 = ic + ir;
    const rows = min(MR, m - i0);
    const sliver = dst + (<usize>(ir * kc) << 2);
    if (!transA) {
      for (let r = 0; r < MR; r++) {
        if (r < rows) {
          const src = a + (<usize>((i0 + r) * k + pc) << 2);
          for (let kk = 0; kk < kc; kk++) {
            store<f32>(sliver + (<usize>(kk * MR + r) << 2), load<f32>(src + (<usize>kk << 2)));
          }
        } else {
          for (let kk = 0; kk < kc; kk++) store<f32>(sliver + (<usize>(kk * MR + r) << 2), 0);
        }
      }
    } else {
      // A stored as [k][m]: element (i, kk) at a[kk*m + i].
      for (let kk = 0; kk < kc; kk++) {
        const src = a + (<usize>((pc + kk) * m + i0) << 2);
        const d = sliver + (<usize>(kk * MR) << 2);
        for (let r = 0; r < MR; r++) {
          store<f32>(d + (<usize>r << 2), r < rows ? load<f32>(src + (<usize>r << 2)) : 0);
        }
      }
    }
  }
}

// 4x8 micro-kernel: C[0..4, 0..8] (+)= Ap(kc x 4)^T * B(kc x 8). ldc in floats; ldb in bytes
// between consecutive k rows of B (NR*4 for a packed sliver, n*4 when B is read in place).
// Eight f32x4 accumulators leave V8 enough registers on x64; a 6x8 tile spills and runs ~40% slower.
// When `accumulate` is false the tile is overwritten.
// @ts-ignore: decorator
@inline
function kernel4x8(kc: i32, ap: usize, bp: usize, ldb: usize, c: usize, ldc: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let pa = ap, pb = bp;
  for (let kk = 0; kk < kc; kk++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let av = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(av, b0)); c01 = f32x4.add(c01, f32x4.mul(av, b1));
    av = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(av, b0)); c11 = f32x4.add(c11, f32x4.mul(av, b1));
    av = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(av, b0)); c21 = f32x4.add(c21, f32x4.mul(av, b1));
    av = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(av, b0)); c31 = f32x4.add(c31, f32x4.mul(av, b1));
    pa += <usize>(MR << 2);
    pb += ldb;
  }
  const ld = <usize>ldc << 2;
  let r = c;
  if (accumulate) {
    v128.store(r, f32x4.add(v128.load(r), c00)); v128.store(r, f32x4.add(v128.load(r, 16), c01), 16); r += ld;
    v128.store(r, f32x4.add(v128.load(r), c10)); v128.store(r, f32x4.add(v128.load(r, 16), c11), 16); r += ld;
    v128.store(r, f32x4.add(v128.load(r), c20)); v128.store(r, f32x4.add(v128.load(r, 16), c21), 16); r += ld;
    v128.store(r, f32x4.add(v128.load(r), c30)); v128.store(r, f32x4.add(v128.load(r, 16), c31), 16);
  } else {
    v128.store(r, c00); v128.store(r, c01, 16); r += ld;
    v128.store(r, c10); v128.store(r, c11, 16); r += ld;
    v128.store(r, c20); v128.store(r, c21, 16); r += ld;
    v128.store(r, c30); v128.store(r, c31, 16);
  }
}

// Floats of B packed whole (see packBWhole): every KC panel holds nPad = n rounded up to NR columns.
// @ts-ignore: decorator
@inline
function packedWholeFloats(k: i32, n: i32): i32 {
  return max(k, 1) * ((n + NR - 1) / NR * NR);
}

// Packs all of op(B) once: panel pc (KC rows, the last one shorter) starts at float pc * nPad and holds
// nPad / NR slivers of kc x NR, so the sliver of columns j0.. in panel pc is at pc * nPad + j0 * kc.
// That is exactly what packB writes for (pc, jc, jr), so a matmul over it runs the same kernel calls
// on the same values in the same order as one that packs B per call: the results are bit for bit equal.
function packBWhole(b: usize, k: i32, n: i32, transB: bool, dst: usize): void {
  const nPad = (n + NR - 1) / NR * NR;
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    packB(b, k, n, transB, pc, kc, 0, nPad, dst + (<usize>(pc * nPad) << 2));
  }
}

// `prepacked` (0 = none) is B packed by packBWhole; then b, transB and packedB are unused.
function matmulOne(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool, packedA: usize, packedB: usize, prepacked: usize = 0): void {
  matmulRange(a, b, c, m, k, n, transA, transB, packedA, packedB, prepacked, edge, 0, m, 0, n);
}

/** Scratch bytes one caller of matmulRange needs: packed A block, packed B panel, one edge tile. */
export const MATMUL_SCRATCH_BYTES: usize = <usize>(MC * KC + NC * KC + MR * NR) << 2;
/** Offsets in that scratch of the packed B panel and of the edge tile (the packed A block is at 0). */
export const MATMUL_SCRATCH_B: usize = <usize>(MC * KC) << 2;
export const MATMUL_SCRATCH_EDGE: usize = <usize>(MC * KC + NC * KC) << 2;

/**
 * C[rowLo..rowHi, colLo..colHi] of one product, with its own scratch (packedA, packedB, edgeTile): what
 * a thread of the pool runs on its share. rowLo must be a multiple of MR and colLo of NR. Each output
 * element gets the same kernel calls on the same values in the same order whatever the range is (only
 * the K blocking decides the order of the sums), so splitting C among threads does not change any bit.
 */
export function matmulRange(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool,
  packedA: usize, packedB: usize, prepacked: usize, edgeTile: usize, rowLo: i32, rowHi: i32, colLo: i32, colHi: i32): void {
  if (k == 0) {
    for (let i = rowLo; i < rowHi; i++) memory.fill(c + (<usize>(i * n + colLo) << 2), 0, <usize>(colHi - colLo) << 2);
    return;
  }
  // With few rows each B element is used only a few times, so packing B costs more than it
  // saves: read full 8-column slivers of a row-major B in place and pack only the ragged edge.
  const directB = prepacked == 0 && !transB && m <= DIRECT_B_MAX_M;
  const nPad = (n + NR - 1) / NR * NR;
  for (let jc = colLo; jc < colHi; jc += NC) {
    const nc = min(NC, colHi - jc);
    const ncPad = (nc + NR - 1) / NR * NR;
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const accumulate = pc > 0;
      const fullSlivers = directB ? nc / NR * NR : 0;
      if (prepacked != 0) {
        // B was packed once, up front
      } else if (directB) {
        if (fullSlivers < nc) packB(b, k, n, transB, pc, kc, jc + fullSlivers, NR, packedB + (<usize>(fullSlivers * kc) << 2));
      } else {
        packB(b, k, n, transB, pc, kc, jc, ncPad, packedB);
      }
      for (let ic = rowLo; ic < rowHi; ic += MC) {
        const mc = min(MC, rowHi - ic);
        const mcPad = (mc + MR - 1) / MR * MR;
        packA(a, m, k, transA, ic, mcPad, pc, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          let bp = packedB + (<usize>(jr * kc) << 2);
          let ldb = <usize>(NR << 2);
          if (prepacked != 0) {
            bp = prepacked + (<usize>(pc * nPad + (jc + jr) * kc) << 2);
          } else if (jr < fullSlivers) {
            bp = b + (<usize>(pc * n + jc + jr) << 2);
            ldb = <usize>n << 2;
          }
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const ap = packedA + (<usize>(ir * kc) << 2);
            const cTile = c + (<usize>((ic + ir) * n + jc + jr) << 2);
            if (rows == MR && cols == NR) {
              kernel4x8(kc, ap, bp, ldb, cTile, n, accumulate);
            } else {
              // Edge tile: compute into scratch, then copy the valid part.
              kernel4x8(kc, ap, bp, ldb, edgeTile, NR, false);
              for (let r = 0; r < rows; r++) {
                const dst = cTile + (<usize>(r * n) << 2);
                const src = edgeTile + (<usize>(r * NR) << 2);
                for (let t = 0; t < cols; t++) {
                  const p = dst + (<usize>t << 2);
                  const v = load<f32>(src + (<usize>t << 2));
                  store<f32>(p, accumulate ? load<f32>(p) + v : v);
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Batched f32 matmul. Pointers are byte offsets into this module's memory; sizes and
 * batch strides are in elements (a stride of 0 broadcasts that operand over the batch).
 * op(A) is m x k (A stored k x m when transA), op(B) is k x n (B stored n x k when transB).
 */
export function matmulF32(
  a: usize, b: usize, c: usize,
  m: i32, k: i32, n: i32,
  transA: i32, transB: i32,
  batch: i32, strideA: i32, strideB: i32, strideC: i32,
): void {
  if (edge == 0) edge = heap.alloc(<usize>(MR * NR) << 2);
  const kcMax = min(KC, max(k, 1));
  const packedA = heap.alloc(<usize>(MC * kcMax) << 2);
  const ncPad = (min(NC, max(n, 1)) + NR - 1) / NR * NR;
  const packedB = heap.alloc(<usize>(ncPad * kcMax) << 2);
  for (let i = 0; i < batch; i++) {
    matmulOne(
      a + (<usize>(i * strideA) << 2), b + (<usize>(i * strideB) << 2), c + (<usize>(i * strideC) << 2),
      m, k, n, transA != 0, transB != 0, packedA, packedB,
    );
  }
  heap.free(packedB);
  heap.free(packedA);
}

/** Floats needed to hold a k x n op(B) packed by matmulPackB. */
export function matmulPackedFloats(k: i32, n: i32): i32 {
  return packedWholeFloats(k, n);
}

/** Packs op(B) (k x n; stored n x k when transB) into `dst` (matmulPackedFloats(k, n) floats) for matmulPackedF32. */
export function matmulPackB(b: usize, k: i32, n: i32, transB: i32, dst: usize): void {
  packBWhole(b, k, n, transB != 0, dst);
}

/**
 * C[i] = op(A[i]) x B for i < batch, with B packed by matmulPackB (one B for every A). Gives the same bits
 * as matmulF32 on the unpacked B: the same kernel calls run on the same values in the same order.
 */
export function matmulPackedF32(
  a: usize, bp: usize, c: usize,
  m: i32, k: i32, n: i32,
  transA: i32, batch: i32, strideA: i32, strideC: i32,
): void {
  if (edge == 0) edge = heap.alloc(<usize>(MR * NR) << 2);
  const kcMax = min(KC, max(k, 1));
  const packedA = heap.alloc(<usize>(MC * kcMax) << 2);
  for (let i = 0; i < batch; i++) {
    matmulOne(
      a + (<usize>(i * strideA) << 2), 0, c + (<usize>(i * strideC) << 2),
      m, k, n, transA != 0, false, packedA, 0, bp,
    );
  }
  heap.free(packedA);
}
