/**
 * `bpf-harness bisect`: `git bisect run` on a throw-away worktree of the user's tree (never their
 * checkout), with the harness itself as the step (step.ts). The worktree sits at a fixed place
 * per tree so the one O= directory of all steps (and of later bisects of the same tree) stays
 * incremental; it is removed at the end, also on Ctrl-C and on a deadline, after
 * `git bisect reset`. Everything lands in results/bisect-<time>/: bisect.json (the state the
 * steps read), steps/ (one record and the vm-test runs per step), bisect.log, result.json.
 * runBisect's stages: the inputs (here), the worktree (worktree.ts), git bisect run
 * (git-bisect-run.ts), what is written (record.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { sha256 } from '../kernel-build/build-key.js';
import { openBuildHost } from '../kernel-build/on-host.js';
import { selectScenarios } from '../scenarios/registry.js';
import { selftestsToolchain } from '../selftests/toolchain.js';
import { checkSelftestsBuildHost } from '../selftests/on-host.js';
import { onAbort } from '../util/children.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { cacheDir, projectRoot, resultsRoot as defaultResultsRoot } from '../util/paths.js';
import { git } from '../util/git.js';
import { runGitBisect, type GitBisectRun } from './git-bisect-run.js';
import { makeBisectDir, saveBisectLog, writeBisectResult, writeStepScript, type BisectEnd, type BisectResult } from './record.js';
import { fmtMs, readStepRecords, type BisectRunSettings, type BisectState } from './step.js';
import { claimWorktree, startBisect } from './worktree.js';

export type { BisectResult } from './record.js';

export interface BisectOptions extends BisectRunSettings {
  tree: string;
  good: string;
  bad: string;
  /** Minutes the whole bisect may run. */
  deadlineMin: number;
  /** The O= directory of every step; default cacheDir()/builds/bisect-<tree>-<hash>. */
  out?: string;
  /** Default results/. */
  resultsRoot?: string;
  /** Default cacheDir()/worktrees/bisect-<tree>-<hash>. */
  worktree?: string;
  /** The step to run instead of `bpf-harness bisect-step` (tests); `--state FILE` is appended. */
  stepCommand?: string[];
  /** More checks of the input after the refs are known good (the CLI: a kernel history). */
  check?: () => Promise<void>;
  log: (line: string) => void;
}

/** The worktree and O= directory of a tree's bisects: fixed per tree, so builds stay incremental. */
export function bisectPlaces(tree: string): { worktree: string; outDir: string } {
  const abs = resolve(tree);
  const name = `bisect-${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256(abs).slice(0, 10)}`;
  return { worktree: join(cacheDir(), 'worktrees', name), outDir: join(cacheDir(), 'builds', name) };
}

/** About how many steps a bisect of `candidates` commits takes. */
export function expectedSteps(candidates: number): number {
  return candidates <= 1 ? 0 : Math.ceil(Math.log2(candidates));
}

/** The first bad commit, or the commits it may be when skips leave it open, from `git bisect run`'s output. */
export function parseBisectOutput(text: string): { firstBad?: string; possible?: string[] } {
  const m = /^([0-9a-f]{40}) is the first bad commit/m.exec(text);
  if (m) return { firstBad: m[1] };
  const s = /only 'skip'ped commits left to test\.\nThe first bad commit could be any of:\n((?:[0-9a-f]{40}\n?)+)/m.exec(text);
  if (s) return { possible: s[1]!.trim().split('\n') };
  return {};
}

/**
 * For the real step: --bad must be a kernel source tree (else every step would be skipped as
 * not building). The tests' injected steps bisect small repositories and skip this.
 */
export async function checkKernelHistory(tree: string, bad: string): Promise<void> {
  const abs = resolve(tree);
  for (const p of ['Makefile', 'Kconfig', 'arch/x86']) {
    const r = await git(abs, ['cat-file', '-e', `${bad}:${p}`]);
    if (!r.ok) throw new SetupError(`--bad ${bad} of ${tree} has no ${p}: bisect needs the history of a Linux kernel tree (give --tree a kernel git checkout)`);
  }
}

/** Validated refs and counts, or a SetupError naming the fix. */
async function checkInputs(o: BisectOptions): Promise<{ tree: string; good: string; bad: string; candidates: number }> {
  const tree = resolve(o.tree);
  if (!existsSync(tree)) throw new SetupError(`--tree ${o.tree} does not exist: give the top directory of a kernel git checkout`);
  const top = await git(tree, ['rev-parse', '--show-toplevel']);
  if (!top.ok) throw new SetupError(`--tree ${o.tree} is not a git checkout, and bisect walks its history: clone the kernel with git`);
  if (resolve(top.out) !== tree) throw new SetupError(`--tree ${o.tree} is inside the git checkout ${top.out}: give its top directory`);
  selectScenarios(o.scenarios);
  if (!Number.isInteger(o.retries) || o.retries < 0) throw new SetupError(`--retries ${o.retries}: give a whole number of re-runs, 0 or more`);
  const rev = async (flag: string, ref: string): Promise<string> => {
    const r = await git(tree, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    if (!r.ok || !r.out) throw new SetupError(`${flag} ${ref} is not a commit in ${tree}: give a commit, tag or branch of that tree`);
    return r.out;
  };
  const good = await rev('--good', o.good);
  const bad = await rev('--bad', o.bad);
  if (good === bad) throw new SetupError(`--good and --bad are the same commit ${good.slice(0, 12)}: give a bad commit that comes after the good one`);
  const anc = await git(tree, ['merge-base', '--is-ancestor', good, bad]);
  if (!anc.ok) throw new SetupError(`--good ${o.good} is not an ancestor of --bad ${o.bad}: give a good commit from the bad one's history (git log ${o.bad})`);
  const count = await git(tree, ['rev-list', '--count', `${good}..${bad}`]);
  return { tree, good, bad, candidates: Number(count.out) };
}

export async function runBisect(o: BisectOptions): Promise<BisectResult> {
  const t0 = Date.now();
  const log = o.log;
  const { tree, good, bad, candidates } = await checkInputs(o);
  await o.check?.();
  // A build host that would refuse every step refuses the bisect now, before git bisect starts.
  const selftests = (o.selftests ?? []).length > 0;
  if (o.buildHost && selftests) await checkSelftestsBuildHost(o.buildHost, tree, log);
  else if (o.buildHost) (await openBuildHost(o.buildHost, tree, true, log)).host.close();
  // Likewise a machine that cannot build the selftests: each step would be skipped.
  else if (selftests) await selftestsToolchain(tree);
  const places = bisectPlaces(tree);
  const worktree = resolve(o.worktree ?? places.worktree);
  const outDir = resolve(o.out ?? places.outDir);
  const dir = makeBisectDir(resolve(o.resultsRoot ?? defaultResultsRoot), t0);
  const wt = claimWorktree(tree, worktree, log);
  const state: BisectState = {
    version: 1,
    tree,
    worktree,
    outDir,
    dir,
    good,
    bad,
    candidates,
    expectedSteps: expectedSteps(candidates),
    scenarios: o.scenarios,
    selftests: o.selftests ?? [],
    sizes: o.sizes,
    retries: o.retries,
    seed: o.seed,
    debug: o.debug,
    accel: o.accel,
    bootDeadlineS: o.bootDeadlineS,
    settleDeadlineS: o.settleDeadlineS,
    buildDeadlineMin: o.buildDeadlineMin,
    ...(o.buildHost ? { buildHost: o.buildHost } : {}),
    startedAt: new Date(t0).toISOString(),
  };
  const stepScript = writeStepScript(state, o.stepCommand ?? [process.execPath, join(projectRoot, 'dist', 'harness', 'cli.js'), 'bisect-step']);
  const runLog = join(dir, 'bisect-run.log');
  const finish = (end: BisectEnd): BisectResult => writeBisectResult(state, t0, end);
  let run: GitBisectRun | undefined;
  let interrupted: string | undefined;
  const unAbort = onAbort((reason) => {
    interrupted = reason;
    run?.stop();
    saveBisectLog(worktree, dir);
    wt.remove();
    finish({ outcome: 'aborted', reason, exitCode: 130 });
    process.stderr.write(`bisect: ${reason}; the worktree is removed, the steps so far are in ${dir}\n`);
  });

  try {
    await startBisect(tree, worktree, good, bad);
    log(`bisect: ${candidates} commit${candidates === 1 ? '' : 's'} in ${good.slice(0, 12)}..${bad.slice(0, 12)}, about ${state.expectedSteps} step${state.expectedSteps === 1 ? '' : 's'}; worktree ${worktree}, builds in ${outDir}, results ${dir}`);
    run = runGitBisect(worktree, stepScript, runLog, o.deadlineMin * 60_000, log);
    const { text, timedOut } = await run.output;
    if (interrupted) return finish({ outcome: 'aborted', reason: interrupted, exitCode: 130 });
    saveBisectLog(worktree, dir);
    if (timedOut) {
      wt.remove();
      const r = finish({ outcome: 'aborted', reason: `did not finish within ${o.deadlineMin} min`, exitCode: 1 });
      throw new HarnessError(`bisect did not finish within ${o.deadlineMin} min (--deadline); ${r.steps.length} steps are in ${dir}`, 1);
    }
    return finish(await outcomeOf(text, tree, bad, dir, runLog));
  } finally {
    unAbort();
    run?.release();
    wt.remove();
  }
}

/** What git bisect run's output and the last step say: the first bad commit, the skipped ones it may be, or why it stopped. */
async function outcomeOf(text: string, tree: string, bad: string, dir: string, runLog: string): Promise<BisectEnd> {
  const parsed = parseBisectOutput(text);
  const subject = async (c: string): Promise<string> => (await git(tree, ['log', '-1', '--format=%s', c])).out;
  if (parsed.firstBad) {
    const steps = readStepRecords(dir);
    const untested = parsed.firstBad === bad && !steps.some((s) => s.commit === bad);
    return { outcome: 'found', firstBad: { commit: parsed.firstBad, subject: await subject(parsed.firstBad) }, ...(untested ? { untestedBadEnd: true } : {}), exitCode: 0 };
  }
  if (parsed.possible) {
    return { outcome: 'skipped', possible: await Promise.all(parsed.possible.map(async (c) => ({ commit: c, subject: await subject(c) }))), reason: 'only skipped commits are left: the first bad commit is one of them', exitCode: 1 };
  }
  const last = readStepRecords(dir).pop();
  const why = last?.verdict === 'abort' ? `step ${last.step} (${last.commit.slice(0, 12)}) stopped the bisect: ${last.reason}` : `git bisect run ended without a verdict; see ${runLog}`;
  return { outcome: 'aborted', reason: why, exitCode: 1 };
}

/** The end of a bisect as the user reads it. */
export function renderBisect(r: BisectResult): string {
  const out: string[] = [''];
  out.push(`steps (${r.steps.length}):`);
  for (const s of r.steps) {
    const v = s.verdict === 'skip' ? 'skipped' : s.verdict;
    out.push(`  ${String(s.step).padStart(2)}  ${s.commit.slice(0, 12)}  ${v.padEnd(7)}${s.flaky ? ' FLAKY' : ''}  ${fmtMs(s.elapsedMs).padStart(6)}  ${s.subject}`);
    if (s.verdict !== 'good' || s.flaky) out.push(`        ${s.reason}`);
  }
  if (r.flaky.length) out.push(`flaky (failed, then passed a re-run; counted good): ${r.flaky.map((c) => c.slice(0, 12)).join(', ')}`);
  if (r.skipped.length) out.push(`skipped (did not build or boot): ${r.skipped.map((c) => c.slice(0, 12)).join(', ')}`);
  out.push('');
  if (r.outcome === 'found' && r.firstBad) {
    out.push(`first bad commit: ${r.firstBad.commit} ${r.firstBad.subject}`);
    if (r.untestedBadEnd) out.push('  note: this is the --bad end itself and it was never tested: every tested commit was good; check that --bad really fails');
  } else if (r.outcome === 'skipped') {
    out.push('no single first bad commit: only skipped commits are left; it is one of:');
    for (const p of r.possible ?? []) out.push(`  ${p.commit} ${p.subject}`);
  } else {
    out.push(`bisect stopped: ${r.reason ?? 'unknown'}`);
  }
  try {
    const log = readFileSync(join(r.dir, 'bisect.log'), 'utf8').trimEnd();
    out.push('', 'bisect log:', ...log.split('\n').map((l) => `  ${l}`));
  } catch {
    /* no log */
  }
  out.push('', `results: ${r.dir} (${fmtMs(r.elapsedMs)})`);
  return out.join('\n');
}
