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
  checkStreamModel, decompressPhoto, encodePhotoTile, finishPhoto, finishPhotoStream, photoCanvas, photoStreamInfo, photoTileSeeds, planPhotoTiles,
  tileRects, type PhotoCompressOptions, type PhotoPlan, type PhotoTileMode,
} from './codec.js';
import { decodeLimits, type DecodeLimits } from '../pc/limits.js';
import { defaultThreads, holdCores, isNode, nodeModule } from '../threads/pool.js';
import { decompressDeflate } from '../pc/deflate.js';
import { STREAM_DEFLATE } from '../pc/format.js';
import type { PhotoModel } from './model.js';

/** Options shared by compressPhotoParallel and decompressPhotoParallel. */
export interface PhotoParallelOptions {
  /**
   * Number of workers (default: one per core, `navigator.hardwareConcurrency` or Node's
   * `os.availableParallelism()`, less the threads live wasm kernel pools hold (at least 1), and never more
   * than there are tiles). 1 codes on the calling thread.
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

/** Options of decompressPhotoParallel: the workers, and the limits on the sizes a stream may declare. */
export interface PhotoDecompressParallelOptions extends PhotoParallelOptions, DecodeLimits {}

/** A worker could not start, crashed, or broke the protocol (the coding errors themselves keep their own types). */
export class PhotoWorkerError extends PcpressError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('photo-worker', message, options);
  }
}

/** @internal Messages to a photo worker. */
export type ToWorker =
  | { type: 'init'; model: Uint8Array }
  | { type: 'encode'; index: number; w: number; h: number; channels: number; seed: number; data: Uint8Array }
  | { type: 'decode'; index: number; w: number; h: number; channels: number; seed: number; payload: Uint8Array; mode?: PhotoTileMode };

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

/** @internal Checks an options argument (an object, or undefined) and its `workers` value when given. */
export function checkParallelOptions(options: unknown, what: string): void {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new ArgumentError(`${what}: options must be an object`);
  const w = (options as { workers?: unknown } | undefined)?.workers;
  if (w !== undefined && (typeof w !== 'number' || !Number.isInteger(w) || w < 1)) {
    throw new ArgumentError(`${what}: workers must be a positive integer, got ${String(w)}`);
  }
}

async function workerCount(requested: number | undefined, tiles: number, what: string): Promise<number> {
  checkParallelOptions({ workers: requested }, what);
  // default: the cores less the threads live kernel pools hold (the rule in src/threads/pool.ts, defaultThreads)
  return Math.max(1, Math.min(tiles, requested ?? (await defaultThreads('photo')).count));
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

type Spawn = (url: URL, onMessage: (m: FromWorker) => void, onFail: (e: Error) => void) => Handle;

/**
 * A function that starts one worker (worker_threads in Node, a module Web Worker elsewhere); `onFail` is
 * called if the worker cannot start, crashes or exits on its own, never after terminate().
 */
async function workerSpawner(): Promise<Spawn> {
  if (isNode()) {
    const wt = await nodeModule<typeof import('node:worker_threads')>('node:worker_threads');
    return (url, onMessage, onFail) => {
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
    };
  }
  const W = (globalThis as { Worker?: typeof Worker }).Worker;
  if (typeof W !== 'function') throw new PhotoWorkerError('this runtime has no Worker; use workers: 1');
  return (url, onMessage, onFail) => {
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
  };
}

type Job = { msg: ToWorker; transfer: ArrayBuffer[] };

/** Options of PhotoWorkerPool.create. */
export interface PhotoWorkerPoolOptions {
  /** Number of workers (default: one per core, `navigator.hardwareConcurrency` or `os.availableParallelism()`, less the threads live wasm kernel pools hold, at least 1). */
  workers?: number;
  /** URL of the worker script (default: dist/photo-worker.js next to the bundled library). */
  workerUrl?: string | URL;
}

/**
 * A pool of started photo workers for one model, to code many images without starting workers for each
 * (compressPhotoParallel / decompressPhotoParallel start and stop one per call). Calls on a pool run one
 * after another; `close()` terminates the workers. A worker that crashes closes the pool (later calls
 * reject with PhotoWorkerError); coding errors (a corrupt stream) leave it usable.
 *
 * @example
 * ```ts
 * const pool = await PhotoWorkerPool.create(model, { workers: 4 });
 * try {
 *   for (const img of images) files.push(await pool.compress(img));
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class PhotoWorkerPool {
  /** The model every worker codes with. */
  readonly model: PhotoModel;
  /** Number of workers. */
  readonly size: number;
  private readonly handles: Handle[] = [];
  private listener?: { message(k: number, m: FromWorker): void; fail(e: Error): void };
  private broken?: Error;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  /** Gives this pool's workers back to the core ledger (see defaultThreads in src/threads/pool.ts). */
  private releaseCores: () => void = () => {};

  private constructor(model: PhotoModel, size: number) {
    this.model = model;
    this.size = size;
  }

  /** Starts `workers` workers and gives each the model; resolves once all of them are ready. */
  static async create(model: PhotoModel, options: PhotoWorkerPoolOptions = {}): Promise<PhotoWorkerPool> {
    checkModel(model, 'PhotoWorkerPool.create');
    const n = await workerCount(options.workers, Infinity, 'PhotoWorkerPool.create');
    const spawn = await workerSpawner();
    const pool = new PhotoWorkerPool(model, n);
    pool.releaseCores = holdCores('photo', n);
    await pool.start(spawn, options.workerUrl === undefined ? defaultWorkerUrl() : new URL(options.workerUrl));
    return pool;
  }

  private start(spawn: Spawn, url: URL): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let ready = 0;
      this.listener = {
        message: (k, m) => {
          if (m.type === 'hello') {
            this.handles[k].post({ type: 'init', model: this.model.fileBytes.slice() });
          } else if (m.type === 'ready') {
            if (m.id !== this.model.id) throw new PhotoWorkerError(`photo worker ${k} loaded model ${m.id}, not ${this.model.id}`);
            if (++ready === this.size) {
              this.listener = undefined;
              resolve();
            }
          } else if (m.type === 'error') {
            throw rebuildError(m.error);
          } else {
            throw new PhotoWorkerError(`photo worker ${k}: unexpected ${m.type} message while starting`);
          }
        },
        fail: reject,
      };
      for (let k = 0; k < this.size; k++) {
        try {
          this.handles.push(spawn(url, (m) => this.dispatch(k, m), (e) => this.fail(new PhotoWorkerError(`photo worker ${k}: ${e.message}`, { cause: e }))));
        } catch (e) {
          this.fail(e instanceof PcpressError ? e : new PhotoWorkerError(`photo worker ${k}: ${(e as Error).message}`, { cause: e }));
          break;
        }
      }
    });
  }

  private dispatch(k: number, m: FromWorker): void {
    if (this.closed || !this.listener) return;
    try {
      this.listener.message(k, m);
    } catch (e) {
      // a protocol error leaves the worker in an unknown state: the pool is not used again
      this.fail(e as Error);
    }
  }

  /** A worker crashed, could not start or broke the protocol: close the pool and fail the current call. */
  private fail(e: Error): void {
    if (this.closed) return;
    this.broken = e;
    const l = this.listener;
    this.listener = undefined;
    this.close();
    l?.fail(e);
  }

  /** Terminates the workers; a call still running rejects with PhotoWorkerError, and so do later calls. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseCores();
    const l = this.listener;
    this.listener = undefined;
    for (const h of this.handles) h.terminate();
    l?.fail(new PhotoWorkerError('the photo worker pool was closed during a call'));
  }

  /** Runs calls one after another. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.queue.then(fn);
    this.queue = r.catch(() => undefined);
    return r;
  }

  /**
   * Runs `jobs` tile jobs, one tile in flight per worker, tiles handed out in index order. `result(i, msg)`
   * takes tile i's answer and returns an error if the tile failed. When tiles fail, no new tiles start, the
   * ones in flight finish, and the error of the lowest failing tile is thrown: since tiles start in order,
   * that is the error the sequential coder meets first.
   */
  private runTiles(jobs: number, make: (i: number) => Job, result: (i: number, m: FromWorker) => Error | undefined): Promise<void> {
    return this.serial(() => new Promise<void>((resolve, reject) => {
      if (this.broken) throw new PhotoWorkerError(`the photo worker pool failed earlier: ${this.broken.message}`, { cause: this.broken });
      if (this.closed) throw new PhotoWorkerError('the photo worker pool is closed');
      const failures = new Map<number, Error>();
      const current: number[] = new Array(this.size).fill(-1); // the tile each worker is coding
      let next = 0, inFlight = 0, settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        this.listener = undefined;
        if (err) reject(err);
        else resolve();
      };
      const feed = (k: number) => {
        if (failures.size === 0 && next < jobs) {
          const i = next++;
          const job = make(i);
          inFlight++;
          current[k] = i;
          this.handles[k].post(job.msg, job.transfer);
        } else if (inFlight === 0) {
          if (failures.size) settle(failures.get(Math.min(...failures.keys())));
          else settle();
        }
      };
      this.listener = {
        message: (k, m) => {
          const i = current[k];
          if (i < 0 || !('index' in m) || m.index !== i) throw new PhotoWorkerError(`photo worker ${k} answered ${m.type} for tile ${'index' in m ? m.index : '-'}, not ${i}`);
          current[k] = -1;
          inFlight--;
          const err = m.type === 'error' ? rebuildError(m.error) : result(i, m);
          if (err) failures.set(i, err);
          feed(k);
        },
        fail: (e) => settle(e),
      };
      try {
        for (let k = 0; k < this.size; k++) feed(k);
      } catch (e) {
        // make() threw (a bug or out of memory): tiles may be in flight, so the pool is not reused
        this.fail(e as Error);
      }
    }));
  }

  /** Compresses an image like compressPhoto (the same bytes) on the pool's workers. */
  async compress(image: PcImage, options: PhotoCompressOptions = {}): Promise<Uint8Array> {
    const plan = planPhotoTiles(image, options);
    return this.encodePlan(plan);
  }

  /** @internal */
  async encodePlan(plan: PhotoPlan): Promise<Uint8Array> {
    const payloads: Uint8Array[] = new Array(plan.tiles.length);
    const c = plan.img.channels, seeds = photoTileSeeds(this.model, plan);
    await this.runTiles(plan.tiles.length, (i) => {
      const r = plan.tiles[i], data = tilePixels(plan.img, r);
      return { msg: { type: 'encode', index: i, w: r.w, h: r.h, channels: c, seed: seeds[i], data }, transfer: [data.buffer] };
    }, (i, m) => {
      if (m.type !== 'encoded' || !(m.payload instanceof Uint8Array) || m.payload.length < 1) return new PhotoWorkerError(`photo worker: bad answer for tile ${i}`);
      payloads[i] = m.payload;
      return undefined;
    });
    return finishPhotoStream(this.model, plan, payloads);
  }

  /** Decompresses a photo stream like decompressPhoto (the same pixels, the same typed errors) on the pool's workers. */
  async decompress(bytes: Uint8Array, options: DecodeLimits = {}): Promise<PcImage> {
    const what = 'decompressPhotoParallel';
    if (bytes instanceof Uint8Array && bytes[0] === STREAM_DEFLATE) return decompressDeflate(bytes, decodeLimits(options, what));
    const info = photoStreamInfo(bytes, decodeLimits(options, what));
    checkStreamModel(info, this.model, what);
    const rects = tileRects(info.width, info.height, info.tileSize);
    const out = photoCanvas(info), c = out.channels;
    await this.runTiles(rects.length, (i) => {
      const r = rects[i], t = info.tiles[i], payload = new Uint8Array(bytes.subarray(t.offset, t.offset + t.length));
      return { msg: { type: 'decode', index: i, w: r.w, h: r.h, channels: c, seed: t.seed, payload, mode: info.mode }, transfer: [payload.buffer] };
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
}

function tilePixels(img: PcImage, r: { x: number; y: number; w: number; h: number }): Uint8Array<ArrayBuffer> {
  const c = img.channels, row = r.w * c, out = new Uint8Array(new ArrayBuffer(r.h * row));
  for (let y = 0; y < r.h; y++) {
    const s = ((r.y + y) * img.width + r.x) * c;
    out.set(img.data.subarray(s, s + row), y * row);
  }
  return out;
}

/** Runs fn on a pool of n workers, closed afterwards (on success and on error). */
async function withPool<T>(model: PhotoModel, n: number, workerUrl: string | URL | undefined, fn: (pool: PhotoWorkerPool) => Promise<T>): Promise<T> {
  const pool = await PhotoWorkerPool.create(model, { workers: n, workerUrl });
  try {
    return await fn(pool);
  } finally {
    pool.close();
  }
}

/**
 * Compresses an image like compressPhoto (the same bytes), coding its tiles on workers started for this
 * call (Web Workers, or worker_threads in Node) and terminated after it. With one worker or one tile it
 * codes on the calling thread.
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
  const plan = planPhotoTiles(image, options, ['workers', 'workerUrl']);
  const n = await workerCount(options.workers, plan.tiles.length, what);
  const seeds = photoTileSeeds(model, plan);
  if (n <= 1) return finishPhotoStream(model, plan, plan.tiles.map((r, i) => encodePhotoTile(model, plan.img, r.x, r.y, r.w, r.h, seeds[i])));
  return withPool(model, n, options.workerUrl, (pool) => pool.encodePlan(plan));
}

/**
 * Decompresses a photo stream like decompressPhoto (the same pixels, the same typed errors), decoding its
 * tiles on workers started for this call. With one worker or one tile it decodes on the calling thread.
 */
export async function decompressPhotoParallel(bytes: Uint8Array, model: PhotoModel, options: PhotoDecompressParallelOptions = {}): Promise<PcImage> {
  const what = 'decompressPhotoParallel';
  checkModel(model, what);
  checkParallelOptions(options, what);
  const { workers, workerUrl, ...rest } = options ?? {};
  const limits = decodeLimits(rest, what);
  if (bytes instanceof Uint8Array && bytes[0] === STREAM_DEFLATE) return decompressDeflate(bytes, limits);
  const info = photoStreamInfo(bytes, limits);
  checkStreamModel(info, model, what);
  const n = await workerCount(workers, info.tiles.length, what);
  if (n <= 1) return decompressPhoto(bytes, model, limits);
  return withPool(model, n, workerUrl, (pool) => pool.decompress(bytes, limits));
}
