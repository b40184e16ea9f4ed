/** git's synchronous calls for a bisect's cleanup (util/git.ts runs the others): C locale, a deadline. */
import { spawnSync } from 'node:child_process';

export const GIT_TIMEOUT_MS = 120_000;

/** Output ignored: for cleanup on the way out (also inside a signal handler). */
export function gitSync(cwd: string, args: string[]): void {
  spawnSync('git', args, { cwd, stdio: 'ignore', timeout: GIT_TIMEOUT_MS, env: { ...process.env, LC_ALL: 'C' } });
}
