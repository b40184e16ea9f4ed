/**
 * `bpf-harness vm-test`: boot a kernel (or several, or SSH targets) and run the scenarios
 * (run/vm-test.ts, run/multi-kernel.ts). The command line's checks that need no kernel are here.
 */
import type { Argv } from 'yargs';
import { multiKernelTest } from '../run/multi-kernel.js';
import { reportRun, vmTest } from '../run/vm-test.js';
import { KERNEL_LOG_FAULTS } from '../run/after-run.js';
import { RUN_FAULTS, STRAY_INT3_FAULT } from '../run/guest-restart.js';
import { checkShellStop } from '../run/shell-stop.js';
import { faultHelp, parseFaults } from '../scenarios/faults.js';
import { ALL_SCENARIOS, selectScenarios } from '../scenarios/registry.js';
import { isTargetSpec, parseTargetUrl } from '../ssh/ssh.js';
import { SetupError } from '../util/errors.js';
import { randomSeed } from '../util/seed.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { LEAVE_KEY_NAME, openGuestShell } from '../shell/shell.js';
import { defineCommand } from './command.js';
import { DEFAULT_KERNEL, guestOptions, outputOptions, scenarioOptions, targetOptions } from './options.js';

/** --set key=value (repeatable): whole numbers only, as every scenario parameter is a count. */
export function parseOverrides(words: readonly string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of words ?? []) {
    const m = /^([a-zA-Z][\w-]*)=(\d+)$/.exec(w);
    if (!m) throw new SetupError(`--set ${w}: expected name=number, e.g. --set rounds=2000`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** --kernel (repeatable), --kernels a,b,c, then --target (repeatable); debian:7.3 when none is given. */
function kernelList(kernel: readonly string[] | undefined, kernels: string | undefined, targets: readonly string[] | undefined): string[] {
  const list = [...(kernel ?? []), ...(kernels ?? '').split(','), ...(targets ?? [])].map((k) => k.trim()).filter(Boolean);
  for (const t of targets ?? []) parseTargetUrl(t);
  // Targets run at once (run/multi-kernel.ts); one machine takes one run at a time (target/ssh-target.ts MACHINE_LOCK).
  const twice = (targets ?? []).find((t, i, all) => all.indexOf(t) !== i);
  if (twice) throw new SetupError(`--target ${twice} is given twice: targets run at once and a machine takes one run at a time; give it once (or run again)`);
  return list.length ? list : [DEFAULT_KERNEL];
}

/**
 * --shell-on-fail gives this terminal to a guest the harness boots: with --json the guest's
 * terminal bytes would go into the JSON on stdout, and a target is no guest of ours. Refused
 * here, before any kernel of the list runs (run/shell-stop.ts checks each run too late for that).
 */
function checkShellOnFail(json: boolean, kernels: readonly string[]): void {
  const target = kernels.find(isTargetSpec);
  const clashes = [...(json ? ['--json (the shell would write into the JSON on stdout)'] : []), ...(target ? [`--target ${target} (a machine the harness does not boot; use bpf-harness shell --target there)`] : [])];
  if (clashes.length) throw new SetupError(`--shell-on-fail cannot go with ${clashes.join(' or ')}: leave ${clashes.length > 1 ? 'them' : 'it'} out, or leave out --shell-on-fail`);
}

function vmTestOptions(y: Argv) {
  return y.options({
    kernel: { type: 'string', array: true, defaultDescription: DEFAULT_KERNEL, describe: 'bzImage path, kernel build tree, or debian:<series> (debian:7.3, debian:7.2, debian:6.12); repeatable: several run one after another (two local guests at once would share the host CPUs and starve each other) and are compared' },
    kernels: { type: 'string', describe: 'comma-separated kernels, e.g. debian:6.12,debian:7.3,PATH (adds to --kernel)' },
    mirror: guestOptions.mirror('Debian mirror URI for debian: kernels (default: the one the system apt uses)'),
    scenario: scenarioOptions.scenario(`scenario to run (repeatable): ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`),
    sizes: scenarioOptions.sizes('run'),
    seed: scenarioOptions.seed(`seed for the races, ${RANGES.seed.min}-${RANGES.seed.max} (default: random, printed in the report)`),
    accel: guestOptions.accel('auto probes KVM by booting the guest and falls back to TCG'),
    channel: guestOptions.channel(),
    cpus: guestOptions.cpus(),
    memory: guestOptions.memory(),
    'boot-deadline': guestOptions.bootDeadline('given', 'seconds the guest may take to boot to the agent'),
    'settle-deadline': guestOptions.settleDeadline('seconds the counters may take to come back after a map is dropped'),
    'inject-fault': { type: 'string', array: true, hidden: true, describe: faultHelp(`${KERNEL_LOG_FAULTS.join(', ')}: the kernel-log self-tests, see harness/run/after-run.ts (the run must end in exit 1). ${STRAY_INT3_FAULT}: an int3 oops in the first boot, as multi-threaded TCG makes; the run boots again and goes on, see harness/run/guest-restart.ts`) },
    backend: guestOptions.backend("qemu, vng (virtme-ng: the host root over 9p, built in or a debian: kernel package's modules), or auto: vng for a kernel tree when vng is installed"),
    'require-race': { type: 'boolean', default: false, describe: 'fail a race scenario whose rounds never reached the contended unlink path (map free and owner destroy each unlinking half of one element); kernels without the series are exempt' },
    set: { type: 'string', array: true, describe: 'override a scenario parameter for this run, e.g. --set rounds=2000 --set sockets=8 (applies to every selected scenario that has it)' },
    'with-selftests': { type: 'boolean', default: false, describe: "after the scenarios, run the tree's BPF selftests in the same boot (--kernel must be a source tree; see bpf-harness selftests)" },
    selftest: { type: 'string', array: true, describe: 'with --with-selftests: test_progs -t NAME (repeatable; default: the local storage tests)' },
    denylist: { type: 'string', array: true, describe: "with --with-selftests: a file of test_progs names not to run, as the tree's DENYLIST (repeatable; after the tree's DENYLIST and DENYLIST.x86_64)" },
    allowlist: { type: 'string', array: true, describe: 'with --with-selftests: a file of test_progs names; only the selected tests it names run (repeatable; narrows, never widens)' },
    'selftests-deadline': numberOption('--selftests-deadline', RANGES.runnerDeadlineMin, { default: VM_TEST_DEFAULTS.selftestsDeadlineMin, describe: 'with --with-selftests: minutes each selftests runner may run' }),
    target: { type: 'string', array: true, describe: "ssh://user@host[:port]: run on that machine's running kernel over SSH instead of a guest (repeatable: the targets run at once, each progress line prefixed with its target, while local kernels still run one at a time on this machine's cores; one run per machine at a time; never rebooted; needs root, BTF, cgroup v2)" },
    identity: targetOptions.identity('with --target: private key file to log in with (also tried: the SSH agent, ~/.ssh/config IdentityFile, ~/.ssh/id_*)'),
    'known-hosts': targetOptions.knownHosts("with --target: known_hosts file to verify the target's host key (default ~/.ssh/known_hosts)"),
    json: outputOptions.json('print summary.json instead of the table'),
    'shell-on-fail': { type: 'boolean', default: false, describe: `stop at the first scenario that fails, keep its maps (pinned) and owners, and give a root shell in the guest with bpftool (${LEAVE_KEY_NAME} leaves; needs a terminal); with several kernels, one shell, at the first kernel that fails, and the kernels after it run without one` },
  } as const);
}

export const vmTestCommand = defineCommand({
  command: 'vm-test',
  describe: 'boot a kernel in QEMU and prove BPF local storage does not linger',
  builder: vmTestOptions,
  run: async (a) => {
    const kernels = kernelList(a.kernel, a.kernels, a.target);
    const shell = a['shell-on-fail'] ? { at: 'fail' as const, open: openGuestShell } : undefined;
    // A shell keeps its guest: the run boots no second one (run/guest-restart.ts), which this fault tests.
    if (shell && a['inject-fault']?.includes(STRAY_INT3_FAULT)) throw new SetupError(`--inject-fault ${STRAY_INT3_FAULT} cannot go with --shell-on-fail (the run boots no second guest while a shell may open in it): leave one out`);
    if (shell) {
      checkShellOnFail(a.json, kernels);
      // The terminal too, for every kernel before the first one runs.
      for (const kernel of kernels) checkShellStop(shell, kernel);
    }
    if ((a.denylist?.length || a.allowlist?.length) && !a['with-selftests'] && !a.selftest?.length) throw new SetupError('--denylist and --allowlist choose BPF selftests: add --with-selftests');
    // With one CPU the race rounds get no hold (the owner side could not run while the only
    // CPU holds the map-free gap), so no round reaches the path: a failure by construction.
    if (a['require-race'] && a.cpus < 2) throw new SetupError(`--require-race needs --cpus 2 or more: with ${a.cpus} CPU the races cannot hold the map-free gap open (README, "Race coverage")`);
    const injected = parseFaults(a['inject-fault'], selectScenarios(a.scenario), RUN_FAULTS);
    const common = {
      mirror: a.mirror,
      scenarios: a.scenario,
      sizes: a.sizes,
      seed: a.seed ?? randomSeed(),
      accel: a.accel,
      channel: a.channel,
      cpus: a.cpus,
      memoryMiB: a.memory,
      bootDeadlineS: a['boot-deadline'],
      settleDeadlineS: a['settle-deadline'],
      faults: injected.scenarios,
      fault: injected.run,
      requireRace: a['require-race'],
      backend: a.backend,
      overrides: parseOverrides(a.set),
      json: a.json,
      ssh: { identity: a.identity, knownHosts: a['known-hosts'] },
      ...(shell ? { shell } : {}),
      ...(a['with-selftests'] || a.selftest?.length ? { selftests: { user: { names: a.selftest ?? [] }, deadlineMin: a['selftests-deadline'], lists: { deny: a.denylist, allow: a.allowlist } } } : {}),
    };
    // One kernel keeps the plain path: its --json output is one Summary.
    if (kernels.length > 1) return multiKernelTest({ ...common, kernels });
    const one = { ...common, kernel: kernels[0]! };
    return reportRun(await vmTest(one), one);
  },
});
