/** A real, small git repository for tests: one commit of a.c on branch main, removed when `t` ends. */
import { writeFileSync } from 'node:fs';
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
