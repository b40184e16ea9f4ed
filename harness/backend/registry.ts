/**
 * The backends by name: the CLI's --backend choices and summary.json's `backend` come from
 * here. qemu and vng boot a kernel the harness has; ssh runs on a machine given by --target.
 */
import type { KernelImage } from '../kernel/resolve.js';
import { loadNodePty } from '../util/node-pty.js';
import { locateVng } from '../vm/vng.js';
import type { Backend, BackendName, LocalGuest } from './backend.js';
import { qemuBackend } from './qemu.js';
import { SSH_DESCRIBE } from './ssh.js';
import { VNG_DESCRIBE, vngBackend } from './vng.js';

/** Every backend and what it is, by the name summary.json records. */
export const BACKENDS: Readonly<Record<BackendName, { describe: string; local: boolean }>> = {
  qemu: { describe: qemuBackend.describe, local: true },
  vng: { describe: VNG_DESCRIBE, local: true },
  ssh: { describe: SSH_DESCRIBE, local: false },
};

/** --backend: the local backends, or auto (vng for a kernel tree when vng and node-pty are at hand, else qemu). */
export const BACKEND_CHOICES = ['qemu', 'vng', 'auto'] as const;
export type BackendRequest = (typeof BACKEND_CHOICES)[number];

export interface LocalBackendChoice {
  backend: Backend<LocalGuest>;
  why: string;
}

/**
 * qemu: the plain QEMU backend. vng: virtme-ng (fetched from Debian when absent), or a one-line
 * error saying how to install it. auto: vng for a kernel tree when vng is at hand, else qemu.
 */
export async function chooseLocalBackend(req: BackendRequest, kernelSource: KernelImage['source'], opts: { mirror?: string; log: (line: string) => void }): Promise<LocalBackendChoice> {
  if (req === 'qemu') return { backend: qemuBackend, why: 'asked for' };
  if (req === 'vng') {
    const vng = await locateVng({ fetch: true, ...opts });
    return { backend: vngBackend(vng, opts), why: `vng ${vng.version} (${vng.from === 'path' ? 'on PATH' : 'from its Debian package'})` };
  }
  if (kernelSource !== 'tree') return { backend: qemuBackend, why: 'auto: not a kernel tree' };
  try {
    const vng = await locateVng({ fetch: false, ...opts });
    // vng runs in a pseudo-terminal: without node-pty, qemu.
    await loadNodePty();
    return { backend: vngBackend(vng, opts), why: `auto: a kernel tree and vng ${vng.version}` };
  } catch (e) {
    return { backend: qemuBackend, why: `auto: ${(e as Error).message.split(':')[0]}` };
  }
}
