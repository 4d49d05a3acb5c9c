// Tile-parallel photo coding on a pool of workers: Web Workers in browsers, Deno and Bun, worker_threads in
// Node. Tiles are independent regions, so each worker (with its own model instance built from the model
// bytes, sent once) codes whole tiles, and the main thread joins the payloads (encode) or places the pixels
// (decode) exactly as compressPhoto / decompressPhoto do: the streams are byte-identical.
//
// Protocol (worker.ts): the worker posts {hello} once it listens; the pool sends {init, model bytes}; the
// worker answers {ready}; then tiles go one at a time per worker, as transferred buffers ({encode} with the
// tile's pixels -> {encoded} with its payload; {decode} with a payload -> {decoded} with the tile's pixels
// and whether it decoded exactly). A failure is posted back as {error} with the error's name, code and
// message and rebuilt here as the same typed error. Only one tile per worker is in flight, so memory
// stays bounded by the image, the output and one tile per worker. Workers are terminated after every call,
// on success and on error.
import { ArgumentError, DTypeError, LimitError, PcpressError, ShapeError, ValidationError } from '../errors.js';
import { CorruptDataError, ImageFormatError, ModelFormatError, TruncatedDataError, WrongModelError } from '../pc/errors.js';
import type { PcImage } from '../pc/model.js';
import {
  checkStreamModel, decompressPhoto, encodePhotoTile, finishPhoto, finishPhotoStream, photoCanvas, photoStreamInfo, planPhotoTiles,
  tileRects, type PhotoCompressOptions, type PhotoPlan,
} from './codec.js';
import type { PhotoModel } from './model.js';

/** Options shared by compressPhotoParallel and decompressPhotoParallel. */
export interface PhotoParallelOptions {
  /**
   * Number of workers (default: one per core, `navigator.hardwareConcurrency` or Node's
   * `os.availableParallelism()`, and never more than there are tiles). 1 codes on the calling thread.
   */
  workers?: number;
  /**
   * URL of the worker script (default: dist/photo-worker.js next to the bundled library). Set it when a
   * bundler moves the library's files.
   */
  workerUrl?: string | URL;
}

/** Options of compressPhotoParallel. */
export interface PhotoCompressParallelOptions extends PhotoCompressOptions, PhotoParallelOptions {}

/** Options of decompressPhotoParallel. */
export interface PhotoDecompressParallelOptions extends PhotoParallelOptions {
  /** Largest width*height*channels the stream may declare (default MAX_PHOTO_BYTES). */
  maxBytes?: number;
}

/** A worker could not start, crashed, or broke the protocol (the coding errors themselves keep their own types). */
export class PhotoWorkerError extends PcpressError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('photo-worker', message, options);
  }
}

/** @internal Messages to a photo worker. */
export type ToWorker =
  | { type: 'init'; model: Uint8Array }
  | { type: 'encode'; index: number; w: number; h: number; channels: number; data: Uint8Array }
  | { type: 'decode'; index: number; w: number; h: number; channels: number; payload: Uint8Array };

/** @internal Messages from a photo worker. */
export type FromWorker =
  | { type: 'hello' }
  | { type: 'ready'; id: string }
  | { type: 'encoded'; index: number; payload: Uint8Array }
  | { type: 'decoded'; index: number; ok: boolean; data: Uint8Array }
  | { type: 'error'; index: number; error: SerializedError };

interface SerializedError {
  name: string;
  code?: string;
  message: string;
  streamModel?: string;
  givenModel?: string;
}

/** Rebuilds a typed error posted by a worker (by class name, with its code). */
function rebuildError(e: SerializedError): Error {
  const m = e.message;
  switch (e.name) {
    case 'TruncatedDataError': return new TruncatedDataError(m);
    case 'CorruptDataError': return new CorruptDataError(m, e.code);
    case 'WrongModelError': return new WrongModelError(e.streamModel ?? '', e.givenModel ?? '', m);
    case 'ModelFormatError': return new ModelFormatError(m);
    case 'ImageFormatError': return new ImageFormatError(m);
    case 'ArgumentError': return new ArgumentError(m);
    case 'LimitError': return new LimitError(m);
    case 'ShapeError': return new ShapeError(m);
    case 'DTypeError': return new DTypeError(m);
    case 'ValidationError': return new ValidationError(e.code ?? 'validation', m);
  }
  if (e.code) return new PcpressError(e.code, m);
  const err = new Error(m);
  err.name = e.name;
  return err;
}

function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.Deno === undefined && g.Bun === undefined;
}

/** Imports a Node built-in without bundlers trying to resolve it (browser bundles stay clean). */
function nodeModule<T>(name: string): Promise<T> {
  return import(/* @vite-ignore */ name) as Promise<T>;
}

/** Cores available to this process. */
async function concurrency(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode()) {
    const os = await nodeModule<typeof import('node:os')>('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return 1;
}

async function workerCount(requested: number | undefined, tiles: number, what: string): Promise<number> {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new ArgumentError(`${what}: workers must be a positive integer, got ${String(requested)}`);
  }
  return Math.max(1, Math.min(tiles, requested ?? (await concurrency())));
}

/** The bundled worker script: dist/photo-worker.js, whether this code sits in dist/ or in dist/chunks/. */
function defaultWorkerUrl(): URL {
  const here = import.meta.url;
  return new URL(/\/chunks\/[^/]*$/.test(here) ? '../photo-worker.js' : './photo-worker.js', here);
}

function checkModel(model: PhotoModel, what: string): void {
  if (!model || typeof (model as PhotoModel).configure !== 'function' || !(model.fileBytes instanceof Uint8Array)) {
    throw new ArgumentError(`${what}: expected a photo model from loadPhotoModel()`);
  }
}

/**
 * The parent's Node options minus those about the main script (`-e`, `-p`, `--input-type`), which a
 * worker started from a file refuses (node --input-type=module -e '...' would otherwise fail to start it).
 */
function workerExecArgv(): string[] {
  const argv = (globalThis as { process?: { execArgv?: string[] } }).process?.execArgv ?? [];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (['-e', '--eval', '-p', '--print', '--input-type'].includes(a)) i++; // and its value
    else if (a.startsWith('--input-type=') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    else out.push(a);
  }
  return out;
}

interface Handle {
  post(msg: ToWorker, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}

/** Starts one worker; `onFail` is called once if it cannot start, crashes or exits on its own. */
async function spawn(url: URL, onMessage: (m: FromWorker) => void, onFail: (e: Error) => void): Promise<Handle> {
  if (isNode()) {
    const wt = await nodeModule<typeof import('node:worker_threads')>('node:worker_threads');
    let closed = false;
    const w = new wt.Worker(url, { execArgv: workerExecArgv() });
    w.on('message', (m: FromWorker) => onMessage(m));
    w.on('error', (e: Error) => { if (!closed) onFail(e); });
    w.on('messageerror', (e: Error) => { if (!closed) onFail(e); });
    w.on('exit', (code: number) => { if (!closed) onFail(new Error(`exited with code ${code}`)); });
    return {
      post: (m, t = []) => w.postMessage(m, t),
      terminate: () => {
        closed = true;
        void w.terminate();
      },
    };
  }
  const W = (globalThis as { Worker?: typeof Worker }).Worker;
  if (typeof W !== 'function') throw new PhotoWorkerError('this runtime has no Worker; use workers: 1');
  const w = new W(url, { type: 'module' });
  let closed = false;
  w.onmessage = (e: MessageEvent) => onMessage(e.data as FromWorker);
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault(); // Deno would otherwise end the whole process
    if (!closed) onFail(new Error(e.message || 'worker error'));
  };
  w.onmessageerror = () => { if (!closed) onFail(new Error('a message could not be deserialized')); };
  return {
    post: (m, t = []) => w.postMessage(m, t),
    terminate: () => {
      closed = true;
      w.terminate();
    },
  };
}

/**
 * Runs `jobs` tile jobs on `n` workers, one tile in flight per worker, tiles handed out in index order.
 * `result(i, msg)` takes tile i's answer and returns an error if the tile failed. When tiles fail, no new
 * tiles start, the ones in flight finish, and the error of the lowest failing tile is thrown: since tiles
 * start in order, that is the error the sequential coder meets first. Every worker is terminated before
 * the promise settles.
 */
function runTiles(model: PhotoModel, n: number, url: URL, jobs: number,
  make: (i: number) => { msg: ToWorker; transfer: ArrayBuffer[] }, result: (i: number, m: FromWorker) => Error | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const handles: (Handle | undefined)[] = new Array(n).fill(undefined);
    const failures = new Map<number, Error>();
    const current: number[] = new Array(n).fill(-1); // the tile each worker is coding
    let next = 0, inFlight = 0, settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      for (const h of handles) h?.terminate();
      if (err) reject(err);
      else resolve();
    };
    const feed = (k: number) => {
      if (settled) return;
      if (failures.size === 0 && next < jobs) {
        const i = next++;
        inFlight++;
        current[k] = i;
        let job: { msg: ToWorker; transfer: ArrayBuffer[] };
        try {
          job = make(i);
        } catch (e) {
          settle(e as Error);
          return;
        }
        handles[k]!.post(job.msg, job.transfer);
        return;
      }
      if (inFlight === 0) {
        if (failures.size) settle(failures.get(Math.min(...failures.keys())));
        else if (next >= jobs) settle();
      }
    };
    const fail = (k: number) => (e: Error) => settle(new PhotoWorkerError(`photo worker ${k}: ${e.message}`, { cause: e }));
    for (let k = 0; k < n; k++) {
      const onMessage = (m: FromWorker) => {
        if (settled) return;
        try {
          if (m.type === 'hello') {
            handles[k]!.post({ type: 'init', model: model.fileBytes.slice() });
          } else if (m.type === 'ready') {
            if (m.id !== model.id) throw new PhotoWorkerError(`photo worker ${k} loaded model ${m.id}, not ${model.id}`);
            feed(k);
          } else if (m.type === 'error' && m.index < 0) {
            settle(rebuildError(m.error));
          } else {
            const i = current[k];
            if (i < 0 || m.index !== i) throw new PhotoWorkerError(`photo worker ${k} answered for tile ${m.index}, not ${i}`);
            current[k] = -1;
            inFlight--;
            const err = m.type === 'error' ? rebuildError(m.error) : result(i, m);
            if (err) failures.set(i, err);
            feed(k);
          }
        } catch (e) {
          settle(e as Error);
        }
      };
      spawn(url, onMessage, fail(k)).then((h) => {
        if (settled) h.terminate();
        else handles[k] = h;
      }, (e: Error) => settle(e instanceof PcpressError ? e : new PhotoWorkerError(`photo worker ${k}: ${e.message}`, { cause: e })));
    }
    if (jobs === 0) settle();
  });
}

function tilePixels(img: PcImage, r: { x: number; y: number; w: number; h: number }): Uint8Array<ArrayBuffer> {
  const c = img.channels, row = r.w * c, out = new Uint8Array(new ArrayBuffer(r.h * row));
  for (let y = 0; y < r.h; y++) {
    const s = ((r.y + y) * img.width + r.x) * c;
    out.set(img.data.subarray(s, s + row), y * row);
  }
  return out;
}

function encodeInThread(model: PhotoModel, plan: PhotoPlan): Uint8Array {
  return finishPhotoStream(model, plan, plan.tiles.map((r) => encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h)));
}

/**
 * Compresses an image like compressPhoto (the same bytes), coding its tiles on a pool of workers
 * (Web Workers, or worker_threads in Node). With one worker or one tile it codes on the calling thread.
 *
 * @example
 * ```ts
 * const bytes = await compressPhotoParallel(image, model, { workers: 4 });
 * const back = await decompressPhotoParallel(bytes, model);
 * ```
 */
export async function compressPhotoParallel(image: PcImage, model: PhotoModel, options: PhotoCompressParallelOptions = {}): Promise<Uint8Array> {
  const what = 'compressPhotoParallel';
  checkModel(model, what);
  const plan = planPhotoTiles(image, options);
  const n = await workerCount(options.workers, plan.tiles.length, what);
  if (n <= 1) return encodeInThread(model, plan);
  const payloads: Uint8Array[] = new Array(plan.tiles.length);
  const c = plan.img.channels;
  await runTiles(model, n, options.workerUrl ? new URL(options.workerUrl) : defaultWorkerUrl(), plan.tiles.length, (i) => {
    const r = plan.tiles[i], data = tilePixels(plan.img, r);
    return { msg: { type: 'encode', index: i, w: r.w, h: r.h, channels: c, data }, transfer: [data.buffer] };
  }, (i, m) => {
    if (m.type !== 'encoded' || !(m.payload instanceof Uint8Array)) return new PhotoWorkerError(`photo worker: bad answer for tile ${i}`);
    payloads[i] = m.payload;
    return undefined;
  });
  return finishPhotoStream(model, plan, payloads);
}

/**
 * Decompresses a photo stream like decompressPhoto (the same pixels, the same typed errors), decoding its
 * tiles on a pool of workers. With one worker or one tile it decodes on the calling thread.
 */
export async function decompressPhotoParallel(bytes: Uint8Array, model: PhotoModel, options: PhotoDecompressParallelOptions = {}): Promise<PcImage> {
  const what = 'decompressPhotoParallel';
  checkModel(model, what);
  const info = photoStreamInfo(bytes, options.maxBytes);
  checkStreamModel(info, model, what);
  const rects = tileRects(info.width, info.height, info.tileSize);
  const n = await workerCount(options.workers, rects.length, what);
  if (n <= 1) return decompressPhoto(bytes, model, { maxBytes: options.maxBytes });
  const out = photoCanvas(info), c = out.channels;
  await runTiles(model, n, options.workerUrl ? new URL(options.workerUrl) : defaultWorkerUrl(), rects.length, (i) => {
    const r = rects[i], t = info.tiles[i], payload = new Uint8Array(bytes.subarray(t.offset, t.offset + t.length));
    return { msg: { type: 'decode', index: i, w: r.w, h: r.h, channels: c, payload }, transfer: [payload.buffer] };
  }, (i, m) => {
    const r = rects[i];
    if (m.type !== 'decoded' || !(m.data instanceof Uint8Array) || m.data.length !== r.w * r.h * c) {
      return new PhotoWorkerError(`photo worker: bad answer for tile ${i}`);
    }
    if (!m.ok) return new CorruptDataError(`${what}: tile ${i} does not decode exactly (corrupt, truncated, or made with another model)`);
    const row = r.w * c;
    for (let y = 0; y < r.h; y++) out.data.set(m.data.subarray(y * row, (y + 1) * row), ((r.y + y) * out.width + r.x) * c);
    return undefined;
  });
  return finishPhoto(info, out, what);
}
