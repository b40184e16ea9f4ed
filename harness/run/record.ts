/**
 * vm-test's last stage, record: the results directory and the summary exist from the moment the
 * backend is prepared, and whatever happens after that (a verdict, a panic, a deadline, Ctrl-C)
 * summary.json, the TAP and JUnit files, the console and kernel logs are written.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PreparedGuest } from '../backend/backend.js';
import { createRunDir, writeRunReport, type RunDir } from '../report/results-dir.js';
import type { Summary } from '../results/summary.js';
import { RUN_REPORTERS, stdoutReporter, stdoutText } from '../report/reporters.js';
import { onAbort } from '../util/children.js';
import { GuestError, HarnessError } from '../util/errors.js';
import { resultsRoot } from '../util/paths.js';
import { parseKmsgRecord } from '../verdict/kernel-log.js';
import type { GuestSession } from '../vm/session.js';
import { repeatCommand } from './repeat.js';
import type { VmTestOptions } from './options.js';

function formatKmsg(records: readonly string[]): string {
  return records
    .map((r) => {
      const rec = parseKmsgRecord(r);
      return rec ? `[${(rec.usec / 1e6).toFixed(6).padStart(12)}] ${rec.message}` : r;
    })
    .join('\n');
}

/** One run's results directory and summary, written on every way out. */
export class RunRecord {
  readonly run: RunDir;
  readonly summary: Summary;
  /** The guest's kernel log, as read over the run. */
  readonly kernelLog: string[] = [];
  /** Set once booted: its console goes to console.log. */
  session: GuestSession | null = null;
  private readonly agentLog: string;
  private readonly unregister: () => void;

  constructor(backend: PreparedGuest, opts: VmTestOptions, startedAt: number, timings: Record<string, number>) {
    this.run = createRunDir(opts.resultsRoot ?? resultsRoot, backend.tag);
    this.summary = {
      version: 1,
      tool: 'bpf-storage-harness',
      startedAt: new Date(startedAt).toISOString(),
      kernel: { ...backend.kernel },
      accel: backend.accel,
      backend: backend.backend,
      channel: backend.channel,
      ...(backend.target ? { target: backend.target } : {}),
      exitCode: 2,
      scenarios: [],
      timings,
      repeat: repeatCommand([opts.kernel], opts),
      resultsDir: this.run.dir,
    };
    opts.onSummary?.(this.summary);
    this.agentLog = join(this.run.dir, 'agent.jsonl');
    this.unregister = onAbort((reason) => {
      this.summary.aborted = reason;
      this.summary.exitCode = 130;
      this.saveLogs();
      writeRunReport(this.run, this.summary);
    });
  }

  /** Every raw line on the agent channel, both directions. */
  readonly recordAgent = (line: string): void => appendFileSync(this.agentLog, line + '\n');

  /** A guest that did not boot leaves its console tail. */
  bootFailed(err: unknown): void {
    if (err instanceof GuestError) writeFileSync(join(this.run.dir, 'console.log'), err.consoleTail);
  }

  /** A guest the run boots again after (guest-restart.ts): its console, as console-boot<N>.log; the file's name. */
  keepConsole(session: GuestSession, boot: number): string {
    const file = `console-boot${boot}.log`;
    writeFileSync(join(this.run.dir, file), session.console.all);
    return file;
  }

  /** The run stopped on an error: the summary says why, with the error's exit code. */
  failed(err: unknown): void {
    this.summary.aborted = err instanceof Error ? err.message : String(err);
    this.summary.exitCode = err instanceof HarnessError ? err.exitCode : 1;
  }

  private saveLogs(): void {
    if (this.session) writeFileSync(join(this.run.dir, 'console.log'), this.session.console.all);
    writeFileSync(join(this.run.dir, 'kernel.log'), formatKmsg(this.kernelLog) + '\n');
  }

  /** The end of the run, however it ended: the files. What goes to stdout is the caller's (printRun). */
  finish(startedAt: number): void {
    this.unregister();
    this.summary.timings.totalMs = Date.now() - startedAt;
    this.saveLogs();
    writeRunReport(this.run, this.summary);
  }
}

/** A run's report on stdout: the reporter --json chooses, then where its files are and how to repeat it. */
export function printRun(summary: Summary, dir: string, opts: Pick<VmTestOptions, 'json'>, log: (line: string) => void): void {
  process.stdout.write(stdoutText(RUN_REPORTERS[stdoutReporter(opts)], summary, { color: process.stdout.isTTY === true }));
  log(`results: ${dir}`);
  log(`report: ${join(dir, 'report.html')}`);
  if (summary.exitCode !== 0) log(`repeat with: ${summary.repeat}`);
}
