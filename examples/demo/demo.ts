// The demo page: compress a picked/dropped image with the photo codec in the page, decode it back,
// verify, and compare sizes with the browser's own PNG and WebP encoders. Built by scripts/demo.mjs.
import {
  checkStreamModel, compressPhoto, decompressPhoto, finishPhoto, finishPhotoStream, loadPhotoModel, photoCanvas, photoStreamInfo,
  planPhotoTiles, tileRects, type PhotoModel,
} from '../../src/photo/index.js';
import { CorruptDataError } from '../../src/pc/errors.js';
import { createRuntime } from '../../src/runtime.js';
import type { PcImage } from '../../src/pc/model.js';

/** What the page shows, also exposed as window.demoResult for tests. */
interface DemoResult {
  name: string;
  width: number;
  height: number;
  channels: number;
  bytes: number;
  bpsp: number;
  pngBytes: number;
  webpBytes: number;
  encodeMs: number;
  decodeMs: number;
  workers: number;
  identical: boolean;
  backend: string;
}

declare global {
  interface Window {
    demoReady?: boolean;
    demoResult?: DemoResult;
    demoDecoded?: { width: number; height: number; channels: number; ms: number };
    demoError?: string;
    demoCompressBytes?: (bytes: Uint8Array, name: string) => Promise<DemoResult>;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (html: string) => { $('status').innerHTML = html; };
let model: PhotoModel;
let backendLine = '';

// --- a pool of workers, one tile list each: tiles are independent regions ---------------------------
type Rect = { x: number; y: number; w: number; h: number };
let pool: Worker[] = [];
let nextId = 1;

async function startPool(): Promise<void> {
  const n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
  const workers = Array.from({ length: n }, () => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.onmessage = (e) => (e.data?.ready ? resolve() : undefined);
    w.onerror = (e) => reject(new Error(e.message));
  })));
  pool = workers;
}

/** Sends each worker its share of tiles (round robin); resolves with every tile's result by index. */
function runTiles<T>(make: (tiles: number[]) => { msg: Record<string, unknown>; transfer: Transferable[] }, count: number): Promise<Map<number, T>> {
  const shares: number[][] = pool.map(() => []);
  for (let i = 0; i < count; i++) shares[i % pool.length].push(i);
  const results = new Map<number, T>();
  return Promise.all(pool.map((w, k) => {
    if (!shares[k].length) return Promise.resolve();
    const id = nextId++;
    const { msg, transfer } = make(shares[k]);
    return new Promise<void>((resolve, reject) => {
      w.onmessage = (e) => {
        if (e.data.id !== id) return;
        if (e.data.error) reject(new Error(e.data.error));
        for (const t of e.data.tiles) results.set(t.index, t);
        resolve();
      };
      w.postMessage({ ...msg, id }, transfer);
    });
  })).then(() => results);
}

async function compressParallel(img: PcImage): Promise<Uint8Array> {
  if (!pool.length) return compressPhoto(img, model);
  const plan = planPhotoTiles(img);
  const res = await runTiles<{ payload: Uint8Array }>((idx) => ({
    msg: { type: 'encode', img: plan.img, tiles: idx.map((i) => ({ index: i, rect: plan.tiles[i] })) }, transfer: [],
  }), plan.tiles.length);
  return finishPhotoStream(model, plan, plan.tiles.map((_, i) => res.get(i)!.payload));
}

async function decompressParallel(bytes: Uint8Array): Promise<PcImage> {
  if (!pool.length) return decompressPhoto(bytes, model);
  const info = photoStreamInfo(bytes);
  checkStreamModel(info, model, 'decompressPhoto');
  const out = photoCanvas(info);
  const rects: Rect[] = tileRects(info.width, info.height, info.tileSize);
  const res = await runTiles<{ ok: boolean; data: Uint8Array }>((idx) => ({
    msg: { type: 'decode', channels: out.channels, tiles: idx.map((i) => ({ index: i, rect: rects[i],
      payload: bytes.slice(info.tiles[i].offset, info.tiles[i].offset + info.tiles[i].length) })) }, transfer: [],
  }), rects.length);
  rects.forEach((r, i) => {
    const t = res.get(i)!;
    if (!t.ok) throw new CorruptDataError(`decompressPhoto: tile ${i} does not decode exactly (corrupt, truncated, or made with another model)`);
    const row = r.w * out.channels;
    for (let y = 0; y < r.h; y++) out.data.set(t.data.subarray(y * row, (y + 1) * row), ((r.y + y) * out.width + r.x) * out.channels);
  });
  return finishPhoto(info, out);
}

/** Canvas RGBA -> the fewest channels that hold the image exactly (gray, RGB or RGBA). */
function toImage(rgba: Uint8ClampedArray, width: number, height: number): PcImage {
  const n = width * height;
  let opaque = true, gray = true;
  for (let i = 0; i < n; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    if (rgba[4 * i + 3] !== 255) opaque = false;
    if (r !== g || g !== b) gray = false;
  }
  const channels = gray && opaque ? 1 : opaque ? 3 : 4;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) data[i * channels + c] = rgba[4 * i + (channels === 1 ? 0 : c)];
  return { width, height, channels, data };
}

function toRgba(img: PcImage): Uint8ClampedArray<ArrayBuffer> {
  const n = img.width * img.height, out = new Uint8ClampedArray(n * 4), c = img.channels;
  for (let i = 0; i < n; i++) {
    const s = i * c;
    out[4 * i] = img.data[s];
    out[4 * i + 1] = img.data[c >= 3 ? s + 1 : s];
    out[4 * i + 2] = img.data[c >= 3 ? s + 2 : s];
    out[4 * i + 3] = c === 2 || c === 4 ? img.data[s + c - 1] : 255;
  }
  return out;
}

function draw(canvas: HTMLCanvasElement, img: PcImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(toRgba(img), img.width, img.height), 0, 0);
}

function blobOf(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error(`${type} encoding failed`))), type, quality));
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function download(bytes: Uint8Array | Blob, name: string, label: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(bytes instanceof Blob ? bytes : new Blob([bytes as Uint8Array<ArrayBuffer>]));
  a.download = name;
  a.textContent = label;
  a.className = 'btn';
  a.id = `dl-${name.split('.').pop()}`;
  return a;
}

async function decodeToImage(bytes: Uint8Array): Promise<PcImage> {
  const bmp = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  return toImage(ctx.getImageData(0, 0, bmp.width, bmp.height).data, bmp.width, bmp.height);
}

async function compressBytes(file: Uint8Array, name: string): Promise<DemoResult> {
  status('compressing…');
  const img = await decodeToImage(file);
  const orig = $<HTMLCanvasElement>('orig');
  draw(orig, img);
  await new Promise((r) => setTimeout(r, 0));
  const t0 = performance.now();
  const packed = await compressParallel(img);
  const encodeMs = performance.now() - t0;
  const t1 = performance.now();
  const back = await decompressParallel(packed);
  const decodeMs = performance.now() - t1;
  const identical = back.width === img.width && back.height === img.height && back.channels === img.channels &&
    back.data.every((v, i) => v === img.data[i]);
  draw($<HTMLCanvasElement>('dec'), back);
  $('deccap').textContent = `decoded from ${fmt(packed.length)} bytes`;
  const tp = performance.now();
  const png = await blobOf(orig, 'image/png');
  const pngMs = performance.now() - tp;
  const tw = performance.now();
  const webp = await blobOf(orig, 'image/webp', 1);
  const webpMs = performance.now() - tw;
  const n = img.width * img.height * img.channels;
  const bpsp = (b: number) => ((8 * b) / n).toFixed(3);
  const mps = (ms: number) => `${ms.toFixed(0)} ms (${((img.width * img.height) / ms / 1000).toFixed(2)} MP/s)`;
  const rows: [string, number, string, boolean?][] = [
    ['raw pixels', n, '-'],
    ['pcpress (this page)', packed.length, `encode ${mps(encodeMs)}, decode ${mps(decodeMs)}` +
      (pool.length ? ` on ${pool.length} worker${pool.length > 1 ? 's' : ''}` : ', main thread'), true],
    ['PNG (browser canvas)', png.size, `${pngMs.toFixed(0)} ms`],
    ['WebP (browser canvas, quality 1)', webp.size, `${webpMs.toFixed(0)} ms`],
  ];
  const tb = $('sizes').querySelector('tbody')!;
  tb.innerHTML = '';
  for (const [label, bytes, time, ours] of rows) {
    const tr = document.createElement('tr');
    if (ours) tr.className = 'ours';
    tr.innerHTML = `<td>${label}</td><td class="bytes">${fmt(bytes)}</td><td class="bpsp">${bpsp(bytes)}</td><td>${time}</td>`;
    tb.appendChild(tr);
  }
  $('sizes').hidden = false;
  const links = $('links');
  links.innerHTML = '';
  links.appendChild(download(packed, `${name.replace(/\.[^.]*$/, '')}.pcx`, `download ${name.replace(/\.[^.]*$/, '')}.pcx (${fmt(packed.length)} bytes)`));
  status(`${img.width}×${img.height}, ${img.channels} channel${img.channels > 1 ? 's' : ''}: ` +
    (identical ? '<span class="ok" id="verdict">decoded image is identical to the original ✓</span>' : '<span class="bad" id="verdict">MISMATCH</span>'));
  const result: DemoResult = { name, width: img.width, height: img.height, channels: img.channels, bytes: packed.length,
    bpsp: (8 * packed.length) / n, pngBytes: png.size, webpBytes: webp.size, encodeMs, decodeMs, workers: pool.length, identical, backend: backendLine };
  window.demoResult = result;
  return result;
}

async function decompressFile(bytes: Uint8Array, name: string): Promise<void> {
  try {
    const info = photoStreamInfo(bytes);
    const t = performance.now();
    const img = await decompressParallel(bytes);
    const ms = performance.now() - t;
    draw($<HTMLCanvasElement>('dec'), img);
    $('deccap').textContent = `decoded ${name}`;
    const c = $<HTMLCanvasElement>('dec');
    const png = await blobOf(c, 'image/png');
    const links = $('links');
    links.innerHTML = '';
    links.appendChild(download(png, `${name.replace(/\.pcx$/, '')}.png`, `download decoded PNG`));
    status(`<span class="ok">decoded ${name}: ${info.width}×${info.height}×${info.channels} in ${ms.toFixed(0)} ms</span>`);
    window.demoDecoded = { width: img.width, height: img.height, channels: img.channels, ms };
  } catch (e) {
    status(`<span class="bad">${(e as Error).name}: ${(e as Error).message}</span>`);
    window.demoError = (e as Error).message;
  }
}

async function main(): Promise<void> {
  const tm = performance.now();
  model = await loadPhotoModel('photo');
  let gpu = 'WebGPU: not available';
  try {
    const rt = await createRuntime({ backend: 'auto' });
    gpu = `runtime backend: ${rt.backend} (${rt.reason})`;
    rt.destroy();
  } catch (e) {
    gpu = `runtime: ${(e as Error).message}`;
  }
  try {
    await startPool();
  } catch (e) {
    pool = [];
    console.warn(`workers unavailable, coding on the main thread: ${(e as Error).message}`);
  }
  backendLine = `coder: wasm SIMD (integer CDFs, bit-exact in every runtime), ${pool.length ? `${pool.length} workers, one tile list each` : 'main thread'}; ` +
    `${gpu}; photo model ${model.id} loaded in ${(performance.now() - tm).toFixed(0)} ms`;
  $('backend').textContent = backendLine;
  const onFile = async (f: File) => {
    const bytes = new Uint8Array(await f.arrayBuffer());
    if (bytes[0] === 0xb3) return decompressFile(bytes, f.name);
    try {
      await compressBytes(bytes, f.name);
    } catch (e) {
      status(`<span class="bad">${(e as Error).name}: ${(e as Error).message}</span>`);
      window.demoError = (e as Error).message;
    }
  };
  $<HTMLInputElement>('file').addEventListener('change', (e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) onFile(f); });
  $<HTMLInputElement>('pcx').addEventListener('change', (e) => { const f = (e.target as HTMLInputElement).files?.[0]; if (f) onFile(f); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) onFile(f);
  });
  $('sample').addEventListener('click', async () => {
    const r = await fetch('./sample.png');
    await compressBytes(new Uint8Array(await r.arrayBuffer()), 'sample.png');
  });
  window.demoCompressBytes = compressBytes;
  window.demoReady = true;
}

main().catch((e) => {
  status(`<span class="bad">${(e as Error).message}</span>`);
  window.demoError = (e as Error).message;
});
