/**
 * The qemu backend: QEMU started directly with the harness's initramfs (vm/qemu.ts). It needs
 * nothing of the kernel beyond what the agent channel and the shares need, which the prepare
 * stage checks for every local backend (kernel/config.ts assertConfig).
 */
import { BOOT_ATTEMPTS, bootGuestRetrying } from '../vm/session.js';
import { localGuest, type Backend, type LocalGuest } from './backend.js';

export const qemuBackend: Backend<LocalGuest> = {
  name: 'qemu',
  describe: 'QEMU with the harness initramfs; the selftests come over a 9p share',
  refusal: () => undefined,
  prepare: async (g) => localGuest('qemu', g, (boot, log) => bootGuestRetrying(g.spec, boot, BOOT_ATTEMPTS, log)),
};
