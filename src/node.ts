// Node entry: the same API, plus WebGPU through the optional npm package "webgpu" (Dawn),
// loaded lazily and only when a runtime asks for WebGPU.
//
// Quiet probing: Dawn, the Vulkan loader and Mesa's device-select layer write warnings straight to
// the process's stderr from native code while adapters are enumerated ("vkCreateInstance: Found no
// drivers!", "Vulkan ... required" for drivers Dawn rejects, "XDG_RUNTIME_DIR is invalid"), and no
// flag of Dawn or the loader turns that off (VK_LOADER_DEBUG does not cover the loader's fatal
// errors; Dawn's warnings are unconditional fprintf(stderr)). So createRuntime() asks a short-lived
// subprocess what requestAdapter() finds, keeps whatever it printed in `rt.diagnostics`, and loads
// Dawn into this process only when WebGPU will actually be used. The one message that an
// environment variable does stop (Mesa's device-select layer) is stopped in both processes: see
// quietVulkanEnv in backends/webgpu.ts.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { quietVulkanEnv, setAdapterProber, setGpuProvider, summarizeAdapter, type AdapterProbe } from './backends/webgpu.js';

/** How long the probe subprocess may take before it counts as failed. */
const PROBE_TIMEOUT_MS = 30_000;
const START = '@@pcpress-probe-start';
const RESULT = '@@pcpress-probe-result ';

let gpu: Promise<GPU | undefined> | undefined;
setGpuProvider(() => {
  gpu ??= (async () => {
    const name = 'webgpu';
    const mod = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU };
    return mod.create([]);
  })();
  return gpu;
});

// The probe subprocess: loads the package, asks for an adapter, prints a summary as one JSON line.
// Everything else it prints is native output, returned to the parent as messages.
const PROBE_SCRIPT = `
const [url, pp] = process.argv.slice(1);
process.stdout.write(${JSON.stringify(START)} + '\\n');
let out;
try {
  const { create } = await import(url);
  const a = await create([]).requestAdapter(pp ? { powerPreference: pp } : undefined);
  if (!a) out = { adapter: null };
  else {
    const i = a.info ?? {};
    const limits = {};
    for (const k in a.limits) limits[k] = Number(a.limits[k]);
    out = { adapter: {
      info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description,
        isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter },
      limits, features: [...a.features] } };
  }
} catch (e) {
  out = { error: String(e && e.message || e) };
}
process.stdout.write('\\n' + ${JSON.stringify(RESULT)} + JSON.stringify(out) + '\\n', () => process.exit(0));
`;

/** Splits native output into messages: a line starting at column 0 opens one, indented lines continue it. */
function toMessages(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line.trim() || /^\s+at \S+ \(.*:\d+\)$/.test(line)) continue; // Dawn's C++ source locations
    if (/^\s/.test(line) && out.length) out[out.length - 1] += ` ${line.trim()}`;
    else out.push(line.trim());
  }
  return out;
}

/** Where the "webgpu" package resolves from this module, as a file URL; undefined when not installed. */
function resolveDawn(): string | undefined {
  try {
    const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
    if (typeof meta.resolve === 'function') {
      const url = meta.resolve('webgpu');
      if (url.startsWith('file:')) return url;
    }
  } catch {
    // fall through to require.resolve
  }
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return undefined;
  }
}

/** True where running process.execPath with node's flags would not start a plain Node.js. */
async function cannotSpawnNode(): Promise<string | undefined> {
  const p = process as NodeJS.Process & { permission?: { has(scope: string): boolean } };
  if (p.permission && !p.permission.has('child')) return 'the permission model does not allow child processes';
  if (!process.versions.node || (process.versions as Record<string, string | undefined>).bun) return 'not Node.js';
  try {
    const sea = (await import('node:sea' as string)) as { isSea?: () => boolean };
    if (sea.isSea?.()) return 'a single executable application cannot run a probe script';
  } catch {
    // no node:sea: not a single executable application
  }
  return undefined;
}

/** Runs the probe subprocess; undefined when it cannot be started (then the caller probes in-process). */
async function probeInSubprocess(powerPreference?: GPUPowerPreference): Promise<AdapterProbe | undefined> {
  const url = resolveDawn();
  if (!url || (await cannotSpawnNode())) return undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, ...quietVulkanEnv((k) => process.env[k], process.platform) };
  delete env.NODE_OPTIONS; // nothing preloaded into the probe
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, url, powerPreference ?? ''], {
        env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true,
      });
    } catch {
      resolve(undefined);
      return;
    }
    let stdout = '', stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, PROBE_TIMEOUT_MS);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split(/\r?\n/);
      const started = lines.includes(START);
      const resultLine = lines.find((l) => l.startsWith(RESULT));
      const native = lines.filter((l) => l !== START && !l.startsWith(RESULT)).join('\n') + '\n' + stderr;
      const messages = toMessages(native);
      if (!started) {
        resolve(undefined); // the script never ran: not a usable Node.js
        return;
      }
      if (!resultLine) {
        const how = timedOut ? `it did not answer within ${PROBE_TIMEOUT_MS / 1000} s`
          : signal ? `the probe process was killed by ${signal}` : `the probe process exited with code ${code}`;
        resolve({ adapter: null, messages, failure: how });
        return;
      }
      let r: { adapter?: { info: Record<string, unknown>; limits: Record<string, number>; features: string[] } | null; error?: string };
      try {
        r = JSON.parse(resultLine.slice(RESULT.length));
      } catch {
        resolve(undefined);
        return;
      }
      if (r.error !== undefined) {
        // Loading the package or requestAdapter() threw: let the in-process path report it exactly.
        resolve(undefined);
        return;
      }
      const a = r.adapter;
      const summary = a ? summarizeAdapter({
        info: a.info, isFallbackAdapter: a.info.isFallbackAdapter, limits: a.limits, features: new Set(a.features),
      } as unknown as GPUAdapter) : null;
      resolve({ adapter: summary, messages });
    });
  });
}

// One probe per process and power preference: like the in-process Dawn instance, it reflects the
// environment of the first call.
const probes = new Map<string, Promise<AdapterProbe | undefined>>();
setAdapterProber((pp) => {
  const key = pp ?? '';
  let p = probes.get(key);
  if (!p) {
    p = probeInSubprocess(pp);
    probes.set(key, p);
  }
  return p;
});

export * from './index.js';
