// Node: matmul on the backend pcpress picks, then the same product kept on the device.
// Run: npm run build && node examples/node-matmul.mjs
import { createRuntime } from 'pcpress';

const rt = await createRuntime(); // 'auto': WebGPU only on a hardware adapter, else wasm SIMD
console.log(`backend: ${rt.backend} (${rt.reason})`);

// C (2x2) = A (2x3) x B (3x2), row-major f32.
const a = new Float32Array([1, 2, 3, 4, 5, 6]);
const b = new Float32Array([7, 8, 9, 10, 11, 12]);
const c = await rt.matmul(a, b, { m: 2, k: 3, n: 2 });
console.log('A x B =', Array.from(c)); // [58, 64, 139, 154]

// Device-resident: (A x B) x B^T without copying the intermediate back.
const ta = rt.tensor(a, [2, 3]);
const tb = rt.tensor(b, [3, 2]);
const ab = rt.matmul(ta, tb, { m: 2, k: 3, n: 2 });
const abbt = rt.matmul(ab, tb, { m: 2, k: 2, n: 3, transposeB: true });
console.log('(A x B) x B^T =', Array.from(await abbt.read()));
for (const t of [ta, tb, ab, abbt]) t.dispose();
rt.destroy();
