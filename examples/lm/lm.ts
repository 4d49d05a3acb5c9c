// The transformer demo page (built by scripts/demo-lm.mjs into dist/demo-lm): the bundled tiny model
// (loadTransformer(rt, 'tiny'), i.e. <page root>/models/tiny/) on the runtime createRuntime() picks or the one
// forced, text prompts through lm.tokenizer, every KV eviction method at a chosen budget, tokens streamed as text,
// and a picture of which context tokens each layer / KV head kept (hover a cell, or the token strip below it).
//
// Protocol (the same as `pcpress lm-eval`, DefensiveKV's and kvpress's query-agnostic one):
// - `<|endoftext|>` is put in front of the prompt (the training documents start after one);
// - a prompt with "\nQuestion:" is split there: the context before it is prefilled (lm.prefill), compressed
//   WITHOUT the question (session.evict), then the question is appended and the answer decoded on the session;
// - any other prompt is run by lm.generate, which compresses the whole prompt after the prefill.
// The budget is a kept fraction of the compressed tokens: keepTokens = floor(n x budget) per KV head (the methods'
// own allocation may move tokens between heads or layers, keeping the total).
// Missing model files (e.g. the weights before they are trained) show the library's ModelFileError.
import { KV_METHODS, type KVMethod, type KVSelection } from '../../src/kv/types.js';
import { bundledModelUrl, loadTransformer, retrievalPrompts, sampleToken, type LMSession, type Tokenizer, type Transformer } from '../../src/lm/index.js';
import { seededRandom } from '../../src/random.js';
import { createRuntime, type BackendChoice, type Runtime } from '../../src/runtime.js';

/** Geometry of the kept-token picture, so a test can read the canvas back. */
export interface PictureLayout {
  /** Compressed tokens (columns). */
  n: number;
  /** Left edge of column 0, cell pitch and the blank gap at the right of each cell, in canvas pixels. */
  x0: number;
  cell: number;
  gap: number;
  /** One row per layer and KV head: its top and height. */
  rows: { layer: number; head: number; y: number; h: number }[];
  /** RGB of a kept cell, of an evicted one, and of a kept / evicted cell inside a needle. */
  kept: [number, number, number];
  evicted: [number, number, number];
  keptNeedle: [number, number, number];
  evictedNeedle: [number, number, number];
}

/** A needle sentence ("The special magic number for NAME is DIGITS.") in the context, as token positions. */
export interface Needle {
  name: string;
  digits: string;
  /** First and one-past-last token position (of the compressed tokens, `<|endoftext|>` at 0). */
  start: number;
  end: number;
  /** The needle the question asks for. */
  asked: boolean;
}

/** What the page shows after each generation, also window.lmView for tests. */
export interface LmView {
  /** Counts finished generations (successful or not). */
  seq: number;
  backend?: 'wasm' | 'webgpu';
  /** 'generate': lm.generate over the whole prompt; 'session': context prefilled and compressed, then the question. */
  mode?: 'generate' | 'session';
  /** Token ids compressed (`<|endoftext|>` + the context, or the whole prompt). */
  context?: number[];
  /** Token ids of the question appended after the eviction ('session' mode). */
  question?: number[];
  /** Generated token ids, in order, and their text. */
  tokens: number[];
  text: string;
  method?: KVMethod;
  /** 'full' or the kept fraction. */
  budget: string;
  /** Tokens per KV head the budget asks for. */
  keepTokens?: number;
  window?: number;
  temperature: number;
  seed: number;
  /** Tokens each KV head held after the eviction (before the question), [layer][kvHead]. */
  cacheLengths?: number[][];
  /** Kept context positions, [layer][kvHead][]; every position with the full cache. */
  kept?: number[][][];
  needles?: Needle[];
  /** The expected answer when the prompt is a built-in retrieval prompt, and whether the first line matched. */
  answer?: { want: string; got: string; correct: boolean };
  prefillMs?: number;
  decodeTokensPerS?: number;
  picture?: PictureLayout;
  stopped?: boolean;
  error?: { name: string; message: string };
}

declare global {
  interface Window {
    lmReady?: boolean;
    /** Counts finished model loads (window.lmReady stays true after the first). */
    lmLoads?: number;
    lmSeq?: number;
    lmView?: LmView;
    /** The latest load error, "Name: message". */
    lmError?: string;
    /** The built-in prompts (label, text, expected answer). */
    lmPrompts?: { label: string; text: string; answer?: string }[];
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const KEPT: [number, number, number] = [31, 136, 61];
const EVICTED: [number, number, number] = [234, 238, 242];
const KEPT_NEEDLE: [number, number, number] = [130, 80, 223];
const EVICTED_NEEDLE: [number, number, number] = [255, 214, 168];
const QUESTION = '\nQuestion:';

let rt: Runtime | undefined;
let lm: Transformer | undefined;
let tok: Tokenizer | undefined;
let stopRequested = false;
let seq = 0;
let prompts: { label: string; text: string; answer?: string }[] = [];

/** Lets the browser render between tokens. */
const yieldToBrowser = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function showError(e: unknown): { name: string; message: string } {
  const err = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
  $('error').textContent = `${err.name}: ${err.message}`;
  return err;
}

/** The built-in prompts: a KJV opening, held-out text, and retrieval prompts in the training format from heldout.txt. */
function builtInPrompts(t: Tokenizer, heldout: string | undefined): { label: string; text: string; answer?: string }[] {
  const out: { label: string; text: string; answer?: string }[] = [{
    label: 'KJV: Genesis 1',
    text: 'Genesis 1\nIn the beginning God created the heaven and the earth.\nAnd the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.\nAnd God said,',
  }];
  if (!heldout) return out;
  // contexts of 300-500 tokens: the picture stays readable and SwiftShader's WebGPU stays quick
  const [niah, kv] = retrievalPrompts(heldout, t, 2, 7, [300, 500]);
  out.push({ label: `retrieval: needle in a haystack (held-out verses, answer ${niah.answer})`, text: niah.context + niah.question, answer: niah.answer });
  out.push({ label: `retrieval: key-value lookup (answer ${kv.answer})`, text: kv.context + kv.question, answer: kv.answer });
  const chapter = heldout.split(/\n\s*\n/)[1]?.split('\n').slice(0, 3).join('\n');
  if (chapter) out.push({ label: 'held-out text (never trained on)', text: chapter + '\n' });
  return out;
}

/** (Re)creates the runtime with `choice` and loads the bundled model onto it. */
async function loadModel(choice: BackendChoice): Promise<void> {
  $('run').setAttribute('disabled', '');
  $('backend').textContent = `starting ${choice}…`;
  lm?.dispose();
  rt?.destroy();
  lm = undefined;
  rt = undefined;
  window.lmError = undefined;
  try {
    rt = await createRuntime({ backend: choice });
    $('backend').textContent = `backend: ${rt.backend} (${rt.reason})`;
    lm = await loadTransformer(rt, 'tiny');
    if (!lm.tokenizer) throw new Error(`models/tiny has no tokenizer.json: this page needs one to turn text into tokens`);
    tok = lm.tokenizer;
    const c = lm.config, info = lm.info;
    $('model').textContent = `models/tiny: ${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} query / ${c.numKvHeads} KV heads of ${c.headDim}, vocab ${c.vocabSize}; ` +
      `weights ${info.linearDtype} stored as ${info.linearStorage} (${(info.weightBytes / 1e6).toFixed(1)} MB on the device)`;
    $('model').className = '';
    if (prompts.length === 0) {
      let heldout: string | undefined;
      try {
        const r = await fetch(new URL('heldout.txt', bundledModelUrl('tiny')));
        if (r.ok) heldout = await r.text();
      } catch {
        heldout = undefined;
      }
      prompts = builtInPrompts(tok, heldout);
      window.lmPrompts = prompts;
      const sample = $<HTMLSelectElement>('sample');
      for (const [i, p] of prompts.entries()) sample.add(new Option(p.label, String(i)));
      $<HTMLTextAreaElement>('prompt').value = prompts[0].text;
      showTokenCount();
    }
    $('run').removeAttribute('disabled');
    $('error').textContent = '';
  } catch (e) {
    const err = showError(e);
    window.lmError = `${err.name}: ${err.message}`;
    if (!rt) $('backend').textContent = `no runtime: ${err.name}`;
    else {
      $('model').className = 'missing';
      $('model').textContent = err.name === 'ModelFileError'
        ? 'The bundled model could not be loaded: a file of models/tiny/ is missing from this build (see below). Its weights come from scripts/train-tiny-lm.py (or a checkout that has models/tiny/model.safetensors); rebuild with npm run demo:lm.'
        : `The bundled model could not be loaded (${err.name}).`;
    }
  }
  window.lmLoads = (window.lmLoads ?? 0) + 1;
}

function showTokenCount(): void {
  if (!tok) return;
  const text = $<HTMLTextAreaElement>('prompt').value;
  const q = text.lastIndexOf(QUESTION);
  const n = tok.encode(text).length + 1;
  $('tokhint').textContent = q >= 0
    ? `${n} tokens with <|endoftext|>; the context before "\\nQuestion:" is compressed without the question`
    : `${n} tokens with <|endoftext|>; the whole prompt is compressed after the prefill`;
}

/** The needle sentences of a context as token positions (character offsets mapped through each token's text). */
function findNeedles(ids: number[], question: string): Needle[] {
  const t = tok!;
  const starts: number[] = [];
  let text = '';
  for (const id of ids) {
    starts.push(text.length);
    text += t.decode([id]);
  }
  const asked = /special magic number for (\S+)\?/.exec(question)?.[1];
  const out: Needle[] = [];
  const tokenAt = (ch: number) => {
    let i = 0;
    while (i + 1 < starts.length && starts[i + 1] <= ch) i++;
    return i;
  };
  for (const m of text.matchAll(/The special magic number for (\S+) is (\d+)\./g)) {
    out.push({ name: m[1], digits: m[2], start: tokenAt(m.index!), end: tokenAt(m.index! + m[0].length - 1) + 1, asked: m[1] === asked });
  }
  return out;
}

/** Draws which context positions each layer/KV head kept; returns the layout. */
function drawKept(n: number, layers: number, heads: number, kept: number[][][], needles: Needle[]): PictureLayout {
  const canvas = $<HTMLCanvasElement>('kept');
  const width = Math.min(1060, Math.max(400, canvas.parentElement!.clientWidth - 4));
  const x0 = 118;
  const cell = Math.max(2, Math.min(24, Math.floor((width - x0 - 8) / n)));
  const gap = cell >= 6 ? 1 : 0;
  const h = 16, rowGap = 3, layerGap = 10, top = 14;
  const rows: PictureLayout['rows'] = [];
  let y = top;
  for (let l = 0; l < layers; l++) {
    for (let g = 0; g < heads; g++) {
      rows.push({ layer: l, head: g, y, h });
      y += h + rowGap;
    }
    y += layerGap - rowGap;
  }
  canvas.width = x0 + n * cell + 8;
  canvas.height = y + 4;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = '11px ui-monospace, monospace';
  ctx.textBaseline = 'middle';
  const rgb = (c: number[]) => `rgb(${c[0]},${c[1]},${c[2]})`;
  const inNeedle = new Uint8Array(n);
  for (const nd of needles) {
    for (let i = nd.start; i < nd.end && i < n; i++) inNeedle[i] = nd.asked ? 2 : 1;
    // a bar above the rows marks the needle (darker: the one the question asks for)
    ctx.fillStyle = nd.asked ? '#8250df' : '#d8b9ff';
    ctx.fillRect(x0 + nd.start * cell, 4, Math.max(cell, (nd.end - nd.start) * cell - gap), 6);
  }
  if (needles.length) {
    ctx.fillStyle = '#57606a';
    ctx.fillText('needles', 4, 7);
  }
  for (const r of rows) {
    const keep = new Set(kept[r.layer][r.head]);
    ctx.fillStyle = '#57606a';
    ctx.fillText(`L${r.layer} kv${r.head} ${String(keep.size).padStart(4)}/${n}`, 4, r.y + h / 2);
    for (let i = 0; i < n; i++) {
      const k = keep.has(i);
      ctx.fillStyle = rgb(inNeedle[i] ? (k ? KEPT_NEEDLE : EVICTED_NEEDLE) : (k ? KEPT : EVICTED));
      ctx.fillRect(x0 + i * cell, r.y, cell - gap, h);
    }
  }
  return { n, x0, cell, gap, rows, kept: KEPT, evicted: EVICTED, keptNeedle: KEPT_NEEDLE, evictedNeedle: EVICTED_NEEDLE };
}

/** A token's text for display: whitespace made visible. */
function shown(s: string): string {
  return s.replace(/\n/g, '⏎').replace(/\t/g, '⇥');
}

/** The token strip below the picture: every compressed token, shaded by how many layer/KV-head caches kept it. */
function drawStrip(ids: number[], kept: number[][][], needles: Needle[]): void {
  const strip = $('strip');
  strip.innerHTML = '';
  const rows = kept.flat();
  const count = new Uint16Array(ids.length);
  for (const r of rows) for (const i of r) count[i]++;
  const needleOf = new Map<number, Needle>();
  for (const nd of needles) for (let i = nd.start; i < nd.end; i++) needleOf.set(i, nd);
  const frag = document.createDocumentFragment();
  for (const [i, id] of ids.entries()) {
    const s = document.createElement('span');
    const text = id === tok!.eosTokenId ? '<|endoftext|>' : tok!.decode([id]);
    s.textContent = shown(text);
    const f = count[i] / rows.length;
    s.style.background = `rgba(31,136,61,${(0.08 + 0.62 * f).toFixed(3)})`;
    const nd = needleOf.get(i);
    if (nd) s.className = nd.asked ? 'needle asked' : 'needle';
    s.title = `position ${i}, token ${id} ${JSON.stringify(text)}: kept by ${count[i]} of ${rows.length} layer/KV-head caches${nd ? ` (needle for ${nd.name}${nd.asked ? ', the one asked for' : ''})` : ''}`;
    frag.append(s);
    if (text.endsWith('\n')) frag.append(document.createElement('br'));
  }
  strip.append(frag);
}

function clearOutput(): void {
  $('output').innerHTML = '';
  $('stats').textContent = '';
  $('error').textContent = '';
  $('hover').textContent = '';
  $('strip').innerHTML = '';
  const c = $<HTMLCanvasElement>('kept');
  c.width = 0;
  c.height = 0;
  $('keptcap').textContent = 'Kept context tokens';
}

function span(cls: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

/** Kept positions per layer and KV head: the selections' keep lists, or every position for a full cache. */
function keptPositions(sel: KVSelection[] | undefined, layers: number, heads: number, n: number): number[][][] {
  const all = Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: layers }, (_, l) => Array.from({ length: heads }, (_, g) => (sel ? Array.from(sel[l].keep[g]).sort((a, b) => a - b) : all)));
}

/**
 * Token ids after the prompt: with a question, on a session (context prefilled, compressed, question appended);
 * else with lm.generate. Calls `onEvicted` once the caches are compressed (before the first token).
 */
async function* run(model: Transformer, t: Tokenizer, o: {
  context: number[]; question: number[]; maxNewTokens: number; temperature: number; seed: number;
  eviction?: { method: KVMethod; keepTokens: number; window: number };
}, onEvicted: (sel: KVSelection[] | undefined, lengths: number[][]) => void): AsyncGenerator<number> {
  const stop = t.eosTokenId;
  if (o.question.length === 0) {
    const gen = model.generate(o.context, {
      maxNewTokens: o.maxNewTokens, temperature: o.temperature, seed: o.seed, ...(stop !== undefined ? { stopTokens: [stop] } : {}),
      ...(o.eviction ? { eviction: o.eviction } : {}),
    });
    let first = true;
    for await (const tk of gen) {
      if (first) onEvicted(gen.selections, gen.cacheLengths.map((r) => r.slice()));
      first = false;
      yield tk;
    }
    return;
  }
  let s: LMSession | undefined;
  try {
    s = await model.prefill(o.context, { window: o.eviction?.window ?? 0, capacity: o.context.length + o.question.length + Math.min(o.maxNewTokens, 64) });
    const sel = o.eviction ? await s.evict(o.eviction) : undefined;
    onEvicted(sel, s.cacheLengths);
    let logits = await s.append(o.question, { logits: 'last' });
    const rand = seededRandom(o.seed);
    for (let i = 0; i < o.maxNewTokens; i++) {
      const tk = sampleToken(logits, o.temperature, 0, rand);
      yield tk;
      if (i === o.maxNewTokens - 1 || tk === stop) break;
      logits = await s.append([tk], { logits: 'last' });
    }
  } finally {
    s?.dispose();
  }
}

/** One generation with the current controls; sets window.lmView and bumps window.lmSeq when done. */
async function generate(): Promise<void> {
  clearOutput();
  const budget = $<HTMLSelectElement>('budget').value;
  const method = $<HTMLSelectElement>('method').value as KVMethod;
  const temperature = Number($<HTMLInputElement>('temperature').value);
  const seed = Number($<HTMLInputElement>('seed').value);
  const maxNewTokens = Number($<HTMLInputElement>('maxNew').value);
  const winIn = Number($<HTMLInputElement>('window').value);
  const view: LmView = { seq: seq + 1, tokens: [], text: '', budget, backend: rt?.backend, temperature, seed };
  window.lmView = undefined;
  $('run').setAttribute('disabled', '');
  $('stop').removeAttribute('disabled');
  stopRequested = false;
  try {
    if (!lm || !tok) throw new Error('no model is loaded (see the lines above)');
    // controls are read as given: a value the model cannot use is an error on the page, never a quiet default
    if (!(Number.isFinite(temperature) && temperature >= 0)) throw new Error(`temperature must be a number >= 0, got "${$<HTMLInputElement>('temperature').value}"`);
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got "${$<HTMLInputElement>('seed').value}"`);
    if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new Error(`new tokens must be a positive integer, got "${$<HTMLInputElement>('maxNew').value}"`);
    if (!(Number.isInteger(winIn) && winIn >= 1)) throw new Error(`window must be a positive integer, got "${$<HTMLInputElement>('window').value}"`);
    const t = tok, c = lm.config;
    const text = $<HTMLTextAreaElement>('prompt').value;
    if (text.length === 0) throw new Error('the prompt is empty');
    const q = text.lastIndexOf(QUESTION);
    const ctxText = q >= 0 ? text.slice(0, q) : text, qText = q >= 0 ? text.slice(q) : '';
    let context = t.encode(ctxText);
    if (t.eosTokenId !== undefined && context[0] !== t.eosTokenId) context = [t.eosTokenId, ...context];
    const question = qText ? t.encode(qText) : [];
    const n = context.length;
    const win = Math.min(winIn, n - 1); // the observation window is at most the context less its last token (shown below)
    const keepTokens = budget === 'full' ? n : Math.max(1, Math.floor(n * Number(budget) + 1e-9));
    const eviction = budget === 'full' ? undefined : { method, keepTokens, window: win };
    Object.assign(view, { mode: question.length ? 'session' : 'generate', context, question, keepTokens });
    if (eviction) Object.assign(view, { method, window: win });
    const needles = findNeedles(context, qText);
    view.needles = needles;
    const builtIn = prompts.find((p) => p.text === text);
    const out = $('output');
    const tail = text.length > 240 ? `…${text.slice(-240)}` : text;
    out.append(span('p', tail));
    const gen = span('gen', '');
    out.append(gen);
    const t0 = performance.now();
    let tFirst = 0;
    const onEvicted = (sel: KVSelection[] | undefined, lengths: number[][]) => {
      view.prefillMs = performance.now() - t0;
      view.cacheLengths = lengths;
      view.kept = keptPositions(sel, c.numLayers, c.numKvHeads, n);
      view.picture = drawKept(n, c.numLayers, c.numKvHeads, view.kept, needles);
      drawStrip(context, view.kept, needles);
      const held = lengths.flat().reduce((a, b) => a + b, 0);
      const what = question.length ? `the ${n} context tokens (the question's ${question.length} tokens come after the eviction)` : `the ${n} prompt tokens`;
      $('keptcap').textContent = eviction
        ? `Kept context tokens: ${method} at ${Math.round(Number(budget) * 100)}% of ${what}: ${keepTokens} per KV head, ${held} of ${n * c.numLayers * c.numKvHeads} cache rows (window ${win})`
        : `Kept context tokens: full cache of ${what} (${held} cache rows)`;
    };
    for await (const tk of run(lm, t, { context, question, maxNewTokens, temperature, seed, eviction }, onEvicted)) {
      if (view.tokens.length === 0) tFirst = performance.now();
      view.tokens.push(tk);
      const all = t.decode(view.tokens);
      // a token that ends inside a UTF-8 character shows once the character is complete
      const piece = all.slice(view.text.length).replace(/\uFFFD$/, '');
      view.text += piece;
      const s = span('g', piece);
      s.dataset.id = String(tk);
      s.title = `token ${tk} ${JSON.stringify(tk === t.eosTokenId ? '<|endoftext|>' : t.decode([tk]))}`;
      gen.append(s);
      const k = view.tokens.length;
      if (k > 1) view.decodeTokensPerS = ((k - 1) * 1000) / (performance.now() - tFirst);
      $('stats').textContent = `${k} token${k > 1 ? 's' : ''} on ${rt!.backend}; prefill${eviction ? ' + eviction' : ''} ${view.prefillMs!.toFixed(1)} ms` +
        (view.decodeTokensPerS ? `, decode ${view.decodeTokensPerS.toFixed(1)} tokens/s` : '');
      if (stopRequested) {
        view.stopped = true;
        break;
      }
      await yieldToBrowser();
    }
    if (builtIn?.answer) {
      const got = view.text.trim().split('\n')[0];
      view.answer = { want: builtIn.answer, got, correct: got === builtIn.answer };
      $('stats').textContent += `; answer ${JSON.stringify(got)}: ${view.answer.correct ? 'correct' : `wrong (the needle says ${builtIn.answer})`}`;
    }
  } catch (e) {
    view.error = showError(e);
  } finally {
    $('stop').setAttribute('disabled', '');
    if (lm) $('run').removeAttribute('disabled');
    seq = view.seq;
    window.lmView = view;
    window.lmSeq = seq;
  }
}

/** Hovering the picture names the token under the pointer and the caches that kept it. */
function onHover(ev: MouseEvent): void {
  const v = window.lmView, p = v?.picture;
  if (!p || !v.context || !v.kept || !tok) return;
  const c = $<HTMLCanvasElement>('kept');
  const rect = c.getBoundingClientRect();
  const x = (ev.clientX - rect.left) * (c.width / rect.width), y = (ev.clientY - rect.top) * (c.height / rect.height);
  const i = Math.floor((x - p.x0) / p.cell);
  if (i < 0 || i >= p.n) {
    $('hover').textContent = '';
    return;
  }
  const row = p.rows.find((r) => y >= r.y && y < r.y + r.h);
  const id = v.context[i];
  const text = id === tok.eosTokenId ? '<|endoftext|>' : tok.decode([id]);
  const by = v.kept.flat().filter((k) => k.includes(i)).length;
  const nd = v.needles?.find((n) => i >= n.start && i < n.end);
  $('hover').textContent = `position ${i}: ${JSON.stringify(text)} (token ${id})` +
    (row ? `: layer ${row.layer} KV head ${row.head} ${v.kept[row.layer][row.head].includes(i) ? 'kept' : 'evicted'} it` : '') +
    `; kept by ${by} of ${v.kept.flat().length} layer/KV-head caches` + (nd ? `; needle for ${nd.name}${nd.asked ? ' (asked for)' : ''}` : '');
}

async function main(): Promise<void> {
  window.lmSeq = 0;
  const methodSel = $<HTMLSelectElement>('method');
  for (const m of KV_METHODS) methodSel.add(new Option(m, m, m === 'defensivekv', m === 'defensivekv'));
  const sample = $<HTMLSelectElement>('sample');
  sample.addEventListener('change', () => {
    const p = prompts[Number(sample.value)];
    if (p) $<HTMLTextAreaElement>('prompt').value = p.text;
    showTokenCount();
  });
  $('prompt').addEventListener('input', showTokenCount);
  const backendSel = $<HTMLSelectElement>('backendSel');
  backendSel.addEventListener('change', () => void loadModel(backendSel.value as BackendChoice));
  $('run').addEventListener('click', () => void generate());
  $('stop').addEventListener('click', () => {
    stopRequested = true;
  });
  $('kept').addEventListener('mousemove', onHover);
  await loadModel('auto');
  window.lmReady = true;
}

main().catch((e) => {
  const err = showError(e);
  window.lmError = `${err.name}: ${err.message}`;
});
