// The one git runner (harness/util/git.ts) on a real repository: what its callers rely on
// (bisect, the patch worktree, the build key).
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, gitBytes, gitOut } from '../../harness/util/git.js';
import { SetupError } from '../../harness/util/errors.js';
import { gitRepo } from '../helpers/git.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('git: stdout without its trailing newline; a failure is a result, not a throw', async (t) => {
  const repo = gitRepo(t, 'util-git');
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  const head = await git(repo, ['rev-parse', 'HEAD']);
  t.ok(head.ok);
  t.match(head.out, /^[0-9a-f]{40}$/, 'the commit alone, as bisect compares it');
  const bad = await git(repo, ['rev-parse', '--verify', '--quiet', 'no-such-ref^{commit}']);
  t.notOk(bad.ok);
  t.equal(bad.code, 1);
  t.equal(bad.out, '');
  const msg = await git(repo, ['checkout', 'no-such-branch']);
  t.notOk(msg.ok);
  t.match(msg.err, /^error: pathspec 'no-such-branch' did not match/, 'LC_ALL=C: the English message the callers quote');
});

t.test('git: env and input reach git (the patch worktree commits as the harness, applies a diff from stdin)', async (t) => {
  const repo = gitRepo(t, 'util-git-env');
  t.teardown(() => rmSync(repo, { recursive: true, force: true }));
  writeFileSync(join(repo, 'a.c'), 'int a;\nint b;\n');
  const bytes = await gitBytes(repo, ['diff', 'HEAD', '--binary']);
  // The build key hashes these bytes: git's stdout less its final newline, as it always did.
  t.equal(bytes.subarray(-7).toString(), '+int b;', 'the final newline stripped');
  const diff = Buffer.concat([bytes, Buffer.from('\n')]);
  t.ok((await git(repo, ['checkout', '--', 'a.c'])).ok);
  const applied = await git(repo, ['apply', '--index', '-'], { input: diff });
  t.ok(applied.ok, applied.err);
  const identity = { GIT_AUTHOR_NAME: 'bpf-harness', GIT_AUTHOR_EMAIL: 'h@localhost', GIT_COMMITTER_NAME: 'bpf-harness', GIT_COMMITTER_EMAIL: 'h@localhost' };
  const c = await git(repo, ['commit', '-qm', 'second'], { env: identity });
  t.ok(c.ok, c.err);
  t.equal(await gitOut(repo, ['log', '-1', '--format=%an %s']), 'bpf-harness second');
});

async function failureOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Error) return e;
  }
  throw new Error('expected git to fail');
}

t.test('gitOut and gitBytes: a failure is one SetupError line naming the directory and the fix', async (t) => {
  const plain = tempDir(t, 'util-git-plain');
  // GIT_CEILING_DIRECTORIES: the temp dir must not find a repository above it.
  const o = { env: { GIT_CEILING_DIRECTORIES: tmpdir() }, hint: `is ${plain} a valid git checkout?` };
  const err = await failureOf(gitOut(plain, ['rev-parse', 'HEAD'], o));
  t.type(err, SetupError);
  t.match(err.message, new RegExp(`^git rev-parse in ${plain} failed: fatal: not a git repository.*: is ${plain} a valid git checkout\\?$`));
  t.notMatch(err.message, /\n/);
  const errBytes = await failureOf(gitBytes(plain, ['diff', 'HEAD'], o));
  t.type(errBytes, SetupError);
  t.match(errBytes.message, /^git diff in .* failed: /);
});
