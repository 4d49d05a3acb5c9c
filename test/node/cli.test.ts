// The command line as a user runs it: node dist/cli.js <command>.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as fastPngEncode } from 'fast-png';
import { readImage, writePng } from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const cli = (...args: string[]) => {
  const r = spawnSync('node', [path.join(root, 'dist/cli.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-cli-'));
/** 0/1 values packed 8 to a byte, rows padded, as PNG stores 1-bit samples. */
const packBits = (bits: Uint8Array, w: number, h: number) => {
  const rowBytes = Math.ceil(w / 8), out = new Uint8Array(rowBytes * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * rowBytes + (x >> 3)] |= bits[y * w + x] << (7 - (x & 7));
  return out;
};

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
    for (const [src, model] of [[path.join(tmp, 'digit.png'), /\(model [0-9a-f]{8}\)/], [photo, /\(photo model [0-9a-f]{8}, [\d.]+ s\)/]] as const) {
      const packed = path.join(tmp, path.basename(src) + '.pcx');
      const back = path.join(tmp, path.basename(src) + '.back.png');
      const c = cli('compress', src, '-o', packed);
      expect(c.code, c.err).toBe(0);
      expect(c.out).toMatch(model);
      // sizes next to the input file's own size, not a re-encoded PNG
      const m = c.out.match(/\((\d+)x(\d+)x(\d), (\d+) bytes\) -> .*: (\d+) bytes = ([\d.]+) % of the input file, ([\d.]+) bits\/subpixel/);
      expect(m, c.out).not.toBeNull();
      const [inBytes, outBytes, pct] = [Number(m![4]), Number(m![5]), Number(m![6])];
      expect(inBytes).toBe(fs.statSync(src).size);
      expect(outBytes).toBe(fs.statSync(packed).size);
      expect(pct).toBeCloseTo((100 * outBytes) / inBytes, 1);
      const d = cli('decompress', packed, '-o', back);
      expect(d.code, d.err).toBe(0);
      const a = readImage(new Uint8Array(fs.readFileSync(src)));
      const b = readImage(new Uint8Array(fs.readFileSync(back)));
      expect([b.width, b.height, b.channels]).toEqual([a.width, a.height, a.channels]);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
      expect(fs.statSync(packed).size).toBeLessThan(fs.statSync(src).size);
    }
  });

  it('formats a user has: PGM maxval 15, a palette PNG, a 1-bit PNG; a 16-bit PNG is refused with a typed error', () => {
    // PGM with maxval 15: samples come back on the 0..255 scale (v * 17), as viewers show them
    const pgmFile = path.join(tmp, 'levels.pgm');
    const levels = Array.from({ length: 40 * 30 }, (_, i) => ((i % 40) + (i / 40 | 0)) % 16);
    fs.writeFileSync(pgmFile, Buffer.concat([Buffer.from('P5\n40 30\n15\n'), Buffer.from(levels)]));
    expect(cli('compress', pgmFile, '-o', `${pgmFile}.pcx`).code).toBe(0);
    const d = cli('decompress', `${pgmFile}.pcx`, '-o', path.join(tmp, 'levels.png'));
    expect(d.code, d.err).toBe(0);
    const back = readImage(new Uint8Array(fs.readFileSync(path.join(tmp, 'levels.png'))));
    expect([...back.data]).toEqual(levels.map((v) => v * 17));
    expect(fs.readFileSync(path.join(tmp, 'levels.png'))[24], 'written as 4-bit gray').toBe(4);

    // a palette PNG (and a 1-bit gray one) come back as palette / 1-bit PNGs of about the input's size
    const w = 90, h = 70;
    const palette = [[200, 20, 20], [20, 160, 60], [250, 230, 10], [10, 10, 10], [240, 240, 240], [60, 90, 200]];
    const index = Uint8Array.from({ length: w * h }, (_, i) => ((i % w) * (i % w) + (i / w | 0) * 3 >> 6) % 6);
    const bits = Uint8Array.from({ length: w * h }, (_, i) => (((i % w) >> 3) + ((i / w | 0) >> 3)) % 2);
    const inputs: [string, Uint8Array, number][] = [
      ['palette.png', fastPngEncode({ width: w, height: h, channels: 1, depth: 8, data: index, palette }), 3],
      ['bilevel.png', fastPngEncode({ width: w, height: h, channels: 1, depth: 1, data: packBits(bits, w, h) }), 0],
    ];
    for (const [name, file, colorType] of inputs) {
      const src = path.join(tmp, name), packed = `${src}.pcx`, out = path.join(tmp, `back-${name}`);
      fs.writeFileSync(src, file);
      const c = cli('compress', src, '-o', packed);
      expect(c.code, c.err).toBe(0);
      expect(c.out).toContain(`, ${file.length} bytes) -> `);
      expect(cli('decompress', packed, '-o', out).code).toBe(0);
      const written = new Uint8Array(fs.readFileSync(out));
      expect(written[25], `${name}: PNG colour type`).toBe(colorType);
      expect(written.length, `${name}: decompressed PNG ${written.length} bytes, input ${file.length}`).toBeLessThanOrEqual(file.length);
      const a = readImage(file), b = readImage(written);
      expect([b.width, b.height, b.channels]).toEqual([a.width, a.height, a.channels]);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data)), name).toBe(true);
    }

    const deep = path.join(tmp, 'deep.png');
    fs.writeFileSync(deep, fastPngEncode({ width: 2, height: 1, channels: 1, depth: 16, data: Uint16Array.of(0, 1000) }));
    const r = cli('compress', deep, '-o', `${deep}.pcx`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ImageFormatError: .*16-bit PNG/);
    expect(fs.existsSync(`${deep}.pcx`)).toBe(false);
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

  it('decompress applies --max-pixels/--max-images; unknown flags and out-of-range limits are refused', () => {
    const photo = path.join(root, 'test/fixtures/coffee-64x48.png'), packed = path.join(tmp, 'lim.pcx');
    expect(cli('compress', photo, '-o', packed).code).toBe(0);
    const over = cli('decompress', packed, '-o', path.join(tmp, 'lim.png'), '--max-pixels', String(64 * 48 - 1));
    expect(over.code).toBe(1);
    expect(over.err).toMatch(/LimitError/);
    expect(fs.existsSync(path.join(tmp, 'lim.png'))).toBe(false);
    expect(cli('decompress', packed, '-o', path.join(tmp, 'lim.png'), `--max-pixels=${64 * 48}`).code).toBe(0);
    const huge = cli('decompress', packed, '--max-bytes', String(2 ** 40));
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/ArgumentError: .*maxBytes must be an integer/);
    const typo = cli('decompress', packed, '--max-pixel', '100');
    expect(typo.code).toBe(1);
    expect(typo.err).toMatch(/ArgumentError: decompress: unknown flag --max-pixel /);
    expect(cli('compress', photo, '--tiles', '32').err).toMatch(/unknown flag --tiles/);
    const help = cli('compress', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/pcpress decompress <file.pcx>/);
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
