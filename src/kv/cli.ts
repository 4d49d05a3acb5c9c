/**
 * Command-line entry of the KV-eviction tools (wired into src/cli.ts):
 *   pcpress kv-eval [--input FILE.pckv] [--backend wasm|webgpu|reference] [--budgets 0.1,0.2,0.5]
 *                   [--methods snapkv,defensivekv,...] [--n 1024] [--layers 4] [--heads 8] [--kv-heads 2]
 *                   [--dim 64] [--future 16] [--seed 1] [--json]
 *       Prints the evaluation table (error of later queries' attention output, kept mass, oracle overlap)
 *       per budget and method, on a .pckv dump or on the synthetic generator.
 *   pcpress kv-synth --o FILE.pckv [--n ...] [--seed ...]
 *       Writes a synthetic dump in the .pckv format (see src/kv/dump.ts).
 * Flags take `--name value` or `--name=value`.
 */
import { createRuntime, type BackendChoice } from '../runtime.js';
import { ArgumentError } from '../errors.js';
import { decodeKVDump, encodeKVDump, type KVDump } from './dump.js';
import { evaluateEviction, formatEvaluation } from './evaluate.js';
import { synthKV } from './synth.js';
import { KV_METHODS, type KVMethod } from './types.js';
import { num, type Flags } from '../cli-args.js';

/** Usage text of the kv commands. */
export const KV_USAGE = `  pcpress kv-eval [--input FILE.pckv] [--backend wasm|webgpu|reference] [--budgets 0.1,0.2,0.5]
                  [--methods a,b,...] [--n 1024] [--layers 4] [--heads 8] [--kv-heads 2] [--dim 64] [--future 16] [--seed 1] [--json]
      Evaluate KV-cache eviction methods (attention-output error of later queries, kept mass, oracle overlap).
  pcpress kv-synth --o FILE.pckv [--n 1024] [--seed 1] ...
      Write a synthetic q/k/v dump in the .pckv format.`;

function synthFrom(flags: Flags): KVDump {
  return synthKV({
    n: num(flags, 'n', 1024), layers: num(flags, 'layers', 4), numHeads: num(flags, 'heads', 8),
    numKvHeads: num(flags, 'kv-heads', 2), headDim: num(flags, 'dim', 64), future: num(flags, 'future', 16),
    seed: num(flags, 'seed', 1),
  });
}

/** Flags as parsed by src/cli.ts, with `--name value` pairs that landed in `rest` folded in. */
function normalise(flags: Flags, rest: string[]): Flags {
  const out: Flags = { ...flags };
  for (const [k, v] of Object.entries(flags)) {
    if (v === true && rest.length && !['json'].includes(k)) {
      // `--n 1024` parsed as a boolean flag followed by a positional: take the positional
      out[k] = rest.shift()!;
    }
  }
  return out;
}

/** Runs a kv command; returns the exit code, or undefined when `cmd` is not a kv command. */
export async function kvCommand(cmd: string, flagsIn: Flags, rest: string[]): Promise<number | undefined> {
  if (cmd !== 'kv-eval' && cmd !== 'kv-synth') return undefined;
  const flags = normalise(flagsIn, [...rest]);
  const fs = await import('node:fs/promises');
  if (cmd === 'kv-synth') {
    const file = (flags.o ?? flags.output) as string | undefined;
    if (typeof file !== 'string' || !file) throw new ArgumentError('kv-synth: give the output file with --o FILE.pckv');
    const bytes = encodeKVDump(synthFrom(flags));
    await fs.writeFile(file, bytes);
    console.log(`wrote ${file} (${bytes.length} bytes)`);
    return 0;
  }
  const input = flags.input;
  const dump = typeof input === 'string' ? decodeKVDump(new Uint8Array(await fs.readFile(input))) : synthFrom(flags);
  const budgets = typeof flags.budgets === 'string' ? flags.budgets.split(',').map(Number) : [0.1, 0.2, 0.5];
  const methods = typeof flags.methods === 'string' ? (flags.methods.split(',') as KVMethod[]) : KV_METHODS;
  const backend = typeof flags.backend === 'string' ? flags.backend : 'wasm';
  const rt = backend === 'reference' ? undefined : await createRuntime({ backend: backend as BackendChoice });
  try {
    const t0 = performance.now();
    const rows = await evaluateEviction(dump, { methods, budgets, runtime: rt });
    if (flags.json) {
      console.log(JSON.stringify(rows, null, 2));
    } else {
      console.log(`KV eviction on ${typeof input === 'string' ? input : 'the synthetic generator'}: ${dump.layers.length} layers, ` +
        `${dump.numHeads} query heads, ${dump.numKvHeads} KV heads, d ${dump.headDim}, N ${dump.n}, ${dump.future} later queries per head; ` +
        `backend ${rt ? rt.backend : 'f64 reference'}`);
      console.log('');
      console.log(formatEvaluation(rows));
      console.log('');
      console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s; err = ||o_full - o_kept|| / ||o_full|| over layers x heads x later queries)`);
    }
  } finally {
    rt?.destroy();
  }
  return 0;
}
