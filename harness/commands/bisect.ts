/**
 * `bpf-harness bisect` and the hidden `bisect-step` it runs under `git bisect run`
 * (bisect/bisect.ts, bisect/step.ts).
 */
import { checkKernelHistory, renderBisect, runBisect } from '../bisect/bisect.js';
import { kernelStepRunner } from '../bisect/kernel-step.js';
import { EXIT_ABORT, runStep } from '../bisect/step.js';
import { ALL_SCENARIOS } from '../scenarios/registry.js';
import { randomSeed } from '../util/seed.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import { defineCommand } from './command.js';
import { buildHostChoice, buildHostOptions, guestOptions, outputOptions, scenarioOptions } from './options.js';

export const bisectCommand = defineCommand({
  command: 'bisect',
  describe: 'find the commit that broke the scenarios: git bisect run on a throw-away worktree, each step a kernel build + boot',
  builder: (y) =>
    y.options({
      tree: { type: 'string', demandOption: 'give --tree <kernel git checkout>', describe: 'kernel git checkout (never changed: the bisect runs in a worktree)' },
      good: { type: 'string', demandOption: 'give --good <a commit that passes>', describe: 'a commit where the scenarios pass' },
      bad: { type: 'string', demandOption: 'give --bad <a commit that fails>', describe: 'a later commit where they fail' },
      scenario: scenarioOptions.scenario(`scenario to run at each step (repeatable; default all): ${ALL_SCENARIOS.map((s) => s.name).join(', ')}`),
      selftest: { type: 'string', array: true, describe: "BPF selftest to run at each step too (test_progs -t NAME, repeatable): the kernel is built with the selftests' config and test_progs with it; alone, no scenario runs" },
      sizes: scenarioOptions.sizes('bisect'),
      retries: numberOption('--retries', RANGES.retries, { default: 1, describe: 're-runs of a failing step before it counts as bad (a pass among them: flaky, counted good)' }),
      seed: scenarioOptions.seed('seed for the races, the same at every step (default: random, recorded)'),
      debug: { type: 'boolean', default: false, describe: 'build with vm/config/debug.config (KASAN, kmemleak, ...)' },
      accel: guestOptions.accel('as for vm-test'),
      out: { type: 'string', describe: 'O= directory of every step (default: under the cache dir, one per tree)' },
      'boot-deadline': guestOptions.bootDeadline('built', 'seconds a guest may take to boot; one that does not is skipped (125)'),
      'settle-deadline': guestOptions.settleDeadline('as for vm-test'),
      'build-deadline': numberOption('--build-deadline', RANGES.buildDeadlineMin, { default: 240, describe: "minutes one step's make may run" }),
      deadline: numberOption('--deadline', RANGES.buildDeadlineMin, { default: 24 * 60, describe: 'minutes the whole bisect may run' }),
      json: outputOptions.json('print result.json at the end instead of the report'),
      ...buildHostOptions,
    } as const),
  run: async (a) => {
    const log = (line: string): void => void (a.json ? process.stderr : process.stdout).write(`${line}\n`);
    const r = await runBisect({
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
      buildHost: buildHostChoice(a),
      log,
      check: () => checkKernelHistory(a.tree, a.bad),
    });
    if (a.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else log(renderBisect(r));
    return r.exitCode;
  },
});

export const bisectStepCommand = defineCommand({
  command: 'bisect-step',
  describe: false, // run by git bisect run, never by hand
  builder: (y) => y.option('state', { type: 'string', demandOption: true, describe: 'bisect.json of the bisect' }),
  run: (a) => runStep(a.state, kernelStepRunner),
  // git bisect run reads 2 as "bad": any error of a step aborts the bisect instead.
  errorExit: { name: 'bisect-step', exitCode: EXIT_ABORT },
});
