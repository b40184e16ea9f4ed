// What a build host is asked before anything is sent, and the one-line refusals; the manifest
// diff the syncs are made of. The probe itself runs here, in this machine's shell.
import t from 'tap';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseProbe, PROBE_COMMAND, refusal } from '../../harness/build-host/probe.js';
import { diffManifests, listTree, readManifest, writeManifest } from '../../harness/build-host/sync.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('the probe, run by this machine, and what refuses a host', async (t) => {
  const home = tempDir(t, 'probe-home');
  const f = parseProbe((await execa('sh', ['-c', PROBE_COMMAND], { env: { ...process.env, HOME: home } })).stdout);
  t.equal(f.home, home);
  t.ok(f.nproc >= 1);
  t.match(f.gcc, /^gcc /, "gcc --version's first line");
  t.same(f.missing, [], 'this machine has every tool (npm run setup installs them)');
  t.ok(f.availBytes > 0, 'free space read from df');
  t.equal(refusal('ssh://u@h', f, 0), undefined);
  const url = 'ssh://u@h';
  const lines = [
    refusal(url, { ...f, missing: ['make', 'bc'] }, 0),
    refusal(url, { ...f, missingHeaders: ['gelf.h'] }, 0),
    refusal(url, { ...f, availBytes: 2 ** 30 }, 8 * 2 ** 30),
    refusal(url, { ...f, home: '' }, 0),
    refusal(url, { ...f, availBytes: -1 }, 0),
  ];
  t.match(lines[0], /^ssh:\/\/u@h: the build host lacks make, bc, which the kernel build needs: install them there/);
  t.match(lines[1], /no gelf\.h, .*install libelf-dev there/);
  t.match(lines[2], /has 1\.0 GiB free .* need 8\.0 GiB: free space there/);
  t.match(lines[3], /no home directory/);
  t.match(lines[4], /df on the build host said nothing/);
  for (const l of lines) t.notMatch(l ?? '\n', /\n/, 'one line');
});

t.test('manifests: what changed, what is gone, what stays; saved and read back', async (t) => {
  const dir = tempDir(t, 'manifest');
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, '.git'));
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref\n');
  writeFileSync(join(dir, 'a', 'x.c'), 'int x;\n');
  writeFileSync(join(dir, 'y.sh'), '#!/bin/sh\n', { mode: 0o644 });
  symlinkSync('a/x.c', join(dir, 'link'));
  const before = listTree(dir);
  t.same([...before.keys()].sort(), ['a/x.c', 'link', 'y.sh'], 'files and symlinks, not the top .git');
  t.same(diffManifests(before, listTree(dir)), { send: [], remove: [], bytes: 0 }, 'nothing changed');
  utimesSync(join(dir, 'a', 'x.c'), new Date(), new Date(Date.now() + 5000));
  await execa('chmod', ['+x', join(dir, 'y.sh')]);
  writeFileSync(join(dir, 'new.h'), '#define N\n');
  await execa('rm', [join(dir, 'link')]);
  const d = diffManifests(before, listTree(dir));
  t.same(d.send, ['a/x.c', 'new.h', 'y.sh'], 'a new mtime, a new mode, a new file');
  t.same(d.remove, ['link']);
  t.equal(d.bytes, 7 + 10 + 10);
  const path = join(dir, 'saved');
  writeManifest(path, { token: 'abc', entries: before });
  t.same(readManifest(path), { token: 'abc', entries: before });
  t.equal(readManifest(join(dir, 'none')), undefined);
});
