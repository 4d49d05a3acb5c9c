// The byte-level BPE tokenizer (src/lm/tokenizer.ts): the bundled models/tiny/tokenizer.json gives exactly the ids of
// the training script's Python Tokenizer (test/fixtures/lm/tokenizer-vectors.json, from scripts/make-tokenizer-vectors.py),
// a GPT-2-style tokenizer.json (ByteLevel regex, "a b" merges, add_prefix_space) encodes as GPT-2 does, and
// tokenizers pcpress cannot run are TokenizerErrors naming what is unsupported.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { loadTokenizer, LimitError, TokenizerError, ValidationError } from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const tinyJson = fs.readFileSync(path.join(root, 'models/tiny/tokenizer.json'));
const vectors = JSON.parse(fs.readFileSync(path.join(root, 'test/fixtures/lm/tokenizer-vectors.json'), 'utf8')) as {
  vocabSize: number; eosTokenId: number;
  encode: { text: string; ids: number[]; decoded: string }[];
  decode: { ids: number[]; text: string }[];
};

describe('tokenizer: the bundled tiny tokenizer', () => {
  const tk = loadTokenizer(tinyJson);

  it('has the vocabulary size and end-of-text id of the training script', () => {
    expect(tk.vocabSize).toBe(vectors.vocabSize);
    expect(tk.eosTokenId).toBe(vectors.eosTokenId);
    expect(tk.tokenToId('<|endoftext|>')).toBe(1023);
    expect(tk.idToToken(1023)).toBe('<|endoftext|>');
    expect(tk.tokenToId('Ġthe')).toBeTypeOf('number');
    expect(tk.idToToken(tk.tokenToId('Ġthe')!)).toBe('Ġthe');
    expect(tk.idToToken(5000)).toBeUndefined();
  });

  it(`encodes ${vectors.encode.length} strings to exactly the Python ids`, () => {
    expect(vectors.encode.length).toBeGreaterThan(30);
    for (const v of vectors.encode) expect(tk.encode(v.text), JSON.stringify(v.text.slice(0, 60))).toEqual(v.ids);
  });

  it('decodes as Python (special tokens skipped, cut UTF-8 as U+FFFD) and round-trips text', () => {
    for (const v of vectors.encode) expect(tk.decode(v.ids)).toBe(v.decoded);
    for (const v of vectors.decode) expect(tk.decode(v.ids)).toBe(v.text);
    for (const v of vectors.encode) if (!v.text.includes('<|endoftext|>')) expect(tk.decode(tk.encode(v.text))).toBe(v.text);
    expect(tk.decode([1023, ...tk.encode('Amen')], { skipSpecialTokens: false })).toBe('<|endoftext|>Amen');
    expect(tk.decode(Int32Array.from(tk.encode('And God said')))).toBe('And God said');
  });

  it('spells numbers digit by digit and matches added tokens literally', () => {
    // digits never merge (the training script leaves numbers out of the BPE counts): one id per digit, the space alone
    expect(tk.encode('4894493').length).toBe(7);
    expect(tk.encode(' 4894493')).toEqual([tk.tokenToId('Ġ'), ...tk.encode('4894493')]);
    expect(tk.encode('a<|endoftext|>b')).toEqual([...tk.encode('a'), 1023, ...tk.encode('b')]);
    expect(tk.encode('')).toEqual([]);
  });

  it('bad input: a non-string to encode, unknown ids to decode', () => {
    expect(() => tk.encode(7 as unknown as string)).toThrow(TokenizerError);
    expect(() => tk.decode([0, 1024])).toThrow(/id 1 is 1024/);
    expect(() => tk.decode([-1])).toThrow(TokenizerError);
    expect(() => tk.decode([1.5])).toThrow(TokenizerError);
    // as documented on Tokenizer.decode: a TokenizerError whose feature is 'decode'
    const e = (() => { try { tk.decode([4096]); } catch (x) { return x; } })() as TokenizerError;
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.feature).toBe('decode');
  });
});

/** A small GPT-2-style tokenizer.json: byte vocabulary, a few merges as "a b" strings, ByteLevel with the GPT-2 regex. */
function gpt2Like(extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}, pre: Record<string, unknown> = {}) {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const chars: string[] = new Array(256);
  for (const b of bs) chars[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (chars[b] === undefined) chars[b] = String.fromCharCode(256 + n++);
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const merges = ['Ġ t', 'h e', 'Ġt he', 'l l', 'he ll', 'hell o', '1 2'];
  let id = 256;
  for (const m of merges) vocab[m.replace(' ', '')] = id++;
  vocab.xyz = id++; // reachable only with ignore_merges
  return {
    version: '1.0', added_tokens: [{ id: id, content: '<|endoftext|>', special: true, lstrip: false, rstrip: false, single_word: false, normalized: false }],
    normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true, ...pre },
    post_processor: { type: 'ByteLevel' }, decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, vocab, merges, ...model },
    ...extra,
  };
}

describe('tokenizer: GPT-2-style tokenizer.json', () => {
  it('splits with the GPT-2 regex (\\p{L}, \\p{N}, contractions) and merges by rank', () => {
    const tk = loadTokenizer(gpt2Like());
    const id = (s: string) => tk.tokenToId(s)!;
    // "hello the 123": 'hello' | ' the' | ' 123' (GPT-2 keeps digit runs together)
    expect(tk.encode('hello the 123')).toEqual([id('hello'), id('Ġthe'), id('Ġ'), id('12'), id('3')]);
    expect(tk.encode("he's")).toEqual([id('he'), id("'"), id('s')]);
    expect(tk.encode('héllo')).toEqual([id('h'), 0xc3, 0xa9, id('ll'), id('o')]);
    expect(tk.encode('xyz')).toEqual([id('x'), id('y'), id('z')]);
    expect(tk.decode(tk.encode('naïve 😀 text\n\n'))).toBe('naïve 😀 text\n\n');
    expect(tk.vocabSize).toBe(256 + 7 + 1 + 1);
    expect(tk.eosTokenId).toBe(264);
  });

  it('add_prefix_space, array merges, NFC normalizer, ignore_merges', () => {
    const withPrefix = loadTokenizer(gpt2Like({}, {}, { add_prefix_space: true }));
    expect(withPrefix.encode('the')).toEqual([withPrefix.tokenToId('Ġthe')]);
    const arrays = gpt2Like();
    (arrays.model as { merges: unknown }).merges = (arrays.model.merges as string[]).map((m) => m.split(' '));
    expect(loadTokenizer(arrays).encode('hello the')).toEqual(loadTokenizer(gpt2Like()).encode('hello the'));
    const nfc = loadTokenizer(gpt2Like({ normalizer: { type: 'NFC' } }));
    expect(nfc.encode('e\u0301')).toEqual(nfc.encode('\u00e9'));
    const ign = loadTokenizer(gpt2Like({}, { ignore_merges: true }));
    expect(ign.encode('xyz')).toEqual([ign.tokenToId('xyz')]);
  });

  it('typed errors naming what is unsupported', () => {
    const bad = (j: unknown, re: RegExp) => {
      let err: unknown;
      try {
        loadTokenizer(j as object);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TokenizerError);
      expect(err).toBeInstanceOf(ValidationError);
      expect(String((err as Error).message)).toMatch(re);
    };
    bad(gpt2Like({}, { type: 'WordPiece' }), /model type "WordPiece" is not supported/);
    bad(gpt2Like({}, { type: 'Unigram' }), /Unigram/);
    bad(gpt2Like({}, { byte_fallback: true }), /byte_fallback/);
    bad(gpt2Like({}, { continuing_subword_prefix: '##' }), /continuing_subword_prefix/);
    bad(gpt2Like({ pre_tokenizer: { type: 'Whitespace' } }), /pre-tokenizer type "Whitespace" is not supported/);
    bad(gpt2Like({ pre_tokenizer: { type: 'Metaspace' } }), /Metaspace/);
    bad(gpt2Like({ pre_tokenizer: null }), /no ByteLevel pre-tokenizer/);
    bad(gpt2Like({ decoder: { type: 'WordPiece' } }), /decoder "WordPiece" is not supported/);
    bad(gpt2Like({ normalizer: { type: 'Lowercase' } }), /normalizer "Lowercase"/);
    bad(gpt2Like({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: 'a' }, behavior: 'MergedWithNext' }, { type: 'ByteLevel' }] } }), /behavior "MergedWithNext"/);
    bad('{not json', /not valid JSON/);
    bad(new TextEncoder().encode('[1]'), /expected a JSON object/);
  });
});

describe('tokenizer: literal patterns with regex syntax characters', () => {
  it("an added token with '-' (e.g. <fim-prefix>) and a Split { String: '-' } load and match literally", () => {
    const j = gpt2Like();
    (j.added_tokens as unknown[]).push({ id: 265, content: '<fim-prefix>', special: true, lstrip: false, rstrip: false, normalized: false });
    const tk = loadTokenizer(j);
    expect(tk.encode('he<fim-prefix>he')).toEqual([tk.tokenToId('he'), 265, tk.tokenToId('he')]);
    expect(tk.vocabSize).toBe(266);
    const split = loadTokenizer(gpt2Like({
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { String: '-' }, behavior: 'Removed' }, { type: 'ByteLevel', use_regex: false }] },
    }));
    expect(split.encode('he-he')).toEqual([split.tokenToId('he'), split.tokenToId('he')]);
    // every syntax character is taken literally
    const lit = loadTokenizer(gpt2Like({
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { String: '.*+?^${}()|[]\\/-' }, behavior: 'Removed' }, { type: 'ByteLevel', use_regex: false }] },
    }));
    expect(lit.encode('he.*+?^${}()|[]\\/-he')).toEqual([lit.tokenToId('he'), lit.tokenToId('he')]);
  });

  it('a Split regex JavaScript cannot compile is a TokenizerError naming the pattern', () => {
    let err: unknown;
    try {
      loadTokenizer(gpt2Like({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(?<=a+' }, behavior: 'Isolated' }, { type: 'ByteLevel' }] } }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenizerError);
    expect((err as Error).message).toContain('"(?<=a+"');
  });
});

describe('tokenizer: BPE merges in O(n log n)', () => {
  // the straightforward BPE (rescan every pair, merge the lowest rank, leftmost on ties): the reference
  const tiny = JSON.parse(tinyJson.toString('utf8')) as { model: { vocab: Record<string, number>; merges: [string, string][] } };
  const ranks = new Map<string, number>();
  tiny.model.merges.forEach(([a, b], r) => { if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, r); });
  const slowWord = (letters: string): number[] => {
    const sym = [...letters];
    while (sym.length > 1) {
      let best = Infinity, at = -1;
      for (let i = 0; i < sym.length - 1; i++) {
        const r = ranks.get(`${sym[i]} ${sym[i + 1]}`);
        if (r !== undefined && r < best) { best = r; at = i; }
      }
      if (at < 0) break;
      sym.splice(at, 2, sym[at] + sym[at + 1]);
    }
    return sym.map((t) => tiny.model.vocab[t]);
  };
  const tk = loadTokenizer(tinyJson);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);

  it('gives the ids of the straightforward BPE on random letter words (ties, repeats, long words)', () => {
    const alphabets = ['etaoinshrdlu', 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 'eth', 'll', 'ae'];
    for (let k = 0; k < 600; k++) {
      const abc = alphabets[k % alphabets.length];
      const len = 1 + Math.floor(rand() * (k % 10 === 0 ? 2000 : 60));
      let w = '';
      for (let i = 0; i < len; i++) w += abc[Math.floor(rand() * abc.length)];
      expect(tk.encode(w), w.slice(0, 80)).toEqual(slowWord(w));
    }
    // words of the training text, run together (many merges, long merged tokens)
    const words = vectors.encode.flatMap((v) => v.text.match(/[A-Za-z]+/g) ?? []);
    for (let k = 0; k < 100; k++) {
      let w = '';
      for (let i = 0, n = 1 + Math.floor(rand() * 30); i < n; i++) w += words[Math.floor(rand() * words.length)];
      expect(tk.encode(w)).toEqual(slowWord(w));
    }
  });

  it('a 100k-letter word encodes quickly (was quadratic: minutes)', () => {
    let w = '';
    for (let i = 0; i < 100_000; i++) w += 'etaoinshrdlu'[Math.floor(rand() * 12)];
    const t0 = performance.now();
    const ids = tk.encode(w);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(5000);
    expect(tk.decode(ids)).toBe(w);
    const t1 = performance.now();
    expect(tk.decode(tk.encode('a'.repeat(100_000)))).toBe('a'.repeat(100_000));
    expect(performance.now() - t1).toBeLessThan(5000);
  });
});

describe('tokenizer: (?i:...) groups (Qwen2, Llama 3)', () => {
  const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  // what the pattern means: the contractions case-insensitively (here: the i flag on the whole regex, which changes
  // nothing else in it for these strings)
  const reference = new RegExp(QWEN2.replace('(?i:', '(?:'), 'giu');
  const texts = ["IT'S", "It's", "'Sound", "we'RE here", "THEY'LL'VE'D'M'T", "ſ'ſx 'ſ", "don't\n\n  Stop'S 12", "'K'\u212a 'k"];
  // a tokenizer whose merges make every substring of the texts one token, so decoding id by id shows the pieces
  const byteChars = (s: string) => [...new TextEncoder().encode(s)].map((b) => loadTokenizer(gpt2Like()).idToToken(b)!);
  const base = gpt2Like({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN2 }, behavior: 'Isolated' }, { type: 'ByteLevel', use_regex: false }] } });
  const vocab = base.model.vocab as Record<string, number>;
  const merges: [string, string][] = [];
  const seen = new Set<string>();
  for (const t of texts) {
    const c = byteChars(t);
    for (let i = 0; i < c.length; i++) for (let j = i + 2; j <= c.length; j++) for (let k = i + 1; k < j; k++) {
      const a = c.slice(i, k).join(''), b = c.slice(k, j).join('');
      if (seen.has(`${a} ${b}`)) continue;
      seen.add(`${a} ${b}`);
      merges.push([a, b]);
    }
  }
  merges.sort((x, y) => (x[0] + x[1]).length - (y[0] + y[1]).length);
  let next = 1000;
  for (const [a, b] of merges) vocab[a + b] ??= next++;
  (base.model as Record<string, unknown>).merges = merges;
  (base.added_tokens as { id: number }[])[0].id = next;

  it('loads the real Qwen2 pattern and splits as the case-insensitive group means', () => {
    const tk = loadTokenizer(base);
    const pieces = (s: string) => tk.encode(s).map((id) => tk.decode([id]));
    expect(pieces("IT'S")).toEqual(['IT', "'S"]);
    expect(pieces("'Sound")).toEqual(["'S", 'ound']);
    expect(pieces("we'RE here")).toEqual(['we', "'RE", ' here']);
    for (const t of texts) expect(pieces(t), t).toEqual(t.match(reference));
  });

  it('a (?i:...) group around anything but literal alternatives is a TokenizerError', () => {
    for (const re of ['(?i:a+)', '(?i:[ab])', '(?i:a|(b))']) {
      expect(() => loadTokenizer(gpt2Like({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: re }, behavior: 'Isolated' }, { type: 'ByteLevel' }] } }))).toThrow(TokenizerError);
    }
  });
});

describe('tokenizer: untrusted ids and counts', () => {
  const err = (j: unknown) => {
    try {
      loadTokenizer(j as object);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  };

  it('ids must be unique integers in [0, 2^31), and every id counts toward vocabSize', () => {
    const big = gpt2Like();
    (big.model.vocab as Record<string, number>).huge = 4294967295;
    expect(err(big)).toBeInstanceOf(TokenizerError);
    expect(err(big)?.message).toMatch(/"huge" has id 4294967295/);
    const top = gpt2Like();
    (top.model.vocab as Record<string, number>).top = 2 ** 31 - 1;
    expect(loadTokenizer(top).vocabSize).toBe(2 ** 31);
    expect(loadTokenizer(top).decode([2 ** 31 - 1])).toBe('top');
    const dup = gpt2Like();
    (dup.model.vocab as Record<string, number>).other = 5;
    expect(err(dup)).toBeInstanceOf(TokenizerError);
    expect(err(dup)?.message).toMatch(/same id 5/);
    const dupAdded = gpt2Like();
    (dupAdded.added_tokens as unknown[]).push({ id: 264, content: '<|other|>', special: true });
    expect(err(dupAdded)?.message).toMatch(/added tokens "<\|endoftext\|>" and "<\|other\|>" have the same id 264/);
    const badAdded = gpt2Like();
    (badAdded.added_tokens as { id: number }[])[0].id = 2 ** 31;
    expect(err(badAdded)).toBeInstanceOf(TokenizerError);
  });

  it('more than 2^21 vocabulary entries, merges or added tokens is a LimitError', () => {
    const merges = gpt2Like({}, { merges: new Array(2 ** 21 + 1).fill('h e') });
    expect(err(merges)).toBeInstanceOf(LimitError);
    expect(err(merges)?.message).toMatch(/2097153 merges/);
    const added = gpt2Like({ added_tokens: new Array(2 ** 21 + 1).fill({ id: 1, content: 'x' }) });
    expect(err(added)).toBeInstanceOf(LimitError);
    const vocab: Record<string, number> = {};
    for (let i = 0; i <= 2 ** 21; i++) vocab[`t${i}`] = i;
    expect(err(gpt2Like({}, { vocab }))).toBeInstanceOf(LimitError);
  });
});
