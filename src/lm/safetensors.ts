// Reads Hugging Face `model.safetensors` files: an 8-byte little-endian header length N, N bytes of
// JSON ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }),
// then the raw little-endian tensor bytes, offsets relative to the end of the header.
//
// Everything in the header is checked before any tensor is converted or allocated: the header length
// against the file and a 100 MB cap (as the reference implementation), the JSON, each dtype (F32, F16,
// BF16), each shape, offsets inside the data and not overlapping, and that end - begin is exactly
// prod(shape) x the dtype's size. F16 and BF16 become f32 exactly (every f16 and bf16 value is an f32).
import { halfTable } from '../half.js';
import { SafetensorsError } from './errors.js';

/** Element types pcpress reads; each is converted to f32 exactly. */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16';

/** One tensor's header entry. */
export interface SafetensorsEntry {
  /** The tensor's name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  /** Element type in the file. */
  dtype: SafetensorsDType;
  /** Dims, outermost first. */
  shape: number[];
  /** Byte offset of the first element in the file (header included). */
  byteOffset: number;
  /** Bytes the tensor takes in the file. */
  byteLength: number;
}

/** Bytes per element of each dtype. */
const ITEM: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };
/** Dtypes the format defines that pcpress does not read (named in the error). */
const OTHER_DTYPES = ['F64', 'F8_E4M3', 'F8_E5M2', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'];
/** Largest header accepted (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A parsed safetensors file: the checked header; tensors are converted to f32 on request. */
export class Safetensors {
  /** The `__metadata__` strings (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor entry by name, in header order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  private readonly bytes: Uint8Array;

  /** @internal Use parseSafetensors. */
  constructor(bytes: Uint8Array, entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>) {
    this.bytes = bytes;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Tensor names in header order. */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** True when the file holds `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The F16 tensor `name`'s half bits as a new Uint16Array (for f16 weights on the device); SafetensorsError when absent or not F16. */
  f16Bits(name: string): Uint16Array {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(`no tensor named ${JSON.stringify(name)}`, name);
    if (e.dtype !== 'F16') throw new SafetensorsError(`tensor ${JSON.stringify(name)} is ${e.dtype}, not F16`, name);
    const src = this.bytes.subarray(e.byteOffset, e.byteOffset + e.byteLength);
    const out = new Uint16Array(e.byteLength / 2);
    for (let i = 0; i < out.length; i++) out[i] = src[2 * i] | (src[2 * i + 1] << 8);
    return out;
  }

  /** The tensor `name` as a new Float32Array (F16 / BF16 converted exactly); SafetensorsError when absent. */
  f32(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(`no tensor named ${JSON.stringify(name)}`, name);
    const src = this.bytes.subarray(e.byteOffset, e.byteOffset + e.byteLength);
    const n = e.byteLength / ITEM[e.dtype];
    const out = new Float32Array(n);
    if (e.dtype === 'F32') {
      if (littleEndian) new Uint8Array(out.buffer).set(src);
      else {
        const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      }
    } else if (e.dtype === 'F16') {
      const t = halfTable();
      for (let i = 0; i < n; i++) out[i] = t[src[2 * i] | (src[2 * i + 1] << 8)];
    } else {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = ((src[2 * i] | (src[2 * i + 1] << 8)) << 16) >>> 0;
    }
    return out;
  }
}

/**
 * Parses and checks `model.safetensors` bytes. Throws SafetensorsError (naming the tensor when one
 * entry is at fault) for: a file shorter than 8 bytes, a header length past the end of the file or over
 * 100 MB, a header that is not a JSON object, a dtype other than F32/F16/BF16, a bad shape, offsets that
 * are not integers, run past the data or overlap another tensor, and a byte size that is not prod(shape)
 * x the dtype's size. Nothing is converted until `f32(name)` is called.
 */
export function parseSafetensors(data: Uint8Array | ArrayBuffer): Safetensors {
  if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
    throw new SafetensorsError(`expected the file's bytes as a Uint8Array or ArrayBuffer, got ${data === null ? 'null' : typeof data}`);
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < 8) throw new SafetensorsError(`the file has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > SAFETENSORS_MAX_HEADER) {
    throw new SafetensorsError(`header length ${headerLen} is over the ${SAFETENSORS_MAX_HEADER}-byte limit (not a safetensors file, or corrupt)`);
  }
  if (8 + headerLen > bytes.length) {
    throw new SafetensorsError(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new SafetensorsError(`the ${headerLen}-byte header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('the header is not a JSON object');
  const dataStart = 8 + headerLen, dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SafetensorsError('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const q = JSON.stringify(name);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SafetensorsError(`entry ${q} is not an object`, name);
    const r = raw as Record<string, unknown>;
    const dtype = r.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM, dtype)) {
      const known = typeof dtype === 'string' && OTHER_DTYPES.includes(dtype);
      throw new SafetensorsError(`tensor ${q} has dtype ${JSON.stringify(dtype)}${known ? ', which pcpress does not read' : ', not a safetensors dtype'} (supported: F32, F16, BF16)`, name);
    }
    const shape = r.shape;
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
      throw new SafetensorsError(`tensor ${q} has shape ${JSON.stringify(shape)}, expected an array of non-negative integers`, name);
    }
    const offs = r.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((o) => typeof o !== 'number' || !Number.isInteger(o) || o < 0)) {
      throw new SafetensorsError(`tensor ${q} has data_offsets ${JSON.stringify(offs)}, expected [begin, end] non-negative integers`, name);
    }
    const [begin, end] = offs as number[];
    if (begin > end || end > dataLen) {
      throw new SafetensorsError(`tensor ${q} has data_offsets [${begin}, ${end}], outside the ${dataLen} bytes of data after the header`, name);
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const item = ITEM[dtype as SafetensorsDType];
    if (numel * item !== end - begin) {
      throw new SafetensorsError(`tensor ${q}: shape [${shape.join(', ')}] of ${dtype} needs ${numel * item} bytes, data_offsets give ${end - begin}`, name);
    }
    entries.set(name, { name, dtype: dtype as SafetensorsDType, shape: [...shape as number[]], byteOffset: dataStart + begin, byteLength: end - begin });
  }
  const sorted = [...entries.values()].filter((e) => e.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].byteOffset < sorted[i - 1].byteOffset + sorted[i - 1].byteLength) {
      throw new SafetensorsError(`tensors ${JSON.stringify(sorted[i - 1].name)} and ${JSON.stringify(sorted[i].name)} overlap in the data`, sorted[i].name);
    }
  }
  return new Safetensors(bytes, entries, metadata);
}
