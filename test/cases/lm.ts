// Transformer conformance: two tiny models written by scripts/make-lm-fixture.py (a Llama with F32,
// F16 and BF16 tensors, and a Qwen2 with q/k/v biases, partial rotary, tied embeddings, MQA) run
// through loadTransformer on this backend and compared with the PyTorch reference: logits within 1e-3
// relative, greedy generation (KV-cache decode) token for token; eviction after the prefill leaves
// every cache at its budget and, with StreamingLLM, generates PyTorch's step-by-step tokens and logits; safetensors conversion is exact; malformed files, config/weights
// mismatches and token ids out of range are typed errors. The fixtures are bundled as bytes.
import llamaWeights from '../fixtures/lm/llama/model.safetensors' with { type: 'bytes' };
import llamaConfig from '../fixtures/lm/llama/config.json' with { type: 'bytes' };
import llamaRef from '../fixtures/lm/llama/reference.json' with { type: 'bytes' };
import qwenWeights from '../fixtures/lm/qwen2/model.safetensors' with { type: 'bytes' };
import qwenConfig from '../fixtures/lm/qwen2/config.json' with { type: 'bytes' };
import qwenRef from '../fixtures/lm/qwen2/reference.json' with { type: 'bytes' };
import tinyTokenizer from '../../models/tiny/tokenizer.json' with { type: 'bytes' };
import tinyRefBytes from '../fixtures/lm/tiny-reference.json' with { type: 'bytes' };
import tokenizerVectors from '../fixtures/lm/tokenizer-vectors.json' with { type: 'bytes' };
import { check, expectError, type Case, type CaseContext, type Pkg } from './util.js';

/** Logits tolerance: relative to the largest |logit| of the row (and Frobenius over the whole matrix). */
const TOL = 1e-3;

interface Reference {
  vocab: number;
  prompts: { tokens: number[]; logits: number[] }[];
  greedy: { prompt: number[]; continuation: number[] };
  dtypes: Record<string, string>;
  /** Step-by-step KV-cache generation after StreamingLLM eviction of the prompt (llama only). */
  evicted?: { keepTokens: number; prompt: number[]; keep: number[]; continuation: number[]; logits: number[]; fullCacheContinuation: number[] };
}

/** scripts/tiny-lm-reference.py's output for the bundled model. */
interface TinyReference {
  vocab: number;
  prompts: { tokens: number[]; rows: number[]; logits: number[][] }[];
  retrieval: { prompt: number[]; answer: string; continuation: number[]; margins: number[]; solved: boolean };
  encode: { text: string; ids: number[] }[];
}

interface Fixture {
  name: string;
  weights: Uint8Array;
  config: Uint8Array;
  ref: Reference;
}

// TypeScript types a .json import as its parsed content; with { type: 'bytes' } the bundle holds its bytes.
const bytes = (x: unknown) => x as Uint8Array;
const json = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
const FIXTURES: Fixture[] = [
  { name: 'llama', weights: llamaWeights, config: bytes(llamaConfig), ref: json(bytes(llamaRef)) },
  { name: 'qwen2', weights: qwenWeights, config: bytes(qwenConfig), ref: json(bytes(qwenRef)) },
];

/** Largest |got - ref| over a row divided by the row's largest |ref|, over every row; and the Frobenius relative error. */
export function logitError(got: ArrayLike<number>, ref: ArrayLike<number>, vocab: number): { rowMax: number; frob: number } {
  let rowMax = 0, num = 0, den = 0;
  for (let r = 0; r * vocab < ref.length; r++) {
    let worst = 0, scale = 0;
    for (let j = r * vocab; j < (r + 1) * vocab; j++) {
      worst = Math.max(worst, Math.abs(got[j] - ref[j]));
      scale = Math.max(scale, Math.abs(ref[j]));
      num += (got[j] - ref[j]) ** 2;
      den += ref[j] ** 2;
    }
    const e = worst / scale;
    rowMax = e > rowMax || Number.isNaN(e) ? e : rowMax;
  }
  return { rowMax, frob: Math.sqrt(num / den) };
}

async function load(pc: Pkg, rt: CaseContext['rt'], f: Fixture) {
  return pc.loadTransformer(rt, { config: f.config, weights: f.weights });
}

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
}

/** A safetensors file from a header object and a data section (the header padded with spaces to 8 bytes). */
export function buildSafetensors(header: object, data: Uint8Array): Uint8Array {
  let h = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  if (pad) h = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** The header object and data section of a safetensors file. */
function splitSafetensors(bytes: Uint8Array): { header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>; data: Uint8Array } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** The fixture with its header edited by `edit` (same data). */
function edited(bytes: Uint8Array, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Uint8Array {
  const { header, data } = splitSafetensors(bytes);
  edit(header);
  return buildSafetensors(header, data);
}

function fixtureCases(f: Fixture): Case[] {
  return [
    {
      op: 'lm',
      name: `${f.name}: logits of ${f.ref.prompts.length} prompts match PyTorch within ${TOL} relative`,
      async run({ pc, rt }) {
        const lm = await load(pc, rt, f);
        try {
          for (const p of f.ref.prompts) {
            const got = await lm.forward(p.tokens);
            check(got instanceof Float32Array && got.length === p.tokens.length * f.ref.vocab,
              `forward gives [${p.tokens.length}][${f.ref.vocab}], got ${got.length} values`);
            const e = logitError(got, p.logits, f.ref.vocab);
            check(e.rowMax <= TOL && e.frob <= TOL, `${p.tokens.length} tokens: error ${e.rowMax} (row max) / ${e.frob} (Frobenius) > ${TOL}`);
          }
          // Int32Array prompts give the same logits as arrays.
          const p0 = f.ref.prompts[0];
          const a = await lm.forward(p0.tokens), b = await lm.forward(Int32Array.from(p0.tokens));
          check(a.every((v, i) => v === b[i]), 'Int32Array and array prompts give different logits');
        } finally {
          lm.dispose();
        }
      },
    },
    {
      op: 'lm',
      name: `${f.name}: greedy generation (prefill + KV-cache decode) equals the PyTorch continuation`,
      async run({ pc, rt }) {
        const lm = await load(pc, rt, f);
        try {
          const { prompt, continuation } = f.ref.greedy;
          const got = await collect(lm.generate(prompt, { maxNewTokens: continuation.length }));
          check(got.join() === continuation.join(), `greedy tokens [${got}], PyTorch [${continuation}]`);
          // The logits each token is drawn from: after the prefill, PyTorch's last row; after a decoded token,
          // forward's last row over the whole sequence (the KV-cache path against the prefill path).
          const p1 = f.ref.prompts[1], V = f.ref.vocab;
          const gen = lm.generate(p1.tokens, { maxNewTokens: 3 });
          const seq = [...p1.tokens];
          for (let step = 0; step < 3; step++) {
            const r = await gen.next();
            check(!r.done && gen.logits instanceof Float32Array && gen.logits.length === V, `step ${step}: logits of the token`);
            const want = step === 0
              ? p1.logits.slice((p1.tokens.length - 1) * V)
              : Array.from((await lm.forward(seq)).subarray((seq.length - 1) * V));
            const e = logitError(gen.logits!, want, V);
            check(e.rowMax <= (step === 0 ? TOL : 1e-4), `step ${step}: generate's logits differ from ${step === 0 ? 'PyTorch' : 'forward'} by ${e.rowMax}`);
            seq.push(r.value as number);
          }
          await gen.return();
          // Eviction that keeps every token changes nothing.
          const all = await collect(lm.generate(prompt, { maxNewTokens: continuation.length, eviction: { method: 'snapkv', keepTokens: prompt.length, window: 2 } }));
          check(all.join() === continuation.join(), `with a keep-everything eviction: [${all}], PyTorch [${continuation}]`);
          // topK 1 is greedy at any temperature; a seed fixes the samples.
          const k1 = await collect(lm.generate(prompt, { maxNewTokens: 4, temperature: 2, topK: 1, seed: 5 }));
          check(k1.join() === continuation.slice(0, 4).join(), `topK 1: [${k1}], greedy [${continuation.slice(0, 4)}]`);
          const s1 = await collect(lm.generate(prompt, { maxNewTokens: 6, temperature: 1.5, seed: 11 }));
          const s2 = await collect(lm.generate(prompt, { maxNewTokens: 6, temperature: 1.5, seed: 11 }));
          check(s1.join() === s2.join() && s1.every((t) => Number.isInteger(t) && t >= 0 && t < f.ref.vocab), `seeded samples [${s1}] vs [${s2}]`);
          // Stopping early: stop tokens end the stream after yielding them.
          const stop = await collect(lm.generate(prompt, { maxNewTokens: continuation.length, stopTokens: [continuation[1]] }));
          check(stop.join() === continuation.slice(0, 2).join(), `stopTokens: [${stop}]`);
        } finally {
          lm.dispose();
        }
      },
    },
  ];
}

/** Tokens held per head right after the prefill (and eviction): read at the first yielded token. */
async function afterPrefill(gen: AsyncIterableIterator<number> & { cacheLengths: number[][] }, rest = 3): Promise<{ lengths: number[][]; tokens: number[] }> {
  const first = await gen.next();
  check(!first.done, 'generation yielded nothing');
  const lengths = gen.cacheLengths.map((l) => [...l]);
  const tokens = [first.value as number];
  for (let i = 0; i < rest; i++) {
    const r = await gen.next();
    if (r.done) break;
    tokens.push(r.value);
  }
  await gen.return?.();
  return { lengths, tokens };
}

const [LLAMA, QWEN] = FIXTURES;

/** The transformer cases. */
export const lmCases: Case[] = [
  ...fixtureCases(LLAMA),
  ...fixtureCases(QWEN),
  {
    op: 'lm',
    name: 'eviction after the prefill: every layer\'s cache at its budget (per-head, head-adaptive, global); StreamingLLM generation equals PyTorch step by step',
    async run({ pc, rt }) {
      const lm = await load(pc, rt, LLAMA);
      try {
        const prompt = LLAMA.ref.prompts[2].tokens, N = prompt.length, L = 2, hkv = 2;
        // per head: every head of every layer keeps exactly keepTokens.
        const a = await afterPrefill(lm.generate(prompt, { maxNewTokens: 4, eviction: { method: 'snapkv', keepTokens: 5, window: 4 } }));
        check(a.lengths.length === L && a.lengths.every((l) => l.length === hkv && l.every((n) => n === 5)), `snapkv keepTokens 5: lengths ${JSON.stringify(a.lengths)}`);
        check(a.tokens.length === 4 && a.tokens.every((t) => t >= 0 && t < LLAMA.ref.vocab), `tokens after eviction: [${a.tokens}]`);
        // head-adaptive: each layer's heads share floor(N * 0.5) per head on average.
        const keep = Math.floor(N * 0.5);
        const b = await afterPrefill(lm.generate(prompt, { maxNewTokens: 2, eviction: { method: 'defensivekv', compression: 0.5, window: 4 } }));
        check(b.lengths.every((l) => l.reduce((x, y) => x + y, 0) === keep * hkv), `defensivekv compression 0.5: lengths ${JSON.stringify(b.lengths)}, expected ${keep * hkv} per layer`);
        // global: one budget over every layer and head.
        const c = await afterPrefill(lm.generate(prompt, { maxNewTokens: 2, eviction: { method: 'layer-defensivekv', compression: 0.5, window: 4 } }));
        const total = c.lengths.flat().reduce((x, y) => x + y, 0);
        check(total === keep * hkv * L, `layer-defensivekv compression 0.5: ${total} tokens kept, expected ${keep * hkv * L} (${JSON.stringify(c.lengths)})`);
        // Generation with eviction against PyTorch's step-by-step reference: StreamingLLM keeps the same positions
        // in every head (4 sinks and the most recent), so the reference needs no scorer. Tokens and each step's logits.
        const ev = LLAMA.ref.evicted!;
        check(ev.continuation.join() !== ev.fullCacheContinuation.join(), 'the fixture\'s eviction must change the continuation');
        const eg = lm.generate(ev.prompt, { maxNewTokens: ev.continuation.length, eviction: { method: 'streamingllm', keepTokens: ev.keepTokens } });
        const etoks: number[] = [];
        for await (const t of eg) {
          const step = etoks.length, V = LLAMA.ref.vocab;
          const e = logitError(eg.logits!, ev.logits.slice(step * V, (step + 1) * V), V);
          check(e.rowMax <= TOL, `evicted generation step ${step}: logits differ from PyTorch by ${e.rowMax}`);
          etoks.push(t);
        }
        check(etoks.join() === ev.continuation.join(), `tokens after StreamingLLM eviction [${etoks}], PyTorch [${ev.continuation}]`);
        check(eg.selections!.every((s) => s.keep.every((k) => Array.from(k).join() === ev.keep.join())), `kept positions ${JSON.stringify(eg.selections!.map((s) => s.keep.map((k) => Array.from(k))))}, expected [${ev.keep}]`);
        // the lengths grow by one per decoded token after that.
        const g = lm.generate(prompt, { maxNewTokens: 3, eviction: { method: 'streamingllm', keepTokens: 6 } });
        await collect(g);
        check(g.cacheLengths.every((l) => l.every((n) => n === 6 + 2)), `after 3 tokens (2 decoded into the cache): ${JSON.stringify(g.cacheLengths)}`);
        check(g.selections?.length === L, 'selections of every layer');
      } finally {
        lm.dispose();
      }
    },
  },
  {
    op: 'lm',
    name: 'safetensors: F16 and BF16 convert to f32 exactly; the fixture\'s dtypes and shapes are read',
    async run({ pc }) {
      // f16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), -inf, 0.333251953125
      const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0xfc00, 0x3555];
      const f16v = [1, -2, 65504, 2 ** -24, 2 ** -14, -Infinity, 0.333251953125];
      // bf16: 1, 3.140625, -0, 2^-133 (subnormal), 3.3895314e38 (max)
      const bf16 = [0x3f80, 0x4049, 0x8000, 0x0001, 0x7f7f];
      const bf16v = [1, 3.140625, -0, 2 ** -133, 3.3895313892515355e38];
      const data = new Uint8Array(f16.length * 2 + bf16.length * 2 + 8);
      const dv = new DataView(data.buffer);
      f16.forEach((h, i) => dv.setUint16(2 * i, h, true));
      bf16.forEach((h, i) => dv.setUint16(f16.length * 2 + 2 * i, h, true));
      const o = f16.length * 2 + bf16.length * 2;
      dv.setFloat32(o, 1.5, true);
      dv.setFloat32(o + 4, -7.25e-3, true);
      const file = buildSafetensors({
        a: { dtype: 'F16', shape: [f16.length], data_offsets: [0, f16.length * 2] },
        b: { dtype: 'BF16', shape: [1, bf16.length], data_offsets: [f16.length * 2, o] },
        c: { dtype: 'F32', shape: [2], data_offsets: [o, o + 8] },
        __metadata__: { format: 'pt' },
      }, data);
      const st = pc.parseSafetensors(file);
      const eq = (got: Float32Array, want: number[], what: string) =>
        check(got.length === want.length && want.every((v, i) => Object.is(got[i], Math.fround(v))), `${what}: [${Array.from(got)}], expected [${want}]`);
      eq(st.f32('a'), f16v, 'F16');
      eq(st.f32('b'), bf16v, 'BF16');
      eq(st.f32('c'), [1.5, -7.25e-3], 'F32 at an unaligned offset');
      check(st.metadata.format === 'pt' && st.names.join() === 'a,b,c', 'metadata and names');
      for (const f of FIXTURES) {
        const s = pc.parseSafetensors(f.weights);
        for (const [name, dt] of Object.entries(f.ref.dtypes)) {
          check(s.entries.get(name)?.dtype === dt, `${f.name}: ${name} should be ${dt}, got ${s.entries.get(name)?.dtype}`);
        }
        const dts = new Set(Object.values(f.ref.dtypes));
        check(dts.has('F16') && dts.has('BF16') && (f.name !== 'llama' || dts.has('F32')), `${f.name}: the fixture mixes dtypes (${[...dts]})`);
      }
    },
  },
  {
    op: 'lm',
    name: 'malformed safetensors are SafetensorsErrors naming the problem (truncated, header length, offsets, dtype, sizes, overlap)',
    async run({ pc, rt }) {
      const w = LLAMA.weights;
      const bad: [string, Uint8Array | ArrayBuffer, RegExp][] = [
        ['shorter than 8 bytes', w.slice(0, 5), /fewer than the 8-byte/],
        ['truncated in the data', w.slice(0, w.length - 100), /outside the .* bytes of data/],
        ['truncated in the header', w.slice(0, 200), /runs past the end/],
        ['header length past the end', (() => { const b = w.slice(); new DataView(b.buffer).setUint32(0, w.length, true); return b; })(), /runs past the end/],
        ['absurd header length (2^40)', (() => { const b = w.slice(); new DataView(b.buffer).setUint32(4, 256, true); return b; })(), /over the .*-byte limit/],
        ['header not JSON', (() => { const b = w.slice(); b[8] = 0x5b; b[9] = 0x5b; return b; })(), /not valid UTF-8 JSON|not a JSON object/],
        ['offsets out of range', edited(w, (h) => { h['model.norm.weight'].data_offsets = [w.length, w.length + 256]; }), /outside/],
        ['offsets reversed', edited(w, (h) => { const [a, b] = h['model.norm.weight'].data_offsets; h['model.norm.weight'].data_offsets = [b, a]; }), /outside/],
        ['wrong dtype (I32)', edited(w, (h) => { h['model.norm.weight'].dtype = 'I32'; }), /dtype "I32".*does not read/],
        ['unknown dtype', edited(w, (h) => { h['model.norm.weight'].dtype = 'F12'; }), /not a safetensors dtype/],
        ['shape does not match the bytes', edited(w, (h) => { h['model.norm.weight'].shape = [65]; }), /needs 260 bytes/],
        ['overlapping tensors', edited(w, (h) => { h['model.norm.weight'].data_offsets = [...h['model.embed_tokens.weight'].data_offsets.slice(0, 1).map((x) => x), h['model.embed_tokens.weight'].data_offsets[0] + 256]; }), /overlap/],
        ['negative shape', edited(w, (h) => { h['model.norm.weight'].shape = [-64]; }), /non-negative integers/],
      ];
      for (const [what, bytes, msg] of bad) {
        const e = await expectError(() => pc.parseSafetensors(bytes), pc.SafetensorsError, what);
        check(msg.test(e.message), `${what}: message ${JSON.stringify(e.message)} does not match ${msg}`);
        check((e as InstanceType<typeof pc.SafetensorsError>).code === 'safetensors', `${what}: code`);
        // loadTransformer rejects the same way (and never throws synchronously).
        let threw = false, p: Promise<unknown> | undefined;
        try {
          p = pc.loadTransformer(rt, { config: LLAMA.config, weights: bytes });
        } catch {
          threw = true;
        }
        check(!threw && p instanceof Promise, `${what}: loadTransformer must reject, not throw`);
        await expectError(() => p, pc.SafetensorsError, `${what} via loadTransformer`);
      }
      const e = await expectError(() => pc.parseSafetensors(edited(w, (h) => { h['model.norm.weight'].dtype = 'I32'; })), pc.SafetensorsError, 'tensor name');
      check((e as InstanceType<typeof pc.SafetensorsError>).tensor === 'model.norm.weight' && e.message.includes('model.norm.weight'), `the error names the tensor: ${e.message}`);
    },
  },
  {
    op: 'lm',
    name: 'config/weights mismatches, unknown architectures and token ids out of range are typed errors naming what is wrong',
    async run({ pc, rt }) {
      const cfg = json(LLAMA.config);
      const expectNamed = async (fn: () => unknown, cls: new (...a: never[]) => Error, what: string, name: string) => {
        const e = await expectError(fn, cls, what);
        check(e.message.includes(name), `${what}: the message must name ${name}: ${e.message}`);
        return e;
      };
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, architectures: ['GPT2LMHeadModel'] }, weights: LLAMA.weights }), pc.ModelConfigError, 'unknown architecture', 'GPT2LMHeadModel');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, architectures: undefined, model_type: 'gpt_neox' }, weights: LLAMA.weights }), pc.ModelConfigError, 'unknown model_type', 'gpt_neox');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, num_key_value_heads: 3 }, weights: LLAMA.weights }), pc.ModelConfigError, 'heads not a multiple', 'num_key_value_heads');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, hidden_size: undefined }, weights: LLAMA.weights }), pc.ModelConfigError, 'missing hidden_size', 'hidden_size');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, rope_scaling: { type: 'linear', factor: 2 } }, weights: LLAMA.weights }), pc.ModelConfigError, 'rope_scaling', 'rope_scaling');
      await expectNamed(() => pc.loadTransformer(rt, { config: new TextEncoder().encode('{"architectures": ['), weights: LLAMA.weights }), pc.ModelConfigError, 'config not JSON', 'JSON');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, vocab_size: 98 }, weights: LLAMA.weights }), pc.ModelWeightsError, 'vocab mismatch', 'model.embed_tokens.weight');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, intermediate_size: 95 }, weights: LLAMA.weights }), pc.ModelWeightsError, 'intermediate mismatch', 'mlp.gate_proj.weight');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, num_hidden_layers: 3 }, weights: LLAMA.weights }), pc.ModelWeightsError, 'a layer too many', 'model.layers.2.');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, num_hidden_layers: 1 }, weights: LLAMA.weights }), pc.ModelWeightsError, 'a layer left over', 'model.layers.1.');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...cfg, tie_word_embeddings: true }, weights: QWEN.weights }), pc.ModelWeightsError, 'llama config, qwen2 weights', 'model.embed_tokens.weight');
      await expectNamed(() => pc.loadTransformer(rt, { config: { ...json(QWEN.config), architectures: ['LlamaForCausalLM'] }, weights: QWEN.weights }), pc.ModelWeightsError, 'qwen2 weights as a llama (biases left over)', '_proj.bias');
      const noLmHead = edited(LLAMA.weights, (h) => { delete h['lm_head.weight']; });
      const e = await expectNamed(() => pc.loadTransformer(rt, { config: cfg, weights: noLmHead }), pc.ModelWeightsError, 'missing lm_head', 'lm_head.weight');
      check((e as InstanceType<typeof pc.ModelWeightsError>).tensor === 'lm_head.weight', 'the error carries the tensor name');
      await expectNamed(() => pc.loadTransformer(rt, { config: cfg, weights: LLAMA.weights, dtype: 'f16' } as never), pc.ArgumentError, 'unknown option', 'dtype');

      const lm = await load(pc, rt, LLAMA);
      try {
        const V = LLAMA.ref.vocab;
        await expectNamed(() => lm.forward([1, V]), pc.ArgumentError, 'token id = vocab', String(V));
        await expectNamed(() => lm.forward([-1]), pc.ArgumentError, 'negative token id', '-1');
        await expectNamed(() => lm.forward([1.5]), pc.ArgumentError, 'fractional token id', '1.5');
        await expectError(() => lm.forward([]), pc.ArgumentError, 'empty prompt');
        await expectError(() => lm.forward('abc' as never), pc.ArgumentError, 'a string prompt');
        await expectNamed(() => lm.generate([3, V + 5], { maxNewTokens: 2 }).next(), pc.ArgumentError, 'generate: token out of range', String(V + 5));
        await expectNamed(() => lm.generate([3, 4], { maxNewTokens: 2, temprature: 1 } as never).next(), pc.ArgumentError, 'generate: unknown option', 'temprature');
        await expectError(() => lm.generate([3, 4], { maxNewTokens: 0 }).next(), pc.ArgumentError, 'generate: maxNewTokens 0');
        await expectError(() => lm.generate([3, 4], { maxNewTokens: 2, eviction: { method: 'nope' as never, keepTokens: 1 } }).next(), pc.ArgumentError, 'generate: unknown eviction method');
        await expectError(() => lm.generate([3], { maxNewTokens: 2, eviction: { method: 'snapkv', keepTokens: 1 } }).next(), pc.ArgumentError, 'generate: eviction of a 1-token prompt');
        // the model still works after all that
        const ok = await lm.forward([1, 2]);
        check(ok.length === 2 * V && ok.every(Number.isFinite), 'forward after errors');
      } finally {
        lm.dispose();
      }
      await expectError(() => lm.forward([1]), pc.DisposedError, 'forward after dispose');
    },
  },
  {
    op: 'lm',
    name: 'KVCache.clone frees every buffer it got when a later allocation fails (no leak on either backend)',
    async run({ rt }) {
      type Be = { kind: string; release(s: unknown): void } & Record<string, unknown>;
      const be = (rt as unknown as { impl: Be }).impl;
      const allocName = be.kind === 'wasm' ? 'allocF32' : 'alloc';
      const c = rt.createKVCache({ numKvHeads: 2, headDim: 4, capacity: 4 });
      c.append(new Float32Array(2 * 3 * 4).fill(1), new Float32Array(2 * 3 * 4).fill(2));
      const alloc = be[allocName] as (...a: unknown[]) => unknown, release = be.release;
      try {
        for (let failAt = 1; failAt <= 8; failAt++) {
          const live = new Set<unknown>();
          let n = 0;
          be[allocName] = function (this: Be, ...a: unknown[]) {
            if (++n === failAt) throw new Error('out of memory (test)');
            const s = alloc.apply(this, a);
            live.add(s);
            return s;
          };
          be.release = function (this: Be, s: unknown) {
            live.delete(s);
            return release.call(this, s);
          };
          let d: ReturnType<typeof c.clone> | undefined;
          try {
            d = c.clone();
          } catch (e) {
            check((e as Error).message === 'out of memory (test)', `clone failed with ${e}`);
          }
          d?.dispose();
          be[allocName] = alloc;
          be.release = release;
          check(live.size === 0, `${be.kind}: allocation ${failAt} failing left ${live.size} buffer(s) of the clone unreleased`);
          if (d) break; // every allocation of a clone was tried
        }
      } finally {
        be[allocName] = alloc;
        be.release = release;
        c.dispose();
      }
    },
  },
  {
    op: 'lm',
    name: 'sessions: prefill + multi-token append equal forward; a fork is independent (caches copied on the device); evict keeps the budget',
    async run({ pc, rt }) {
      const lm = await load(pc, rt, LLAMA);
      try {
        const V = LLAMA.ref.vocab, tokens = LLAMA.ref.prompts[2].tokens, N = tokens.length, cut = Math.floor(N / 2);
        const full = await lm.forward(tokens);
        const s = await lm.prefill(tokens.slice(0, cut));
        const f = s.fork();
        const rest = await s.append(tokens.slice(cut));
        const e1 = logitError(rest, full.subarray(cut * V), V), e0 = logitError(s.logits!, full.subarray((N - 1) * V), V);
        check(e1.rowMax <= 1e-4 && e0.rowMax <= 1e-4, `append over the cache vs forward: ${e1.rowMax} (rows), ${e0.rowMax} (last)`);
        // the fork still holds the first half only: continuing it differently gives forward's logits of that sequence
        const other = [...tokens.slice(0, cut), 1, 2, 3];
        const fo = await f.append([1, 2, 3]);
        const e2 = logitError(fo, (await lm.forward(other)).subarray(cut * V), V);
        check(e2.rowMax <= 1e-4 && f.position === cut + 3 && s.position === N, `fork: error ${e2.rowMax}, positions ${f.position} / ${s.position}`);
        await f.evict({ method: 'snapkv', keepTokens: 4, window: 2 });
        const held = (x: { cacheLengths: number[][] }) => x.cacheLengths.flat().join();
        check(held(f) === '4,4,4,4', `fork evicted to 4: ${JSON.stringify(f.cacheLengths)}`);
        check(s.cacheLengths.every((l) => l.every((n) => n === N)), `original untouched by the fork's eviction: ${JSON.stringify(s.cacheLengths)}`);
        const after = await f.append([5], { logits: 'last' });
        check(after.length === V && after.every(Number.isFinite) && held(f) === '5,5,5,5', 'append after eviction');
        // a later evict re-scores what each head holds (decode-time eviction); one needs a token appended since
        await f.evict({ method: 'snapkv', keepTokens: 2 });
        check(held(f) === '2,2,2,2', `re-evicted to 2: ${JSON.stringify(f.cacheLengths)}`);
        await expectError(() => f.evict({ method: 'snapkv', keepTokens: 1 }), pc.ArgumentError, 'an evict with nothing appended since the last');
        const oob = await expectError(() => s.append([V]), pc.ArgumentError, 'append: token out of range');
        check(oob.message.includes(String(V)), `the error names the id: ${oob.message}`);
        f.dispose();
        s.dispose();
        await expectError(() => s.append([1]), pc.DisposedError, 'append after dispose');
      } finally {
        lm.dispose();
      }
    },
  },
  {
    op: 'lm',
    name: "the bundled model 'tiny' ships with the package and is found next to its code (read from disk in Node and Deno, fetched in browsers): it loads with its tokenizer and matches PyTorch",
    async run({ pc, rt }) {
      // models/tiny/model.safetensors is committed: failing to load it (any error, ModelFileError included) fails the case
      const lm = await pc.loadTransformer(rt, 'tiny');
      try {
        check(lm.config.vocabSize === 1024 && lm.tokenizer?.vocabSize === 1024, `tiny: vocab ${lm.config.vocabSize}, tokenizer ${lm.tokenizer?.vocabSize}`);
        const out: number[] = [];
        for await (const t of lm.generate([1023, ...lm.tokenizer!.encode('And God said')], { maxNewTokens: 4 })) out.push(t);
        check(out.length === 4 && out.every((t) => t >= 0 && t < 1024), `tiny generated [${out}]`);
        // PyTorch's float64 logits of the shipped F16 weights (scripts/tiny-lm-reference.py), on the rows it kept
        const ref = json(bytes(tinyRefBytes)) as TinyReference;
        const V = ref.vocab;
        for (const p of ref.prompts) {
          const got = await lm.forward(p.tokens);
          const rows = new Float32Array(p.rows.length * V);
          p.rows.forEach((r, i) => rows.set(got.subarray(r * V, (r + 1) * V), i * V));
          const e = logitError(rows, p.logits.flat(), V);
          check(e.rowMax <= TOL && e.frob <= TOL, `tiny, ${p.tokens.length} tokens: error ${e.rowMax} (row max) / ${e.frob} (Frobenius) > ${TOL}`);
        }
        for (const x of ref.encode) check(lm.tokenizer!.encode(x.text).join() === x.ids.join(), `tiny tokenizer on ${JSON.stringify(x.text)}`);
        // the greedy continuation of a held-out retrieval prompt (prefill + KV-cache decode), on the steps before the
        // first one whose top-2 margin in PyTorch is under 0.02 (where float32 rounding could pick the other token)
        const clear = ref.retrieval.margins.findIndex((m) => m < 0.02);
        const n = clear < 0 ? ref.retrieval.continuation.length : clear + 1;
        const cont = await collect(lm.generate(ref.retrieval.prompt, { maxNewTokens: n }));
        const want = ref.retrieval.continuation.slice(0, n);
        check(cont.slice(0, clear < 0 ? n : n - 1).join() === want.slice(0, clear < 0 ? n : n - 1).join(), `tiny greedy [${cont}], PyTorch [${want}] (margins ${ref.retrieval.margins})`);
      } finally {
        lm.dispose();
      }
    },
  },
  {
    op: 'lm',
    name: 'tokenizer: the bundled tiny tokenizer.json encodes and decodes exactly as the training script\'s Python Tokenizer',
    async run({ pc }) {
      const tk = pc.loadTokenizer(bytes(tinyTokenizer));
      const v = json(bytes(tokenizerVectors)) as { vocabSize: number; eosTokenId: number; encode: { text: string; ids: number[]; decoded: string }[]; decode: { ids: number[]; text: string }[] };
      check(tk.vocabSize === v.vocabSize && tk.eosTokenId === v.eosTokenId, `vocabSize ${tk.vocabSize}, eos ${tk.eosTokenId}`);
      for (const e of v.encode) {
        const got = tk.encode(e.text);
        check(got.join() === e.ids.join(), `encode ${JSON.stringify(e.text.slice(0, 40))}: [${got.slice(0, 12)}...] vs Python [${e.ids.slice(0, 12)}...]`);
        check(tk.decode(e.ids) === e.decoded, `decode of ${JSON.stringify(e.text.slice(0, 40))}`);
      }
      for (const d of v.decode) check(tk.decode(d.ids) === d.text, `decode [${d.ids.slice(0, 8)}...]`);
      await expectError(() => Promise.resolve().then(() => pc.loadTokenizer({ model: { type: 'Unigram' } })), pc.TokenizerError, 'a Unigram tokenizer');
    },
  },
  {
    op: 'lm',
    name: `weightDtype: 'auto' keeps F16 tensors f16 (the f32 logits), 'f16' rounds every linear weight (PyTorch's logits within ${TOL}; about half the weight bytes on WebGPU, f32 on wasm); lm.info; typed errors`,
    async run({ pc, rt }) {
      const gpu = rt.backend === 'webgpu';
      for (const f of FIXTURES) {
        const infos: Record<string, InstanceType<typeof pc.Transformer>['info']> = {};
        const logits: Record<string, Float32Array[]> = {};
        for (const weightDtype of ['f32', 'auto', 'f16'] as const) {
          const lm = await pc.loadTransformer(rt, { config: f.config, weights: f.weights, weightDtype });
          try {
            infos[weightDtype] = lm.info;
            logits[weightDtype] = [];
            for (const p of f.ref.prompts) {
              const got = await lm.forward(p.tokens);
              const e = logitError(got, p.logits, f.ref.vocab);
              check(e.rowMax <= TOL && e.frob <= TOL, `${f.name} ${weightDtype}, ${p.tokens.length} tokens: error ${e.rowMax} (row max) / ${e.frob} (Frobenius) > ${TOL}`);
              logits[weightDtype].push(got);
            }
          } finally {
            lm.dispose();
          }
        }
        const [i32, auto, i16] = [infos.f32, infos.auto, infos.f16];
        const what = `${f.name} on ${rt.backend}`;
        check(i32.backend === rt.backend && i32.weightDtype === 'f32' && auto.weightDtype === 'auto' && i16.weightDtype === 'f16', `${what}: info ${JSON.stringify(auto)}`);
        check(i32.linearDtype === 'f32' && i32.linearStorage === 'f32', `${what} f32: ${JSON.stringify(i32)}`);
        // both fixtures mix F16 with F32 / BF16 linear weights
        check(auto.linearDtype === 'mixed' && auto.linearStorage === (gpu ? 'mixed' : 'f32'), `${what} auto: ${JSON.stringify(auto)}`);
        check(i16.linearDtype === 'f16' && i16.linearStorage === (gpu ? 'f16' : 'f32'), `${what} f16: ${JSON.stringify(i16)}`);
        if (gpu) {
          const r = i16.linearBytes / i32.linearBytes;
          check(r > 0.49 && r < 0.51, `${what}: f16 linear weights take ${i16.linearBytes} bytes, f32 ${i32.linearBytes} (ratio ${r})`);
          check(i16.weightBytes < 0.55 * i32.weightBytes && auto.weightBytes < i32.weightBytes && auto.weightBytes > i16.weightBytes, `${what}: weight bytes f32 ${i32.weightBytes}, auto ${auto.weightBytes}, f16 ${i16.weightBytes}`);
        } else {
          check(i16.weightBytes === i32.weightBytes && auto.weightBytes === i32.weightBytes, `${what}: wasm holds f32 whatever the dtype (${i32.weightBytes}, ${auto.weightBytes}, ${i16.weightBytes})`);
        }
        check(i16.hostBytes === i32.hostBytes && i32.hostBytes > 0, `${what}: the embedding table stays f32 in JS`);
        // F16 tensors converted exactly either way: 'auto' gives the f32 logits (up to the kernels' rounding)
        logits.auto.forEach((x, i) => {
          const e = logitError(x, logits.f32[i], f.ref.vocab);
          check(e.rowMax <= 1e-5, `${what}: 'auto' and 'f32' logits differ by ${e.rowMax}`);
        });
      }
      const e = await expectError(() => pc.loadTransformer(rt, { config: LLAMA.config, weights: LLAMA.weights, weightDtype: 'bf16' as never }), pc.ArgumentError, 'weightDtype bf16');
      check(e.message.includes('weightDtype') && e.message.includes('bf16'), `the message names weightDtype and the value: ${e.message}`);
      // an F32 weight past the f16 range cannot be held as f16
      const { header, data } = splitSafetensors(LLAMA.weights);
      const big = data.slice(), q = 'model.layers.0.self_attn.q_proj.weight';
      check(header[q].dtype === 'F32', `${q} is F32 in the fixture`);
      new DataView(big.buffer, big.byteOffset).setFloat32(header[q].data_offsets[0] + 12, 1e6, true);
      const w = buildSafetensors(header, big);
      const we = await expectError(() => pc.loadTransformer(rt, { config: LLAMA.config, weights: w, weightDtype: 'f16' }), pc.ModelWeightsError, 'a weight past 65504 as f16');
      check((we as InstanceType<typeof pc.ModelWeightsError>).tensor === q, `the error names ${q}: ${we.message}`);
      const lm = await pc.loadTransformer(rt, { config: LLAMA.config, weights: w, weightDtype: 'auto' });
      check(lm.info.linearDtype === 'mixed', 'the same file loads with auto');
      lm.dispose();
    },
  },
];
