// Helpers the CLI subcommands share: flag values with typed errors, and file reading (Node and Deno).
import { ArgumentError } from './errors.js';

/** Parsed command-line flags: `--name=value` / `--name value` (string) or `--name` (true). */
export type Flags = Record<string, string | boolean>;

/** node:fs/promises, imported only when a command touches files (Deno provides it too). */
export async function fsPromises(): Promise<typeof import('node:fs/promises')> {
  return import('node:fs/promises');
}

/** Reads a whole file; a missing or unreadable file is an ArgumentError naming it. */
export async function readFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await (await fsPromises()).readFile(path));
  } catch (e) {
    throw new ArgumentError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The first of `names` given as a string flag; a bare `--name` without a value is an error. */
export function str(flags: Flags, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = flags[n];
    if (typeof v === 'string') return v;
    if (v === true) throw new ArgumentError(`--${n} needs a value (write --${n}=VALUE)`);
  }
  return undefined;
}

/** A numeric flag, `def` when absent; anything but a finite number is an error. */
export function num(flags: Flags, name: string, def: number): number {
  const v = flags[name];
  if (v === undefined) return def;
  const x = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(x)) throw new ArgumentError(`--${name} needs a number (write --${name}=N)`);
  return x;
}

/**
 * The line `compress` prints: the input file's own size next to the compressed size (also as a share of it) and
 * bits per subpixel (8 * bytes / (width * height * channels)). `what` names the model (and the time taken).
 */
export function compressSummary(input: string, inputBytes: number, img: { width: number; height: number; channels: number },
  dest: string, bytes: number, what: string): string {
  const n = img.width * img.height * img.channels;
  return `${input} (${img.width}x${img.height}x${img.channels}, ${inputBytes} bytes) -> ${dest}: ${bytes} bytes = ` +
    `${((100 * bytes) / inputBytes).toFixed(1)} % of the input file, ${((8 * bytes) / n).toFixed(3)} bits/subpixel (${what})`;
}

/**
 * Decode limits from --max-pixels, --max-images and --max-bytes (unset flags keep the defaults; values are
 * checked by the decoders, so an out-of-range one is an ArgumentError).
 */
export function limitFlags(flags: Flags): { maxPixels?: number; maxImages?: number; maxBytes?: number } {
  const l: { maxPixels?: number; maxImages?: number; maxBytes?: number } = {};
  if (flags['max-pixels'] !== undefined) l.maxPixels = num(flags, 'max-pixels', 0);
  if (flags['max-images'] !== undefined) l.maxImages = num(flags, 'max-images', 0);
  if (flags['max-bytes'] !== undefined) l.maxBytes = num(flags, 'max-bytes', 0);
  return l;
}
