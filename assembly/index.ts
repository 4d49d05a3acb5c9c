// pcpress wasm module: one file per op, re-exported here.
// Memory is managed from JS through alloc/free (16-byte aligned TLSF blocks).

/** Allocates `bytes` bytes of linear memory; returns a 16-byte aligned pointer. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Frees a block returned by alloc. */
export function free(ptr: usize): void {
  heap.free(ptr);
}

export { matmulF32, matmulPackedF32, matmulPackB, matmulPackedFloats } from "./matmul";
export { attentionTasks, attentionCombine, attentionScratchBytes } from "./attention";
export { ropeF32 } from "./rope";
export { rmsNormF32 } from "./rms_norm";
export { addF32 } from "./add";
export { siluMulF32 } from "./silu_mul";
export { transposeF32 } from "./transpose";
export * from "./pc";
export { kvScoreTasks, kvScoreCombine, kvValueNorm, kvKeyNorm, kvSelect } from "./kv";
export * from "./photo";
export { ransDecState } from "./rans";
