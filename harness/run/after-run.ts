/**
 * The kernel log after the last scenario: deferred teardown (RCU callbacks, the map-free
 * workqueue) runs after the last scenario's own log read, and a panic can come after the last
 * agent call. vm-test reads the log once more before power-off, scans the console after
 * power-off, and hands what it finds to the last thing that ran.
 *
 * Also the kernel-log self-tests (`--inject-fault kernel-warn|kmsg-flood|panic-after-run`),
 * which make each of these happen for real in the guest.
 */
import type { AfterRunLog, ScenarioResult, ShellSession, Summary } from '../results/summary.js';
import type { GuestOps } from '../agent/guest-ops.js';
import { sleep } from '../util/deadline.js';
import { SetupError } from '../util/errors.js';
import { TESTMOD_GUEST_PATH } from '../vm/testmod.js';
import { lostMessage, parseKmsgRecord, scanKernelLog, type KernelLogFinding } from '../verdict/kernel-log.js';
import { markUnjudged } from './scenario-runner.js';

/** Self-tests of the kernel-log verdict: each must end the run in exit 1. */
export const KERNEL_LOG_FAULTS = ['kernel-warn', 'kmsg-flood', 'panic-after-run'] as const;
export type KernelLogFault = (typeof KERNEL_LOG_FAULTS)[number];

export function isKernelLogFault(fault: string | undefined): fault is KernelLogFault {
  return (KERNEL_LOG_FAULTS as readonly string[]).includes(fault ?? '');
}

/** At least this long after the last scenario: many RCU grace periods even under TCG. */
export const AFTER_RUN_MIN_WAIT_MS = 2000;
const POLL_MS = 500;

function quote(findings: readonly KernelLogFinding[]): string[] {
  return findings.flatMap((f) => [f.line, ...f.context.slice(0, 12)]);
}

/**
 * Lets deferred work run, then reads the log until a read brings no kernel record (the kernel
 * has gone quiet) or `deadlineMs` passes. Records go to `onRecords` (the run's kernel.log).
 */
export async function readKernelLogAfterRun(ops: Pick<GuestOps, 'kmsg'>, o: { minWaitMs: number; deadlineMs: number; onRecords: (r: string[]) => void }): Promise<AfterRunLog> {
  const t0 = Date.now();
  const lines: string[] = [];
  let lost = 0;
  let quiet = false;
  await sleep(o.minWaitMs);
  try {
    for (;;) {
      const read = await ops.kmsg();
      o.onRecords(read.lines);
      lines.push(...read.lines);
      lost += read.lost;
      const kernelRecords = read.lines.filter((l) => parseKmsgRecord(l)?.facility === 0).length;
      if (kernelRecords === 0) {
        quiet = true;
        break;
      }
      if (Date.now() - t0 >= o.deadlineMs) break;
      await sleep(POLL_MS);
    }
  } catch (err) {
    return { waitedMs: Date.now() - t0, quiet, lost, kernelLog: quote(scanKernelLog(lines)), consoleAfterShutdown: [], readError: err instanceof Error ? err.message : String(err) };
  }
  return { waitedMs: Date.now() - t0, quiet, lost, kernelLog: quote(scanKernelLog(lines)), consoleAfterShutdown: [] };
}

/** Kernel reports among console lines (ConsoleMonitor.linesAfter of the last read's time). */
export function consoleReports(lines: readonly string[]): string[] {
  return quote(scanKernelLog(lines));
}

/**
 * Why the log after the run cannot pass, or null. `afterShell`: the run stopped for a shell,
 * so the read came after the user left, not after a scenario's deferred teardown.
 */
export function afterRunProblem(a: AfterRunLog, afterShell = false): string | null {
  const parts: string[] = [];
  const after = afterShell ? 'after the shell opened' : 'after the last scenario';
  if (a.kernelLog.length) parts.push(afterShell ? `the kernel reported after the shell opened (read when the user left): ${a.kernelLog[0]}` : `the kernel reported after the last scenario (deferred teardown, read ${a.waitedMs} ms after it ended): ${a.kernelLog[0]}`);
  if (a.consoleAfterShutdown.length) parts.push(`the console shows a kernel report after the last log read (power-off): ${a.consoleAfterShutdown[0]}`);
  if (a.readError) parts.push(`the kernel log could not be read ${after}: ${a.readError}`);
  if (a.lost > 0) parts.push(lostMessage(a.lost, afterShell ? 'the shell' : 'the wait after the last scenario'));
  return parts.length ? parts.join('; ') : null;
}

/**
 * Adds what the log after the run shows to the last result that ran before it (by time: the
 * log cannot say which scenario's teardown a report came from, and the last one's is the only
 * teardown no scenario read): a report fails it, an unreadable or lossy log makes it an error.
 * Returns false when the run cannot pass because of it.
 */
export function attributeAfterRun(summary: Summary, a: AfterRunLog): boolean {
  summary.afterRun = a;
  if (summary.shell) return recordAfterShell(summary.shell, a);
  const problem = afterRunProblem(a);
  if (!problem) return true;
  const last: ScenarioResult | undefined = summary.scenarios[summary.scenarios.length - 1];
  if (!last) return false;
  a.attributedTo = last.name;
  const reports = [...a.kernelLog, ...a.consoleAfterShutdown];
  if (reports.length) {
    last.kernelLog = [...(last.kernelLog ?? []), ...reports];
    last.checks.push({ name: 'kernel-log', ok: false, message: `after the run: ${problem}` });
    const passed = last.verdict === 'pass';
    if (last.verdict !== 'error') last.verdict = 'fail';
    last.reason = passed || !last.reason ? `after the run: ${problem}` : `${last.reason}; after the run: ${problem}`;
    if (last.verdict === 'fail') last.caughtBy = [...new Set([...(last.caughtBy ?? []), 'kernel log' as const])];
  } else {
    markUnjudged(last, a.readError ? 'kernel-log-read' : 'kernel-log-lost', `after the run: ${problem}`);
  }
  return false;
}

/**
 * After a shell the log read covers what the user did in the guest as well as the scenario's
 * leftovers, and nothing tells the two apart: it goes into the shell's own record, never into
 * the scenario, whose verdict stays the one the user saw in the banner. A report, or a log that
 * cannot be read whole, still makes the run fail (returns false): a splat is never dropped.
 */
export function recordAfterShell(shell: ShellSession, a: AfterRunLog): boolean {
  const problem = afterRunProblem(a, true);
  const reports = [...a.kernelLog, ...a.consoleAfterShutdown];
  const verdict = reports.length ? 'reported' : problem ? 'unjudged' : 'clean';
  shell.kernelLog = { verdict, reports, ...(problem ? { problem } : {}) };
  return verdict === 'clean';
}

/** kernel-warn: bpfh_warn armed on the map-free path of the code under test (bpf/testmod/). */
export async function armKernelWarn(ops: GuestOps): Promise<void> {
  const out = '/tmp/bpfh-insmod.out';
  const r = await ops.exec('/bin/busybox', ['insmod', TESTMOD_GUEST_PATH, 'report=kprobe-warn'], { out, timeoutMs: 60_000 });
  if (r.status !== 0) throw new SetupError(`--inject-fault kernel-warn: insmod ${TESTMOD_GUEST_PATH} failed (status ${r.status}): ${(await ops.read(out)).trim()}`);
}

/**
 * kmsg-flood: user space writes more to /dev/kmsg than the ring buffer holds (Debian's
 * CONFIG_LOG_BUF_SHIFT=17: 128 KiB), so records are overwritten before the agent reads them.
 * One open per record: /dev/kmsg rate-limits each open file to 10 records per 5 s.
 */
export async function floodKmsg(ops: GuestOps, records = 600): Promise<void> {
  const line = 'bpfh-kmsg-flood '.padEnd(900, 'x');
  const script = `i=0; while [ $i -lt ${records} ]; do echo "$i ${line}" > /dev/kmsg; i=$((i+1)); done`;
  const out = '/tmp/bpfh-flood.out';
  const r = await ops.exec('/bin/busybox', ['sh', '-c', script], { out, timeoutMs: 120_000 });
  if (r.status !== 0) throw new SetupError(`--inject-fault kmsg-flood: the flood failed (status ${r.status}): ${(await ops.read(out)).trim()}`);
}
