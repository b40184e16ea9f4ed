/**
 * `bpf-harness vm-test`: kernel -> VM -> guest agent -> counters -> verdict -> report, in three
 * stages: prepare (prepare.ts: kernel, image, backend), run in the guest (in-guest.ts:
 * scenarios, selftests, debug checks) and record (record.ts: the results directory, the
 * summary, abort handling). Whatever happens after the results directory exists (a verdict, a
 * panic, a deadline, Ctrl-C), summary.json, the TAP and JUnit files, the console and kernel
 * logs are written.
 */
import { selectScenarios } from '../scenarios/registry.js';
import { userLists } from '../selftests/lists.js';
import { runInGuest } from './in-guest.js';
import { prepare } from './prepare.js';
import { RunRecord } from './record.js';
import type { VmTestOptions } from './options.js';
import { checkOverrides } from './scenario-runner.js';

export type { SelftestsRequest, VmTestOptions } from './options.js';

/** Progress goes to stderr under --json so stdout stays one JSON document. */
function makeLogger(json: boolean): (line: string) => void {
  return (line) => (json ? process.stderr : process.stdout).write(`${line}\n`);
}

export async function vmTest(opts: VmTestOptions): Promise<number> {
  const log = makeLogger(opts.json);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const scenarios = opts.noScenarios ? [] : selectScenarios(opts.scenarios);
  checkOverrides(scenarios, opts.sizes, opts.overrides ?? {});
  // The user's test lists are read now: a missing file is a usage error before anything is built.
  const userTestLists = opts.selftests ? userLists(opts.selftests.lists ?? {}) : [];

  const { backend, selftests } = await prepare(opts, log, timings);
  const rec = new RunRecord(backend, opts, t0, timings);
  try {
    await runInGuest({ backend, scenarios, ...(selftests && opts.selftests ? { selftests: { built: selftests, request: opts.selftests, userLists: userTestLists } } : {}) }, opts, rec, log);
  } catch (err) {
    rec.failed(err);
    if (rec.session) rec.session.kill();
    else backend.discard();
    throw err;
  } finally {
    rec.finish(t0, opts, log);
  }
  return rec.summary.exitCode;
}
