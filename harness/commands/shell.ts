/**
 * `bpf-harness shell`: a root shell in a guest, or on an SSH target (shell/shell.ts).
 */
import { KERNEL_LOG_FAULTS } from '../run/after-run.js';
import { parseFaults } from '../scenarios/faults.js';
import { ALL_SCENARIOS, selectScenarios } from '../scenarios/registry.js';
import { LEAVE_KEY_NAME, shellCommand as runShell } from '../shell/shell.js';
import { SetupError } from '../util/errors.js';
import { RANGES } from '../util/whole-number.js';
import { defineCommand } from './command.js';
import { DEFAULT_KERNEL, guestOptions, scenarioOptions, targetOptions } from './options.js';

export const shellCommand = defineCommand({
  command: 'shell',
  describe: `boot a guest and get a root shell in it (${LEAVE_KEY_NAME} leaves; leaving stops the guest)`,
  builder: (y) =>
    y.options({
      kernel: { type: 'string', default: DEFAULT_KERNEL, describe: 'debian:<series> (its virtio_net module comes from its package) or a bzImage/tree with CONFIG_VIRTIO_NET=y' },
      cpus: guestOptions.cpus(),
      memory: guestOptions.memory(),
      accel: guestOptions.accel('auto probes KVM by booting the guest and falls back to TCG'),
      backend: { choices: ['qemu', 'vng'] as const, default: 'qemu' as const, describe: "qemu: the harness's initramfs with an sshd; vng: virtme-ng, the host's root and its sshd in the guest (a kernel vm-test --backend vng takes)" },
      'boot-deadline': guestOptions.bootDeadline('given', 'seconds the guest may take to boot to its sshd'),
      mirror: guestOptions.mirror('Debian mirror URI for debian: kernels'),
      target: { type: 'string', describe: 'ssh://user@host[:port]: a shell on that machine instead of a guest (host key checked as for vm-test --target; leaving stops nothing)' },
      identity: targetOptions.identity('with --target: private key file to log in with'),
      'known-hosts': targetOptions.knownHosts("with --target: known_hosts file to verify the target's host key"),
      after: { type: 'string', describe: `run this scenario first (${ALL_SCENARIOS.map((s) => s.name).join(', ')}), keep its maps pinned and its owners alive, and list them; the transcript and the results go to a results directory as vm-test's` },
      sizes: scenarioOptions.sizes('run'),
      seed: scenarioOptions.seed(`with --after: seed for the races, ${RANGES.seed.min}-${RANGES.seed.max} (default: random)`),
      'settle-deadline': guestOptions.settleDeadline('with --after: seconds the counters may take to come back after a map is dropped'),
      'inject-fault': { type: 'string', array: true, hidden: true, describe: "with --after: a fault of vm-test's self-test (scenarios/faults.ts), to look at what it leaves" },
    } as const),
  run: (a) => {
    if (a.after !== undefined && a.target !== undefined) throw new SetupError('--after runs the scenario in a guest the harness boots: leave out --target, or --after');
    if (a.after === undefined && a['inject-fault']?.length) throw new SetupError('--inject-fault needs --after SCENARIO');
    if (a.backend !== 'qemu' && a.target !== undefined) throw new SetupError(`--backend ${a.backend} boots a guest: leave it out with --target`);
    const injected = a.after !== undefined ? parseFaults(a['inject-fault'], selectScenarios([a.after]), KERNEL_LOG_FAULTS) : { scenarios: [] };
    return runShell({
      kernel: a.kernel, cpus: a.cpus, memoryMiB: a.memory, accel: a.accel, backend: a.backend, bootDeadlineS: a['boot-deadline'], mirror: a.mirror,
      target: a.target, identity: a.identity, knownHosts: a['known-hosts'],
      after: a.after, sizes: a.sizes, seed: a.seed, settleDeadlineS: a['settle-deadline'], faults: injected.scenarios, fault: injected.run,
    });
  },
});
