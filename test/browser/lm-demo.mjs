// The transformer demo page (examples/lm, built by scripts/demo-lm.mjs) in headless Chromium, served from 127.0.0.1,
// driven through its own controls on wasm and on WebGPU (when Chromium has an adapter; PCPRESS_REQUIRE_WEBGPU=1 makes
// a missing one a failure). Everything is checked against the model folder's reference.json (PyTorch, float64) and
// against the budget computed here, not against the page's own numbers:
// - the greedy continuation of the reference prompt with a full cache equals PyTorch's, and its tokens reach the
//   page one at a time (a MutationObserver sees every count 1..N);
// - StreamingLLM at 50% on the eviction reference prompt generates PyTorch's step-by-step tokens, and the picture
//   (read back from the canvas pixels) keeps exactly the reference's positions in every layer and KV head;
// - the picture holds the budgeted count: snapkv (per head) floor(N x kept) in every row at 10/20/50%, defensivekv
//   (head-adaptive) that many per layer, layer-defensivekv (global) that many per layer on average; and it matches
//   the caches' lengths;
// - bad prompts (text that is not token ids, an id past the vocabulary, one token with eviction) show an
//   ArgumentError and no tokens; Stop ends a long generation early; `node scripts/demo-lm.mjs` serves the
//   build and stops on SIGINT.
// Screenshot: .cache/lm-demo.png. Prints "lm-demo: N passed, N failed"; exit 1 on any failure.
// Usage (after npm run build): node test/browser/lm-demo.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';
import { buildLmDemo, MODEL } from '../../scripts/demo-lm.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const cache = path.join(root, '.cache');
const shot = path.join(cache, 'lm-demo.png');
fs.mkdirSync(cache, { recursive: true });

let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const same = (a, b) => Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);

/** Deterministic token ids in 0..vocab-1. */
function promptOf(n, vocab, seed) {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % vocab;
  });
}

/** `node scripts/demo-lm.mjs --no-build` prints its URL, serves the page, and stops (server gone) on SIGINT. */
async function checkServerStops() {
  const child = spawn(process.execPath, [path.join(root, 'scripts/demo-lm.mjs'), '--no-build'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 30_000);
      const look = () => {
        const m = /pcpress lm demo: (http:\/\/127\.0\.0\.1:\d+)\/index\.html/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        } else setTimeout(look, 50);
      };
      look();
    });
    const manifest = await fetch(`${url}/model/manifest.json`).then((r) => r.json());
    check(manifest.tokenizer?.kind === MODEL.tokenizer.kind && manifest.prompts.length > 0, `node scripts/demo-lm.mjs --no-build serves ${url}: manifest of "${manifest.name}" with ${manifest.prompts.length} example prompts`);
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
    const refused = await fetch(`${url}/index.html`).then(() => false, () => true);
    check(code === 0 && refused, `SIGINT stops the lm demo server (exit code ${code}, ${refused ? 'nothing answers' : 'STILL ANSWERING'})`);
  } catch (e) {
    check(false, `demo-lm server: ${e.message}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Runs the demo test; returns { passed, failed }. */
export async function runLmDemoTest() {
  const ref = JSON.parse(fs.readFileSync(path.join(root, MODEL.dir, 'reference.json'), 'utf8'));
  const cfg = JSON.parse(fs.readFileSync(path.join(root, MODEL.dir, 'config.json'), 'utf8'));
  const L = cfg.num_hidden_layers, HKV = cfg.num_key_value_heads ?? cfg.num_attention_heads, V = cfg.vocab_size;
  const out = await buildLmDemo();
  const server = await serveStatic(out);
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1100, height: 900 });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction('window.lmReady || window.lmError', { timeout: 120_000 });
    const loadErr = await page.evaluate(() => window.lmError);
    check(!loadErr, `page loaded the model with createRuntime() auto${loadErr ? `: ${loadErr}` : ''}`);
    const autoLine = await page.$eval('#backend', (e) => e.textContent);
    check(/^backend: (wasm|webgpu) \(/.test(autoLine), `auto backend shown: ${autoLine}`);

    /** Sets the controls and clicks Generate; resolves with the view and the streamed counts. */
    const generate = async ({ prompt, budget = 'full', method = 'snapkv', maxNew = 5, window = 4 }) => {
      await page.$eval('#prompt', (e, v) => { e.value = v; }, Array.isArray(prompt) ? prompt.join(' ') : prompt);
      await page.select('#budget', budget);
      await page.select('#method', method);
      await page.$eval('#maxNew', (e, v) => { e.value = v; }, String(maxNew));
      await page.$eval('#window', (e, v) => { e.value = v; }, String(window));
      const before = await page.evaluate(() => {
        // every change of #output: how many generated tokens it shows then
        window.lmStreamCounts = [];
        window.lmObserver?.disconnect();
        window.lmObserver = new MutationObserver(() => window.lmStreamCounts.push(document.querySelectorAll('#output .g').length));
        window.lmObserver.observe(document.getElementById('output'), { childList: true, subtree: true });
        return window.lmSeq;
      });
      await page.click('#run');
      await page.waitForFunction((n) => window.lmSeq > n, { timeout: 300_000 }, before);
      return page.evaluate(() => {
        window.lmObserver.disconnect();
        return {
          view: window.lmView, counts: window.lmStreamCounts,
          shown: [...document.querySelectorAll('#output .g')].map((s) => Number(s.textContent)),
          error: document.getElementById('error').textContent, stats: document.getElementById('stats').textContent,
          canvas: [document.getElementById('kept').width, document.getElementById('kept').height],
        };
      });
    };

    /** Kept positions per picture row, read from the canvas pixels at each cell's centre. */
    const picture = () => page.evaluate(() => {
      const p = window.lmView?.picture;
      if (!p) return undefined;
      const c = document.getElementById('kept');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      return p.rows.map((r) => {
        const kept = [], y = Math.floor(r.y + r.h / 2);
        let other = 0;
        for (let i = 0; i < p.n; i++) {
          const x = p.x0 + i * p.cell + Math.floor((p.cell - p.gap) / 2), o = (y * c.width + x) * 4;
          const rgb = [px[o], px[o + 1], px[o + 2]];
          if (rgb.every((v, k) => v === p.kept[k])) kept.push(i);
          else if (!rgb.every((v, k) => v === p.evicted[k])) other++;
        }
        return { layer: r.layer, head: r.head, kept, other };
      });
    });

    const gpuRequired = process.env.PCPRESS_REQUIRE_WEBGPU === '1';
    let shotTaken = false;
    for (const backend of ['wasm', 'webgpu']) {
      const loads = await page.evaluate(() => window.lmLoads);
      await page.select('#backendSel', backend);
      await page.waitForFunction((n) => window.lmLoads > n, { timeout: 120_000 }, loads);
      const line = await page.$eval('#backend', (e) => e.textContent);
      if (!line.startsWith(`backend: ${backend} `)) {
        const err = await page.$eval('#error', (e) => e.textContent);
        const unavailable = backend === 'webgpu' && /BackendUnavailableError/.test(err);
        check(unavailable && !gpuRequired, `${backend}: ${unavailable ? `not available in this Chromium (${err})${gpuRequired ? ', and PCPRESS_REQUIRE_WEBGPU=1' : '; skipped'}` : `did not start: ${line} ${err}`}`);
        continue;
      }
      check(true, `${backend}: selected, model loaded (${line.slice(0, 120)})`);

      // --- full cache: PyTorch's greedy continuation, streamed ----------------------------------------------
      const want = ref.greedy.continuation;
      const g = await generate({ prompt: ref.greedy.prompt, budget: 'full', maxNew: want.length });
      check(!g.view?.error && g.view?.backend === backend && same(g.view.tokens, want) && same(g.shown, want),
        `${backend}: full-cache greedy continuation ${g.shown.join(' ')} equals the reference ${want.join(' ')}${g.view?.error ? ` (${g.error})` : ''}`);
      const distinct = [...new Set(g.counts)].filter((n) => n > 0);
      check(want.every((_, i) => distinct.includes(i + 1)), `${backend}: tokens appeared one at a time (shown counts ${distinct.join(',')})`);
      check(/prefill [\d.]+ ms, decode [\d.]+ tokens\/s/.test(g.stats), `${backend}: stats line: ${g.stats}`);
      const full = await picture();
      const n0 = ref.greedy.prompt.length;
      check(full?.length === L * HKV && full.every((r) => r.kept.length === n0 && r.other === 0),
        `${backend}: full cache picture: ${full?.length} rows (want ${L * HKV}), kept per row ${full?.map((r) => r.kept.length).join(',')} (want ${n0})`);

      // --- StreamingLLM at 50%: PyTorch's step-by-step tokens and its kept positions -------------------------
      const ev = ref.evicted;
      const keepFrac = ev.keepTokens / ev.prompt.length;
      check(keepFrac === 0.5, `the eviction reference keeps ${ev.keepTokens} of ${ev.prompt.length} tokens (50%, a page budget)`);
      const s = await generate({ prompt: ev.prompt, budget: '0.5', method: 'streamingllm', maxNew: ev.continuation.length });
      check(!s.view?.error && same(s.view.tokens, ev.continuation) && !same(ev.continuation, ev.fullCacheContinuation),
        `${backend}: streamingllm 50% continuation ${s.view?.tokens?.join(' ')} equals the reference ${ev.continuation.join(' ')} (full cache gives ${ev.fullCacheContinuation.join(' ')})${s.view?.error ? ` (${s.error})` : ''}`);
      const sp = await picture();
      check(sp?.length === L * HKV && sp.every((r) => same(r.kept, ev.keep) && r.other === 0),
        `${backend}: streamingllm picture keeps positions ${sp?.[0]?.kept.join(',')} in all ${sp?.length} rows (reference ${ev.keep.join(',')})`);

      // --- budgets: the picture's counts per head --------------------------------------------------------------
      const N = 40, prompt = promptOf(N, V, 12345);
      const cases = backend === 'wasm'
        ? [['snapkv', '0.1'], ['snapkv', '0.2'], ['snapkv', '0.5'], ['defensivekv', '0.2'], ['layer-defensivekv', '0.2'], ['knorm', '0.1']]
        : [['snapkv', '0.2'], ['defensivekv', '0.1']];
      for (const [method, budget] of cases) {
        const k = Math.floor(N * Number(budget) + 1e-9);
        const r = await generate({ prompt, budget, method, maxNew: 3 });
        const p = await picture();
        if (r.view?.error || !p) {
          check(false, `${backend}: ${method} ${budget}: ${r.error || 'no picture'}`);
          continue;
        }
        const counts = p.map((row) => row.kept.length);
        const perLayer = Array.from({ length: L }, (_, l) => counts.slice(l * HKV, (l + 1) * HKV).reduce((a, b) => a + b, 0));
        const total = counts.reduce((a, b) => a + b, 0);
        const ok = method === 'layer-defensivekv' ? total === L * HKV * k
          : method === 'defensivekv' ? perLayer.every((t) => t === HKV * k)
            : counts.every((c) => c === k);
        const matchesCache = same(counts, r.view.cacheLengths.flat());
        check(ok && matchesCache && p.every((row) => row.other === 0) && r.view.tokens.length === 3,
          `${backend}: ${method} at ${Number(budget) * 100}% of ${N}: picture counts ${counts.join(',')} (budget ${k} per head), caches ${r.view.cacheLengths.flat().join(',')}`);
        if (backend === 'wasm' && method === 'defensivekv' && !shotTaken) {
          await page.screenshot({ path: shot, fullPage: true });
          shotTaken = true;
        }
      }

      // --- bad input: typed errors, no tokens -----------------------------------------------------------------
      for (const [prompt, budget, pattern, what] of [
        ['10 20 abc', 'full', /^ArgumentError: prompt: "abc" \(item 2\) is not a token id/, 'text that is not token ids'],
        [`10 20 ${V}`, 'full', new RegExp(`^ArgumentError: generate: token 2 is ${V}, expected an integer id in 0\\.\\.${V - 1} \\(vocab_size ${V}\\)`), 'a token id past the vocabulary'],
        ['42', '0.5', /^ArgumentError: generate: eviction needs a prompt of at least 2 tokens/, 'one token with eviction'],
      ]) {
        const b = await generate({ prompt, budget });
        check(b.view?.error?.name === 'ArgumentError' && pattern.test(b.error) && b.view.tokens.length === 0 && b.shown.length === 0 && b.canvas[0] === 0,
          `${backend}: ${what} (${JSON.stringify(prompt)}): ${b.error || 'NO ERROR SHOWN'}`);
      }
      const after = await generate({ prompt: ref.greedy.prompt, maxNew: 2 });
      check(!after.view?.error && same(after.view.tokens, want.slice(0, 2)), `${backend}: the page generates again after the errors`);
    }

    // --- Stop: a long generation ends early ---------------------------------------------------------------------
    {
      await page.select('#backendSel', 'wasm');
      await page.waitForFunction(() => document.getElementById('backend').textContent.startsWith('backend: wasm'), { timeout: 120_000 });
      await page.$eval('#prompt', (e, v) => { e.value = v; }, ref.greedy.prompt.join(' '));
      await page.select('#budget', 'full');
      await page.$eval('#maxNew', (e) => { e.value = '500'; });
      const before = await page.evaluate(() => window.lmSeq);
      await page.click('#run');
      await page.waitForFunction(() => document.querySelectorAll('#output .g').length >= 2, { timeout: 60_000 });
      await page.click('#stop');
      await page.waitForFunction((n) => window.lmSeq > n, { timeout: 120_000 }, before);
      const v = await page.evaluate(() => window.lmView);
      check(v.stopped === true && v.tokens.length >= 2 && v.tokens.length < 500 && !v.error, `Stop ended the generation after ${v.tokens.length} of 500 tokens`);
    }
    check(shotTaken, `screenshot saved to ${path.relative(root, shot)}`);
    await page.close();
    await checkServerStops();
  } catch (e) {
    check(false, `threw ${e.name}: ${e.message}`);
  } finally {
    await chromium.close();
    await server.close();
  }
  return { passed, failed };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runLmDemoTest();
  console.log(`lm-demo: ${r.passed} passed, ${r.failed} failed`);
  process.exit(r.failed ? 1 : 0);
}
