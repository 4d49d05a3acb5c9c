// Build: AssemblyScript -> build/pcpress.wasm (+ pcpress-shared.wasm and pcpress-threads.wasm for the thread pool); esbuild bundles src/ (wasm bytes and .wgsl text inlined)
// into ESM in dist/; tsc writes the .d.ts files.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { wasmSectionIds } from './wasm-sections.mjs';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const t0 = performance.now();

// The module, the same module on an imported shared memory (runtimes with threads), and the small matmul
// kernel module each pool thread instantiates on that memory (no data segments, start function or allocator).
const asc = (args) => new Promise((resolve, reject) => {
  const p = spawn(bin('asc'), args, { stdio: 'inherit' });
  p.on('error', reject);
  p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`asc ${args.join(' ')} exited with ${code}`))));
});
await Promise.all([
  asc(['assembly/index.ts', '--target', 'release', '--config', 'asconfig.json']),
  asc(['assembly/index.ts', '--target', 'shared', '--config', 'asconfig.json']),
  asc(['assembly/threaded/index.ts', '--target', 'release', '--config', 'asconfig.threads.json']),
]);

// The pool's kernel module is instantiated once per thread on one shared memory: a data segment (e.g. the
// tables of AssemblyScript's Math.exp / Mathf.log) would be rewritten at every start, at an address that
// belongs to the main module's heap, and a start function would run on every thread. Refuse both.
{
  const bad = { 8: 'a start function', 11: 'a data section', 12: 'a data count section' };
  for (const id of wasmSectionIds(fs.readFileSync('build/pcpress-threads.wasm'))) {
    if (bad[id]) {
      throw new Error(`build/pcpress-threads.wasm has ${bad[id]}: the thread pool's module must write nothing when instantiated (use the table-free exp/log of assembly/mathx.ts)`);
    }
  }
}

fs.rmSync('dist', { recursive: true, force: true });
await esbuild.build({
  entryPoints: { index: 'src/index.ts', node: 'src/node.ts', conformance: 'src/conformance.ts', cli: 'src/cli.ts', browser: 'src/browser.ts', 'photo-worker': 'src/photo/worker.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  chunkNames: 'chunks/[name]-[hash]',
  loader: { '.wasm': 'binary', '.wgsl': 'text' },
  external: ['webgpu', 'puppeteer-core', 'node:*'],
  legalComments: 'none',
  logLevel: 'warning',
});
const cli = path.join('dist', 'cli.js');
fs.writeFileSync(cli, '#!/usr/bin/env node\n' + fs.readFileSync(cli, 'utf8'));
fs.chmodSync(cli, 0o755);

execFileSync(bin('tsc'), ['-p', 'tsconfig.json'], { stdio: 'inherit' });
console.log(`build done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
