/**
 * The `.pckv` file format: q/k/v of one prompt (and later queries) dumped from a model, for
 * `evaluateEviction`. All numbers little-endian.
 *
 * | offset | size | content |
 * |---|---|---|
 * | 0 | 4 | ASCII `PCKV` |
 * | 4 | 4 | u32 version = 1 |
 * | 8 | 4 | u32 H = byte length of the JSON header |
 * | 12 | H | UTF-8 JSON `{ "numLayers", "numHeads", "numKvHeads", "headDim", "n", "future", "dModel" }` |
 * | 12+H | 0-3 | zero padding to a multiple of 4 |
 * | ... | | per layer, f32 arrays in this order: `q` [numHeads, n, headDim] (every prompt query, post-RoPE), `k` [numKvHeads, n, headDim] (post-RoPE), `v` [numKvHeads, n, headDim], `qFuture` [numHeads, future, headDim] (later queries, post-RoPE at their own positions), and when dModel > 0 `wo` [numHeads*headDim, dModel] (o_proj weight transposed) |
 *
 * The file must end exactly after the last array. From PyTorch: `np.concatenate([t.float().numpy().ravel() for t in ...]).astype('<f4').tobytes()`.
 */
import { ValidationError } from '../errors.js';

/** A malformed or truncated .pckv dump. */
export class KVDumpError extends ValidationError {
  constructor(message: string) {
    super('kv-dump', `corrupt KV dump: ${message}`);
  }
}

/** One layer of a dump. */
export interface KVDumpLayer {
  /** [numHeads, n, headDim] every prompt query. */
  q: Float32Array;
  /** [numKvHeads, n, headDim]. */
  k: Float32Array;
  /** [numKvHeads, n, headDim]. */
  v: Float32Array;
  /** [numHeads, future, headDim] queries after the prompt (never seen by the scorers). */
  qFuture: Float32Array;
  /** [numHeads*headDim, dModel] optional. */
  wo?: Float32Array;
}

/** Recorded (or synthetic) attention inputs of one prompt. */
export interface KVDump {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Prompt tokens. */
  n: number;
  /** Later queries per head. */
  future: number;
  /** Output width of wo (0 = no wo). */
  dModel: number;
  layers: KVDumpLayer[];
}

const MAGIC = 0x564b4350; // 'PCKV' little-endian

function sizes(h: Omit<KVDump, 'layers'>): number[] {
  const { numHeads: hq, numKvHeads: hkv, headDim: d, n, future, dModel } = h;
  const s = [hq * n * d, hkv * n * d, hkv * n * d, hq * future * d];
  if (dModel > 0) s.push(hq * d * dModel);
  return s;
}

function checkHeader(h: Record<string, unknown>): Omit<KVDump, 'layers'> & { numLayers: number } {
  const names = ['numLayers', 'numHeads', 'numKvHeads', 'headDim', 'n', 'future', 'dModel'];
  for (const k of names) {
    const v = h[k];
    const min = k === 'dModel' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2 ** 31) throw new KVDumpError(`header field ${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  if ((h.numHeads as number) % (h.numKvHeads as number) !== 0) throw new KVDumpError('numHeads is not a multiple of numKvHeads');
  return h as unknown as Omit<KVDump, 'layers'> & { numLayers: number };
}

/** Serialises a dump to the .pckv format. */
export function encodeKVDump(dump: KVDump): Uint8Array {
  const head = { numLayers: dump.layers.length, numHeads: dump.numHeads, numKvHeads: dump.numKvHeads, headDim: dump.headDim, n: dump.n, future: dump.future, dModel: dump.dModel };
  checkHeader(head);
  const sz = sizes(head);
  const json = new TextEncoder().encode(JSON.stringify(head));
  const start = Math.ceil((12 + json.length) / 4) * 4;
  const per = sz.reduce((a, b) => a + b, 0);
  const out = new Uint8Array(start + per * 4 * dump.layers.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, json.length, true);
  out.set(json, 12);
  let off = start;
  dump.layers.forEach((l, li) => {
    const arrays = [l.q, l.k, l.v, l.qFuture];
    if (head.dModel > 0) arrays.push(l.wo as Float32Array);
    arrays.forEach((a, i) => {
      if (!(a instanceof Float32Array) || a.length !== sz[i]) throw new KVDumpError(`layer ${li} array ${['q', 'k', 'v', 'qFuture', 'wo'][i]} must be a Float32Array of ${sz[i]} values`);
      for (let x = 0; x < a.length; x++) dv.setFloat32(off + 4 * x, a[x], true);
      off += a.length * 4;
    });
  });
  return out;
}

/** Parses a .pckv dump; throws KVDumpError on bad magic, version, header, or length. */
export function decodeKVDump(bytes: Uint8Array): KVDump {
  if (!(bytes instanceof Uint8Array)) throw new KVDumpError('input must be a Uint8Array');
  if (bytes.length < 12) throw new KVDumpError(`${bytes.length} bytes is shorter than the 12-byte preamble`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new KVDumpError('missing the PCKV magic (not a .pckv file)');
  const version = dv.getUint32(4, true);
  if (version !== 1) throw new KVDumpError(`unsupported version ${version} (this build reads version 1)`);
  const hl = dv.getUint32(8, true);
  if (12 + hl > bytes.length) throw new KVDumpError(`header of ${hl} bytes runs past the end of the file`);
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + hl)));
  } catch (e) {
    throw new KVDumpError(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (head === null || typeof head !== 'object') throw new KVDumpError('header is not a JSON object');
  const h = checkHeader(head);
  const sz = sizes(h);
  const start = Math.ceil((12 + hl) / 4) * 4;
  const per = sz.reduce((a, b) => a + b, 0);
  const want = start + per * 4 * h.numLayers;
  if (bytes.length !== want) throw new KVDumpError(`${bytes.length} bytes, expected ${want} for ${h.numLayers} layers of this header${bytes.length < want ? ' (truncated)' : ' (trailing bytes)'}`);
  const layers: KVDumpLayer[] = [];
  let off = start;
  for (let l = 0; l < h.numLayers; l++) {
    const arrays = sz.map((len) => {
      const a = new Float32Array(len);
      for (let x = 0; x < len; x++) a[x] = dv.getFloat32(off + 4 * x, true);
      off += len * 4;
      return a;
    });
    layers.push({ q: arrays[0], k: arrays[1], v: arrays[2], qFuture: arrays[3], wo: h.dModel > 0 ? arrays[4] : undefined });
  }
  return { numHeads: h.numHeads, numKvHeads: h.numKvHeads, headDim: h.headDim, n: h.n, future: h.future, dModel: h.dModel, layers };
}
