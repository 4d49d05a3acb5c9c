// The README's examples must run: execute them and check what they print.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('examples', () => {
  it('examples/node-matmul.mjs', () => {
    const out = run('node', ['examples/node-matmul.mjs']);
    expect(out).toMatch(/backend: (wasm|webgpu) \(.+\)/);
    expect(out).toContain('A x B = [ 58, 64, 139, 154 ]');
    // (A x B) x B^T computed by hand: [58 64; 139 154] x [7 9 11; 8 10 12]
    expect(out).toContain('(A x B) x B^T = [ 918, 1162, 1406, 2205, 2791, 3377 ]');
  });

  it('examples/mnist-sample.mjs (the README main job)', () => {
    const out = run('node', ['examples/mnist-sample.mjs', '4']);
    const rows = [...out.matchAll(/digit \d: pcpress (\d+) bytes = ([\d.]+) bpd, PNG (\d+) bytes = ([\d.]+) bpd, round trip exact/g)];
    expect(rows.length).toBe(4);
    for (const r of rows) expect(Number(r[1])).toBeLessThan(Number(r[3])); // smaller than PNG, digit by digit
    expect(out).toMatch(/4 digits: pcpress [\d.]+ bpd vs PNG [\d.]+ bpd/);
  });

  it('examples/deno-matmul.ts', () => {
    const out = run(path.join(root, 'node_modules/.bin/deno'), ['run', '-A', '--no-check', 'examples/deno-matmul.ts']);
    expect(out).toMatch(/^auto -> (wasm|webgpu): 58,64,139,154/m);
    expect(out).toMatch(/^wasm -> wasm: 58,64,139,154/m);
    expect(out).toMatch(/^webgpu(: BackendUnavailableError| -> webgpu: 58,64,139,154)/m);
  });
});
