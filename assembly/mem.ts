// Memory helpers shared by the kernels.

/** Allocates `bytes` (at least 16) of zeroed linear memory. */
export function zalloc(bytes: usize): usize {
  const p = heap.alloc(bytes < 16 ? 16 : bytes);
  memory.fill(p, 0, bytes);
  return p;
}
