/**
 * `vm-test --kernels A,B,...`: the same scenarios with the same seed on each kernel, one guest at
 * a time (two guests would share the host's cores and make every reclaim time noise), SSH
 * targets (--target) all at once, beside them: their kernels run on their own machines. Each
 * kernel writes its own results directory through vmTest; this adds results/<time>-multi/ with
 * the combined summary.json and comparison.txt, on every exit path, and prints the
 * scenario-by-kernel table. Exit code: the worst of the runs. Under --shell-on-fail the run
 * has one shell, at the first kernel that stops for it (see `one` below).
 */
import { join } from 'node:path';
import { worstExitCode } from '../report/compare.js';
import type { MultiRun, MultiSummary } from '../results/multi-summary.js';
import { MULTI_REPORTERS, stdoutReporter, stdoutText } from '../report/reporters.js';
import { createRunDir, writeMultiReport } from '../report/results-dir.js';
import type { Summary } from '../results/summary.js';
import { selectScenarios } from '../scenarios/registry.js';
import { onAbort } from '../util/children.js';
import { GuestError, HarnessError } from '../util/errors.js';
import { resultsRoot } from '../util/paths.js';
import { repeatCommand } from './repeat.js';
import { checkOverrides } from './scenario-runner.js';
import { reportRun, vmTest, type VmTestOptions } from './vm-test.js';

export interface MultiKernelOptions extends Omit<VmTestOptions, 'kernel' | 'onSummary' | 'quiet'> {
  kernels: string[];
}

/** Writes results/<start time>-multi/{summary.json,comparison.txt,report.html}. Synchronous: it runs from exit paths. */
function writeMulti(m: MultiSummary, started: Date): { dir: string; written: boolean } {
  const run = createRunDir(resultsRoot, 'multi', started);
  m.resultsDir = run.dir;
  return { dir: run.dir, written: writeMultiReport(run.dir, m) };
}

function errorOf(err: unknown): { exitCode: number; message: string } {
  if (err instanceof GuestError) return { exitCode: err.exitCode, message: `${err.message}\n--- console tail ---\n${err.consoleTail}` };
  if (err instanceof HarnessError) return { exitCode: err.exitCode, message: err.message };
  return { exitCode: 1, message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** Runs one kernel; its errors are recorded, never thrown, so the other kernels still run. */
async function runOne(kernel: string, opts: MultiKernelOptions, logPrefix: string, onLive: (s: Summary) => void): Promise<MultiRun> {
  let live: Summary | null = null;
  const vmOpts: VmTestOptions = { ...opts, kernel, quiet: opts.json, logPrefix, onSummary: (s) => { live = s; onLive(s); } };
  try {
    const exitCode = reportRun(await vmTest(vmOpts), vmOpts);
    return { kernel, exitCode, resultsDir: (live as Summary | null)?.resultsDir, summary: live };
  } catch (err) {
    const e = errorOf(err);
    // A target's refusals name it already; a line that does not is named here (runs end interleaved).
    process.stderr.write(`bpf-harness: ${e.message.startsWith(`${kernel}: `) ? '' : `${kernel}: `}${e.message}\n`);
    const s = live as Summary | null;
    return { kernel, exitCode: e.exitCode, ...(s?.resultsDir ? { resultsDir: s.resultsDir } : {}), summary: s, error: e.message.split('\n')[0]! };
  }
}

/** An SSH target: its kernel runs on another machine, so it may run alongside the others. */
export function isRemote(kernel: string): boolean {
  return kernel.startsWith('ssh://');
}

export async function multiKernelTest(opts: MultiKernelOptions): Promise<number> {
  const log = (line: string): void => void (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  // Usage errors once, before any kernel boots.
  checkOverrides(opts.noScenarios ? [] : selectScenarios(opts.scenarios), opts.sizes, opts.overrides ?? {});
  const started = new Date();
  const m: MultiSummary = {
    version: 1, kind: 'multi', tool: 'bpf-storage-harness', startedAt: started.toISOString(), kernels: opts.kernels,
    seed: opts.seed, sizes: opts.sizes, exitCode: 2, runs: [], repeat: repeatCommand(opts.kernels, opts),
  };
  // Runs by their place on the command line: they end in any order, the summary keeps that one.
  const done = new Map<number, MultiRun>();
  const inFlight = new Map<number, Summary>();
  const inOrder = (): MultiRun[] => [...done.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
  // Registered before vmTest's own handlers, so it runs first: it records every kernel in
  // flight as their handlers are about to write them (aborted, 130).
  const unregister = onAbort((reason) => {
    for (const [i, s] of inFlight) done.set(i, { kernel: opts.kernels[i]!, exitCode: 130, resultsDir: s.resultsDir, summary: { ...s, aborted: reason, exitCode: 130 }, error: reason });
    m.runs = inOrder();
    m.aborted = reason;
    m.exitCode = 130;
    writeMulti(m, started);
  });
  // SSH targets run at once (their kernels run elsewhere; this process only waits on them);
  // local kernels one at a time (two guests would share this machine's cores: every reclaim
  // time noise, and a starved guest misses its deadlines). Both go side by side.
  const indexed = opts.kernels.map((kernel, i) => ({ kernel, i }));
  const local = indexed.filter((k) => !isRemote(k.kernel));
  const remote = indexed.filter((k) => isRemote(k.kernel));
  const parallel = remote.length > 1 || (remote.length > 0 && local.length > 0);
  // --shell-on-fail: one shell in the whole run, at the first kernel (in the order given) that
  // fails where a shell can open; the kernels after it run to their end without one (and boot
  // without the shell's sshd), so the table still compares them all.
  let shellAt: string | undefined;
  const one = async ({ kernel, i }: { kernel: string; i: number }): Promise<void> => {
    const prefix = parallel ? `[${kernel}] ` : '';
    log(`${prefix}=== kernel ${kernel} (${i + 1} of ${opts.kernels.length})${opts.shell && shellAt ? `: no shell (the one shell of this run was at ${shellAt})` : ''}`);
    const { shell, ...rest } = opts;
    const run = await runOne(kernel, { ...rest, ...(shell && !shellAt ? { shell } : {}) }, prefix, (s) => inFlight.set(i, s));
    inFlight.delete(i);
    done.set(i, run);
    // A shell that never opened (its login failed and the run ended) is no shell: a later kernel may give one.
    if (run.summary?.shell?.durationMs !== undefined && !shellAt) {
      shellAt = `${kernel}, ${run.summary.shell.scenario}`;
      const left = local.filter((k) => k.i > i).length;
      if (left) log(`--shell-on-fail: the shell was at ${shellAt}; the ${left} kernel${left > 1 ? 's' : ''} after it run${left > 1 ? '' : 's'} without one (for a shell there, run it alone with --shell-on-fail)`);
    }
  };
  const oneAfterAnother = async (): Promise<void> => {
    for (const k of local) await one(k);
  };
  if (parallel) log(`${remote.length} SSH target${remote.length > 1 ? 's' : ''} at once${local.length ? `, beside ${local.length} local kernel${local.length > 1 ? 's' : ''} one at a time` : ''}; progress lines start with the run's kernel`);
  try {
    await Promise.all([oneAfterAnother(), ...remote.map(one)]);
  } finally {
    unregister();
    m.runs = inOrder();
    m.exitCode = worstExitCode(m.runs.map((r) => r.exitCode));
    const { dir, written } = writeMulti(m, started);
    process.stdout.write(stdoutText(MULTI_REPORTERS[stdoutReporter(opts)], m, { color: false }));
    // writeMultiReport warned on stderr, naming each file it could not write.
    log(`combined results: ${dir}${written ? '' : ' (not all files could be written: see the warning above)'}`);
    log(`report: ${join(dir, 'report.html')}`);
    if (m.exitCode !== 0) log(`repeat with: ${m.repeat}`);
  }
  return m.exitCode;
}
