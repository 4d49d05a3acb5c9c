// Deno: the same API; navigator.gpu is built in.
// Run: npm run build && npx deno run -A examples/deno-matmul.ts
import { createRuntime } from '../dist/index.js';

for (const backend of ['auto', 'wasm', 'webgpu'] as const) {
  try {
    const rt = await createRuntime({ backend });
    const c = await rt.matmul(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]), { m: 2, k: 3, n: 2 });
    console.log(`${backend} -> ${rt.backend}: ${Array.from(c)}  (${rt.reason})`);
    rt.destroy();
  } catch (e) {
    console.log(`${backend}: ${(e as Error).name}: ${(e as Error).message}`);
  }
}
