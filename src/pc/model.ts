// HCLT model: the binary model file format, loading into a wasm instance, likelihoods, conditionals
// and sampling. Coding tables are only ever computed inside wasm (assembly/pc.ts).
//
// Model file format, version 1 (all integers little-endian):
//   offset  size  field
//   0       4     magic "PCPM"
//   4       1     version (1)
//   5       1     flags: bit 0 = parameter block is gzip-compressed
//   6       2     M, latent states per pixel (1..1024)
//   8       2     width
//   10      2     height
//   12      1     channels
//   13      1     parameter codec: 1 = one byte per probability, q = round(-8 log2 p) clamped to 0..255,
//                 read back as p = 2^(-q/8) and renormalised per distribution (in wasm)
//   14      2     reserved (0)
//   16      2*D   parent of each pixel (0xFFFF for the root), D = width*height*channels <= 65535
//   ..      2*D   coding order: pixel index at each position; a post-order of the tree (children first)
//   ..      4     byte length P of the parameter block
//   ..      P     parameter codes: pi (M), transitions (D*M*M, row = parent state; the root's block is
//                 unused), emissions (D*M*256), gzip-compressed when flags bit 0 is set
//   ..      4     byte length J of the metadata
//   ..      J     metadata, UTF-8 JSON (training settings and scores; informative only)
//   end-4   4     content hash: FNV-1a 32 of every byte before it; the model id used by streams
// Pixel index of (x, y, channel ch) is (y*width + x)*channels + ch.
import type { PngMeta } from './meta.js';
import { WasmBackend } from '../backends/wasm.js';
import { ArgumentError, LimitError, ShapeError } from '../errors.js';
import { ModelFormatError } from './errors.js';
import { DEFAULT_MODEL_PARAMETERS, MAX_MODEL_PARAMETERS_CEILING, hcltParameters, modelLimit, type ModelLimits } from './limits.js';

/** An 8-bit image: `data[(y*width + x)*channels + c]`. */
export interface PcImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
  /**
   * Colour metadata of the file the image came from (readImage of a PNG with iCCP, sRGB, gAMA or cHRM
   * chunks). Photo and deflate streams carry it and writePng writes it back; the MNIST-model streams
   * (compressImage, compressImages) carry pixels only.
   */
  meta?: PngMeta;
}

/** Exports of assembly/pc.ts (the wasm module's HCLT and rANS routines). */
export interface PcWasmExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  pcInit(d: number, m: number, parent: number, ord: number): number;
  pcPiPtr(): number;
  pcTransPtr(): number;
  pcEmitPtr(): number;
  pcPmfPtr(): number;
  pcCdfPtr(): number;
  pcPmf(t: number): number;
  pcQuantizePmf(): void;
  pcCdf(t: number): number;
  pcCommit(t: number, x: number): void;
  pcEncode(img: number, n: number, dst: number, cap: number, x0: bigint): number;
  pcIdealBits(img: number): number;
  pcDecode(src: number, len: number, img: number, n: number, xmin: bigint): number;
  /** The rANS decoder's state after the last decode (u64, as a signed BigInt from wasm). */
  ransDecState(): bigint;
  pcLogLik(img: number): number;
  pcTrainInit(): void;
  pcEstep(data: number, idx: number, n: number): number;
  pcLogLikBatch(data: number, n: number): number;
  pcMstep(lambda: number, alpha: number): void;
  pcParamCount(): number;
  pcQuantize(dst: number): void;
  pcDequantize(src: number): void;
  pcMutualInfo(data: number, n: number, d: number, alpha: number, out: number): void;
}

/** A wasm instance with the HCLT routines. */
export async function pcInstance(): Promise<PcWasmExports> {
  const backend = await WasmBackend.create();
  return backend.ex as unknown as PcWasmExports;
}

/** Allocates `bytes` in wasm memory (throws a clear error if memory cannot grow). */
export function walloc(ex: PcWasmExports, bytes: number): number {
  const p = ex.alloc(Math.max(16, bytes)) >>> 0;
  if (p === 0) throw new ArgumentError(`wasm: cannot allocate ${bytes} bytes`);
  return p;
}

/** The structure of an HCLT: image shape, latent size, tree and coding order. */
export interface PcStructure {
  width: number;
  height: number;
  channels: number;
  M: number;
  /** parent[v] (-1 for the root). */
  parent: Int32Array;
  /** Pixel index coded at each position (post-order of the tree). */
  order: Int32Array;
}

const MAGIC = [0x50, 0x43, 0x50, 0x4d]; // "PCPM"
const VERSION = 1;

/** FNV-1a 32-bit hash of bytes (integer arithmetic: identical in every runtime). */
export function fnv1a(bytes: Uint8Array, end = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** gzip (de)compression through the platform's CompressionStream; `limit` caps the output size. */
async function gzip(data: Uint8Array, mode: 'compress' | 'decompress', limit = Infinity): Promise<Uint8Array> {
  const stream = mode === 'compress' ? new CompressionStream('gzip') : new DecompressionStream('gzip');
  const reader = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel();
      throw new ModelFormatError(`not a valid pcpress model file: parameter block inflates past ${limit} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Most parameters a model may have (they live as f32 in one wasm instance next to the coder state). */
export const MAX_MODEL_PARAMETERS = MAX_MODEL_PARAMETERS_CEILING;

/** Serialises a model (structure + 8-bit parameter codes + metadata) into the model file format. */
export async function encodeModelFile(s: PcStructure, codes: Uint8Array, meta: Record<string, unknown> = {},
  compress = true): Promise<Uint8Array> {
  const D = s.width * s.height * s.channels;
  const block = compress ? await gzip(codes, 'compress') : codes;
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const n = 16 + 4 * D + 4 + block.length + 4 + json.length + 4;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = compress ? 1 : 0;
  dv.setUint16(6, s.M, true);
  dv.setUint16(8, s.width, true);
  dv.setUint16(10, s.height, true);
  out[12] = s.channels;
  out[13] = 1;
  let o = 16;
  for (let v = 0; v < D; v++, o += 2) dv.setUint16(o, s.parent[v] < 0 ? 0xffff : s.parent[v], true);
  for (let t = 0; t < D; t++, o += 2) dv.setUint16(o, s.order[t], true);
  dv.setUint32(o, block.length, true);
  out.set(block, o + 4);
  o += 4 + block.length;
  dv.setUint32(o, json.length, true);
  out.set(json, o + 4);
  o += 4 + json.length;
  dv.setUint32(o, fnv1a(out, o), true);
  return out;
}

interface ParsedModel {
  s: PcStructure;
  codes: Uint8Array;
  meta: Record<string, unknown>;
  hash: number;
}

/** Parameters a PCPM header declares (M + D M M + D M 256), read without parsing the rest; -1 if too short. */
export function declaredParameters(bytes: Uint8Array): number {
  if (bytes.length < 16) return -1;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const M = dv.getUint16(6, true), D = dv.getUint16(8, true) * dv.getUint16(10, true) * bytes[12];
  return hcltParameters(M, D);
}

async function parseModelFile(bytes: Uint8Array, maxParameters = DEFAULT_MODEL_PARAMETERS): Promise<ParsedModel> {
  const bad = (why: string) => new ModelFormatError(`not a valid pcpress model file: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw new ArgumentError('loadModel: expected a Uint8Array or "mnist"');
  if (bytes.length < 28) throw bad(`${bytes.length} bytes is too short`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw bad('wrong magic (expected "PCPM")');
  if (bytes[4] !== VERSION) throw bad(`unsupported version ${bytes[4]} (this build reads version ${VERSION})`);
  const declared = declaredParameters(bytes);
  if (declared > maxParameters) {
    throw new LimitError(`model declares ${declared} parameters, more than maxModelParameters (${maxParameters}); raise the limit if you trust the file`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hash = dv.getUint32(bytes.length - 4, true);
  if (fnv1a(bytes, bytes.length - 4) !== hash) throw bad('content hash mismatch (file corrupt or truncated)');
  const flags = bytes[5];
  const M = dv.getUint16(6, true), width = dv.getUint16(8, true), height = dv.getUint16(10, true), channels = bytes[12];
  if (flags > 1 || bytes[13] !== 1) throw bad(`unknown flags ${flags} or parameter codec ${bytes[13]}`);
  if (M < 1 || M > 1024 || width < 1 || height < 1 || channels < 1) throw bad(`bad sizes M=${M} ${width}x${height}x${channels}`);
  const D = width * height * channels;
  if (D > 65535) throw bad(`D = ${D} pixels exceeds 65535`);
  let o = 16;
  if (bytes.length < o + 4 * D + 12) throw bad('truncated structure');
  const parent = new Int32Array(D), order = new Int32Array(D);
  for (let v = 0; v < D; v++, o += 2) {
    const p = dv.getUint16(o, true);
    parent[v] = p === 0xffff ? -1 : p;
  }
  for (let t = 0; t < D; t++, o += 2) order[t] = dv.getUint16(o, true);
  const plen = dv.getUint32(o, true);
  o += 4;
  if (o + plen + 8 > bytes.length) throw bad('truncated parameter block');
  let codes = bytes.subarray(o, o + plen);
  o += plen;
  const want = hcltParameters(M, D);
  if (want > MAX_MODEL_PARAMETERS) {
    throw new LimitError(`model has ${want} parameters; at most ${MAX_MODEL_PARAMETERS} fit in one wasm instance`);
  }
  if (flags & 1) {
    try {
      codes = await gzip(codes, 'decompress', want);
    } catch (e) {
      if (e instanceof ModelFormatError) throw e;
      throw bad(`parameter block does not decompress (${(e as Error).message})`);
    }
  }
  if (codes.length !== want) throw bad(`parameter block has ${codes.length} codes, expected ${want}`);
  const jlen = dv.getUint32(o, true);
  o += 4;
  if (o + jlen + 4 !== bytes.length) throw bad('metadata length does not match the file size');
  let meta: Record<string, unknown> = {};
  try {
    meta = JSON.parse(new TextDecoder().decode(bytes.subarray(o, o + jlen))) as Record<string, unknown>;
  } catch {
    throw bad('metadata is not JSON');
  }
  return { s: { width, height, channels, M, parent, order }, codes, meta, hash };
}

/** Result of checking an image against a model's shape. */
function checkImage(img: PcImage, m: { width: number; height: number; channels: number; D: number }, what: string): void {
  if (!img || typeof img !== 'object' || !(img.data instanceof Uint8Array)) {
    throw new ArgumentError(`${what}: expected an image { width, height, channels, data: Uint8Array }`);
  }
  if (img.width !== m.width || img.height !== m.height || img.channels !== m.channels) {
    throw new ShapeError(`${what}: image is ${img.width}x${img.height}x${img.channels}, the model codes ` +
      `${m.width}x${m.height}x${m.channels} images`);
  }
  if (img.data.length !== m.D) throw new ShapeError(`${what}: image data has ${img.data.length} bytes, expected ${m.D}`);
}

/**
 * A loaded HCLT model, living in its own wasm instance. Create with `loadModel` or `trainModel`;
 * call `destroy()` to release it early (otherwise it is freed with the instance).
 */
export class PcModel {
  /** Image width the model codes. */
  readonly width: number;
  /** Image height. */
  readonly height: number;
  /** Channels per pixel. */
  readonly channels: number;
  /** Latent states per pixel. */
  readonly M: number;
  /** Number of pixels (width * height * channels). */
  readonly D: number;
  /** Content hash of the model file (the model id streams refer to). */
  readonly hash: number;
  /** Parent of each pixel in the Chow-Liu tree (-1 for the root). */
  readonly parent: Int32Array;
  /** Coding order (pixel index per position). */
  readonly order: Int32Array;
  /** Metadata stored in the file (training settings and scores). */
  readonly meta: Record<string, unknown>;
  /** The model file bytes. */
  readonly fileBytes: Uint8Array;
  /** @internal */
  readonly ex: PcWasmExports;
  private imgPtr: number;
  private bufPtr: number;
  private bufCap: number;
  private destroyed = false;

  /** @internal */
  constructor(ex: PcWasmExports, p: ParsedModel, fileBytes: Uint8Array) {
    this.ex = ex;
    this.width = p.s.width;
    this.height = p.s.height;
    this.channels = p.s.channels;
    this.M = p.s.M;
    this.D = p.s.width * p.s.height * p.s.channels;
    this.hash = p.hash;
    this.parent = p.s.parent;
    this.order = p.s.order;
    this.meta = p.meta;
    this.fileBytes = fileBytes;
    this.imgPtr = walloc(ex, this.D);
    this.bufCap = this.D * 3 + 16;
    this.bufPtr = walloc(ex, this.bufCap);
  }

  /** Model id as 8 hex digits. */
  get id(): string {
    return this.hash.toString(16).padStart(8, '0');
  }

  /** Number of stored parameters (probabilities). */
  get parameterCount(): number {
    return this.M + this.D * this.M * this.M + this.D * this.M * 256;
  }

  private check(): void {
    if (this.destroyed) throw new ArgumentError('model was used after destroy()');
  }

  private put(img: PcImage, what: string): void {
    this.check();
    checkImage(img, this, what);
    new Uint8Array(this.ex.memory.buffer, this.imgPtr, this.D).set(img.data);
  }

  /** Throws ShapeError/ArgumentError unless `img` has the shape this model codes. */
  checkImage(img: PcImage, what = 'image'): void {
    checkImage(img, this, what);
  }

  /** Natural-log likelihood log P(image) under the model. */
  logLikelihood(img: PcImage): number {
    this.put(img, 'logLikelihood');
    return this.ex.pcLogLik(this.imgPtr);
  }

  /** Ideal code length (bits) of the image under the quantised integer tables the coder uses. */
  idealBits(img: PcImage): number {
    this.put(img, 'idealBits');
    return this.ex.pcIdealBits(this.imgPtr);
  }

  /**
   * The coder's per-pixel conditionals: row t (256 values) is P(x[order[t]] = c | pixels at positions < t),
   * as computed in wasm (f32). With `integer`, the quantised frequency tables (each row sums to 2^24).
   */
  conditionals(img: PcImage, integer = false): Float32Array | Uint32Array {
    this.put(img, 'conditionals');
    const out = integer ? new Uint32Array(this.D * 256) : new Float32Array(this.D * 256);
    for (let t = 0; t < this.D; t++) {
      const v = integer ? this.ex.pcCdf(t) : this.ex.pcPmf(t);
      if (integer) {
        const cdf = new Uint32Array(this.ex.memory.buffer, this.ex.pcCdfPtr(), 257);
        for (let c = 0; c < 256; c++) out[t * 256 + c] = cdf[c + 1] - cdf[c];
      } else {
        out.set(new Float32Array(this.ex.memory.buffer, this.ex.pcPmfPtr(), 256), t * 256);
      }
      this.ex.pcCommit(t, img.data[v]);
    }
    return out;
  }

  /** Copies of the dequantised parameters: pi[M], transitions[D][M][M], emissions[D][M][256]. */
  parameters(): { pi: Float32Array; transitions: Float32Array; emissions: Float32Array } {
    this.check();
    const { M, D } = this;
    const buf = this.ex.memory.buffer;
    return {
      pi: new Float32Array(buf, this.ex.pcPiPtr(), M).slice(),
      transitions: new Float32Array(buf, this.ex.pcTransPtr(), D * M * M).slice(),
      emissions: new Float32Array(buf, this.ex.pcEmitPtr(), D * M * 256).slice(),
    };
  }

  /** Draws `count` images from the model (ancestral sampling; `random` returns uniforms in [0, 1)). */
  sample(count: number, random: () => number): PcImage[] {
    this.check();
    const { M, D } = this;
    const { pi, transitions: T, emissions: E } = this.parameters();
    const draw = (p: Float32Array, off: number, n: number): number => {
      let u = random(), s = 0;
      for (let i = 0; i < n; i++) s += p[off + i];
      u *= s;
      for (let i = 0; i < n; i++) {
        u -= p[off + i];
        if (u < 0) return i;
      }
      return n - 1;
    };
    const out: PcImage[] = [];
    const z = new Int32Array(D);
    for (let n = 0; n < count; n++) {
      const data = new Uint8Array(D);
      for (let t = D - 1; t >= 0; t--) {
        const v = this.order[t];
        const p = this.parent[v];
        z[v] = p < 0 ? draw(pi, 0, M) : draw(T, (v * M + z[p]) * M, M);
        data[v] = draw(E, (v * M + z[v]) * 256, 256);
      }
      out.push({ width: this.width, height: this.height, channels: this.channels, data });
    }
    return out;
  }

  /** @internal Encodes images into one rANS payload (no container header). */
  encodePayload(images: PcImage[], x0: bigint, what = 'compressImage'): Uint8Array {
    this.check();
    const n = images.length, D = this.D;
    images.forEach((im, i) => checkImage(im, this, n > 1 ? `${what}: image ${i}` : what));
    const cap = 3 * n * D + 16;
    const img = n === 1 ? this.imgPtr : walloc(this.ex, n * D);
    const dst = cap <= this.bufCap ? this.bufPtr : walloc(this.ex, cap);
    try {
      const mem = new Uint8Array(this.ex.memory.buffer, img, n * D);
      images.forEach((im, i) => mem.set(im.data, i * D));
      const len = this.ex.pcEncode(img, n, dst, cap, x0);
      if (len < 0) throw new ArgumentError(`${what}: internal buffer too small (bug)`);
      return new Uint8Array(this.ex.memory.buffer, dst, len).slice();
    } finally {
      if (img !== this.imgPtr) this.ex.free(img);
      if (dst !== this.bufPtr) this.ex.free(dst);
    }
  }

  /**
   * @internal Decodes n images from a payload coded from a start state >= xmin; returns their pixels back
   * to back and the decoder's final state (the caller compares it with the start state it expects), or a
   * negative status.
   */
  decodePayload(payload: Uint8Array, n: number, xmin: bigint): { pixels: Uint8Array; state: bigint } | number {
    this.check();
    const D = this.D;
    const src = payload.length <= this.bufCap ? this.bufPtr : walloc(this.ex, payload.length);
    const img = n === 1 ? this.imgPtr : walloc(this.ex, n * D);
    try {
      new Uint8Array(this.ex.memory.buffer, src, payload.length).set(payload);
      const r = this.ex.pcDecode(src, payload.length, img, n, xmin);
      if (r !== 0) return r;
      return { pixels: new Uint8Array(this.ex.memory.buffer, img, n * D).slice(), state: BigInt.asUintN(64, this.ex.ransDecState()) };
    } finally {
      if (img !== this.imgPtr) this.ex.free(img);
      if (src !== this.bufPtr) this.ex.free(src);
    }
  }

  /** Marks the model unusable; its wasm instance and memory go with the last reference to the model. */
  destroy(): void {
    this.destroyed = true;
  }
}

/** Instantiates a model from parsed parts in a fresh wasm instance (dequantising in wasm). */
async function instantiate(p: ParsedModel, fileBytes: Uint8Array): Promise<PcModel> {
  const ex = await pcInstance();
  const D = p.s.parent.length;
  const par = walloc(ex, 4 * D), ord = walloc(ex, 4 * D);
  new Int32Array(ex.memory.buffer, par, D).set(p.s.parent);
  new Int32Array(ex.memory.buffer, ord, D).set(p.s.order);
  const r = ex.pcInit(D, p.s.M, par, ord);
  ex.free(par);
  ex.free(ord);
  if (r !== 0) {
    throw new ModelFormatError(`not a valid pcpress model file: ${r === -3 ? 'coding order is not a post-order of the tree' : 'invalid tree'}`);
  }
  const cp = walloc(ex, p.codes.length);
  new Uint8Array(ex.memory.buffer, cp, p.codes.length).set(p.codes);
  ex.pcDequantize(cp);
  ex.free(cp);
  return new PcModel(ex, p, fileBytes);
}

/** Loads a model from its file bytes; sizes are checked against `options.maxModelParameters` (default 2^25) first. */
export async function modelFromBytes(bytes: Uint8Array, options?: ModelLimits): Promise<PcModel> {
  const p = await parseModelFile(bytes, modelLimit(options, 'loadModel'));
  return instantiate(p, bytes);
}

let mnistBytes: Promise<Uint8Array> | undefined;

/**
 * Loads a model: from model file bytes, or `'mnist'` for the bundled default model
 * (an HCLT trained on MNIST-train, 28x28x1).
 */
export async function loadModel(source: Uint8Array | 'mnist', options?: ModelLimits): Promise<PcModel> {
  if (source === 'mnist') {
    mnistBytes ??= import('../../models/mnist.pcm', { with: { type: 'bytes' } }).then((m) => m.default);
    return modelFromBytes(await mnistBytes, options);
  }
  if (!(source instanceof Uint8Array)) throw new ArgumentError('loadModel: expected model file bytes (Uint8Array) or "mnist"');
  return modelFromBytes(source, options);
}

/**
 * A model with a random tree and random parameters (for tests and demos). `random` returns uniforms in
 * [0, 1); a larger `peak` (default 1) makes the distributions sharper.
 */
export async function createRandomModel(opts: { width: number; height: number; channels?: number; M: number;
  random: () => number; peak?: number }): Promise<PcModel> {
  const { width, height, M, random } = opts;
  const channels = opts.channels ?? 1;
  const D = width * height * channels;
  if (!(D >= 1 && D <= 65535) || !(M >= 1 && M <= 1024)) throw new ArgumentError('createRandomModel: bad sizes');
  if (hcltParameters(M, D) > MAX_MODEL_PARAMETERS) throw new LimitError(`createRandomModel: M=${M} with ${D} pixels exceeds ${MAX_MODEL_PARAMETERS} parameters`);
  const peak = opts.peak ?? 1;
  // random recursive tree over a random permutation
  const perm = Array.from({ length: D }, (_, i) => i);
  for (let i = D - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const parent = new Int32Array(D).fill(-1);
  for (let i = 1; i < D; i++) parent[perm[i]] = perm[Math.floor(random() * i)];
  const { order } = postOrder(parent);
  const n = hcltParameters(M, D);
  const codes = new Uint8Array(n);
  // codes from products of uniforms (plain IEEE arithmetic: the same model in every JS engine)
  for (let i = 0; i < n; i++) codes[i] = Math.min(255, Math.floor(random() * random() * 64 * peak));
  const bytes = await encodeModelFile({ width, height, channels, M, parent, order }, codes, { random: true }, false);
  return modelFromBytes(bytes, { maxModelParameters: MAX_MODEL_PARAMETERS });
}

/**
 * Post-order of a rooted tree (children before parents; larger subtrees first, ties by index),
 * the coding order of an HCLT. Returns the order and the root.
 */
export function postOrder(parent: Int32Array): { order: Int32Array; root: number } {
  const D = parent.length;
  const kids: number[][] = Array.from({ length: D }, () => []);
  let root = -1;
  for (let v = 0; v < D; v++) {
    if (parent[v] < 0) root = v;
    else kids[parent[v]].push(v);
  }
  if (root < 0) throw new ArgumentError('postOrder: tree has no root');
  const size = new Int32Array(D).fill(1);
  // sizes via reverse BFS order
  const bfs = [root];
  for (let i = 0; i < bfs.length; i++) for (const c of kids[bfs[i]]) bfs.push(c);
  if (bfs.length !== D) throw new ArgumentError('postOrder: parent array is not a tree');
  for (let i = D - 1; i > 0; i--) size[parent[bfs[i]]] += size[bfs[i]];
  for (const k of kids) k.sort((a, b) => size[b] - size[a] || a - b);
  const order = new Int32Array(D);
  let t = 0;
  const stack: [number, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [v, i] = top;
    if (i < kids[v].length) {
      top[1]++;
      stack.push([kids[v][i], 0]);
    } else {
      order[t++] = v;
      stack.pop();
    }
  }
  return { order, root };
}
