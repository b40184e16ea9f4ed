/**
 * What the guest runs: busybox (static, for the init script's tools), vm/init.sh as /init, the
 * static agent and the BPF objects. The initramfs is cached by content, so an unchanged agent
 * and init reuse the same image.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../util/errors.js';
import { bpfBuildDir, cacheDir, vmDir } from '../util/paths.js';
import { cachedInitramfs, fileEntry, type CpioEntry } from './initramfs.js';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

function staticBusybox(): string {
  const found = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new SetupError('no busybox found: install busybox-static (apt-get install busybox-static)');
  return found;
}

export function guestEntries(): CpioEntry[] {
  const agent = join(bpfBuildDir, 'bpf-agent');
  if (!existsSync(agent)) throw new SetupError(`${agent} is missing: build it with 'make -C bpf' (npm run setup does)`);
  const objects = readdirSync(bpfBuildDir).filter((f) => f.endsWith('.bpf.o'));
  if (objects.length === 0) throw new SetupError(`no BPF objects in ${bpfBuildDir}: build them with 'make -C bpf'`);
  return [
    fileEntry('init', join(vmDir, 'init.sh')),
    fileEntry('bin/busybox', staticBusybox()),
    fileEntry('bin/bpf-agent', agent),
    ...objects.map((o) => fileEntry(`bpf/${o}`, join(bpfBuildDir, o), 0o644)),
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    { path: 'dev/console', type: 'chardev', mode: 0o600, rdev: { major: 5, minor: 1 } },
    { path: 'sys/fs/cgroup', type: 'dir', mode: 0o755 },
    { path: 'sys/fs/bpf', type: 'dir', mode: 0o755 },
  ];
}

export function buildGuestInitramfs(): { path: string; hash: string; reused: boolean } {
  return cachedInitramfs(guestEntries(), join(cacheDir(), 'initramfs'));
}
