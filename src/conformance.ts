/**
 * The conformance suite: the same cases, in whatever runtime imports this module, on each backend.
 * The package is passed in (`runConformance(await import('pcpress'))`), so the cases exercise exactly
 * the build the caller uses.
 */
import { cases, Rng, type Case, type Pkg } from '../test/cases/index.js';

export { cases, matmulRef, relErr, Rng, CaseSkipped } from '../test/cases/index.js';
export type { Case, CaseContext, Pkg } from '../test/cases/index.js';

/** One case's outcome on one backend. */
export interface CaseResult {
  engine: string;
  backend: 'wasm' | 'webgpu';
  op: string;
  name: string;
  /** 'skipped': the case cannot run in this runtime (it threw CaseSkipped; `error` says why). */
  status: 'pass' | 'fail' | 'unavailable' | 'skipped';
  ms: number;
  seed: number;
  error?: string;
}

/** Options of runConformance. */
export interface ConformanceOptions {
  /** Backends to run (default both). */
  backends?: ('wasm' | 'webgpu')[];
  /** Only cases whose "op name" contains this text. */
  filter?: string;
  /** Seed for the inputs; default: fresh per run. */
  seed?: number;
  /** Called after each case. */
  onResult?: (r: CaseResult) => void;
}

/** A finished run: every result plus the adapter/reason of each backend. */
export interface ConformanceReport {
  engine: string;
  results: CaseResult[];
  backends: Record<string, { reason: string; info?: unknown }>;
}

/** Selects cases by filter text. */
export function selectCases(filter?: string): Case[] {
  return filter ? cases.filter((c) => `${c.op} ${c.name}`.includes(filter)) : cases;
}

/** Runs the cases on each backend and returns every result; never throws for a failing case. */
export async function runConformance(pc: Pkg, options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const engine = pc.detectEngine();
  const list = selectCases(options.filter);
  const baseSeed = options.seed ?? ((Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0);
  const report: ConformanceReport = { engine, results: [], backends: {} };
  for (const backend of options.backends ?? ['wasm', 'webgpu']) {
    let rt: InstanceType<Pkg['Runtime']> | undefined;
    let why = '';
    try {
      rt = await pc.createRuntime({ backend, poisonOutputs: true });
      report.backends[backend] = { reason: rt.reason, info: rt.info };
    } catch (e) {
      why = `${(e as Error)?.name}: ${(e as Error)?.message}`;
      report.backends[backend] = { reason: why };
    }
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      const seed = (baseSeed + i * 7919) >>> 0;
      const r: CaseResult = { engine, backend, op: c.op, name: c.name, status: 'pass', ms: 0, seed };
      if (!rt) {
        r.status = 'unavailable';
        r.error = why;
      } else {
        const t0 = performance.now();
        try {
          await c.run({ pc, rt, rng: new Rng(seed) });
        } catch (e) {
          const skipped = (e as Error)?.name === 'CaseSkipped';
          r.status = skipped ? 'skipped' : 'fail';
          r.error = skipped ? (e as Error).message : `${(e as Error)?.name}: ${(e as Error)?.message} (seed ${seed})`;
        }
        r.ms = Math.round(performance.now() - t0);
      }
      report.results.push(r);
      options.onResult?.(r);
    }
    rt?.destroy();
  }
  return report;
}

/** Counts of a report. */
export function summarize(report: ConformanceReport | CaseResult[]): { passed: number; failed: number; unavailable: number; skipped: number } {
  const rs = Array.isArray(report) ? report : report.results;
  return {
    passed: rs.filter((r) => r.status === 'pass').length,
    failed: rs.filter((r) => r.status === 'fail').length,
    unavailable: rs.filter((r) => r.status === 'unavailable').length,
    skipped: rs.filter((r) => r.status === 'skipped').length,
  };
}

/** A runtime x backend x op table, one row per (runtime, backend, op), then failures in full. */
export function formatTable(results: CaseResult[]): string {
  const rows = new Map<string, { engine: string; backend: string; op: string; pass: number; fail: number; na: number; skip: number; ms: number }>();
  for (const r of results) {
    const key = `${r.engine}|${r.backend}|${r.op}`;
    const row = rows.get(key) ?? { engine: r.engine, backend: r.backend, op: r.op, pass: 0, fail: 0, na: 0, skip: 0, ms: 0 };
    if (r.status === 'pass') row.pass++;
    else if (r.status === 'fail') row.fail++;
    else if (r.status === 'skipped') row.skip++;
    else row.na++;
    row.ms += r.ms;
    rows.set(key, row);
  }
  const head = ['runtime', 'backend', 'op', 'result', 'cases', 'ms'];
  const body = [...rows.values()].map((r) => [
    r.engine.length > 28 ? r.engine.slice(0, 28) : r.engine, r.backend, r.op,
    r.fail ? 'FAIL' : r.na ? 'n/a' : 'ok',
    r.na ? `${r.na} unavailable` : `${r.pass}/${r.pass + r.fail}${r.skip ? ` (${r.skip} skipped)` : ''}`, String(r.ms),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  const bad = results.filter((r) => r.status === 'fail');
  if (bad.length) {
    out.push('', 'Failures:');
    for (const r of bad) out.push(`  [${r.engine} ${r.backend}] ${r.op} ${r.name}: ${r.error}`);
  }
  const skipped = results.filter((r) => r.status === 'skipped');
  if (skipped.length) {
    out.push('', 'Skipped:');
    for (const r of skipped) out.push(`  [${r.engine} ${r.backend}] ${r.op} ${r.name}: ${r.error}`);
  }
  const na = results.find((r) => r.status === 'unavailable');
  if (na) out.push('', `Unavailable: ${[...new Set(results.filter((r) => r.status === 'unavailable').map((r) => `${r.backend}: ${r.error}`))].join('; ')}`);
  return out.join('\n');
}
