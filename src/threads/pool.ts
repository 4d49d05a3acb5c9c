// The wasm thread pool: `threads - 1` workers (worker_threads in Node, Web Workers in Deno and browsers),
// each running the small kernel module (build/pcpress-threads.wasm) on the runtime's shared memory, plus
// the main thread, which takes tasks itself. Work is handed over through a control block in that memory
// (Atomics.wait / notify), so a call stays synchronous: rt.matmul on Tensors returns a Tensor.
//
// The kernel workers are started by one supervisor worker, which does no compute: its event loop stays
// free while the main thread is blocked in a call, so when a kernel worker dies (exits, throws outside a
// kernel, is killed) the supervisor sees it and marks the control block (the worker's GONE cell and DEAD,
// then a notify), and a call waiting on that worker throws ThreadPoolError instead of waiting forever (a
// call whose woken workers all checked in completes). The pool is then broken for good: every later call
// throws ThreadPoolError too (create a new runtime); nothing restarts behind the caller. The supervisor
// itself bumps a heartbeat cell every BEAT_MS; a call that sees neither a beat nor any progress for
// STALE_MS (the supervisor died, and its kernel workers with it) breaks the pool instead of waiting forever.
// A pool whose runtime is dropped without destroy() is terminated, and its cores given back, when it is
// garbage-collected (FinalizationRegistry).
//
// Rules that keep it safe: only the main thread allocates (the TLSF allocator is not thread-safe), the
// kernel module has no data segments or start function (scripts/build.mjs checks), and each thread gets
// its own scratch.
import { BackendUnavailableError, PcpressError } from '../errors.js';

/** Exports of the kernel module (assembly/threaded/index.ts). */
export interface ThreadKernels {
  taskScratchBytes(): number;
  runTask(kind: number, args: number, task: number, slot: number, scratch: number): void;
}

/** Task kinds of the kernel module's runTask. */
export const TaskKind = { matmul: 0, attention: 1, attentionCombine: 2, kvScore: 3 } as const;
/** Test hook: a task of this kind makes the worker that takes it die (the main thread leaves it to the workers). */
const KIND_DIE = -1;
/** Test hook: the worker that takes task 0 checks in, then dies; the worker that takes task 1 keeps the call open 1.5 s. */
const KIND_DIE_LATE = -2;
/** Test hook: the worker that takes the task waits (up to 30 s, or until destroy) while the supervisor exits. */
const KIND_HANG = -3;
/** Test hook: a task kind the kernel module does not know, so runTask traps (`unreachable`) on every thread that takes one. */
const KIND_TRAP = 99;

/** A kernel failed on a pool thread (a trap in the wasm code), or a worker died and the pool is broken. */
export class ThreadPoolError extends PcpressError {
  /** True when a worker died: the pool is unusable and every later call throws; create a new runtime. */
  readonly broken: boolean;
  constructor(message: string, broken = false) {
    super('thread-pool', message);
    this.broken = broken;
  }
}

// Control block layout (Int32 indices): (unused), stop flag, workers done, error flag, next task, task
// count, task kind, argument pointer, first dead worker (slot, 0 = none), supervisor heartbeat, supervisor
// exit (test hook), then a table of matmul tasks, then per worker slot a wake cell, a check-in cell (the wake
// value of the last call it finished) and a gone cell (1: it died). A call wakes only the workers it uses (a bump + notify of their cells; the
// others sleep on), and threads take tasks in turn (Atomics.add on NEXT), so a thread the OS delays does
// not hold the others up; a call returns when every woken worker has checked in, so no worker is ever
// still reading the table or the argument block when the next call writes or frees it.
const STOP = 1, DONE = 2, ERR = 3, NEXT = 4, COUNT = 5, KIND = 6, ARGS = 7, DEAD = 8, BEAT = 9, SUPKILL = 10, TASKS = 12;
/** Arguments of one matmul task in the table (matmulTask's arguments without the scratch pointer). */
const TASK_ARGS = 17;
/** Most matmul tasks one call may hand out (other kinds read their arguments from memory: no limit). */
export const MAX_TASKS = 256;
/** First wake cell (worker slot s waits on WAKE + s; slots 1..63). */
const WAKE = TASKS + TASK_ARGS * MAX_TASKS;
/** Check-in cells: a worker stores its wake cell's value there when it has finished its share of that call. */
const IN = WAKE + 64;
/** Gone cells: the supervisor stores 1 there when the worker died. */
const GONE = IN + 64;
const CTL_INTS = GONE + 64;
/** How often the supervisor bumps BEAT (ms). */
const BEAT_MS = 100;
/** A call that sees no heartbeat and no progress (tasks taken, workers checked in) for this long breaks the pool (ms). */
export const STALE_MS = 2000;

/**
 * The workers' whole program (plain JS, run from a string: no file to locate or bundle). The first
 * message says the role. A kernel worker instantiates the kernel module on the shared memory, says
 * ready, then waits for generations of the control block. The supervisor starts the kernel workers
 * from this same source, reports when all are ready (or one failed), and afterwards turns any kernel
 * worker's exit or uncaught error into DEAD in the control block.
 */
const WORKER_SOURCE = `
const kernel = (post, d) => {
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
  const cell = ${WAKE} + d.slot;
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, cell, seen);
    seen = Atomics.load(ctl, cell);
    if (Atomics.load(ctl, ${STOP}) !== 0) return;
    const count = Atomics.load(ctl, ${COUNT}), kind = Atomics.load(ctl, ${KIND}), args = Atomics.load(ctl, ${ARGS});
    let dieAfter = false;
    for (;;) {
      const t = Atomics.add(ctl, ${NEXT}, 1);
      if (t >= count) break;
      if (kind === ${KIND_DIE}) die();
      if (kind === ${KIND_DIE_LATE}) {
        if (t === 0) { dieAfter = true; break; }
        Atomics.wait(ctl, ${STOP}, 0, 1500);
        continue;
      }
      if (kind === ${KIND_HANG}) { Atomics.wait(ctl, ${STOP}, 0, 30000); continue; }
      try {
        ex.runTask(kind, args, t, d.slot, d.scratch);
      } catch (e) {
        Atomics.store(ctl, ${ERR}, 1);
      }
    }
    Atomics.store(ctl, ${IN} + d.slot, seen);
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
    if (dieAfter) die();
  }
};
const die = () => {
  if (typeof process === 'object' && process && typeof process.exit === 'function' && typeof self === 'undefined') process.exit(7);
  throw new Error('test hook: this worker dies');
};
const supervise = (post, d, spawn, exit) => {
  const ctl = new Int32Array(d.memory.buffer, d.ctl, ${CTL_INTS});
  let ready = 0, failed = false;
  // the heartbeat: a call that sees it stop (and no progress) breaks the pool instead of waiting forever
  const beat = setInterval(() => {
    if (Atomics.load(ctl, ${SUPKILL}) !== 0) { clearInterval(beat); exit(); return; }
    Atomics.add(ctl, ${BEAT}, 1);
  }, ${BEAT_MS});
  const died = (slot, why) => {
    if (Atomics.load(ctl, ${STOP}) !== 0) return;
    if (ready < d.scratch.length) {
      if (!failed) post({ type: 'failed', message: why });
      failed = true;
      return;
    }
    // no ERR: a call the worker had finished its share of still completes; later calls throw
    Atomics.store(ctl, ${GONE} + slot, 1);
    if (Atomics.compareExchange(ctl, ${DEAD}, 0, slot) === 0) post({ type: 'died', slot, message: why });
    Atomics.notify(ctl, ${DONE});
  };
  d.scratch.forEach((scratch, i) => {
    const slot = i + 1;
    spawn({ role: 'kernel', module: d.module, memory: d.memory, ctl: d.ctl, slot, scratch }, (m) => {
      if (m.type === 'ready') {
        if (++ready === d.scratch.length && !failed) post({ type: 'ready' });
      } else died(slot, m.message || 'failed');
    }, (why) => died(slot, why));
  });
};
const role = (post, d, spawn, exit) => (d.role === 'kernel' ? kernel(post, d) : supervise(post, d, spawn, exit));
if (typeof self !== 'undefined' && typeof self.postMessage === 'function') {
  const spawn = (msg, onMessage, onFail) => {
    const w = new Worker(URL.createObjectURL(new Blob([self.__pcpressSource], { type: 'text/javascript' })), { type: 'module' });
    w.onmessage = (e) => onMessage(e.data);
    w.onerror = (e) => { e.preventDefault(); onFail('worker ' + msg.slot + ' failed: ' + (e.message || 'error')); };
    msg.source = self.__pcpressSource;
    w.postMessage(msg);
  };
  self.onmessage = (e) => {
    self.onmessage = null;
    self.__pcpressSource = e.data.source;
    role((m) => self.postMessage(m), e.data, spawn, () => self.close());
    // a kernel worker returns once the pool stops (or its module failed): end the thread, so none outlives its
    // pool (an orphan of a dead supervisor would otherwise run on into the runtime's teardown)
    if (e.data.role === 'kernel') self.close();
  };
} else {
  const node = (wt) => wt.parentPort.once('message', (d) => {
    const spawn = (msg, onMessage, onFail) => {
      const w = new wt.Worker(d.source, { eval: true, execArgv: [] });
      w.on('message', onMessage);
      w.on('error', (e) => onFail('worker ' + msg.slot + ' failed: ' + (e && e.message || e)));
      w.on('exit', (code) => onFail('worker ' + msg.slot + ' exited with code ' + code));
      msg.source = d.source;
      w.postMessage(msg);
    };
    role((m) => wt.parentPort.postMessage(m), d, spawn, () => process.exit(0));
  });
  if (typeof require === 'function') node(require('node:worker_threads'));
  else import('node:worker_threads').then(node);
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

/** Who holds threads: the kernel pools (ThreadPool, main thread included) or the photo codec's worker pools. */
export type CoreUser = 'kernel' | 'photo';

/** Threads held by the live pools of this JS realm (module state: one ledger per realm). */
const held: Record<CoreUser, number> = { kernel: 0, photo: 0 };

/**
 * Counts `n` threads as held by `user` until the returned release function is called (once; later
 * calls do nothing). The defaults of the two pools read it: see defaultThreads.
 */
export function holdCores(user: CoreUser, n: number): () => void {
  held[user] += n;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held[user] -= n;
  };
}

/** Threads held by the live pools of `user` in this realm. */
export function coresHeld(user: CoreUser): number {
  return held[user];
}

/**
 * The rule that keeps the two pools from fighting over cores: a pool started without an explicit count
 * (createRuntime's threads 'auto', PhotoWorkerPool / compressPhotoParallel without `workers`) takes the
 * available cores minus the threads the other kind's live pools hold, at least 1. Explicit counts are
 * taken as given. Returns that count, the core count and what the other kind holds.
 */
export async function defaultThreads(user: CoreUser): Promise<{ count: number; cores: number; heldByOther: number }> {
  const cores = await availableCores();
  const heldByOther = held[user === 'kernel' ? 'photo' : 'kernel'];
  return { count: Math.max(1, cores - heldByOther), cores, heldByOther };
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

/** Stops a pool's workers and terminates the supervisor (and with it the kernel workers). Captures no pool. */
function stopWorkers(ctl: Int32Array, threads: number, handle: Handle): void {
  Atomics.store(ctl, STOP, 1);
  Atomics.notify(ctl, STOP);
  for (let s = 1; s < threads; s++) {
    Atomics.add(ctl, WAKE + s, 1);
    Atomics.notify(ctl, WAKE + s);
  }
  handle.terminate();
}

/**
 * Pools whose runtime was dropped without destroy(): when one is garbage-collected, its workers are
 * stopped and its threads given back to the core ledger (else they would shrink every later default count).
 */
const finalizer = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ ctl: Int32Array; threads: number; handle: Handle; release: () => void }>((h) => {
    try {
      stopWorkers(h.ctl, h.threads, h.handle);
    } finally {
      h.release();
    }
  })
  : undefined;

/**
 * A started pool. `run` hands a call's tasks to all threads (the calling thread takes tasks too) and
 * returns when all are done: it is synchronous. `destroy` stops and terminates the workers.
 */
export class ThreadPool {
  /** Threads that run kernels, the main thread included. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly ctlPtr: number;
  private readonly canWait: boolean;
  private destroyed = false;
  /** Why the pool is broken (a worker died), or undefined. */
  private brokenBy: string | undefined;
  /** Gives this pool's threads back to the core ledger (holdCores). */
  private readonly release: () => void;
  /** @internal Test aid: calls handed to the pool (run, runMatmul) and their tasks, so a test can tell a call reached it. */
  _testRuns = 0;
  /** @internal See _testRuns. */
  _testTasks = 0;

  private constructor(memory: WebAssembly.Memory, ctlPtr: number, private readonly scratch: number[],
    private readonly main: ThreadKernels, private readonly handle: Handle) {
    this.threads = scratch.length;
    this.release = holdCores('kernel', this.threads);
    this.ctlPtr = ctlPtr;
    this.ctl = new Int32Array(memory.buffer, ctlPtr, CTL_INTS);
    // Atomics.wait throws on a browser's main thread: spin there instead.
    let ok = true;
    try {
      Atomics.wait(this.ctl, STOP, 1, 0);
    } catch {
      ok = false;
    }
    this.canWait = ok;
    // nothing the workers' listeners hold refers to the pool (they hold a WeakRef), so a dropped runtime's
    // pool can be collected; this gives its cores back then
    finalizer?.register(this, { ctl: this.ctl, threads: this.threads, handle, release: this.release }, this);
  }

  /**
   * Starts `threads - 1` kernel workers (through one supervisor worker) on `memory`. `alloc` gives
   * 16-byte aligned blocks of that memory (main thread only): the control block and one scratch block
   * per thread. Rejects with BackendUnavailableError when a worker cannot start.
   */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, alloc: (bytes: number) => number,
    timeoutMs = 30_000): Promise<ThreadPool> {
    const main = (await WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('abort'); } } })).exports as unknown as ThreadKernels;
    const ctlPtr = alloc(4 * CTL_INTS);
    new Int32Array(memory.buffer, ctlPtr, CTL_INTS).fill(0);
    const scratchBytes = main.taskScratchBytes();
    const scratch = Array.from({ length: threads }, () => alloc(scratchBytes));
    const spawn = await spawner();
    let handle: Handle | undefined;
    // the listeners reach the pool through a WeakRef: a worker's listener must not keep a dropped runtime alive
    let ref: WeakRef<ThreadPool> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        // this timer keeps Node's event loop alive while the (unref'd) workers start
        timer = setTimeout(() => reject(new Error(`did not start within ${timeoutMs} ms`)), timeoutMs);
        handle = spawn({ role: 'supervisor', source: WORKER_SOURCE, module, memory, ctl: ctlPtr, scratch: scratch.slice(1) }, (m) => {
          if (m.type === 'ready') resolve();
          else if (m.type === 'died') ref?.deref()?.markBroken(m.message ?? `worker ${m.slot} died`);
          else reject(new Error(m.message ?? 'failed'));
        }, (e) => {
          // the supervisor itself failed: before start a start failure, afterwards a broken pool
          if (ref) ref.deref()?.markBroken(`the supervisor worker failed: ${e.message}`);
          else reject(e);
        });
      });
    } catch (e) {
      handle?.terminate();
      throw new BackendUnavailableError('wasm', `${threads} threads were asked for but a worker could not start: ${(e as Error)?.message ?? e}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    const pool = new ThreadPool(memory, ctlPtr, scratch, main, handle!);
    ref = new WeakRef(pool);
    return pool;
  }

  /** The pointer of the matmul task table (in the control block). */
  private get tablePtr(): number {
    return this.ctlPtr + 4 * TASKS;
  }

  /**
   * Runs matmul tasks (matmulTask's arguments without the scratch pointer, at most MAX_TASKS) on the
   * pool's threads. Returns when all are done; throws ThreadPoolError if a kernel trapped or a worker died.
   */
  runMatmul(tasks: number[][]): void {
    if (tasks.length > MAX_TASKS) throw new ThreadPoolError(`${tasks.length} tasks, over the pool's ${MAX_TASKS}`);
    this.check();
    tasks.forEach((t, k) => this.ctl.set(t, TASKS + TASK_ARGS * k));
    this.run(TaskKind.matmul, this.tablePtr, tasks.length);
  }

  /**
   * Runs tasks 0..count-1 of `kind` (the kernel module's runTask) with the argument block at `args` on
   * at most `maxThreads` of the pool's threads (and never more than there are tasks), the calling thread
   * included, each thread taking the next task when it is free; the workers left out are not woken. Which
   * thread runs which task never changes a result: the kernels' tasks are fixed by the call's shapes.
   * Returns when all are done; throws ThreadPoolError if a kernel trapped or a worker died (then the pool
   * is broken: this and every later call throw).
   */
  run(kind: number, args: number, count: number, maxThreads = this.threads): void {
    this.check();
    this._testRuns++;
    this._testTasks += count;
    const ctl = this.ctl;
    // the test hooks' calls: only workers take their tasks (the main thread must not die or hang)
    const hook = kind === KIND_DIE || kind === KIND_HANG || kind === KIND_DIE_LATE;
    const workers = hook ? (kind === KIND_DIE_LATE ? 2 : 1) : Math.max(0, Math.min(this.threads, count, Math.floor(maxThreads)) - 1);
    Atomics.store(ctl, COUNT, count);
    Atomics.store(ctl, KIND, kind);
    Atomics.store(ctl, ARGS, args);
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, ERR, 0);
    for (let s = 1; s <= workers; s++) {
      Atomics.add(ctl, WAKE + s, 1);
      Atomics.notify(ctl, WAKE + s);
    }
    let failed: unknown;
    if (!hook) {
      for (;;) {
        const k = Atomics.add(ctl, NEXT, 1);
        if (k >= count) break;
        try {
          this.main.runTask(kind, args, k, 0, this.scratch[0]);
        } catch (e) {
          failed = e;
        }
      }
    }
    // Wait for the woken workers to check in. A worker that died before finishing its share (its GONE cell
    // set, its check-in cell not at this call's wake value) breaks the pool now; one that died after
    // checking in does not fail this call. No heartbeat and no progress for STALE_MS: the supervisor died
    // (and its kernel workers with it, or they are stuck): broken, instead of waiting forever.
    let beat = Atomics.load(ctl, BEAT), next = -1, done = -1, since = performance.now();
    for (;;) {
      const d = Atomics.load(ctl, DONE);
      if (d >= workers) break;
      if (Atomics.load(ctl, DEAD) !== 0) {
        for (let s = 1; s <= workers; s++) {
          if (Atomics.load(ctl, GONE + s) !== 0 && Atomics.load(ctl, IN + s) !== Atomics.load(ctl, WAKE + s)) {
            this.markBroken(`pool worker ${s} died during a call`);
            this.check();
          }
        }
      }
      const b = Atomics.load(ctl, BEAT), n = Atomics.load(ctl, NEXT), now = performance.now();
      if (b !== beat || n !== next || d !== done) {
        beat = b;
        next = n;
        done = d;
        since = now;
      } else if (now - since > STALE_MS) {
        this.markBroken(`the supervisor worker stopped: no heartbeat and no progress for ${STALE_MS} ms during a call`);
        this.check();
      }
      if (this.canWait) Atomics.wait(ctl, DONE, d, 4 * BEAT_MS);
    }
    // a worker that died after checking in (or one this call did not wake): this call's results are whole,
    // later calls throw
    const dead = Atomics.load(ctl, DEAD);
    if (dead !== 0) this.markBroken(`pool worker ${dead} died`);
    if (failed !== undefined || Atomics.load(ctl, ERR) !== 0) {
      throw new ThreadPoolError(`a kernel failed on a pool thread${failed ? `: ${(failed as Error)?.message ?? failed}` : ''}`);
    }
  }

  /**
   * @internal Test hook: a call whose kernels trap on every thread that takes a task (4 tasks per thread,
   * all threads woken): ThreadPoolError with broken: false, and the pool stays usable.
   */
  _testKernelTraps(): void {
    this.run(KIND_TRAP, 0, 4 * this.threads);
  }

  /** @internal Test hook: a call in which one worker dies (exits in Node, throws uncaught elsewhere). */
  _testWorkerDies(): void {
    this.run(KIND_DIE, 0, 1);
  }

  /**
   * @internal Test hook (3 threads or more): a call in which one worker checks in and then dies while another
   * still holds the call open (1.5 s). The call completes; the pool is broken for later calls.
   */
  _testWorkerDiesAfterCheckIn(): void {
    if (this.threads < 3) throw new Error('_testWorkerDiesAfterCheckIn needs 3 threads');
    this.run(KIND_DIE_LATE, 0, 2);
  }

  /**
   * @internal Test hook: the supervisor exits (at its next heartbeat) during a call that a worker holds
   * open; the call throws ThreadPoolError (broken) after STALE_MS instead of waiting forever.
   */
  _testSupervisorDies(): void {
    Atomics.store(this.ctl, SUPKILL, 1);
    this.run(KIND_HANG, 0, 1);
  }

  /** Marks the pool broken (a worker died): every later call throws ThreadPoolError. */
  private markBroken(why: string): void {
    this.brokenBy ??= why;
  }

  /** True when a worker died and the pool can no longer run calls. */
  get broken(): boolean {
    return this.brokenBy !== undefined;
  }

  /** Throws ThreadPoolError when the pool was destroyed or is broken (a worker died). */
  check(): void {
    if (this.destroyed) throw new ThreadPoolError('the thread pool was destroyed');
    // a worker that died between calls (the supervisor's message may not have been delivered yet)
    if (this.brokenBy === undefined && Atomics.load(this.ctl, DEAD) !== 0) this.markBroken(`pool worker ${Atomics.load(this.ctl, DEAD)} died`);
    if (this.brokenBy !== undefined) {
      throw new ThreadPoolError(`the thread pool is broken (${this.brokenBy}); create a new runtime`, true);
    }
  }

  /** Stops the workers (they leave their wait loop) and terminates them. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    finalizer?.unregister(this);
    this.release();
    stopWorkers(this.ctl, this.threads, this.handle);
  }
}

interface Handle {
  terminate(): void;
}

type StartMessage = { role: 'supervisor'; source: string; module: WebAssembly.Module; memory: WebAssembly.Memory; ctl: number; scratch: number[] };
type WorkerMessage = { type: string; message?: string; slot?: number };
type Spawn = (d: StartMessage, onMessage: (m: WorkerMessage) => void, onFail: (e: Error) => void) => Handle;

/** Starts the supervisor from WORKER_SOURCE: worker_threads (eval, unref'd) in Node, a module Web Worker from a Blob elsewhere. */
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
