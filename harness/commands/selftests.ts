/**
 * `bpf-harness selftests`: the yargs command module, registered with one line in cli.ts. It is
 * vm-test with no scenario of its own and the tree's BPF selftests (run/vm-test.ts).
 */
import type { Argv, CommandModule } from 'yargs';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { vmTest } from '../run/vm-test.js';
import { stdoutFlushed } from '../util/stdout.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import type { AccelRequest } from '../vm/accel.js';
import type { BackendRequest } from '../vm/vng.js';
import { DEFAULT_ALLOW } from '../selftests/selection.js';

interface SelftestsArgs {
  kernel: string;
  t?: string[];
  a?: string[];
  d?: string[];
  denylist?: string[];
  allowlist?: string[];
  debug?: boolean;
  deadline: number;
  accel: string;
  backend: string;
  cpus: number;
  memory: number;
  'boot-deadline': number;
  mirror?: string;
  json: boolean;
}

/** `fail` is the CLI's error handler (exit codes, child cleanup). */
export function selftestsCommand(fail: (err: unknown) => never): CommandModule {
  return {
    command: 'selftests',
    describe: "build a kernel tree with its BPF selftests' config, build test_progs, run the local storage selftests in the VM",
    builder: (y: Argv) =>
      y
        .option('kernel', { type: 'string', demandOption: 'give --kernel <kernel source tree>', describe: 'kernel source tree (git or plain, no in-tree build)' })
        .option('t', { type: 'string', array: true, describe: "test_progs -t NAME[/SUBTEST]: names containing it (repeatable)" })
        .option('a', { type: 'string', array: true, describe: 'test_progs -a NAME[/SUBTEST]: exact names or globs (repeatable)' })
        .option('d', { type: 'string', array: true, describe: 'test_progs -d NAME[/SUBTEST]: never these (repeatable)' })
        .option('denylist', { type: 'string', array: true, describe: "a file of test_progs names not to run, in the format of the tree's DENYLIST (repeatable; applied after the tree's DENYLIST and DENYLIST.x86_64)" })
        .option('allowlist', { type: 'string', array: true, describe: 'a file in the same format: only the selected tests it names run (repeatable; narrows the selection, never widens it)' })
        .option('debug', { type: 'boolean', describe: 'merge vm/config/debug.config too (KASAN, kmemleak, lockdep); default: as the last selftests build of the tree, else off' })
        .option('deadline', numberOption('--deadline', RANGES.runnerDeadlineMin, { default: VM_TEST_DEFAULTS.selftestsDeadlineMin, describe: 'minutes each runner (test_progs, test_maps) may run in the guest' }))
        .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: 'auto' as const })
        .option('backend', { choices: ['qemu', 'vng', 'auto'] as const, default: 'qemu' as const, describe: 'qemu: the selftests come over a 9p share; vng: the host root is the guest root' })
        .option('cpus', numberOption('--cpus', RANGES.cpus, { default: VM_TEST_DEFAULTS.cpus, describe: `guest CPUs, ${RANGES.cpus.min}-${RANGES.cpus.max}` }))
        .option('memory', numberOption('--memory', RANGES.memoryMiB, { default: VM_TEST_DEFAULTS.memoryMiB, describe: `guest memory, MiB, ${RANGES.memoryMiB.min}-${RANGES.memoryMiB.max}` }))
        .option('boot-deadline', numberOption('--boot-deadline', RANGES.bootDeadlineS, { default: VM_TEST_DEFAULTS.builtKernelBootDeadlineS, describe: 'seconds the guest may take to boot to the agent' }))
        .option('mirror', { type: 'string', describe: 'Debian mirror for the build root (default: the one the system apt uses)' })
        .option('json', { type: 'boolean', default: false, describe: 'print summary.json instead of the table' })
        .epilog(`With no -t or -a: -a ${DEFAULT_ALLOW.join(' -a ')}, and test_maps for sk_storage_map. The tree's tools/testing/selftests/bpf/DENYLIST, DENYLIST.x86_64 (and ALLOWLIST files) apply first, then --denylist/--allowlist; test_progs runs with -w (its watchdog, a third of --deadline, at most 600 s) and -j N on a guest of N > 1 CPUs.`) as unknown as Argv,
    handler: async (raw) => {
      const a = raw as unknown as SelftestsArgs;
      try {
        const code = await vmTest({
          kernel: a.kernel,
          mirror: a.mirror,
          noScenarios: true,
          selftests: { user: { names: a.t ?? [], allow: a.a ?? [], deny: a.d ?? [] }, deadlineMin: a.deadline, debug: a.debug, lists: { deny: a.denylist, allow: a.allowlist } },
          sizes: 'default',
          seed: 0,
          accel: a.accel as AccelRequest,
          cpus: a.cpus,
          memoryMiB: a.memory,
          bootDeadlineS: a['boot-deadline'],
          settleDeadlineS: VM_TEST_DEFAULTS.settleDeadlineS,
          backend: a.backend as BackendRequest,
          json: a.json,
        });
        await stdoutFlushed();
        process.exit(code);
      } catch (err) {
        await stdoutFlushed();
        fail(err);
      }
    },
  };
}
