/**
 * A Debian kernel under vng: Debian builds 9p, 9pnet_virtio and overlay as modules, and vng
 * mounts the host's root over 9p, so they must be in vng's own initramfs. vng finds a
 * kernel's modules the way an installed kernel has them: for `--run <root>/boot/vmlinuz-<rel>`
 * it looks for `<root>/lib/modules/<rel>/` (virtme's get_rootfs_from_kernel_path), and picks
 * what its initramfs needs with `modprobe --show-depends` there (its virtmods.MODALIASES:
 * fs-9p, the virtio 9p transport, overlay for its writable overlays). So the kernel's cache
 * entry gets such a root, `vng-root/`, with the modules from the kernel's own package
 * (kernel/modules.ts) and their modules.dep made by depmod once, here, not by vng at boot.
 * vng runs modprobe (kmod) on the host for that: a host without it is refused in one line.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { missingOptions } from '../kernel/config.js';
import { debianKernelModules } from '../kernel/modules.js';
import type { KernelImage } from '../kernel/resolve.js';
import { SetupError } from '../util/errors.js';
import { firstLine } from '../util/first-line.js';
import { withTempDir } from '../util/temp-dir.js';
import { which } from '../util/which.js';

/** What a kernel needs built in to boot under vng: virtio-pci, the agent's virtio-serial. */
export const VNG_BUILT_IN = ['CONFIG_VIRTIO_PCI', 'CONFIG_VIRTIO_CONSOLE'];

/** What vng's initramfs needs from a Debian kernel's package (with their dependencies: netfs, 9pnet). */
export const VNG_DEBIAN_MODULES = ['9p', '9pnet_virtio', 'overlay'];

/** The options vng needs either built in or, for a debian: kernel, from the package as modules. */
export const VNG_MODULE_OPTIONS = ['CONFIG_9P_FS', 'CONFIG_NET_9P', 'CONFIG_NET_9P_VIRTIO'];

/** kmod's tools, where Debian puts them (vng adds /sbin and /usr/sbin to its PATH as well). */
function kmodTool(name: 'depmod' | 'modprobe'): string | undefined {
  return which(name) ?? ['/usr/sbin', '/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));
}

/** The one line that refuses a Debian kernel under vng on this host, or undefined. */
export function kmodRefusal(kernelSpec: string): string | undefined {
  const lacking = (['modprobe', 'depmod'] as const).filter((t) => kmodTool(t) === undefined);
  if (lacking.length === 0) return undefined;
  return `--backend vng with ${kernelSpec} puts the kernel package's 9p modules into vng's initramfs, and vng picks them with modprobe on this host: install kmod (apt-get install kmod; ${lacking.join(' and ')} missing), or use --backend qemu`;
}

/** Whether the kernel's 9p comes as modules from its Debian package. */
export function ninePFromPackage(kernel: Pick<KernelImage, 'source' | 'config'>): boolean {
  return kernel.source === 'debian' && missingOptions(kernel.config, VNG_MODULE_OPTIONS).length > 0;
}

/**
 * The one line that refuses a kernel vng cannot boot with the agent, or undefined: virtio-pci
 * and the virtio channel built in; 9p built in, or a debian: kernel's modules and kmod here.
 */
export function vngKernelRefusal(kernel: Pick<KernelImage, 'source' | 'config' | 'spec'>, channel: string): string | undefined {
  if (channel !== 'virtio') return `--backend vng needs the virtio agent channel, and ${kernel.spec} has ${channel}: build the kernel with vm/config/base.config or use --backend qemu`;
  const lacks = missingOptions(kernel.config, [...VNG_BUILT_IN, ...(kernel.source === 'debian' ? [] : VNG_MODULE_OPTIONS)]);
  if (lacks.length > 0) return `--backend vng shares the host's root over 9p, and ${kernel.spec} lacks ${lacks.join(', ')} built in: build the kernel with vm/config/base.config (bpf-harness kernel build) or use --backend qemu`;
  if (!ninePFromPackage(kernel)) return undefined;
  const asModules = missingOptions(kernel.config, VNG_MODULE_OPTIONS.map((o) => `${o}=m`));
  if (asModules.length > 0) return `--backend vng shares the host's root over 9p, and ${kernel.spec} has ${asModules.join(', ')} neither built in nor as modules: use --backend qemu`;
  return kmodRefusal(kernel.spec);
}

interface RootStamp {
  release: string;
  modules: string[];
}

/**
 * The kernel image to give vng for the debian: kernel whose vmlinuz is `bzImage`: the same
 * image inside `<entry>/vng-root/boot/`, its modules in `<entry>/vng-root/lib/modules/<rel>/`.
 * Made once per cache entry (the package is downloaded the first time, kernel/modules.ts).
 */
export async function vngDebianKernel(bzImage: string, opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const mods = await debianKernelModules(bzImage, VNG_DEBIAN_MODULES, opts);
  const root = join(dirname(bzImage), 'vng-root');
  const kimg = join(root, 'boot', `vmlinuz-${mods.release}`);
  const stampPath = join(root, 'bpfh-vng-root.json');
  const names = mods.files.map((f) => basename(f, '.ko'));
  if (existsSync(stampPath) && existsSync(kimg)) {
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as RootStamp;
    if (stamp.release === mods.release && names.every((n) => stamp.modules.includes(n))) return kimg;
  }
  const depmod = kmodTool('depmod');
  if (!depmod) throw new SetupError(kmodRefusal(bzImage)!);
  return withTempDir(dirname(bzImage), '.tmp-vng-root-', async (tmp) => {
    mkdirSync(join(tmp, 'boot'));
    place(bzImage, join(tmp, 'boot', `vmlinuz-${mods.release}`));
    const modDir = join(tmp, 'lib', 'modules', mods.release);
    mkdirSync(join(modDir, 'kernel'), { recursive: true });
    for (const f of mods.files) place(f, join(modDir, 'kernel', basename(f)));
    const r = await execa(depmod, ['-a', '-b', tmp, mods.release], { reject: false, timeout: 60_000, stdin: 'ignore' });
    if (r.failed || !existsSync(join(modDir, 'modules.dep'))) throw new SetupError(`depmod for vng's modules of ${mods.release} failed: ${firstLine(r.stderr) || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}`);
    const stamp: RootStamp = { release: mods.release, modules: names };
    writeFileSync(join(tmp, 'bpfh-vng-root.json'), `${JSON.stringify(stamp, null, 2)}\n`);
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
    opts.log(`vng: ${mods.release}'s modules for its initramfs (${names.join(', ')}) under ${root}`);
    return kimg;
  });
}

/** A hard link where the filesystem allows it (the same cache entry), else a copy. */
function place(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}
