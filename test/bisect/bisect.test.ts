// bisect on a real small git history with the kernel replaced (test/helpers/fake-bisect-step.ts):
// the worktree, git bisect run, skips, flaky steps, the result, the user's checkout untouched,
// Ctrl-C. The real kernel bisect is in npm run test:kernel.
import t, { type Test as TestBase } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { expectedSteps, parseBisectOutput, renderBisect, runBisect, type BisectResult } from '../../harness/bisect/bisect.js';
import { SetupError } from '../../harness/util/errors.js';
import { projectRoot } from '../../harness/util/paths.js';
import { processRunning } from '../../harness/util/children.js';
import { gitRepo } from '../helpers/git.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
const git = (d: string, ...a: string[]): string => String(execaSync('git', ['-C', d, ...a], { env, reject: false }).stdout).trim();

/** Commits with a.c as given, on top of the repo's first commit; returns their hashes. */
function history(repo: string, contents: Array<[string, string]>): string[] {
  return contents.map(([text, subject]) => {
    writeFileSync(join(repo, 'a.c'), text);
    git(repo, 'commit', '-qam', subject);
    return git(repo, 'rev-parse', 'HEAD');
  });
}

const fakeStep = [process.execPath, join(projectRoot, 'dist', 'test', 'helpers', 'fake-bisect-step.js')];

async function bisect(repo: string, good: string, bad: string, retries = 1): Promise<{ r: BisectResult; lines: string[]; worktree: string }> {
  const results = tempDir(t, 'bisect-res');
  const worktree = join(tempDir(t, 'bisect-wt'), 'wt');
  const lines: string[] = [];
  const r = await runBisect({
    tree: repo, good, bad, scenarios: ['sk-map-free-live-owners'], sizes: 'small', retries, seed: 7, debug: false, accel: 'tcg',
    bootDeadlineS: 60, settleDeadlineS: 30, buildDeadlineMin: 5, deadlineMin: 5,
    resultsRoot: results, worktree, out: join(results, 'out'), stepCommand: fakeStep, log: (l) => void lines.push(l),
  });
  return { r, lines, worktree };
}

function untouched(t: TestBase, repo: string, head: string, worktree: string): void {
  t.equal(git(repo, 'rev-parse', 'HEAD'), head, 'the checkout is still at its HEAD');
  t.equal(git(repo, 'symbolic-ref', '--short', 'HEAD'), 'main', 'on its branch');
  t.equal(git(repo, 'status', '--porcelain'), '', 'with no changes');
  t.equal(git(repo, 'worktree', 'list').split('\n').length, 1, 'the bisect worktree is gone from git');
  t.notOk(existsSync(worktree), 'and from the disk');
  t.equal(git(repo, 'for-each-ref', 'refs/bisect'), '', 'no bisect refs are left');
  t.notOk(existsSync(`${worktree}.lock`), 'the lock is released');
}



t.test('finds the first bad commit through skipped and flaky commits', async (t) => {
  const repo = gitRepo(t, 'bisect');
  const good = git(repo, 'rev-parse', 'HEAD');
  const c = history(repo, [
    ['int a; int b;\n', 'bpf: one'],
    ['int a; int b; // FLAKY\n', 'bpf: two (flaky)'],
    ['int a; int b; int c;\n', 'bpf: three'],
    ['int a; // BROKEN\n', 'bpf: four (does not build)'],
    ['int a; int d;\n', 'bpf: five'],
    ['int a; int d; // FAULT\n', 'bpf: six (the fault)'],
    ['int a; int e; // FAULT\n', 'bpf: seven'],
    ['int a; int f; // FAULT\n', 'bpf: eight'],
  ]);
  const head = git(repo, 'rev-parse', 'HEAD');
  const { r, lines, worktree } = await bisect(repo, good, c[7]!);
  t.equal(r.outcome, 'found', r.reason ?? '');
  t.equal(r.exitCode, 0);
  t.same(r.firstBad, { commit: c[5], subject: 'bpf: six (the fault)' });
  t.ok(r.steps.length >= 3, `${r.steps.length} steps`);
  const text = lines.join('\n');
  t.match(text, /bisect: 8 commits in [0-9a-f]{12}\.\.[0-9a-f]{12}, about 3 steps/);
  t.match(text, /bisect: step 1 of ~3: [0-9a-f]{12} "bpf: /);
  // Every step's verdict is the one its commit's content calls for.
  for (const s of r.steps) {
    const i = c.indexOf(s.commit);
    const want = i === 3 ? 'skip' : i >= 5 ? 'bad' : 'good';
    t.equal(s.verdict, want, `step ${s.step} ${s.subject}: ${s.verdict}`);
    if (i === 1) t.ok(s.flaky, 'the flaky commit is reported flaky');
  }
  t.same(r.skipped, r.steps.filter((s) => s.verdict === 'skip').map((s) => s.commit));
  t.ok(r.skipped.length + r.flaky.length > 0, `the path went through a skipped or flaky commit (skipped ${r.skipped.length}, flaky ${r.flaky.length})`);
  const log = readFileSync(join(r.dir, 'bisect.log'), 'utf8');
  t.match(log, /^git bisect start/m);
  t.match(log, new RegExp(`first bad commit: \\[${c[5]}\\]`));
  t.ok(existsSync(join(r.dir, 'result.json')) && existsSync(join(r.dir, 'bisect.json')) && existsSync(join(r.dir, 'step.sh')));
  const rendered = renderBisect(r);
  t.match(rendered, new RegExp(`first bad commit: ${c[5]} bpf: six \\(the fault\\)`));
  t.match(rendered, /bisect log:\n(?: {2}.*\n)* {2}git bisect start/);
  untouched(t, repo, head, worktree);
});

t.test('a first bad commit that does not build leaves the candidates', async (t) => {
  const repo = gitRepo(t, 'bisect-skip');
  const good = git(repo, 'rev-parse', 'HEAD');
  const c = history(repo, [
    ['int a; int b;\n', 'bpf: one'],
    ['int a; // BROKEN FAULT\n', 'bpf: two (the fault, does not build)'],
    ['int a; int c; // FAULT\n', 'bpf: three'],
  ]);
  const { r, worktree } = await bisect(repo, good, c[2]!);
  t.equal(r.outcome, 'skipped');
  t.equal(r.exitCode, 1);
  t.same(new Set(r.possible?.map((p) => p.commit)), new Set([c[1], c[2]]));
  t.match(renderBisect(r), /only skipped commits are left; it is one of:/);
  untouched(t, repo, c[2]!, worktree);
});

t.test('a --bad that passes: the bad end is named, with a note that it was never tested', async (t) => {
  const repo = gitRepo(t, 'bisect-allgood');
  const good = git(repo, 'rev-parse', 'HEAD');
  const c = history(repo, [['int b;\n', 'one'], ['int c;\n', 'two'], ['int d;\n', 'three'], ['int e;\n', 'four']]);
  const { r, worktree } = await bisect(repo, good, c[3]!);
  t.equal(r.outcome, 'found');
  t.equal(r.firstBad?.commit, c[3]);
  t.equal(r.untestedBadEnd, true);
  t.ok(r.steps.every((s) => s.verdict === 'good'));
  t.match(renderBisect(r), /never tested: every tested commit was good; check that --bad really fails/);
  untouched(t, repo, c[3]!, worktree);
});

t.test('a step that fails in the harness stops the bisect', async (t) => {
  const repo = gitRepo(t, 'bisect-abort');
  const good = git(repo, 'rev-parse', 'HEAD');
  const c = history(repo, [['int a; // HARNESS\n', 'bpf: one'], ['int a; // HARNESS FAULT\n', 'bpf: two'], ['int a; // FAULT\n', 'bpf: three']]);
  const { r, worktree } = await bisect(repo, good, c[2]!);
  t.equal(r.outcome, 'aborted');
  t.equal(r.exitCode, 1);
  t.match(r.reason, /stopped the bisect: the harness failed: internal error/);
  untouched(t, repo, c[2]!, worktree);
});

t.test('bad input: one line naming the fix, exit 2', async (t) => {
  const repo = gitRepo(t, 'bisect-bad');
  const first = git(repo, 'rev-parse', 'HEAD');
  const [second] = history(repo, [['int b;\n', 'two']]);
  const base = { scenarios: [], sizes: 'small' as const, retries: 1, seed: 1, debug: false, accel: 'tcg' as const, bootDeadlineS: 1, settleDeadlineS: 1, buildDeadlineMin: 1, deadlineMin: 1, log: () => {} };
  await t.rejects(runBisect({ ...base, tree: repo, good: 'nope', bad: 'HEAD' }), new SetupError(`--good nope is not a commit in ${repo}: give a commit, tag or branch of that tree`));
  await t.rejects(runBisect({ ...base, tree: repo, good: second!, bad: first }), /--good \S+ is not an ancestor of --bad/);
  await t.rejects(runBisect({ ...base, tree: repo, good: 'HEAD', bad: 'main' }), /are the same commit/);
  await t.rejects(runBisect({ ...base, tree: repo, good: first, bad: 'HEAD', scenarios: ['nope'] }), /unknown scenario nope/);
  await t.rejects(runBisect({ ...base, tree: repo, good: first, bad: 'HEAD', retries: -1 }), /--retries -1: give a whole number/);
  const plain = tempDir(t, 'plain');
  const r = runCli(['bisect', '--tree', plain, '--good', 'a', '--bad', 'b']);
  t.equal(r.status, 2);
  t.equal(r.stderr.trim().split('\n').length, 1);
  t.match(r.stderr, /is not a git checkout, and bisect walks its history: clone the kernel with git/);
  const notKernel = runCli(['bisect', '--tree', repo, '--good', first, '--bad', 'HEAD']);
  t.equal(notKernel.status, 2, notKernel.stderr);
  t.equal(notKernel.stderr.trim().split('\n').length, 1);
  t.match(notKernel.stderr, /--bad HEAD of \S+ has no Makefile: bisect needs the history of a Linux kernel tree/);
  t.equal(git(repo, 'worktree', 'list').split('\n').length, 1, 'and no worktree was made');
  const missing = runCli(['bisect', '--tree', repo, '--good', first]);
  t.equal(missing.status, 2);
  t.match(missing.stderr, /give --bad/);
});

t.test('Ctrl-C stops the step, resets the bisect and removes the worktree', async (t) => {
  const repo = gitRepo(t, 'bisect-int');
  const good = git(repo, 'rev-parse', 'HEAD');
  const c = history(repo, [['int b;\n', 'one'], ['int c;\n', 'two'], ['int d; // FAULT\n', 'three']]);
  const results = tempDir(t, 'bisect-res');
  const worktree = join(tempDir(t, 'bisect-wt'), 'wt');
  const pids = join(results, 'pids');
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'test', 'helpers', 'fake-bisect.js'), repo, good, c[2]!, results, worktree], {
    env: { ...process.env, FAKE_STEP_SLOW: '1', FAKE_STEP_PIDS: pids },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((res) => {
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (/testing/.test(out) && existsSync(worktree)) child.kill('SIGINT');
    });
    child.once('exit', (code) => {
      clearTimeout(deadline);
      res(code);
    });
  });
  t.equal(code, 130, `exit 130 on Ctrl-C\n${out}\n${err}`);
  t.match(err, /bisect: interrupted by SIGINT; the worktree is removed/);
  const stepPid = Number(readFileSync(pids, 'utf8').trim().split('\n')[0]);
  t.notOk(processRunning(stepPid), 'the step process is gone');
  const dir = join(results, readdirSync(results).find((n) => n.startsWith('bisect-'))!);
  const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as BisectResult;
  t.equal(result.outcome, 'aborted');
  t.equal(result.exitCode, 130);
  untouched(t, repo, c[2]!, worktree);
});

t.test('helpers: step estimate, git bisect run output', async (t) => {
  t.same([1, 2, 3, 8, 9, 1000].map(expectedSteps), [0, 1, 2, 3, 4, 10]);
  const sha = 'a'.repeat(40);
  t.same(parseBisectOutput(`Bisecting: 0 revisions left\n${sha} is the first bad commit\ncommit ${sha}\n`), { firstBad: sha });
  const b = 'b'.repeat(40);
  t.same(parseBisectOutput(`There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n${sha}\n${b}\nWe cannot bisect more!\n`), { possible: [sha, b] });
  t.same(parseBisectOutput('bisect run failed'), {});
});
