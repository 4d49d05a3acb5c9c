/**
 * Command-line entry of the language-model tools (wired into src/cli.ts):
 *   pcpress lm-eval [--json] [--prompts N] [--texts N] [--methods a,b] [--budgets 0.1,0.2,0.5]
 *                   [--backend wasm|webgpu] [--threads N|auto] [--model DIR] [--seed N]
 * A thin wrapper of `evaluateLMEviction` (src/lm/eval.ts): loads the model (the bundled 'tiny' by default, or a
 * folder with config.json, model.safetensors, tokenizer.json and heldout.txt), runs, prints the table (or JSON);
 * progress goes to stderr.
 */
import { ArgumentError } from '../errors.js';
import { createRuntime, type BackendChoice } from '../runtime.js';
import { num, str, type Flags } from '../cli-args.js';
import { KV_METHODS, type KVMethod } from '../kv/types.js';
import { evaluateLMEviction, formatLMEval } from './eval.js';
import { bundledModelUrl, folderUrl, readModelFile } from './files.js';
import { loadTransformer } from './model.js';

/** Usage text of the lm commands. */
export const LM_USAGE = `  pcpress lm-eval [--json] [--prompts 200] [--texts 20] [--methods a,b,...] [--budgets 0.1,0.2,0.5]
                  [--backend wasm|webgpu] [--threads auto|N] [--model DIR] [--seed 1]
      What KV-cache eviction costs a real model: every method x cache budget (kept fractions) and the full cache,
      on held-out data of the model folder (default: the bundled tiny model): retrieval accuracy (needle in a
      haystack, key-value; contexts compressed without the question) and the loss increase on held-out text.`;

/** Comma-separated list flag. */
function list(flags: Flags, name: string): string[] | undefined {
  const v = str(flags, name);
  return v === undefined ? undefined : v.split(',').map((x) => x.trim()).filter((x) => x.length);
}

/** Runs an lm command; returns the exit code, or undefined when `cmd` is not an lm command. */
export async function lmCommand(cmd: string, flags: Flags): Promise<number | undefined> {
  if (cmd !== 'lm-eval') return undefined;
  const methods = list(flags, 'methods');
  if (methods) for (const m of methods) if (!KV_METHODS.includes(m as KVMethod)) throw new ArgumentError(`lm-eval: unknown method "${m}" (--methods takes ${KV_METHODS.join(',')})`);
  const budgets = list(flags, 'budgets')?.map((b) => {
    const x = Number(b);
    if (!(x > 0 && x < 1)) throw new ArgumentError(`lm-eval: budget "${b}" is out of range: --budgets takes kept fractions in (0, 1), e.g. 0.1,0.2,0.5`);
    return x;
  });
  const backend = str(flags, 'backend') ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'webgpu' && backend !== 'auto') throw new ArgumentError(`lm-eval: --backend must be wasm, webgpu or auto, got "${backend}"`);
  const model = str(flags, 'model', 'm');
  const dir = model === undefined ? bundledModelUrl('tiny') : await folderUrl(model);
  const heldout = new TextDecoder().decode(await readModelFile(dir, 'heldout.txt', false, ': lm-eval reads the held-out text next to the model'));
  // wasm threads: 'auto' (all cores, as createRuntime's default) unless --threads says; results do not depend on it
  const t = str(flags, 'threads') ?? 'auto';
  const threads = t === 'auto' ? 'auto' : Number(t);
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) throw new ArgumentError(`lm-eval: --threads must be a positive integer or auto, got "${t}"`);
  if (backend === 'webgpu' && str(flags, 'threads') !== undefined) throw new ArgumentError('lm-eval: --threads is for the wasm backend');
  const rt = await createRuntime({ backend: backend as BackendChoice, ...(backend === 'webgpu' ? {} : { threads }) });
  try {
    const lm = await loadTransformer(rt, model === undefined ? 'tiny' : { dir });
    try {
      const res = await evaluateLMEviction(lm, {
        heldout, methods: methods as KVMethod[] | undefined, budgets,
        prompts: num(flags, 'prompts', 200), texts: num(flags, 'texts', 20), seed: num(flags, 'seed', 1),
        onProgress: (p) => {
          if (p.done === p.total || p.done % 10 === 0) console.error(`lm-eval: ${p.task} ${p.done}/${p.total} (${p.seconds.toFixed(0)} s)`);
        },
      });
      if (flags.json) console.log(JSON.stringify(res, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
      else console.log(formatLMEval(res));
    } finally {
      lm.dispose();
    }
  } finally {
    rt.destroy();
  }
  return 0;
}
