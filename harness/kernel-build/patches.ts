/**
 * --patches: apply mailing-list series (mbox files as `b4 am` writes them) with `git am` in a
 * throw-away worktree on its own branch, never in the user's checkout. The worktree starts at
 * the user's HEAD plus their uncommitted changes (committed there as one commit), so what is
 * built is what they see plus the series.
 *
 * The worktree is kept between builds and reset with `git checkout --force`, which rewrites only
 * files that differ: unchanged files keep their mtimes and the O= build stays incremental.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { execa } from 'execa';
import { SetupError } from '../util/errors.js';
import { git, type GitOptions } from '../util/git.js';
import { isGitTree, sha256 } from './build-key.js';

const GIT_TIMEOUT_MS = 600_000;

export interface PatchedTree {
  /** The worktree to build from. */
  dir: string;
  branch: string;
  /** The commit after the last patch. */
  head: string;
  applied: Array<{ file: string; subject: string }>;
}

/** The identity of the harness's commits in its patch worktrees. */
const IDENTITY = { GIT_AUTHOR_NAME: 'bpf-harness', GIT_AUTHOR_EMAIL: 'bpf-harness@localhost', GIT_COMMITTER_NAME: 'bpf-harness', GIT_COMMITTER_EMAIL: 'bpf-harness@localhost' };

const AS_HARNESS: GitOptions = { timeoutMs: GIT_TIMEOUT_MS, env: IDENTITY };

/** The subjects of the patches in an mbox, in order. */
export function mboxSubjects(text: string): string[] {
  const out: string[] = [];
  for (const msg of text.split(/^From [^\n]*\n/m).slice(1)) {
    const m = /^Subject:\s*(.*(?:\n[ \t].*)*)/im.exec(msg.split(/\n\n/)[0] ?? '');
    if (m) out.push(m[1]!.replace(/\n[ \t]+/g, ' ').trim());
  }
  return out;
}

/** Validate the patch files: each must exist and hold at least one mail with a diff. */
export function readPatchFiles(files: readonly string[]): Array<{ file: string; sha256: string; subjects: string[] }> {
  return files.map((f) => {
    const file = resolve(f);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new SetupError(`--patches ${f}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)}): give an mbox file, as b4 am writes it`);
    }
    const subjects = mboxSubjects(text);
    if (subjects.length === 0 || !/^diff --git /m.test(text)) throw new SetupError(`--patches ${f}: not an mbox with patches (no "From " line with a Subject and a diff): save the series with b4 am or git format-patch --stdout`);
    return { file, sha256: sha256(text), subjects };
  });
}

/**
 * Apply `patchFiles` on top of `tree`'s HEAD and uncommitted changes, in `worktree` on branch
 * `branch`. Throws a SetupError naming the first patch that does not apply.
 */
export async function applyPatches(tree: string, patchFiles: readonly string[], worktree: string, log: (line: string) => void): Promise<PatchedTree> {
  if (!isGitTree(tree)) throw new SetupError(`--patches needs a git tree, and ${tree} is not one: clone the kernel with git, or git init and commit the tree first`);
  const patches = readPatchFiles(patchFiles);
  const branch = `bpf-harness/patched-${sha256(resolve(tree)).slice(0, 8)}`;
  const current = (await git(tree, ['symbolic-ref', '--quiet', '--short', 'HEAD'], AS_HARNESS)).out.trim();
  if (current === branch) throw new SetupError(`${tree} has the harness's branch ${branch} checked out: check out your own branch first`);
  const head = (await git(tree, ['rev-parse', 'HEAD'], AS_HARNESS)).out.trim();

  if (!existsSync(join(worktree, '.git'))) {
    mkdirSync(join(worktree, '..'), { recursive: true });
    await git(tree, ['worktree', 'prune'], AS_HARNESS);
    const add = await git(tree, ['worktree', 'add', '--force', '-B', branch, worktree, head], AS_HARNESS);
    if (!add.ok) throw new SetupError(`git worktree add ${worktree} failed: ${add.err.trim().split('\n').pop()}: delete ${worktree} and run git worktree prune in ${tree}`);
  } else {
    // A previous series may have stopped half-way.
    await git(worktree, ['am', '--abort'], AS_HARNESS);
    const co = await git(worktree, ['checkout', '--force', '-B', branch, head], AS_HARNESS);
    if (!co.ok) throw new SetupError(`resetting the patch worktree ${worktree} failed: ${co.err.trim().split('\n').pop()}: delete it and run git worktree prune in ${tree}`);
    await git(worktree, ['clean', '-fdq'], AS_HARNESS);
  }

  // The user's uncommitted changes (staged, unstaged and untracked files) as one commit.
  // stripFinalNewline off: without the diff's last newline `git apply` calls it a corrupt patch.
  const diff = await execa('git', ['-C', tree, 'diff', 'HEAD', '--binary'], { reject: false, encoding: 'buffer', stripFinalNewline: false, timeout: GIT_TIMEOUT_MS, stdin: 'ignore', maxBuffer: 1 << 30 });
  const untracked = (await git(tree, ['ls-files', '--others', '--exclude-standard', '-z'], AS_HARNESS)).out.split('\0').filter(Boolean);
  const diffBuf = Buffer.from(diff.stdout as Uint8Array);
  if (diffBuf.length > 0 || untracked.length > 0) {
    if (diffBuf.length > 0) {
      const ap = await git(worktree, ['apply', '--index', '--binary', '-'], { ...AS_HARNESS, input: diffBuf });
      if (!ap.ok) throw new SetupError(`your uncommitted changes in ${tree} do not apply to its HEAD in the worktree: ${ap.err.trim().split('\n')[0]}: commit or stash them`);
    }
    for (const f of untracked) {
      mkdirSync(join(worktree, f, '..'), { recursive: true });
      writeFileSync(join(worktree, f), readFileSync(join(tree, f)));
    }
    if (untracked.length > 0) await git(worktree, ['add', '--', ...untracked], AS_HARNESS);
    const c = await git(worktree, ['commit', '-q', '--no-verify', '-m', 'bpf-harness: uncommitted changes of the working tree'], AS_HARNESS);
    if (!c.ok) throw new SetupError(`committing your uncommitted changes in the worktree failed: ${c.err.trim().split('\n')[0]}`);
  }

  const applied: PatchedTree['applied'] = [];
  for (const p of patches) {
    const am = await git(worktree, ['am', '--3way', '--keep-cr', p.file], AS_HARNESS);
    if (!am.ok) {
      const text = `${am.out}\n${am.err}`;
      const failed = /Patch failed at (\d+) (.*)/.exec(text);
      const detail = text.split('\n').find((l) => /^error:|does not apply|patch does not apply|CONFLICT/.test(l))?.trim();
      await git(worktree, ['am', '--abort'], AS_HARNESS);
      throw new SetupError(
        `--patches ${basename(p.file)}: patch ${failed ? `${failed[1]} "${failed[2]}"` : '(unknown)'} does not apply on ${head.slice(0, 12)}${detail ? ` (${detail})` : ''}: rebase the series or check out the base it was written for`,
      );
    }
    for (const s of p.subjects) applied.push({ file: p.file, subject: s });
    log(`patches: applied ${basename(p.file)} (${p.subjects.length} patch${p.subjects.length === 1 ? '' : 'es'})`);
  }
  const newHead = (await git(worktree, ['rev-parse', 'HEAD'], AS_HARNESS)).out.trim();
  return { dir: worktree, branch, head: newHead, applied };
}
