/**
 * vm-test's guest made reachable for a shell (`vm-test --shell-on-fail`, `shell --after`): the
 * usual initramfs plus what ssh-guest.ts gives the shell's own guest (the host's sshd, keys of
 * this run only, the kernel's network modules, one port of 127.0.0.1 forwarded to its port 22)
 * and Debian's bpftool (guest-bpftool.ts). The image holds this run's keys, so it goes to the
 * run's own temporary directory, not the initramfs cache; remove() takes it away.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { KernelImage } from '../kernel/resolve.js';
import { exitSafeTempDir, removeTempDir } from '../util/temp-dir.js';
import { guestBpftoolEntries } from './guest-bpftool.js';
import { guestEntries } from './guest-image.js';
import { withParentDirs, writeNewc, type CpioEntry } from './initramfs.js';
import { freeLoopbackPort, type GuestNetwork } from './network.js';
import { generateKeys, knownHostsLine, networkModules, sshdEntries } from './ssh-guest.js';

/** What the shell needs to log into the guest. */
export interface ShellAccess {
  port: number;
  /** The private key root's authorized_keys accepts. */
  userKey: string;
  /** A known_hosts file with the guest's host key (never accept another). */
  knownHosts: string;
}

export interface ShellGuest {
  access: ShellAccess;
  /** The initramfs to boot. */
  image: string;
  network: GuestNetwork;
  /** The kernel command line words that start the sshd. */
  append: string[];
  /** Removes the keys and the image (also done at exit). */
  remove(): void;
}

/** `extra`: the entries vm-test adds anyway (the selftests' libraries, the test module). */
export async function prepareShellGuest(kernel: KernelImage, extra: readonly CpioEntry[], opts: { mirror?: string; log: (line: string) => void }): Promise<ShellGuest> {
  const modules = await networkModules(kernel, { kernel: kernel.spec, mirror: opts.mirror, log: opts.log });
  const tools = await guestBpftoolEntries(opts);
  const dir = exitSafeTempDir(tmpdir(), `bpfh-shell-guest-${process.pid}-`);
  const remove = (): void => removeTempDir(dir);
  try {
    const keys = await generateKeys(dir);
    const base = guestEntries();
    const have = new Set(base.map((e) => e.path));
    const entries = [...base, ...[...extra, ...sshdEntries(keys, modules), ...tools].filter((e) => !have.has(e.path))];
    const image = join(dir, 'initramfs.cpio.gz');
    writeFileSync(image, gzipSync(writeNewc(withParentDirs(entries)), { level: 1 }));
    const port = await freeLoopbackPort();
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `${knownHostsLine(port, keys.hostPublic)}\n`);
    return {
      access: { port, userKey: keys.userKey, knownHosts },
      image,
      network: { hostPort: port, guestPort: 22 },
      append: ['bpfh.sshd=on'],
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}
