/**
 * A bisect step with the kernel replaced: the real runStep (records, retries, exit codes) with a
 * StepRunner that reads a.c of the commit under test. BROKEN: does not build; NOBOOT: does not
 * boot; FAULT: the scenarios fail; FLAKY: fails on the first run, passes on re-runs; HARNESS: the
 * harness itself fails. FAKE_STEP_SLOW=1 makes every test wait a minute (for Ctrl-C tests);
 * FAKE_STEP_PIDS=FILE records the step's pid there.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStep, type StepRunner } from '../../harness/bisect/step.js';
import { sleep } from '../../harness/util/deadline.js';

const src = (worktree: string): string => readFileSync(join(worktree, 'a.c'), 'utf8');

export const fakeRunner: StepRunner = {
  async build(state) {
    if (src(state.worktree).includes('BROKEN')) return { ok: false, reason: 'make bzImage failed (exit 2) at step compiling', ms: 5 };
    return { ok: true, bzImage: join(state.outDir, 'bzImage'), ms: 5, reused: false };
  },
  async test(state, _bz, attempt) {
    if (process.env.FAKE_STEP_SLOW === '1') await sleep(60_000);
    const s = src(state.worktree);
    if (s.includes('HARNESS')) return { outcome: 'error', reason: 'internal error' };
    if (s.includes('NOBOOT')) return { outcome: 'no-boot', reason: 'the guest did not answer within 300 s' };
    if (s.includes('FAULT')) return { outcome: 'fail', reason: 'sk-map-free-live-owners FAIL: 16 elements linked', failed: ['sk-map-free-live-owners'] };
    if (s.includes('FLAKY') && attempt === 0) return { outcome: 'fail', reason: 'sk-map-free-vs-close-race FAIL: once', failed: ['sk-map-free-vs-close-race'] };
    return { outcome: 'pass', reason: '1 scenario(s) passed' };
  },
};

const i = process.argv.indexOf('--state');
if (i > 0) {
  if (process.env.FAKE_STEP_PIDS) appendFileSync(process.env.FAKE_STEP_PIDS, `${process.pid}\n`);
  process.exit(await runStep(process.argv[i + 1]!, fakeRunner));
}
