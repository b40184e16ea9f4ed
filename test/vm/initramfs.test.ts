// The initramfs writer against the system's own cpio(1): what GNU cpio lists and extracts is
// what the kernel's initramfs unpacker (same newc format) will see.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cachedInitramfs, readNewc, withParentDirs, writeNewc, type CpioEntry } from '../../harness/vm/initramfs.js';
import { tempDir } from '../helpers/temp-dir.js';

const entries: CpioEntry[] = [
  { path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
  { path: 'bin/odd-size', type: 'file', mode: 0o644, data: Buffer.alloc(4099, 7) },
  { path: 'bin/sh', type: 'symlink', mode: 0o777, data: Buffer.from('busybox') },
  { path: 'dev/console', type: 'chardev', mode: 0o600, rdev: { major: 5, minor: 1 } },
];

t.test('round trip through our own reader', async (t) => {
  const back = readNewc(writeNewc(withParentDirs(entries)));
  t.same(back.map((e) => e.path).sort(), ['bin', 'bin/odd-size', 'bin/sh', 'dev', 'dev/console', 'init']);
  const odd = back.find((e) => e.path === 'bin/odd-size');
  t.equal(odd?.data?.length, 4099);
  t.same(back.find((e) => e.path === 'dev/console')?.rdev, { major: 5, minor: 1 });
});

t.test('GNU cpio lists and extracts it', { skip: hasCpio() ? false : 'no cpio(1) on this host' }, async (t) => {
  const dir = tempDir(t, 'cpio');
  const archive = join(dir, 'a.cpio');
  writeFileSync(archive, writeNewc(withParentDirs(entries.filter((e) => e.type !== 'chardev'))));
  const listing = execFileSync('cpio', ['-t', '--quiet', '-F', archive], { encoding: 'utf8' }).trim().split('\n').sort();
  t.same(listing, ['bin', 'bin/odd-size', 'bin/sh', 'init']);
  const out = join(dir, 'x');
  execFileSync('mkdir', [out]);
  execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '-F', archive], { cwd: out });
  t.equal(readFileSync(join(out, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.equal(statSync(join(out, 'init')).mode & 0o777, 0o755);
  t.equal(readlinkSync(join(out, 'bin/sh')), 'busybox');
});

t.test('cached by content: same entries reuse, changed entries rebuild', async (t) => {
  const cache = tempDir(t, 'initrd');
  const a = cachedInitramfs(entries, cache);
  const b = cachedInitramfs(entries, cache);
  t.equal(a.reused, false);
  t.equal(b.reused, true);
  t.equal(a.path, b.path);
  const changed = cachedInitramfs([...entries, { path: 'etc/x', type: 'file', mode: 0o644, data: Buffer.from('x') }], cache);
  t.not(changed.path, a.path);
  t.ok(readNewc(gunzipSync(readFileSync(a.path))).some((e) => e.path === 'init'));
});

function hasCpio(): boolean {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
