// The demo page: compress a picked/dropped image with the photo codec in the page, decode it back,
// verify, and compare sizes with the browser's own PNG and WebP encoders. Built by scripts/demo.mjs.
import { compressPhoto, decompressPhoto, loadPhotoModel, photoStreamInfo, type PhotoModel } from '../../src/photo/index.js';
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
  const packed = compressPhoto(img, model);
  const encodeMs = performance.now() - t0;
  const t1 = performance.now();
  const back = decompressPhoto(packed, model);
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
    ['pcpress (this page)', packed.length, `encode ${mps(encodeMs)}, decode ${mps(decodeMs)}`, true],
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
    bpsp: (8 * packed.length) / n, pngBytes: png.size, webpBytes: webp.size, encodeMs, decodeMs, identical, backend: backendLine };
  window.demoResult = result;
  return result;
}

async function decompressFile(bytes: Uint8Array, name: string): Promise<void> {
  try {
    const info = photoStreamInfo(bytes);
    const t = performance.now();
    const img = decompressPhoto(bytes, model);
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
  backendLine = `coder: wasm SIMD (integer CDFs, bit-exact in every runtime); ${gpu}; photo model ${model.id} loaded in ${(performance.now() - tm).toFixed(0)} ms`;
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
