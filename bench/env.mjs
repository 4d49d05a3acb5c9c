// Node-only benchmark helpers: machine facts, package versions, result files.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Repository root (the folder holding bench/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where result files go. */
export const resultsDir = path.join(repoRoot, 'bench', 'results');

/** CPU count, CPU model (from /proc/cpuinfo when present), memory, OS and Node/V8 versions. */
export function machineInfo() {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let flags = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(info)?.[1]?.trim() ?? cpuModel;
    flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
  } catch {
    // not Linux: keep os.cpus()
  }
  const simd = ['avx512f', 'avx2', 'fma', 'sse4_2'].filter((f) => flags.split(' ').includes(f));
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel,
    cpuFlags: simd.join(' '),
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    v8: process.versions.v8,
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

/** Installed version of an npm package (from its package.json), or 'not installed'. */
export function packageVersion(name) {
  const require = createRequire(path.join(repoRoot, 'package.json'));
  try {
    return require(`${name}/package.json`).version;
  } catch {
    try {
      // packages whose "exports" hide package.json
      let dir = path.dirname(require.resolve(name));
      while (dir !== path.dirname(dir)) {
        const p = path.join(dir, 'package.json');
        if (fs.existsSync(p)) {
          const j = JSON.parse(fs.readFileSync(p, 'utf8'));
          if (j.name === name) return j.version;
        }
        dir = path.dirname(dir);
      }
    } catch {
      // fall through
    }
    return 'not installed';
  }
}

/** Writes bench/results/<name>.md and <name>.json; returns their paths. */
export function writeResults(name, markdown, json) {
  fs.mkdirSync(resultsDir, { recursive: true });
  const md = path.join(resultsDir, `${name}.md`);
  const js = path.join(resultsDir, `${name}.json`);
  fs.writeFileSync(md, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  fs.writeFileSync(js, `${JSON.stringify(json, null, 2)}\n`);
  return { md, json: js };
}

/** Throws a clear error unless dist/ (from `npm run build`) exists. */
export function requireBuild() {
  for (const f of ['dist/node.js', 'dist/index.js', 'dist/browser.js']) {
    if (!fs.existsSync(path.join(repoRoot, f))) {
      throw new Error(`${f} is missing: run \`npm run build\` before \`npm run bench\``);
    }
  }
}
