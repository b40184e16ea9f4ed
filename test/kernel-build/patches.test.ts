import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { applyPatches, mboxSubjects, readPatchFiles } from '../../harness/kernel-build/patches.js';
import { SetupError } from '../../harness/util/errors.js';
import { gitRepo } from '../helpers/git.js';
import { tempDir } from '../helpers/temp-dir.js';

const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
const git = (d: string, ...a: string[]): string => String(execaSync('git', ['-C', d, ...a], { env }).stdout);

/** A two-patch series on `repo` made on a side branch, returned as an mbox file, the branch deleted. */
function makeSeries(repo: string): string {
  git(repo, 'checkout', '-qb', 'series');
  writeFileSync(join(repo, 'a.c'), 'int a;\nint b;\n');
  git(repo, 'commit', '-qam', 'bpf: add b');
  writeFileSync(join(repo, 'c.c'), 'int c;\n');
  git(repo, 'add', 'c.c');
  git(repo, 'commit', '-qm', 'bpf: add c');
  const mbox = join(tempDir(t, 'mbox'), 'series.mbox');
  writeFileSync(mbox, git(repo, 'format-patch', '--stdout', 'main..series') + '\n');
  git(repo, 'checkout', '-q', 'main');
  git(repo, 'branch', '-qD', 'series');
  return mbox;
}

t.test('a series applies in a worktree, never in the checkout', async (t) => {
  const repo = gitRepo(t, 'patch');
  const mbox = makeSeries(repo);
  t.same(mboxSubjects(readFileSync(mbox, 'utf8')), ['[PATCH 1/2] bpf: add b', '[PATCH 2/2] bpf: add c']);
  writeFileSync(join(repo, 'local.c'), 'int local;\n'); // uncommitted, untracked
  const headBefore = git(repo, 'rev-parse', 'HEAD');
  const wt = join(tempDir(t, 'wt'), 'wt');
  const logs: string[] = [];
  const p = await applyPatches(repo, [mbox], wt, (l) => logs.push(l));
  t.equal(p.dir, wt);
  t.equal(readFileSync(join(wt, 'a.c'), 'utf8'), 'int a;\nint b;\n');
  t.ok(existsSync(join(wt, 'c.c')));
  t.ok(existsSync(join(wt, 'local.c')), 'the uncommitted changes come along');
  t.equal(p.applied.length, 2);
  t.equal(git(repo, 'rev-parse', 'HEAD'), headBefore, "the user's HEAD did not move");
  t.equal(git(repo, 'symbolic-ref', '--short', 'HEAD'), 'main', "the user's branch is still checked out");
  t.equal(readFileSync(join(repo, 'a.c'), 'utf8'), 'int a;\n', "the user's files are untouched");
  t.match(git(wt, 'log', '--format=%s', '-3'), /bpf: add c\nbpf: add b\nbpf-harness: uncommitted changes/);
  t.match(logs.join('\n'), /applied series\.mbox \(2 patches\)/);

  // Again on the kept worktree: same result, and a.c is rewritten only because the patch touches it.
  const p2 = await applyPatches(repo, [mbox], wt, () => undefined);
  t.equal(git(wt, 'rev-parse', 'HEAD^{tree}'), git(p.dir, 'rev-parse', `${p.head}^{tree}`));
  t.equal(p2.applied.length, 2);
});

t.test("edits to tracked files that are not committed come along too", async (t) => {
  const repo = gitRepo(t, 'patch-dirty');
  writeFileSync(join(repo, 'b.c'), 'int b0;\n');
  git(repo, 'add', 'b.c');
  git(repo, 'commit', '-qm', 'add b.c');
  const mbox = makeSeries(repo);
  writeFileSync(join(repo, 'b.c'), 'int b0;\nint b1; /* not committed */\n'); // tracked, modified
  const wt = join(tempDir(t, 'wt'), 'wt');
  const p = await applyPatches(repo, [mbox], wt, () => undefined);
  t.equal(p.applied.length, 2);
  t.equal(readFileSync(join(wt, 'b.c'), 'utf8'), 'int b0;\nint b1; /* not committed */\n');
  t.equal(git(repo, 'status', '--porcelain'), ' M b.c', "the user's edit stays uncommitted in the checkout");
});

t.test('a patch that does not apply is named', async (t) => {
  const repo = gitRepo(t, 'nopatch');
  const mbox = makeSeries(repo);
  writeFileSync(join(repo, 'a.c'), 'long a;\n');
  git(repo, 'commit', '-qam', 'conflicting change');
  const wt = join(tempDir(t, 'wt'), 'wt');
  await t.rejects(applyPatches(repo, [mbox], wt, () => undefined), { name: 'SetupError', message: /^--patches series\.mbox: patch 0001 "bpf: add b" does not apply on [0-9a-f]{12}/ });
  t.equal(readFileSync(join(repo, 'a.c'), 'utf8'), 'long a;\n');
});

t.test('bad input', async (t) => {
  const plain = tempDir(t, 'plain');
  const repo = gitRepo(t, 'bad');
  const mbox = makeSeries(repo);
  await t.rejects(applyPatches(plain, [mbox], join(plain, 'wt'), () => undefined), new SetupError(`--patches needs a git tree, and ${plain} is not one: clone the kernel with git, or git init and commit the tree first`));
  const notMbox = join(plain, 'x.txt');
  writeFileSync(notMbox, 'hello\n');
  t.throws(() => readPatchFiles([notMbox]), { name: 'SetupError', message: /not an mbox with patches/ });
  t.throws(() => readPatchFiles([join(plain, 'missing.mbox')]), { name: 'SetupError', message: /cannot read it \(ENOENT\)/ });
});
