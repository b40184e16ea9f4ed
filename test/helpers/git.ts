/** A real, small git repository for tests: one commit of a.c on branch main. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';

export function gitRepo(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `bpfh-${tag}-`));
  const g = (...a: string[]): void => void execaSync('git', ['-C', d, ...a], { env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  g('init', '-q', '-b', 'main');
  writeFileSync(join(d, 'a.c'), 'int a;\n');
  g('add', '.');
  g('commit', '-qm', 'first');
  return d;
}
