// The transformer demo page (examples/lm, built by scripts/demo-lm.mjs) in headless Chromium, served from 127.0.0.1,
// driven through its own controls on wasm and on WebGPU (SwiftShader here; when Chromium has no adapter the WebGPU
// part is skipped, unless PCPRESS_REQUIRE_WEBGPU=1 makes that a failure). It runs whatever model is in models/tiny
// (the stand-in or the trained one): nothing here depends on a particular model's tokens. The page's results are
// checked against what this process computes with the built package (dist/node.js) for the same model, prompt,
// settings and backend (Node's WebGPU is Dawn on SwiftShader; without it, wasm stands in and says so):
// - the built-in retrieval prompt (needles in held-out verses, "\nQuestion: ...\nAnswer:") at a 20 % cache with
//   SnapKV and DefensiveKV, context compressed without the question (lm.prefill, session.evict, append the
//   question, greedy decode): the streamed tokens (arriving one at a time), the kept positions read back from the
//   canvas pixels (every layer / KV head holds floor(n x 0.2); DefensiveKV that many per layer), the caches' lengths;
// - the KJV prompt (no question: lm.generate compresses it whole) at 50 % with StreamingLLM, sampled (temperature,
//   seed): the same tokens as lm.generate with the same seed;
// - with test/fixtures/lm/tiny-reference.json (written by scripts/tiny-lm-reference.py from the committed weights),
//   its retrieval prompt typed as text gives PyTorch's token ids and, with the full cache, PyTorch's greedy
//   continuation;
// - hovering the picture names the token under the pointer; the token strip below it lists every context token;
// - a build without models/tiny/model.safetensors shows the ModelFileError naming the file (always checked);
// - Stop ends a long generation early; `node scripts/demo-lm.mjs --no-build` serves the build and stops on SIGINT.
// Screenshot: .cache/lm-demo.png. Prints "lm-demo: N passed, N failed"; exit 1 on any failure.
// Usage (after npm run build): node test/browser/lm-demo.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveStatic, launchChromium } from '../../dist/browser.js';
import { buildLmDemo } from '../../scripts/demo-lm.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const cache = path.join(root, '.cache');
const shot = path.join(cache, 'lm-demo.png');
fs.mkdirSync(cache, { recursive: true });
// Node's Dawn finds SwiftShader only through VK_ICD_FILENAMES (set before dist/node.js first asks for an adapter)
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && fs.existsSync(swiftshader)) process.env.VK_ICD_FILENAMES = swiftshader;
const pc = await import('../../dist/node.js');

let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const same = (a, b) => Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
const QUESTION = '\nQuestion:';

/**
 * What the page should compute, with the built package: `<|endoftext|>` + the context compressed (without the
 * question when there is one), keepTokens = floor(n x budget) per KV head; then the question and the tokens.
 */
async function reference(lm, text, { method, budget, window = 32, maxNew, temperature = 0, seed = 0 }) {
  const tok = lm.tokenizer, eos = tok.eosTokenId;
  const q = text.lastIndexOf(QUESTION);
  const context = [eos, ...tok.encode(q >= 0 ? text.slice(0, q) : text)];
  const question = q >= 0 ? tok.encode(text.slice(q)) : [];
  const n = context.length, w = Math.min(window, n - 1);
  const keepTokens = budget === 'full' ? n : Math.max(1, Math.floor(n * Number(budget) + 1e-9));
  const eviction = budget === 'full' ? undefined : { method, keepTokens, window: w };
  const tokens = [];
  let selections, cacheLengths;
  if (question.length === 0) {
    const gen = lm.generate(context, { maxNewTokens: maxNew, temperature, seed, stopTokens: [eos], ...(eviction ? { eviction } : {}) });
    for await (const t of gen) {
      if (tokens.length === 0) {
        selections = gen.selections;
        cacheLengths = gen.cacheLengths.map((r) => r.slice());
      }
      tokens.push(t);
    }
  } else {
    if (temperature !== 0) throw new Error('reference: the session path is checked greedy only');
    const s = await lm.prefill(context, eviction ? { window: w } : { window: 0 });
    try {
      selections = eviction ? await s.evict(eviction) : undefined;
      cacheLengths = s.cacheLengths;
      let logits = await s.append(question, { logits: 'last' });
      for (let i = 0; i < maxNew; i++) {
        let best = 0;
        for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
        tokens.push(best);
        if (best === eos || i === maxNew - 1) break;
        logits = await s.append([best], { logits: 'last' });
      }
    } finally {
      s.dispose();
    }
  }
  const L = lm.config.numLayers, H = lm.config.numKvHeads;
  const kept = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, g) =>
    selections ? Array.from(selections[l].keep[g]).sort((a, b) => a - b) : Array.from({ length: n }, (_, i) => i)));
  return { context, question, tokens, kept, cacheLengths, keepTokens, n };
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
    const tk = await fetch(`${url}/models/tiny/tokenizer.json`);
    check(tk.ok, `node scripts/demo-lm.mjs --no-build serves ${url}: models/tiny/tokenizer.json HTTP ${tk.status}`);
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

/** Opens the page and waits for its first model load; resolves with the page and the load error, if any. */
async function open(browser, url) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(`${url}/index.html`);
  try {
    await page.waitForFunction('window.lmReady || window.lmError', { timeout: 180_000 });
  } catch (e) {
    const shown = await page.evaluate(() => `backend line ${JSON.stringify(document.getElementById('backend')?.textContent)}, error ${JSON.stringify(document.getElementById('error')?.textContent)}`).catch((x) => x.message);
    throw new Error(`the page at ${url} did not finish loading the model in 180 s (${shown}): ${e.message}`);
  }
  return { page, loadErr: await page.evaluate(() => window.lmError) };
}

/** A copy of the build without the weights: the page must say the file is missing. */
async function checkMissingWeights(browser, built) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-lm-demo-'));
  try {
    fs.cpSync(built, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'models', 'tiny', 'model.safetensors'), { force: true });
    const server = await serveStatic(dir);
    try {
      const { page, loadErr } = await open(browser, server.url);
      const shown = await page.evaluate(() => ({
        error: document.getElementById('error').textContent, model: document.getElementById('model').textContent,
        missing: document.getElementById('model').className === 'missing', run: document.getElementById('run').disabled,
      }));
      // before the weights are committed the checkout may lack config.json too: loadTransformer reads it first
      const first = fs.existsSync(path.join(dir, 'models', 'tiny', 'config.json')) ? 'model.safetensors' : 'config.json';
      check(new RegExp(`^ModelFileError: ${first.replace('.', '\\.')}: not found`).test(loadErr ?? '') && shown.error === loadErr && /models\/tiny\//.test(shown.error) && shown.missing && shown.run,
        `without models/tiny/model.safetensors the page says so (${first} is the first file missing): "${shown.error}" / "${shown.model}"; Generate ${shown.run ? 'disabled' : 'ENABLED'}`);
      await page.close();
    } finally {
      await server.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the demo test; returns { passed, failed }. */
export async function runLmDemoTest() {
  const out = await buildLmDemo();
  const hasWeights = fs.existsSync(path.join(out, 'models', 'tiny', 'model.safetensors'));
  const refFile = path.join(root, 'test', 'fixtures', 'lm', 'tiny-reference.json');
  const pyRef = fs.existsSync(refFile) ? JSON.parse(fs.readFileSync(refFile, 'utf8')) : undefined;
  const server = await serveStatic(out);
  const chromium = await launchChromium();
  try {
    await checkMissingWeights(chromium.browser, out);
    if (!hasWeights) {
      console.log('skip: models/tiny/model.safetensors is not in this checkout: only the missing-weights message is checked');
      return { passed, failed };
    }
    const { page, loadErr } = await open(chromium.browser, server.url);
    check(!loadErr, `page loaded the bundled model with createRuntime() auto${loadErr ? `: ${loadErr}` : ''}`);
    const autoLine = await page.$eval('#backend', (e) => e.textContent);
    check(/^backend: (wasm|webgpu) \(.+\)$/.test(autoLine), `auto backend shown with its reason: ${autoLine}`);
    const prompts = await page.evaluate(() => window.lmPrompts);
    const niahAt = prompts.findIndex((p) => p.label.startsWith('retrieval: needle'));
    const kjvAt = prompts.findIndex((p) => p.label.startsWith('KJV'));
    check(niahAt >= 0 && kjvAt >= 0 && prompts[niahAt].text.includes('The special magic number for') && prompts[niahAt].text.includes(`${QUESTION} What is the special magic number for `),
      `built-in prompts: ${prompts.map((p) => p.label).join(' | ')}`);

    /** Sets the controls and clicks Generate; resolves with the view, the streamed counts and the shown tokens. */
    const generate = async ({ sample, text, budget = 'full', method = 'snapkv', maxNew = 8, window = 32, temperature = 0, seed = 0 }) => {
      if (sample !== undefined) await page.select('#sample', String(sample));
      if (text !== undefined) await page.$eval('#prompt', (e, v) => { e.value = v; }, text);
      await page.select('#budget', budget);
      await page.select('#method', method);
      for (const [id, v] of [['maxNew', maxNew], ['window', window], ['temperature', temperature], ['seed', seed]]) {
        await page.$eval(`#${id}`, (e, x) => { e.value = x; }, String(v));
      }
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
          view: window.lmView, counts: window.lmStreamCounts, prompt: document.getElementById('prompt').value,
          shown: [...document.querySelectorAll('#output .g')].map((s) => Number(s.dataset.id)),
          text: [...document.querySelectorAll('#output .g')].map((s) => s.textContent).join(''),
          error: document.getElementById('error').textContent, stats: document.getElementById('stats').textContent,
          strip: document.querySelectorAll('#strip span').length,
        };
      });
    };

    /** Kept positions per picture row, read from the canvas pixels at each cell's centre. */
    const picture = () => page.evaluate(() => {
      const p = window.lmView?.picture;
      if (!p) return undefined;
      const c = document.getElementById('kept');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const is = (rgb, want) => rgb.every((v, k) => v === want[k]);
      return p.rows.map((r) => {
        const kept = [], y = Math.floor(r.y + r.h / 2);
        let other = 0;
        for (let i = 0; i < p.n; i++) {
          const x = p.x0 + i * p.cell + Math.floor((p.cell - p.gap) / 2), o = (y * c.width + x) * 4;
          const rgb = [px[o], px[o + 1], px[o + 2]];
          if (is(rgb, p.kept) || is(rgb, p.keptNeedle)) kept.push(i);
          else if (!is(rgb, p.evicted) && !is(rgb, p.evictedNeedle)) other++;
        }
        return { layer: r.layer, head: r.head, kept, other };
      });
    });

    const gpuRequired = process.env.PCPRESS_REQUIRE_WEBGPU === '1';
    let shotTaken = false;
    for (const backend of ['wasm', 'webgpu']) {
      const loads = await page.evaluate(() => window.lmLoads);
      await page.select('#backendSel', backend);
      await page.waitForFunction((n) => window.lmLoads > n, { timeout: 180_000 }, loads);
      const line = await page.$eval('#backend', (e) => e.textContent);
      if (!line.startsWith(`backend: ${backend} `) || (await page.evaluate(() => window.lmError))) {
        const err = await page.$eval('#error', (e) => e.textContent);
        const unavailable = backend === 'webgpu' && /BackendUnavailableError/.test(err);
        check(unavailable && !gpuRequired, `${backend}: ${unavailable ? `not available in this Chromium (${err})${gpuRequired ? ', and PCPRESS_REQUIRE_WEBGPU=1' : '; skipped'}` : `did not start: ${line} ${err}`}`);
        continue;
      }
      check(true, `${backend}: selected, model loaded (${line.slice(0, 140)})`);

      // the reference runtime in this process: the same backend where Node has it
      let rt, refBackend = backend;
      try {
        rt = await pc.createRuntime({ backend });
      } catch (e) {
        if (backend !== 'webgpu' || gpuRequired) throw e;
        refBackend = 'wasm';
        rt = await pc.createRuntime({ backend: 'wasm' });
        console.log(`note: Node has no WebGPU here (${e.message}); the WebGPU page is compared with wasm`);
      }
      const lm = await pc.loadTransformer(rt, 'tiny');
      const L = lm.config.numLayers, H = lm.config.numKvHeads;
      try {
        // --- the retrieval prompt, 20 %, query-agnostic (session): tokens, picture, caches ---------------------------
        for (const method of backend === 'wasm' ? ['snapkv', 'defensivekv'] : ['snapkv']) {
          const g = await generate({ sample: niahAt, budget: '0.2', method, maxNew: 12 });
          const ref = await reference(lm, g.prompt, { method, budget: '0.2', maxNew: 12 });
          const v = g.view;
          check(!v?.error && v.mode === 'session' && same(v.context, ref.context) && same(v.question, ref.question),
            `${backend}: ${method} 20%: the page compresses ${v?.context?.length} context tokens and appends the ${v?.question?.length}-token question after (as the reference: ${ref.n} + ${ref.question.length})${v?.error ? ` (${g.error})` : ''}`);
          check(same(v?.tokens, ref.tokens) && same(g.shown, ref.tokens),
            `${backend}: ${method} 20%: streamed ${JSON.stringify(g.text)} = tokens ${g.shown.join(' ')}; Node ${refBackend} session: ${ref.tokens.join(' ')}`);
          const distinct = [...new Set(g.counts)].filter((x) => x > 0);
          check(ref.tokens.every((_, i) => distinct.includes(i + 1)), `${backend}: tokens appeared one at a time (shown counts ${distinct.join(',')})`);
          const p = await picture();
          const counts = p?.map((r) => r.kept.length) ?? [];
          const k = ref.keepTokens, perLayer = Array.from({ length: L }, (_, l) => counts.slice(l * H, (l + 1) * H).reduce((a, b) => a + b, 0));
          const budgetOk = method === 'defensivekv' ? perLayer.every((t) => t === H * k) : counts.every((c) => c === k);
          check(p?.length === L * H && budgetOk && p.every((r) => r.other === 0) && same(counts, v.cacheLengths.flat()) && same(v.cacheLengths.flat(), ref.cacheLengths.flat()),
            `${backend}: ${method} 20% picture: ${p?.length} rows (want ${L * H}), kept ${counts.join(',')} of ${ref.n} (budget ${k} per KV head${method === 'defensivekv' ? `, ${H * k} per layer` : ''}), caches ${v?.cacheLengths?.flat().join(',')}`);
          check(p?.every((r) => same(r.kept, ref.kept[r.layer][r.head])), `${backend}: ${method} 20% picture keeps the positions Node's evict keeps in every layer / KV head`);
          const needle = v?.needles?.find((x) => x.asked);
          check(needle && needle.end > needle.start && g.strip === ref.n,
            `${backend}: the asked needle (${needle?.name}: ${needle?.digits}) is marked at tokens ${needle?.start}..${needle?.end - 1}; the strip lists ${g.strip} tokens; ${v?.answer ? `answer ${JSON.stringify(v.answer.got)} ${v.answer.correct ? 'correct' : `wrong (want ${v.answer.want})`}` : ''}`);
          if (backend === 'wasm' && !shotTaken) {
            // hover a kept cell of the asked needle: the line names that token
            const hover = await page.evaluate((i) => {
              const pic = window.lmView.picture, c = document.getElementById('kept'), r = c.getBoundingClientRect();
              c.dispatchEvent(new MouseEvent('mousemove', { clientX: r.left + (pic.x0 + i * pic.cell + pic.cell / 2) * (r.width / c.width), clientY: r.top + (pic.rows[0].y + 2) * (r.height / c.height), bubbles: true }));
              return document.getElementById('hover').textContent;
            }, needle.start);
            check(hover.startsWith(`position ${needle.start}: `) && /layer 0 KV head 0 (kept|evicted) it/.test(hover), `hover names the token: ${hover}`);
            await page.screenshot({ path: shot, fullPage: true });
            shotTaken = true;
          }
        }

        // --- the KJV prompt (no question: lm.generate), 50 % StreamingLLM, sampled ---------------------------------
        {
          const opts = { method: 'streamingllm', budget: '0.5', maxNew: 10, temperature: 0.8, seed: 3 };
          const g = await generate({ sample: kjvAt, ...opts });
          const ref = await reference(lm, g.prompt, opts);
          const p = await picture();
          check(!g.view?.error && g.view.mode === 'generate' && same(g.view.tokens, ref.tokens) && same(g.shown, ref.tokens),
            `${backend}: KJV prompt, streamingllm 50%, temperature 0.8 seed 3: ${JSON.stringify(g.text)} = ${g.shown.join(' ')}; Node lm.generate: ${ref.tokens.join(' ')}${g.view?.error ? ` (${g.error})` : ''}`);
          check(p?.every((r) => same(r.kept, ref.kept[r.layer][r.head]) && r.kept.length === ref.keepTokens),
            `${backend}: KJV picture keeps ${p?.[0]?.kept.length} of ${ref.n} per row (${ref.keepTokens}), the positions of lm.generate's selections`);
        }

        // --- PyTorch's greedy retrieval continuation (full cache), when the reference file is there --------------------
        if (pyRef?.retrieval) {
          const r = pyRef.retrieval;
          const text = lm.tokenizer.decode(r.prompt);
          const g = await generate({ text, budget: 'full', maxNew: r.continuation.length });
          const ids = [...(g.view?.context ?? []), ...(g.view?.question ?? [])];
          check(same(ids, r.prompt), `${backend}: tiny-reference.json's retrieval prompt typed as text gives PyTorch's ${r.prompt.length} token ids (page: ${ids.length})`);
          check(same(g.view?.tokens, r.continuation),
            `${backend}: full cache: ${g.view?.tokens?.join(' ')} = PyTorch's greedy continuation ${r.continuation.join(' ')} (${JSON.stringify(lm.tokenizer.decode(r.continuation))}, answer ${r.answer})`);
        } else console.log(`skip: ${path.relative(root, refFile)} is not there (PyTorch's continuation is checked once it is)`);
      } finally {
        lm.dispose();
        rt.destroy();
      }
    }

    // --- Stop: a long generation ends early ---------------------------------------------------------------------
    {
      await page.select('#backendSel', 'wasm');
      await page.waitForFunction(() => document.getElementById('backend').textContent.startsWith('backend: wasm') && !document.getElementById('run').disabled, { timeout: 180_000 });
      await page.select('#sample', String(kjvAt));
      await page.select('#budget', 'full');
      await page.$eval('#maxNew', (e) => { e.value = '500'; });
      await page.$eval('#temperature', (e) => { e.value = '0'; });
      const before = await page.evaluate(() => window.lmSeq);
      await page.click('#run');
      await page.waitForFunction(() => document.querySelectorAll('#output .g').length >= 2, { timeout: 60_000 });
      await page.click('#stop');
      await page.waitForFunction((n) => window.lmSeq > n, { timeout: 120_000 }, before);
      const v = await page.evaluate(() => window.lmView);
      const eos = JSON.parse(fs.readFileSync(path.join(out, 'models', 'tiny', 'tokenizer.json'), 'utf8')).added_tokens.find((t) => t.content === '<|endoftext|>')?.id;
      check((v.stopped === true || v.tokens.at(-1) === eos) && v.tokens.length >= 2 && v.tokens.length < 500 && !v.error, `Stop ended the generation after ${v.tokens.length} of 500 tokens`);
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
