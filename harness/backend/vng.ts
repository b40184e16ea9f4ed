/**
 * The vng backend: QEMU launched by virtme-ng (vm/vng.ts), the host's root as the guest's over
 * 9p. The kernel must have what that takes built in, and the agent's virtio channel.
 */
import { missingOptions } from '../kernel/config.js';
import { bpfBuildDir, vmDir } from '../util/paths.js';
import { BOOT_ATTEMPTS, bootGuestRetrying } from '../vm/session.js';
import { vngLauncher, type Vng } from '../vm/vng.js';
import { localGuest, type Backend, type LocalGuest } from './backend.js';

/** What a kernel needs built in to boot under vng: the host's root over 9p, virtio-serial. */
export const VNG_NEEDS = ['CONFIG_9P_FS', 'CONFIG_NET_9P', 'CONFIG_NET_9P_VIRTIO', 'CONFIG_VIRTIO_PCI', 'CONFIG_VIRTIO_CONSOLE'];

export const VNG_DESCRIBE = 'virtme-ng: the host root is the guest root, the kernel has 9p built in';

/** The refusal of a kernel vng cannot boot with the agent, or undefined. */
export function vngRefusal(g: LocalGuest): string | undefined {
  if (g.spec.channel !== 'virtio') return `--backend vng needs the virtio agent channel, and ${g.kernel.spec} has ${g.spec.channel}: build the kernel with vm/config/base.config or use --backend qemu`;
  const lacks = missingOptions(g.kernel.config, VNG_NEEDS);
  if (lacks.length > 0) return `--backend vng shares the host's root over 9p, and ${g.kernel.spec} lacks ${lacks.join(', ')} built in: build the kernel with vm/config/base.config (bpf-harness kernel build) or use --backend qemu`;
  return undefined;
}

/** The vng backend with a located vng. */
export function vngBackend(vng: Vng): Backend<LocalGuest> {
  const launcher = vngLauncher(vng, { vmDir, bpfBuildDir });
  return {
    name: 'vng',
    describe: VNG_DESCRIBE,
    refusal: vngRefusal,
    prepare: async (g) => localGuest('vng', g, (boot, log) => bootGuestRetrying(g.spec, { ...boot, launcher }, BOOT_ATTEMPTS, log)),
  };
}
