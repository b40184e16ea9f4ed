/** A real, small git repository for tests: one commit of a.c on branch main, removed when `t` ends. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { tempDir, type Teardown } from './temp-dir.js';

export function gitRepo(t: Teardown, tag: string): string {
  const d = tempDir(t, tag);
  const g = (...a: string[]): void => void execaSync('git', ['-C', d, ...a], { env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  g('init', '-q', '-b', 'main');
  writeFileSync(join(d, 'a.c'), 'int a;\n');
  g('add', '.');
  g('commit', '-qm', 'first');
  return d;
}

/**
 * A kernel-looking git repository at `dir` with three commits (Makefile, Kconfig,
 * arch/x86/Kconfig): enough for `bisect --tree` to take it and start, nothing that builds.
 */
export function threeCommitKernelRepo(dir: string): string {
  mkdirSync(join(dir, 'arch', 'x86'), { recursive: true });
  const g = (...a: string[]): void => void execaSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...a]);
  g('init', '-q');
  for (const [i, f] of ['Makefile', 'Kconfig', 'arch/x86/Kconfig'].entries()) {
    writeFileSync(join(dir, f), `# ${i}\n`);
    g('add', f);
    g('commit', '-q', '-m', `c${i}`);
  }
  return dir;
}
