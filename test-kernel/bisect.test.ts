/**
 * npm run test:kernel: bisect on a real kernel history. A copy of Debian's linux-source-7.3 is
 * made a git repository (good), then a short series goes on top: two harmless commits, the
 * planted fault (bpf_local_storage_map_free() stops unlinking the map's elements, so they stay
 * linked on live owners: the inspector and optmem catch it), two more. bisect must name the
 * fault. Every step builds incrementally in one O= directory, boots under TCG and runs one
 * scenario at small sizes.
 *
 * It takes a base build of the tree (35 to 70 minutes on 2 cores) plus about three incremental
 * builds and boots: on 2026-11-26 here, 46 min in all (step 1 with the full build 28 min; the
 * fault's step 11.7 min, its build competing with other work; each step 2-4 min otherwise).
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { ensureLinuxSource } from '../harness/kernel-build/linux-source.js';
import type { BisectResult } from '../harness/bisect/bisect.js';
import { runCli } from '../test/helpers/cli.js';

t.test('bisect finds a planted fault in a real kernel series', async (t) => {
  const log = (l: string): void => t.comment(l);
  const src = await ensureLinuxSource('7.3', { log });
  const tree = join(mkdtempSync(join(tmpdir(), 'bpfh-kbisect-')), 'linux');
  cpSync(src.tree, tree, { recursive: true });
  const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  const git = (...a: string[]): string => String(execaSync('git', ['-C', tree, ...a], { env, maxBuffer: 1 << 30 }).stdout).trim();
  // Debian's linux-source ends its .gitignore with "/*" (its packaging keeps only debian/ in
  // git): a kernel git tree has no such lines.
  const gitignore = join(tree, '.gitignore');
  writeFileSync(gitignore, readFileSync(gitignore, 'utf8').replace(/\n#\n# Debian packaging:[^]*$/, '\n'));
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'linux-source-7.3');
  const good = git('rev-parse', 'HEAD');
  const file = join(tree, 'kernel', 'bpf', 'bpf_local_storage.c');
  const edit = (subject: string, fn: (s: string) => string): string => {
    writeFileSync(file, fn(readFileSync(file, 'utf8')));
    git('commit', '-qam', subject);
    return git('rev-parse', 'HEAD');
  };
  edit('bpf: comment one', (s) => s.replace('/* No one is adding to b->list now */', '/* No one is adding to b->list now (1) */'));
  edit('bpf: comment two', (s) => s.replace('(1) */', '(2) */'));
  const fault = edit('bpf: planted fault: map free leaves elements linked', (s) => s.replace('\t\t\tbpf_selem_unlink_nofail(selem, b);', '\t\t\tif (0)\n\t\t\t\tbpf_selem_unlink_nofail(selem, b);'));
  edit('bpf: comment three', (s) => s.replace('(2) */', '(3) */'));
  const bad = edit('bpf: comment four', (s) => s.replace('(3) */', '(4) */'));

  const r = runCli(['bisect', '--tree', tree, '--good', good, '--bad', bad, '--scenario', 'sk-map-free-live-owners', '--sizes', 'small', '--accel', 'tcg', '--json'], 6 * 60 * 60_000);
  const result = JSON.parse(r.stdout) as BisectResult;
  for (const s of result.steps) t.comment(`step ${s.step} ${s.commit.slice(0, 12)} ${s.verdict} in ${(s.elapsedMs / 1000).toFixed(0)} s: ${s.subject}`);
  t.equal(result.outcome, 'found');
  t.equal(result.firstBad?.commit, fault);
  t.equal(r.status, 0);
});
