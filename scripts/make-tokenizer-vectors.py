#!/usr/bin/env python3
"""Writes test/fixtures/lm/tokenizer-vectors.json: the token ids the Python Tokenizer of scripts/train-tiny-lm.py
gives for varied strings (KJV text from models/tiny/heldout.txt, the retrieval templates, digits, odd whitespace,
punctuation, non-ASCII, control characters, the empty string), with models/tiny/tokenizer.json. src/lm/tokenizer.ts
must give exactly these ids (test/node/lm-tokenizer.test.ts, test/cases/lm.ts). Deterministic: no randomness
beyond a fixed seed.

Strings holding the added token <|endoftext|> are encoded as Hugging Face `tokenizers` does (the text split at
the added token, each side encoded, the token's id between): the training script's encode() has no added tokens,
it only ever places the id itself.

Run: /usr/bin/python3 scripts/make-tokenizer-vectors.py   (needs torch only because the training script imports it)
"""
import importlib.util
import json
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
spec = importlib.util.spec_from_file_location('train', os.path.join(here, 'train-tiny-lm.py'))
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)

tok_path = os.path.join(root, 'models', 'tiny', 'tokenizer.json')
tj = json.load(open(tok_path, encoding='utf-8'))
u2b = {c: b for b, c in t.bytes_to_unicode().items()}
tb = lambda s: bytes(u2b[ch] for ch in s)
ids = {tb(s): i for s, i in tj['model']['vocab'].items() if s != t.EOT}
tok = t.Tokenizer([(ids[tb(a)], ids[tb(b)]) for a, b in tj['model']['merges']])


def encode_hf(text):
    """As tokenizers does with the added token: split on it, encode the pieces."""
    parts = text.split(t.EOT)
    out = []
    for i, p in enumerate(parts):
        if i:
            out.append(tok.eot)
        out.extend(tok.encode(p))
    return out


held = open(os.path.join(root, 'models', 'tiny', 'heldout.txt'), encoding='utf-8').read()
r = random.Random(20240612)
strings = [
    '',
    ' ',
    'a',
    'In the beginning God created the heaven and the earth.',
    held[:2000],
    held[50000:50600],
    '\nQuestion: What is the special magic number for Brastou?\nAnswer: 4894493\n',
    '\nQuestion: What is the value of qwerty?\nAnswer: 12345\n',
    'The special magic number for Zaigrea is 1029384.',
    'abcdef: 12345\nghijkl: 67890\nmnopqr: 00001',
    '0123456789 9876543210 3.14159 1,000,000 -42 +7e10',
    "It's they're we've I'm you'll he'd 'tis O'Neil 'S 'T",
    '  leading and trailing spaces  ',
    'tabs\tand\t\tnewlines\n\n\nand\r\nCRLF\r\n',
    'spaces    between     words      and\n   \n  indented',
    ' \n \t \x0b \x0c \x1c\x1d\x1e\x1f end',
    'nbsp\xa0here, ideographic\u3000space, em\u2003space, line\u2028sep, nel\x85x, bom\ufeffy',
    '!!!??? ... --- ;;; :: "quoted" (paren) [bracket] {brace} <angle> @#$%^&*_=+\\|/~`',
    'Ünïcödé façade naïve café — “smart quotes” ‘single’ … €100 £5 ¥3',
    'Ελληνικά, русский, עברית, العربية, 中文字符, 日本語のテキスト, 한국어',
    'emoji 😀🎉👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇩🇪',
    'mixed123abc 4x4 a1b2c3 ABCdef',
    'x' * 300,
    ' ' * 50 + 'y',
    '<|endoftext|>',
    'before<|endoftext|>after <|endoftext|><|endoftext|> end',
    '<|endoftext|',
    'control \x00\x01\x07\x1b[0m chars',
]
# random printable ASCII and random code points (deterministic)
for n in (20, 200):
    strings.append(''.join(chr(r.randint(32, 126)) for _ in range(n)))
for n in (30, 100):
    cps = []
    while len(cps) < n:
        c = r.choice([r.randint(0, 0x7f), r.randint(0x80, 0x7ff), r.randint(0x800, 0xffff), r.randint(0x10000, 0x10ffff)])
        if 0xd800 <= c < 0xe000:
            continue
        cps.append(chr(c))
    strings.append(''.join(cps))
# verse-sized pieces of held-out text at fixed offsets
for i in range(8):
    s = r.randrange(len(held) - 400)
    strings.append(held[s:s + r.randint(50, 400)])

vectors = [{'text': s, 'ids': encode_hf(s), 'decoded': tok.decode(encode_hf(s))} for s in strings]
# decode checks: arbitrary id sequences, including ones that cut UTF-8 characters (decoded with 'replace')
decodes = []
for n in (1, 5, 40):
    seq = [r.randrange(tok.eot) for _ in range(n)]
    decodes.append({'ids': seq, 'text': tok.decode(seq)})
decodes.append({'ids': list(b'\xe2\x82'), 'text': tok.decode(list(b'\xe2\x82'))})
decodes.append({'ids': [tok.eot] + tok.encode('And God said') + [tok.eot], 'text': tok.decode([tok.eot] + tok.encode('And God said') + [tok.eot])})
out = {
    'about': 'written by scripts/make-tokenizer-vectors.py from models/tiny/tokenizer.json and the Tokenizer of scripts/train-tiny-lm.py',
    'vocabSize': tok.eot + 1, 'eosTokenId': tok.eot,
    'encode': vectors, 'decode': decodes,
}
path = os.path.join(root, 'test', 'fixtures', 'lm', 'tokenizer-vectors.json')
with open(path, 'w', encoding='utf-8') as f:
    json.dump(out, f, ensure_ascii=True, indent=0)
    f.write('\n')
print(f'wrote {path}: {len(vectors)} strings, {sum(len(v["ids"]) for v in vectors)} ids, {len(decodes)} decodes')
