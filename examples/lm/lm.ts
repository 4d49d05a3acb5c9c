// The transformer demo page (built by scripts/demo-lm.mjs into dist/demo-lm). It fetches the model the build
// copied into ./model/ (manifest.json, config.json, model.safetensors), loads it with loadTransformer on the
// runtime createRuntime() picks (or the forced backend), and runs lm.generate with the chosen KV eviction:
// tokens are shown as they are yielded, and a canvas shows which prompt tokens each layer and KV head kept
// (generate's `selections`). Errors are shown with their type (ArgumentError for a bad prompt or a token id
// out of range, BackendUnavailableError for a forced backend that cannot start, ...).
//
// The prompt goes through a DemoTokenizer: today only 'ids' (the test fixture has no tokenizer, so the prompt
// is token ids as text); a model folder with a tokenizer adds its kind in tokenizerFor().
import { ArgumentError } from '../../src/errors.js';
import { KV_METHODS, type KVMethod, type KVSelection } from '../../src/kv/types.js';
import { loadTransformer, type Generation, type Transformer } from '../../src/lm/index.js';
import { createRuntime, type BackendChoice, type Runtime } from '../../src/runtime.js';

/** What scripts/demo-lm.mjs writes to model/manifest.json next to the model files. */
export interface LmManifest {
  /** Shown above the controls. */
  name: string;
  /** One sentence on what the model is. */
  about: string;
  /** How prompts become token ids: 'ids' (whitespace- or comma-separated integers). */
  tokenizer: { kind: 'ids' } | { kind: string; file?: string };
  /** Example prompts (text in the tokenizer's input form). */
  prompts: { label: string; text: string }[];
  /** Default observation window of the eviction methods (at most prompt length - 1 is used). */
  window: number;
  /** Default number of new tokens. */
  maxNewTokens: number;
}

/** Turns prompt text into token ids and token ids into display text; a real model plugs its tokenizer in here. */
export interface DemoTokenizer {
  /** Shown next to the prompt box. */
  readonly hint: string;
  /** Token ids of the prompt; throws ArgumentError on text it cannot encode. */
  encode(text: string): number[];
  /** The text of one token, for the output. */
  piece(id: number): string;
}

/** The tokenizer of a model without one: the prompt is its token ids as decimal integers. */
export class IdTokenizer implements DemoTokenizer {
  readonly hint: string;
  constructor(private readonly vocab: number) {
    this.hint = `token ids 0..${vocab - 1}, separated by spaces or commas (this model has no tokenizer)`;
  }
  encode(text: string): number[] {
    const parts = text.split(/[\s,]+/).filter((s) => s.length > 0);
    if (parts.length === 0) throw new ArgumentError('prompt: empty (type token ids such as "10 20 30")');
    return parts.map((s, i) => {
      // range is left to lm.generate, so an id past the vocabulary gets the library's own error
      if (!/^\d+$/.test(s)) throw new ArgumentError(`prompt: "${s}" (item ${i}) is not a token id: this model takes decimal token ids, not text`);
      return Number(s);
    });
  }
  piece(id: number): string {
    return String(id);
  }
}

/** The tokenizer a manifest names. */
export function tokenizerFor(m: LmManifest, vocab: number): DemoTokenizer {
  if (m.tokenizer.kind === 'ids') return new IdTokenizer(vocab);
  throw new ArgumentError(`manifest: tokenizer kind ${JSON.stringify(m.tokenizer.kind)} is not supported by this page yet`);
}

/** Geometry of the kept-token picture, so a test can read the canvas back. */
export interface PictureLayout {
  /** Prompt tokens (columns). */
  n: number;
  /** Left edge of column 0, cell pitch and the blank gap at the right of each cell, in canvas pixels. */
  x0: number;
  cell: number;
  gap: number;
  /** One row per layer and KV head: its top and height. */
  rows: { layer: number; head: number; y: number; h: number }[];
  /** RGB of a kept cell and of an evicted one. */
  kept: [number, number, number];
  evicted: [number, number, number];
}

/** What the page shows after each action, also window.lmView for tests. */
export interface LmView {
  /** Counts finished generations (successful or not). */
  seq: number;
  backend?: 'wasm' | 'webgpu';
  prompt?: number[];
  /** Generated token ids, in order. */
  tokens: number[];
  method?: KVMethod;
  /** 'full' or the fraction of the prompt kept. */
  budget: string;
  window?: number;
  /** Tokens each KV head held after the prefill (and eviction), [layer][kvHead]. */
  cacheLengths?: number[][];
  /** Kept prompt positions, [layer][kvHead][]; every position when the cache is full. */
  kept?: number[][][];
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
    lmError?: string;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const KEPT: [number, number, number] = [31, 136, 61];
const EVICTED: [number, number, number] = [234, 238, 242];

let manifest: LmManifest;
let config: Uint8Array;
let weights: Uint8Array;
let rt: Runtime | undefined;
let lm: Transformer | undefined;
let tokenizer: DemoTokenizer;
let current: Generation | undefined;
let stopRequested = false;
let seq = 0;

/** Lets the browser render between tokens. */
const yieldToBrowser = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function showError(e: unknown): { name: string; message: string } {
  const err = e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
  $('error').textContent = `${err.name}: ${err.message}`;
  return err;
}

/** (Re)creates the runtime with `choice` and loads the model onto it. */
async function loadModel(choice: BackendChoice): Promise<void> {
  $('run').setAttribute('disabled', '');
  $('backend').textContent = `starting ${choice}…`;
  lm?.dispose();
  rt?.destroy();
  lm = undefined;
  rt = undefined;
  try {
    rt = await createRuntime({ backend: choice });
    lm = await loadTransformer(rt, { config, weights });
    const c = lm.config;
    $('backend').textContent = `backend: ${rt.backend} (${rt.reason})`;
    $('model').textContent = `${manifest.name} (${manifest.about}): ${c.architecture}, ${c.numLayers} layers, ${c.numHeads} query / ${c.numKvHeads} KV heads of ${c.headDim}, vocab ${c.vocabSize}`;
    $('run').removeAttribute('disabled');
    $('error').textContent = '';
  } catch (e) {
    const err = showError(e);
    $('backend').textContent = `no runtime: ${err.name}`;
    window.lmError = `${err.name}: ${err.message}`;
  }
  window.lmLoads = (window.lmLoads ?? 0) + 1;
}

/** Draws which prompt positions each layer/KV head kept; returns the layout. */
function drawKept(n: number, layers: number, heads: number, kept: number[][][]): PictureLayout {
  const canvas = $<HTMLCanvasElement>('kept');
  const width = Math.min(1060, Math.max(400, canvas.parentElement!.clientWidth - 4));
  const x0 = 96;
  const cell = Math.max(2, Math.min(24, Math.floor((width - x0 - 8) / n)));
  const gap = cell >= 6 ? 1 : 0;
  const h = 14, rowGap = 3, layerGap = 10;
  const rows: PictureLayout['rows'] = [];
  let y = 6;
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
  for (const r of rows) {
    const keep = new Set(kept[r.layer][r.head]);
    ctx.fillStyle = '#57606a';
    ctx.fillText(`L${r.layer} kv${r.head} ${String(keep.size).padStart(3)}/${n}`, 4, r.y + h / 2);
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = rgb(keep.has(i) ? KEPT : EVICTED);
      ctx.fillRect(x0 + i * cell, r.y, cell - gap, h);
    }
  }
  return { n, x0, cell, gap, rows, kept: KEPT, evicted: EVICTED };
}

function clearOutput(): void {
  $('output').innerHTML = '';
  $('stats').textContent = '';
  $('error').textContent = '';
  const c = $<HTMLCanvasElement>('kept');
  c.width = 0;
  c.height = 0;
  $('keptcap').textContent = 'Kept prompt tokens';
}

function span(cls: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

/** One generation with the current controls; sets window.lmView and bumps window.lmSeq when done. */
async function generate(): Promise<void> {
  clearOutput();
  const budget = $<HTMLSelectElement>('budget').value;
  const method = $<HTMLSelectElement>('method').value as KVMethod;
  const view: LmView = { seq: seq + 1, tokens: [], budget, backend: rt?.backend };
  window.lmView = undefined;
  $('run').setAttribute('disabled', '');
  $('stop').removeAttribute('disabled');
  stopRequested = false;
  try {
    if (!lm) throw new Error('no model is loaded (see the backend line)');
    const ids = tokenizer.encode($<HTMLTextAreaElement>('prompt').value);
    const maxNewTokens = Number($<HTMLInputElement>('maxNew').value);
    const win = Math.max(1, Math.min(Number($<HTMLInputElement>('window').value) || 1, ids.length - 1));
    view.prompt = ids;
    const out = $('output');
    out.append(span('p', ids.map((t) => tokenizer.piece(t)).join(' ')));
    const eviction = budget === 'full' ? undefined : { method, compression: 1 - Number(budget), window: win };
    if (eviction) {
      view.method = method;
      view.window = win;
    }
    const t0 = performance.now();
    const gen = lm.generate(ids, { maxNewTokens, ...(eviction ? { eviction } : {}) });
    current = gen;
    let tFirst = 0;
    const c = lm.config;
    for await (const t of gen) {
      if (view.tokens.length === 0) {
        tFirst = performance.now();
        view.prefillMs = tFirst - t0;
        view.cacheLengths = gen.cacheLengths.map((r) => r.slice());
        view.kept = keptPositions(gen.selections, c.numLayers, c.numKvHeads, ids.length);
        view.picture = drawKept(ids.length, c.numLayers, c.numKvHeads, view.kept);
        const held = view.cacheLengths.flat().reduce((a, b) => a + b, 0);
        $('keptcap').textContent = eviction
          ? `Kept prompt tokens: ${method} at ${Math.round(Number(budget) * 100)}% (${held} of ${ids.length * c.numLayers * c.numKvHeads} cache rows, window ${win})`
          : `Kept prompt tokens: full cache (${held} cache rows)`;
      }
      view.tokens.push(t);
      out.append(' ', span('g', tokenizer.piece(t)));
      const n = view.tokens.length;
      if (n > 1) view.decodeTokensPerS = ((n - 1) * 1000) / (performance.now() - tFirst);
      $('stats').textContent = `${n} token${n > 1 ? 's' : ''} on ${rt!.backend}; prefill ${view.prefillMs!.toFixed(1)} ms` +
        (view.decodeTokensPerS ? `, decode ${view.decodeTokensPerS.toFixed(1)} tokens/s` : '');
      if (stopRequested) {
        view.stopped = true;
        break;
      }
      await yieldToBrowser();
    }
  } catch (e) {
    view.error = showError(e);
  } finally {
    current = undefined;
    $('stop').setAttribute('disabled', '');
    if (lm) $('run').removeAttribute('disabled');
    seq = view.seq;
    window.lmView = view;
    window.lmSeq = seq;
  }
}

/** Kept prompt positions per layer and KV head: the selections' keep lists, or every position for a full cache. */
function keptPositions(sel: KVSelection[] | undefined, layers: number, heads: number, n: number): number[][][] {
  const all = Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: layers }, (_, l) => Array.from({ length: heads }, (_, g) => (sel ? Array.from(sel[l].keep[g]) : all)));
}

async function main(): Promise<void> {
  window.lmSeq = 0;
  const methodSel = $<HTMLSelectElement>('method');
  for (const m of KV_METHODS) methodSel.add(new Option(m, m, m === 'defensivekv', m === 'defensivekv'));
  manifest = JSON.parse(new TextDecoder().decode(await fetchBytes('model/manifest.json'))) as LmManifest;
  [config, weights] = await Promise.all([fetchBytes('model/config.json'), fetchBytes('model/model.safetensors')]);
  const vocab = (JSON.parse(new TextDecoder().decode(config)) as { vocab_size: number }).vocab_size;
  tokenizer = tokenizerFor(manifest, vocab);
  $('tokhint').textContent = tokenizer.hint;
  $<HTMLInputElement>('window').value = String(manifest.window);
  $<HTMLInputElement>('maxNew').value = String(manifest.maxNewTokens);
  const sample = $<HTMLSelectElement>('sample');
  for (const p of manifest.prompts) sample.add(new Option(p.label, p.text));
  $<HTMLTextAreaElement>('prompt').value = manifest.prompts[0]?.text ?? '';
  sample.addEventListener('change', () => {
    $<HTMLTextAreaElement>('prompt').value = sample.value;
  });
  const backendSel = $<HTMLSelectElement>('backendSel');
  backendSel.addEventListener('change', () => void loadModel(backendSel.value as BackendChoice));
  $('run').addEventListener('click', () => void generate());
  $('stop').addEventListener('click', () => {
    stopRequested = true;
    if (!current) $('stop').setAttribute('disabled', '');
  });
  await loadModel('auto');
  window.lmReady = true;
}

main().catch((e) => {
  const err = showError(e);
  window.lmError = `${err.name}: ${err.message}`;
});
