#!/usr/bin/env node
/**
 * bpf-harness: the command line. Exit 0 when nothing lingered, 1 when something did or the
 * kernel complained (or the guest died), 2 for usage and setup errors.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { compareCommand } from './run/compare.js';
import { trendCommand } from './run/trend.js';
import { multiKernelTest } from './run/multi-kernel.js';
import { bisectCommands } from './commands/bisect.js';
import { kernelCommand } from './commands/kernel.js';
import { selftestsCommand } from './commands/selftests.js';
import { shellCommandModule } from './commands/shell.js';
import { VM_TEST_DEFAULTS } from './run/repeat.js';
import { parseTargetUrl } from './target/ssh.js';
import { vmTest } from './run/vm-test.js';
import { KERNEL_LOG_FAULTS } from './run/after-run.js';
import { faultHelp, parseFaults } from './scenarios/faults.js';
import { ALL_SCENARIOS, selectScenarios } from './scenarios/registry.js';
import type { SizeLevel } from './scenarios/types.js';
import { killAllChildren } from './util/children.js';
import { GuestError, HarnessError, SetupError } from './util/errors.js';
import { stdoutFlushed } from './util/stdout.js';
import { numberOption, RANGES } from './util/whole-number.js';
import { randomSeed } from './util/seed.js';
import type { AccelRequest } from './vm/accel.js';
import type { ChannelKind } from './vm/channel.js';
import type { BackendRequest } from './vm/vng.js';

export const DEFAULT_KERNEL = 'debian:7.3';

/** --set key=value (repeatable): whole numbers only, as every scenario parameter is a count. */
function parseOverrides(words: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of words ?? []) {
    const m = /^([a-zA-Z][\w-]*)=(\d+)$/.exec(w);
    if (!m) throw new SetupError(`--set ${w}: expected name=number, e.g. --set rounds=2000`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** --kernel (repeatable), --kernels a,b,c, then --target (repeatable); debian:7.3 when none is given. */
function kernelList(kernel: string[] | undefined, kernels: string | undefined, targets: string[] | undefined): string[] {
  const list = [...(kernel ?? []), ...(kernels ?? '').split(','), ...(targets ?? [])].map((k) => k.trim()).filter(Boolean);
  for (const t of targets ?? []) parseTargetUrl(t);
  return list.length ? list : [DEFAULT_KERNEL];
}

function fail(err: unknown): never {
  killAllChildren();
  if (err instanceof GuestError) {
    process.stderr.write(`bpf-harness: ${err.message}\n--- console tail ---\n${err.consoleTail}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof HarnessError) {
    process.stderr.write(`bpf-harness: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`bpf-harness: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

await yargs(hideBin(process.argv))
  .scriptName('bpf-harness')
  // Numbers stay as typed until their option's coerce checks them (util/whole-number.ts), so
  // "--seed 0x10" is refused instead of becoming 16.
  .parserConfiguration({ 'parse-numbers': false })
  .usage('$0 <command> [options]')
  .command(
    'vm-test',
    'boot a kernel in QEMU and prove BPF local storage does not linger',
    (y) =>
      y
        .option('kernel', { type: 'string', array: true, defaultDescription: DEFAULT_KERNEL, describe: 'bzImage path, kernel build tree, or debian:<series> (debian:7.3, debian:7.2, debian:6.12); repeatable: several run one after another and are compared' })
        .option('kernels', { type: 'string', describe: 'comma-separated kernels, e.g. debian:6.12,debian:7.3,PATH (adds to --kernel)' })
        .option('mirror', { type: 'string', describe: 'Debian mirror URI for debian: kernels (default: the one the system apt uses)' })
        .option('scenario', { type: 'string', array: true, describe: `scenario to run (repeatable): ${ALL_SCENARIOS.map((s) => s.name).join(', ')}` })
        .option('sizes', { choices: ['small', 'default', 'stress'] as const, default: VM_TEST_DEFAULTS.sizes, describe: 'how much work each scenario does' })
        .option('seed', numberOption('--seed', RANGES.seed, { describe: `seed for the races, ${RANGES.seed.min}-${RANGES.seed.max} (default: random, printed in the report)` }))
        .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: VM_TEST_DEFAULTS.accel, describe: 'auto probes KVM by booting the guest and falls back to TCG' })
        .option('channel', { choices: ['virtio', 'ttyS1'] as const, describe: 'agent channel (default: virtio-serial when the kernel has it built in, else ttyS1)' })
        .option('cpus', numberOption('--cpus', RANGES.cpus, { default: VM_TEST_DEFAULTS.cpus, describe: `guest CPUs, ${RANGES.cpus.min}-${RANGES.cpus.max}` }))
        .option('memory', numberOption('--memory', RANGES.memoryMiB, { default: VM_TEST_DEFAULTS.memoryMiB, describe: `guest memory, MiB, ${RANGES.memoryMiB.min}-${RANGES.memoryMiB.max}` }))
        .option('boot-deadline', numberOption('--boot-deadline', RANGES.bootDeadlineS, { default: VM_TEST_DEFAULTS.bootDeadlineS, describe: 'seconds the guest may take to boot to the agent' }))
        .option('settle-deadline', numberOption('--settle-deadline', RANGES.settleDeadlineS, { default: VM_TEST_DEFAULTS.settleDeadlineS, describe: 'seconds the counters may take to come back after a map is dropped' }))
        .option('inject-fault', { type: 'string', array: true, hidden: true, describe: faultHelp(`${KERNEL_LOG_FAULTS.join(', ')}: the kernel-log self-tests, see harness/run/after-run.ts (the run must end in exit 1)`) })
        .option('backend', { choices: ['qemu', 'vng', 'auto'] as const, default: VM_TEST_DEFAULTS.backend, describe: 'qemu, vng (virtme-ng: host root, kernel built in), or auto: vng for a kernel tree when vng is installed' })
        .option('require-race', { type: 'boolean', default: false, describe: 'fail a race scenario whose rounds never reached the contended unlink path (map free and owner destroy each unlinking half of one element); kernels without the series are exempt' })
        .option('set', { type: 'string', array: true, describe: 'override a scenario parameter for this run, e.g. --set rounds=2000 --set sockets=8 (applies to every selected scenario that has it)' })
        .option('with-selftests', { type: 'boolean', default: false, describe: "after the scenarios, run the tree's BPF selftests in the same boot (--kernel must be a source tree; see bpf-harness selftests)" })
        .option('selftest', { type: 'string', array: true, describe: 'with --with-selftests: test_progs -t NAME (repeatable; default: the local storage tests)' })
        .option('denylist', { type: 'string', array: true, describe: "with --with-selftests: a file of test_progs names not to run, as the tree's DENYLIST (repeatable; after the tree's DENYLIST and DENYLIST.x86_64)" })
        .option('allowlist', { type: 'string', array: true, describe: 'with --with-selftests: a file of test_progs names; only the selected tests it names run (repeatable; narrows, never widens)' })
        .option('selftests-deadline', numberOption('--selftests-deadline', RANGES.runnerDeadlineMin, { default: VM_TEST_DEFAULTS.selftestsDeadlineMin, describe: 'with --with-selftests: minutes each selftests runner may run' }))
        .option('target', { type: 'string', array: true, describe: "ssh://user@host[:port]: run on that machine's running kernel over SSH instead of a guest (repeatable; never rebooted; needs root, BTF, cgroup v2)" })
        .option('identity', { type: 'string', describe: 'with --target: private key file to log in with (also tried: the SSH agent, ~/.ssh/config IdentityFile, ~/.ssh/id_*)' })
        .option('known-hosts', { type: 'string', describe: "with --target: known_hosts file to verify the target's host key (default ~/.ssh/known_hosts)" })
        .option('json', { type: 'boolean', default: false, describe: 'print summary.json instead of the table' }),
    async (a) => {
      try {
        const kernels = kernelList(a.kernel, a.kernels, a.target);
        if ((a.denylist?.length || a.allowlist?.length) && !a['with-selftests'] && !a.selftest?.length) throw new SetupError('--denylist and --allowlist choose BPF selftests: add --with-selftests');
        // With one CPU the race rounds get no hold (the owner side could not run while the only
        // CPU holds the map-free gap), so no round reaches the path: a failure by construction.
        if (a['require-race'] && a.cpus < 2) throw new SetupError(`--require-race needs --cpus 2 or more: with ${a.cpus} CPU the races cannot hold the map-free gap open (README, "Race coverage")`);
        const injected = parseFaults(a['inject-fault'], selectScenarios(a.scenario), KERNEL_LOG_FAULTS);
        const common = {
          mirror: a.mirror,
          scenarios: a.scenario,
          sizes: a.sizes as SizeLevel,
          seed: a.seed ?? randomSeed(),
          accel: a.accel as AccelRequest,
          channel: a.channel as ChannelKind | undefined,
          cpus: a.cpus,
          memoryMiB: a.memory,
          bootDeadlineS: a['boot-deadline'],
          settleDeadlineS: a['settle-deadline'],
          faults: injected.scenarios,
          fault: injected.run,
          requireRace: a['require-race'],
          backend: a.backend as BackendRequest,
          overrides: parseOverrides(a.set),
          json: a.json,
          ssh: { identity: a.identity, knownHosts: a['known-hosts'] },
          ...(a['with-selftests'] || a.selftest?.length ? { selftests: { user: { names: a.selftest ?? [] }, deadlineMin: a['selftests-deadline'], lists: { deny: a.denylist, allow: a.allowlist } } } : {}),
        };
        // One kernel keeps the plain path: its --json output is one Summary.
        const code = kernels.length === 1 ? await vmTest({ ...common, kernel: kernels[0]! }) : await multiKernelTest({ ...common, kernels });
        await stdoutFlushed();
        process.exit(code);
      } catch (err) {
        await stdoutFlushed();
        fail(err);
      }
    },
  )
  .command(
    'compare <a> <b>',
    'what changed from run A to run B (results directories or summary.json files); exit 1 on a regression',
    (y) =>
      y
        .positional('a', { type: 'string', demandOption: true, describe: 'the earlier (reference) run' })
        .positional('b', { type: 'string', demandOption: true, describe: 'the later run' })
        .option('json', { type: 'boolean', default: false, describe: 'print the comparison as JSON' }),
    (a) => {
      try {
        process.exit(compareCommand({ a: a.a, b: a.b, json: a.json }));
      } catch (err) {
        fail(err);
      }
    },
  )
  .command(kernelCommand(fail))
  .command(selftestsCommand(fail))
  .command(bisectCommands(fail))
  .command(shellCommandModule(fail))
  .command(trendCommand(fail))
  .demandCommand(1, 'name a command, e.g. vm-test')
  .strict()
  .fail((msg, err) => {
    // yargs re-throws what an option's coerce threw as a YError with the same message: a usage
    // error whose message already names the fix (util/whole-number.ts).
    if (err?.name === 'YError') fail(new SetupError(err.message));
    if (err) fail(err);
    process.stderr.write(`bpf-harness: ${msg}; see --help\n`);
    process.exit(2);
  })
  .help()
  .parseAsync();
