/**
 * The bisect's worktree of the user's tree (never their checkout): one bisect per worktree (a
 * lock file holding the pid; a stale one, of a bisect that died, is cleaned up), removed at the
 * end after `git bisect reset`, also on Ctrl-C and on a deadline.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../util/children.js';
import { SetupError } from '../util/errors.js';
import { git } from '../util/git.js';
import { gitSync } from './git.js';

export interface BisectWorktree {
  path: string;
  /** Removes the worktree and the lock; once, however often called. Synchronous: it runs in signal handlers. */
  remove(): void;
}

/** Takes the worktree's lock and clears what an interrupted bisect left there. */
export function claimWorktree(tree: string, worktree: string, log: (line: string) => void): BisectWorktree {
  mkdirSync(join(worktree, '..'), { recursive: true });
  const lock = `${worktree}.lock`;
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (pid > 0 && pid !== process.pid && pidAlive(pid)) throw new SetupError(`another bisect of ${tree} (pid ${pid}) is running in ${worktree}: wait for it, or stop it with Ctrl-C`);
  }
  writeFileSync(lock, `${process.pid}\n`);
  let cleaned = false;
  const remove = (): void => {
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
    remove();
    cleaned = false;
    writeFileSync(lock, `${process.pid}\n`);
  }
  gitSync(tree, ['worktree', 'prune']);
  return { path: worktree, remove };
}

/** The worktree at the bad end, with the bisect started between the two ends. */
export async function startBisect(tree: string, worktree: string, good: string, bad: string): Promise<void> {
  const add = await git(tree, ['worktree', 'add', '--detach', worktree, bad]);
  if (!add.ok) throw new SetupError(`git worktree add ${worktree} failed: ${add.err.split('\n').pop()}: delete it and run git worktree prune in ${tree}`);
  const start = await git(worktree, ['bisect', 'start', bad, good]);
  if (!start.ok) throw new SetupError(`git bisect start failed in ${worktree}: ${start.err.split('\n').pop()}`);
}
