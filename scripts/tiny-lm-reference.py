#!/usr/bin/env python3
"""Writes test/fixtures/lm/tiny-reference.json: what the bundled tiny model (models/tiny) must compute, in float64
from its F16 weights exactly as stored (the forward pass of scripts/make-lm-fixture.py, Hugging Face Llama semantics).

  prompts    two held-out passages (tokens by the training script's tokenizer) and the logits of some of their
             rows (every 8th and the last), for the 1e-3 relative conformance check in every runtime and backend;
  retrieval  a needle-in-a-haystack prompt built from held-out verses, the greedy continuation (full recompute,
             no cache) and whether it is the right answer;
  encode     a few strings and their ids (the JS tokenizer must give the same).

Needs Debian's python3-torch. Run after the model changes: /usr/bin/python3 scripts/tiny-lm-reference.py [model_dir] [out.json]
"""
import importlib.util
import json
import os
import random
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..')


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


fx = load('fixture', 'make-lm-fixture.py')
tr = load('train', 'train-tiny-lm.py')
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'models', 'tiny')
cfg = json.load(open(os.path.join(d, 'config.json')))
data = open(os.path.join(d, 'model.safetensors'), 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
W = {}
for name, e in header.items():
    if name == '__metadata__':
        continue
    a, b = e['data_offsets']
    assert e['dtype'] == 'F16'
    W[name] = torch.from_numpy(np.frombuffer(data[8 + n + a:8 + n + b], '<f2').astype(np.float64).reshape(e['shape']).copy())

tj = json.load(open(os.path.join(d, 'tokenizer.json')))
u2b = {c: b for b, c in tr.bytes_to_unicode().items()}
tb = lambda s: bytes(u2b[ch] for ch in s)
ids = {tb(s): i for s, i in tj['model']['vocab'].items() if s != tr.EOT}
tok = tr.Tokenizer([(ids[tb(a)], ids[tb(b)]) for a, b in tj['model']['merges']])
held = open(os.path.join(d, 'heldout.txt')).read()
verses = [v for v in held.split('\n') if v and not v[0].isdigit() and ' ' in v]

ref = {'vocab': cfg['vocab_size'], 'rows': 'every 8th row and the last', 'prompts': [], 'encode': []}
for start, length in ((1000, 40), (40000, 100)):
    toks = [tok.eot] + tok.encode(held[start:start + 2000])[:length - 1]
    logits = fx.forward(cfg, W, toks)
    rows = sorted(set(list(range(0, len(toks), 8)) + [len(toks) - 1]))
    ref['prompts'].append({'tokens': toks, 'rows': rows,
                           'logits': [[float('%.6g' % x) for x in logits[r].tolist()] for r in rows]})

# a held-out retrieval prompt and the greedy continuation (full recompute each step), with each step's top-2 margin
# (a float32 runtime is compared on the steps before the first unclear one)
r = random.Random(2024)
c, qa, ans = tr.niah_doc(r, verses, tok, 300)
qtext = tok.decode(qa)
prompt = [tok.eot] + c + tok.encode(qtext[:qtext.index('Answer: ') + len('Answer:')])
seq, cont, margins = list(prompt), [], []
for _ in range(len(ans) + 2):
    last = fx.forward(cfg, W, seq)[-1]
    top = torch.topk(last, 2).values
    margins.append(round(float(top[0] - top[1]), 4))
    cont.append(int(last.argmax()))
    seq.append(cont[-1])
ref['retrieval'] = {'prompt': prompt, 'answer': ans, 'continuation': cont, 'margins': margins,
                    'solved': tok.decode(cont).strip().split('\n')[0] == ans}
for s in ('And God said, Let there be light: and there was light.', 'Question: What is the value of abcdef?\nAnswer: 12345\n',
          "  they're   here;\n\n\tnot 3.14 ", 'caf\u00e9 \u00fcber \u4e2d\u6587'):
    ref['encode'].append({'text': s, 'ids': tok.encode(s)})
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, 'test', 'fixtures', 'lm', 'tiny-reference.json')
with open(out, 'w') as f:
    json.dump(ref, f, separators=(',', ':'))
print(out, os.path.getsize(out), 'bytes; retrieval', ref['retrieval']['solved'], repr(tok.decode(cont)), 'answer', ans, 'margins', margins)
