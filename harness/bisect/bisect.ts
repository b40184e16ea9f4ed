/**
 * `bpf-harness bisect`: `git bisect run` on a throw-away worktree of the user's tree (never their
 * checkout), with the harness itself as the step (step.ts). The worktree sits at a fixed place
 * per tree so the one O= directory of all steps (and of later bisects of the same tree) stays
 * incremental; it is removed at the end, also on Ctrl-C and on a deadline, after
 * `git bisect reset`. Everything lands in results/bisect-<time>/: bisect.json (the state the
 * steps read), steps/ (one record and the vm-test runs per step), bisect.log, result.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { sha256 } from '../kernel-build/build-key.js';
import { selectScenarios } from '../scenarios/registry.js';
import { onAbort, pidAlive, spawnGroup, type ProcessGroup } from '../util/children.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { cacheDir, projectRoot, resultsRoot as defaultResultsRoot } from '../util/paths.js';
import { git } from '../util/git.js';
import { stamp } from '../util/stamp.js';
import { fmtMs, readStepRecords, type BisectRunSettings, type BisectState, type StepRecord } from './step.js';

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

export interface BisectResult {
  version: 1;
  kind: 'bisect';
  tree: string;
  good: string;
  bad: string;
  /** found: firstBad is the first bad commit; skipped: only skipped commits are left, one of `possible`; aborted: the bisect stopped. */
  outcome: 'found' | 'skipped' | 'aborted';
  firstBad?: { commit: string; subject: string };
  possible?: Array<{ commit: string; subject: string }>;
  /** The bad end was never tested and the first bad commit is it: every tested commit was good. */
  untestedBadEnd?: boolean;
  reason?: string;
  steps: StepRecord[];
  flaky: string[];
  skipped: string[];
  dir: string;
  elapsedMs: number;
  exitCode: number;
}

const GIT_TIMEOUT_MS = 120_000;

function gitSync(cwd: string, args: string[]): void {
  spawnSync('git', args, { cwd, stdio: 'ignore', timeout: GIT_TIMEOUT_MS, env: { ...process.env, LC_ALL: 'C' } });
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
  const places = bisectPlaces(tree);
  const worktree = resolve(o.worktree ?? places.worktree);
  const outDir = resolve(o.out ?? places.outDir);
  const dir = join(resolve(o.resultsRoot ?? defaultResultsRoot), `bisect-${stamp(new Date(t0))}`);
  mkdirSync(join(dir, 'steps'), { recursive: true });

  // One bisect per worktree: a lock holding our pid; a stale one (its bisect died) is cleaned up.
  mkdirSync(join(worktree, '..'), { recursive: true });
  const lock = `${worktree}.lock`;
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (pid > 0 && pid !== process.pid && pidAlive(pid)) throw new SetupError(`another bisect of ${tree} (pid ${pid}) is running in ${worktree}: wait for it, or stop it with Ctrl-C`);
  }
  writeFileSync(lock, `${process.pid}\n`);
  let cleaned = false;
  const removeWorktree = (): void => {
    if (cleaned) return;
    cleaned = true;
    if (existsSync(worktree)) gitSync(worktree, ['bisect', 'reset', '--quiet']);
    gitSync(tree, ['worktree', 'remove', '--force', worktree]);
    rmSync(worktree, { recursive: true, force: true });
    gitSync(tree, ['worktree', 'prune']);
    try {
      unlinkSync(lock);
    } catch {
      /* gone */
    }
  };
  if (existsSync(worktree)) {
    log(`bisect: removing the worktree ${worktree} left by an interrupted bisect`);
    removeWorktree();
    cleaned = false;
    writeFileSync(lock, `${process.pid}\n`);
  }
  gitSync(tree, ['worktree', 'prune']);

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
    startedAt: new Date(t0).toISOString(),
  };
  const stateFile = join(dir, 'bisect.json');
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  // The step as a script: git bisect run gets one plain word, and a user can re-run a step by hand.
  const stepArgv = [...(o.stepCommand ?? [process.execPath, join(projectRoot, 'dist', 'harness', 'cli.js'), 'bisect-step']), '--state', stateFile];
  const stepScript = join(dir, 'step.sh');
  writeFileSync(stepScript, `#!/bin/sh\n# one bisect step on the commit checked out in ${worktree}\nexec ${stepArgv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`, { mode: 0o755 });

  const runLog = join(dir, 'bisect-run.log');
  let group: ProcessGroup | undefined;
  let interrupted: string | undefined;
  /** git bisect run and its step run in their own process group; SIGTERM first: the step's own handlers stop its guest and write its results. */
  const stopChild = (): void => group?.stop(10_000);
  const finish = (r: Omit<BisectResult, 'steps' | 'flaky' | 'skipped' | 'dir' | 'elapsedMs' | 'version' | 'kind' | 'tree' | 'good' | 'bad'>): BisectResult => {
    const steps = readStepRecords(dir);
    const result: BisectResult = {
      version: 1,
      kind: 'bisect',
      tree,
      good,
      bad,
      ...r,
      steps,
      flaky: steps.filter((s) => s.flaky).map((s) => s.commit),
      skipped: steps.filter((s) => s.verdict === 'skip').map((s) => s.commit),
      dir,
      elapsedMs: Date.now() - t0,
    };
    writeFileSync(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  const saveBisectLog = (): void => {
    if (!existsSync(worktree)) return;
    const r = spawnSync('git', ['bisect', 'log'], { cwd: worktree, encoding: 'utf8', timeout: GIT_TIMEOUT_MS });
    if (r.status === 0) writeFileSync(join(dir, 'bisect.log'), r.stdout);
  };
  const unAbort = onAbort((reason) => {
    interrupted = reason;
    stopChild();
    saveBisectLog();
    removeWorktree();
    finish({ outcome: 'aborted', reason, exitCode: 130 });
    process.stderr.write(`bisect: ${reason}; the worktree is removed, the steps so far are in ${dir}\n`);
  });

  try {
    const add = await git(tree, ['worktree', 'add', '--detach', worktree, bad]);
    if (!add.ok) throw new SetupError(`git worktree add ${worktree} failed: ${add.err.split('\n').pop()}: delete it and run git worktree prune in ${tree}`);
    const start = await git(worktree, ['bisect', 'start', bad, good]);
    if (!start.ok) throw new SetupError(`git bisect start failed in ${worktree}: ${start.err.split('\n').pop()}`);
    log(`bisect: ${candidates} commit${candidates === 1 ? '' : 's'} in ${good.slice(0, 12)}..${bad.slice(0, 12)}, about ${state.expectedSteps} step${state.expectedSteps === 1 ? '' : 's'}; worktree ${worktree}, builds in ${outDir}, results ${dir}`);

    const deadlineMs = o.deadlineMin * 60_000;
    let timedOut = false;
    const text = await new Promise<string>((res, rej) => {
      const spawned = spawnGroup('git', ['bisect', 'run', 'sh', stepScript], { cwd: worktree, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
      group = spawned.group;
      let all = '';
      let partial = '';
      const onData = (b: Buffer): void => {
        const s = b.toString('utf8');
        all += s;
        appendFileSync(runLog, s);
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) if (!/^running /.test(l) && l.trim()) log(l);
      };
      spawned.child.stdout?.on('data', onData);
      spawned.child.stderr?.on('data', onData);
      const timer = setTimeout(() => {
        timedOut = true;
        stopChild();
      }, deadlineMs);
      spawned.child.once('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
      spawned.child.once('close', () => {
        clearTimeout(timer);
        if (partial.trim()) log(partial);
        res(all);
      });
    });
    if (interrupted) return finish({ outcome: 'aborted', reason: interrupted, exitCode: 130 });
    saveBisectLog();
    if (timedOut) {
      removeWorktree();
      const r = finish({ outcome: 'aborted', reason: `did not finish within ${o.deadlineMin} min`, exitCode: 1 });
      throw new HarnessError(`bisect did not finish within ${o.deadlineMin} min (--deadline); ${r.steps.length} steps are in ${dir}`, 1);
    }
    const parsed = parseBisectOutput(text);
    const subject = async (c: string): Promise<string> => (await git(tree, ['log', '-1', '--format=%s', c])).out;
    if (parsed.firstBad) {
      const steps = readStepRecords(dir);
      const untested = parsed.firstBad === bad && !steps.some((s) => s.commit === bad);
      return finish({ outcome: 'found', firstBad: { commit: parsed.firstBad, subject: await subject(parsed.firstBad) }, ...(untested ? { untestedBadEnd: true } : {}), exitCode: 0 });
    }
    if (parsed.possible) {
      return finish({ outcome: 'skipped', possible: await Promise.all(parsed.possible.map(async (c) => ({ commit: c, subject: await subject(c) }))), reason: 'only skipped commits are left: the first bad commit is one of them', exitCode: 1 });
    }
    const last = readStepRecords(dir).pop();
    const why = last?.verdict === 'abort' ? `step ${last.step} (${last.commit.slice(0, 12)}) stopped the bisect: ${last.reason}` : `git bisect run ended without a verdict; see ${runLog}`;
    return finish({ outcome: 'aborted', reason: why, exitCode: 1 });
  } finally {
    unAbort();
    group?.kill();
    group?.release();
    removeWorktree();
  }
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
