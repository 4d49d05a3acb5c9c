// The matmul kernel for the thread pool: a second, small wasm module that every worker (and the main
// thread) instantiates on the runtime's shared memory. It has no data segments, no start function and
// no allocator: instantiating it writes nothing to memory, and it only reads and writes through the
// pointers it is given (operands, C, and a per-thread scratch block allocated on the main thread).
import { matmulRange, MATMUL_SCRATCH_BYTES, MATMUL_SCRATCH_B, MATMUL_SCRATCH_EDGE } from "../matmul";

/** Bytes of scratch one thread needs for matmulTask. */
export function matmulTaskScratchBytes(): i32 {
  return <i32>MATMUL_SCRATCH_BYTES;
}

/**
 * One thread's share of a batched matmul: rows [rowLo, rowHi) and columns [colLo, colHi) of every
 * product. Pointers are byte offsets; sizes and batch strides in elements; `prepacked` (0 = none) is B
 * packed by matmulPackB (then b and transB are unused and strideB is 0).
 */
export function matmulTask(
  a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, transB: i32, prepacked: usize,
  batch: i32, strideA: i32, strideB: i32, strideC: i32,
  rowLo: i32, rowHi: i32, colLo: i32, colHi: i32, scratch: usize,
): void {
  const packedA = scratch;
  const packedB = scratch + MATMUL_SCRATCH_B;
  const edgeTile = scratch + MATMUL_SCRATCH_EDGE;
  for (let i = 0; i < batch; i++) {
    matmulRange(
      a + (<usize>(i * strideA) << 2), b + (<usize>(i * strideB) << 2), c + (<usize>(i * strideC) << 2),
      m, k, n, transA != 0, transB != 0, packedA, packedB, prepacked, edgeTile, rowLo, rowHi, colLo, colHi,
    );
  }
}
