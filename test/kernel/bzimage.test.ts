import t from 'tap';
import { openSync, readSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBzImageInfo, releaseOf } from '../../harness/kernel/bzimage.js';
import { SetupError } from '../../harness/util/errors.js';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixture = (name: string): string => join(projectRoot, 'test', 'fixtures', 'kernel', name);

const dir = tempDir(t, 'bzimage');

t.test("a real bzImage's first 64 KiB: only the header is read", async (t) => {
  const info = readBzImageInfo(fixture('vmlinuz-7.3-amd64.head64k'));
  t.equal(info.protocol, '2.15');
  t.match(info.version, /^7\.3-amd64 \(debian-kernel@[^)]+\) #1 SMP PREEMPT_DYNAMIC Debian 7\.3~rc7-1~exp1 \(2026-10-16\)$/);
  t.equal(releaseOf(info.version), '7.3-amd64');
});

t.test('a prefix just covering the setup header is enough; one cut inside it is not', async (t) => {
  const full = readFileSync(fixture('vmlinuz-7.3-amd64.head64k'));
  const sects = full[0x1f1]!;
  const setup = (sects + 1) * 512;
  writeFileSync(join(dir, 'setup-only'), full.subarray(0, setup));
  t.equal(readBzImageInfo(join(dir, 'setup-only')).version, readBzImageInfo(fixture('vmlinuz-7.3-amd64.head64k')).version);
  writeFileSync(join(dir, 'cut'), full.subarray(0, 0x400));
  t.throws(() => readBzImageInfo(join(dir, 'cut')), { name: 'SetupError', message: /is not an x86 bzImage \(the kernel version string lies outside/ });
});

t.test('a text file is refused with the fix named', async (t) => {
  const p = join(dir, 'notes.txt');
  writeFileSync(p, 'this is not a kernel\n'.repeat(100));
  t.throws(() => readBzImageInfo(p), new SetupError(`${p} is not an x86 bzImage (no HdrS boot header): give a bzImage, a kernel build tree or debian:<series>`));
});

t.test('an ELF file (a vmlinux, say) is refused', async (t) => {
  // The node binary is a real ELF executable; its first 4 KiB will do.
  const buf = Buffer.alloc(4096);
  const fd = openSync(process.execPath, 'r');
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  t.equal(buf.subarray(0, 4).toString('latin1'), '\x7fELF');
  const p = join(dir, 'vmlinux');
  writeFileSync(p, buf.subarray(0, n));
  t.throws(() => readBzImageInfo(p), { name: 'SetupError', message: /^\S+vmlinux is not an x86 bzImage \(no HdrS boot header; it is an ELF file.*: give a bzImage, a kernel build tree or debian:<series>$/ });
});

t.test('an old zImage (HdrS but not loaded high) and tiny or absent files are refused', async (t) => {
  const z = Buffer.from(readFileSync(fixture('vmlinuz-7.3-amd64.head64k')));
  z[0x211] = z[0x211]! & ~1;
  writeFileSync(join(dir, 'zImage'), z);
  t.throws(() => readBzImageInfo(join(dir, 'zImage')), { message: /not an x86 bzImage \(a zImage/ });
  writeFileSync(join(dir, 'empty'), '');
  t.throws(() => readBzImageInfo(join(dir, 'empty')), { message: /no HdrS boot header/ });
  t.throws(() => readBzImageInfo(join(dir, 'absent')), { name: 'SetupError', message: /cannot be read \(ENOENT\)/ });
  t.throws(() => readBzImageInfo(dir), { name: 'SetupError', message: /not a regular file|cannot be read/ });
});
