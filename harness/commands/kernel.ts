/**
 * `bpf-harness kernel build`: a bzImage from a source tree (kernel-build/kernel-build.ts).
 */
import { buildKernel, defaultJobs } from '../kernel-build/kernel-build.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { defineCommand } from './command.js';
import { buildHostChoice, buildHostOptions, guestOptions } from './options.js';

export const kernelCommand = defineCommand({
  command: 'kernel <action>',
  describe: 'build a kernel from a source tree for vm-test',
  builder: (y) =>
    y
      .positional('action', { choices: ['build'] as const, describe: 'build: merge the fragments, check them, make bzImage out of tree' })
      .options({
        tree: { type: 'string', demandOption: 'give --tree <kernel source tree>', describe: 'kernel source tree (git or plain)' },
        debug: { type: 'boolean', default: false, describe: 'merge vm/config/debug.config too: KASAN, kmemleak, lockdep, PROVE_RCU, allocinfo' },
        selftests: { type: 'boolean', default: false, describe: "merge the tree's BPF selftests fragments (config, config.vm, config.x86_64) over ours and build modules too" },
        patches: { type: 'string', array: true, default: [] as string[], describe: 'mbox series to git am on a throw-away worktree (repeatable, in order)' },
        jobs: numberOption('--jobs', RANGES.jobs, { describe: `make -j (default ${defaultJobs()}; with --build-host, its CPU count)` }),
        out: { type: 'string', describe: 'output directory (O=); default under the cache dir, keyed by the tree' },
        config: { type: 'string', describe: 'starting .config instead of defconfig + kvm_guest.config' },
        mirror: guestOptions.mirror('Debian mirror for the build root (default: the one the system apt uses)'),
        deadline: numberOption('--deadline', RANGES.buildDeadlineMin, { default: 240, describe: 'minutes make may run' }),
        ...buildHostOptions,
      } as const),
  run: async (a) => {
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
      buildHost: buildHostChoice(a),
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${built.bzImage}\n`);
    return 0;
  },
});
