// The pcpress command line. Runs in Node (npx pcpress ...) and Deno (deno run -A dist/cli.js ...).
import * as pc from './node.js';
import { runConformance, formatTable, summarize, type CaseResult, type ConformanceReport } from './conformance.js';
import { kvCommand, KV_USAGE } from './kv/cli.js';
import { lmCommand, LM_USAGE } from './lm/cli.js';
import { pcCommand, PC_USAGE } from './pc/cli.js';
import { photoCommand, PHOTO_USAGE } from './photo/cli.js';

const USAGE = `pcpress ${pc.version}

Usage:
  pcpress conformance [--browser] [--json] [--backend wasm|webgpu] [--filter TEXT] [--seed N] [--require-webgpu]
      Run the shared conformance cases in this runtime (or in headless Chromium with --browser)
      on each backend and print a runtime x backend x op table. Exit 1 on any failure.
  pcpress info [--backend auto|wasm|webgpu]
      Show which backend a runtime gets here, and why.
Images (lossless, probabilistic circuits; the smallest of the models that fit and a model-free deflate stream is kept):
${PHOTO_USAGE}
${PC_USAGE}

KV-cache eviction:
${KV_USAGE}
Language models:
${LM_USAGE}
  pcpress help, pcpress <command> --help
`;

/**
 * The help of one command: the entries of USAGE that start with `pcpress <cmd>` (with their description
 * lines); train-photo is the `train --photo` entry. Undefined for a command USAGE does not list.
 */
function commandHelp(cmd: string): string | undefined {
  const lines = USAGE.split('\n');
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {2}pcpress (\S+)(.*)$/.exec(lines[i]);
    if (!m) continue;
    let j = i + 1;
    while (j < lines.length && /^ {4,}\S/.test(lines[j])) j++;
    const photoTrain = m[1] === 'train' && m[2].includes('--photo');
    if (m[1] === cmd || (cmd === 'train-photo' && photoTrain)) blocks.push(lines.slice(i, j).join('\n'));
  }
  return blocks.length ? `pcpress ${pc.version}\n\nUsage:\n${blocks.join('\n')}\n` : undefined;
}

type Flags = Record<string, string | boolean>;

// The flags each command reads: any other flag is an error, never ignored.
const OUT = ['o', 'output'], MODEL = ['model', 'm'], LIMITS = ['max-pixels', 'max-images', 'max-bytes'];
const SYNTH = ['n', 'layers', 'heads', 'kv-heads', 'dim', 'future', 'seed'];
const KNOWN_FLAGS: Record<string, string[]> = {
  conformance: ['browser', 'json', 'backend', 'filter', 'seed', 'require-webgpu'],
  info: ['backend'],
  compress: [...OUT, ...MODEL, 'tile', 'workers', 'no-fallback', 'no-adaptive'],
  decompress: [...OUT, ...MODEL, 'workers', ...LIMITS],
  train: [...OUT, 'data', 'backend', 'limit', 'valid', 'M', 'epochs', 'full-epochs', 'alpha', 'batch', 'seed', 'photo', 'samples'],
  'train-photo': [...OUT, 'data', 'M', 'samples', 'epochs', 'full-epochs', 'seed'],
  eval: [...MODEL, 'data', 'limit'],
  'kv-synth': [...OUT, ...SYNTH],
  'kv-eval': ['input', 'budgets', 'methods', 'backend', 'json', ...SYNTH],
  'lm-eval': ['json', 'prompts', 'texts', 'methods', 'budgets', 'backend', 'threads', 'seed', ...MODEL],
};

/** Refuses flags the command does not read (a misspelt --max-pixel would otherwise do nothing). */
function checkFlags(cmd: string, flags: Flags): void {
  const known = KNOWN_FLAGS[cmd];
  if (!known) return;
  const bad = Object.keys(flags).filter((k) => !known.includes(k));
  if (bad.length) {
    throw new pc.ArgumentError(`${cmd}: unknown flag${bad.length > 1 ? 's' : ''} ${bad.map((b) => `--${b}`).join(', ')} ` +
      `(${cmd} takes ${known.map((k) => (k.length === 1 ? `-${k}` : `--${k}`)).join(', ')})`);
  }
}

function parseArgs(argv: string[]): { cmd: string; flags: Flags; rest: string[] } {
  const flags: Flags = {};
  const rest: string[] = [];
  const withValue = new Set(['backend', 'filter', 'seed', 'o', 'output', 'input', 'budgets', 'methods', 'n', 'layers',
    'heads', 'kv-heads', 'dim', 'future', 'model', 'prompts', 'texts', 'tile', 'data', 'workers', 'max-pixels', 'max-images', 'max-bytes']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--') || (a.startsWith('-') && a.length === 2)) {
      const key = a.replace(/^--?/, '');
      const eq = key.indexOf('=');
      if (eq >= 0) flags[key.slice(0, eq)] = key.slice(eq + 1);
      else if (withValue.has(key)) flags[key] = argv[++i] ?? '';
      else flags[key] = true;
    } else rest.push(a);
  }
  return { cmd: rest.shift() ?? 'help', flags, rest };
}

function args(): string[] {
  const g = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
  if (g.Deno) return g.Deno.args;
  return g.process?.argv.slice(2) ?? [];
}

function exit(code: number): never {
  const g = globalThis as { Deno?: { exit(c: number): never }; process?: { exit(c: number): never } };
  if (g.Deno) g.Deno.exit(code);
  return g.process!.exit(code);
}

async function conformance(flags: Flags): Promise<number> {
  const backends = typeof flags.backend === 'string' ? [flags.backend as 'wasm' | 'webgpu'] : undefined;
  const seed = typeof flags.seed === 'string' ? Number(flags.seed) : undefined;
  const filter = typeof flags.filter === 'string' ? flags.filter : undefined;
  let report: ConformanceReport;
  if (flags.browser) {
    const { runConformanceInBrowser } = await import('./browser.js');
    report = await runConformanceInBrowser({ backends, seed, filter });
  } else {
    report = await runConformance(pc, {
      backends, seed, filter,
      onResult: flags.json ? undefined : (r: CaseResult) => {
        if (r.status === 'fail') console.error(`FAIL [${r.backend}] ${r.op} ${r.name}: ${r.error}`);
      },
    });
  }
  const s = summarize(report);
  if (flags.json) {
    console.log(JSON.stringify({ ...report, summary: s }, null, 2));
  } else {
    for (const [b, v] of Object.entries(report.backends)) console.log(`${b}: ${v.reason}`);
    console.log('');
    console.log(formatTable(report.results));
    console.log('');
    console.log(`conformance: ${s.passed} passed, ${s.failed} failed${s.unavailable + s.skipped ? `, ${s.unavailable + s.skipped} skipped` : ''}`);
  }
  if (s.failed) return 1;
  if (flags['require-webgpu'] && s.unavailable) return 1;
  return 0;
}

async function info(flags: Flags): Promise<number> {
  const backend = (typeof flags.backend === 'string' ? flags.backend : 'auto') as pc.BackendChoice;
  const rt = await pc.createRuntime({ backend });
  console.log(JSON.stringify({ backend: rt.backend, reason: rt.reason, info: rt.info }, null, 2));
  rt.destroy();
  return 0;
}

async function main(): Promise<number> {
  const { cmd, flags, rest } = parseArgs(args());
  if (flags.help === true || flags.h === true) {
    console.log((cmd === 'help' ? undefined : commandHelp(cmd)) ?? USAGE);
    return 0;
  }
  checkFlags(cmd, flags);
  switch (cmd) {
    case 'conformance':
      return conformance(flags);
    case 'info':
      return info(flags);
    case 'help':
    case '--help':
      console.log((rest[0] && commandHelp(rest[0])) || USAGE);
      return 0;
    default: {
      for (const command of [photoCommand, kvCommand, pcCommand, lmCommand]) {
        const r = await command(cmd, flags, rest);
        if (r !== undefined) return r;
      }
      console.error(`pcpress: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
    }
  }
}

main().then(exit, (e) => {
  console.error(e instanceof pc.PcpressError ? `pcpress: ${e.name}: ${e.message}` : e);
  exit(1);
});
