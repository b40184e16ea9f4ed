/**
 * `bpf-harness shell`: the yargs command module, registered with one line in cli.ts.
 */
import type { Argv, CommandModule } from 'yargs';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { LEAVE_KEY_NAME, shellCommand, type ShellOptions } from '../shell/shell.js';

type ShellArgs = Omit<ShellOptions, 'memoryMiB' | 'bootDeadlineS' | 'knownHosts'> & { memory: number; 'boot-deadline': number; 'known-hosts'?: string };

/** `fail` is the CLI's error handler (exit codes, child cleanup). */
export function shellCommandModule(fail: (err: unknown) => never): CommandModule {
  return {
    command: 'shell',
    describe: `boot a guest and get a root shell in it (${LEAVE_KEY_NAME} leaves; leaving stops the guest)`,
    builder: (y: Argv) =>
      y
        .option('kernel', { type: 'string', default: 'debian:7.3', describe: 'debian:<series> (its virtio_net module comes from its package) or a bzImage/tree with CONFIG_VIRTIO_NET=y' })
        .option('cpus', numberOption('--cpus', RANGES.cpus, { default: VM_TEST_DEFAULTS.cpus, describe: `guest CPUs, ${RANGES.cpus.min}-${RANGES.cpus.max}` }))
        .option('memory', numberOption('--memory', RANGES.memoryMiB, { default: VM_TEST_DEFAULTS.memoryMiB, describe: `guest memory, MiB, ${RANGES.memoryMiB.min}-${RANGES.memoryMiB.max}` }))
        .option('boot-deadline', numberOption('--boot-deadline', RANGES.bootDeadlineS, { default: VM_TEST_DEFAULTS.bootDeadlineS, describe: 'seconds the guest may take to boot to its sshd' }))
        .option('mirror', { type: 'string', describe: 'Debian mirror URI for debian: kernels' })
        .option('target', { type: 'string', describe: 'ssh://user@host[:port]: a shell on that machine instead of a guest (host key checked as for vm-test --target; leaving stops nothing)' })
        .option('identity', { type: 'string', describe: 'with --target: private key file to log in with' })
        .option('known-hosts', { type: 'string', describe: "with --target: known_hosts file to verify the target's host key" }) as unknown as Argv,
    handler: async (raw) => {
      const a = raw as unknown as ShellArgs;
      try {
        process.exit(await shellCommand({
          kernel: a.kernel, cpus: a.cpus, memoryMiB: a.memory, bootDeadlineS: a['boot-deadline'], mirror: a.mirror,
          target: a.target, identity: a.identity, knownHosts: a['known-hosts'],
        }));
      } catch (err) {
        fail(err);
      }
    },
  };
}
