// Model folders: where the bundled models sit (models/<name>/ in the package) and how a folder's files are read
// in every runtime — Node and Deno read file: URLs and paths from disk, browsers (and Deno for http URLs) fetch.
import { nodeModule } from '../threads/pool.js';
import { LimitError } from '../errors.js';
import { ModelFileError } from './errors.js';

/** Most bytes of a model's weights file read (`model.safetensors`): 2^31, what a typed array holds in every runtime. */
export const MAX_WEIGHTS_FILE_BYTES = 2 ** 31;
/** Most bytes of any other model file read (`config.json`, `tokenizer.json`, `heldout.txt`): 64 MiB. */
export const MAX_MODEL_FILE_BYTES = 2 ** 26;

/** The default size limit of a model folder's file: MAX_WEIGHTS_FILE_BYTES for `.safetensors`, else MAX_MODEL_FILE_BYTES. */
export function modelFileLimit(file: string): number {
  return file.endsWith('.safetensors') ? MAX_WEIGHTS_FILE_BYTES : MAX_MODEL_FILE_BYTES;
}

/** Models shipped in the package's `models/` folder, by name (`loadTransformer(rt, 'tiny')`). */
export const BUNDLED_MODELS = ['tiny'] as const;

/** A bundled model's name. */
export type BundledModel = (typeof BUNDLED_MODELS)[number];

/**
 * The package root as a URL: the folder above `dist/` (built code, in dist/ or dist/chunks/) or above `src/`
 * (sources run directly), else the folder above this module.
 */
export function packageRootUrl(): URL {
  const here = import.meta.url;
  for (const seg of ['/dist/', '/src/']) {
    const i = here.lastIndexOf(seg);
    if (i >= 0) return new URL(here.slice(0, i + 1));
  }
  return new URL('../', here);
}

/** The folder URL of a bundled model: `<package>/models/<name>/`. */
export function bundledModelUrl(name: BundledModel): URL {
  return new URL(`models/${name}/`, packageRootUrl());
}

function hasFileSystem(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
  return typeof g.process?.versions?.node === 'string' || g.Deno !== undefined;
}

/**
 * A folder given as a URL or a string as a URL ending in `/`: strings with a scheme (`http:`, `file:`, ...) are
 * URLs; other strings are file-system paths where there is one (Node, Deno: relative to the working directory),
 * else URLs relative to the page.
 */
export async function folderUrl(dir: string | URL): Promise<URL> {
  let u: URL;
  if (dir instanceof URL) u = new URL(dir.href);
  else if (/^[a-z][a-z0-9+.-]+:/i.test(dir)) u = new URL(dir);
  else if (hasFileSystem()) {
    const url = await nodeModule<typeof import('node:url')>('node:url');
    const p = await nodeModule<typeof import('node:path')>('node:path');
    u = url.pathToFileURL(p.resolve(dir));
  } else {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    if (!base) throw new ModelFileError('(folder)', dir, `cannot tell where ${JSON.stringify(dir)} is: give a URL`);
    u = new URL(dir, base);
  }
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

/** Where a URL points, for messages: a path for file: URLs. */
async function describeUrl(u: URL): Promise<string> {
  if (u.protocol === 'file:' && hasFileSystem()) {
    try {
      return (await nodeModule<typeof import('node:url')>('node:url')).fileURLToPath(u);
    } catch {
      return u.href;
    }
  }
  return u.href;
}

/**
 * The bytes of `file` in the folder `dir` (a URL ending in `/`); undefined when it does not exist and `optional`,
 * else a ModelFileError naming the file and where it was looked for (`hint` is added to the message). A file of more
 * than `maxBytes` (default `modelFileLimit(file)`) is a LimitError, checked before reading (file size,
 * Content-Length) and while reading (a response without a length stops at the limit).
 */
export async function readModelFile(dir: URL, file: string, optional: boolean, hint = '', maxBytes = modelFileLimit(file)): Promise<Uint8Array | undefined> {
  const u = new URL(file, dir);
  const where = await describeUrl(u);
  const missing = (why: string) => new ModelFileError(file, where, `${why} (looked for ${where})${hint}`);
  const tooBig = (size: string) => new LimitError(`${file}: ${size} is more than the limit of ${maxBytes} bytes for it (${where})`);
  if (u.protocol === 'file:' && hasFileSystem()) {
    const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
    let bytes: Uint8Array;
    try {
      const st = await fs.stat(u);
      if (st.isFile() && st.size > maxBytes) throw tooBig(`${st.size} bytes`);
      bytes = new Uint8Array(await fs.readFile(u));
    } catch (e) {
      if (e instanceof LimitError) throw e;
      const code = (e as { code?: string }).code;
      if ((code === 'ENOENT' || (e as Error).name === 'NotFound') && optional) return undefined;
      throw missing(code === 'ENOENT' ? 'not found' : `cannot be read: ${(e as Error).message}`);
    }
    if (bytes.length > maxBytes) throw tooBig(`${bytes.length} bytes`); // grew since stat, or not a regular file
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(u);
  } catch (e) {
    throw missing(`cannot be fetched: ${(e as Error).message}`);
  }
  if (res.status === 404 && optional) return undefined;
  if (!res.ok) throw missing(res.status === 404 ? 'not found (HTTP 404)' : `cannot be fetched: HTTP ${res.status}`);
  const declared = res.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig(`Content-Length ${declared.trim()}`);
  }
  if (!res.body) {
    const all = new Uint8Array(await res.arrayBuffer());
    if (all.length > maxBytes) throw tooBig(`${all.length} bytes`);
    return all;
  }
  // read chunk by chunk, counting: a chunked response (or a wrong Content-Length) cannot exceed the limit
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (e) {
      throw missing(`cannot be fetched: ${(e as Error).message}`);
    }
    if (r.done) break;
    total += r.value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooBig(`the response (${total} bytes so far)`);
    }
    chunks.push(r.value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
