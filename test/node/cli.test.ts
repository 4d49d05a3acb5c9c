// The command line as a user runs it: node dist/cli.js <command>.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readImage, writePng } from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const cli = (...args: string[]) => {
  const r = spawnSync('node', [path.join(root, 'dist/cli.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-cli-'));

describe('pcpress CLI', () => {
  it('conformance --json reports every case of a filter', () => {
    const r = cli('conformance', '--backend', 'wasm', '--filter', 'matmul', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.summary.failed).toBe(0);
    expect(report.summary.passed).toBeGreaterThan(10);
    expect(report.results.every((x: { backend: string; op: string }) => x.backend === 'wasm' && x.op === 'matmul')).toBe(true);
  });

  it('info says which backend and why', () => {
    const r = cli('info', '--backend', 'wasm');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ backend: 'wasm', reason: expect.stringMatching(/forced/) });
  });

  it('compress + decompress a 28x28 digit (MNIST model) and a color photo crop (photo model) exactly', () => {
    const digit = { width: 28, height: 28, channels: 1, data: new Uint8Array(784) };
    for (let i = 0; i < 784; i++) digit.data[i] = (i % 28 > 9 && i % 28 < 15 && i > 150 && i < 650) ? 200 + (i % 50) : 0;
    fs.writeFileSync(path.join(tmp, 'digit.png'), writePng(digit));
    const photo = path.join(root, 'test/fixtures/coffee-64x48.png');
    for (const [src, model] of [[path.join(tmp, 'digit.png'), /28x28x1 -> .* bpd \(model [0-9a-f]{8}/], [photo, /bits\/subpixel .*\(photo model/]] as const) {
      const packed = path.join(tmp, path.basename(src) + '.pcx');
      const back = path.join(tmp, path.basename(src) + '.back.png');
      const c = cli('compress', src, '-o', packed);
      expect(c.code, c.err).toBe(0);
      expect(c.out).toMatch(model);
      expect(c.out).toMatch(/PNG/);
      const d = cli('decompress', packed, '-o', back);
      expect(d.code, d.err).toBe(0);
      const a = readImage(new Uint8Array(fs.readFileSync(src)));
      const b = readImage(new Uint8Array(fs.readFileSync(back)));
      expect([b.width, b.height, b.channels]).toEqual([a.width, a.height, a.channels]);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
      expect(fs.statSync(packed).size).toBeLessThan(fs.statSync(src).size);
    }
  });

  it('a photo of many tiles is coded on workers, byte for byte as on one thread', () => {
    const photo = path.join(root, 'test/fixtures/chelsea-192x144.png');
    const one = path.join(tmp, 'one.pcx'), many = path.join(tmp, 'many.pcx');
    expect(cli('compress', photo, '-o', one, '--tile', '32', '--workers', '1').code).toBe(0);
    expect(cli('compress', photo, '-o', many, '--tile', '32', '--workers', '2').code).toBe(0);
    expect(Buffer.compare(fs.readFileSync(one), fs.readFileSync(many))).toBe(0);
    const back = path.join(tmp, 'many.png');
    expect(cli('decompress', many, '-o', back, '--workers', '2').code).toBe(0);
    const a = readImage(new Uint8Array(fs.readFileSync(photo))), b = readImage(new Uint8Array(fs.readFileSync(back)));
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
  });

  it('a corrupt file is refused with a typed error and exit code 1', () => {
    const bad = path.join(tmp, 'bad.pcx');
    fs.writeFileSync(bad, new Uint8Array([0x42, 1, 2, 3, 4, 5, 6, 7]));
    const r = cli('decompress', bad, '-o', path.join(tmp, 'bad.png'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/Error/);
    expect(fs.existsSync(path.join(tmp, 'bad.png'))).toBe(false);
  });

  it('kv-eval prints the table at the three budgets', () => {
    const r = cli('kv-eval', '--n', '160', '--layers', '1', '--methods', 'snapkv,defensivekv', '--future', '4');
    expect(r.code, r.err).toBe(0);
    for (const b of ['10%', '20%', '50%']) expect(r.out).toMatch(new RegExp(`^${b}\\s+snapkv\\s+[\\d.]+`, 'm'));
  });

  it('an unknown command exits 2 with the usage', () => {
    const r = cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command/);
  });
});
