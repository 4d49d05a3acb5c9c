#!/usr/bin/env python3
"""Trains pcpress's bundled tiny language model ("tiny": `loadTransformer(rt, 'tiny')`).

A Llama-style decoder (LlamaForCausalLM layout, GQA 8 query / 2 KV heads of size 64, 5 layers, hidden 256,
SiLU MLP 704, RoPE theta 10000, RMSNorm, tied embeddings, context 2048) with a byte-level BPE tokenizer of
1024 ids trained here, written in the Hugging Face layout (config.json, model.safetensors as F16,
tokenizer.json) so that `transformers` and `tokenizers` read it as they read any Llama checkpoint.

Text: the King James Bible from Debian's `bible-kjv-text` (`apt-get install bible-kjv-text`; read with its
`bible` command). Every HELDOUT_EVERY-th chapter is held out: never trained on, written to heldout.txt for
`pcpress lm-eval`. Mixed with synthetic long-context retrieval documents in the style of RULER:
  - needle in a haystack: KJV verses (training chapters) with 1-4 sentences
    "The special magic number for NAME is DIGITS." inserted at random depths, then the question;
  - key-value lookup: lines "KEY: VALUE" then the question.
Both end with "\nQuestion: What is the special magic number for NAME?\nAnswer: DIGITS\n" (or
"...What is the value of KEY?\nAnswer: VALUE\n"): the context before "\nQuestion:" is what eviction
compresses without seeing the question (DefensiveKV's and kvpress's query-agnostic protocol).
Documents are packed into 2048-token rows separated by <|endoftext|>.

Needs torch (Debian's python3-torch 1.13 on CPU works, slowly; torch 2.x on CUDA uses bf16 autocast and
fused attention). No other packages. Deterministic data and initialisation from --seed; GPU kernels are not
bit-deterministic, so a rerun gives a model of the same quality, not the same bytes.

Run:
  /usr/bin/python3 scripts/train-tiny-lm.py --out models/tiny --minutes 6          # CUDA if present
  /usr/bin/python3 scripts/train-tiny-lm.py --out /tmp/t --quick --minutes 1       # smoke test on CPU
  /usr/bin/python3 scripts/train-tiny-lm.py --tokenizer-only --out models/tiny     # tokenizer + heldout.txt
Writes into --out: config.json, model.safetensors, tokenizer.json, heldout.txt, train-log.json, and
checkpoints of the same files while training (so a run cut short still leaves a model).
"""
import argparse
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HELDOUT_EVERY = 25
ANSWER_WEIGHT = 4.0  # retrieval answers are a few tokens in hundreds: weigh them up
VOCAB = 1024
EOT = '<|endoftext|>'
# Pre-tokenizer: contractions, words with an optional leading space, single digits (so numbers are
# spelled digit by digit), punctuation runs, whitespace. The same pattern runs in JS (src/lm/tokenizer.ts)
# and in Hugging Face tokenizers (a Split pre-tokenizer before ByteLevel with use_regex false).
SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"
SPLIT_RE = re.compile(SPLIT)

CONFIG = dict(
    architectures=['LlamaForCausalLM'], model_type='llama', hidden_size=256, intermediate_size=704,
    num_hidden_layers=5, num_attention_heads=8, num_key_value_heads=2, head_dim=64, hidden_act='silu',
    max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
    vocab_size=VOCAB, bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1, attention_bias=False,
    torch_dtype='float16',
)
QUICK = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16)
# What two CPU cores can train in about an hour (Debian's torch 1.13 has no fused attention): 0.9 M parameters.
SMALL = dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=32)


# ---------------------------------------------------------------- text

def kjv_chapters(path=None):
    """[(book chapter title, [verses])] of the whole KJV, from Debian's bible-kjv-text (or from `path`,
    that command's output saved, for a machine without the package)."""
    if path:
        out = open(path, encoding='ascii', errors='replace').read()
    else:
        try:
            out = subprocess.run(['bible', '-l', '100000', 'gen1:1-rev22:21'], stdin=subprocess.DEVNULL,
                                 capture_output=True, check=True).stdout.decode('ascii', 'replace')
        except FileNotFoundError:
            sys.exit('needs the `bible` command: apt-get install bible-kjv-text (or --text FILE)')
    chapters, title, verses = [], None, []
    for line in out.split('\n'):
        s = line.strip()
        if not s:
            continue
        m = re.match(r'^(\d+) (.*)$', s)
        if m and title is not None:
            verses.append(m.group(2))
        elif not m:
            if title is not None and verses:
                chapters.append((title, verses))
            title, verses = s, []
    if title is not None and verses:
        chapters.append((title, verses))
    return chapters


def chapter_text(title, verses):
    return title + '\n' + '\n'.join(verses) + '\n\n'


# ---------------------------------------------------------------- tokenizer

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (what Hugging Face's ByteLevel uses)."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class Tokenizer:
    """Byte-level BPE: ids 0..255 are the bytes, then merges in rank order, then <|endoftext|> last."""

    def __init__(self, merges):
        self.merges = merges  # [(a, b)] ids; merge i makes id 256 + i
        self.rank = {p: i for i, p in enumerate(merges)}
        self.bytes = [bytes([i]) for i in range(256)] + [b''] * len(merges)
        for i, (a, b) in enumerate(merges):
            self.bytes[256 + i] = self.bytes[a] + self.bytes[b]
        self.eot = 256 + len(merges)
        self.cache = {}

    @staticmethod
    def train(words, n_merges):
        """BPE merges from a {pre-token bytes: count} table; ties go to the smallest pair of ids, and a
        pair whose bytes already are a token is skipped, so every vocabulary string is distinct."""
        seqs = [(list(w), c) for w, c in words.items()]
        merges, seen, banned = [], {bytes([i]) for i in range(256)}, set()
        toks = [bytes([i]) for i in range(256)]
        while len(merges) < n_merges:
            counts = {}
            for s, c in seqs:
                for p in zip(s, s[1:]):
                    counts[p] = counts.get(p, 0) + c
            best = None
            for p, c in counts.items():
                if p in banned:
                    continue
                if best is None or c > best[1] or (c == best[1] and p < best[0]):
                    best = (p, c)
            if best is None:
                break
            p = best[0]
            b = toks[p[0]] + toks[p[1]]
            if b in seen:
                banned.add(p)
                continue
            new = 256 + len(merges)
            merges.append(p)
            toks.append(b)
            seen.add(b)
            for s, _ in seqs:
                i = 0
                while i < len(s) - 1:
                    if s[i] == p[0] and s[i + 1] == p[1]:
                        s[i:i + 2] = [new]
                    i += 1
        return Tokenizer(merges)

    def encode_word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        s = list(w.encode('utf-8'))
        while len(s) > 1:
            best, at = None, -1
            for i in range(len(s) - 1):
                r = self.rank.get((s[i], s[i + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            s[at:at + 2] = [256 + best]
        self.cache[w] = s
        return s

    def encode(self, text):
        out = []
        for w in SPLIT_RE.findall(text):
            out.extend(self.encode_word(w))
        return out

    def decode(self, ids):
        return b''.join(self.bytes[i] for i in ids if i != self.eot).decode('utf-8', 'replace')

    def to_json(self):
        """Hugging Face tokenizer.json (BPE model, Split + ByteLevel pre-tokenizers, ByteLevel decoder)."""
        b2u = bytes_to_unicode()
        name = lambda i: ''.join(b2u[b] for b in self.bytes[i])
        vocab = {name(i): i for i in range(self.eot)}
        vocab[EOT] = self.eot
        return {
            'version': '1.0', 'truncation': None, 'padding': None,
            'added_tokens': [{'id': self.eot, 'content': EOT, 'single_word': False, 'lstrip': False,
                              'rstrip': False, 'normalized': False, 'special': True}],
            'normalizer': None,
            'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
                {'type': 'Split', 'pattern': {'Regex': SPLIT}, 'behavior': 'Isolated', 'invert': False},
                {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}]},
            'post_processor': None,
            'decoder': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False},
            'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                      'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                      'vocab': vocab, 'merges': [[name(a), name(b)] for a, b in self.merges]},
        }


# ---------------------------------------------------------------- synthetic retrieval documents

SYL_A = ['b', 'd', 'f', 'g', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'tr', 'st', 'gr']
SYL_B = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ea']


def rand_name(r):
    """A made-up capitalised name of 2-3 syllables (an open set: answers can only be found in context)."""
    s = ''.join(r.choice(SYL_A) + r.choice(SYL_B) for _ in range(r.randint(2, 3)))
    return s[0].upper() + s[1:]


def rand_key(r):
    return ''.join(r.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(6))


def rand_digits(r, n):
    return str(r.randint(1, 9)) + ''.join(str(r.randint(0, 9)) for _ in range(n - 1))


def niah_doc(r, verses, tok, budget):
    """(context ids, question+answer ids) of a needle-in-a-haystack document of about `budget` tokens."""
    n = r.randint(1, 4)
    names = []
    while len(names) < n:
        x = rand_name(r)
        if x not in names:
            names.append(x)
    needles = [f'The special magic number for {x} is {rand_digits(r, 7)}.' for x in names]
    start = r.randrange(len(verses))
    hay, used = [], 0
    while used < budget and start < len(verses):
        hay.append(verses[start])
        used += len(tok.encode(verses[start])) + 1
        start += 1
    for nd in needles:
        hay.insert(r.randint(0, len(hay)), nd)
    which = r.randrange(n)
    ans = needles[which].split(' is ')[1][:-1]
    ctx = '\n'.join(hay)
    qa = f'\nQuestion: What is the special magic number for {names[which]}?\nAnswer: {ans}\n'
    return tok.encode(ctx), tok.encode(qa), ans


def kv_doc(r, tok, budget):
    pairs, used, seen = [], 0, set()
    while used < budget:
        k = rand_key(r)
        if k in seen:
            continue
        seen.add(k)
        pairs.append((k, rand_digits(r, 5)))
        used += 10
    k, v = pairs[r.randrange(len(pairs))]
    ctx = '\n'.join(f'{a}: {b}' for a, b in pairs)
    qa = f'\nQuestion: What is the value of {k}?\nAnswer: {v}\n'
    return tok.encode(ctx), tok.encode(qa), v


class Rows(torch.utils.data.IterableDataset):
    """Endless 2049-token rows (inputs + shifted targets): plain text half the time, retrieval otherwise."""

    def __init__(self, tok, text_ids, verses, seq, seed, p_text=0.4):
        self.tok, self.text_ids, self.verses, self.seq, self.seed, self.p_text = tok, text_ids, verses, seq, seed, p_text

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        r = random.Random(self.seed * 1000 + (info.id if info else 0))
        n = self.seq + 1
        while True:
            row, w = [], []
            if r.random() < self.p_text:
                s = r.randrange(len(self.text_ids) - n)
                row = self.text_ids[s:s + n]
                w = [1.0] * n
            else:
                while len(row) < n:
                    budget = int(math.exp(r.uniform(math.log(64), math.log(self.seq - 64))))
                    c, qa, ans = niah_doc(r, self.verses, self.tok, budget) if r.random() < 0.6 else kv_doc(r, self.tok, budget)
                    k = len(qa) - (len(ans) + 2)  # the answer (' ', digits, newline) weighs ANSWER_WEIGHT
                    row += [self.tok.eot] + c + qa
                    w += [1.0] * (1 + len(c) + k) + [ANSWER_WEIGHT] * (len(qa) - k)
                row, w = row[:n], w[:n]
            # w[i] weighs the prediction of row[i], so targets row[1:] take w[1:]
            yield torch.tensor(row, dtype=torch.long), torch.tensor(w[1:], dtype=torch.float32)


# ---------------------------------------------------------------- model (Hugging Face Llama semantics)

class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps))).to(x.dtype)


def rope_tables(cfg, S, device):
    hd = cfg['head_dim']
    inv = 1.0 / (cfg['rope_theta'] ** (torch.arange(0, hd, 2, dtype=torch.float32, device=device) / hd))
    f = torch.arange(S, dtype=torch.float32, device=device)[:, None] * inv[None, :]
    e = torch.cat((f, f), -1)
    return e.cos(), e.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


class Layer(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, nh, nkv, hd, I = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['intermediate_size']
        self.nh, self.nkv, self.hd = nh, nkv, hd
        self.input_layernorm = RMSNorm(H, cfg['rms_norm_eps'])
        self.post_attention_layernorm = RMSNorm(H, cfg['rms_norm_eps'])
        self.self_attn = torch.nn.Module()
        self.self_attn.q_proj = torch.nn.Linear(H, nh * hd, bias=False)
        self.self_attn.k_proj = torch.nn.Linear(H, nkv * hd, bias=False)
        self.self_attn.v_proj = torch.nn.Linear(H, nkv * hd, bias=False)
        self.self_attn.o_proj = torch.nn.Linear(nh * hd, H, bias=False)
        self.mlp = torch.nn.Module()
        self.mlp.gate_proj = torch.nn.Linear(H, I, bias=False)
        self.mlp.up_proj = torch.nn.Linear(H, I, bias=False)
        self.mlp.down_proj = torch.nn.Linear(I, H, bias=False)

    def forward(self, x, cos, sin):
        B, S, _ = x.shape
        a = self.self_attn
        h = self.input_layernorm(x)
        q = a.q_proj(h).view(B, S, self.nh, self.hd).transpose(1, 2)
        k = a.k_proj(h).view(B, S, self.nkv, self.hd).transpose(1, 2)
        v = a.v_proj(h).view(B, S, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        if hasattr(F, 'scaled_dot_product_attention'):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            m = torch.full((S, S), float('-inf'), device=x.device).triu(1)
            o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hd) + m, -1) @ v
        x = x + a.o_proj(o.transpose(1, 2).reshape(B, S, self.nh * self.hd))
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


class TinyLlama(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding(cfg['vocab_size'], cfg['hidden_size'])
        self.model.layers = torch.nn.ModuleList(Layer(cfg) for _ in range(cfg['num_hidden_layers']))
        self.model.norm = RMSNorm(cfg['hidden_size'], cfg['rms_norm_eps'])
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg['num_hidden_layers']) if n.endswith(('o_proj.weight', 'down_proj.weight')) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        cos, sin = rope_tables(self.cfg, ids.shape[1], ids.device)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        return x @ self.model.embed_tokens.weight.T


# ---------------------------------------------------------------- files

def write_safetensors(path, tensors):
    """F16 safetensors, tensors in name order (8-byte little-endian header length, JSON header, data)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to('cpu', torch.float32).contiguous()
        raw = t.to(torch.float16).numpy().astype('<f2').tobytes()
        header[name] = {'dtype': 'F16', 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path + '.tmp', 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(path + '.tmp', path)


def save_model(out, model, cfg):
    write_safetensors(os.path.join(out, 'model.safetensors'), {n: p for n, p in model.named_parameters()})
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')


@torch.no_grad()
def eval_retrieval(model, tok, verses, device, n, seed, budget):
    """Greedy exact-match accuracy of answers to n fresh retrieval documents (half NIAH, half KV)."""
    r = random.Random(seed)
    ok = 0
    model.eval()
    for i in range(n):
        c, qa, ans = niah_doc(r, verses, tok, budget) if i % 2 == 0 else kv_doc(r, tok, budget)
        qtext = tok.decode(qa)
        prompt = [tok.eot] + c + tok.encode(qtext[:qtext.index('Answer: ') + len('Answer:')])
        ids = list(prompt)
        for _ in range(10):
            logits = model(torch.tensor([ids[-2048:]], device=device))[0, -1]
            ids.append(int(logits.argmax()))
        got = tok.decode(ids[len(prompt):]).strip().split('\n')[0]
        ok += got == ans
    model.train()
    return ok / n


@torch.no_grad()
def sample(model, tok, device, prompt, n, seed):
    g = torch.Generator(device='cpu').manual_seed(seed)
    ids = [tok.eot] + tok.encode(prompt)
    model.eval()
    for _ in range(n):
        logits = model(torch.tensor([ids[-2048:]], device=device))[0, -1].float().cpu()
        p = torch.softmax(logits / 0.7, -1)
        ids.append(int(torch.multinomial(p, 1, generator=g)))
    model.train()
    return tok.decode(ids[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--minutes', type=float, default=6.0, help='training time budget (the schedule follows it)')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--seq', type=int, default=2048)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument('--quick', action='store_true', help='a small model and short rows: a smoke test')
    ap.add_argument('--small', action='store_true', help='the 0.9 M-parameter model a CPU can train (see SMALL)')
    ap.add_argument('--curriculum', help='row lengths and their shares of the time, e.g. 256:0.35,512:0.35,1024:0.3 '
                    '(the batch shrinks so each step sees --batch x --seq tokens); default: --seq throughout')
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (default: torch\'s choice)')
    ap.add_argument('--tokenizer-only', action='store_true')
    ap.add_argument('--text', help='the output of `bible -l 100000 gen1:1-rev22:21`, where bible is not installed')
    ap.add_argument('--tokenizer', help='reuse this tokenizer.json instead of training one')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(args.seed)

    chapters = kjv_chapters(args.text)
    train_ch = [c for i, c in enumerate(chapters) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held_ch = [c for i, c in enumerate(chapters) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    train_text = ''.join(chapter_text(*c) for c in train_ch)
    with open(os.path.join(args.out, 'heldout.txt'), 'w') as f:
        f.write(''.join(chapter_text(*c) for c in held_ch))

    if args.tokenizer:
        tj = json.load(open(args.tokenizer))
        u2b = {c: b for b, c in bytes_to_unicode().items()}
        tb = lambda s: bytes(u2b[ch] for ch in s)
        ids = {tb(s): i for s, i in tj['model']['vocab'].items() if s != EOT}
        tok = Tokenizer([(ids[tb(a)], ids[tb(b)]) for a, b in tj['model']['merges']])
    else:
        words = {}
        for w in SPLIT_RE.findall(train_text):
            if not w[-1:].isdigit():
                b = w.encode('utf-8')
                words[b] = words.get(b, 0) + 1
        # the retrieval templates' words are part of the language the model has to read
        for w in SPLIT_RE.findall('\nQuestion: What is the special magic number for ?\nAnswer: ' * 200 + 'What is the value of ' * 200):
            b = w.encode('utf-8')
            words[b] = words.get(b, 0) + 1
        tok = Tokenizer.train(words, VOCAB - 257)
    with open(os.path.join(args.out, 'tokenizer.json'), 'w') as f:
        json.dump(tok.to_json(), f, ensure_ascii=False)
    print(f'tokenizer: {tok.eot + 1} ids, {time.time() - t0:.1f} s', flush=True)
    if args.tokenizer_only:
        return

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(CONFIG)
    if args.small:
        cfg.update(SMALL)
    if args.quick:
        cfg.update(QUICK)
        args.seq = min(args.seq, 256)
    text_ids = tok.encode(train_text)
    verses = [v for _, vs in train_ch for v in vs]
    held_verses = [v for _, vs in held_ch for v in vs]
    print(f'train text: {len(train_text)} chars, {len(text_ids)} tokens ({len(train_text) / len(text_ids):.2f} chars/token)', flush=True)

    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = TinyLlama(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f'model: {n_params} parameters, device {device}', flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': other, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    phases = [(args.seq, 1.0)]
    if args.curriculum:
        phases = [(int(a), float(b)) for a, b in (x.split(':') for x in args.curriculum.split(','))]
    # the longest rows trained on: what the model was taught to read (lm-eval keeps its contexts within it)
    cfg['max_position_embeddings'] = max(p[0] for p in phases)
    step_tokens = args.batch * args.seq
    use_bf16 = device == 'cuda'
    budget = args.minutes * 60
    warm = 100
    log = {'config': cfg, 'parameters': n_params, 'device': device, 'torch': torch.__version__,
           'gpu': torch.cuda.get_device_name(0) if device == 'cuda' else None, 'batch': args.batch, 'seq': args.seq,
           'steps': [], 'evals': []}
    start = time.time()
    last_save = start
    step, tokens = 0, 0
    phase_end = 0.0
    for seq, share in phases:
      phase_end += share
      loader = torch.utils.data.DataLoader(Rows(tok, text_ids, verses, seq, args.seed + int(phase_end * 1000)),
                                           batch_size=max(1, step_tokens // seq), num_workers=args.workers,
                                           pin_memory=device == 'cuda')
      print(f'phase: rows of {seq} tokens, batch {max(1, step_tokens // seq)}, until {phase_end:.2f} of the time', flush=True)
      for rows, wts in loader:
        rows = rows.to(device, non_blocking=True)
        wts = wts.to(device, non_blocking=True)
        elapsed = time.time() - start
        frac = min(1.0, elapsed / budget)
        lr = args.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g['lr'] = lr
        if use_bf16:
            with torch.autocast(device_type='cuda', dtype=torch.bfloat16):
                logits = model(rows[:, :-1])
        else:
            logits = model(rows[:, :-1])
        ce = F.cross_entropy(logits.float().reshape(-1, cfg['vocab_size']), rows[:, 1:].reshape(-1), reduction='none')
        loss = (ce * wts.reshape(-1)).sum() / wts.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += rows.shape[0] * (rows.shape[1] - 1)
        if step % 50 == 0 or step == 1:
            lv = float(loss)
            log['steps'].append([step, round(time.time() - start, 1), tokens, round(lv, 4), lr])
            print(f'step {step} {time.time() - start:.0f}s tokens {tokens} loss {lv:.4f} lr {lr:.2e}', flush=True)
        if time.time() - last_save > 90:
            save_model(args.out, model, cfg)
            last_save = time.time()
        if elapsed >= budget * min(1.0, phase_end):
            break
    train_s = time.time() - start
    log['train_seconds'] = round(train_s, 1)
    log['train_steps'] = step
    log['train_tokens'] = tokens
    save_model(args.out, model, cfg)
    # a last look, with the weights rounded to F16 as shipped
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    held_budget = (1500 if not args.quick else 180) if max(p[0] for p in phases) >= 2048 else max(p[0] for p in phases) - 100
    for name, v, b in (('train_verses', verses, held_budget), ('heldout_verses', held_verses, held_budget),
                       ('heldout_short', held_verses, 300)):
        acc = eval_retrieval(model, tok, v, device, 40 if not args.quick else 6, 12345, b)
        log['evals'].append({'set': name, 'context_tokens': b, 'accuracy': acc})
        print(f'retrieval {name} ~{b} tokens: {acc:.3f}', flush=True)
    with torch.no_grad():
        held_ids = tok.encode(''.join(chapter_text(*c) for c in held_ch))
        S = min(args.seq, 1024)
        losses = []
        model.eval()
        for s in range(0, min(len(held_ids) - S - 1, 40 * S), S):
            x = torch.tensor([held_ids[s:s + S + 1]], device=device)
            losses.append(float(F.cross_entropy(model(x[:, :-1])[0].float(), x[0, 1:])))
        log['heldout_loss'] = sum(losses) / len(losses)
        print(f'held-out text loss {log["heldout_loss"]:.4f} nats/token', flush=True)
    log['samples'] = [sample(model, tok, device, p, 60, 7) for p in ('And God said', 'In the beginning', 'The LORD is my')]
    for s in log['samples']:
        print('sample:', repr(s), flush=True)
    log['total_seconds'] = round(time.time() - t0, 1)
    with open(os.path.join(args.out, 'train-log.json'), 'w') as f:
        json.dump(log, f, indent=1)
    print(f'done in {time.time() - t0:.0f} s', flush=True)


if __name__ == '__main__':
    main()
