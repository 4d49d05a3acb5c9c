// Reads a Hugging Face `tokenizer.json` of the byte-level BPE kind (GPT-2, RoBERTa, SmolLM, Qwen2, Llama 3,
// and the bundled tiny model's) and encodes / decodes text with it in any JavaScript runtime.
//
// Supported: model `BPE` (vocab + merges as "a b" strings or [a, b] pairs, optional `ignore_merges`);
// pre-tokenizer `ByteLevel` (with or without GPT-2's regex, `add_prefix_space`), `Split` (a Regex or String
// pattern, behavior `Isolated` or `Removed`), or a `Sequence` of those; normalizer none or a Unicode normal form
// (NFC, NFD, NFKC, NFKD, or a Sequence of them); decoder `ByteLevel`; added tokens (special or not) matched
// literally in the text before pre-tokenization. `encode` adds no BOS/EOS (the post-processor is not run: as
// `add_special_tokens=False`). Anything else is a TokenizerError naming what is not supported.
//
// Regexes are written in the Rust / Oniguruma dialect `tokenizers` uses; they run here as JavaScript regexes
// with the `u` flag (`\p{L}`, `\p{N}` work as-is). `\s` and `\S` are rewritten to Python's definition of
// whitespace (str.isspace: U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029,
// U+202F, U+205F, U+3000), so the bundled tokenizer gives exactly the ids of scripts/train-tiny-lm.py's Python
// Tokenizer; Hugging Face `tokenizers` differs from both only on U+001C-001F (not whitespace there) and
// JavaScript's own `\s` on U+0085 and U+FEFF.
import { LimitError } from '../errors.js';
import { TokenizerError } from './errors.js';

/** A loaded tokenizer (from `loadTokenizer`). */
export interface Tokenizer {
  /** Token ids of `text` (no BOS/EOS added). Added tokens (e.g. `<|endoftext|>`) written in the text become their id. */
  encode(text: string): number[];
  /**
   * The text of `ids`: byte-level tokens joined and read as UTF-8 (invalid sequences become U+FFFD). Special
   * tokens are left out unless `skipSpecialTokens` is false. Ids outside the vocabulary are a TokenizerError
   * (`feature` 'decode').
   */
  decode(ids: ArrayLike<number>, options?: { skipSpecialTokens?: boolean }): string;
  /** Ids the tokenizer knows: one more than the largest id of the vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** The end-of-text token's id when the tokenizer has one (`<|endoftext|>`, `</s>`, `<|end_of_text|>`, `<|im_end|>`, `<eos>`). */
  readonly eosTokenId?: number;
  /** Id of a token string (byte-level form for vocabulary entries, e.g. `'Ġthe'`), or undefined. */
  tokenToId(token: string): number | undefined;
  /** Token string of an id, or undefined. */
  idToToken(id: number): string | undefined;
}

/** Python's `str.isspace()` characters, as the inside of a regex character class. */
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** GPT-2's pre-tokenizer pattern (ByteLevel with use_regex true). */
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Most vocabulary entries, merges and added tokens a tokenizer.json may hold (each): 2^21. */
export const MAX_TOKENIZER_ENTRIES = 2 ** 21;
/** Token ids are integers in 0..MAX_TOKEN_ID - 1. */
export const MAX_TOKEN_ID = 2 ** 31;

function isTokenId(id: unknown): id is number {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < MAX_TOKEN_ID;
}

function checkCount(n: number, what: string): void {
  if (n > MAX_TOKENIZER_ENTRIES) throw new LimitError(`tokenizer.json: ${n} ${what} is more than the limit of ${MAX_TOKENIZER_ENTRIES}`);
}

/** Special tokens that end a text, in the order they are looked for. */
const EOS_NAMES = ['<|endoftext|>', '</s>', '<|end_of_text|>', '<|im_end|>', '<|eot_id|>', '<eos>'];

/** GPT-2's reversible byte -> printable character map (what ByteLevel uses). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map;
}
const BYTE_CHAR = bytesToUnicode();
const CHAR_BYTE = new Map(BYTE_CHAR.map((c, b) => [c, b]));

/**
 * A tokenizers-dialect regex as a JavaScript regex (flags `gu`): `\s` / `\S` become Python's whitespace
 * class (inside a character class `\s` adds its ranges; `\S` there is not supported).
 */
function translateRegex(pattern: string, where: string): RegExp {
  let out = '', inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\' && i + 1 < pattern.length) {
      const nx = pattern[i + 1];
      if (nx === 's') out += inClass ? PY_SPACE : `[${PY_SPACE}]`;
      else if (nx === 'S') {
        if (inClass) throw new TokenizerError(where, `regex ${JSON.stringify(pattern)}: \\S inside a character class is not supported`);
        out += `[^${PY_SPACE}]`;
      } else out += ch + nx;
      i++;
      continue;
    }
    if (!inClass && pattern.startsWith('(?i:', i)) {
      const end = pattern.indexOf(')', i);
      out += caseInsensitiveGroup(pattern.slice(i + 4, end < 0 ? pattern.length : end), pattern, where);
      i = end < 0 ? pattern.length : end;
      continue;
    }
    if (ch === '[' && !inClass) inClass = true;
    else if (ch === ']' && inClass) inClass = false;
    out += ch;
  }
  return compileRegex(out, where, pattern);
}

/**
 * `(?i:'s|'t|'re|...)` (Qwen2's and Llama 3's contractions; inline flag groups are a SyntaxError in Node 20's
 * RegExp) as a plain group whose letters are classes of their case variants: `(?:'[sS\u017f]|'[tT]|'[rR][eE]|...)`,
 * each class holding what the `iu` flags would match (Unicode simple case folding: `s` also matches U+017F, `k`
 * U+212A). Only a body of literal alternatives is supported: anything else is a TokenizerError.
 */
function caseInsensitiveGroup(body: string, pattern: string, where: string): string {
  if (/[\\()[\]{}.*+?^$]/.test(body) || body === '') {
    throw new TokenizerError(where, `regex ${JSON.stringify(pattern)}: a (?i:...) group is supported only around literal alternatives (like (?i:'s|'t|'re))`);
  }
  let out = '(?:';
  for (const ch of body) {
    if (ch === '|') {
      out += ch;
      continue;
    }
    const same = new RegExp(`^${escapeRegex(ch)}$`, 'iu');
    const variants = new Set([ch]);
    for (const c of [ch.toLowerCase(), ch.toUpperCase(), ...(CASE_EXTRA[ch.toLowerCase()] ?? '')]) {
      if ([...c].length === 1 && same.test(c)) variants.add(c);
    }
    out += variants.size === 1 ? escapeRegex(ch) : `[${[...variants].join('')}]`;
  }
  return `${out})`;
}

/** Characters that fold to an ASCII letter besides its other case (Unicode CaseFolding.txt, simple foldings). */
const CASE_EXTRA: Record<string, string> = { s: '\u017f', k: '\u212a' };

/**
 * `s` as a literal regex source for the `u` flag: only syntax characters (and `/`) are escaped; `-` is not, as
 * `\-` outside a character class is a SyntaxError under `u`.
 */
function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** `new RegExp(source, 'gu')`, a failure to compile being a TokenizerError naming `where` and the pattern. */
function compileRegex(source: string, where: string, pattern: string): RegExp {
  try {
    return new RegExp(source, 'gu');
  } catch (e) {
    throw new TokenizerError(where, `regex ${JSON.stringify(pattern)} does not compile as a JavaScript regex (${(e as Error).message})`);
  }
}

/** One pre-tokenization step: pieces in, pieces out. */
type PreStep = (pieces: string[]) => string[];

/** Splits each piece by `re`: matches and the text between them become pieces (`Isolated`), or only the text between (`Removed`). */
function splitStep(re: RegExp, behavior: 'Isolated' | 'Removed'): PreStep {
  return (pieces) => {
    const out: string[] = [];
    for (const p of pieces) {
      let last = 0;
      re.lastIndex = 0;
      for (let m = re.exec(p); m !== null; m = re.exec(p)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        if (m.index > last) out.push(p.slice(last, m.index));
        if (behavior === 'Isolated') out.push(m[0]);
        last = m.index + m[0].length;
      }
      if (last < p.length) out.push(p.slice(last));
    }
    return out;
  };
}

/** Reads a pre_tokenizer entry into steps; `byteLevel` is set when a ByteLevel step is found (bytes are mapped after all steps). */
function preSteps(p: unknown, where: string, st: { byteLevel: boolean; prefixSpace: boolean }): PreStep[] {
  if (p === null || p === undefined) return [];
  if (typeof p !== 'object' || Array.isArray(p)) throw new TokenizerError(where, `${where} must be an object, got ${JSON.stringify(p)}`);
  const o = p as Record<string, unknown>;
  switch (o.type) {
    case 'Sequence': {
      if (!Array.isArray(o.pretokenizers)) throw new TokenizerError(where, `${where}.pretokenizers must be an array`);
      return o.pretokenizers.flatMap((q, i) => preSteps(q, `${where}.pretokenizers[${i}]`, st));
    }
    case 'ByteLevel': {
      if (st.byteLevel) throw new TokenizerError(where, `${where}: more than one ByteLevel pre-tokenizer is not supported`);
      st.byteLevel = true;
      st.prefixSpace = o.add_prefix_space === true;
      return o.use_regex === false ? [] : [splitStep(translateRegex(GPT2_PATTERN, where), 'Isolated')];
    }
    case 'Split': {
      const pat = o.pattern as Record<string, unknown> | undefined;
      let re: RegExp;
      if (pat && typeof pat.Regex === 'string') re = translateRegex(pat.Regex, where);
      else if (pat && typeof pat.String === 'string') re = compileRegex(escapeRegex(pat.String), where, pat.String);
      else throw new TokenizerError(where, `${where}.pattern must be { Regex } or { String }, got ${JSON.stringify(o.pattern)}`);
      if (o.invert === true) throw new TokenizerError(where, `${where}: Split with invert true is not supported`);
      if (o.behavior !== 'Isolated' && o.behavior !== 'Removed') {
        throw new TokenizerError(where, `${where}: Split behavior ${JSON.stringify(o.behavior)} is not supported (Isolated, Removed)`);
      }
      return [splitStep(re, o.behavior)];
    }
    default:
      throw new TokenizerError(where, `pre-tokenizer type ${JSON.stringify(o.type)} is not supported (ByteLevel, Split, Sequence of them: byte-level BPE only)`);
  }
}

/** The normalizer as a function (Unicode normal forms only). */
function normalizer(n: unknown): (s: string) => string {
  if (n === null || n === undefined) return (s) => s;
  const o = n as Record<string, unknown>;
  if (o.type === 'Sequence' && Array.isArray(o.normalizers)) {
    const fs = o.normalizers.map(normalizer);
    return (s) => fs.reduce((x, f) => f(x), s);
  }
  if (o.type === 'NFC' || o.type === 'NFD' || o.type === 'NFKC' || o.type === 'NFKD') {
    const form = o.type;
    return (s) => s.normalize(form);
  }
  throw new TokenizerError('normalizer', `normalizer ${JSON.stringify(o.type)} is not supported (none, NFC, NFD, NFKC, NFKD, Sequence of them)`);
}

interface AddedToken { id: number; content: string; special: boolean; lstrip: boolean; rstrip: boolean }

class ByteLevelBPE implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenId?: number;
  private readonly vocab: Map<string, number>;
  private readonly tokens = new Map<number, string>();
  private readonly ranks = new Map<string, number>();
  private readonly added: AddedToken[];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedRe?: RegExp;
  private addedOrder: AddedToken[] = [];
  private readonly steps: PreStep[];
  private readonly prefixSpace: boolean;
  private readonly normalize: (s: string) => string;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(j: Record<string, unknown>) {
    const model = j.model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') throw new TokenizerError('model', 'model is missing');
    if (model.type !== 'BPE') throw new TokenizerError('model.type', `model type ${JSON.stringify(model.type)} is not supported (BPE only)`);
    if (model.byte_fallback === true) throw new TokenizerError('model.byte_fallback', 'BPE with byte_fallback (SentencePiece-style) is not supported: byte-level BPE only');
    for (const f of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
      if (model[f] !== null && model[f] !== undefined && model[f] !== '') throw new TokenizerError(`model.${f}`, `BPE ${f} ${JSON.stringify(model[f])} is not supported`);
    }
    if (typeof model.dropout === 'number' && model.dropout > 0) throw new TokenizerError('model.dropout', 'BPE dropout is not supported');
    this.ignoreMerges = model.ignore_merges === true;
    const v = model.vocab;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError('model.vocab', 'model.vocab must be an object { token: id }');
    this.vocab = new Map();
    const entries = Object.entries(v as Record<string, unknown>);
    checkCount(entries.length, 'vocabulary entries');
    let size = 0;
    for (const [t, id] of entries) {
      if (!isTokenId(id)) throw new TokenizerError('model.vocab', `vocab entry ${JSON.stringify(t)} has id ${JSON.stringify(id)}, not an integer in 0..${MAX_TOKEN_ID - 1}`);
      const other = this.tokens.get(id);
      if (other !== undefined) throw new TokenizerError('model.vocab', `vocab entries ${JSON.stringify(other)} and ${JSON.stringify(t)} have the same id ${id}`);
      this.vocab.set(t, id);
      this.tokens.set(id, t);
      size = Math.max(size, id + 1);
    }
    if (!Array.isArray(model.merges)) throw new TokenizerError('model.merges', 'model.merges must be an array');
    checkCount(model.merges.length, 'merges');
    model.merges.forEach((m, r) => {
      let pair: [string, string];
      if (typeof m === 'string') {
        const sp = m.indexOf(' ', 1);
        if (sp < 0) throw new TokenizerError('model.merges', `merge ${r} ${JSON.stringify(m)} is not "a b"`);
        pair = [m.slice(0, sp), m.slice(sp + 1)];
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') pair = [m[0], m[1]];
      else throw new TokenizerError('model.merges', `merge ${r} is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
      const key = `${pair[0]} ${pair[1]}`;
      if (!this.ranks.has(key)) this.ranks.set(key, r);
    });
    const st = { byteLevel: false, prefixSpace: false };
    this.steps = preSteps(j.pre_tokenizer, 'pre_tokenizer', st);
    if (!st.byteLevel) throw new TokenizerError('pre_tokenizer', 'no ByteLevel pre-tokenizer: only byte-level BPE tokenizers are supported');
    this.prefixSpace = st.prefixSpace;
    const dec = j.decoder as Record<string, unknown> | null | undefined;
    if (dec !== null && dec !== undefined && dec.type !== 'ByteLevel') {
      throw new TokenizerError('decoder', `decoder ${JSON.stringify(dec.type)} is not supported (ByteLevel)`);
    }
    this.normalize = normalizer(j.normalizer);
    this.added = [];
    const at = j.added_tokens ?? [];
    if (!Array.isArray(at)) throw new TokenizerError('added_tokens', 'added_tokens must be an array');
    checkCount(at.length, 'added tokens');
    at.forEach((a, i) => {
      const o = a as Record<string, unknown>;
      if (o === null || typeof o !== 'object' || typeof o.content !== 'string' || o.content === '' || !isTokenId(o.id)) {
        throw new TokenizerError('added_tokens', `added_tokens[${i}] must be { id, content, ... } with an integer id in 0..${MAX_TOKEN_ID - 1}, got ${JSON.stringify(a)}`);
      }
      const other = this.addedById.get(o.id);
      if (other) throw new TokenizerError('added_tokens', `added tokens ${JSON.stringify(other.content)} and ${JSON.stringify(o.content)} have the same id ${o.id}`);
      if (o.single_word === true) throw new TokenizerError('added_tokens', `added token ${JSON.stringify(o.content)}: single_word is not supported`);
      const t: AddedToken = { id: o.id, content: o.content, special: o.special === true, lstrip: o.lstrip === true, rstrip: o.rstrip === true };
      this.added.push(t);
      this.addedById.set(t.id, t);
    });
    if (this.added.length) {
      // longest first, so a token that contains another wins
      this.addedOrder = [...this.added].sort((a, b) => b.content.length - a.content.length);
      const alts = this.addedOrder.map((t) => `(${t.lstrip ? `[${PY_SPACE}]*` : ''}${escapeRegex(t.content)}${t.rstrip ? `[${PY_SPACE}]*` : ''})`);
      this.addedRe = compileRegex(alts.join('|'), 'added_tokens', this.addedOrder.map((t) => t.content).join('|'));
    }
    for (const t of this.added) size = Math.max(size, t.id + 1);
    this.vocabSize = size;
    for (const name of EOS_NAMES) {
      const t = this.added.find((x) => x.content === name);
      if (t) {
        this.eosTokenId = t.id;
        break;
      }
    }
  }

  tokenToId(token: string): number | undefined {
    const a = this.added.find((t) => t.content === token);
    return a ? a.id : this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.tokens.get(id);
  }

  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError('encode', `encode needs a string, got ${text === null ? 'null' : typeof text}`);
    const out: number[] = [];
    if (!this.addedRe) {
      this.encodeText(text, out);
      return out;
    }
    let last = 0;
    const re = this.addedRe;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > last) this.encodeText(text.slice(last, m.index), out);
      // the capture group that matched says which added token it is
      out.push(this.addedOrder[m.slice(1).findIndex((g) => g !== undefined)].id);
      last = m.index + m[0].length;
    }
    if (last < text.length) this.encodeText(text.slice(last), out);
    return out;
  }

  decode(ids: ArrayLike<number>, options?: { skipSpecialTokens?: boolean }): string {
    const skip = options?.skipSpecialTokens ?? true;
    const bytes: number[] = [];
    let text = '';
    const flush = () => {
      if (bytes.length) text += new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
      bytes.length = 0;
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const a = this.addedById.get(id);
      if (a) {
        if (a.special && skip) continue;
        flush();
        text += a.content;
        continue;
      }
      const t = typeof id === 'number' ? this.tokens.get(id) : undefined;
      if (t === undefined) throw new TokenizerError('decode', `decode: id ${i} is ${JSON.stringify(id)}, not a token id of this tokenizer (0..${this.vocabSize - 1})`);
      for (const ch of t) {
        const b = CHAR_BYTE.get(ch);
        if (b === undefined) {
          flush();
          text += ch;
        } else bytes.push(b);
      }
    }
    flush();
    return text;
  }

  /** Normalises, pre-tokenizes and BPE-encodes text that holds no added token. */
  private encodeText(text: string, out: number[]): void {
    let s = this.normalize(text);
    if (this.prefixSpace && s.length && !/^[ ]/.test(s)) s = ` ${s}`;
    let pieces = [s];
    for (const step of this.steps) pieces = step(pieces);
    for (const p of pieces) if (p.length) for (const id of this.word(p)) out.push(id);
  }

  /**
   * BPE of one pre-token: its UTF-8 bytes as byte-level symbols, merged lowest rank first (leftmost on ties) until no
   * merge applies. The adjacent pairs that have a rank sit in a binary heap ordered by (rank, position), so a piece of
   * n bytes takes O(n log n), not O(n^2): popped pairs that a merge has since changed are skipped. Pieces up to
   * CACHE_PIECE characters are cached.
   */
  private word(piece: string): number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    const bytes = new TextEncoder().encode(piece);
    const n = bytes.length;
    // symbols by the index of their first byte: sym[i] the text, next/prev the neighbours (-1: none), len the bytes
    const sym: string[] = Array.from(bytes, (b) => BYTE_CHAR[b]);
    const whole = sym.join('');
    let out: string[];
    if (n > 1 && !(this.ignoreMerges && this.vocab.has(whole))) {
      const next = new Int32Array(n), prev = new Int32Array(n), len = new Int32Array(n).fill(1);
      for (let i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
      }
      const heap = new PairHeap();
      const push = (i: number, j: number) => {
        const r = this.ranks.get(`${sym[i]} ${sym[j]}`);
        if (r !== undefined) heap.push(r, i, len[i], len[j]);
      };
      for (let i = 0; i + 1 < n; i++) push(i, i + 1);
      while (heap.size) {
        const i = heap.topPos, lenI = heap.topLenL, lenJ = heap.topLenR;
        heap.pop();
        // the pair is still there when both symbols have their lengths of then (the left one's start never moves, so
        // equal lengths are equal texts); else a merge has changed it (or merged i away: len 0) since it was pushed
        const j = next[i];
        if (len[i] !== lenI || j < 0 || len[j] !== lenJ) continue;
        sym[i] += sym[j];
        len[i] += len[j];
        len[j] = 0;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0) push(prev[i], i);
        if (next[i] >= 0) push(i, next[i]);
      }
      out = [];
      for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    } else out = n > 1 ? [whole] : sym;
    const ids = out.map((t) => {
      const id = this.vocab.get(t);
      if (id === undefined) throw new TokenizerError('model.vocab', `token ${JSON.stringify(t)} (from ${JSON.stringify(piece.length > 100 ? `${piece.slice(0, 100)}...` : piece)}) is not in the vocabulary`);
      return id;
    });
    if (piece.length <= CACHE_PIECE && this.cache.size < 100_000) this.cache.set(piece, ids);
    return ids;
  }
}

/** Longest pre-token (in UTF-16 units) whose ids are cached: longer ones are rare and would hold much memory. */
const CACHE_PIECE = 256;

/** A binary min-heap of mergeable pairs keyed by (rank, position of the left symbol), with both symbols' lengths for staleness checks. */
class PairHeap {
  private rank: number[] = [];
  private pos: number[] = [];
  private lenL: number[] = [];
  private lenR: number[] = [];
  size = 0;

  get topPos(): number {
    return this.pos[0];
  }

  get topLenL(): number {
    return this.lenL[0];
  }

  get topLenR(): number {
    return this.lenR[0];
  }

  private less(a: number, b: number): boolean {
    return this.rank[a] < this.rank[b] || (this.rank[a] === this.rank[b] && this.pos[a] < this.pos[b]);
  }

  private swap(a: number, b: number): void {
    const r = this.rank[a], p = this.pos[a], ll = this.lenL[a], lr = this.lenR[a];
    this.rank[a] = this.rank[b];
    this.pos[a] = this.pos[b];
    this.lenL[a] = this.lenL[b];
    this.lenR[a] = this.lenR[b];
    this.rank[b] = r;
    this.pos[b] = p;
    this.lenL[b] = ll;
    this.lenR[b] = lr;
  }

  push(rank: number, pos: number, lenL: number, lenR: number): void {
    let k = this.size++;
    this.rank[k] = rank;
    this.pos[k] = pos;
    this.lenL[k] = lenL;
    this.lenR[k] = lenR;
    while (k > 0) {
      const up = (k - 1) >> 1;
      if (!this.less(k, up)) break;
      this.swap(k, up);
      k = up;
    }
  }

  pop(): void {
    const last = --this.size;
    if (last > 0) {
      this.rank[0] = this.rank[last];
      this.pos[0] = this.pos[last];
      this.lenL[0] = this.lenL[last];
      this.lenR[0] = this.lenR[last];
      let k = 0;
      for (;;) {
        const l = 2 * k + 1, r = l + 1;
        let m = k;
        if (l < last && this.less(l, m)) m = l;
        if (r < last && this.less(r, m)) m = r;
        if (m === k) break;
        this.swap(k, m);
        k = m;
      }
    }
    this.rank.length = this.pos.length = this.lenL.length = this.lenR.length = last;
  }
}

/**
 * Loads a Hugging Face `tokenizer.json` (a parsed object, its text, or its bytes) of a byte-level BPE
 * tokenizer. Throws TokenizerError (naming the part) for bytes that are not JSON, a model other than BPE,
 * a pre-tokenizer other than ByteLevel / Split / Sequence of them, a decoder other than ByteLevel, and
 * options not supported (byte_fallback, subword prefixes, dropout, Split invert, single_word added tokens).
 */
export function loadTokenizer(json: object | string | Uint8Array | ArrayBuffer): Tokenizer {
  let j: unknown = json;
  if (json instanceof Uint8Array || json instanceof ArrayBuffer || typeof json === 'string') {
    const text = typeof json === 'string' ? json : new TextDecoder().decode(json);
    try {
      j = JSON.parse(text);
    } catch (e) {
      throw new TokenizerError('(file)', `not valid JSON (${(e as Error).message})`);
    }
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new TokenizerError('(file)', 'expected a JSON object');
  return new ByteLevelBPE(j as Record<string, unknown>);
}
