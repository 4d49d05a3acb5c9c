#!/usr/bin/env python3
"""Exports a Llama-family model folder (config.json + model.safetensors, as loadTransformer reads them) to ONNX for
bench/lm.mjs, which runs it in onnxruntime-web next to pcpress.

One file, opset 17, batch 1, written with torch.onnx.export from the forward pass below (Hugging Face
Llama/Qwen2 semantics, the same as scripts/make-lm-fixture.py: RMSNorm, rotate_half RoPE on the first rotary dims,
GQA, causal softmax attention, SiLU-gated MLP, optional q/k/v biases, tied or separate lm_head):
  <out>.onnx  input_ids int64 [1, S], past_key_L / past_value_L float32 [1, kvHeads, P, headDim] for every layer L
              -> logits float32 [1, S, vocab], present_key_L / present_value_L [1, kvHeads, P + S, headDim].
              The new tokens sit at positions P..P+S-1 (RoPE and the causal mask follow). A prefill passes P = 0
              (empty past tensors, which onnxruntime-web accepts); a decode step passes S = 1 and the presents of
              the step before. One graph for both keeps the committed fixture to one file.
With --no-past it writes <out>-prefill.onnx instead: input_ids [1, S] -> logits only (no cache inputs or outputs).
Weights are stored as they are in the safetensors file where ONNX can hold them compactly: F16 tensors as float16
initializers, BF16 tensors as float16 when every value converts exactly (else float32), each followed by a Cast to
float32, so the graph computes in float32 on exactly the stored values (constant folding is off so the casts stay).

Needs only Debian's python3-torch (1.13) and numpy; no onnx package.
Run: /usr/bin/python3 scripts/export-lm-onnx.py [--no-past] [model_dir] [out_prefix]
     (default test/fixtures/lm/llama -> test/fixtures/lm/llama.onnx; deterministic: the same bytes every time)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def read_safetensors(path):
    """name -> (float32 numpy array, the dtype the file stores it in)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        a, b = e['data_offsets']
        raw = data[base + a:base + b]
        if e['dtype'] == 'F32':
            arr = np.frombuffer(raw, '<f4').astype(np.float32)
        elif e['dtype'] == 'F16':
            arr = np.frombuffer(raw, '<f2').astype(np.float32)
        elif e['dtype'] == 'BF16':
            arr = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f'{name}: dtype {e["dtype"]} is not F32/F16/BF16')
        out[name] = (arr.reshape(e['shape']).copy(), e['dtype'])
    return out


class Decoder(torch.nn.Module):
    """The decoder with its weights as buffers in their storage dtype; forward casts each to float32 where used."""

    def __init__(self, cfg, tensors, kv):
        super().__init__()
        self.cfg, self.kv = cfg, kv
        self.H, self.nh = cfg['hidden_size'], cfg['num_attention_heads']
        self.nkv = cfg.get('num_key_value_heads', self.nh)
        self.hd = cfg.get('head_dim', self.H // self.nh)
        self.rot = int(self.hd * cfg.get('partial_rotary_factor', 1.0))
        self.eps, self.theta = cfg.get('rms_norm_eps', 1e-6), cfg.get('rope_theta', 10000.0)
        self.L = cfg['num_hidden_layers']
        self.names = {}
        self.stored = {}
        for name, (arr, dt) in tensors.items():
            if name.endswith('rotary_emb.inv_freq'):
                continue
            t = torch.from_numpy(arr)
            if name.endswith('proj.weight') or name == 'lm_head.weight':
                t = t.t().contiguous()  # stored [in, out], so x @ W.T is one MatMul without a Transpose node
            if dt != 'F32' and torch.equal(t.to(torch.float16).to(torch.float32), t):
                t = t.to(torch.float16)
            # short initializer names (model.layers.0.self_attn.q_proj.weight -> L0_q_proj) keep the file small
            key = name.replace('model.layers.', 'L').replace('model.', '').replace('self_attn.', '').replace('mlp.', '')
            key = key.replace('.weight', '').replace('.', '_')
            self.register_buffer(key, t)
            self.names[name] = key
            self.stored[name] = str(t.dtype).replace('torch.', '')
        inv = 1.0 / (self.theta ** (torch.arange(0, self.rot, 2, dtype=torch.float64) / self.rot))
        self.register_buffer('inv_freq', inv.to(torch.float32))
        r, h = torch.zeros(self.hd, self.hd), self.rot // 2
        for i in range(h):
            r[i + h, i] = -1.0  # out[i] = -x[i + h]
            r[i, i + h] = 1.0   # out[i + h] = x[i]
        self.register_buffer('rot_half', r)

    def w(self, name):
        return getattr(self, self.names[name]).to(torch.float32)

    def has(self, name):
        return name in self.names

    def linear(self, x, prefix):
        """x @ W.T (+ b) for a Hugging Face [out, in] weight (held transposed)."""
        y = x @ self.w(prefix + '.weight')
        return y + self.w(prefix + '.bias') if self.has(prefix + '.bias') else y

    def rms(self, x, name):
        return self.w(name) * (x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps))

    def rope_tables(self, pos):
        """cos and sin per position over the whole head ([S, headDim]; 1 and 0 on the dims that do not rotate)."""
        freqs = pos.to(torch.float32)[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        if self.rot < self.hd:
            S = pos.shape[0]
            cos = torch.cat((cos, torch.ones(S, self.hd - self.rot)), dim=-1)
            sin = torch.cat((sin, torch.zeros(S, self.hd - self.rot)), dim=-1)
        return cos, sin

    def rope(self, x, cos, sin):
        # rotate_half as one matmul by a signed permutation (exact: one product by +-1, the rest by 0), which
        # keeps the graph small (no Slice nodes)
        return x * cos + (x @ self.rot_half) * sin

    def forward(self, input_ids, *past):
        ids = input_ids[0]
        S = ids.shape[0]
        P = past[0].shape[2] if self.kv else 0
        pos = torch.arange(S) + P
        x = self.w('model.embed_tokens.weight')[ids]
        kpos = torch.arange(S + P) if self.kv else pos
        # key j is hidden from query i when j > P + i
        hide = kpos[None, :] > pos[:, None]
        rep = self.nh // self.nkv
        cos, sin = self.rope_tables(pos)
        presents = []
        for l in range(self.L):
            p = f'model.layers.{l}.'
            h = self.rms(x, p + 'input_layernorm.weight')

            def proj(n, heads):
                y = self.linear(h, p + f'self_attn.{n}_proj')
                return y.view(-1, heads, self.hd).transpose(0, 1)  # [heads, S, hd]

            q = self.rope(proj('q', self.nh), cos, sin)
            k = self.rope(proj('k', self.nkv), cos, sin)
            v = proj('v', self.nkv)
            if self.kv:
                k = torch.cat((past[2 * l][0], k), 1)
                v = torch.cat((past[2 * l + 1][0], v), 1)
                presents += [k[None], v[None]]
            # repeat_kv: query head h reads KV head h // rep (written without dynamic shapes, for a small graph)
            kk = torch.cat([k[:, None]] * rep, 1).reshape(self.nh, -1, self.hd) if rep > 1 else k
            vv = torch.cat([v[:, None]] * rep, 1).reshape(self.nh, -1, self.hd) if rep > 1 else v
            att = torch.softmax((q @ kk.transpose(1, 2) / math.sqrt(self.hd)).masked_fill(hide, float('-inf')), dim=-1)
            o = self.linear((att @ vv).transpose(0, 1).reshape(-1, self.nh * self.hd), p + 'self_attn.o_proj')
            x = x + o
            h = self.rms(x, p + 'post_attention_layernorm.weight')
            g = self.linear(h, p + 'mlp.gate_proj')
            u = self.linear(h, p + 'mlp.up_proj')
            x = x + self.linear(torch.nn.functional.silu(g) * u, p + 'mlp.down_proj')
        x = self.rms(x, 'model.norm.weight')
        tied = self.cfg.get('tie_word_embeddings', False) or not self.has('lm_head.weight')
        logits = (x @ (self.w('model.embed_tokens.weight').t() if tied else self.w('lm_head.weight')))[None]
        return (logits, *presents) if self.kv else logits


def export(model_dir, out_prefix, kv=True):
    with open(os.path.join(model_dir, 'config.json')) as f:
        cfg = json.load(f)
    tensors = read_safetensors(os.path.join(model_dir, 'model.safetensors'))
    ids = torch.tensor([[1, 5, 42, 7]], dtype=torch.int64)
    written = []
    for kv in (kv,):
        m = Decoder(cfg, tensors, kv).eval()
        path = out_prefix + ('.onnx' if kv else '-prefill.onnx')
        if kv:
            nkv, hd = m.nkv, m.hd
            past = [torch.zeros(1, nkv, 3, hd) for _ in range(2 * m.L)]
            names = [f'past_{w}_{l}' for l in range(m.L) for w in ('key', 'value')]
            outs = ['logits'] + [f'present_{w}_{l}' for l in range(m.L) for w in ('key', 'value')]
            dyn = {'input_ids': {1: 'seq'}, 'logits': {1: 'seq'}}
            dyn.update({n: {2: 'past'} for n in names})
            dyn.update({n: {2: 'total'} for n in outs[1:]})
            args = (ids, *past)
        else:
            names, outs, dyn, args = [], ['logits'], {'input_ids': {1: 'seq'}, 'logits': {1: 'seq'}}, (ids,)
        with torch.no_grad():
            torch.onnx.export(m, args, path, opset_version=17, input_names=['input_ids'] + names, output_names=outs,
                              dynamic_axes=dyn, do_constant_folding=False)
        written.append(path)
        print(f'{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes, weights stored as',
              {d: sum(1 for v in m.stored.values() if v == d) for d in sorted(set(m.stored.values()))})
    return written


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    model_dir = args[0] if len(args) > 0 else os.path.join(ROOT, 'test', 'fixtures', 'lm', 'llama')
    out = args[1] if len(args) > 1 else os.path.join(ROOT, 'test', 'fixtures', 'lm', 'llama')
    torch.manual_seed(0)
    export(model_dir, out, kv='--no-past' not in sys.argv)


if __name__ == '__main__':
    main()
