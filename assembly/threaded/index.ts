// The kernel module of the thread pool: a second, small wasm module that every worker (and the main
// thread) instantiates on the runtime's shared memory. It has no data segments, no start function and
// no allocator: instantiating it writes nothing to memory, and it only reads and writes through the
// pointers it is given (operands, outputs, argument blocks and per-thread scratch, all allocated on the
// main thread). Its kernels are the single-thread module's own code (the same source files), so a task
// gives the same bits whichever module and thread runs it. No Math/Mathf exp or log here: those read
// tables from data segments (see assembly/mathx.ts); scripts/build.mjs checks the module has none.
import { matmulRange, MATMUL_SCRATCH_BYTES, MATMUL_SCRATCH_B, MATMUL_SCRATCH_EDGE } from "../matmul";
import { attentionTasks, attentionCombine, attentionScratchBytes, ATTENTION_COMBINE_ROWS } from "../attention";
import { kvScoreTasks } from "../kv";

/** Task kinds of runTask. */
const KIND_MATMUL = 0, KIND_ATTENTION = 1, KIND_ATTENTION_COMBINE = 2, KIND_KV_SCORE = 3;
/** Words of one matmul task in the task table. */
const MATMUL_TASK_ARGS = 17;

/** Bytes of scratch one thread needs for any task (matmul's blocks; attention needs less). */
export function taskScratchBytes(): i32 {
  return <i32>max(MATMUL_SCRATCH_BYTES, <usize>attentionScratchBytes(256));
}

/**
 * Runs task `t` of kind `kind` with the calling thread's `scratch` (taskScratchBytes) and its `slot`
 * (0 = the main thread, then one per worker). `args`: for matmul a table of 17-word tasks (matmulTask's
 * arguments without the scratch); for the others the call's argument block.
 */
export function runTask(kind: i32, args: usize, t: i32, slot: i32, scratch: usize): void {
  if (kind == KIND_MATMUL) {
    const p = args + (<usize>(t * MATMUL_TASK_ARGS) << 2);
    matmulTask(load<i32>(p), load<i32>(p, 4), load<i32>(p, 8), load<i32>(p, 12), load<i32>(p, 16), load<i32>(p, 20),
      load<i32>(p, 24), load<i32>(p, 28), load<i32>(p, 32), load<i32>(p, 36), load<i32>(p, 40), load<i32>(p, 44),
      load<i32>(p, 48), load<i32>(p, 52), load<i32>(p, 56), load<i32>(p, 60), load<i32>(p, 64), scratch);
  } else if (kind == KIND_ATTENTION) {
    attentionTasks(args, t, t + 1, scratch);
  } else if (kind == KIND_ATTENTION_COMBINE) {
    // task t: ATTENTION_COMBINE_ROWS output rows (attentionCombine stops at the last row)
    attentionCombine(args, t * ATTENTION_COMBINE_ROWS, t * ATTENTION_COMBINE_ROWS + ATTENTION_COMBINE_ROWS, scratch);
  } else if (kind == KIND_KV_SCORE) {
    kvScoreTasks(args, t, t + 1, slot);
  } else {
    unreachable();
  }
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
