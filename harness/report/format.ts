/** Small helpers shared by the report writers. They accept partial data: reports are written from exit paths. */
import type { CounterSnapshot, GuestRestart, ScenarioResult, ShellSession, Summary } from '../results/summary.js';

/** The scenarios of a Summary that may be partial or malformed. */
export function scenariosOf(s: Partial<Summary> | null | undefined): Array<Partial<ScenarioResult>> {
  const list = s && Array.isArray(s.scenarios) ? s.scenarios : [];
  return list.filter((x): x is ScenarioResult => typeof x === 'object' && x !== null);
}

export function checksOf(r: Partial<ScenarioResult>): Array<{ name: string; ok: boolean; message: string }> {
  const list = Array.isArray(r.checks) ? r.checks : [];
  return list
    .filter((c) => typeof c === 'object' && c !== null)
    .map((c) => ({ name: String(c.name ?? '?'), ok: c.ok === true, message: String(c.message ?? '') }));
}

export type ShownVerdict = 'pass' | 'fail' | 'error' | 'skip';

/** The verdict to show: an unknown or missing one is an error. */
export function verdictOf(r: Partial<ScenarioResult>): ShownVerdict {
  return r.verdict === 'pass' || r.verdict === 'fail' || r.verdict === 'skip' ? r.verdict : 'error';
}

/** Whether a result lets the run pass: a pass, or a selftest its runner skipped. */
export function isAcceptable(r: Partial<ScenarioResult>): boolean {
  const v = verdictOf(r);
  return v === 'pass' || v === 'skip';
}

/** Bytes as a signed, short human figure: "+12.0 KiB", "-512 B", "0". */
export function signedBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  if (n === 0) return '0';
  const sign = n > 0 ? '+' : '-';
  const a = Math.abs(n);
  if (a < 1024) return `${sign}${a} B`;
  if (a < 1024 * 1024) return `${sign}${(a / 1024).toFixed(1)} KiB`;
  return `${sign}${(a / (1024 * 1024)).toFixed(1)} MiB`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n < 10_000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

export interface CounterDelta {
  name: string;
  delta: number;
}

/** after - before for the counters both snapshots hold (memcg current/kernel/slab/percpu/sock, optmem). */
export function counterDeltas(before: CounterSnapshot | null | undefined, after: CounterSnapshot | null | undefined): CounterDelta[] {
  if (!before || !after) return [];
  const out: CounterDelta[] = [];
  const add = (name: string, b: unknown, a: unknown): void => {
    if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)) out.push({ name, delta: a - b });
  };
  add('memcg', before.memcgCurrent, after.memcgCurrent);
  add('kernel', before.memcgStat?.kernel, after.memcgStat?.kernel);
  add('slab', before.memcgStat?.slab_unreclaimable, after.memcgStat?.slab_unreclaimable);
  add('percpu', before.memcgStat?.percpu, after.memcgStat?.percpu);
  add('sock', before.memcgStat?.sock, after.memcgStat?.sock);
  add('optmem', before.optmemTotal, after.optmemTotal);
  return out;
}

/** Never throws: String() of anything, objects as JSON where possible. */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

/** The name the TAP and JUnit reports give the kernel log after a shell, a test of its own. */
export const SHELL_KERNEL_LOG_TEST = 'kernel log during and after the shell';

/** One line on the kernel log after a shell, for the progress output and the table. */
export function shellKernelLogLine(shell: ShellSession): string {
  const k = shell.kernelLog;
  if (!k) return 'kernel log after the shell: not read (the run ended first)';
  if (k.verdict === 'clean') return 'kernel log during and after the shell: nothing reported';
  const what = k.verdict === 'reported' ? `the kernel reported: ${str(k.reports[0])}` : `not judged: ${str(k.problem)}`;
  return `kernel log during and after the shell (not counted against ${str(shell.scenario)}, whose verdict is the one it had when the shell opened; the run fails): ${what}`;
}

/** A guest booted again mid-run (run/guest-restart.ts): where, of what, and where its console is; the table, the combined table and results.tap. */
export function restartLine(r: GuestRestart): string {
  return `guest booted again: it died in ${str(r.scenario)} of ${str(r.crash)}, ${str(r.cause)}; ${str(r.scenario)} ran again in the new boot (the dead guest's console: ${str(r.console)})`;
}
