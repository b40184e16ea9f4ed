/**
 * `bpf-harness selftests`: vm-test with no scenario of its own and the tree's BPF selftests
 * (run/vm-test.ts).
 */
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { reportRun, vmTest, type VmTestOptions } from '../run/vm-test.js';
import { DEFAULT_ALLOW } from '../selftests/selection.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { defineCommand } from './command.js';
import { buildHostChoice, buildHostOptions, guestOptions, outputOptions } from './options.js';

export const selftestsCommand = defineCommand({
  command: 'selftests',
  describe: "build a kernel tree with its BPF selftests' config, build test_progs, run the local storage selftests in the VM",
  builder: (y) =>
    y
      .options({
        kernel: { type: 'string', demandOption: 'give --kernel <kernel source tree>', describe: 'kernel source tree (git or plain, no in-tree build)' },
        t: { type: 'string', array: true, describe: 'test_progs -t NAME[/SUBTEST]: names containing it (repeatable)' },
        a: { type: 'string', array: true, describe: 'test_progs -a NAME[/SUBTEST]: exact names or globs (repeatable)' },
        d: { type: 'string', array: true, describe: 'test_progs -d NAME[/SUBTEST]: never these (repeatable)' },
        denylist: { type: 'string', array: true, describe: "a file of test_progs names not to run, in the format of the tree's DENYLIST (repeatable; applied after the tree's DENYLIST and DENYLIST.x86_64)" },
        allowlist: { type: 'string', array: true, describe: 'a file in the same format: only the selected tests it names run (repeatable; narrows the selection, never widens it)' },
        debug: { type: 'boolean', describe: 'merge vm/config/debug.config too (KASAN, kmemleak, lockdep); default: as the last selftests build of the tree, else off' },
        deadline: numberOption('--deadline', RANGES.runnerDeadlineMin, { default: VM_TEST_DEFAULTS.selftestsDeadlineMin, describe: 'minutes each runner (test_progs, test_maps) may run in the guest' }),
        accel: guestOptions.accel(),
        backend: guestOptions.backend('qemu: the selftests come over a 9p share; vng: the host root is the guest root'),
        cpus: guestOptions.cpus(),
        memory: guestOptions.memory(),
        'boot-deadline': guestOptions.bootDeadline('built', 'seconds the guest may take to boot to the agent'),
        mirror: guestOptions.mirror('Debian mirror for the build root (default: the one the system apt uses)'),
        json: outputOptions.json('print summary.json instead of the table'),
        ...buildHostOptions,
      } as const)
      .epilog(`With no -t or -a: -a ${DEFAULT_ALLOW.join(' -a ')}, and test_maps for sk_storage_map. The tree's tools/testing/selftests/bpf/DENYLIST, DENYLIST.x86_64 (and ALLOWLIST files) apply first, then --denylist/--allowlist; test_progs runs with -w (its watchdog, a third of --deadline, at most 600 s) and --workers=N (its -j) on a guest of N > 1 CPUs.`),
  run: async (a) => {
    const buildHost = buildHostChoice(a);
    const opts: VmTestOptions = {
      kernel: a.kernel,
      mirror: a.mirror,
      noScenarios: true,
      selftests: { user: { names: a.t ?? [], allow: a.a ?? [], deny: a.d ?? [] }, deadlineMin: a.deadline, debug: a.debug, lists: { deny: a.denylist, allow: a.allowlist }, ...(buildHost ? { buildHost } : {}) },
      sizes: 'default',
      seed: 0,
      accel: a.accel,
      cpus: a.cpus,
      memoryMiB: a.memory,
      bootDeadlineS: a['boot-deadline'],
      settleDeadlineS: VM_TEST_DEFAULTS.settleDeadlineS,
      backend: a.backend,
      json: a.json,
    };
    return reportRun(await vmTest(opts), opts);
  },
});
