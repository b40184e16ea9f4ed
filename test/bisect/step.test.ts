// The bisect step's exit-code mapping (decideStep) and the whole step (runStep) with a fake
// runner on a real small git repository: records, re-runs, flaky, progress lines.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { checksOf, decideStep, EXIT_ABORT, EXIT_BAD, EXIT_GOOD, EXIT_SKIP, readStepRecords, runStep, type AttemptResult, type BisectState, type BuildResult } from '../../harness/bisect/step.js';
import { kernelStepRunner } from '../../harness/bisect/kernel-step.js';
import { resolveAndBuildKernel } from '../../harness/kernel-build/tree-kernel.js';
import { runCli } from '../helpers/cli.js';
import { fakeRunner } from '../helpers/fake-bisect-step.js';
import { gitRepo } from '../helpers/git.js';
import { tempDir } from '../helpers/temp-dir.js';

const built: BuildResult = { ok: true, bzImage: '/x/bzImage', ms: 1, reused: false };
const pass: AttemptResult = { outcome: 'pass', reason: 'ok' };
const fail: AttemptResult = { outcome: 'fail', reason: 'sk FAIL' };

t.test('exit codes: 0 good, 1 bad, 125 skip, 128 abort', async (t) => {
  t.same(decideStep(built, [pass]), { verdict: 'good', exitCode: EXIT_GOOD, flaky: false, reason: 'ok' });
  t.equal(decideStep(built, [fail]).exitCode, EXIT_BAD, 'a failure with no re-runs counts at once');
  t.equal(decideStep(built, [fail, fail]).exitCode, EXIT_BAD, 'failed again on the re-run: bad');
  t.match(decideStep(built, [fail, fail]).reason, /and on 1 re-run/);
  const flaky = decideStep(built, [fail, pass]);
  t.same([flaky.verdict, flaky.exitCode, flaky.flaky], ['good', EXIT_GOOD, true], 'fails then passes: flaky, counted good');
  t.match(flaky.reason, /^flaky: failed \(sk FAIL\), then passed 1 of 1 re-run/);
  t.equal(decideStep(built, [fail, { outcome: 'no-boot', reason: 'x' }]).exitCode, EXIT_BAD, 'a re-run that does not boot does not clear a failure');
  t.equal(decideStep({ ok: false, reason: 'make failed', ms: 1 }, []).exitCode, EXIT_SKIP, 'does not build: skip');
  t.match(decideStep({ ok: false, reason: 'make failed', ms: 1 }, []).reason, /^does not build: make failed/);
  t.same(decideStep({ ok: false, reason: 'the connection to the build host was lost', ms: 1, hostFailed: true }, []), { verdict: 'abort', exitCode: EXIT_ABORT, flaky: false, reason: 'the build host failed: the connection to the build host was lost' }, 'the build host failed, not the commit: abort, never skip');
  t.equal(decideStep(built, [{ outcome: 'no-boot', reason: 'deadline' }]).exitCode, EXIT_SKIP, 'does not boot: skip');
  t.equal(decideStep(built, [{ outcome: 'untestable', reason: 'no CONFIG_BPF_SYSCALL' }]).exitCode, EXIT_SKIP, 'lacks what the harness needs: skip');
  t.equal(decideStep(built, [{ outcome: 'error', reason: 'internal' }]).exitCode, EXIT_ABORT, 'the harness failed: abort the bisect');
  t.equal(decideStep(built, [fail, { outcome: 'error', reason: 'internal' }]).exitCode, EXIT_ABORT);
  t.equal(decideStep(built, []).exitCode, EXIT_ABORT, 'no test ran: abort');
  t.ok(EXIT_ABORT > 127, 'git bisect run stops on codes above 127');
});

function stateFor(repo: string, retries: number): string {
  const dir = tempDir(t, 'bstep');
  const state: BisectState = {
    version: 1, tree: repo, worktree: repo, outDir: join(dir, 'out'), dir, good: 'g', bad: 'b', candidates: 8, expectedSteps: 3,
    scenarios: ['sk-map-free-live-owners'], sizes: 'small', retries, seed: 1, debug: false, accel: 'tcg',
    bootDeadlineS: 60, settleDeadlineS: 30, buildDeadlineMin: 5, startedAt: new Date().toISOString(),
  };
  const file = join(dir, 'bisect.json');
  writeFileSync(file, JSON.stringify(state));
  return file;
}

const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
function commit(repo: string, text: string, subject: string): void {
  writeFileSync(join(repo, 'a.c'), text);
  execaSync('git', ['-C', repo, 'commit', '-qam', subject], { env });
}

t.test('runStep: records each step, re-runs a failure, reports flaky', async (t) => {
  const repo = gitRepo(t, 'bstep');
  const file = stateFor(repo, 2);
  const dir = join(file, '..');
  const lines: string[] = [];
  const out = (l: string): void => void lines.push(l);

  t.equal(await runStep(file, fakeRunner, out), EXIT_GOOD, 'a passing commit');
  commit(repo, 'int a; // FLAKY\n', 'bpf: flaky');
  t.equal(await runStep(file, fakeRunner, out), EXIT_GOOD, 'flaky counts as good');
  commit(repo, 'int a; // FAULT\n', 'bpf: break it');
  t.equal(await runStep(file, fakeRunner, out), EXIT_BAD);
  commit(repo, 'int a; // BROKEN\n', 'bpf: does not compile');
  t.equal(await runStep(file, fakeRunner, out), EXIT_SKIP);
  commit(repo, 'int a; // NOBOOT\n', 'bpf: does not boot');
  t.equal(await runStep(file, fakeRunner, out), EXIT_SKIP);

  const recs = readStepRecords(dir);
  t.same(recs.map((r) => [r.step, r.verdict, r.flaky, r.attempts.length]), [
    [1, 'good', false, 1],
    [2, 'good', true, 2],
    [3, 'bad', false, 3],
    [4, 'skip', false, 0],
    [5, 'skip', false, 1],
  ]);
  t.equal(recs[2]!.subject, 'bpf: break it');
  t.match(lines.join('\n'), /bisect: step 1 of ~3: [0-9a-f]{12} "first": building/);
  t.match(lines.join('\n'), /bisect: step 2 of ~3: [0-9a-f]{12}: GOOD \(FLAKY\) in \d+s: flaky: failed/);
  t.match(lines.join('\n'), /step 3 of ~3: [0-9a-f]{12}: failed \(sk-map-free-live-owners FAIL: 16 elements linked\); re-run 1 of 2/);
  t.match(lines.join('\n'), /step 3 of ~3: [0-9a-f]{12}: BAD in \d+s/);
  t.match(lines.join('\n'), /step 4 of ~3: [0-9a-f]{12}: SKIPPED in \d+s: does not build: make bzImage failed/);
  t.match(lines.join('\n'), /step 5 of ~3: [0-9a-f]{12}: SKIPPED in \d+s: does not boot/);
});

t.test('runStep: retries 0 counts the first failure', async (t) => {
  const repo = gitRepo(t, 'bstep0');
  commit(repo, 'int a; // FLAKY\n', 'bpf: flaky');
  const file = stateFor(repo, 0);
  t.equal(await runStep(file, fakeRunner, () => {}), EXIT_BAD);
});

t.test('the real step runner: a tree that does not build is skipped (125), through the CLI too', async (t) => {
  const repo = gitRepo(t, 'bstep-real');
  const file = stateFor(repo, 1);
  const lines: string[] = [];
  t.equal(await runStep(file, kernelStepRunner, (l) => void lines.push(l)), EXIT_SKIP);
  t.match(lines.join('\n'), /SKIPPED in \d+s: does not build: \S+ is not a kernel source tree/);
  const r = runCli(['bisect-step', '--state', file]);
  t.equal(r.status, EXIT_SKIP, r.stderr);
  t.match(r.stdout, /bisect: step 2 of ~3: [0-9a-f]{12} "first": building/);
  t.equal(readStepRecords(join(file, '..')).length, 2);
  const broken = runCli(['bisect-step', '--state', join(file, '..', 'no-such.json')]);
  t.equal(broken.status, EXIT_ABORT, 'an unreadable state stops the bisect');
});

t.test('the real step runner on a real kernel: pass, and an image that is no kernel is untestable', async (t) => {
  const k = await resolveAndBuildKernel('debian:7.3', { log: () => {} });
  const repo = gitRepo(t, 'bstep-boot');
  const state = JSON.parse(readFileSync(stateFor(repo, 1), 'utf8')) as BisectState;
  const res = tempDir(t, 'bstep-res');
  const ok = await kernelStepRunner.test(state, k.bzImage, 0, res, () => {});
  t.equal(ok.outcome, 'pass', ok.reason);
  t.ok(ok.resultsDir?.startsWith(res), 'the run is written under the step directory');
  const notKernel = join(res, 'bzImage');
  writeFileSync(notKernel, 'not a kernel');
  const bad = await kernelStepRunner.test(state, notKernel, 0, res, () => {});
  t.equal(bad.outcome, 'untestable', bad.reason);
  t.equal(decideStep({ ok: true, bzImage: notKernel, ms: 1, reused: false }, [bad]).exitCode, EXIT_SKIP);
});

t.test('what a step says it tests', async (t) => {
  const base = { scenarios: [] as string[], sizes: 'small' as const, retries: 1, seed: 1, debug: false, accel: 'tcg' as const, bootDeadlineS: 1, settleDeadlineS: 1, buildDeadlineMin: 1 };
  t.equal(checksOf(base), 'every scenario');
  t.equal(checksOf({ ...base, selftests: [] }), 'every scenario', 'a bisect.json from before selftests, or none named');
  t.equal(checksOf({ ...base, selftests: ['task_local_storage'] }), 'selftests task_local_storage', 'selftests alone run no scenario');
  t.equal(checksOf({ ...base, scenarios: ['sk-multi-map'], selftests: ['map_kptr'] }), 'sk-multi-map and selftests map_kptr');
});
