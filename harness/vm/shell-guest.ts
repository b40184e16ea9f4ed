/**
 * vm-test's guest made reachable for a shell (`vm-test --shell-on-fail`, `shell --after`): the
 * usual initramfs plus what ssh-guest.ts gives the shell's own guest (the host's sshd, keys of
 * this run only, the kernel's network modules, one port of 127.0.0.1 forwarded to its port 22)
 * and Debian's bpftool (guest-bpftool.ts). The image holds this run's keys, so it goes to the
 * run's own temporary directory, not the initramfs cache; remove() takes it away. Under vng no
 * image of ours boots: the host's own sshd runs in the guest beside the agent with what that
 * directory holds (ssh-guest.ts writeVngSshdDir, vm/vng-guest.sh --sshd), bpftool on its PATH.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { KernelImage } from '../kernel/resolve.js';
import { exitSafeTempDir, removeTempDir } from '../util/temp-dir.js';
import { guestBpftoolEntries, hostBpftoolWrapper } from './guest-bpftool.js';
import { guestEntries } from './guest-image.js';
import { withParentDirs, writeNewc, type CpioEntry } from './initramfs.js';
import { freeLoopbackPort, type GuestNetwork } from './network.js';
import { generateKeys, knownHostsLine, networkModules, sshdEntries, writeVngSshdDir } from './ssh-guest.js';

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
  /** The initramfs to boot; none under vng, which boots the host's root. */
  image?: string;
  network: GuestNetwork;
  /** The kernel command line words that start the sshd (the qemu guest's init). */
  append: string[];
  /** Under vng: the directory vng-guest.sh --sshd starts the sshd with. */
  vngSshdDir?: string;
  /** Removes the keys and the image (also done at exit). */
  remove(): void;
}

/** `extra`: the entries vm-test adds anyway (the selftests' libraries, the test module); `backend`: the one that boots it. */
export async function prepareShellGuest(kernel: KernelImage, extra: readonly CpioEntry[], opts: { mirror?: string; log: (line: string) => void; backend: 'qemu' | 'vng' }): Promise<ShellGuest> {
  const modules = await networkModules(kernel, { kernel: kernel.spec, mirror: opts.mirror, log: opts.log });
  const vng = opts.backend === 'vng';
  const tools = vng ? [] : await guestBpftoolEntries(opts);
  const wrapper = vng ? await hostBpftoolWrapper(opts) : undefined;
  const dir = exitSafeTempDir(tmpdir(), `bpfh-shell-guest-${process.pid}-`);
  const remove = (): void => removeTempDir(dir);
  try {
    const keys = await generateKeys(dir);
    const port = await freeLoopbackPort();
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `${knownHostsLine(port, keys.hostPublic)}\n`);
    const common = { access: { port, userKey: keys.userKey, knownHosts }, network: { hostPort: port, guestPort: 22 }, remove };
    if (vng) {
      writeVngSshdDir(dir, keys, modules, wrapper);
      return { ...common, append: [], vngSshdDir: dir };
    }
    const base = guestEntries();
    const have = new Set(base.map((e) => e.path));
    const entries = [...base, ...[...extra, ...sshdEntries(keys, modules), ...tools].filter((e) => !have.has(e.path))];
    const image = join(dir, 'initramfs.cpio.gz');
    writeFileSync(image, gzipSync(writeNewc(withParentDirs(entries)), { level: 1 }));
    return { ...common, image, append: ['bpfh.sshd=on'] };
  } catch (err) {
    remove();
    throw err;
  }
}
