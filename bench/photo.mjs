// Photo codec bench: bits per subpixel of the bundled photo model on held-out photographs (skimage's
// astronaut, chelsea, coffee, motorcycle_left, camera, moon: never used in training), side by side with
// PNG optimised by oxipng, WebP lossless -z 9 and JPEG XL lossless effort 7 (the @jsquash/* wasm builds)
// on the same files in one run, each round trip checked; then encode/decode megapixels per second on one
// thread (wasm) for every codec.
// The photos come from Debian's python3-skimage (apt-get install python3-skimage, or --root=DIR holding an
// extracted usr/); without them the bench falls back to the test fixtures (small crops) and says so.
// Module for bench/run.mjs, or run directly: node bench/photo.mjs [--root=DIR] [--quick]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, packageVersion, repoRoot } from './env.mjs';
import { loadCodecs, toRgba } from './photo-codecs.mjs';

const HELD_OUT = ['astronaut', 'chelsea', 'coffee', 'motorcycle_left', 'camera', 'moon'];

function findPhotos(flags) {
  const rootFlag = flags.find((f) => f.startsWith('--root='))?.slice(7) ?? process.env.PCPRESS_PHOTO_ROOT ?? '/';
  const dir = path.join(rootFlag, 'usr/lib/python3/dist-packages/skimage/data');
  const files = HELD_OUT.map((n) => path.join(dir, `${n}.png`));
  if (files.every((f) => fs.existsSync(f))) return { files, source: `python3-skimage (${dir})` };
  const fx = path.join(repoRoot, 'test/fixtures');
  return { files: fs.readdirSync(fx).filter((n) => n.endsWith('.png')).map((n) => path.join(fx, n)),
    source: 'test/fixtures (crops; install python3-skimage for the full held-out photos)' };
}

function same(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Median of `reps` timed runs of fn (ms); returns [ms, last result]. */
async function timed(fn, reps) {
  const ts = [];
  let r;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    r = await fn();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return [ts[Math.floor(ts.length / 2)], r];
}

/** Runs the bench; returns { markdown, json, ok }. */
export async function run({ flags = [], log = console.error } = {}) {
  const pc = await import('../dist/node.js');
  const quick = flags.includes('--quick');
  const reps = quick ? 1 : 3;
  const { files, source } = findPhotos(flags);
  const model = await pc.loadPhotoModel('photo');
  const codecs = await loadCodecs();
  log(`photo bench: photo model ${model.id} (${model.fileBytes.length} bytes), ${files.length} photos from ${source}`);
  const names = ['pcpress', ...Object.keys(codecs)];
  const rows = [];
  let ok = true;
  for (const f of files) {
    const img = pc.readImage(new Uint8Array(fs.readFileSync(f)));
    const n = img.width * img.height * img.channels, mp = (img.width * img.height) / 1e6;
    const row = { file: path.basename(f), width: img.width, height: img.height, channels: img.channels, codecs: {} };
    const [encMs, bytes] = await timed(() => pc.compressPhoto(img, model), reps);
    const [decMs, back] = await timed(() => pc.decompressPhoto(bytes, model), reps);
    const rt = same(back.data, img.data) && back.channels === img.channels;
    row.codecs.pcpress = { bytes: bytes.length, bpsp: (8 * bytes.length) / n, encodeMPs: mp / (encMs / 1000), decodeMPs: mp / (decMs / 1000), roundTrip: rt };
    const rgba = toRgba(img);
    for (const [name, c] of Object.entries(codecs)) {
      // WebP -z 9 takes seconds per photo: time its encoder once
      const [e, b] = await timed(() => c.encode(rgba), name.startsWith('WebP') ? 1 : reps);
      const [d, out] = await timed(() => c.decode(b), reps);
      row.codecs[name] = { bytes: b.length, bpsp: (8 * b.length) / n, encodeMPs: mp / (e / 1000), decodeMPs: mp / (d / 1000), roundTrip: same(out.data, rgba.data) };
    }
    for (const v of Object.values(row.codecs)) ok &&= v.roundTrip;
    log(`${row.file}: ${names.map((k) => `${k} ${row.codecs[k].bpsp.toFixed(3)}`).join(', ')}`);
    rows.push(row);
  }
  const total = {};
  for (const k of names) {
    const bytes = rows.reduce((s, r) => s + r.codecs[k].bytes, 0), subpx = rows.reduce((s, r) => s + r.width * r.height * r.channels, 0);
    const med = (key) => rows.map((r) => r.codecs[k][key]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
    total[k] = { bpsp: (8 * bytes) / subpx, encodeMPs: med('encodeMPs'), decodeMPs: med('decodeMPs') };
  }
  // Tile-parallel coding (compressPhotoParallel / decompressPhotoParallel) on the largest photo, workers
  // started per call (their start-up and the model transfer are included); the stream must equal compressPhoto's.
  const big = files.map((f) => pc.readImage(new Uint8Array(fs.readFileSync(f)))).sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const bigMp = (big.width * big.height) / 1e6;
  const parTile = Math.ceil(big.width / 256) * Math.ceil(big.height / 256) >= 4 ? 256 : 32;
  const ref = pc.compressPhoto(big, model, { tileSize: parTile });
  const tiles = pc.photoStreamInfo(ref).tiles.length;
  const parallel = [];
  for (const workers of [...new Set([1, 2, machineInfo().nproc])].filter((w) => w <= tiles)) {
    const [e, b] = await timed(() => pc.compressPhotoParallel(big, model, { tileSize: parTile, workers }), reps);
    const [d, back] = await timed(() => pc.decompressPhotoParallel(b, model, { workers }), reps);
    const good = same(b, ref) && same(back.data, big.data);
    ok &&= good;
    parallel.push({ workers, encodeMPs: bigMp / (e / 1000), decodeMPs: bigMp / (d / 1000), identical: good });
    log(`parallel, ${workers} worker(s): encode ${(bigMp / (e / 1000)).toFixed(2)} MP/s, decode ${(bigMp / (d / 1000)).toFixed(2)} MP/s`);
  }
  const info = machineInfo();
  const ours = total.pcpress.bpsp, webp = total['WebP lossless -z 9'].bpsp, jxl = total['JPEG XL lossless e7'].bpsp;
  const md = [
    '# Photo codec: bits per subpixel on held-out photographs',
    '',
    `Photos: ${source}; none of them was used to train the photo model ${model.id} (${(model.fileBytes.length / 1024).toFixed(0)} KiB, ` +
      `${model.predictor} prediction, ${model.transform} on the residuals). Bits per subpixel = 8 x file bytes / (width x height x channels); ` +
      'every file was decoded back and compared. The web codecs get RGBA input (alpha 255; gray as R=G=B).',
    '',
    `| photo | size | ${names.join(' | ')} |`,
    `|---|---|${names.map(() => '---:').join('|')}|`,
    ...rows.map((r) => `| ${r.file} | ${r.width}x${r.height}x${r.channels} | ${names.map((k) => r.codecs[k].bpsp.toFixed(3) + (r.codecs[k].roundTrip ? '' : ' (ROUND TRIP FAILED)')).join(' | ')} |`),
    `| **all (bytes-weighted)** | | ${names.map((k) => `**${total[k].bpsp.toFixed(3)}**`).join(' | ')} |`,
    '',
    `Goal: smaller than WebP lossless: ${ours < webp ? 'met' : 'not met'} (${ours.toFixed(3)} vs ${webp.toFixed(3)}, ${((100 * (ours - webp)) / webp).toFixed(1)}%); ` +
      `stretch, smaller than JPEG XL: ${ours < jxl ? 'met' : 'not met'} (${ours.toFixed(3)} vs ${jxl.toFixed(3)}).`,
    '',
    '## Throughput, one thread (median over the photos, megapixels per second)',
    '',
    `| codec | encode MP/s | decode MP/s |`,
    `|---|---:|---:|`,
    ...names.map((k) => `| ${k} | ${total[k].encodeMPs.toFixed(2)} | ${total[k].decodeMPs.toFixed(2)} |`),
    '',
    `Goal: decode >= 1 MP/s per core: ${total.pcpress.decodeMPs >= 1 ? 'met' : 'not met'} (${total.pcpress.decodeMPs.toFixed(2)} MP/s). ` +
      'pcpress tiles are independent, so N workers decode about N times faster on N cores.',
    '',
    `## Tile-parallel coding (compressPhotoParallel / decompressPhotoParallel), ${big.width}x${big.height}x${big.channels}, ${tiles} tiles of ${parTile}`,
    '',
    'Workers are started for each call (start-up and model transfer included); 1 = the calling thread. Streams byte-identical to compressPhoto.',
    '',
    '| workers | encode MP/s | decode MP/s | identical |',
    '|---:|---:|---:|---|',
    ...parallel.map((r) => `| ${r.workers} | ${r.encodeMPs.toFixed(2)} | ${r.decodeMPs.toFixed(2)} | ${r.identical ? 'yes' : 'NO'} |`),
    '',
    `Machine: ${info.cpuModel}, ${info.nproc} cores (load average ${info.loadavg.join(', ')} at the end: other work shares these cores), Node ${info.node}. ` +
      `@jsquash/png ${packageVersion('@jsquash/png')} + @jsquash/oxipng ${packageVersion('@jsquash/oxipng')} (level 2), ` +
      `@jsquash/webp ${packageVersion('@jsquash/webp')} (lossless, method 6, quality 100, exact), @jsquash/jxl ${packageVersion('@jsquash/jxl')} (lossless, effort 7), single-threaded builds.`,
  ].join('\n');
  return { markdown: md, json: { model: model.id, source, rows, total, parallel, machine: info }, ok };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await run({ flags: process.argv.slice(2) });
  console.log(r.markdown);
  process.exit(r.ok ? 0 : 1);
}
