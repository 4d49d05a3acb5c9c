// The shared conformance cases in Deno (navigator.gpu is built in), on wasm and WebGPU.
// Run: npx deno test -A --no-check test/deno/   (after npm run build; the built JS carries no Deno-resolvable types)
import * as pc from '../../dist/index.js';
import { cases, Rng } from '../../dist/conformance.js';

const baseSeed = Number(Deno.env.get('PCPRESS_SEED') ?? ((Date.now() ^ (Math.random() * 2 ** 31)) >>> 0));
console.log(`conformance seed ${baseSeed}`);
const requireGpu = Deno.env.get('PCPRESS_REQUIRE_WEBGPU') === '1';

for (const backend of ['wasm', 'webgpu'] as const) {
  Deno.test({
    name: `deno ${backend}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      let rt: pc.Runtime;
      try {
        rt = await pc.createRuntime({ backend, poisonOutputs: true });
      } catch (e) {
        if (!(e instanceof pc.BackendUnavailableError) || requireGpu) throw e;
        console.warn(`skipping ${backend}: ${(e as Error).message}`);
        return;
      }
      try {
        for (let i = 0; i < cases.length; i++) {
          const c = cases[i];
          await t.step(`${c.op} ${c.name}`, async () => {
            try {
              await c.run({ pc, rt, rng: new Rng((baseSeed + i * 7919) >>> 0) });
            } catch (e) {
              // a case that cannot run here: Deno cannot mark a started step skipped, so say so plainly
              if ((e as Error)?.name === 'CaseSkipped') console.warn(`SKIPPED (not run) ${backend} ${c.op} ${c.name}: ${(e as Error).message}`);
              else throw e;
            }
          });
        }
      } finally {
        rt.destroy();
      }
    },
  });
}

Deno.test('deno auto picks wasm on a software adapter and says why', async () => {
  const rt = await pc.createRuntime();
  const adapter = await navigator.gpu?.requestAdapter();
  if (adapter && pc.summarizeAdapter(adapter).isSoftware) {
    if (rt.backend !== 'wasm' || !/software|fallback/.test(rt.reason)) throw new Error(`auto chose ${rt.backend}: ${rt.reason}`);
  }
  rt.destroy();
});
