/**
 * The vng backend: QEMU launched by virtme-ng (vm/vng.ts), the host's root as the guest's over
 * 9p. The kernel must have 9p built in, or be a debian: kernel whose 9p modules come from its
 * package into vng's initramfs (vm/vng-modules.ts); virtio-pci and the agent's virtio channel
 * built in.
 */
import { missingOptions } from '../kernel/config.js';
import { loadNodePty } from '../util/node-pty.js';
import { bpfBuildDir, vmDir } from '../util/paths.js';
import { BOOT_ATTEMPTS, bootGuestRetrying } from '../vm/session.js';
import { vngLauncher, type Vng } from '../vm/vng.js';
import { kmodRefusal, vngDebianKernel, VNG_MODULE_OPTIONS } from '../vm/vng-modules.js';
import { localGuest, type Backend, type LocalGuest } from './backend.js';

/** What a kernel needs built in to boot under vng: virtio-pci, the agent's virtio-serial. */
export const VNG_BUILT_IN = ['CONFIG_VIRTIO_PCI', 'CONFIG_VIRTIO_CONSOLE'];

export const VNG_DESCRIBE = 'virtme-ng: the host root is the guest root over 9p (built in, or a debian: kernel\'s modules from its package)';

/** Whether the kernel's 9p comes as modules from its Debian package (vm/vng-modules.ts). */
function ninePFromPackage(g: LocalGuest): boolean {
  return g.kernel.source === 'debian' && missingOptions(g.kernel.config, VNG_MODULE_OPTIONS).length > 0;
}

/** The refusal of a kernel vng cannot boot with the agent, or undefined. */
export function vngRefusal(g: LocalGuest): string | undefined {
  if (g.spec.channel !== 'virtio') return `--backend vng needs the virtio agent channel, and ${g.kernel.spec} has ${g.spec.channel}: build the kernel with vm/config/base.config or use --backend qemu`;
  const lacks = missingOptions(g.kernel.config, [...VNG_BUILT_IN, ...(g.kernel.source === 'debian' ? [] : VNG_MODULE_OPTIONS)]);
  if (lacks.length > 0) return `--backend vng shares the host's root over 9p, and ${g.kernel.spec} lacks ${lacks.join(', ')} built in: build the kernel with vm/config/base.config (bpf-harness kernel build) or use --backend qemu`;
  if (ninePFromPackage(g)) {
    const asModules = missingOptions(g.kernel.config, VNG_MODULE_OPTIONS.map((o) => `${o}=m`));
    if (asModules.length > 0) return `--backend vng shares the host's root over 9p, and ${g.kernel.spec} has ${asModules.join(', ')} neither built in nor as modules: use --backend qemu`;
    return kmodRefusal(g.kernel.spec);
  }
  return undefined;
}

/** The vng backend with a located vng; `mirror` for a Debian kernel's modules package. */
export function vngBackend(vng: Vng, opts: { mirror?: string } = {}): Backend<LocalGuest> {
  const dirs = { vmDir, bpfBuildDir };
  return {
    name: 'vng',
    describe: VNG_DESCRIBE,
    refusal: vngRefusal,
    prepare: async (g, log) => {
      // vng runs in a pseudo-terminal: without node-pty, one line now rather than at the boot.
      await loadNodePty();
      const modules = ninePFromPackage(g) ? { kimg: await vngDebianKernel(g.kernel.bzImage, { mirror: opts.mirror, log }) } : undefined;
      const launcher = vngLauncher(vng, dirs, modules);
      return localGuest('vng', g, (boot, bootLog) => bootGuestRetrying(g.spec, { ...boot, launcher }, BOOT_ATTEMPTS, bootLog));
    },
  };
}
