/**
 * `bpf-harness vm-test`: kernel -> VM -> guest agent -> counters -> verdict -> report, in three
 * stages: prepare (prepare.ts: kernel, image, backend), run in the guest (in-guest.ts:
 * scenarios, selftests, debug checks) and record (record.ts: the results directory, the
 * summary, abort handling). Whatever happens after the results directory exists (a verdict, a
 * panic, a deadline, Ctrl-C), summary.json, the TAP and JUnit files, the console and kernel
 * logs are written.
 */
import { selectScenarios } from '../scenarios/registry.js';
import { userLists } from '../selftests/lists.js';
import { runInGuest } from './in-guest.js';
import { prepare } from './prepare.js';
import { printRun, RunRecord } from './record.js';
import type { Summary } from '../results/summary.js';
import type { VmTestOptions } from './options.js';
import { checkOverrides } from './scenario-runner.js';
import { checkShellStop } from './shell-stop.js';

export type { SelftestsRequest, VmTestOptions } from './options.js';

/**
 * Progress goes to stderr under --json so stdout stays one JSON document. The prefix names the
 * run when several run at once (run/multi-kernel.ts): a per-run option, not a global, as the
 * runs share this process.
 */
function makeLogger(json: boolean, prefix = ''): (line: string) => void {
  return (line) => (json ? process.stderr : process.stdout).write(`${prefix}${line}\n`);
}

/**
 * A run's end: its summary and results directory, and the error it stopped on, if any (the
 * summary says so too). Errors before the results directory exists (bad input, a kernel that
 * cannot be had) are thrown instead: nothing was recorded.
 */
export interface RunOutcome {
  exitCode: number;
  summary: Summary;
  dir: string;
  error?: unknown;
}

export async function vmTest(opts: VmTestOptions): Promise<RunOutcome> {
  const log = makeLogger(opts.json, opts.logPrefix);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const scenarios = opts.noScenarios ? [] : selectScenarios(opts.scenarios);
  checkOverrides(scenarios, opts.sizes, opts.overrides ?? {});
  // The user's test lists are read now: a missing file is a usage error before anything is built.
  const userTestLists = opts.selftests ? userLists(opts.selftests.lists ?? {}) : [];

  if (opts.shell) checkShellStop(opts.shell, opts.kernel);
  const { backend, selftests, shellGuest } = await prepare(opts, log, timings);
  const rec = new RunRecord(backend, opts, t0, timings);
  let error: unknown;
  try {
    await runInGuest({ backend, scenarios, shellGuest, ...(selftests && opts.selftests ? { selftests: { built: selftests, request: opts.selftests, userLists: userTestLists } } : {}) }, opts, rec, log);
  } catch (err) {
    rec.failed(err);
    if (rec.session) rec.session.kill();
    else backend.discard();
    error = err ?? new Error('the run stopped on an empty error');
  } finally {
    shellGuest?.remove();
    rec.finish(t0);
  }
  return { exitCode: rec.summary.exitCode, summary: rec.summary, dir: rec.run.dir, ...(error !== undefined ? { error } : {}) };
}

/**
 * For a caller that reports a run: its report on stdout unless `quiet`, then the error the run
 * stopped on is thrown (to the failure handler, after the report, as a user reads them), else
 * its exit code.
 */
export function reportRun(out: RunOutcome, opts: Pick<VmTestOptions, 'json' | 'quiet' | 'logPrefix'>): number {
  if (!opts.quiet) printRun(out.summary, out.dir, opts, makeLogger(opts.json, opts.logPrefix));
  if (out.error !== undefined) throw out.error;
  return out.exitCode;
}
