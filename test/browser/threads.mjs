// The wasm thread pool in headless Chromium: on a cross-origin isolated page (COOP/COEP from serveStatic)
// threads 'auto' runs on navigator.hardwareConcurrency threads and 1, 2 and 3 threads give the same bits
// (the main thread spins instead of Atomics.wait) for matmul, attention prefill and split-K decode, and a
// worker dying mid-call is a broken ThreadPoolError rather than a hang (a kernel trap: not broken), every pool
// shape asserts that the pool ran, the supervisor dying mid-call is a broken ThreadPoolError once its heartbeat
// stops, and a Worker that cannot start gives 'auto' 1 thread; on a page served without those headers 'auto' gives 1
// thread and says why, and threads: 2 is a BackendUnavailableError. Run after npm run build:
// node test/browser/threads.mjs   (prints "threads: N passed, N failed"; exit 1 on any failure)
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';

const root = path.resolve(import.meta.dirname, '../..');

const page = `<!doctype html><meta charset="utf-8"><script type="module">
import * as pc from '/dist/index.js';
const out = [];
const check = (ok, what) => out.push([!!ok, what]);
const bits = (x) => new Uint32Array(x.buffer, x.byteOffset, x.length);
const same = (x, y) => x.length === y.length && bits(x).every((v, i) => v === bits(y)[i]);
const rand = pc.seededRandom(7);
const f32 = (n) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
// calls the runtime's pool has run (its internal test counter): a pool check must reach the pool
const runs = (r) => (r.impl.pool ? r.impl.pool._testRuns : 0);
const pooled = (rts, before) => rts.every((r, i) => r.info.threads === 1 || runs(r) > before[i]);
try {
  const auto = await pc.createRuntime({ backend: 'wasm' });
  if (crossOriginIsolated) {
    check(auto.info.threads === Math.min(navigator.hardwareConcurrency, 16) && /threads 'auto'/.test(auto.reason),
      'isolated: auto runs ' + auto.info.threads + ' threads (' + auto.reason + ')');
    const rts = [1, 2, 3].map((t) => pc.createRuntime({ backend: 'wasm', threads: t }));
    const [r1, r2, r3] = await Promise.all(rts);
    check(r3.info.threads === 3, 'threads: 3 starts 3');
    for (const [m, k, n, ta, tb] of [[67, 331, 193, false, false], [8, 520, 1000, false, false], [130, 170, 129, true, true], [3001, 120, 7, true, false]]) {
      const a = f32(m * k), b = f32(k * n), o = { m, k, n, transposeA: ta, transposeB: tb };
      const c = await Promise.all([r1, r2, r3].map((r) => r.matmul(a, b, o)));
      const pk = r3.packB(b, { k, n, transposeB: tb });
      const cp = await r3.matmul(a, pk, { m, k, n, transposeA: ta });
      check(same(c[0], c[1]) && same(c[0], c[2]) && same(c[0], cp), m + 'x' + k + 'x' + n + (ta ? ' tA' : '') + (tb ? ' tB' : '') + ': 1, 2, 3 threads and packed B give the same bits');
      pk.dispose();
    }
    const t = r2.matmul(r2.tensor(f32(96 * 80)), r2.tensor(f32(80 * 72)), { m: 96, k: 80, n: 72 });
    check(t instanceof pc.Tensor && (await t.read()).length === 96 * 72, 'Tensor path on the main thread (spinning) returns a Tensor');
    // attention: prefill (KV heads x query tiles) and split-K decode on the pool, same bits on 1, 2, 3 threads
    for (const [H, KH, S, D, causal] of [[6, 2, 333, 37, true], [3, 3, 140, 5, false]]) {
      const q = f32(H * S * D), k = f32(KH * S * D), v = f32(KH * S * D), o = { numHeads: H, numKvHeads: KH, headDim: D, causal, returnLse: true };
      const r = [], before = [r1, r2, r3].map(runs);
      for (const rt of [r1, r2, r3]) r.push(await rt.attention(q, k, v, o));
      check(pooled([r1, r2, r3], before), 'prefill h' + H + '/' + KH + ' s' + S + ' d' + D + ' ran on the 2- and 3-thread pools');
      check(same(r[0].out, r[1].out) && same(r[0].out, r[2].out) && same(r[0].lse, r[2].lse), 'prefill h' + H + '/' + KH + ' s' + S + ' d' + D + ': 1, 2, 3 threads give the same bits');
    }
    // 17 / 18 / 33 rows: the split-K combine runs on the pool (past 64 output rows), its last task short
    for (const [H, KH, L, D, seqQ] of [[8, 2, 3001, 33, 1], [4, 1, 1500, 64, 3], [4, 2, 617, 16, 17], [4, 2, 513, 128, 18], [2, 2, 1025, 80, 33]]) {
      const k = f32(KH * L * D), v = f32(KH * L * D), q = f32(H * seqQ * D);
      const r = [], before = [r1, r2, r3].map(runs);
      for (const rt of [r1, r2, r3]) {
        const cache = rt.createKVCache({ numKvHeads: KH, headDim: D });
        cache.append(k, v);
        r.push(await rt.decode(q, cache, { numHeads: H, causal: true, returnLse: true }));
        cache.dispose();
      }
      check(pooled([r1, r2, r3], before), 'decode h' + H + '/' + KH + ' cache ' + L + ' seqQ ' + seqQ + ' ran on the 2- and 3-thread pools');
      check(same(r[0].out, r[1].out) && same(r[0].out, r[2].out) && same(r[0].lse, r[1].lse) && same(r[0].lse, r[2].lse), 'decode h' + H + '/' + KH + ' cache ' + L + ' d' + D + ' seqQ ' + seqQ + ' (split-K): 1, 2, 3 threads give the same bits');
    }
    // a kernel that traps on the pool's threads: ThreadPoolError, not broken, and the pool runs on
    let trap;
    try {
      r2.impl.pool._testKernelTraps();
    } catch (e) {
      trap = e;
    }
    const afterTrap = runs(r2);
    const ct = await r2.matmul(new Float32Array(200 * 200).fill(0.5), new Float32Array(200 * 200).fill(0.5), { m: 200, k: 200, n: 200 });
    check(trap instanceof pc.ThreadPoolError && !trap.broken && ct[0] === 50 && runs(r2) > afterTrap, 'a kernel trap is a ThreadPoolError (broken: false) and the pool runs on: ' + (trap && trap.message));
    // the supervisor worker dying mid-call (it closes itself at its next heartbeat): the spinning main thread
    // sees the heartbeat stop and throws a broken ThreadPoolError instead of spinning forever
    const rs = await pc.createRuntime({ backend: 'wasm', threads: 2 });
    let sup;
    const ts = performance.now();
    try {
      rs.impl.pool._testSupervisorDies();
    } catch (e) {
      sup = e;
    }
    check(sup instanceof pc.ThreadPoolError && sup.broken && /no heartbeat/.test(sup.message) && performance.now() - ts < 10000,
      'the supervisor dying mid-call is a broken ThreadPoolError after ' + Math.round(performance.now() - ts) + ' ms: ' + (sup && sup.message));
    rs.destroy();
    // a worker that dies mid-call (throws outside a kernel): the call throws, the pool is broken, no hang
    let died;
    try {
      r3.impl.pool._testWorkerDies();
    } catch (e) {
      died = e;
    }
    check(died instanceof pc.ThreadPoolError && died.broken, 'a worker dying mid-call is a broken ThreadPoolError: ' + (died && died.message));
    const later = await r3.matmul(f32(4), f32(4), { m: 2, k: 2, n: 2 }).then(() => undefined, (x) => x);
    check(later instanceof pc.ThreadPoolError && /broken/.test(later.message), 'later calls on the broken pool reject: ' + (later && later.message));
    for (const r of [r1, r2, r3]) r.destroy();
    // a Worker that cannot start (as under a CSP that blocks workers) on an isolated page: 'auto' runs 1
    // thread and says why; threads: 2 is a BackendUnavailableError
    const SavedWorker = globalThis.Worker;
    globalThis.Worker = class { constructor() { throw new Error('workers are blocked here (test)'); } };
    try {
      const one = await pc.createRuntime({ backend: 'wasm' });
      check(one.info.threads === 1 && /1 thread: workers could not start: workers are blocked here/.test(one.reason), "workers that cannot start: 'auto' gives 1 thread and says why (" + one.reason + ')');
      one.destroy();
      const e2 = await pc.createRuntime({ backend: 'wasm', threads: 2 }).then(() => undefined, (x) => x);
      check(e2 instanceof pc.BackendUnavailableError && /a worker could not start/.test(e2.message), 'workers that cannot start: threads 2 is a BackendUnavailableError: ' + (e2 && e2.message));
    } finally {
      globalThis.Worker = SavedWorker;
    }
  } else {
    check(auto.info.threads === 1 && /1 thread: the page is not cross-origin isolated/.test(auto.reason), 'not isolated: auto gives 1 thread and says why (' + auto.reason + ')');
    const e = await pc.createRuntime({ backend: 'wasm', threads: 2 }).then(() => undefined, (x) => x);
    check(e instanceof pc.BackendUnavailableError && /Cross-Origin-Embedder-Policy/.test(e.message), 'not isolated: threads 2 is a BackendUnavailableError: ' + (e && e.message));
  }
  auto.destroy();
} catch (e) {
  check(false, 'threw ' + e.name + ': ' + e.message);
}
window.done = out;
</script>`;

let passed = 0, failed = 0;
const chromium = await launchChromium();
try {
  for (const isolate of [true, false]) {
    const server = await serveStatic(root, { '/threads.html': page }, { isolate });
    try {
      const p = await chromium.browser.newPage();
      p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
      await p.goto(`${server.url}/threads.html`);
      await p.waitForFunction('window.done', { timeout: 120_000 });
      const isolated = await p.evaluate(() => crossOriginIsolated);
      if (isolated !== isolate) {
        failed++;
        console.log(`FAIL crossOriginIsolated is ${isolated} with isolate: ${isolate}`);
      }
      for (const [ok, what] of await p.evaluate(() => window.done)) {
        if (ok) passed++;
        else failed++;
        console.log(`${ok ? 'ok  ' : 'FAIL'} ${isolate ? '[isolated] ' : '[not isolated] '}${what}`);
      }
      await p.close();
    } catch (e) {
      failed++;
      console.log(`FAIL ${e.message}`);
    } finally {
      await server.close();
    }
  }
} finally {
  await chromium.close();
}
console.log(`threads: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
