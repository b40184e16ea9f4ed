// The shared libraries a dynamically linked host program needs in the initramfs guest, read
// from the real ldd of this machine.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
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
