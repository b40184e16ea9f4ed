/** `bpf-harness kernel build` on bad input: one line naming the fix, exit 2, nothing built. */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The stderr's lines: a bad input gets exactly one. */
const lines = (stderr: string): string[] => stderr.trim().split('\n');

t.test('not a kernel tree', async (t) => {
  const r = runCli(['kernel', 'build', '--tree', '/nonexistent/linux'], 60_000);
  t.equal(r.status, 2);
  t.equal(lines(r.stderr).length, 1, `one line: ${r.stderr.trim()}`);
  t.match(r.stderr.trim(), /^bpf-harness: \/nonexistent\/linux is not a kernel source tree \(no Makefile, Kconfig and arch\/x86\): give the top directory of a Linux tree$/);
});

t.test('a tree with an in-tree build', async (t) => {
  const d = tempDir(t, 'intree');
  for (const f of ['Makefile', 'Kconfig', '.config']) writeFileSync(join(d, f), '\n');
  mkdirSync(join(d, 'arch', 'x86'), { recursive: true });
  const r = runCli(['kernel', 'build', '--tree', d, '--out', join(d, '..', `${d.split('/').pop()}-out`)], 60_000);
  t.equal(r.status, 2);
  t.equal(lines(r.stderr).length, 1, `one line: ${r.stderr.trim()}`);
  t.match(r.stderr.trim(), /has an in-tree build \(\.config\).*make -C .* mrproper, and pass the saved file with --config$/);
});

t.test('missing --tree, unknown action, bad --jobs, bad --patches', async (t) => {
  let r = runCli(['kernel', 'build'], 60_000);
  t.equal(r.status, 2);
  t.match(r.stderr, /give --tree <kernel source tree>/);
  r = runCli(['kernel', 'frobnicate', '--tree', '/tmp'], 60_000);
  t.equal(r.status, 2);
  t.match(r.stderr, /Invalid values:[\s\S]*action/);
  const d = tempDir(t, 'jobs');
  for (const f of ['Makefile', 'Kconfig']) writeFileSync(join(d, f), '\n');
  mkdirSync(join(d, 'arch', 'x86'), { recursive: true });
  r = runCli(['kernel', 'build', '--tree', d, '--jobs', '0'], 60_000);
  t.equal(r.status, 2);
  t.equal(lines(r.stderr).length, 1, `one line: ${r.stderr.trim()}`);
  t.match(r.stderr.trim(), /^bpf-harness: --jobs 0: give a whole number from 1 to 1024 \(make jobs\)$/);
  r = runCli(['kernel', 'build', '--tree', d, '--patches', join(d, 'nope.mbox')], 60_000);
  t.equal(r.status, 2);
  t.equal(lines(r.stderr).length, 1, `one line: ${r.stderr.trim()}`);
  t.match(r.stderr.trim(), /--patches .*nope\.mbox: cannot read it \(ENOENT\): give an mbox file, as b4 am writes it$/);
});
