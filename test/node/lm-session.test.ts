// Language-model sessions, model folders and lm-eval (src/lm/model.ts, src/lm/files.ts, src/lm/eval.ts):
// - session.append over the cache gives lm.forward's logits on the whole sequence; forks are independent;
//   evict leaves caches at the budget; bad input is a typed error;
// - loadTransformer from a folder ({ dir }) and the bundled 'tiny' (its weights are committed),
//   a missing file is a ModelFileError naming the file and where it looked;
// - pcpress lm-eval on a small random model with the bundled tokenizer and held-out text: sane JSON.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  createRuntime, loadTransformer, evaluateLMEviction, retrievalPrompts, loadTokenizer, ArgumentError, DisposedError,
  ModelFileError, ModelWeightsError, ValidationError, SessionStateError, sampleToken, parseSafetensors, scoreKVReference, selectKV, type Runtime, type Transformer,
} from 'pcpress';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = path.join(root, 'test/fixtures/lm/llama');
const tinyDir = path.join(root, 'models/tiny');
const tinyWeights = fs.existsSync(path.join(tinyDir, 'model.safetensors'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcpress-lm-'));

/** A safetensors file of F32 tensors. */
function safetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, f16: Record<string, number> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  let off = 0;
  // a name in f16 becomes an F16 tensor of zeros with element 5 set to those bits
  tensors = Object.fromEntries(Object.entries(tensors).map(([name, t]) => {
    if (!(name in f16)) return [name, t];
    const b = new Uint16Array(t.data.length + (t.data.length % 2));
    b[5] = f16[name];
    return [name, { shape: t.shape, data: new Float32Array(b.buffer), f16: t.data.length * 2 }];
  }));
  for (const [name, t] of Object.entries(tensors) as [string, { shape: number[]; data: Float32Array; f16?: number }][]) {
    const bytes = t.f16 ?? t.data.byteLength;
    header[name] = { dtype: t.f16 ? 'F16' : 'F32', shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const hb = new TextEncoder().encode(h);
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setUint32(0, hb.length, true);
  out.set(hb, 8);
  let at = 8 + hb.length;
  for (const t of Object.values(tensors) as { data: Float32Array; f16?: number }[]) {
    const bytes = t.f16 ?? t.data.byteLength;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes), at);
    at += bytes;
  }
  return out;
}

/** A random Llama (tied embeddings) of vocab 1024 in `dir`, with the bundled tokenizer and held-out text: a model folder as lm-eval reads it. */
function randomModelDir(dir: string, c = { hidden: 32, inter: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 8 }): void {
  let s = 12345;
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
  const H = c.hidden, qd = c.heads * c.headDim, kvd = c.kvHeads * c.headDim, V = 1024;
  const t: Record<string, { shape: number[]; data: Float32Array }> = { 'model.embed_tokens.weight': { shape: [V, H], data: rand(V * H, 0.5) } };
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    t[`${p}input_layernorm.weight`] = { shape: [H], data: new Float32Array(H).fill(1) };
    t[`${p}post_attention_layernorm.weight`] = { shape: [H], data: new Float32Array(H).fill(1) };
    t[`${p}self_attn.q_proj.weight`] = { shape: [qd, H], data: rand(qd * H, 0.3) };
    t[`${p}self_attn.k_proj.weight`] = { shape: [kvd, H], data: rand(kvd * H, 0.3) };
    t[`${p}self_attn.v_proj.weight`] = { shape: [kvd, H], data: rand(kvd * H, 0.3) };
    t[`${p}self_attn.o_proj.weight`] = { shape: [H, qd], data: rand(H * qd, 0.3) };
    t[`${p}mlp.gate_proj.weight`] = { shape: [c.inter, H], data: rand(c.inter * H, 0.3) };
    t[`${p}mlp.up_proj.weight`] = { shape: [c.inter, H], data: rand(c.inter * H, 0.3) };
    t[`${p}mlp.down_proj.weight`] = { shape: [H, c.inter], data: rand(H * c.inter, 0.3) };
  }
  t['model.norm.weight'] = { shape: [H], data: new Float32Array(H).fill(1) };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], hidden_size: H, intermediate_size: c.inter, num_hidden_layers: c.layers,
    num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, head_dim: c.headDim, vocab_size: V, tie_word_embeddings: true,
    rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 2048,
  }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensors(t));
  fs.copyFileSync(path.join(tinyDir, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  fs.copyFileSync(path.join(tinyDir, 'heldout.txt'), path.join(dir, 'heldout.txt'));
}

/** Largest |a - b| over each row of `vocab`, relative to the row's largest |b|. */
function rowError(a: Float32Array, b: Float32Array, vocab: number): number {
  let worst = 0;
  for (let r = 0; r * vocab < b.length; r++) {
    let d = 0, m = 0;
    for (let j = r * vocab; j < (r + 1) * vocab; j++) {
      d = Math.max(d, Math.abs(a[j] - b[j]));
      m = Math.max(m, Math.abs(b[j]));
    }
    worst = Math.max(worst, d / m);
  }
  return worst;
}

const randomDir = path.join(tmp, 'random');
let rt: Runtime;
let lm: Transformer;

beforeAll(async () => {
  randomModelDir(randomDir);
  // two threads: sessions run prefill and multi-row split-K decodes on the pool (17+ rows over 512+ keys once
  // trapped there; test/node/threads.test.ts has that regression)
  rt = await createRuntime({ backend: 'wasm', threads: 2 });
  lm = await loadTransformer(rt, { dir: fixture });
});

afterAll(() => {
  lm?.dispose();
  rt?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 97);

describe('LMSession', () => {
  it('append over the cache gives forward\'s logits on the whole sequence (multi-token, causal among the new tokens)', async () => {
    const full = await lm.forward(prompt);
    const V = lm.config.vocabSize;
    const s = await lm.prefill(prompt.slice(0, 17));
    try {
      expect(s.position).toBe(17);
      expect(rowError(s.logits!, full.subarray(16 * V, 17 * V), V)).toBeLessThan(1e-5);
      const a = await s.append(prompt.slice(17, 30));
      expect(a.length).toBe(13 * V);
      expect(rowError(a, full.subarray(17 * V, 30 * V), V)).toBeLessThan(1e-5);
      const b = await s.append(Int32Array.from(prompt.slice(30, 31)));
      expect(rowError(b, full.subarray(30 * V, 31 * V), V)).toBeLessThan(1e-5);
      const c = await s.append(prompt.slice(31), { logits: 'last' });
      expect(c.length).toBe(V);
      expect(rowError(c, full.subarray(39 * V), V)).toBeLessThan(1e-5);
      expect(s.logits).toEqual(c);
      expect(s.position).toBe(40);
      expect(s.cacheLengths).toEqual([[40, 40], [40, 40]]);
      // an empty session's first append is a prefill
      const e = lm.session();
      const all = await e.append(prompt);
      expect(rowError(all, full, V)).toBeLessThan(1e-5);
      e.dispose();
      // a wrong row would be caught
      expect(rowError(a.subarray(0, V), full.subarray(18 * V, 19 * V), V)).toBeGreaterThan(1e-2);
    } finally {
      s.dispose();
    }
  });

  it('fork is independent: appends and evictions of one do not change the other', async () => {
    const V = lm.config.vocabSize;
    const s = await lm.prefill(prompt.slice(0, 20));
    const f = s.fork();
    try {
      expect(f.position).toBe(20);
      expect(f.logits).toEqual(s.logits);
      const x = await f.append([1, 2, 3]);
      await f.evict({ method: 'snapkv', keepTokens: 8, window: 4 });
      expect(f.evicted).toBe(true);
      expect(s.evicted).toBe(false);
      expect(s.cacheLengths).toEqual([[20, 20], [20, 20]]);
      // the original continues as if the fork never happened
      const y = await s.append(prompt.slice(20, 25));
      const ref = await lm.forward(prompt.slice(0, 25));
      expect(rowError(y, ref.subarray(20 * V), V)).toBeLessThan(1e-5);
      const ref2 = await lm.forward([...prompt.slice(0, 20), 1, 2, 3]);
      expect(rowError(x, ref2.subarray(20 * V), V)).toBeLessThan(1e-5);
      // a fork of an evicted session keeps the compacted caches; disposing it leaves the parent usable
      const g = f.fork();
      expect(g.cacheLengths).toEqual(f.cacheLengths);
      const g1 = await g.append([5]), f1 = await f.append([5]);
      expect(g1).toEqual(f1);
      g.dispose();
      f.dispose();
      expect(f.disposed).toBe(true);
      await s.append([7]);
    } finally {
      s.dispose();
      f.dispose();
    }
  });

  it('evict leaves every cache at its budget', async () => {
    const s = await lm.prefill(prompt);
    try {
      const a = s.fork();
      await a.evict({ method: 'snapkv', keepTokens: 9, window: 4 });
      expect(a.cacheLengths).toEqual([[9, 9], [9, 9]]);
      expect(a.position).toBe(40);
      const logits = await a.append([3, 4], { logits: 'last' });
      expect(logits.length).toBe(97);
      expect(a.cacheLengths).toEqual([[11, 11], [11, 11]]);
      a.dispose();
      const b = s.fork();
      await b.evict({ method: 'defensivekv', compression: 0.5, window: 4 });
      for (const l of b.cacheLengths) expect(l.reduce((x, y) => x + y, 0)).toBe(20 * 2);
      b.dispose();
      const c = s.fork();
      await c.evict({ method: 'layer-defensivekv', compression: 0.75, window: 8 });
      expect(c.cacheLengths.flat().reduce((x, y) => x + y, 0)).toBe(10 * 2 * 2);
      c.dispose();
      for (const method of ['streamingllm', 'h2o', 'tova', 'knorm', 'pyramidkv', 'adakv', 'criticalkv', 'prefixkv'] as const) {
        const d = s.fork();
        await d.evict({ method, keepTokens: 12, window: 4 });
        expect(d.cacheLengths.flat().reduce((x, y) => x + y, 0), method).toBe(12 * 2 * 2);
        d.dispose();
      }
      // the queries kept roll with appends: evicting after an append scores the latest window
      const e = s.fork();
      await e.append([1, 2, 3, 4, 5, 6]);
      await e.evict({ method: 'snapkv', keepTokens: 10, window: 4 });
      expect(e.cacheLengths).toEqual([[10, 10], [10, 10]]);
      e.dispose();
    } finally {
      s.dispose();
    }
  });

  it('decode-time eviction (generate eviction.every): caches stay within budget + every, StreamingLLM keeps sinks + the latest', async () => {
    const collect = async (it: AsyncIterable<number>) => { const out: number[] = []; for await (const t of it) out.push(t); return out; };
    const keep = 12, every = 5, sinks = 4;
    const g = lm.generate(prompt, { maxNewTokens: 23, eviction: { method: 'streamingllm', keepTokens: keep, window: 4, sinks, every } });
    let most = 0;
    const toks: number[] = [];
    for await (const t of g) {
      toks.push(t);
      most = Math.max(most, ...g.cacheLengths.flat());
      expect(Math.min(...g.cacheLengths.flat())).toBeGreaterThanOrEqual(keep);
    }
    expect(toks).toHaveLength(23);
    expect(most).toBeLessThanOrEqual(keep + every);
    expect(most).toBeGreaterThan(keep); // it did grow between evictions
    // the last decode-time eviction: of keep + every tokens per head, StreamingLLM keeps the sinks and the newest
    const sel = g.decodeSelections!;
    expect(sel).toHaveLength(2);
    for (const s of sel) {
      for (const k of s.keep) {
        const n = keep + every;
        expect(Array.from(k)).toEqual([...Array(sinks).keys(), ...Array.from({ length: keep - sinks }, (_, i) => n - (keep - sinks) + i)]);
      }
    }
    // every past the last token: no decode-time eviction runs, the same tokens as the prefill eviction alone
    const once = await collect(lm.generate(prompt, { maxNewTokens: 12, eviction: { method: 'snapkv', keepTokens: 8, window: 4 } }));
    const late = lm.generate(prompt, { maxNewTokens: 12, eviction: { method: 'snapkv', keepTokens: 8, window: 4, every: 50 } });
    expect(await collect(late)).toEqual(once);
    expect(late.decodeSelections).toBeUndefined();
    // and a method that scores (SnapKV) runs on the compacted caches without error, staying in budget
    const snap = lm.generate(prompt, { maxNewTokens: 15, eviction: { method: 'snapkv', compression: 0.75, window: 4, every: 4 } });
    for await (const _ of snap) expect(Math.max(...snap.cacheLengths.flat())).toBeLessThanOrEqual(10 + 4);
    expect(snap.decodeSelections).toBeDefined();
    await expect(collect(lm.generate(prompt, { maxNewTokens: 3, eviction: { method: 'snapkv', keepTokens: 8, every: 0 } }))).rejects.toThrow(/every must be a positive integer/);
  });

  it('generate with eviction but no every reads no queries back while decoding; the same tokens as a session driven by hand', async () => {
    const collect = async (it: AsyncIterable<number>) => { const out: number[] = []; for await (const t of it) out.push(t); return out; };
    const ev = { method: 'snapkv' as const, keepTokens: 10, window: 4 };
    const spy = vi.spyOn(lm as unknown as { pass: (...a: unknown[]) => Promise<unknown> }, 'pass');
    let toks: number[], windows: number[];
    try {
      toks = await collect(lm.generate(prompt, { maxNewTokens: 8, eviction: ev }));
      windows = spy.mock.calls.map((c) => (c[4] as number | undefined) ?? 0);
    } finally {
      spy.mockRestore();
    }
    expect(windows).toHaveLength(8); // the prefill and 7 decode steps
    expect(windows[0]).toBe(4); // the prefill keeps the window's queries for the eviction
    expect(windows.slice(1)).toEqual(Array(7).fill(0));
    // the same tokens as prefill + evict + greedy appends (which do track queries)
    const s = await lm.prefill(prompt, { window: 4 });
    try {
      await s.evict(ev);
      const ref: number[] = [];
      for (let i = 0; i < 8; i++) {
        ref.push(sampleToken(s.logits!, 0, 0, Math.random));
        if (i < 7) await s.append([ref[i]], { logits: 'last' });
      }
      expect(toks).toEqual(ref);
    } finally {
      s.dispose();
    }
  });

  it('decode-time eviction with a scoring method (SnapKV, every) keeps what the reference scorer picks from the cache and the last queries', async () => {
    const keep = 8, every = 4, w = 4, n = 13; // decode-time evictions after appends 4, 8 and 12
    const ev = { method: 'snapkv' as const, keepTokens: keep, window: w };
    const g = lm.generate(prompt, { maxNewTokens: n, eviction: { ...ev, every } });
    const toks: number[] = [];
    for await (const t of g) toks.push(t);
    expect(toks).toHaveLength(n);
    // the same on a session by hand: prefill, evict, append one token at a time, evict every 4
    const c = lm.config, hd = c.headDim, nH = c.numHeads, g2 = nH / c.numKvHeads;
    const s = await lm.prefill(prompt, { window: w });
    try {
      await s.evict(ev);
      let expected: Int32Array[][] = [];
      for (let i = 0; i < n - 1; i++) {
        await s.append([toks[i]], { logits: 'last' });
        if ((i + 1) % every) continue;
        // before the eviction: every layer's cache and the last w queries ([numHeads][w][headDim])
        const queries = (s as unknown as { queries: Float32Array[]; qRows: number }).queries;
        expect((s as unknown as { qRows: number }).qRows).toBe(w);
        expected = [];
        for (let l = 0; l < c.numLayers; l++) {
          const kv = await s.layerCaches[l].read();
          const perHead: Int32Array[] = [];
          for (let kh = 0; kh < c.numKvHeads; kh++) {
            const off = kv.offsets[kh], len = kv.lengths[kh];
            const sc = await scoreKVReference('snapkv', {
              q: queries[l].subarray(kh * g2 * w * hd, (kh + 1) * g2 * w * hd),
              k: kv.keys.subarray(off * hd, (off + len) * hd), v: kv.values.subarray(off * hd, (off + len) * hd),
              numHeads: g2, numKvHeads: 1, headDim: hd, window: w, keepTokens: keep,
            });
            perHead.push((await selectKV(sc, { keepTokens: keep })).keep[0]);
          }
          expected.push(perHead);
        }
        const sel = await s.evict(ev);
        expect(sel.map((x) => x.keep.map((k) => Array.from(k))), `eviction after append ${i + 1}`).toEqual(expected.map((l) => l.map((k) => Array.from(k))));
      }
      expect(s.cacheLengths).toEqual([[keep, keep], [keep, keep]]);
      // generate's last decode-time eviction kept the same tokens as the reference
      expect(g.decodeSelections!.map((x) => x.keep.map((k) => Array.from(k)))).toEqual(expected.map((l) => l.map((k) => Array.from(k))));
      expect(expected[0][0].length).toBe(keep);
    } finally {
      s.dispose();
    }
  });

  it('bad input: typed errors', async () => {
    await expect(lm.prefill([1, 97])).rejects.toThrow(ArgumentError);
    await expect(lm.prefill([1, -1])).rejects.toThrow(/token 1 is -1/);
    await expect(lm.prefill([])).rejects.toThrow(ArgumentError);
    await expect(lm.prefill([1, 2], null as unknown as object)).rejects.toThrow(ArgumentError);
    await expect(lm.prefill([1, 2], 5 as unknown as object)).rejects.toThrow(/options must be an object/);
    const s = await lm.prefill(prompt.slice(0, 10));
    await expect(s.append([1000])).rejects.toThrow(ArgumentError);
    await expect(s.append([1], { logits: 'some' as 'all' })).rejects.toThrow(ArgumentError);
    await expect(s.evict({ method: 'nope' as 'snapkv', compression: 0.5 })).rejects.toThrow(/method must be one of/);
    await expect(s.evict({ method: 'snapkv', compression: 1.5 })).rejects.toThrow(ArgumentError);
    await expect(s.evict({ method: 'snapkv', compression: 0.5, keepTokens: 3 })).rejects.toThrow(/exactly one/);
    await expect(s.evict({ method: 'snapkv', keepTokens: 11 })).rejects.toThrow(ValidationError);
    await expect(s.evict({ method: 'snapkv', keepTokens: 5, window: 64 })).rejects.toThrow(/more than the 10 queries/);
    await expect(s.evict({ method: 'snapkv', keepTokens: 5, window: 10 })).rejects.toThrow(/window 10 is more than position - 1 = 9/);
    await s.evict({ method: 'snapkv', keepTokens: 5, window: 4 });
    await expect(s.evict({ method: 'snapkv', keepTokens: 3 })).rejects.toThrow(/no token was appended since the last eviction/);
    await expect(s.evict({ method: 'snapkv', keepTokens: 3, every: 2 })).rejects.toThrow(/generate option/);
    await s.append([1, 2, 3]);
    await expect(s.evict({ method: 'snapkv', keepTokens: 3, window: 4 })).rejects.toThrow(/more than the 3 queries/);
    // a second evict re-scores per head: no allocation across heads / layers, and no budget over a head's length
    for (const extra of [{ allocation: 'pyramid' as const }, { alpha: 0.2 }, { beta: 20 }]) {
      await expect(s.evict({ method: 'snapkv', keepTokens: 3, window: 2, ...extra })).rejects.toThrow(/first eviction only/);
    }
    await expect(s.evict({ method: 'snapkv', keepTokens: 9, window: 2 })).rejects.toThrow(/keepTokens 9 is more than the 8 tokens/);
    expect(s.cacheLengths).toEqual([[8, 8], [8, 8]]);
    await s.evict({ method: 'snapkv', keepTokens: 3, window: 2 });
    expect(s.cacheLengths).toEqual([[3, 3], [3, 3]]);
    s.dispose();
    await expect(s.append([1])).rejects.toThrow(DisposedError);
    expect(() => s.fork()).toThrow(DisposedError);
    const n = await lm.prefill([1, 2, 3], { window: 0 });
    await expect(n.evict({ method: 'snapkv', keepTokens: 2 })).rejects.toThrow(/keeps no queries/);
    n.dispose();
    expect(() => lm.session({ window: -1 })).toThrow(ArgumentError);
    expect(() => lm.session({ windw: 3 } as object)).toThrow(ArgumentError);
  });

  it('a session runs one call at a time: a concurrent append / evict / fork is a SessionStateError, dispose waits for the running call', async () => {
    const V = lm.config.vocabSize;
    const s = await lm.prefill(prompt.slice(0, 8));
    try {
      const [a, b] = await Promise.allSettled([s.append([9, 10]), s.append([11, 12])]);
      expect(a.status).toBe('fulfilled');
      expect(b.status).toBe('rejected');
      const err = (b as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(SessionStateError);
      expect(err.state).toBe('busy');
      expect(err.code).toBe('session-busy');
      // the first append ran alone: forward's logits
      const ref = await lm.forward([...prompt.slice(0, 8), 9, 10]);
      expect(rowError((a as PromiseFulfilledResult<Float32Array>).value, ref.subarray(8 * V), V)).toBeLessThan(1e-5);
      expect(s.position).toBe(10);
      const running = s.append([1]);
      expect(() => s.fork()).toThrow(SessionStateError);
      await expect(s.evict({ method: 'snapkv', keepTokens: 4, window: 2 })).rejects.toThrow(/busy/);
      await running;
      // dispose during a call: deferred until it settles, the session reads as disposed at once
      const late = s.append([2]);
      s.dispose();
      expect(s.disposed).toBe(true);
      await late;
      await expect(s.append([3])).rejects.toThrow(DisposedError);
    } finally {
      s.dispose();
    }
  });

  it('a call that fails midway (some layers changed) breaks the session: later calls are SessionStateErrors until dispose', async () => {
    const s = await lm.prefill(prompt.slice(0, 8));
    const caches = (s as unknown as { caches: { append: (...a: unknown[]) => void }[] }).caches;
    const orig = caches[1].append;
    caches[1].append = () => { throw new Error('layer 1 failed'); };
    await expect(s.append([1, 2])).rejects.toThrow(/layer 1 failed/);
    caches[1].append = orig;
    expect(s.isBroken).toBe(true);
    const err = await s.append([1]).catch((e) => e);
    expect(err).toBeInstanceOf(SessionStateError);
    expect(err.state).toBe('broken');
    expect(err.message).toMatch(/dispose/);
    expect(() => s.fork()).toThrow(SessionStateError);
    s.dispose();
    expect(s.disposed).toBe(true);
    // a failure before any cache changed (bad input) leaves the session usable
    const t = await lm.prefill(prompt.slice(0, 8));
    await expect(t.append([1000])).rejects.toThrow(ArgumentError);
    expect(t.isBroken).toBe(false);
    await t.append([1]);
    t.dispose();
  });

  it('sampleToken: NaN / no finite maximum and bad arguments are ArgumentErrors (greedy and sampling), generate too', async () => {
    const r = () => 0.5;
    const nanAt = Float32Array.of(1, NaN, 2);
    for (const t of [0, 1]) {
      expect(() => sampleToken(nanAt, t, 0, r)).toThrow(/NaN at id 1/);
      expect(() => sampleToken(Float32Array.of(NaN, NaN), t, 0, r)).toThrow(ArgumentError);
      expect(() => sampleToken(Float32Array.of(-Infinity, -Infinity), t, 0, r)).toThrow(/no finite maximum/);
      expect(() => sampleToken(Float32Array.of(0, Infinity), t, 0, r)).toThrow(/no finite maximum/);
    }
    expect(sampleToken(Float32Array.of(1, 3, 3), 0, 0, r)).toBe(1);
    expect(sampleToken(Float32Array.of(-Infinity, 0, -Infinity), 1, 0, r)).toBe(1);
    expect(() => sampleToken(Float32Array.of(1, 2), -1, 0, r)).toThrow(/temperature/);
    expect(() => sampleToken(Float32Array.of(1, 2), NaN, 0, r)).toThrow(/temperature/);
    expect(() => sampleToken(Float32Array.of(1, 2), Infinity, 0, r)).toThrow(/temperature/);
    expect(() => sampleToken(Float32Array.of(1, 2), 1, 1.5, r)).toThrow(/topK/);
    expect(() => sampleToken(Float32Array.of(1, 2), 1, -1, r)).toThrow(/topK/);
    expect(() => sampleToken(Float32Array.of(1, 2), 1, 0, 0.3 as unknown as () => number)).toThrow(/rand must be a function/);
    expect(() => sampleToken([1, 2] as unknown as Float32Array, 0, 0, r)).toThrow(ArgumentError);
    // generate surfaces it: a model whose logits overflow to NaN
    const bad = await loadTransformer(rt, { dir: fixture });
    try {
      (bad as unknown as { embedHost: Float32Array }).embedHost.fill(NaN);
      const g = bad.generate([1, 2, 3], { maxNewTokens: 2 });
      await expect(g.next()).rejects.toThrow(/no finite maximum/);
    } finally {
      bad.dispose();
    }
  });

  it('KVCache.clone copies a compacted cache into independent buffers', async () => {
    const c = rt.createKVCache({ numKvHeads: 2, headDim: 4, capacity: 2 });
    const kv = (n: number, b: number) => Float32Array.from({ length: 2 * n * 4 }, (_, i) => b + i);
    c.append(kv(5, 0), kv(5, 100));
    c.compact([Int32Array.of(0, 2, 4), Int32Array.of(1)]);
    const d = c.clone();
    expect(await d.read()).toEqual(await c.read());
    expect(d.position).toBe(5);
    d.append(kv(1, 1000), kv(1, 2000));
    expect(c.lengths).toEqual([3, 1]);
    expect(d.lengths).toEqual([4, 2]);
    const cd = await d.read();
    expect(Array.from(cd.positions)).toEqual([0, 2, 4, 5, 1, 5]);
    c.dispose();
    expect((await d.read()).keys.length).toBe(6 * 4);
    d.dispose();
    expect(() => d.clone()).toThrow(DisposedError);
  });

  it('session() frees the caches it made when a later layer\'s createKVCache fails', () => {
    const made: { dispose(): void; disposed: boolean }[] = [];
    const orig = rt.createKVCache.bind(rt);
    rt.createKVCache = ((o: Parameters<Runtime['createKVCache']>[0]) => {
      if (made.length === 1) throw new Error('out of memory');
      const k = orig(o);
      made.push(k);
      return k;
    }) as Runtime['createKVCache'];
    try {
      expect(() => lm.session()).toThrow(/out of memory/);
    } finally {
      rt.createKVCache = orig;
    }
    expect(made).toHaveLength(1);
    expect(made[0].disposed).toBe(true);
  });
});

describe('model folders', () => {
  it('loadTransformer({ dir }) reads config, weights and tokenizer (path, file URL, URL object); lm.tokenizer is set', async () => {
    for (const dir of [randomDir, `file://${randomDir}`, new URL(`file://${randomDir}/`)]) {
      const m = await loadTransformer(rt, { dir });
      expect(m.config.vocabSize).toBe(1024);
      expect(m.tokenizer?.vocabSize).toBe(1024);
      expect(m.tokenizer?.decode(m.tokenizer.encode('And God said'))).toBe('And God said');
      m.dispose();
    }
    const noTok = await loadTransformer(rt, { dir: fixture });
    expect(noTok.tokenizer).toBeUndefined();
    noTok.dispose();
    // a tokenizer given with the bytes
    const m = await loadTransformer(rt, {
      config: fs.readFileSync(path.join(randomDir, 'config.json')), weights: fs.readFileSync(path.join(randomDir, 'model.safetensors')),
      tokenizer: loadTokenizer(fs.readFileSync(path.join(tinyDir, 'tokenizer.json'))),
    });
    expect(m.tokenizer?.eosTokenId).toBe(1023);
    m.dispose();
  });

  it('a weight that is Inf or NaN (F32, or F16 bits) is a ModelWeightsError naming the tensor, with every weightDtype', async () => {
    const cfg = fs.readFileSync(path.join(randomDir, 'config.json'));
    const st = parseSafetensors(fs.readFileSync(path.join(randomDir, 'model.safetensors')));
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const name of st.names) tensors[name] = { shape: st.entries.get(name)!.shape, data: st.f32(name) };
    const bad = 'model.layers.1.mlp.up_proj.weight';
    for (const v of [NaN, Infinity, -Infinity]) {
      const t = { ...tensors, [bad]: { ...tensors[bad], data: tensors[bad].data.slice() } };
      t[bad].data[5] = v;
      for (const weightDtype of ['auto', 'f32', 'f16'] as const) {
        const err = await loadTransformer(rt, { config: cfg, weights: safetensors(t), weightDtype }).catch((e) => e);
        expect(err, `${v} ${weightDtype}`).toBeInstanceOf(ModelWeightsError);
        expect(err.tensor).toBe(bad);
        expect(err.message).toMatch(/element 5: every weight must be finite/);
      }
    }
    const norm = 'model.norm.weight';
    const t = { ...tensors, [norm]: { ...tensors[norm], data: tensors[norm].data.slice() } };
    t[norm].data[0] = NaN;
    await expect(loadTransformer(rt, { config: cfg, weights: safetensors(t) })).rejects.toThrow(/model\.norm\.weight/);
    // F16 bits: Inf (0x7c00) and NaN (0x7e00) in a linear weight kept f16 ('auto')
    for (const bits of [0x7c00, 0xfc00, 0x7e00]) {
      const f16 = safetensors(tensors, { [bad]: bits });
      const err = await loadTransformer(rt, { config: cfg, weights: f16 }).catch((e) => e);
      expect(err).toBeInstanceOf(ModelWeightsError);
      expect(err.tensor).toBe(bad);
    }
    const ok = await loadTransformer(rt, { config: cfg, weights: safetensors(tensors, { [bad]: 0x3c00 }) });
    expect(ok.info.linearDtype).toBe('mixed');
    ok.dispose();
  });

  it('a missing file is a ModelFileError naming it and where it looked', async () => {
    const dir = path.join(tmp, 'no-weights');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(randomDir, 'config.json'), path.join(dir, 'config.json'));
    const err = await loadTransformer(rt, { dir }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFileError);
    expect(err.file).toBe('model.safetensors');
    expect(err.location).toBe(path.join(dir, 'model.safetensors'));
    expect(err.message).toContain(path.join(dir, 'model.safetensors'));
    const none = await loadTransformer(rt, { dir: path.join(tmp, 'nowhere') }).catch((e) => e);
    expect(none).toBeInstanceOf(ModelFileError);
    expect(none.file).toBe('config.json');
    // a vocabulary larger than the model's is refused
    await expect(loadTransformer(rt, { dir: fixture, tokenizer: fs.readFileSync(path.join(tinyDir, 'tokenizer.json')) })).rejects.toThrow(ValidationError);
    await expect(loadTransformer(rt, { config: fs.readFileSync(path.join(fixture, 'config.json')), weights: fs.readFileSync(path.join(fixture, 'model.safetensors')), tokenizer: fs.readFileSync(path.join(tinyDir, 'tokenizer.json')) }))
      .rejects.toThrow(/more than vocab_size 97/);
    await expect(loadTransformer(rt, 'huge' as 'tiny')).rejects.toThrow(/not a bundled model/);
    await expect(loadTransformer(rt, { dir: randomDir, config: {} })).rejects.toThrow(/either dir or config/);
  });

  it("loadTransformer(rt, 'tiny') loads the bundled model (models/tiny/model.safetensors is committed)", async () => {
    expect(tinyWeights, 'models/tiny/model.safetensors ships with the package').toBe(true);
    const m = await loadTransformer(rt, 'tiny');
    try {
      const cfg = JSON.parse(fs.readFileSync(path.join(tinyDir, 'config.json'), 'utf8'));
      expect(m.config).toMatchObject({
        numLayers: cfg.num_hidden_layers, hiddenSize: cfg.hidden_size, numHeads: cfg.num_attention_heads,
        numKvHeads: cfg.num_key_value_heads, headDim: cfg.head_dim, vocabSize: 1024, tieWordEmbeddings: true,
      });
      expect(m.info.linearDtype).toBe('f16'); // the file is F16
      expect(m.tokenizer?.vocabSize).toBe(1024);
      const ids = [1023, ...m.tokenizer!.encode('In the beginning')];
      const out: number[] = [];
      for await (const t of m.generate(ids, { maxNewTokens: 8 })) out.push(t);
      expect(out.length).toBe(8);
    } finally {
      m.dispose();
    }
  });
});

describe('lm-eval', () => {
  const cli = (...args: string[]) => spawnSync('node', [path.join(root, 'dist/cli.js'), 'lm-eval', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

  it('pcpress lm-eval --json on 4 prompts and 2 methods: every row, sane fields', () => {
    const r = cli('--model', randomDir, '--prompts', '4', '--texts', '2', '--methods', 'snapkv,defensivekv', '--budgets', '0.2,0.5', '--json');
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.model).toMatchObject({ layers: 2, vocab: 1024, backend: 'wasm' });
    expect(res.protocol).toMatchObject({ prompts: 4, niahPrompts: 2, kvPrompts: 2, texts: 2, methods: ['snapkv', 'defensivekv'], budgets: [0.2, 0.5] });
    expect(res.protocol.contextTokens.min).toBeGreaterThanOrEqual(400);
    expect(res.protocol.contextTokens.max).toBeLessThanOrEqual(1700);
    expect(res.rows.map((x: { method: string; budget: number }) => `${x.method}@${x.budget}`))
      .toEqual(['full@1', 'snapkv@0.2', 'snapkv@0.5', 'defensivekv@0.2', 'defensivekv@0.5']);
    for (const row of res.rows) {
      expect(row.accuracy).toBeGreaterThanOrEqual(0);
      expect(row.accuracy).toBeLessThanOrEqual(1);
      expect(row.correct).toBe(Math.round(row.accuracy * 4));
      expect(row.loss).toBeGreaterThan(0);
      expect(row.perplexity).toBeCloseTo(Math.exp(row.loss), 6);
      expect(row.lossIncrease).toBeCloseTo(row.loss - res.rows[0].loss, 9);
      // the caches held the budget (the window's 32 tokens are pinned, well under 20 % of 500+ tokens)
      if (row.method !== 'full') expect(row.kept).toBeCloseTo(row.budget, 2);
    }
    expect(res.rows[0].lossIncrease).toBe(0);
    expect(res.comparison).toHaveLength(1);
    expect(res.comparison[0]).toMatchObject({ method: 'defensivekv', budget: 0.2, bestBaseline: 'snapkv' });
    expect(res.notes.length).toBeGreaterThan(0);
    expect(res.timing.seconds).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/lm-eval: retrieval 4\/4/);
  });

  it('prints a table without --json; bad flags are errors', () => {
    const r = cli('--model', randomDir, '--prompts', '2', '--texts', '1', '--methods', 'streamingllm', '--budgets', '0.2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/streamingllm\s+\|/);
    expect(r.stdout).toMatch(/full cache: accuracy/);
    const bad = cli('--model', randomDir, '--methods', 'snapkv,nope');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown method "nope"/);
    const range = cli('--model', randomDir, '--budgets', '0.2,1.5');
    expect(range.status).toBe(1);
    expect(range.stderr).toMatch(/budget "1.5" is out of range/);
    const flag = cli('--model', randomDir, '--prompt', '3');
    expect(flag.status).toBe(1);
    expect(flag.stderr).toMatch(/unknown flag --prompt/);
    const missing = cli('--model', path.join(tmp, 'nowhere'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ModelFileError: heldout.txt: not found/);
  });

  it('evaluateLMEviction: typed errors for bad options; prompts in the training formats', async () => {
    const m = await loadTransformer(rt, { dir: randomDir });
    const heldout = fs.readFileSync(path.join(randomDir, 'heldout.txt'), 'utf8');
    try {
      await expect(evaluateLMEviction(m, { heldout, methods: ['snapkv', 'bogus' as 'snapkv'] })).rejects.toThrow(/unknown method "bogus"/);
      await expect(evaluateLMEviction(m, { heldout, budgets: [0] })).rejects.toThrow(ArgumentError);
      await expect(evaluateLMEviction(m, { heldout, budgets: [1] })).rejects.toThrow(/out of range/);
      await expect(evaluateLMEviction(m, { heldout, prompts: -1 })).rejects.toThrow(ArgumentError);
      await expect(evaluateLMEviction(m, { heldout, prompts: 0, texts: 0 })).rejects.toThrow(/nothing to evaluate/);
      await expect(evaluateLMEviction(m, { heldout: '' })).rejects.toThrow(ArgumentError);
      await expect(evaluateLMEviction(m, { heldout, promts: 3 } as never)).rejects.toThrow(ArgumentError);
      await expect(evaluateLMEviction(lm, { heldout })).rejects.toThrow(/no tokenizer/);
    } finally {
      m.dispose();
    }
    const tok = loadTokenizer(fs.readFileSync(path.join(tinyDir, 'tokenizer.json')));
    const ps = retrievalPrompts(heldout, tok, 6, 3);
    expect(retrievalPrompts(heldout, tok, 6, 3)).toEqual(ps);
    expect(ps.map((p) => p.kind)).toEqual(['niah', 'kv', 'niah', 'kv', 'niah', 'kv']);
    // contexts stay within their budget (needles included): 200 prompts capped at 300-600 tokens never pass 600 + 2
    const capped = retrievalPrompts(heldout, tok, 200, 5, [300, 600]);
    expect(Math.max(...capped.map((p) => tok.encode(p.context).length))).toBeLessThanOrEqual(602);
    for (const p of ps) {
      const n = tok.encode(p.context).length;
      expect(n).toBeGreaterThanOrEqual(400);
      expect(n).toBeLessThanOrEqual(1502);
      if (p.kind === 'niah') {
        expect(p.answer).toMatch(/^[1-9][0-9]{6}$/);
        const name = /for ([A-Z][a-z]+)\?/.exec(p.question)![1];
        expect(p.question).toBe(`\nQuestion: What is the special magic number for ${name}?\nAnswer:`);
        expect(p.context).toContain(`The special magic number for ${name} is ${p.answer}.`);
        expect(heldout).toContain(p.context.split('\n').find((l) => !l.startsWith('The special magic number'))!);
      } else {
        expect(p.answer).toMatch(/^[1-9][0-9]{4}$/);
        const key = /value of ([a-z]{6})\?/.exec(p.question)![1];
        expect(p.question).toBe(`\nQuestion: What is the value of ${key}?\nAnswer:`);
        expect(p.context.split('\n')).toContain(`${key}: ${p.answer}`);
        expect(p.context.split('\n').every((l) => /^[a-z]{6}: [1-9][0-9]{4}$/.test(l))).toBe(true);
      }
    }
  });
});

describe('model file limits (untrusted folders and URLs)', () => {
  const copyModel = (name: string) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) fs.copyFileSync(path.join(randomDir, f), path.join(dir, f));
    return dir;
  };

  it('a file over its limit is a LimitError before it is read (64 MiB for json, 2^31 bytes for weights)', async () => {
    const { LimitError } = await import('pcpress');
    const bigTok = copyModel('big-tokenizer');
    fs.truncateSync(path.join(bigTok, 'tokenizer.json'), 2 ** 26 + 1); // sparse: nothing is written
    const e1 = await loadTransformer(rt, { dir: bigTok }).catch((e) => e);
    expect(e1).toBeInstanceOf(LimitError);
    expect(e1.message).toMatch(/tokenizer\.json: 67108865 bytes is more than the limit of 67108864/);
    const bigWeights = copyModel('big-weights');
    fs.truncateSync(path.join(bigWeights, 'model.safetensors'), 2 ** 31 + 1);
    const e2 = await loadTransformer(rt, { dir: bigWeights }).catch((e) => e);
    expect(e2).toBeInstanceOf(LimitError);
    expect(e2.message).toMatch(/model\.safetensors: 2147483649 bytes/);
  });

  it('over HTTP: a Content-Length over the limit, and a chunked response that runs past it, are LimitErrors', async () => {
    const { LimitError } = await import('pcpress');
    const http = await import('node:http');
    const server = http.createServer(async (req, res) => {
      const [, kind, file] = (req.url ?? '').split('/');
      if (kind === 'cl' && file === 'model.safetensors') {
        res.writeHead(200, { 'Content-Length': String(3e9) });
        res.write(new Uint8Array(1024));
        return; // the client gives up on the header
      }
      if (kind === 'chunked' && file === 'tokenizer.json') {
        res.writeHead(200); // no Content-Length: chunked
        const mib = new Uint8Array(2 ** 20).fill(32);
        let closed = false;
        res.on('close', () => (closed = true));
        for (let i = 0; i < 80 && !closed; i++) if (!res.write(mib)) await new Promise((r) => res.once('drain', r).once('close', r));
        res.end();
        return;
      }
      const p = path.join(randomDir, file);
      if (!fs.existsSync(p)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': String(fs.statSync(p).size) }).end(fs.readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const ok = await loadTransformer(rt, { dir: `${base}/plain/` });
      expect(ok.tokenizer?.vocabSize).toBe(1024);
      ok.dispose();
      const e1 = await loadTransformer(rt, { dir: `${base}/cl/` }).catch((e) => e);
      expect(e1).toBeInstanceOf(LimitError);
      expect(e1.message).toMatch(/model\.safetensors: Content-Length 3000000000 is more than the limit of 2147483648/);
      const e2 = await loadTransformer(rt, { dir: `${base}/chunked/` }).catch((e) => e);
      expect(e2).toBeInstanceOf(LimitError);
      expect(e2.message).toMatch(/tokenizer\.json: the response \(\d+ bytes so far\) is more than the limit of 67108864/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('a tokenizer id of 4294967295 counts toward its vocabulary: more ids than vocab_size', async () => {
    const tok = { model: { type: 'BPE', vocab: { a: 0, b: 1, huge: 4294967295 }, merges: [] }, pre_tokenizer: { type: 'ByteLevel' } };
    const cfg = fs.readFileSync(path.join(fixture, 'config.json')), weights = fs.readFileSync(path.join(fixture, 'model.safetensors'));
    await expect(loadTransformer(rt, { config: cfg, weights, tokenizer: tok })).rejects.toThrow(ValidationError);
    // ids up to 2^31 - 1 are read; more than vocab_size is the config's error
    tok.model.vocab.huge = 2 ** 31 - 1;
    await expect(loadTransformer(rt, { config: cfg, weights, tokenizer: tok })).rejects.toThrow(/2147483648 ids, more than vocab_size 97/);
  });
});
