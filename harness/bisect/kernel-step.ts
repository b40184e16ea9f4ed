/**
 * The real StepRunner of `bisect-step`: build the worktree's HEAD with harness/build into the
 * bisect's one O= directory (incremental from the previous step), then vm-test the bzImage with
 * only the named scenarios, its results under the step's directory.
 */
import { BuildHostError } from '../build-host/build-host.js';
import { buildKernel } from '../kernel-build/kernel-build.js';
import { firstClause } from '../report/compare.js';
import { isAcceptable } from '../report/format.js';
import type { Summary } from '../results/summary.js';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { reportRun, vmTest, type VmTestOptions } from '../run/vm-test.js';
import { SelftestsBuildError } from '../selftests/build.js';
import { GuestError, SetupError } from '../util/errors.js';
import type { AttemptResult, BisectState, BuildResult, StepRunner } from './step.js';

/** "3 scenario(s) passed", "1 selftest(s) passed", or both. */
function passedText(summary: Summary | undefined): string {
  const all = summary?.scenarios ?? [];
  const selftests = all.filter((r) => r.kind === 'selftest').length;
  const scenarios = all.length - selftests;
  const parts = [...(scenarios || !selftests ? [`${scenarios} scenario(s)`] : []), ...(selftests ? [`${selftests} selftest(s)`] : [])];
  return `${parts.join(' and ')} passed`;
}

export const kernelStepRunner: StepRunner = {
  async build(state: BisectState, log): Promise<BuildResult> {
    const t0 = Date.now();
    try {
      const selftests = (state.selftests ?? []).length > 0;
      const b = await buildKernel({ tree: state.worktree, debug: state.debug, patches: [], out: state.outDir, deadlineMin: state.buildDeadlineMin, selftests, buildHost: state.buildHost, log });
      return { ok: true, bzImage: b.bzImage, ms: Date.now() - t0, reused: b.reused, kernel: b };
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message.split('\n')[0]! : String(err), ms: Date.now() - t0, ...(err instanceof BuildHostError ? { hostFailed: true } : {}) };
    }
  },

  async test(state, bzImage, attempt, resultsRoot, log, kernel): Promise<AttemptResult> {
    const selftests = state.selftests ?? [];
    let summary: Summary | undefined;
    const t0 = Date.now();
    try {
      const stepOpts: VmTestOptions = {
        kernel: bzImage,
        scenarios: state.scenarios.length ? state.scenarios : undefined,
        // Selftests alone when only they are named; a test_progs that does not build is a skip (125), like a kernel.
        noScenarios: selftests.length > 0 && state.scenarios.length === 0,
        ...(selftests.length && kernel ? { selftests: { user: { names: selftests }, deadlineMin: VM_TEST_DEFAULTS.selftestsDeadlineMin, build: kernel, ...(state.buildHost ? { buildHost: state.buildHost } : {}) } } : {}),
        sizes: state.sizes,
        // The same seed on every commit and every re-run: only the kernel changes.
        seed: state.seed,
        accel: state.accel,
        cpus: VM_TEST_DEFAULTS.cpus,
        memoryMiB: VM_TEST_DEFAULTS.memoryMiB,
        bootDeadlineS: state.bootDeadlineS,
        settleDeadlineS: state.settleDeadlineS,
        json: false,
        quiet: true,
        resultsRoot,
        onSummary: (s) => (summary = s),
      };
      const code = reportRun(await vmTest(stepOpts), stepOpts);
      const failed = (summary?.scenarios ?? []).filter((s) => !isAcceptable(s));
      const dir = summary?.resultsDir;
      if (code === 0) return { outcome: 'pass', reason: `${passedText(summary)}${attempt ? ` (re-run ${attempt})` : ''}`, resultsDir: dir, ms: Date.now() - t0 };
      // The first clause of each reason: a step's line stays readable; its results hold the rest.
      const why = failed.length ? failed.map((s) => `${s.name} ${s.verdict.toUpperCase()}: ${firstClause(s.reason)}`).join('; ') : summary?.debug && !summary.debug.ok ? 'the debug checks (allocinfo/kmemleak) failed' : `exit ${code}`;
      return { outcome: 'fail', reason: why, resultsDir: dir, failed: failed.map((s) => s.name), ms: Date.now() - t0 };
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      const dir = summary?.resultsDir;
      // The guest died: before any scenario it is a boot failure (skip); during one, the verdict.
      if (err instanceof GuestError) {
        const booted = summary?.timings.bootMs !== undefined;
        if (!booted) return { outcome: 'no-boot', reason: msg, resultsDir: dir, ms: Date.now() - t0 };
        return { outcome: 'fail', reason: `the guest died: ${msg}`, resultsDir: dir, failed: (summary?.scenarios ?? []).filter((s) => !isAcceptable(s)).map((s) => s.name), ms: Date.now() - t0 };
      }
      // The build host failed under the selftests' build: nothing said about the commit, the bisect stops.
      if (err instanceof BuildHostError) return { outcome: 'error', reason: `the build host failed: ${msg}`, resultsDir: dir, ms: Date.now() - t0 };
      // A kernel without what the harness needs (config options, channel): not a verdict.
      if (err instanceof SetupError || err instanceof SelftestsBuildError) return { outcome: 'untestable', reason: msg, resultsDir: dir, ms: Date.now() - t0 };
      log(`vm-test failed: ${msg}`);
      return { outcome: 'error', reason: msg, resultsDir: dir, ms: Date.now() - t0 };
    }
  },
};
