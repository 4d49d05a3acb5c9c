// The shared conformance cases in Node, on wasm and on WebGPU (Dawn via the npm "webgpu" package).
// WebGPU needs an adapter: on machines without a GPU set VK_ICD_FILENAMES to SwiftShader (npm test does).
// With PCPRESS_REQUIRE_WEBGPU=1 a missing adapter fails the run instead of skipping the WebGPU cases.
import { describe, it, beforeAll, afterAll } from 'vitest';
import * as pc from 'pcpress';
import { cases, Rng } from 'pcpress/conformance';

const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
console.log(`conformance seed ${seed} (PCPRESS_SEED to replay)`);
const baseSeed = Number(process.env.PCPRESS_SEED ?? seed);

for (const backend of ['wasm', 'webgpu'] as const) {
  describe(`node ${backend}`, () => {
    let rt: pc.Runtime | undefined;
    let unavailable = '';
    beforeAll(async () => {
      try {
        rt = await pc.createRuntime({ backend, poisonOutputs: true });
      } catch (e) {
        if (!(e instanceof pc.BackendUnavailableError) || process.env.PCPRESS_REQUIRE_WEBGPU === '1') throw e;
        unavailable = e.message;
        console.warn(`skipping ${backend}: ${unavailable}`);
      }
    });
    afterAll(() => rt?.destroy());
    cases.forEach((c, i) => {
      it(`${c.op} ${c.name}`, async (ctx) => {
        if (!rt) return ctx.skip(unavailable);
        try {
          await c.run({ pc, rt, rng: new Rng((baseSeed + i * 7919) >>> 0) });
        } catch (e) {
          if ((e as Error)?.name === 'CaseSkipped') return ctx.skip((e as Error).message); // cannot run here: skipped, not passed
          throw e;
        }
      });
    });
  });
}
