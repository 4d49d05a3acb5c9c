// Worker entry of the parallel photo codec (bundled to dist/photo-worker.js). It holds its own photo
// model (its own wasm instance), built from the model bytes the pool sends once, and codes the tiles it is
// sent one at a time. The same file runs as a Web Worker (browsers, Deno, Bun) and as a Node
// worker_threads worker; see parallel.ts for the protocol.
import { MAX_MODEL_PARAMETERS_CEILING } from '../pc/limits.js';
import { decodePhotoTile, encodePhotoTile } from './codec.js';
import { photoModelFromBytes, type PhotoModel } from './model.js';
import type { PcImage } from '../pc/model.js';
import type { ToWorker } from './parallel.js';

interface Port {
  post(msg: unknown, transfer?: ArrayBuffer[]): void;
  listen(fn: (msg: ToWorker) => void): void;
}

/** The worker's side of the channel: the Web Worker global scope, or Node's parentPort. */
async function port(): Promise<Port> {
  const g = globalThis as unknown as {
    postMessage?: (m: unknown, t?: ArrayBuffer[]) => void;
    addEventListener?: (type: string, fn: (e: MessageEvent) => void) => void;
  };
  if (typeof g.postMessage === 'function' && typeof g.addEventListener === 'function') {
    return {
      post: (m, t = []) => g.postMessage!(m, t),
      listen: (fn) => g.addEventListener!('message', (e) => fn(e.data as ToWorker)),
    };
  }
  const spec = 'node:worker_threads';
  const wt = (await import(/* @vite-ignore */ spec)) as typeof import('node:worker_threads');
  const pp = wt.parentPort;
  if (!pp) throw new Error('photo worker: not started as a worker');
  return { post: (m, t = []) => pp.postMessage(m, t), listen: (fn) => pp.on('message', fn) };
}

function errorOf(e: unknown): { name: string; code?: string; message: string; streamModel?: string; givenModel?: string } {
  const err = e as { name?: string; code?: string; message?: string; streamModel?: string; givenModel?: string };
  return { name: String(err?.name ?? 'Error'), code: err?.code, message: String(err?.message ?? e), streamModel: err?.streamModel, givenModel: err?.givenModel };
}

async function main(): Promise<void> {
  const p = await port();
  let model: PhotoModel | undefined;
  // Messages are handled one at a time, in order (init first, then tiles).
  let queue: Promise<void> = Promise.resolve();
  p.listen((m) => {
    queue = queue.then(async () => {
      try {
        if (m.type === 'init') {
          model = await photoModelFromBytes(m.model, { maxModelParameters: MAX_MODEL_PARAMETERS_CEILING });
          p.post({ type: 'ready', id: model.id });
        } else if (!model) {
          throw new Error('photo worker: tile before init');
        } else if (m.type === 'encode') {
          const img: PcImage = { width: m.w, height: m.h, channels: m.channels, data: m.data };
          const payload = encodePhotoTile(model, img, 0, 0, m.w, m.h, m.seed);
          p.post({ type: 'encoded', index: m.index, payload }, [payload.buffer as ArrayBuffer]);
        } else if (m.type === 'decode') {
          const img: PcImage = { width: m.w, height: m.h, channels: m.channels, data: new Uint8Array(m.w * m.h * m.channels) };
          const ok = decodePhotoTile(model, m.payload, img, 0, 0, m.w, m.h, m.seed, m.mode ?? 'pc');
          p.post({ type: 'decoded', index: m.index, ok, data: img.data }, [img.data.buffer as ArrayBuffer]);
        }
      } catch (e) {
        p.post({ type: 'error', index: 'index' in m ? m.index : -1, error: errorOf(e) });
      }
    });
  });
  p.post({ type: 'hello' });
}

void main();
