#!/usr/bin/env python3
"""Writes the tiny transformer fixtures of test/cases/lm.ts under test/fixtures/lm/.

Needs Debian's python3-torch (1.13, CPU) and nothing else: no transformers package. The forward pass
below is written out by hand with Hugging Face Llama semantics (RMSNorm, rotate_half RoPE on the first
rotary dims, GQA by repeat_kv, causal softmax attention, SiLU-gated MLP, tied or separate lm_head,
Qwen2's q/k/v biases), and the safetensors files are written by hand too (8-byte little-endian header
length, JSON header, raw little-endian bytes).

Two models, each a random init from a fixed seed:
  llama/  LlamaForCausalLM: hidden 64, 4 heads, 2 KV heads, head_dim 16, 2 layers, vocab 97,
          intermediate 96, separate lm_head; tensors stored as F32, F16 and BF16 (mixed).
  qwen2/  Qwen2ForCausalLM: hidden 32, 4 heads, 1 KV head, head_dim 8, partial_rotary_factor 0.5
          (the first 4 dims of each head rotate in halves, the rest pass through, as StableLM/Phi do),
          q/k/v biases, tied embeddings, rope_theta 1e6, vocab 89, intermediate 64.
Each folder gets config.json, model.safetensors and reference.json: the logits of a few fixed
prompts (computed in float64 from the weights exactly as stored, so F16/BF16 rounding is included)
and the greedy continuation of one prompt (full recompute at every step, no cache); for the Llama also a
step-by-step KV-cache generation after StreamingLLM eviction of the prompt (its kept set depends on
positions only, so the reference needs no scorer), with the logits of every step.

Run: /usr/bin/python3 scripts/make-lm-fixture.py (Debian's python, which has python3-torch)   (deterministic: the same files every time)
The llama fixture's ONNX export for bench/lm.mjs (test/fixtures/lm/llama.onnx) is written from these files by
scripts/export-lm-onnx.py: run it after this script whenever the fixture changes.
"""
import json
import math
import os
import struct

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'lm')


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, pos, theta, rot):
    # x [heads, seq, head_dim]; the first `rot` dims rotate as (i, i + rot/2), the rest pass through.
    inv_freq = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    freqs = pos.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def forward(cfg, W, tokens):
    """Logits [len(tokens), vocab] in float64, Hugging Face Llama/Qwen2 semantics."""
    H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = cfg.get('head_dim', H // nh)
    rot = int(hd * cfg.get('partial_rotary_factor', 1.0))
    eps, theta = cfg['rms_norm_eps'], cfg['rope_theta']
    S = len(tokens)
    pos = torch.arange(S)
    x = W['model.embed_tokens.weight'][torch.tensor(tokens)]
    mask = torch.full((S, S), float('-inf'), dtype=torch.float64).triu(1)
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        h = rms_norm(x, W[p + 'input_layernorm.weight'], eps)

        def proj(name, heads):
            y = h @ W[p + f'self_attn.{name}_proj.weight'].T
            b = W.get(p + f'self_attn.{name}_proj.bias')
            if b is not None:
                y = y + b
            return y.view(S, heads, hd).transpose(0, 1)  # [heads, S, hd]

        q = rope(proj('q', nh), pos, theta, rot)
        k = rope(proj('k', nkv), pos, theta, rot)
        v = proj('v', nkv)
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=0)  # repeat_kv: query head h reads KV head h // rep
        v = v.repeat_interleave(rep, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(S, nh * hd) @ W[p + 'self_attn.o_proj.weight'].T
        x = x + o
        h = rms_norm(x, W[p + 'post_attention_layernorm.weight'], eps)
        g = h @ W[p + 'mlp.gate_proj.weight'].T
        u = h @ W[p + 'mlp.up_proj.weight'].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + 'mlp.down_proj.weight'].T
    x = rms_norm(x, W['model.norm.weight'], eps)
    head = W['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else W['lm_head.weight']
    return x @ head.T


def generate_evicted(cfg, W, prompt, keep, n):
    """Greedy tokens and their logits, step by step with per-layer KV caches: the prompt is prefilled with
    full causal attention, then only the prompt positions in `keep` (every layer and KV head alike, as
    StreamingLLM keeps them) stay in the caches, and each new token attends to those plus every token
    generated since. The first token comes from the prefill's last row, before anything is evicted."""
    H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = cfg.get('head_dim', H // nh)
    rot = int(hd * cfg.get('partial_rotary_factor', 1.0))
    eps, theta, rep = cfg['rms_norm_eps'], cfg['rope_theta'], nh // nkv
    caches = [[None, None] for _ in range(cfg['num_hidden_layers'])]

    def run(tokens, start, prefill):
        S = len(tokens)
        pos = torch.arange(start, start + S)
        x = W['model.embed_tokens.weight'][torch.tensor(tokens)]
        for l in range(cfg['num_hidden_layers']):
            p = f'model.layers.{l}.'
            h = rms_norm(x, W[p + 'input_layernorm.weight'], eps)

            def proj(name, heads):
                y = h @ W[p + f'self_attn.{name}_proj.weight'].T
                b = W.get(p + f'self_attn.{name}_proj.bias')
                return (y if b is None else y + b).view(S, heads, hd).transpose(0, 1)

            q = rope(proj('q', nh), pos, theta, rot)
            k = rope(proj('k', nkv), pos, theta, rot)
            v = proj('v', nkv)
            if prefill:
                caches[l] = [k, v]
                mask = torch.full((S, S), float('-inf'), dtype=torch.float64).triu(1)
            else:
                caches[l] = [torch.cat((caches[l][0], k), 1), torch.cat((caches[l][1], v), 1)]
                mask = torch.zeros(1, caches[l][0].shape[1], dtype=torch.float64)
            kk = caches[l][0].repeat_interleave(rep, dim=0)
            vv = caches[l][1].repeat_interleave(rep, dim=0)
            att = torch.softmax(q @ kk.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
            x = x + (att @ vv).transpose(0, 1).reshape(S, nh * hd) @ W[p + 'self_attn.o_proj.weight'].T
            h = rms_norm(x, W[p + 'post_attention_layernorm.weight'], eps)
            x = x + (torch.nn.functional.silu(h @ W[p + 'mlp.gate_proj.weight'].T) * (h @ W[p + 'mlp.up_proj.weight'].T)) @ W[p + 'mlp.down_proj.weight'].T
        x = rms_norm(x, W['model.norm.weight'], eps)
        head = W['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else W['lm_head.weight']
        return (x @ head.T)[-1]

    logits = run(prompt, 0, True)
    idx = torch.tensor(sorted(keep))
    for l in range(len(caches)):
        caches[l] = [caches[l][0][:, idx], caches[l][1][:, idx]]
    toks, rows, margins = [], [], []
    for i in range(n):
        top = torch.topk(logits, 2).values
        margins.append(float(top[0] - top[1]))
        rows.append(logits)
        toks.append(int(logits.argmax()))
        if i < n - 1:
            logits = run([toks[-1]], len(prompt) + i, False)
    return toks, rows, min(margins)


def make_weights(cfg, gen):
    H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
    hd = cfg.get('head_dim', H // nh)
    I, V = cfg['intermediate_size'], cfg['vocab_size']
    qwen = cfg['architectures'][0] == 'Qwen2ForCausalLM'

    def mat(o, i):
        return torch.randn(o, i, generator=gen) / math.sqrt(i)

    def norm(n):
        return 1 + 0.2 * torch.randn(n, generator=gen)

    # Tied embeddings are scaled down, or each token's own embedding dominates its logits (x . x ~ H).
    W = {'model.embed_tokens.weight': torch.randn(V, H, generator=gen) * (0.3 if cfg['tie_word_embeddings'] else 1.0)}
    for l in range(cfg['num_hidden_layers']):
        p = f'model.layers.{l}.'
        W[p + 'input_layernorm.weight'] = norm(H)
        W[p + 'self_attn.q_proj.weight'] = mat(nh * hd, H) * 2  # sharper attention
        W[p + 'self_attn.k_proj.weight'] = mat(nkv * hd, H) * 2
        W[p + 'self_attn.v_proj.weight'] = mat(nkv * hd, H)
        if qwen:
            W[p + 'self_attn.q_proj.bias'] = 0.5 * torch.randn(nh * hd, generator=gen)
            W[p + 'self_attn.k_proj.bias'] = 0.5 * torch.randn(nkv * hd, generator=gen)
            W[p + 'self_attn.v_proj.bias'] = 0.5 * torch.randn(nkv * hd, generator=gen)
        W[p + 'self_attn.o_proj.weight'] = mat(H, nh * hd)
        W[p + 'post_attention_layernorm.weight'] = norm(H)
        W[p + 'mlp.gate_proj.weight'] = mat(I, H)
        W[p + 'mlp.up_proj.weight'] = mat(I, H)
        W[p + 'mlp.down_proj.weight'] = mat(H, I)
    W['model.norm.weight'] = norm(H)
    if not cfg['tie_word_embeddings']:
        W['lm_head.weight'] = mat(V, H) * 3
    return W


def dtype_for(name, plan):
    for key, dt in plan:
        if key in name:
            return dt
    return 'F32'


def to_bytes(t, dt):
    """Little-endian bytes of t (float32) in dtype dt, and the float64 values those bytes hold."""
    t = t.to(torch.float32).contiguous()
    if dt == 'F32':
        stored = t
        raw = stored.numpy().astype('<f4').tobytes()
    elif dt == 'F16':
        stored = t.to(torch.float16)
        raw = stored.numpy().astype('<f2').tobytes()
    else:  # BF16: round to nearest even through torch, then take the top 16 bits of the f32 pattern
        stored = t.to(torch.bfloat16)
        bits = stored.to(torch.float32).numpy().view('<u4') >> 16
        raw = bits.astype('<u2').tobytes()
    return raw, stored.to(torch.float64)


def write_safetensors(path, W, plan):
    header, blobs, exact, off = {}, [], {}, 0
    for name, t in W.items():
        dt = dtype_for(name, plan)
        raw, stored = to_bytes(t, dt)
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        exact[name] = stored
        off += len(raw)
    header['__metadata__'] = {'format': 'pt', 'source': 'scripts/make-lm-fixture.py'}
    hj = json.dumps(header, separators=(',', ':')).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)  # pad with spaces so the data starts 8-byte aligned (as the format allows)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return exact


def greedy(cfg, W, prompt, n):
    toks, margins = list(prompt), []
    for _ in range(n):
        last = forward(cfg, W, toks)[-1]
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]))
        toks.append(int(last.argmax()))
    return toks[len(prompt):], min(margins)


def build(folder, cfg, seed, plan, prompts, gen_prompt, n_new, evict=None):
    # The first seed from `seed` on whose greedy continuation has a clear winner at every step
    # (top-2 logit gap > 0.05), so f32 kernels cannot flip a token by rounding, and that does not just
    # repeat one token.
    while True:
        W = make_weights(cfg, torch.Generator().manual_seed(seed))
        exact = {n: to_bytes(t, dtype_for(n, plan))[1] for n, t in W.items()}
        cont, margin = greedy(cfg, exact, gen_prompt, n_new)
        if margin > 0.05 and len(set(cont)) >= n_new // 2:
            break
        seed += 1
    out = os.path.join(ROOT, folder)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')
    write_safetensors(os.path.join(out, 'model.safetensors'), W, plan)
    refs = []
    for p in prompts:
        logits = forward(cfg, exact, p)
        refs.append({'tokens': p, 'logits': [float('%.6g' % v) for v in logits.flatten().tolist()]})
    ref = {'vocab': cfg['vocab_size'], 'seed': seed, 'prompts': refs,
           'greedy': {'prompt': gen_prompt, 'continuation': cont, 'minTop2Margin': round(margin, 4)},
           'dtypes': {n: dtype_for(n, plan) for n in W}}
    if evict:
        # StreamingLLM with keepTokens K keeps the 4 sink tokens and the last K - 4 of the prompt in every head.
        ep, K, n = evict
        keep = list(range(4)) + list(range(len(ep) - (K - 4), len(ep)))
        etoks, erows, emargin = generate_evicted(cfg, exact, ep, keep, n)
        assert emargin > 0.02, f'{folder}: evicted greedy margin {emargin} too small'
        full, _ = greedy(cfg, exact, ep, n)
        ref['evicted'] = {'method': 'streamingllm', 'keepTokens': K, 'prompt': ep, 'keep': keep, 'continuation': etoks,
                          'logits': [float('%.6g' % v) for r in erows for v in r.tolist()],
                          'fullCacheContinuation': full, 'minTop2Margin': round(emargin, 4)}
        print(folder, 'evicted continuation', etoks, 'full cache', full, 'margin', round(emargin, 4))
    with open(os.path.join(out, 'reference.json'), 'w') as f:
        json.dump(ref, f, separators=(',', ':'))
        f.write('\n')
    print(folder, 'continuation', cont, 'min margin', round(margin, 4), 'bytes',
          os.path.getsize(os.path.join(out, 'model.safetensors')))


def main():
    torch.set_default_dtype(torch.float32)
    llama = {
        'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'hidden_size': 64, 'intermediate_size': 96,
        'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2, 'head_dim': 16,
        'rms_norm_eps': 1e-5, 'rope_theta': 10000.0, 'vocab_size': 97, 'tie_word_embeddings': False,
        'max_position_embeddings': 256, 'hidden_act': 'silu', 'torch_dtype': 'float32',
    }
    llama_plan = [('layers.0.mlp', 'F16'), ('layers.1.self_attn', 'BF16'), ('layers.1.mlp.gate', 'BF16'),
                  ('layers.1.mlp', 'F16'), ('lm_head', 'BF16')]
    build('llama', llama, 1234, llama_plan,
          prompts=[[1, 5, 42, 7], [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46], [96, 0, 50, 50, 50, 2, 71, 82, 81, 28, 1, 8, 28, 18, 28, 45]],
          gen_prompt=[10, 20, 30, 40, 50, 60, 70, 80], n_new=10,
          evict=([96, 0, 50, 50, 50, 2, 71, 82, 81, 28, 1, 8, 28, 18, 28, 45], 8, 6))
    qwen = {
        'architectures': ['Qwen2ForCausalLM'], 'model_type': 'qwen2', 'hidden_size': 32, 'intermediate_size': 64,
        'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 1, 'head_dim': 8,
        'partial_rotary_factor': 0.5, 'rms_norm_eps': 1e-6, 'rope_theta': 1000000.0, 'vocab_size': 89,
        'tie_word_embeddings': True, 'max_position_embeddings': 128, 'hidden_act': 'silu', 'use_sliding_window': False,
    }
    qwen_plan = [('embed_tokens', 'F32'), ('norm', 'F32'), ('bias', 'F32'), ('layers.0', 'F16'), ('layers.1', 'BF16')]
    build('qwen2', qwen, 99, qwen_plan,
          prompts=[[4, 8, 15, 16, 23, 42], [88, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55]],
          gen_prompt=[7, 7, 7, 1, 2, 3], n_new=8)


if __name__ == '__main__':
    main()
