// Model folders: where the bundled models sit (models/<name>/ in the package) and how a folder's files are read
// in every runtime — Node and Deno read file: URLs and paths from disk, browsers (and Deno for http URLs) fetch.
import { nodeModule } from '../threads/pool.js';
import { ModelFileError } from './errors.js';

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
 * else a ModelFileError naming the file and where it was looked for (`hint` is added to the message).
 */
export async function readModelFile(dir: URL, file: string, optional: boolean, hint = ''): Promise<Uint8Array | undefined> {
  const u = new URL(file, dir);
  const where = await describeUrl(u);
  const missing = (why: string) => new ModelFileError(file, where, `${why} (looked for ${where})${hint}`);
  if (u.protocol === 'file:' && hasFileSystem()) {
    const fs = await nodeModule<typeof import('node:fs/promises')>('node:fs/promises');
    try {
      return new Uint8Array(await fs.readFile(u));
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((code === 'ENOENT' || (e as Error).name === 'NotFound') && optional) return undefined;
      throw missing(code === 'ENOENT' ? 'not found' : `cannot be read: ${(e as Error).message}`);
    }
  }
  let res: Response;
  try {
    res = await fetch(u);
  } catch (e) {
    throw missing(`cannot be fetched: ${(e as Error).message}`);
  }
  if (res.status === 404 && optional) return undefined;
  if (!res.ok) throw missing(res.status === 404 ? 'not found (HTTP 404)' : `cannot be fetched: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
