/**
 * `bpf-harness shell`: a root shell in a guest, or on an SSH target (shell/shell.ts).
 */
import { LEAVE_KEY_NAME, shellCommand as runShell } from '../shell/shell.js';
import { defineCommand } from './command.js';
import { DEFAULT_KERNEL, guestOptions, targetOptions } from './options.js';

export const shellCommand = defineCommand({
  command: 'shell',
  describe: `boot a guest and get a root shell in it (${LEAVE_KEY_NAME} leaves; leaving stops the guest)`,
  builder: (y) =>
    y.options({
      kernel: { type: 'string', default: DEFAULT_KERNEL, describe: 'debian:<series> (its virtio_net module comes from its package) or a bzImage/tree with CONFIG_VIRTIO_NET=y' },
      cpus: guestOptions.cpus(),
      memory: guestOptions.memory(),
      'boot-deadline': guestOptions.bootDeadline('given', 'seconds the guest may take to boot to its sshd'),
      mirror: guestOptions.mirror('Debian mirror URI for debian: kernels'),
      target: { type: 'string', describe: 'ssh://user@host[:port]: a shell on that machine instead of a guest (host key checked as for vm-test --target; leaving stops nothing)' },
      identity: targetOptions.identity('with --target: private key file to log in with'),
      'known-hosts': targetOptions.knownHosts("with --target: known_hosts file to verify the target's host key"),
    } as const),
  run: (a) =>
    runShell({
      kernel: a.kernel, cpus: a.cpus, memoryMiB: a.memory, bootDeadlineS: a['boot-deadline'], mirror: a.mirror,
      target: a.target, identity: a.identity, knownHosts: a['known-hosts'],
    }),
});
