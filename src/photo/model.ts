// Photo model: a set of per-pixel HCLTs (one per channel slot) over a causal neighbourhood of coded
// symbols, plus the predictor and colour transform that make those symbols. File format, loading into
// the wasm kernels of assembly/photo.ts, and the slot configuration for 1-4 channel images.
//
// Photo model file, version 1 (little-endian):
//   0   4  magic "PCPH"
//   4   1  version (1)
//   5   1  predictor: 0 none (raw samples), 1 MED (LOCO-I), 2 clamped gradient, 3 average of W and N,
//          4 MED with the decision taken on green for all channels, 5 MED with LOCO-I bias cancellation
//   6   1  colour transform on the residuals: 0 none, 1 subtract-green, 2 YCoCg-R (lifting, mod 256)
//   7   1  number of sub-models n (1..8)
//   8   4  sub-model used for: gray, colour slot 0, colour slot 1, colour slot 2 (0xFF: none)
//   12  1  sub-model for alpha (0xFF: none; then alpha uses the gray sub-model)
//   13  3  reserved (0)
//   16  .. n sub-models, each: u8 D, D x (u8 plane, i8 ox, i8 oy) context spec (plane 0xFF = the slot
//          being coded, else an earlier slot of the same pixel or of causal pixels; variable 0 is the
//          coded symbol itself, spec (0xFF, 0, 0)), u32 length L, L bytes of a pcpress HCLT model file
//          (PCPM, width D, height 1, 1 channel) whose tree is rooted at variable 0
//   ..  4 + J  metadata (UTF-8 JSON)
//   end-4   4  FNV-1a 32 of all bytes before it: the model id
import { ArgumentError, LimitError } from '../errors.js';
import { ModelFormatError } from '../pc/errors.js';
import { declaredParameters, fnv1a, modelFromBytes, type PcModel } from '../pc/model.js';
import { DEFAULT_MODEL_PARAMETERS, modelLimit, type ModelLimits } from '../pc/limits.js';
import { WasmBackend } from '../backends/wasm.js';

/** One context variable: the symbol at (x + ox, y + oy) in slot `plane` (0xFF = the slot being coded). */
export interface ContextVar {
  plane: number;
  ox: number;
  oy: number;
}

/** Exports of assembly/photo.ts. */
export interface PhotoWasmExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  phInit(s: number, d: number, m: number, parent: number, ord: number, spec: number): number;
  phPiPtr(s: number): number;
  phTransPtr(s: number): number;
  phEmitPtr(s: number): number;
  phPrepare(s: number): void;
  phMap(slot: number, model: number): void;
  phSymbols(img: number, w: number, h: number, c: number, pred: number, xf: number): number;
  phPlanesPtr(): number;
  phGather(s: number, slot: number, out: number): number;
  phBits(out: number): number;
  phCdf(slot: number, x: number, y: number, out: number): void;
  phEncode(img: number, w: number, h: number, c: number, pred: number, xf: number, dst: number, cap: number, x0: bigint): number;
  phDecode(src: number, len: number, img: number, w: number, h: number, c: number, pred: number, xf: number, xmin: bigint): number;
  cmEncode(img: number, w: number, h: number, c: number, pred: number, xf: number, usePc: number, dst: number, cap: number, x0: bigint): number;
  cmDecode(src: number, len: number, img: number, w: number, h: number, c: number, pred: number, xf: number, usePc: number, xmin: bigint): number;
  cmBits(img: number, w: number, h: number, c: number, pred: number, xf: number, usePc: number): number;
  cmParams(limit: number, lr: number, tb: number, mask: number, apm: number): void;
  /** The rANS decoder's state after the last decode (u64, as a signed BigInt from wasm). */
  ransDecState(): bigint;
}

/** A fresh wasm instance with the photo kernels. */
export async function photoInstance(): Promise<PhotoWasmExports> {
  const b = await WasmBackend.create();
  return b.ex as unknown as PhotoWasmExports;
}

/** Allocates `bytes` in the photo kernels' wasm memory. */
export function palloc(ex: PhotoWasmExports, bytes: number): number {
  const p = ex.alloc(Math.max(16, bytes)) >>> 0;
  if (p === 0) throw new ArgumentError(`wasm: cannot allocate ${bytes} bytes`);
  return p;
}

/** Predictors (photo model byte 5). */
export const PREDICTORS = ['none', 'med', 'gradient', 'average', 'med-green', 'med-bias'] as const;
/** Colour transforms on the residuals (photo model byte 6). */
export const TRANSFORMS = ['none', 'subtract-green', 'ycocg-r'] as const;
/** Predictor name. */
export type Predictor = (typeof PREDICTORS)[number];
/** Colour transform name. */
export type ColorTransform = (typeof TRANSFORMS)[number];

/** One sub-model: context spec and its HCLT (tree rooted at variable 0). */
export interface PhotoSubModel {
  spec: ContextVar[];
  /** The HCLT model file (PCPM). */
  pcm: Uint8Array;
}

/** Everything a photo model file holds. */
export interface PhotoModelParts {
  predictor: Predictor;
  transform: ColorTransform;
  subModels: PhotoSubModel[];
  /** Sub-model index for gray images, colour slots 0..2 and alpha (-1: none). */
  roles: { gray: number; color: [number, number, number]; alpha: number };
  meta?: Record<string, unknown>;
}

const MAGIC = [0x50, 0x43, 0x50, 0x48]; // "PCPH"
const VERSION = 1;

/** Serialises a photo model. */
export function encodePhotoModel(p: PhotoModelParts): Uint8Array {
  const parts: number[] = [...MAGIC, VERSION, PREDICTORS.indexOf(p.predictor), TRANSFORMS.indexOf(p.transform), p.subModels.length];
  const role = (i: number) => (i < 0 ? 0xff : i);
  parts.push(role(p.roles.gray), role(p.roles.color[0]), role(p.roles.color[1]), role(p.roles.color[2]), role(p.roles.alpha), 0, 0, 0);
  const chunks: Uint8Array[] = [Uint8Array.from(parts)];
  for (const sm of p.subModels) {
    const head = [sm.spec.length];
    for (const v of sm.spec) head.push(v.plane & 0xff, v.ox & 0xff, v.oy & 0xff);
    const len = sm.pcm.length;
    head.push(len & 0xff, (len >>> 8) & 0xff, (len >>> 16) & 0xff, len >>> 24);
    chunks.push(Uint8Array.from(head), sm.pcm);
  }
  const json = new TextEncoder().encode(JSON.stringify(p.meta ?? {}));
  const jl = json.length;
  chunks.push(Uint8Array.from([jl & 0xff, (jl >>> 8) & 0xff, (jl >>> 16) & 0xff, jl >>> 24]), json);
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(n + 4);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  new DataView(out.buffer).setUint32(n, fnv1a(out, n), true);
  return out;
}

/**
 * Parses a photo model file (structure only; sub-model HCLTs are checked when loaded). The parameters its
 * sub-models declare are summed from their headers and checked against `maxParameters` first.
 */
export function parsePhotoModel(bytes: Uint8Array, maxParameters = DEFAULT_MODEL_PARAMETERS): PhotoModelParts & { hash: number } {
  const bad = (why: string) => new ModelFormatError(`not a valid pcpress photo model: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('loadPhotoModel: expected a Uint8Array');
  if (bytes.length < 24) throw bad(`${bytes.length} bytes is too short`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw bad('wrong magic (expected "PCPH")');
  if (bytes[4] !== VERSION) throw bad(`unsupported version ${bytes[4]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hash = dv.getUint32(bytes.length - 4, true);
  if (fnv1a(bytes, bytes.length - 4) !== hash) throw bad('content hash mismatch (file corrupt or truncated)');
  const pred = bytes[5], xf = bytes[6], n = bytes[7];
  if (pred >= PREDICTORS.length || xf >= TRANSFORMS.length) throw bad(`unknown predictor ${pred} or transform ${xf}`);
  if (n < 1 || n > 8) throw bad(`${n} sub-models (1..8 allowed)`);
  const role = (b: number) => {
    if (b === 0xff) return -1;
    if (b >= n) throw bad(`role refers to sub-model ${b} of ${n}`);
    return b;
  };
  const roles = { gray: role(bytes[8]), color: [role(bytes[9]), role(bytes[10]), role(bytes[11])] as [number, number, number], alpha: role(bytes[12]) };
  let o = 16;
  const end = bytes.length - 4;
  const subModels: PhotoSubModel[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (o + 1 > end) throw bad('truncated sub-model');
    const D = bytes[o++];
    if (D < 1 || o + 3 * D + 4 > end) throw bad('truncated or empty context spec');
    const spec: ContextVar[] = [];
    for (let v = 0; v < D; v++, o += 3) spec.push({ plane: bytes[o], ox: dv.getInt8(o + 1), oy: dv.getInt8(o + 2) });
    const len = dv.getUint32(o, true);
    o += 4;
    if (o + len > end) throw bad('truncated sub-model file');
    const declared = declaredParameters(bytes.subarray(o, o + len));
    total += Math.max(0, declared);
    if (total > maxParameters) {
      throw new LimitError(`photo model declares more than maxModelParameters (${maxParameters}) parameters (${total} in its first ${i + 1} sub-models); raise the limit if you trust the file`);
    }
    subModels.push({ spec, pcm: bytes.subarray(o, o + len) });
    o += len;
  }
  if (o + 4 > end) throw bad('truncated metadata');
  const jl = dv.getUint32(o, true);
  o += 4;
  if (o + jl !== end) throw bad('metadata length does not match the file size');
  let meta: Record<string, unknown> = {};
  try {
    meta = JSON.parse(new TextDecoder().decode(bytes.subarray(o, o + jl)));
  } catch {
    throw bad('metadata is not JSON');
  }
  return { predictor: PREDICTORS[pred], transform: TRANSFORMS[xf], subModels, roles, meta, hash };
}

/** Checks that a context spec only reads symbols coded before the one at slot `slot`. */
function checkSpec(spec: ContextVar[], slot: number, what: string): void {
  const s0 = spec[0];
  if (s0.plane !== 0xff || s0.ox !== 0 || s0.oy !== 0) throw new ModelFormatError(`${what}: variable 0 must be the coded symbol`);
  for (let v = 1; v < spec.length; v++) {
    const { plane, ox, oy } = spec[v];
    const p = plane === 0xff ? slot : plane;
    const before = oy < 0 || (oy === 0 && ox < 0);
    // planes 16..19: raw samples of channel plane-16 relative to the prediction (earlier pixels only)
    // planes 24..35: features of the current pixel computed from its causal neighbours (offset 0, 0 only)
    const causal = p >= 16 && p < 20 ? before : p >= 24 && p < 36 ? ox === 0 && oy === 0 :
      p < 8 && (before || (ox === 0 && oy === 0 && p < slot));
    if (!causal || (p < 8 && p > slot)) throw new ModelFormatError(`${what}: context variable ${v} (plane ${plane}, ${ox}, ${oy}) is not causal for slot ${slot}`);
  }
}

interface LoadedSub {
  spec: ContextVar[];
  M: number;
  parent: Int32Array;
  order: Int32Array;
  pi: Float32Array;
  T: Float32Array;
  E: Float32Array;
}

/**
 * A loaded photo model with its own wasm instance. Create with `loadPhotoModel`; it codes images of
 * 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels.
 */
export class PhotoModel {
  /** Predictor of the residuals. */
  readonly predictor: Predictor;
  /** Colour transform on the residuals. */
  readonly transform: ColorTransform;
  /** Content hash (model id). */
  readonly hash: number;
  /** The model file. */
  readonly fileBytes: Uint8Array;
  /** Metadata from training. */
  readonly meta: Record<string, unknown>;
  /** @internal */
  readonly ex: PhotoWasmExports;
  /** @internal */
  readonly subs: LoadedSub[];
  /** @internal */
  readonly roles: PhotoModelParts['roles'];
  private configured = -1;

  /** @internal */
  constructor(ex: PhotoWasmExports, parts: PhotoModelParts & { hash: number }, subs: LoadedSub[], bytes: Uint8Array) {
    this.ex = ex;
    this.predictor = parts.predictor;
    this.transform = parts.transform;
    this.hash = parts.hash;
    this.roles = parts.roles;
    this.meta = parts.meta ?? {};
    this.subs = subs;
    this.fileBytes = bytes;
  }

  /** Model id as 8 hex digits. */
  get id(): string {
    return this.hash.toString(16).padStart(8, '0');
  }

  /** Sub-model index used for each slot of a `channels`-channel image. */
  slotModels(channels: number): number[] {
    const r = this.roles;
    const alpha = r.alpha >= 0 ? r.alpha : r.gray;
    if (channels === 1 || channels === 2) {
      const g = r.gray >= 0 ? r.gray : r.color[0];
      return channels === 1 ? [g] : [g, alpha];
    }
    if (channels === 3 || channels === 4) {
      if (r.color.some((c) => c < 0)) throw new ArgumentError(`this photo model has no colour sub-models`);
      return channels === 3 ? [...r.color] : [...r.color, alpha];
    }
    throw new ArgumentError(`photo codec: ${channels} channels (1 to 4 supported)`);
  }

  /** @internal Loads the sub-models for `channels`-channel images into the wasm slots. */
  configure(channels: number): void {
    if (this.configured === channels) return;
    const ex = this.ex;
    const map = this.slotModels(channels);
    if (map.some((m) => m < 0 || m >= this.subs.length)) throw new ModelFormatError(`photo model has no sub-model for ${channels}-channel images`);
    map.forEach((m, slot) => {
      const sub = this.subs[m];
      checkSpec(sub.spec, slot, `photo sub-model ${m} in slot ${slot}`);
      const D = sub.spec.length, M = sub.M, Mp = (M + 3) & ~3;
      const par = palloc(ex, 4 * D), ord = palloc(ex, 4 * D), sp = palloc(ex, 12 * D);
      new Int32Array(ex.memory.buffer, par, D).set(sub.parent);
      new Int32Array(ex.memory.buffer, ord, D).set(sub.order);
      const spv = new Int32Array(ex.memory.buffer, sp, 3 * D);
      sub.spec.forEach((v, i) => {
        spv[3 * i] = v.plane === 0xff ? slot : v.plane;
        spv[3 * i + 1] = v.ox;
        spv[3 * i + 2] = v.oy;
      });
      const r = ex.phInit(slot, D, M, par, ord, sp);
      ex.free(par);
      ex.free(ord);
      ex.free(sp);
      if (r !== 0) throw new ModelFormatError(`photo sub-model ${m}: tree is not rooted at the coded symbol (code ${r})`);
      const buf = ex.memory.buffer;
      const pi = new Float32Array(buf, ex.phPiPtr(slot), Mp);
      pi.fill(0);
      pi.set(sub.pi.subarray(0, M));
      const T = new Float32Array(buf, ex.phTransPtr(slot), D * Mp * Mp);
      T.fill(0);
      for (let v = 0; v < D; v++) for (let j = 0; j < M; j++) {
        T.set(sub.T.subarray((v * M + j) * M, (v * M + j + 1) * M), (v * Mp + j) * Mp);
      }
      const E = new Float32Array(buf, ex.phEmitPtr(slot), D * 256 * Mp);
      E.fill(0);
      for (let v = 0; v < D; v++) for (let k = 0; k < M; k++) {
        const src = (v * M + k) * 256;
        for (let c = 0; c < 256; c++) E[(v * 256 + c) * Mp + k] = sub.E[src + c];
      }
      ex.phPrepare(slot);
      ex.phMap(slot, slot);
    });
    this.configured = channels;
  }
}

async function loadSub(sm: PhotoSubModel, i: number, maxModelParameters: number): Promise<LoadedSub> {
  let pc: PcModel;
  try {
    pc = await modelFromBytes(sm.pcm, { maxModelParameters });
  } catch (e) {
    throw new ModelFormatError(`photo sub-model ${i}: ${(e as Error).message}`);
  }
  const D = sm.spec.length;
  if (pc.D !== D || pc.height !== 1 || pc.channels !== 1) throw new ModelFormatError(`photo sub-model ${i}: HCLT has ${pc.D} variables, spec ${D}`);
  if (pc.parent[0] !== -1) throw new ModelFormatError(`photo sub-model ${i}: tree is not rooted at the coded symbol`);
  const { pi, transitions, emissions } = pc.parameters();
  const sub = { spec: sm.spec, M: pc.M, parent: pc.parent, order: pc.order, pi, T: transitions, E: emissions };
  pc.destroy();
  return sub;
}

/**
 * Loads a photo model from its file bytes (see loadPhotoModel for the bundled one); the parameters it
 * declares are checked against `options.maxModelParameters` (default 2^25) before anything is allocated.
 */
export async function photoModelFromBytes(bytes: Uint8Array, options?: ModelLimits): Promise<PhotoModel> {
  const max = modelLimit(options, 'loadPhotoModel');
  const parts = parsePhotoModel(bytes, max);
  const subs: LoadedSub[] = [];
  for (let i = 0; i < parts.subModels.length; i++) subs.push(await loadSub(parts.subModels[i], i, max));
  const ex = await photoInstance();
  return new PhotoModel(ex, parts, subs, bytes);
}

let photoBytes: Promise<Uint8Array> | undefined;

/**
 * Loads a photo model: from file bytes, or `'photo'` for the bundled default (trained on photographs
 * from Debian packages; see scripts/train-photo.mjs).
 */
export async function loadPhotoModel(source: Uint8Array | 'photo' = 'photo', options?: ModelLimits): Promise<PhotoModel> {
  if (source === 'photo') {
    photoBytes ??= import('../../models/photo.pcm', { with: { type: 'bytes' } }).then((m) => m.default);
    return photoModelFromBytes(await photoBytes, options);
  }
  if (!(source instanceof Uint8Array)) throw new ArgumentError('loadPhotoModel: expected model file bytes (Uint8Array) or "photo"');
  return photoModelFromBytes(source, options);
}

/**
 * The coder's integer CDF (257 values, the last 2^24) of every symbol of a small image, in coding order
 * (pixel by pixel, slots within a pixel), as the encoder and decoder compute them. For tests and tools.
 */
export function photoCdfs(model: PhotoModel, img: { width: number; height: number; channels: number; data: Uint8Array }): Uint32Array[] {
  const ex = model.ex, c = img.channels, n = img.width * img.height * c;
  model.configure(c);
  const ip = palloc(ex, n), op = palloc(ex, 257 * 4);
  try {
    new Uint8Array(ex.memory.buffer, ip, n).set(img.data);
    ex.phSymbols(ip, img.width, img.height, c, PREDICTORS.indexOf(model.predictor), TRANSFORMS.indexOf(model.transform));
    const out: Uint32Array[] = [];
    for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) for (let s = 0; s < c; s++) {
      ex.phCdf(s, x, y, op);
      out.push(new Uint32Array(ex.memory.buffer, op, 257).slice());
    }
    return out;
  } finally {
    ex.free(ip);
    ex.free(op);
  }
}

/** The symbol planes (u8[channels][height][width]) the codec computes for an image (prediction + transform). */
export function photoSymbols(model: PhotoModel, img: { width: number; height: number; channels: number; data: Uint8Array }): Uint8Array {
  const ex = model.ex, c = img.channels, n = img.width * img.height * c;
  const ip = palloc(ex, n);
  try {
    new Uint8Array(ex.memory.buffer, ip, n).set(img.data);
    ex.phSymbols(ip, img.width, img.height, c, PREDICTORS.indexOf(model.predictor), TRANSFORMS.indexOf(model.transform));
    return new Uint8Array(ex.memory.buffer, ex.phPlanesPtr(), n).slice();
  } finally {
    ex.free(ip);
  }
}
