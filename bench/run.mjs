#!/usr/bin/env node
// `npm run bench [-- NAME... --flags]`: runs the named benches (default: all), prints each markdown table
// and writes bench/results/<name>.md and .json. Add a bench by adding a module with
// `export async function run({ flags, log }) -> { markdown, json, ok }` to BENCHES.
import { requireBuild, writeResults } from './env.mjs';

/** Bench name -> module loader. Later: attention, kv, codec. */
const BENCHES = {
  matmul: () => import('./matmul.mjs'),
  attention: () => import('./attention.mjs'),
  'attention-rope': () => import('./attention-rope.mjs'),
  kv: () => import('./kv.mjs'),
  photo: () => import('./photo.mjs'),
  codec: () => import('./codec.mjs'),
  lm: () => import('./lm.mjs'),
};

const USAGE = `usage: node bench/run.mjs [${Object.keys(BENCHES).join('|')}]... [--quick] [--no-wasm] [--no-webgpu]
  no name: run all benches. Results: bench/results/<name>.md and .json.`;

async function main(argv) {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const names = argv.filter((a) => !a.startsWith('-'));
  const flags = argv.filter((a) => a.startsWith('-'));
  const unknown = names.filter((n) => !BENCHES[n]);
  if (unknown.length) {
    console.error(`unknown bench: ${unknown.join(', ')}\n${USAGE}`);
    return 2;
  }
  requireBuild();
  let ok = true;
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    const mod = await BENCHES[name]();
    const res = await mod.run({ flags, log: (s) => console.error(s) });
    console.log(`\n${res.markdown}`);
    const files = writeResults(name, res.markdown, res.json);
    console.error(`wrote ${files.md} and ${files.json}`);
    if (!res.ok) {
      console.error(`${name}: some measured results failed the correctness check (see the file)`);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
