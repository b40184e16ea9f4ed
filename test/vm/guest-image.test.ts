// The shared libraries a dynamically linked host program needs in the initramfs guest, read
// from the real ldd of this machine.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { which } from '../../harness/util/which.js';
import { tempDir } from '../helpers/temp-dir.js';
import { parseLdd, sharedLibraryEntries } from '../../harness/vm/guest-image.js';
import { SetupError } from '../../harness/util/errors.js';

t.test('ldd output of a real program', async (t) => {
  const text = execFileSync('ldd', ['/bin/ls'], { encoding: 'utf8' });
  const libs = parseLdd(text);
  t.ok(libs.some((p) => /\/libc\.so\.6$/.test(p)), 'libc');
  t.ok(libs.some((p) => /ld-linux-x86-64\.so\.2$/.test(p)), 'the loader, which ldd lists without =>');
  t.notOk(libs.some((p) => p.includes('vdso')), 'the vDSO has no file');
  t.ok(libs.every((p) => p.startsWith('/') && existsSync(p)));
  t.same(parseLdd('\tlinux-vdso.so.1 (0x00007ffd)\n\tnot a dynamic executable\n'), []);
});

t.test('initramfs entries hold the files the loader resolves to', async (t) => {
  const entries = sharedLibraryEntries(['/bin/ls']);
  const libc = entries.find((e) => /\/libc\.so\.6$/.test(e.path));
  t.ok(libc, 'libc is packed');
  t.notOk(libc!.path.startsWith('/'), 'cpio paths are relative to the root');
  t.equal(libc!.type, 'file', 'a symlink on the host is packed as the file it points at');
  t.equal(libc!.data!.length, statSync(realpathSync(`/${libc!.path}`)).size);
  t.throws(() => sharedLibraryEntries(['/no/such/binary']), SetupError);
});

// A runner linked where a library (or a symbol version of it) exists that this machine lacks,
// as test_progs linked on a newer build host would be: made here with gcc, a library with a
// version script, then the library taken away or replaced by an older version of itself.
t.test('a program this machine\'s libraries cannot start is one line before any boot', { skip: which('gcc') ? false : 'no gcc' }, async (t) => {
  const dir = tempDir(t, 'ldd');
  const cc = (args: string[]): void => void execFileSync('gcc', args, { cwd: dir, stdio: 'pipe', timeout: 60_000 });
  writeFileSync(join(dir, 'foo.c'), 'int foo(void) { return 1; }\n');
  writeFileSync(join(dir, 'new.map'), 'FOO_2 { global: foo; local: *; };\n');
  writeFileSync(join(dir, 'old.map'), 'FOO_1 { global: foo; local: *; };\n');
  writeFileSync(join(dir, 'main.c'), 'int foo(void);\nint main(void) { return foo(); }\n');
  cc(['-shared', '-fPIC', '-Wl,--version-script=new.map', '-Wl,-soname,libfoo.so.1', '-o', 'libfoo.so.1', 'foo.c']);
  symlinkSync('libfoo.so.1', join(dir, 'libfoo.so'));
  cc(['-o', 'prog', 'main.c', '-L.', '-lfoo', `-Wl,-rpath,${dir}`]);
  t.ok(sharedLibraryEntries([join(dir, 'prog')]).some((e) => e.path.endsWith('libfoo.so.1')), 'with its library it is packed');
  cc(['-shared', '-fPIC', '-Wl,--version-script=old.map', '-Wl,-soname,libfoo.so.1', '-o', 'libfoo.so.1', 'foo.c']);
  t.throws(() => sharedLibraryEntries([join(dir, 'prog')]), /prog cannot start with this machine's libraries, which the guest gets: .*version `FOO_2' not found.*: install what it lacks here/);
  rmSync(join(dir, 'libfoo.so.1'));
  t.throws(() => sharedLibraryEntries([join(dir, 'prog')]), /libfoo\.so\.1 => not found/);
});
