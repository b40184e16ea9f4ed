/**
 * What the BPF selftests need in the initramfs guest besides their own directory (a 9p share):
 * the shared libraries of the runners, and the few host programs the tests run themselves
 * where busybox's applets will not do.
 */
import { existsSync, realpathSync } from 'node:fs';
import type { CpioEntry } from '../vm/initramfs.js';
import { fileEntry } from '../vm/initramfs.js';
import { sharedLibraryEntries } from '../vm/guest-image.js';
import type { BuiltSelftests } from './build.js';

/**
 * test_local_storage copies /bin/rm and runs the copy to unlink itself: busybox's rm is a
 * symlink to the multi-call binary, whose copy knows no applet called copy_of_rm (exit 127).
 * The host's rm goes to /bin/rm (vm/init.sh's busybox --install keeps files it finds).
 */
const HOST_PROGRAMS = [{ guest: 'bin/rm', candidates: ['/usr/bin/rm', '/bin/rm'] }];

export function selftestsGuestFiles(built: BuiltSelftests): CpioEntry[] {
  const programs = HOST_PROGRAMS.flatMap((p) => {
    const host = p.candidates.find((c) => existsSync(c));
    return host ? [{ entry: fileEntry(p.guest, realpathSync(host)), host }] : [];
  });
  return [...programs.map((p) => p.entry), ...sharedLibraryEntries([built.testProgs, built.mapTestRunner, ...programs.map((p) => p.host)])];
}
