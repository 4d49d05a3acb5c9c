#!/usr/bin/env python3
"""Checks that Hugging Face reads the tiny model as written by scripts/train-tiny-lm.py: `tokenizers` encodes
held-out text to the same ids as the training script's tokenizer, and `transformers`' LlamaForCausalLM gives
the same logits as the training script's model. Needs the `transformers` and `tokenizers` packages (not in
Debian bookworm; the GPU machine the model was trained on has them). Prints one JSON object.

Run: python3 scripts/check-tiny-lm-hf.py models/tiny
"""
import importlib.util
import json
import os
import sys

import torch

d = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('train', os.path.join(here, 'train-tiny-lm.py'))
t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
out = {}

tj = json.load(open(os.path.join(d, 'tokenizer.json')))
u2b = {c: b for b, c in t.bytes_to_unicode().items()}
tb = lambda s: bytes(u2b[ch] for ch in s)
ids = {tb(s): i for s, i in tj['model']['vocab'].items() if s != t.EOT}
tok = t.Tokenizer([(ids[tb(a)], ids[tb(b)]) for a, b in tj['model']['merges']])
text = open(os.path.join(d, 'heldout.txt')).read()[:20000] + "\nQuestion: What's the value of qwerty?\nAnswer: 12345\n  x  "
try:
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(d, 'tokenizer.json'))
    a, b = hf.encode(text).ids, tok.encode(text)
    out['tokenizer_same_ids'] = a == b
    out['tokenizer_ids'] = len(b)
    out['tokenizer_decode_same'] = hf.decode(a) == text
except Exception as e:  # noqa: BLE001
    out['tokenizer_error'] = repr(e)

try:
    from transformers import LlamaForCausalLM
    cfg = json.load(open(os.path.join(d, 'config.json')))
    hf_model = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    mine = t.TinyLlama(cfg)
    from safetensors.torch import load_file
    w = load_file(os.path.join(d, 'model.safetensors'))
    missing = mine.load_state_dict({k: v.float() for k, v in w.items()}, strict=True)
    mine.eval()
    prompt = torch.tensor([[tok.eot] + tok.encode(text[:3000])])
    with torch.no_grad():
        la = hf_model(prompt).logits[0].double()
        lb = mine(prompt)[0].double()
    out['logits_tokens'] = int(prompt.shape[1])
    out['logits_max_abs_diff'] = float((la - lb).abs().max())
    out['logits_max_abs'] = float(la.abs().max())
except Exception as e:  # noqa: BLE001
    out['transformers_error'] = repr(e)
print(json.dumps(out))
