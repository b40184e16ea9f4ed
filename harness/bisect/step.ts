/**
 * One `git bisect run` step: the commit checked out in the bisect worktree is built, booted and
 * tested, and the outcome becomes the exit code git bisect run reads:
 *   0 good, 1 bad, 125 skip (does not build, does not boot, lacks what the harness needs),
 *   128 abort the bisect (the harness itself failed: nothing to say about the commit).
 * A failing verdict is re-run `retries` times before it counts; a commit that fails and then
 * passes is flaky: it counts as good and is reported as flaky.
 *
 * The step is the harness itself (`bpf-harness bisect-step --state FILE`, hidden); what it does
 * per commit is a StepRunner, so tests inject one that needs no kernel.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gitOut } from '../util/git.js';
import type { SizeLevel } from '../scenarios/types.js';
import type { BuildHostChoice } from '../build-host/build-host.js';
import type { BuiltKernel } from '../kernel-build/kernel-build.js';
import type { AccelRequest } from '../vm/accel.js';

export const EXIT_GOOD = 0;
export const EXIT_BAD = 1;
export const EXIT_SKIP = 125;
/** git bisect run stops on any exit code above 127. */
export const EXIT_ABORT = 128;

/** How every step runs: chosen once by the user, the same for each commit. */
export interface BisectRunSettings {
  scenarios: string[];
  /**
   * BPF selftests (test_progs -t NAME) run at each step too; the kernel is then built with the
   * selftests' config and test_progs with it. Absent in bisects recorded before they existed.
   */
  selftests?: string[];
  sizes: SizeLevel;
  retries: number;
  seed: number;
  debug: boolean;
  accel: AccelRequest;
  bootDeadlineS: number;
  settleDeadlineS: number;
  /** Minutes one step's make may run. */
  buildDeadlineMin: number;
  /** --build-host: every step's make runs there (only what the step changed is sent). */
  buildHost?: BuildHostChoice;
}

/** What the bisect driver writes once (bisect.json) and every step reads. */
export interface BisectState extends BisectRunSettings {
  version: 1;
  tree: string;
  worktree: string;
  /** The one O= directory every step builds in (incremental). */
  outDir: string;
  /** results/bisect-<time>/ */
  dir: string;
  good: string;
  bad: string;
  /** Commits in good..bad, and about how many steps that takes (ceil(log2(N+1))). */
  candidates: number;
  expectedSteps: number;
  startedAt: string;
}

/** One run of the scenarios on one build. */
export interface AttemptResult {
  /** pass / fail: a verdict; no-boot: the guest never answered; untestable: the kernel lacks what the harness needs; error: the harness failed. */
  outcome: 'pass' | 'fail' | 'no-boot' | 'untestable' | 'error';
  reason: string;
  resultsDir?: string;
  /** Scenarios that did not pass. */
  failed?: string[];
  ms?: number;
}

/** `hostFailed`: the build host, not the commit, failed (a lost connection): the bisect aborts. */
export type BuildResult = { ok: true; bzImage: string; ms: number; reused: boolean; kernel?: BuiltKernel } | { ok: false; reason: string; ms: number; hostFailed?: boolean };

export interface StepRunner {
  build(state: BisectState, log: (line: string) => void): Promise<BuildResult>;
  /** attempt 0 is the first run; resultsRoot is where the run's directory goes. */
  test(state: BisectState, bzImage: string, attempt: number, resultsRoot: string, log: (line: string) => void, kernel?: BuiltKernel): Promise<AttemptResult>;
}

export type StepVerdict = 'good' | 'bad' | 'skip' | 'abort';

export interface StepRecord {
  step: number;
  commit: string;
  subject: string;
  verdict: StepVerdict;
  exitCode: number;
  reason: string;
  flaky: boolean;
  build: { ok: boolean; ms: number; reused?: boolean; reason?: string };
  attempts: AttemptResult[];
  elapsedMs: number;
}

/**
 * The verdict of a step from its build and its attempts (pure: the exit-code mapping).
 * Attempts after a failing first one are the re-runs.
 */
export function decideStep(build: BuildResult, attempts: readonly AttemptResult[]): { verdict: StepVerdict; exitCode: number; flaky: boolean; reason: string } {
  if (!build.ok && build.hostFailed) return { verdict: 'abort', exitCode: EXIT_ABORT, flaky: false, reason: `the build host failed: ${build.reason}` };
  if (!build.ok) return { verdict: 'skip', exitCode: EXIT_SKIP, flaky: false, reason: `does not build: ${build.reason}` };
  const first = attempts[0];
  if (!first) return { verdict: 'abort', exitCode: EXIT_ABORT, flaky: false, reason: 'no test ran' };
  switch (first.outcome) {
    case 'pass':
      return { verdict: 'good', exitCode: EXIT_GOOD, flaky: false, reason: first.reason };
    case 'no-boot':
      return { verdict: 'skip', exitCode: EXIT_SKIP, flaky: false, reason: `does not boot: ${first.reason}` };
    case 'untestable':
      return { verdict: 'skip', exitCode: EXIT_SKIP, flaky: false, reason: `cannot be tested: ${first.reason}` };
    case 'error':
      return { verdict: 'abort', exitCode: EXIT_ABORT, flaky: false, reason: `the harness failed: ${first.reason}` };
    case 'fail': {
      const reruns = attempts.slice(1);
      const abort = reruns.find((a) => a.outcome === 'error');
      if (abort) return { verdict: 'abort', exitCode: EXIT_ABORT, flaky: false, reason: `the harness failed on a re-run: ${abort.reason}` };
      const passed = reruns.filter((a) => a.outcome === 'pass').length;
      if (passed > 0) {
        return { verdict: 'good', exitCode: EXIT_GOOD, flaky: true, reason: `flaky: failed (${first.reason}), then passed ${passed} of ${reruns.length} re-run${reruns.length === 1 ? '' : 's'}` };
      }
      return { verdict: 'bad', exitCode: EXIT_BAD, flaky: false, reason: reruns.length ? `${first.reason} (and on ${reruns.length} re-run${reruns.length === 1 ? '' : 's'})` : first.reason };
    }
  }
}

export function readState(file: string): BisectState {
  const s = JSON.parse(readFileSync(file, 'utf8')) as BisectState;
  if (s.version !== 1) throw new Error(`${file}: bisect state version ${String(s.version)}, expected 1`);
  return s;
}

export function stepsDir(state: BisectState): string {
  return join(state.dir, 'steps');
}

/** Every step record written so far, in step order. */
export function readStepRecords(dir: string): StepRecord[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(dir, 'steps')).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names
    .map((n) => JSON.parse(readFileSync(join(dir, 'steps', n), 'utf8')) as StepRecord)
    .sort((a, b) => a.step - b.step);
}

export function fmtMs(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * The whole step, run in the worktree (cwd) with the commit under test checked out. Writes the
 * step's record (steps/NN-<commit>.json), prints progress lines, returns the exit code.
 */
export async function runStep(stateFile: string, runner: StepRunner, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const t0 = Date.now();
  const state = readState(stateFile);
  const commit = await gitOut(state.worktree, ['rev-parse', 'HEAD'], { timeoutMs: 60_000 });
  const subject = await gitOut(state.worktree, ['log', '-1', '--format=%s', commit], { timeoutMs: 60_000 });
  const k = readStepRecords(state.dir).length + 1;
  const tag = `bisect: step ${k} of ~${state.expectedSteps}: ${commit.slice(0, 12)}`;
  out(`${tag} "${subject}": building`);
  const stepDir = join(stepsDir(state), `${String(k).padStart(2, '0')}-${commit.slice(0, 12)}`);
  mkdirSync(stepDir, { recursive: true });
  const log = (line: string): void => out(`  ${line}`);

  const attempts: AttemptResult[] = [];
  let build: BuildResult;
  try {
    build = await runner.build(state, log);
  } catch (err) {
    build = { ok: false, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err), ms: Date.now() - t0 };
  }
  if (build.ok) {
    out(`${tag}: built in ${fmtMs(build.ms)}${build.reused ? ' (unchanged)' : ''}; testing ${checksOf(state)}`);
    const first = await safeTest(runner, state, build.bzImage, 0, stepDir, log, build.kernel);
    attempts.push(first);
    for (let i = 1; first.outcome === 'fail' && i <= state.retries; i++) {
      out(`${tag}: failed (${first.reason}); re-run ${i} of ${state.retries}`);
      const again = await safeTest(runner, state, build.bzImage, i, stepDir, log, build.kernel);
      attempts.push(again);
      if (again.outcome === 'error' || again.outcome === 'pass') break; // one pass settles it: flaky
    }
  }
  const d = decideStep(build, attempts);
  const record: StepRecord = {
    step: k,
    commit,
    subject,
    verdict: d.verdict,
    exitCode: d.exitCode,
    reason: d.reason,
    flaky: d.flaky,
    build: build.ok ? { ok: true, ms: build.ms, reused: build.reused } : { ok: false, ms: build.ms, reason: build.reason },
    attempts,
    elapsedMs: Date.now() - t0,
  };
  writeFileSync(join(stepsDir(state), `${String(k).padStart(2, '0')}-${commit.slice(0, 12)}.json`), `${JSON.stringify(record, null, 2)}\n`);
  const shown = d.verdict === 'skip' ? 'SKIPPED' : d.verdict === 'abort' ? 'ABORT' : d.verdict.toUpperCase();
  out(`${tag}: ${shown}${d.flaky ? ' (FLAKY)' : ''} in ${fmtMs(record.elapsedMs)}: ${d.reason}`);
  return d.exitCode;
}

/** What a step tests, for its progress line. */
export function checksOf(s: BisectRunSettings): string {
  const selftests = s.selftests?.length ? `selftests ${s.selftests.join(', ')}` : '';
  const scenarios = s.scenarios.length ? s.scenarios.join(', ') : selftests ? '' : 'every scenario';
  return [scenarios, selftests].filter(Boolean).join(' and ');
}

async function safeTest(runner: StepRunner, state: BisectState, bzImage: string, attempt: number, resultsRoot: string, log: (line: string) => void, kernel?: BuiltKernel): Promise<AttemptResult> {
  const t0 = Date.now();
  try {
    const r = await runner.test(state, bzImage, attempt, resultsRoot, log, kernel);
    return { ...r, ms: r.ms ?? Date.now() - t0 };
  } catch (err) {
    return { outcome: 'error', reason: err instanceof Error ? err.message.split('\n')[0]! : String(err), ms: Date.now() - t0 };
  }
}
