/**
 * The vng backend: QEMU launched by virtme-ng (vm/vng.ts), the host's root as the guest's over
 * 9p. The kernel must have 9p built in, or be a debian: kernel whose 9p modules come from its
 * package into vng's initramfs (vm/vng-modules.ts); virtio-pci and the agent's virtio channel
 * built in.
 */
import { loadNodePty } from '../util/node-pty.js';
import { bpfBuildDir, vmDir } from '../util/paths.js';
import { BOOT_ATTEMPTS, bootGuestRetrying } from '../vm/session.js';
import { vngLauncher, type Vng } from '../vm/vng.js';
import { ninePFromPackage, vngDebianKernel, vngKernelRefusal } from '../vm/vng-modules.js';
import { localGuest, type Backend, type LocalGuest } from './backend.js';

export { VNG_BUILT_IN } from '../vm/vng-modules.js';

export const VNG_DESCRIBE = 'virtme-ng: the host root is the guest root over 9p (built in, or a debian: kernel\'s modules from its package)';

/** The refusal of a kernel vng cannot boot with the agent, or undefined (vm/vng-modules.ts). */
export function vngRefusal(g: LocalGuest): string | undefined {
  return vngKernelRefusal(g.kernel, g.spec.channel);
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
      const modules = ninePFromPackage(g.kernel) ? { kimg: await vngDebianKernel(g.kernel.bzImage, { mirror: opts.mirror, log }) } : undefined;
      const launcher = vngLauncher(vng, dirs, { modules, sshdDir: g.sshdDir });
      return localGuest('vng', g, (boot, bootLog) => bootGuestRetrying(g.spec, { ...boot, launcher }, BOOT_ATTEMPTS, bootLog));
    },
  };
}
