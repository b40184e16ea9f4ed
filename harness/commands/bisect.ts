/**
 * `bpf-harness bisect` and the hidden `bisect-step` it runs under `git bisect run`: yargs command
 * modules, registered with one line in cli.ts.
 */
import type { Argv, CommandModule } from 'yargs';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { ALL_SCENARIOS } from '../scenarios/registry.js';
import { stdoutFlushed } from '../util/stdout.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { randomSeed } from '../util/seed.js';
import type { SizeLevel } from '../scenarios/types.js';
import type { AccelRequest } from '../vm/accel.js';
import { checkKernelHistory, renderBisect, runBisect } from '../bisect/bisect.js';
import { kernelStepRunner } from '../bisect/kernel-step.js';
import { EXIT_ABORT, runStep } from '../bisect/step.js';

interface BisectArgs {
  tree: string;
  good: string;
  bad: string;
  scenario?: string[];
  selftest?: string[];
  sizes: SizeLevel;
  retries: number;
  seed?: number;
  debug: boolean;
  accel: AccelRequest;
  out?: string;
  'boot-deadline': number;
  'settle-deadline': number;
  'build-deadline': number;
  deadline: number;
  json: boolean;
}

export function bisectCommands(fail: (err: unknown) => never): CommandModule[] {
  const bisect: CommandModule = {
    command: 'bisect',
    describe: 'find the commit that broke the scenarios: git bisect run on a throw-away worktree, each step a kernel build + boot',
    builder: (y: Argv) =>
      y
        .option('tree', { type: 'string', demandOption: 'give --tree <kernel git checkout>', describe: 'kernel git checkout (never changed: the bisect runs in a worktree)' })
        .option('good', { type: 'string', demandOption: 'give --good <a commit that passes>', describe: 'a commit where the scenarios pass' })
        .option('bad', { type: 'string', demandOption: 'give --bad <a commit that fails>', describe: 'a later commit where they fail' })
        .option('scenario', { type: 'string', array: true, describe: `scenario to run at each step (repeatable; default all): ${ALL_SCENARIOS.map((s) => s.name).join(', ')}` })
        .option('selftest', { type: 'string', array: true, describe: "BPF selftest to run at each step too (test_progs -t NAME, repeatable): the kernel is built with the selftests' config and test_progs with it; alone, no scenario runs" })
        .option('sizes', { choices: ['small', 'default', 'stress'] as const, default: 'small' as const, describe: 'how much work each scenario does' })
        .option('retries', numberOption('--retries', RANGES.retries, { default: 1, describe: 're-runs of a failing step before it counts as bad (a pass among them: flaky, counted good)' }))
        .option('seed', numberOption('--seed', RANGES.seed, { describe: 'seed for the races, the same at every step (default: random, recorded)' }))
        .option('debug', { type: 'boolean', default: false, describe: 'build with vm/config/debug.config (KASAN, kmemleak, ...)' })
        .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: 'auto' as const, describe: 'as for vm-test' })
        .option('out', { type: 'string', describe: 'O= directory of every step (default: under the cache dir, one per tree)' })
        .option('boot-deadline', numberOption('--boot-deadline', RANGES.bootDeadlineS, { default: VM_TEST_DEFAULTS.builtKernelBootDeadlineS, describe: 'seconds a guest may take to boot; one that does not is skipped (125)' }))
        .option('settle-deadline', numberOption('--settle-deadline', RANGES.settleDeadlineS, { default: VM_TEST_DEFAULTS.settleDeadlineS, describe: 'as for vm-test' }))
        .option('build-deadline', numberOption('--build-deadline', RANGES.buildDeadlineMin, { default: 240, describe: 'minutes one step\'s make may run' }))
        .option('deadline', numberOption('--deadline', RANGES.buildDeadlineMin, { default: 24 * 60, describe: 'minutes the whole bisect may run' }))
        .option('json', { type: 'boolean', default: false, describe: 'print result.json at the end instead of the report' }) as unknown as Argv,
    handler: async (raw) => {
      const a = raw as unknown as BisectArgs;
      try {
        const log = (line: string): void => void (a.json ? process.stderr : process.stdout).write(`${line}\n`);
        const opts = {
          tree: a.tree,
          good: a.good,
          bad: a.bad,
          scenarios: a.scenario ?? [],
          selftests: a.selftest ?? [],
          sizes: a.sizes,
          retries: a.retries,
          seed: a.seed ?? randomSeed(),
          debug: a.debug,
          accel: a.accel,
          out: a.out,
          bootDeadlineS: a['boot-deadline'],
          settleDeadlineS: a['settle-deadline'],
          buildDeadlineMin: a['build-deadline'],
          deadlineMin: a.deadline,
          log,
        };
        const r = await runBisect({ ...opts, check: () => checkKernelHistory(a.tree, a.bad) });
        if (a.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else log(renderBisect(r));
        await stdoutFlushed();
        process.exit(r.exitCode);
      } catch (err) {
        fail(err);
      }
    },
  };
  const step: CommandModule = {
    command: 'bisect-step',
    describe: false, // run by git bisect run, never by hand
    builder: (y: Argv) => y.option('state', { type: 'string', demandOption: true, describe: 'bisect.json of the bisect' }) as unknown as Argv,
    handler: async (raw) => {
      const a = raw as unknown as { state: string };
      try {
        process.exit(await runStep(a.state, kernelStepRunner));
      } catch (err) {
        process.stderr.write(`bisect-step: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(EXIT_ABORT);
      }
    },
  };
  return [bisect, step];
}
