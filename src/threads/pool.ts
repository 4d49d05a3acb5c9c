// The wasm thread pool: `threads - 1` workers (worker_threads in Node, Web Workers in Deno and browsers),
// each running the small kernel module (build/pcpress-threads.wasm) on the runtime's shared memory, plus
// the main thread, which takes the first share itself. Work is handed over through a control block in
// that memory (Atomics.wait / notify), so a call stays synchronous: rt.matmul on Tensors returns a Tensor.
//
// Rules that keep it safe: only the main thread allocates (the TLSF allocator is not thread-safe), the
// kernel module has no data segments, start function or allocator, and each thread gets its own scratch.
import { BackendUnavailableError, PcpressError } from '../errors.js';

/** Exports of the kernel module (assembly/threaded/index.ts). */
export interface ThreadKernels {
  matmulTaskScratchBytes(): number;
  matmulTask(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number, prepacked: number,
    batch: number, strideA: number, strideB: number, strideC: number, rowLo: number, rowHi: number, colLo: number, colHi: number,
    scratch: number): void;
}

/** A kernel failed on a pool thread (a trap in the wasm code). */
export class ThreadPoolError extends PcpressError {
  constructor(message: string) {
    super('thread-pool', message);
  }
}

// Control block layout (Int32 indices): generation, stop flag, workers done, error flag, next task, task
// count, then a table of tasks (matmulTask's arguments without the scratch pointer). Threads take tasks in
// turn (Atomics.add on NEXT), so a thread the OS delays does not hold the others up; a call returns when
// every worker has checked in, so no worker is ever still reading the table when the next call writes it.
const GEN = 0, STOP = 1, DONE = 2, ERR = 3, NEXT = 4, COUNT = 5, TASKS = 8;
/** Arguments of matmulTask without the scratch pointer. */
const TASK_ARGS = 17;
/** Most tasks one call may hand out. */
export const MAX_TASKS = 256;
const CTL_INTS = TASKS + TASK_ARGS * MAX_TASKS;

/**
 * The worker's whole program (plain JS, run from a string: no file to locate or bundle). It instantiates
 * the kernel module on the shared memory, says ready, then waits for generations of the control block.
 */
const WORKER_SOURCE = `
const start = (post, d) => {
  let ex, ctl;
  try {
    const inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory, abort() { throw new Error('abort'); } } });
    ex = inst.exports;
    ctl = new Int32Array(d.memory.buffer, d.ctl, ${CTL_INTS});
  } catch (e) {
    post({ type: 'failed', message: String(e && e.message || e) });
    return;
  }
  post({ type: 'ready' });
  let gen = 0;
  for (;;) {
    Atomics.wait(ctl, ${GEN}, gen);
    gen = Atomics.load(ctl, ${GEN});
    if (Atomics.load(ctl, ${STOP}) !== 0) return;
    const count = Atomics.load(ctl, ${COUNT});
    for (;;) {
      const t = Atomics.add(ctl, ${NEXT}, 1);
      if (t >= count) break;
      try {
        const a = [];
        for (let i = 0; i < ${TASK_ARGS}; i++) a.push(ctl[${TASKS} + ${TASK_ARGS} * t + i]);
        ex.matmulTask(...a, d.scratch);
      } catch (e) {
        Atomics.store(ctl, ${ERR}, 1);
      }
    }
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
};
const node = (wt) => wt.parentPort.once('message', (d) => start((m) => wt.parentPort.postMessage(m), d));
if (typeof self !== 'undefined' && typeof self.postMessage === 'function') {
  self.onmessage = (e) => { self.onmessage = null; start((m) => self.postMessage(m), e.data); };
} else if (typeof require === 'function') {
  node(require('node:worker_threads'));
} else {
  import('node:worker_threads').then(node);
}
`;

interface Handle {
  terminate(): void;
}

/** True in Node.js (not Deno or Bun, which also define process.versions). */
export function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown; Bun?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.Deno === undefined && g.Bun === undefined;
}

/** Imports a Node built-in without bundlers trying to resolve it. */
export function nodeModule<T>(name: string): Promise<T> {
  return import(/* @vite-ignore */ name) as Promise<T>;
}

/** Cores this process may use: navigator.hardwareConcurrency, or os.availableParallelism() in Node. */
export async function availableCores(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode()) {
    const os = await nodeModule<typeof import('node:os')>('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return 1;
}

/**
 * Why threads cannot start here, or undefined when shared wasm memory and workers are available:
 * SharedArrayBuffer, Atomics, a shared WebAssembly.Memory, cross-origin isolation in browsers, a Worker.
 */
export function threadsUnavailable(): string | undefined {
  const g = globalThis as { SharedArrayBuffer?: unknown; Atomics?: unknown; crossOriginIsolated?: boolean; Worker?: unknown; document?: unknown };
  if (g.crossOriginIsolated === false) {
    return 'the page is not cross-origin isolated; serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp';
  }
  if (typeof g.SharedArrayBuffer !== 'function' || typeof g.Atomics !== 'object') return 'this runtime has no SharedArrayBuffer / Atomics';
  try {
    const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor);
    if (!(m.buffer instanceof (g.SharedArrayBuffer as typeof SharedArrayBuffer))) return 'shared WebAssembly.Memory is not backed by a SharedArrayBuffer';
  } catch (e) {
    return `this runtime cannot create a shared WebAssembly.Memory (${(e as Error)?.message ?? e})`;
  }
  if (!isNode() && typeof g.Worker !== 'function') return 'this runtime has no Worker';
  return undefined;
}

/**
 * A started pool. `runMatmul` hands a list of tasks to all threads (the calling thread takes tasks too) and
 * returns when all are done: it is synchronous. `destroy` stops and terminates the workers.
 */
export class ThreadPool {
  /** Threads that run kernels, the main thread included. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly canWait: boolean;
  private destroyed = false;

  private constructor(memory: WebAssembly.Memory, ctlPtr: number, private readonly scratch: number[],
    private readonly main: ThreadKernels, private readonly handles: Handle[]) {
    this.threads = handles.length + 1;
    this.ctl = new Int32Array(memory.buffer, ctlPtr, CTL_INTS);
    // Atomics.wait throws on a browser's main thread: spin there instead.
    let ok = true;
    try {
      Atomics.wait(this.ctl, STOP, 1, 0);
    } catch {
      ok = false;
    }
    this.canWait = ok;
  }

  /**
   * Starts `threads - 1` workers on `memory`. `alloc` gives 16-byte aligned blocks of that memory (main
   * thread only): the control block and one scratch block per thread. Rejects with
   * BackendUnavailableError when a worker cannot start.
   */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, alloc: (bytes: number) => number,
    timeoutMs = 30_000): Promise<ThreadPool> {
    const main = (await WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('abort'); } } })).exports as unknown as ThreadKernels;
    const workers = threads - 1;
    const ctlPtr = alloc(4 * CTL_INTS);
    new Int32Array(memory.buffer, ctlPtr, CTL_INTS).fill(0);
    const scratchBytes = main.matmulTaskScratchBytes();
    const scratch = Array.from({ length: threads }, () => alloc(scratchBytes));
    const handles: Handle[] = [];
    const spawn = await spawner();
    const timers: ReturnType<typeof setTimeout>[] = [];
    try {
      await Promise.all(Array.from({ length: workers }, (_, slot) => new Promise<void>((resolve, reject) => {
        // this timer keeps Node's event loop alive while the (unref'd) workers start; a failed start clears them all
        const timer = setTimeout(() => reject(new Error(`did not start within ${timeoutMs} ms`)), timeoutMs);
        timers.push(timer);
        const done = (e?: Error) => {
          clearTimeout(timer);
          if (e) reject(e);
          else resolve();
        };
        try {
          handles.push(spawn({ module, memory, ctl: ctlPtr, scratch: scratch[slot + 1] }, (m) => {
            if (m.type === 'ready') done();
            else done(new Error(m.message ?? 'failed'));
          }, (e) => done(e)));
        } catch (e) {
          done(e as Error);
        }
      })));
    } catch (e) {
      for (const t of timers) clearTimeout(t);
      for (const h of handles) h.terminate();
      throw new BackendUnavailableError('wasm', `${threads} threads were asked for but a worker could not start: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    return new ThreadPool(memory, ctlPtr, scratch, main, handles);
  }

  /**
   * Runs the tasks (matmulTask's arguments without the scratch pointer, at most MAX_TASKS) on the pool's
   * threads, the calling thread included, each thread taking the next task when it is free. Returns when
   * all are done; throws ThreadPoolError if a kernel trapped.
   */
  runMatmul(tasks: number[][]): void {
    if (this.destroyed) throw new ThreadPoolError('the thread pool was destroyed');
    if (tasks.length > MAX_TASKS) throw new ThreadPoolError(`${tasks.length} tasks, over the pool's ${MAX_TASKS}`);
    const ctl = this.ctl, workers = this.threads - 1;
    tasks.forEach((t, k) => ctl.set(t, TASKS + TASK_ARGS * k));
    Atomics.store(ctl, COUNT, tasks.length);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, ERR, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    let failed: unknown;
    const run = this.main.matmulTask as (...a: number[]) => void;
    for (;;) {
      const k = Atomics.add(ctl, NEXT, 1);
      if (k >= tasks.length) break;
      try {
        run(...tasks[k], this.scratch[0]);
      } catch (e) {
        failed = e;
      }
    }
    for (;;) {
      const d = Atomics.load(ctl, DONE);
      if (d >= workers) break;
      if (this.canWait) Atomics.wait(ctl, DONE, d, 1000);
    }
    if (failed !== undefined || Atomics.load(ctl, ERR) !== 0) {
      throw new ThreadPoolError(`a matmul kernel failed on a pool thread${failed ? `: ${(failed as Error)?.message ?? failed}` : ''}`);
    }
  }

  /** Stops the workers (they leave their wait loop) and terminates them. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const h of this.handles) h.terminate();
  }
}

type StartMessage = { module: WebAssembly.Module; memory: WebAssembly.Memory; ctl: number; scratch: number };
type Spawn = (d: StartMessage, onMessage: (m: { type: string; message?: string }) => void, onFail: (e: Error) => void) => Handle;

/** Starts workers from WORKER_SOURCE: worker_threads (eval, unref'd) in Node, a module Web Worker from a Blob elsewhere. */
async function spawner(): Promise<Spawn> {
  if (isNode()) {
    const wt = await nodeModule<typeof import('node:worker_threads')>('node:worker_threads');
    return (d, onMessage, onFail) => {
      let closed = false;
      // no inherited Node options: the worker needs none, and some (--input-type, -e) would stop it starting
      const w = new wt.Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      w.on('message', onMessage);
      w.on('error', (e: Error) => { if (!closed) onFail(e); });
      w.on('exit', (code: number) => { if (!closed) onFail(new Error(`exited with code ${code}`)); });
      w.unref(); // after the listeners (adding a 'message' listener refs the port again): a pool never keeps the process alive
      w.postMessage(d);
      return { terminate: () => { closed = true; void w.terminate(); } };
    };
  }
  const W = (globalThis as { Worker?: typeof Worker }).Worker;
  if (typeof W !== 'function') throw new BackendUnavailableError('wasm', 'threads were asked for but this runtime has no Worker');
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  return (d, onMessage, onFail) => {
    const w = new W(url, { type: 'module' });
    let closed = false;
    w.onmessage = (e: MessageEvent) => onMessage(e.data);
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      if (!closed) onFail(new Error(e.message || 'worker error'));
    };
    w.postMessage(d);
    return { terminate: () => { closed = true; w.terminate(); } };
  };
}
