// The demo page (built by scripts/demo.mjs into dist/demo). Every file it is given is dispatched with
// streamKind():
// - a PNG or PGM image is read with the package's readImage (the file's own pixels, never a canvas, which
//   would premultiply alpha and widen gray to RGBA), compressed with the photo codec on the library's
//   PhotoWorkerPool, decoded back and compared with readImage(file bytes) again before the page says
//   "identical"; sizes are shown next to the file itself, writePng of the same pixels and lossless WebP;
// - a .pcx stream is decoded: 'photo' with the photo model, 'deflate' without one, 'image' (one MNIST-size image) and 'images'
//   (a container of many) with the bundled MNIST model; 'legacy', 'unknown' and corrupt streams show a
//   typed error.
// Every action clears the whole view first, so nothing of the previous file stays on the page.
import {
  CorruptDataError, FormatVersionError, ImageFormatError, decompressDeflate, decompressImage, decompressImages, loadModel, readImage, streamKind, writePng,
  type PcImage, type PcModel, type StreamKind,
} from '../../src/pc/index.js';
import { PhotoWorkerError, PhotoWorkerPool, compressPhoto, decompressPhoto, loadPhotoModel, type PhotoModel } from '../../src/photo/index.js';
import { createRuntime } from '../../src/runtime.js';

/** What the page shows after each action, also exposed as window.demoView for tests. */
interface DemoView {
  /** Counts finished actions (successful or not); window.demoSeq holds the latest. */
  seq: number;
  /** 'compress' for an image file, 'open' for a .pcx stream. */
  action: 'compress' | 'open';
  name: string;
  /** streamKind of the file ('unknown' for PNG/PGM images). */
  kind: StreamKind;
  width?: number;
  height?: number;
  channels?: number;
  /** Images in the file (more than one for an 'images' container). */
  count?: number;
  /** Size of the file that was given. */
  fileBytes: number;
  /** Size of the .pcx stream (made here, or the file itself when one was opened). */
  pcxBytes?: number;
  /** writePng of the same pixels (summed over the images of a container). */
  pngBytes?: number;
  /** Lossless WebP of the same pixels; undefined when the encoder could not load. */
  webpBytes?: number;
  webpError?: string;
  encodeMs?: number;
  decodeMs?: number;
  workers: number;
  /** compress: the decoded pixels equal readImage(file bytes) exactly. */
  identical?: boolean;
  mismatch?: string;
  error?: { name: string; code?: string; message: string };
}

declare global {
  interface Window {
    demoReady?: boolean;
    demoSeq?: number;
    demoView?: DemoView;
    /** The pixels behind the current view: the decoded image(s). */
    demoImages?: PcImage[];
    /** The files the current view offers or measured: pcx, png, webp. */
    demoFiles?: Record<string, Uint8Array>;
    demoError?: string;
    /** Test hook: when set, the next compress flips one decoded sample before the check (a codec fault). */
    demoFaultOnce?: boolean;
    /** Runs one file through the page as if it had been dropped; resolves with the new view. */
    demoOpen?: (bytes: Uint8Array | number[], name: string) => Promise<DemoView>;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (n: number) => n.toLocaleString('en-US');
const dims = (img: { width: number; height: number; channels: number }) => `${img.width}×${img.height}×${img.channels}`;
const CHANNELS = ['', 'gray', 'gray+alpha', 'RGB', 'RGBA'];
const MAX_WORKERS = 8;
const GRID_MAX = 64;

let photoModel: PhotoModel;
let mnistModel: Promise<PcModel> | undefined;
let pool: PhotoWorkerPool | undefined;
let poolNote = '';
let seq = 0;
let urls: string[] = [];

function setStatus(html: string): void {
  $('status').innerHTML = html;
}

/** Empties every part of the view: status, table, links, both images, the grid and the test hooks. */
function clearView(): void {
  setStatus('');
  $('sizes').hidden = true;
  $('sizes').querySelector('tbody')!.innerHTML = '';
  $('links').innerHTML = '';
  for (const id of ['orig', 'dec']) {
    const c = $<HTMLCanvasElement>(id);
    c.width = 0;
    c.height = 0;
    c.style.width = '';
    $(`${id}fig`).hidden = true;
  }
  $('origcap').textContent = 'original';
  $('deccap').textContent = 'decoded';
  $('grid').innerHTML = '';
  $('grid').hidden = true;
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  window.demoView = undefined;
  window.demoImages = undefined;
  window.demoFiles = undefined;
  window.demoError = undefined;
}

// --- pixels on screen ---------------------------------------------------------------------------------

/** Any 1-4 channel image as canvas RGBA (straight alpha; gray is repeated into R, G and B). */
function toRgba(img: PcImage): Uint8ClampedArray<ArrayBuffer> {
  const n = img.width * img.height, c = img.channels, out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * c, v = img.data[s];
    out[4 * i] = v;
    out[4 * i + 1] = c >= 3 ? img.data[s + 1] : v;
    out[4 * i + 2] = c >= 3 ? img.data[s + 2] : v;
    out[4 * i + 3] = c === 2 || c === 4 ? img.data[s + c - 1] : 255;
  }
  return out;
}

/** Draws an image into a canvas, scaled up by an integer factor when it is small. */
function draw(canvas: HTMLCanvasElement, img: PcImage, minCss = 160): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(toRgba(img), img.width, img.height), 0, 0);
  const k = Math.max(1, Math.floor(minCss / Math.max(img.width, img.height)));
  canvas.style.width = k > 1 ? `${img.width * k}px` : '';
}

function show(id: 'orig' | 'dec', img: PcImage, caption: string): void {
  draw($<HTMLCanvasElement>(id), img);
  $(`${id}cap`).textContent = caption;
  $(`${id}fig`).hidden = false;
}

function download(bytes: Uint8Array, name: string, label: string, id: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  urls.push(url);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.textContent = label;
  a.className = 'btn';
  a.id = id;
  $('links').appendChild(a);
}

// --- lossless comparisons -----------------------------------------------------------------------------

type WebpEncode = (data: ImageData, options: Record<string, number>) => Promise<ArrayBuffer>;
let webp: Promise<WebpEncode> | undefined;

/** Loads libwebp's encoder (@jsquash/webp, its wasm copied next to the page by scripts/demo.mjs). */
function loadWebp(): Promise<WebpEncode> {
  webp ??= (async () => {
    const m = await import('@jsquash/webp/encode.js');
    await m.init({ locateFile: (file: string) => new URL(file, import.meta.url).href });
    return m.default as unknown as WebpEncode;
  })();
  return webp;
}

/** Lossless WebP (cwebp -lossless -exact: the colour under transparent pixels is kept too) of the pixels. */
async function webpLossless(img: PcImage): Promise<Uint8Array> {
  const encode = await loadWebp();
  return new Uint8Array(await encode(new ImageData(toRgba(img), img.width, img.height), { lossless: 1, exact: 1 }));
}

interface Row { label: string; bytes?: number; note: string; ours?: boolean; id: string }

function table(rows: Row[], subpixels: number): void {
  const tb = $('sizes').querySelector('tbody')!;
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.id = `row-${r.id}`;
    if (r.ours) tr.className = 'ours';
    const b = r.bytes === undefined ? '–' : fmt(r.bytes);
    const bpsp = r.bytes === undefined ? '–' : ((8 * r.bytes) / subpixels).toFixed(3);
    tr.innerHTML = `<td>${esc(r.label)}</td><td class="bytes">${b}</td><td class="bpsp">${bpsp}</td><td>${esc(r.note)}</td>`;
    tb.appendChild(tr);
  }
  $('sizes').hidden = false;
}

const ms = (t: number) => `${t.toFixed(0)} ms`;
const mps = (t: number, pixels: number) => `${ms(t)} (${(pixels / Math.max(t, 0.001) / 1000).toFixed(2)} MP/s)`;

/** The PNG and lossless WebP rows for the same pixels; fills the view's sizes and the files map. */
async function losslessRows(img: PcImage, view: DemoView, files: Record<string, Uint8Array>): Promise<Row[]> {
  const tp = performance.now();
  const png = writePng(img);
  const pngMs = performance.now() - tp;
  files.png = png;
  view.pngBytes = png.length;
  const rows: Row[] = [{ label: 'PNG (writePng of the pixels)', bytes: png.length, note: ms(pngMs), id: 'png' }];
  try {
    const tw = performance.now();
    const w = await webpLossless(img);
    files.webp = w;
    view.webpBytes = w.length;
    rows.push({ label: 'WebP lossless (libwebp, -lossless -exact)', bytes: w.length, note: ms(performance.now() - tw), id: 'webp' });
  } catch (e) {
    view.webpError = `${(e as Error).name}: ${(e as Error).message}`;
    rows.push({ label: 'WebP lossless', note: `encoder not available: ${view.webpError}`, id: 'webp' });
  }
  return rows;
}

// --- coding -------------------------------------------------------------------------------------------

/** Runs a coding step on the worker pool, or on this thread when there is none or it broke. */
async function onPool<T>(withPool: (p: PhotoWorkerPool) => Promise<T>, here: () => T): Promise<T> {
  if (pool) {
    try {
      return await withPool(pool);
    } catch (e) {
      if (!(e instanceof PhotoWorkerError)) throw e;
      pool.close();
      pool = undefined;
      poolNote = `workers failed (${e.message}); main thread`;
    }
  }
  return here();
}

const workersNote = () => (pool ? `on ${pool.size} worker${pool.size > 1 ? 's' : ''}` : poolNote || 'main thread');

/** Where two images first differ, in words; undefined when they are identical. */
function difference(want: PcImage, got: PcImage): string | undefined {
  if (want.width !== got.width || want.height !== got.height || want.channels !== got.channels) {
    return `decoded ${dims(got)}, the file is ${dims(want)}`;
  }
  let first = -1, count = 0;
  for (let i = 0; i < want.data.length; i++) {
    if (want.data[i] !== got.data[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return undefined;
  const p = Math.floor(first / want.channels);
  return `${fmt(count)} of ${fmt(want.data.length)} samples differ; first at pixel (${p % want.width}, ${Math.floor(p / want.width)}) ` +
    `channel ${first % want.channels}: the file has ${want.data[first]}, decoded ${got.data[first]}`;
}

/** An image file: read its own pixels, compress, decode, verify against the file, compare sizes. */
async function compressFile(file: Uint8Array, name: string): Promise<DemoView> {
  const img = readImage(file);
  const view: DemoView = { seq: 0, action: 'compress', name, kind: 'unknown', width: img.width, height: img.height,
    channels: img.channels, count: 1, fileBytes: file.length, workers: pool?.size ?? 0 };
  const files: Record<string, Uint8Array> = {};
  show('orig', img, `original: ${name}, ${dims(img)} (${CHANNELS[img.channels]})`);
  setStatus(`compressing ${esc(name)} (${dims(img)}) ${workersNote()}…`);
  await new Promise((r) => setTimeout(r, 0));
  const t0 = performance.now();
  const packed = await onPool((p) => p.compress(img), () => compressPhoto(img, photoModel));
  view.encodeMs = performance.now() - t0;
  const t1 = performance.now();
  const back = await onPool((p) => p.decompress(packed), () => decompressPhoto(packed, photoModel));
  view.decodeMs = performance.now() - t1;
  view.pcxBytes = packed.length;
  files.pcx = packed;
  if (window.demoFaultOnce) {
    window.demoFaultOnce = false;
    back.data[back.data.length >> 1] ^= 1;
  }
  // the check is against the file's bytes read again, not against the array that was compressed
  const mismatch = difference(readImage(file), back);
  view.identical = mismatch === undefined;
  view.mismatch = mismatch;
  show('dec', back, `decoded from ${fmt(packed.length)} bytes`);
  const pixels = img.width * img.height, n = pixels * img.channels;
  table([
    { label: `input file (${name})`, bytes: file.length, note: '-', id: 'file' },
    { label: 'raw pixels', bytes: n, note: '-', id: 'raw' },
    { label: `pcpress ${streamKind(packed) === 'deflate' ? 'deflate fallback, smaller than the photo model here' : 'photo codec'} (this page)`, bytes: packed.length, ours: true, id: 'pcx',
      note: `encode ${mps(view.encodeMs, pixels)}, decode ${mps(view.decodeMs, pixels)} ${workersNote()}` },
    ...(await losslessRows(img, view, files)),
  ], n);
  const base = name.replace(/\.[^.]*$/, '');
  if (view.identical) {
    download(packed, `${base}.pcx`, `download ${base}.pcx (${fmt(packed.length)} bytes)`, 'dl-pcx');
    setStatus(`<span id="dims">${dims(img)}</span> (${CHANNELS[img.channels]}): ` +
      '<span class="ok" id="verdict">decoded pixels are identical to the file\'s pixels ✓</span>');
  } else {
    setStatus(`<span id="dims">${dims(img)}</span> (${CHANNELS[img.channels]}): <span class="bad" id="verdict">MISMATCH: ` +
      `${esc(mismatch!)}. The .pcx is not offered.</span>`);
  }
  window.demoImages = [back];
  window.demoFiles = files;
  return view;
}

/** The bundled MNIST model, loaded (a lazily fetched chunk) when the first MNIST stream is opened. */
function mnist(): Promise<PcModel> {
  if (!mnistModel) {
    mnistModel = loadModel('mnist');
    mnistModel.catch(() => { mnistModel = undefined; }); // a failed load is tried again next time
  }
  return mnistModel;
}

/** A .pcx stream of any kind the package writes. */
async function openStream(bytes: Uint8Array, name: string, kind: StreamKind): Promise<DemoView> {
  const view: DemoView = { seq: 0, action: 'open', name, kind, fileBytes: bytes.length, pcxBytes: bytes.length, workers: pool?.size ?? 0 };
  const files: Record<string, Uint8Array> = { pcx: bytes };
  const base = name.replace(/\.pcx$/i, '');
  let images: PcImage[];
  let what: string;
  setStatus(`decoding ${esc(name)} (${kind} stream)…`);
  if (kind === 'photo') {
    const t = performance.now();
    images = [await onPool((p) => p.decompress(bytes), () => decompressPhoto(bytes, photoModel))];
    view.decodeMs = performance.now() - t;
    what = `photo stream, decoded ${workersNote()}`;
  } else if (kind === 'deflate') {
    const t = performance.now();
    images = [decompressDeflate(bytes)];
    view.decodeMs = performance.now() - t;
    what = 'deflate stream (no model)';
  } else if (kind === 'image' || kind === 'images') {
    if (!mnistModel) setStatus(`loading the MNIST model to decode ${esc(name)}…`);
    const model = await mnist();
    const t = performance.now();
    images = kind === 'image' ? [decompressImage(bytes, model)] : decompressImages(bytes, model);
    view.decodeMs = performance.now() - t;
    what = `${kind === 'image' ? 'one image' : 'many images'}, MNIST model ${model.id}`;
  } else if (kind === 'legacy') {
    throw new FormatVersionError(`${name} is a format-1 stream (pcpress 0.1.0), which carries no integrity check; this version ` +
      'does not decode it: compress the original image again');
  } else {
    throw new CorruptDataError(`${name} is not a pcpress stream (unknown first byte)`, 'unknown-stream');
  }
  const first = images[0];
  Object.assign(view, { width: first.width, height: first.height, channels: first.channels, count: images.length });
  const pixels = first.width * first.height, n = pixels * first.channels * images.length;
  const decodeNote = `decode ${mps(view.decodeMs!, pixels * images.length)}`;
  if (images.length === 1) {
    show('dec', first, `decoded ${name}: ${dims(first)} (${CHANNELS[first.channels]})`);
    table([
      { label: `pcpress (${name})`, bytes: bytes.length, ours: true, note: decodeNote, id: 'pcx' },
      { label: 'raw pixels', bytes: n, note: '-', id: 'raw' },
      ...(await losslessRows(first, view, files)),
    ], n);
    download(files.png, `${base}.png`, `download the decoded image as PNG (${fmt(files.png.length)} bytes)`, 'dl-png');
  } else {
    const grid = $('grid');
    for (const img of images.slice(0, GRID_MAX)) {
      const c = document.createElement('canvas');
      draw(c, img, 56);
      grid.appendChild(c);
    }
    grid.hidden = false;
    // each image as its own PNG file, the way the MNIST comparisons in the README count them
    const tp = performance.now();
    const png = images.reduce((s, img) => s + writePng(img).length, 0);
    view.pngBytes = png;
    table([
      { label: `pcpress (${name})`, bytes: bytes.length, ours: true, note: decodeNote, id: 'pcx' },
      { label: 'raw pixels', bytes: n, note: '-', id: 'raw' },
      { label: `PNG (writePng, one file per image, ${fmt(images.length)} files)`, bytes: png, note: ms(performance.now() - tp), id: 'png' },
    ], n);
  }
  const shown = images.length > 1 ? `${fmt(images.length)} images of <span id="dims">${dims(first)}</span>` +
    (images.length > GRID_MAX ? `, the first ${GRID_MAX} shown` : '') : `<span id="dims">${dims(first)}</span>`;
  setStatus(`<span class="ok" id="verdict">decoded ${esc(name)}</span>: ${shown} (${CHANNELS[first.channels]}; ${what}; ` +
    'the stream\'s integrity checks passed)');
  window.demoImages = images;
  window.demoFiles = files;
  return view;
}

/** Whether a file goes to the stream decoders: any stream kind, or unknown bytes named .pcx or opened as one. */
function isStream(bytes: Uint8Array, name: string, asStream: boolean): boolean {
  return streamKind(bytes) !== 'unknown' || asStream || /\.pcx$/i.test(name);
}

/** Any file: a pcpress stream by its kind, otherwise a PNG/PGM image. */
async function openFile(bytes: Uint8Array, name: string, asStream: boolean): Promise<DemoView> {
  if (isStream(bytes, name, asStream)) return openStream(bytes, name, streamKind(bytes));
  try {
    return await compressFile(bytes, name);
  } catch (e) {
    if (e instanceof ImageFormatError) throw new ImageFormatError(`${e.message} (this page reads PNG and PGM images, and .pcx streams)`);
    throw e;
  }
}

let chain: Promise<unknown> = Promise.resolve();

/** Runs one file at a time; every run starts from an empty view and ends with window.demoSeq bumped. */
function run(bytes: Uint8Array, name: string, asStream = false): Promise<DemoView> {
  const job = chain.then(async () => {
    clearView();
    let view: DemoView;
    try {
      view = await openFile(bytes, name, asStream);
    } catch (e) {
      const err = e as Error & { code?: string };
      clearView();
      view = { seq: 0, action: isStream(bytes, name, asStream) ? 'open' : 'compress', name,
        kind: streamKind(bytes), fileBytes: bytes.length, workers: pool?.size ?? 0,
        error: { name: err.name, code: err.code, message: err.message } };
      setStatus(`<span class="bad" id="error">${esc(err.name)}${err.code ? ` (${esc(err.code)})` : ''}: ${esc(err.message)}</span>`);
      window.demoError = err.message;
    }
    view.seq = ++seq;
    window.demoView = view;
    window.demoSeq = seq;
    return view;
  });
  chain = job.catch(() => undefined);
  return job;
}

async function main(): Promise<void> {
  const tm = performance.now();
  photoModel = await loadPhotoModel('photo');
  let gpu: string;
  try {
    const rt = await createRuntime({ backend: 'auto' });
    gpu = `runtime backend: ${rt.backend} (${rt.reason})`;
    rt.destroy();
  } catch (e) {
    gpu = `runtime: ${(e as Error).message}`;
  }
  try {
    const workers = Math.max(1, Math.min(MAX_WORKERS, navigator.hardwareConcurrency || 2));
    pool = await PhotoWorkerPool.create(photoModel, { workers, workerUrl: new URL('./photo-worker.js', import.meta.url) });
  } catch (e) {
    pool = undefined;
    poolNote = `main thread (workers unavailable: ${(e as Error).message})`;
  }
  $('backend').textContent = `coder: wasm SIMD (integer CDFs, bit-exact in every runtime), ` +
    `${pool ? `PhotoWorkerPool of ${pool.size} workers` : poolNote}; ${gpu}; photo model ${photoModel.id} loaded in ${(performance.now() - tm).toFixed(0)} ms`;
  loadWebp().catch(() => undefined); // fetch the WebP encoder now, so the page works offline once loaded
  const take = async (f: File | undefined, asStream = false) => {
    if (f) await run(new Uint8Array(await f.arrayBuffer()), f.name, asStream);
  };
  $<HTMLInputElement>('file').addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement;
    void take(input.files?.[0]).finally(() => { input.value = ''; });
  });
  $<HTMLInputElement>('pcx').addEventListener('change', (e) => {
    const input = e.target as HTMLInputElement;
    void take(input.files?.[0], true).finally(() => { input.value = ''; });
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void take(e.dataTransfer?.files?.[0]);
  });
  $('sample').addEventListener('click', async () => {
    const r = await fetch('./sample.png');
    await run(new Uint8Array(await r.arrayBuffer()), 'sample.png');
  });
  window.demoOpen = (bytes, name) => run(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes), name);
  window.demoSeq = 0;
  window.demoReady = true;
}

main().catch((e) => {
  setStatus(`<span class="bad" id="error">${esc((e as Error).name)}: ${esc((e as Error).message)}</span>`);
  window.demoError = (e as Error).message;
});
