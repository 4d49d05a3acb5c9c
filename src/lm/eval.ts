/**
 * What KV-cache eviction costs a real model: every method x cache budget on held-out data (`pcpress lm-eval`).
 *
 * Retrieval: prompts built from held-out text (the bundled model's `heldout.txt`: chapters never trained on) in
 * exactly the formats of scripts/train-tiny-lm.py — needle in a haystack (consecutive held-out verses with 1-4
 * sentences "The special magic number for NAME is DIGITS." at random depths; question "\nQuestion: What is the
 * special magic number for NAME?\nAnswer:") and key-value lookup ("KEY: VALUE" lines; question "\nQuestion: What is
 * the value of KEY?\nAnswer:"), alternating, contexts of 500-1500 tokens, all from a seeded PRNG. The context
 * (`<|endoftext|>` + everything before "\nQuestion:", as in training) is prefilled once; each method x budget forks
 * that session and compresses the fork's caches WITHOUT the question (query-agnostic: DefensiveKV's and kvpress's
 * protocol), then the question is appended and the answer decoded greedily (at most 10 tokens, as the training
 * script's own evaluation); exact match of the first line of the stripped answer.
 *
 * Text: held-out continuations: a context of 512-1024 held-out tokens is prefilled and compressed, then the next
 * `continuationTokens` tokens are fed against the compressed cache in one append (teacher forcing); the loss is
 * the mean negative log-likelihood (nats/token) of continuation tokens 2..T (the first is predicted by the
 * uncompressed prefill, the same for every method), reported with its increase over the full cache and as
 * perplexity.
 *
 * The comparison of the DefensiveKV paper: quality loss at a 20 % cache (accuracy drop vs the full cache) of
 * DefensiveKV and Layer-DefensiveKV against the best baseline (every other method), as a ratio
 * baseline loss / method loss (the paper reports 2.3x and 4.3x), with the same for the text loss increase.
 */
import { ArgumentError } from '../errors.js';
import { KV_METHODS, type KVMethod } from '../kv/types.js';
import { seededRandom } from '../random.js';
import { checkKeys, describe } from '../validate.js';
import type { LMSession, Transformer } from './model.js';
import type { Tokenizer } from './tokenizer.js';

/** Options of `evaluateLMEviction`. */
export interface LMEvalOptions {
  /** Held-out text (the bundled model's `heldout.txt`): blank-line separated chapters, a title line then one verse per line. */
  heldout: string;
  /** Tokenizer (default `lm.tokenizer`). */
  tokenizer?: Tokenizer;
  /** Methods (default: every one of KV_METHODS). */
  methods?: readonly KVMethod[];
  /** Cache budgets as kept fractions of the context, each in (0, 1) (default [0.1, 0.2, 0.5]); the full cache is always run. */
  budgets?: readonly number[];
  /** Retrieval prompts (default 200; half needle-in-a-haystack, half key-value). */
  prompts?: number;
  /** Held-out text continuations (default 20). */
  texts?: number;
  /** Seed of the prompt generator (default 1): the same seed gives the same prompts. */
  seed?: number;
  /**
   * Retrieval context length range in tokens (default [500, 1500], clipped to the model's `max_position_embeddings`
   * less 64 for the question and answer: a model is not asked to read past what it was trained on).
   */
  contextTokens?: readonly [number, number];
  /** Text context length range in tokens (default [512, 1024], clipped to `max_position_embeddings` less 129). */
  textContextTokens?: readonly [number, number];
  /** Continuation tokens fed per text sample (default 128). */
  continuationTokens?: number;
  /** Eviction observation window (default 32). */
  window?: number;
  /** Called after each prompt and text sample. */
  onProgress?: (p: LMEvalProgress) => void;
}

/** Progress of `evaluateLMEviction`. */
export interface LMEvalProgress {
  /** `'retrieval'` or `'text'`. */
  task: 'retrieval' | 'text';
  /** Items of this task done. */
  done: number;
  /** Items of this task in all. */
  total: number;
  /** Seconds since the evaluation started. */
  seconds: number;
}

/** One method x budget (or the full cache: method `'full'`, budget 1). */
export interface LMEvalRow {
  /** Eviction method, or `'full'` for the uncompressed cache. */
  method: KVMethod | 'full';
  /** Kept fraction of the context's tokens per KV head (1 for full). */
  budget: number;
  /** Retrieval exact-match accuracy (correct / prompts); NaN with no prompts. */
  accuracy: number;
  /** Correct answers. */
  correct: number;
  /** Accuracy on the needle-in-a-haystack half. */
  niahAccuracy: number;
  /** Accuracy on the key-value half. */
  kvAccuracy: number;
  /** Accuracy drop vs the full cache (full.accuracy - accuracy). */
  accuracyDrop: number;
  /** Mean text continuation loss, nats/token; NaN with no text samples. */
  loss: number;
  /** loss - the full cache's loss. */
  lossIncrease: number;
  /** exp(loss). */
  perplexity: number;
  /** Mean fraction of context tokens the caches actually held after eviction (over layers, heads and prompts). */
  kept: number;
}

/** The DefensiveKV paper's comparison at one budget, for one of the defensive methods. */
export interface LMEvalComparison {
  /** `'defensivekv'` or `'layer-defensivekv'`. */
  method: KVMethod;
  /** The budget compared (0.2). */
  budget: number;
  /** The method's accuracy drop vs full. */
  accuracyDrop: number;
  /** The baseline with the smallest accuracy drop at this budget (every method but the two defensive ones). */
  bestBaseline: KVMethod;
  /** Its accuracy drop. */
  baselineAccuracyDrop: number;
  /** baselineAccuracyDrop / accuracyDrop: how many times less quality loss (the paper: 2.3x, 4.3x); null when undefined (a drop <= 0). */
  accuracyRatio: number | null;
  /** The method's text loss increase. */
  lossIncrease: number;
  /** The baseline with the smallest loss increase at this budget. */
  bestBaselineText: KVMethod;
  /** Its loss increase. */
  baselineLossIncrease: number;
  /** baselineLossIncrease / lossIncrease; null when undefined. */
  lossRatio: number | null;
}

/** Result of `evaluateLMEviction`. */
export interface LMEvalResult {
  /** The model's sizes. */
  model: { architecture: string; layers: number; hidden: number; heads: number; kvHeads: number; headDim: number; vocab: number; backend: string };
  /** What was run. */
  protocol: {
    prompts: number; niahPrompts: number; kvPrompts: number; texts: number; seed: number; window: number;
    contextTokens: { min: number; max: number; mean: number }; textContextTokens: { min: number; max: number; mean: number };
    continuationTokens: number; methods: KVMethod[]; budgets: number[];
  };
  /** The full cache first, then every method x budget. */
  rows: LMEvalRow[];
  /** DefensiveKV and Layer-DefensiveKV vs the best baseline at a 20 % cache (when 0.2 is a budget and both ran). */
  comparison: LMEvalComparison[];
  /** Honest reading of the numbers: sampling error, whether the model solves the task at all. */
  notes: string[];
  /** Wall time. */
  timing: { seconds: number; retrievalSeconds: number; textSeconds: number; prefillSeconds: number; variantsPerPrompt: number };
}

const OPTION_KEYS = ['heldout', 'tokenizer', 'methods', 'budgets', 'prompts', 'texts', 'seed', 'contextTokens', 'textContextTokens',
  'continuationTokens', 'window', 'onProgress'];
const MAX_ANSWER_TOKENS = 10;
const DEFENSIVE: KVMethod[] = ['defensivekv', 'layer-defensivekv'];

// ---------------------------------------------------------------- prompts (scripts/train-tiny-lm.py's formats)

const SYL_A = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'tr', 'st', 'gr'];
const SYL_B = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ea'];

/** Python's random API over a seeded uniform generator (randint inclusive, randrange exclusive). */
class Rng {
  private readonly u: () => number;
  constructor(seed: number) {
    this.u = seededRandom(seed);
  }
  randint(a: number, b: number): number {
    return a + Math.floor(this.u() * (b - a + 1));
  }
  randrange(n: number): number {
    return Math.floor(this.u() * n);
  }
  choice<T>(xs: readonly T[]): T {
    return xs[this.randrange(xs.length)];
  }
}

function randName(r: Rng): string {
  let s = '';
  const n = r.randint(2, 3);
  for (let i = 0; i < n; i++) s += r.choice(SYL_A) + r.choice(SYL_B);
  return s[0].toUpperCase() + s.slice(1);
}

function randKey(r: Rng): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += r.choice('abcdefghijklmnopqrstuvwxyz'.split(''));
  return s;
}

function randDigits(r: Rng, n: number): string {
  let s = String(r.randint(1, 9));
  for (let i = 1; i < n; i++) s += String(r.randint(0, 9));
  return s;
}

/** A retrieval prompt: the context (compressed), the question (appended after), the answer. */
export interface RetrievalPrompt {
  /** `'niah'` or `'kv'`. */
  kind: 'niah' | 'kv';
  /** Context text (everything before "\nQuestion:"). */
  context: string;
  /** "\nQuestion: ...?\nAnswer:" */
  question: string;
  /** The expected answer (digits). */
  answer: string;
}

/** Verses of held-out text: every line of every blank-line separated chapter but its title line. */
export function heldoutVerses(heldout: string): string[] {
  const out: string[] = [];
  for (const block of heldout.split(/\n\s*\n/)) {
    const lines = block.split('\n').map((l) => l.trim()).filter((l) => l.length);
    out.push(...lines.slice(1));
  }
  return out;
}

/**
 * Needle in a haystack of at most `budget` tokens, needles included (niah_doc of the training script, which counts
 * only the haystack; `used` counts real tokens and stops before a verse would overshoot).
 */
function niahPrompt(r: Rng, verses: string[], tok: Tokenizer, budget: number): RetrievalPrompt {
  const n = r.randint(1, 4);
  const names: string[] = [];
  while (names.length < n) {
    const x = randName(r);
    if (!names.includes(x)) names.push(x);
  }
  const needles = names.map((x) => `The special magic number for ${x} is ${randDigits(r, 7)}.`);
  // start where a full haystack fits (the training script starts anywhere and may run out of verses)
  let start = r.randrange(Math.max(1, verses.length - Math.ceil(budget / 8)));
  const hay: string[] = [];
  let used = needles.reduce((a, nd) => a + tok.encode(nd).length + 1, 0);
  while (start < verses.length) {
    const t = tok.encode(verses[start]).length + 1;
    if (used + t > budget && hay.length > 0) break;
    hay.push(verses[start]);
    used += t;
    start++;
  }
  for (const nd of needles) hay.splice(r.randint(0, hay.length), 0, nd);
  const which = r.randrange(n);
  const answer = needles[which].split(' is ')[1].slice(0, -1);
  return { kind: 'niah', context: hay.join('\n'), question: `\nQuestion: What is the special magic number for ${names[which]}?\nAnswer:`, answer };
}

/** Key-value lookup of at most `budget` tokens (kv_doc of the training script; `used` counts real tokens). */
function kvPrompt(r: Rng, tok: Tokenizer, budget: number): RetrievalPrompt {
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  let used = 0;
  for (;;) {
    const k = randKey(r);
    if (seen.has(k)) continue;
    seen.add(k);
    const v = randDigits(r, 5);
    const t = tok.encode(`${k}: ${v}`).length + 1;
    if (used + t > budget && pairs.length > 0) break;
    pairs.push([k, v]);
    used += t;
  }
  const [k, v] = pairs[r.randrange(pairs.length)];
  return { kind: 'kv', context: pairs.map(([a, b]) => `${a}: ${b}`).join('\n'), question: `\nQuestion: What is the value of ${k}?\nAnswer:`, answer: v };
}

/**
 * The retrieval prompts `evaluateLMEviction` runs: `n` prompts, needle-in-a-haystack at even indices and
 * key-value at odd ones, each context at most a budget drawn uniformly from `range` tokens (counted piece by
 * piece, so the joined context is within a token or two of it), from `seed`.
 */
export function retrievalPrompts(heldout: string, tok: Tokenizer, n: number, seed = 1, range: readonly [number, number] = [500, 1500]): RetrievalPrompt[] {
  const r = new Rng(seed);
  const verses = heldoutVerses(heldout);
  if (verses.length < 10) throw new ArgumentError(`lm-eval: the held-out text has ${verses.length} verses, too few for haystacks`);
  const out: RetrievalPrompt[] = [];
  for (let i = 0; i < n; i++) {
    const budget = r.randint(range[0], range[1]);
    out.push(i % 2 === 0 ? niahPrompt(r, verses, tok, budget) : kvPrompt(r, tok, budget));
  }
  return out;
}

// ---------------------------------------------------------------- evaluation

function argmax(x: Float32Array, off = 0, n = x.length): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
  return best;
}

/** -log softmax(row)[target] of one logits row. */
function nll(x: Float32Array, off: number, n: number, target: number): number {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) mx = Math.max(mx, x[off + i]);
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(x[off + i] - mx);
  return Math.log(z) + mx - x[off + target];
}

/** Greedy answer after the question: exact match as the training script scores it (first line of the stripped text). */
async function answer(s: LMSession, question: number[], tok: Tokenizer, want: string): Promise<boolean> {
  let logits = await s.append(question, { logits: 'last' });
  const out: number[] = [];
  for (let i = 0; i < MAX_ANSWER_TOKENS; i++) {
    out.push(argmax(logits));
    const text = tok.decode(out).replace(/^\s+/, '');
    const line = text.split('\n')[0];
    if (text.includes('\n') || !want.startsWith(line.trimEnd())) break; // settled, or can no longer match
    if (i < MAX_ANSWER_TOKENS - 1) logits = await s.append([out[out.length - 1]], { logits: 'last' });
  }
  return tok.decode(out).trim().split('\n')[0] === want;
}

interface Variant { method: KVMethod | 'full'; budget: number }

interface Acc { correct: number; niah: number; kv: number; loss: number; lossN: number; kept: number; keptN: number }

/** [lo, hi] clipped to `cap` (the model's trained context less room for what follows): hi <= cap, lo <= hi / 2. */
function defaultRange(lo: number, hi: number, cap: number): [number, number] {
  const h = Math.max(4, Math.min(hi, cap));
  return [Math.max(2, Math.min(lo, Math.floor(h / 2))), h];
}

function checkOptions(o: LMEvalOptions, maxPositions: number): Required<Omit<LMEvalOptions, 'tokenizer' | 'onProgress'>> {
  const op = 'evaluateLMEviction';
  if (o === null || typeof o !== 'object') throw new ArgumentError(`${op}: options { heldout, ... } are required`);
  checkKeys(op, 'options', o, OPTION_KEYS);
  if (typeof o.heldout !== 'string' || o.heldout.length === 0) throw new ArgumentError(`${op}: heldout (the held-out text) is required`);
  const methods = o.methods ?? KV_METHODS;
  if (!Array.isArray(methods) || methods.length === 0) throw new ArgumentError(`${op}: methods must be a non-empty array of ${KV_METHODS.join(', ')}`);
  for (const m of methods) if (!KV_METHODS.includes(m)) throw new ArgumentError(`${op}: unknown method ${describe(m)} (methods: ${KV_METHODS.join(', ')})`);
  const budgets = o.budgets ?? [0.1, 0.2, 0.5];
  if (!Array.isArray(budgets) || budgets.length === 0) throw new ArgumentError(`${op}: budgets must be a non-empty array of kept fractions in (0, 1)`);
  for (const b of budgets) {
    if (typeof b !== 'number' || !(b > 0 && b < 1)) throw new ArgumentError(`${op}: budget ${describe(b)} is out of range: budgets are kept fractions of the context in (0, 1) (the full cache always runs)`);
  }
  const int = (name: string, v: unknown, dflt: number, min: number): number => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min) throw new ArgumentError(`${op}: ${name} must be an integer >= ${min}, got ${describe(x)}`);
    return x;
  };
  const range = (name: string, v: unknown, dflt: [number, number]): [number, number] => {
    const x = (v ?? dflt) as number[];
    if (!Array.isArray(x) || x.length !== 2 || x.some((y) => typeof y !== 'number' || !Number.isInteger(y) || y < 2) || x[0] > x[1]) {
      throw new ArgumentError(`${op}: ${name} must be [min, max] token counts (integers >= 2, min <= max), got ${describe(v)}`);
    }
    return [x[0], x[1]];
  };
  const prompts = int('prompts', o.prompts, 200, 0), texts = int('texts', o.texts, 20, 0);
  if (prompts + texts === 0) throw new ArgumentError(`${op}: prompts and texts are both 0: nothing to evaluate`);
  return {
    heldout: o.heldout, methods: [...methods], budgets: [...budgets], prompts, texts,
    seed: int('seed', o.seed, 1, 0), contextTokens: range('contextTokens', o.contextTokens, defaultRange(500, 1500, maxPositions - 64)),
    textContextTokens: range('textContextTokens', o.textContextTokens, defaultRange(512, 1024, maxPositions - 129)),
    continuationTokens: int('continuationTokens', o.continuationTokens, 128, 2), window: int('window', o.window, 32, 1),
  };
}

/**
 * Runs the retrieval and text evaluation (module doc) of every method x budget and the full cache on `lm`.
 * Each prompt is prefilled once; every variant forks that session. Bad options (unknown method, budget out of
 * (0, 1), no tokenizer, ...) are ArgumentErrors.
 */
export async function evaluateLMEviction(lm: Transformer, options: LMEvalOptions): Promise<LMEvalResult> {
  const o = checkOptions(options, (lm as Partial<Transformer> | undefined)?.config?.maxPositionEmbeddings ?? 2048);
  const tok = options.tokenizer ?? lm.tokenizer;
  if (!tok) throw new ArgumentError('evaluateLMEviction: the model has no tokenizer; give options.tokenizer');
  const progress = options.onProgress;
  if (progress !== undefined && typeof progress !== 'function') throw new ArgumentError('evaluateLMEviction: onProgress must be a function');
  const eos = tok.eosTokenId ?? lm.config.vocabSize - 1;
  const V = lm.config.vocabSize;
  const variants: Variant[] = [];
  for (const method of o.methods) for (const budget of o.budgets) variants.push({ method, budget });
  const acc = new Map<string, Acc>();
  const key = (v: Variant) => `${v.method}@${v.budget}`;
  for (const v of [{ method: 'full' as const, budget: 1 }, ...variants]) acc.set(key(v), { correct: 0, niah: 0, kv: 0, loss: 0, lossN: 0, kept: 0, keptN: 0 });
  const t0 = performance.now();
  const secs = () => (performance.now() - t0) / 1000;
  let prefillMs = 0;

  /** Runs `fn` on a fork of `base` compressed to each variant (and on base itself, last, for the full cache). */
  const eachVariant = async (base: LMSession, n: number, fn: (s: LMSession, a: Acc) => Promise<void>) => {
    for (const v of variants) {
      const s = base.fork();
      s.untrackAfterEvict(); // one eviction per fork: its appends need keep no queries (no read-back per step)
      try {
        await s.evict({ method: v.method as KVMethod, keepTokens: Math.max(1, Math.floor(n * v.budget + 1e-9)), window: Math.min(o.window, n - 1) });
        const a = acc.get(key(v))!;
        const lens = s.cacheLengths.flat();
        a.kept += lens.reduce((x, y) => x + y, 0) / (lens.length * n);
        a.keptN++;
        await fn(s, a);
      } finally {
        s.dispose();
      }
    }
    const a = acc.get('full@1')!;
    a.kept += 1;
    a.keptN++;
    await fn(base, a);
  };

  // retrieval
  const prompts = retrievalPrompts(o.heldout, tok, o.prompts, o.seed, o.contextTokens);
  const ctxLens: number[] = [];
  let pastContext = 0; // prompts whose context + question + answer run past max_position_embeddings
  const tr0 = performance.now();
  for (let i = 0; i < prompts.length; i++) {
    const p = prompts[i];
    const ctx = [eos, ...tok.encode(p.context)];
    const question = tok.encode(p.question);
    ctxLens.push(ctx.length);
    if (ctx.length + question.length + MAX_ANSWER_TOKENS > lm.config.maxPositionEmbeddings) pastContext++;
    const tp = performance.now();
    const base = await lm.prefill(ctx, { window: o.window });
    prefillMs += performance.now() - tp;
    try {
      await eachVariant(base, ctx.length, async (s, a) => {
        if (await answer(s, question, tok, p.answer)) {
          a.correct++;
          if (p.kind === 'niah') a.niah++;
          else a.kv++;
        }
      });
    } finally {
      base.dispose();
    }
    progress?.({ task: 'retrieval', done: i + 1, total: prompts.length, seconds: secs() });
  }
  const retrievalSeconds = (performance.now() - tr0) / 1000;

  // text continuations
  const r = new Rng(o.seed + 7919);
  const textLens: number[] = [];
  const tt0 = performance.now();
  if (o.texts > 0) {
    const ids = tok.encode(o.heldout);
    const T = o.continuationTokens;
    if (ids.length < o.textContextTokens[1] + T + 1) throw new ArgumentError(`evaluateLMEviction: the held-out text has ${ids.length} tokens, fewer than a text sample needs (${o.textContextTokens[1] + T + 1})`);
    for (let i = 0; i < o.texts; i++) {
      const n = r.randint(o.textContextTokens[0], o.textContextTokens[1]);
      const at = r.randrange(ids.length - n - T);
      const ctx = ids.slice(at, at + n), cont = ids.slice(at + n, at + n + T);
      textLens.push(n);
      const tp = performance.now();
      const base = await lm.prefill(ctx, { window: o.window });
      prefillMs += performance.now() - tp;
      try {
        await eachVariant(base, n, async (s, a) => {
          const logits = await s.append(cont.slice(0, T - 1));
          for (let j = 0; j < T - 1; j++) a.loss += nll(logits, j * V, V, cont[j + 1]);
          a.lossN += T - 1;
        });
      } finally {
        base.dispose();
      }
      progress?.({ task: 'text', done: i + 1, total: o.texts, seconds: secs() });
    }
  }
  const textSeconds = (performance.now() - tt0) / 1000;

  const nNiah = prompts.filter((p) => p.kind === 'niah').length, nKv = prompts.length - nNiah;
  const row = (v: Variant): LMEvalRow => {
    const a = acc.get(key(v))!;
    const loss = a.lossN ? a.loss / a.lossN : NaN;
    return {
      method: v.method, budget: v.budget, correct: a.correct,
      accuracy: prompts.length ? a.correct / prompts.length : NaN,
      niahAccuracy: nNiah ? a.niah / nNiah : NaN, kvAccuracy: nKv ? a.kv / nKv : NaN,
      accuracyDrop: 0, loss, lossIncrease: 0, perplexity: Math.exp(loss), kept: a.keptN ? a.kept / a.keptN : NaN,
    };
  };
  const full = row({ method: 'full', budget: 1 });
  const rows = [full, ...variants.map(row)];
  for (const x of rows) {
    x.accuracyDrop = full.accuracy - x.accuracy;
    x.lossIncrease = x.loss - full.loss;
  }
  const comparison = compare(rows, 0.2);
  const notes = readNotes(full, rows, prompts.length, o.texts, comparison);
  if (pastContext > 0) {
    notes.push(`${pastContext} of ${prompts.length} retrieval prompts run past the model's max_position_embeddings ` +
      `(${lm.config.maxPositionEmbeddings}) with their question and answer: contextTokens was set beyond the default`);
  }
  const stats = (xs: number[]) => ({ min: xs.length ? Math.min(...xs) : 0, max: xs.length ? Math.max(...xs) : 0, mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0 });
  const c = lm.config;
  return {
    model: { architecture: c.architecture, layers: c.numLayers, hidden: c.hiddenSize, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, vocab: c.vocabSize, backend: lm.runtime.backend },
    protocol: {
      prompts: prompts.length, niahPrompts: nNiah, kvPrompts: nKv, texts: o.texts, seed: o.seed, window: o.window,
      contextTokens: stats(ctxLens), textContextTokens: stats(textLens), continuationTokens: o.continuationTokens,
      methods: [...o.methods], budgets: [...o.budgets],
    },
    rows, comparison, notes,
    timing: { seconds: secs(), retrievalSeconds, textSeconds, prefillSeconds: prefillMs / 1000, variantsPerPrompt: variants.length + 1 },
  };
}

/** DefensiveKV and Layer-DefensiveKV vs the best other method at `budget`. */
function compare(rows: LMEvalRow[], budget: number): LMEvalComparison[] {
  const at = rows.filter((r) => r.method !== 'full' && Math.abs(r.budget - budget) < 1e-9);
  const base = at.filter((r) => !DEFENSIVE.includes(r.method as KVMethod));
  if (!base.length) return [];
  const bestAcc = base.reduce((a, b) => (b.accuracyDrop < a.accuracyDrop ? b : a));
  const bestText = base.reduce((a, b) => (b.lossIncrease < a.lossIncrease ? b : a));
  const ratio = (b: number, m: number) => (Number.isFinite(b) && Number.isFinite(m) && m > 0 && b >= 0 ? b / m : null);
  return at.filter((r) => DEFENSIVE.includes(r.method as KVMethod)).map((r) => ({
    method: r.method as KVMethod, budget,
    accuracyDrop: r.accuracyDrop, bestBaseline: bestAcc.method as KVMethod, baselineAccuracyDrop: bestAcc.accuracyDrop,
    accuracyRatio: ratio(bestAcc.accuracyDrop, r.accuracyDrop),
    lossIncrease: r.lossIncrease, bestBaselineText: bestText.method as KVMethod, baselineLossIncrease: bestText.lossIncrease,
    lossRatio: ratio(bestText.lossIncrease, r.lossIncrease),
  }));
}

/** What the numbers can and cannot say. */
function readNotes(full: LMEvalRow, rows: LMEvalRow[], prompts: number, texts: number, cmp: LMEvalComparison[]): string[] {
  const notes: string[] = [];
  if (prompts > 0) {
    const p = full.accuracy;
    const se = Math.sqrt(Math.max(p * (1 - p), 0.25 / prompts) / prompts);
    notes.push(`retrieval: full-cache accuracy ${(100 * p).toFixed(1)} % over ${prompts} prompts; one standard error of an accuracy is about ${(100 * se).toFixed(1)} points, so drops differing by less than ~${(100 * 2 * Math.SQRT2 * se).toFixed(1)} points do not rank methods`);
    if (p < 0.2) notes.push('the model barely solves the retrieval task with the full cache: accuracy drops cannot rank the methods (a model too small or too briefly trained)');
  } else notes.push('retrieval: not run (0 prompts)');
  if (texts === 0) notes.push('text: not run (0 samples)');
  if (cmp.length === 0) notes.push('comparison: needs budget 0.2, a defensive method and at least one baseline in the run');
  for (const c of cmp) {
    if (c.accuracyRatio === null) {
      notes.push(`${c.method} at ${c.budget * 100} %: accuracy drop ${(100 * c.accuracyDrop).toFixed(1)} points vs ${(100 * c.baselineAccuracyDrop).toFixed(1)} for the best baseline (${c.bestBaseline}); the ratio is undefined (a drop <= 0)`);
    }
  }
  const spread = rows.filter((r) => r.method !== 'full').map((r) => r.accuracy);
  if (prompts > 0 && spread.length && Math.max(...spread) - Math.min(...spread) === 0) notes.push('every method x budget has the same accuracy: the evaluation does not separate the methods here');
  return notes;
}

/** The evaluation as text: a methods x budgets table of accuracy and loss increase, then the comparison and notes. */
export function formatLMEval(res: LMEvalResult): string {
  const { rows, protocol: p } = res;
  const full = rows[0];
  const pct = (x: number) => (Number.isNaN(x) ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);
  const dl = (x: number) => (Number.isNaN(x) ? '   -   ' : `${x >= 0 ? '+' : ''}${x.toFixed(3)}`.padStart(7));
  const lines: string[] = [];
  const m = res.model;
  lines.push(`${m.architecture}: ${m.layers} layers, hidden ${m.hidden}, ${m.heads} heads / ${m.kvHeads} KV heads x ${m.headDim}, vocab ${m.vocab}; backend ${m.backend}`);
  lines.push(`retrieval: ${p.prompts} prompts (${p.niahPrompts} needle-in-a-haystack, ${p.kvPrompts} key-value), contexts ${p.contextTokens.min}-${p.contextTokens.max} tokens (mean ${p.contextTokens.mean.toFixed(0)}), compressed without the question, greedy answer, exact match`);
  lines.push(`text: ${p.texts} held-out continuations, contexts ${p.textContextTokens.min}-${p.textContextTokens.max} tokens, loss of ${p.continuationTokens - 1} fed tokens (nats/token); window ${p.window}, seed ${p.seed}`);
  lines.push('');
  lines.push(`full cache: accuracy ${pct(full.accuracy)} (NIAH ${pct(full.niahAccuracy)}, KV ${pct(full.kvAccuracy)}), text loss ${Number.isNaN(full.loss) ? '-' : full.loss.toFixed(3)} (perplexity ${Number.isNaN(full.perplexity) ? '-' : full.perplexity.toFixed(2)})`);
  lines.push('');
  const head = ['method'.padEnd(18), ...p.budgets.map((b) => `${`${Math.round(b * 100)}% acc`.padStart(9)} ${'Δloss'.padStart(7)}`)].join(' | ');
  lines.push(head);
  lines.push('-'.repeat(head.length));
  for (const method of p.methods) {
    const cells = p.budgets.map((b) => {
      const r = rows.find((x) => x.method === method && x.budget === b)!;
      return `${pct(r.accuracy).padStart(9)} ${dl(r.lossIncrease)}`;
    });
    lines.push([method.padEnd(18), ...cells].join(' | '));
  }
  lines.push('');
  lines.push('acc: retrieval exact match; Δloss: text loss increase over the full cache (nats/token).');
  for (const c of res.comparison) {
    const r = (x: number | null) => (x === null ? 'undefined' : `${x.toFixed(2)}x`);
    lines.push(`${c.method} at a ${c.budget * 100}% cache: accuracy drop ${(100 * c.accuracyDrop).toFixed(1)} points vs ${(100 * c.baselineAccuracyDrop).toFixed(1)} for the best baseline (${c.bestBaseline}): ` +
      `${r(c.accuracyRatio)} less quality loss; text loss +${c.lossIncrease.toFixed(4)} vs +${c.baselineLossIncrease.toFixed(4)} (${c.bestBaselineText}): ${r(c.lossRatio)} (paper: DefensiveKV 2.3x, Layer-DefensiveKV 4.3x)`);
  }
  for (const n of res.notes) lines.push(`note: ${n}`);
  const t = res.timing;
  lines.push(`(${t.seconds.toFixed(1)} s: retrieval ${t.retrievalSeconds.toFixed(1)} s, text ${t.textSeconds.toFixed(1)} s, of which prefill ${t.prefillSeconds.toFixed(1)} s; ${t.variantsPerPrompt} caches per prompt)`);
  return lines.join('\n');
}
