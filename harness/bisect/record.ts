/**
 * What a bisect leaves in results/bisect-<time>/: bisect.json (the state the steps read),
 * step.sh (the step git bisect run runs), steps/ (written by the steps), bisect.log and
 * result.json, written however the bisect ends.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stamp } from '../util/stamp.js';
import { GIT_TIMEOUT_MS } from './git.js';
import { readStepRecords, type BisectState, type StepRecord } from './step.js';

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

/** How the bisect ended; the rest of the result is read from its directory. */
export type BisectEnd = Omit<BisectResult, 'steps' | 'flaky' | 'skipped' | 'dir' | 'elapsedMs' | 'version' | 'kind' | 'tree' | 'good' | 'bad'>;

/** results/bisect-<time>/ with its steps/ directory. */
export function makeBisectDir(resultsRoot: string, startedAt: number): string {
  const dir = join(resultsRoot, `bisect-${stamp(new Date(startedAt))}`);
  mkdirSync(join(dir, 'steps'), { recursive: true });
  return dir;
}

/** bisect.json and step.sh: git bisect run gets one plain word, and a user can re-run a step by hand. */
export function writeStepScript(state: BisectState, stepCommand: readonly string[]): string {
  const stateFile = join(state.dir, 'bisect.json');
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  const stepArgv = [...stepCommand, '--state', stateFile];
  const stepScript = join(state.dir, 'step.sh');
  writeFileSync(stepScript, `#!/bin/sh\n# one bisect step on the commit checked out in ${state.worktree}\nexec ${stepArgv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`, { mode: 0o755 });
  return stepScript;
}

/** The result from how it ended and the step records, written to result.json. */
export function writeBisectResult(state: Pick<BisectState, 'tree' | 'good' | 'bad' | 'dir'>, startedAt: number, end: BisectEnd): BisectResult {
  const steps = readStepRecords(state.dir);
  const result: BisectResult = {
    version: 1,
    kind: 'bisect',
    tree: state.tree,
    good: state.good,
    bad: state.bad,
    ...end,
    steps,
    flaky: steps.filter((s) => s.flaky).map((s) => s.commit),
    skipped: steps.filter((s) => s.verdict === 'skip').map((s) => s.commit),
    dir: state.dir,
    elapsedMs: Date.now() - startedAt,
  };
  writeFileSync(join(state.dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** git bisect log of the worktree, while it is there, as bisect.log. */
export function saveBisectLog(worktree: string, dir: string): void {
  if (!existsSync(worktree)) return;
  const r = spawnSync('git', ['bisect', 'log'], { cwd: worktree, encoding: 'utf8', timeout: GIT_TIMEOUT_MS });
  if (r.status === 0) writeFileSync(join(dir, 'bisect.log'), r.stdout);
}
