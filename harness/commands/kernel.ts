/**
 * `bpf-harness kernel build`: the yargs command module, registered with one line in cli.ts.
 */
import type { Argv, CommandModule } from 'yargs';
import { numberOption, RANGES } from '../util/whole-number.js';
import { buildKernel, defaultJobs, type KernelBuildOptions } from '../kernel-build/kernel-build.js';

/** The command line's words: the build's options, with the deadline in whole minutes. */
type KernelBuildArgs = Omit<KernelBuildOptions, 'log' | 'deadlineMin'> & { deadline: number };

/** `fail` is the CLI's error handler (exit codes, child cleanup). */
export function kernelCommand(fail: (err: unknown) => never): CommandModule {
  return {
    command: 'kernel <action>',
    describe: 'build a kernel from a source tree for vm-test',
    builder: (y: Argv) =>
      y
        .positional('action', { choices: ['build'] as const, describe: 'build: merge the fragments, check them, make bzImage out of tree' })
        .option('tree', { type: 'string', demandOption: 'give --tree <kernel source tree>', describe: 'kernel source tree (git or plain)' })
        .option('debug', { type: 'boolean', default: false, describe: 'merge vm/config/debug.config too: KASAN, kmemleak, lockdep, PROVE_RCU, allocinfo' })
        .option('selftests', { type: 'boolean', default: false, describe: "merge the tree's BPF selftests fragments (config, config.vm, config.x86_64) over ours and build modules too" })
        .option('patches', { type: 'string', array: true, default: [] as string[], describe: 'mbox series to git am on a throw-away worktree (repeatable, in order)' })
        .option('jobs', numberOption('--jobs', RANGES.jobs, { describe: `make -j (default ${defaultJobs()})` }))
        .option('out', { type: 'string', describe: 'output directory (O=); default under the cache dir, keyed by the tree' })
        .option('config', { type: 'string', describe: 'starting .config instead of defconfig + kvm_guest.config' })
        .option('mirror', { type: 'string', describe: 'Debian mirror for the build root (default: the one the system apt uses)' })
        .option('deadline', numberOption('--deadline', RANGES.buildDeadlineMin, { default: 240, describe: 'minutes make may run' })) as unknown as Argv,
    handler: async (raw) => {
      const a = raw as unknown as KernelBuildArgs;
      try {
        const built = await buildKernel({
          tree: a.tree,
          debug: a.debug,
          selftests: a.selftests,
          patches: a.patches,
          jobs: a.jobs,
          out: a.out,
          config: a.config,
          mirror: a.mirror,
          deadlineMin: a.deadline,
          log: (line) => process.stdout.write(`${line}\n`),
        });
        process.stdout.write(`${built.bzImage}\n`);
        process.exit(0);
      } catch (err) {
        fail(err);
      }
    },
  };
}
