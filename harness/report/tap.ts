/**
 * TAP version 14: one test point per scenario. fail and error are "not ok" with a YAML
 * diagnostic block (reason, failed checks, settleMs, kernel log lines, the repeat command).
 * An aborted run ends with "Bail out!" so no consumer mistakes it for a complete one.
 */
import type { Summary } from '../results/summary.js';
import { checksOf, restartLine, scenariosOf, SHELL_KERNEL_LOG_TEST, str, verdictOf } from './format.js';

/** A description may not contain "#" (directive) or a newline. */
function description(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/\\/g, '\\\\').replace(/#/g, '\\#');
}

/** A YAML double-quoted scalar: JSON's string syntax is a subset of it. */
function q(s: string): string {
  return JSON.stringify(s);
}

/** The test point of the kernel log after a shell (`shell.kernelLog`), when it was read; how many points it added. */
function shellPoint(s: Summary, n: number, out: string[]): number {
  const k = s?.shell?.kernelLog;
  if (!k) return 0;
  const name = `${SHELL_KERNEL_LOG_TEST} (after ${description(str(s.shell?.scenario))})`;
  if (k.verdict === 'clean') {
    out.push(`ok ${n} - ${name}`);
    return 1;
  }
  out.push(`not ok ${n} - ${name}`, '  ---', `  verdict: ${k.verdict === 'reported' ? 'fail' : 'error'}`);
  if (k.verdict === 'unjudged') out.push('  severity: error');
  out.push(`  reason: ${q(str(k.problem))}`, `  not_counted_against: ${q(str(s.shell?.scenario))}`);
  if (Array.isArray(k.reports) && k.reports.length) out.push('  kernel_log:', ...k.reports.map((l) => `    - ${q(str(l))}`));
  if (s?.repeat) out.push(`  repeat: ${q(str(s.repeat))}`);
  out.push('  ...');
  return 1;
}

export function summaryToTap(s: Summary): string {
  const out: string[] = ['TAP version 14'];
  const kernel = s?.kernel ? `${str(s.kernel.release) || '?'} (${str(s.kernel.spec) || '?'})` : '?';
  out.push(`# ${str(s?.tool) || 'bpf-storage-harness'}: kernel ${kernel}, ${str(s?.accel) || '?'}, channel ${str(s?.channel) || '?'}`);
  // A restart changes no verdict (run/guest-restart.ts), but a reader of results.tap alone should know of it.
  for (const r of Array.isArray(s?.guestRestarts) ? s.guestRestarts : []) out.push(`# ${restartLine(r).replace(/[\r\n]+/g, ' ')}`);
  const scenarios = scenariosOf(s);
  scenarios.forEach((r, i) => {
    const v = verdictOf(r);
    const name = description(str(r.name) || `scenario ${i + 1}`);
    if (v === 'pass') {
      out.push(`ok ${i + 1} - ${name}`);
      return;
    }
    if (v === 'skip') {
      out.push(`ok ${i + 1} - ${name} # SKIP ${description(str(r.reason))}`);
      return;
    }
    out.push(`not ok ${i + 1} - ${name}`);
    const y: string[] = ['  ---'];
    y.push(`  verdict: ${v}`);
    if (v === 'error') y.push('  severity: error');
    y.push(`  reason: ${q(str(r.reason))}`);
    const failed = checksOf(r).filter((c) => !c.ok);
    if (failed.length) {
      y.push('  failed_checks:');
      for (const c of failed) y.push(`    - name: ${q(c.name)}`, `      message: ${q(c.message)}`);
    }
    y.push(`  settleMs: ${typeof r.settleMs === 'number' && Number.isFinite(r.settleMs) ? r.settleMs : 'null'}`);
    if (typeof r.durationMs === 'number' && Number.isFinite(r.durationMs)) y.push(`  durationMs: ${r.durationMs}`);
    if (typeof r.seed === 'number' && Number.isFinite(r.seed)) y.push(`  seed: ${r.seed}`);
    if (Array.isArray(r.kernelLog) && r.kernelLog.length) {
      y.push('  kernel_log:');
      for (const l of r.kernelLog) y.push(`    - ${q(str(l))}`);
    }
    if (s?.repeat) y.push(`  repeat: ${q(str(s.repeat))}`);
    y.push('  ...');
    out.push(...y);
  });
  // After a shell, the kernel log read when the user left is a test point of its own (not the scenario's).
  const points = scenarios.length + shellPoint(s, scenarios.length + 1, out);
  if (s?.aborted) {
    out.push(`Bail out! ${str(s.aborted).replace(/[\r\n]+/g, ' ')}`);
  } else {
    out.push(`1..${points}`);
  }
  return out.join('\n') + '\n';
}
