/**
 * Run the BPF selftests in a booted guest through the agent's exec verb: test_progs with the
 * selection and -J, then the selected map tests of test_maps (alone, with bpfh-map-test), each
 * under its own deadline.
 * Their output files come back with the read verb and are kept in the run's directory
 * (selftests/); the verdicts are results.ts's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult } from '../results/summary.js';
import type { ExecResult, GuestOps, KmsgRead } from '../agent/guest-ops.js';
import { GuestError } from '../util/errors.js';
import { lostMessage, scanKernelLog } from '../verdict/kernel-log.js';
import type { BuiltSelftests } from './build.js';
import { parseTestProgsJson, parseTestProgsOutput, testMapsResults, testProgsResults } from './results.js';
import { selectedMapTests, testProgsRunnerArgs, type ListedSelection, type Selection } from './selection.js';

export interface SelftestsPlan {
  built: BuiltSelftests;
  selection: Selection;
  /** test_progs' filter arguments with the test lists applied, and what the lists took out (applyLists()). */
  listed: ListedSelection;
  /** Deadline of each runner, ms. */
  deadlineMs: number;
  /** The guest's CPUs: test_progs runs that many workers (-j) when there is more than one. */
  guestCpus: number;
}

/** Where the guest writes the runners' output (tmpfs): read back with the read verb. */
const GUEST_OUT = '/tmp/bpfh-selftests';

function errorResult(name: string, reason: string, runner: string): ScenarioResult {
  return { name, kind: 'selftest', verdict: 'error', reason, params: { runner }, seed: 0, counters: { before: null, after: null }, settleMs: null, durationMs: 0, checks: [] };
}

/** A test the lists took out: a SKIP result saying which list and which entry. */
function removedResult(r: ListedSelection['removed'][number]): ScenarioResult {
  const res = errorResult(`test_progs/${r.test}`, `removed by ${r.list}: ${r.entry}`, 'test_progs');
  res.verdict = 'skip';
  return res;
}

/** test_progs' own watchdog names the test it killed on its stderr (in the runner's output file). */
export function watchdogKill(output: string): string | undefined {
  return /^WATCHDOG: test case (\S+) executes for \d+ seconds, terminating.*$/m.exec(output)?.[0];
}

function endedHow(e: ExecResult, deadlineMs: number): string {
  if (e.timedOut) return `did not finish within ${Math.round(deadlineMs / 1000)} s and was killed`;
  if (e.signal) return `was killed by signal ${e.signal}`;
  return `exited with ${e.status}`;
}

async function readBack(ops: GuestOps, path: string): Promise<string> {
  try {
    return await ops.read(path);
  } catch (err) {
    return `(could not read ${path} from the guest: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/**
 * The kernel log of one runner's run, by the scenarios' rules: a report is a failed result
 * `<runner>/kernel-log`; an unreadable log, or records lost before they were read, an error.
 */
export function runnerKernelLogResults(runner: string, read: KmsgRead | Error): ScenarioResult[] {
  if (read instanceof Error) return [errorResult(`${runner}/kernel-log`, `the kernel log could not be read after ${runner} ran: ${read.message}`, runner)];
  const out: ScenarioResult[] = [];
  const findings = scanKernelLog(read.lines);
  if (findings.length) {
    const r = errorResult(`${runner}/kernel-log`, `the kernel reported ${findings.length} problem(s) while ${runner} ran: ${findings[0]!.line}`, runner);
    r.verdict = 'fail';
    r.kernelLog = findings.flatMap((f) => [f.line, ...f.context]);
    out.push(r);
  }
  if (read.lost > 0) out.push(errorResult(`${runner}/kernel-log-lost`, lostMessage(read.lost, runner), runner));
  return out;
}

/**
 * Runs the selected tests, handing each runner's results to `onResults` as soon as they are
 * known (so an interrupted run still reports what finished). `onKernelLog` gets the kernel's
 * messages of each runner's run; a kernel report (WARNING, BUG, KASAN, ...) during a run is a
 * failed result of its own, `<runner>/kernel-log`, after the runner's tests.
 */
export async function runSelftests(
  ops: GuestOps,
  plan: SelftestsPlan,
  runDir: string,
  log: (line: string) => void,
  onKernelLog: (records: string[]) => void,
  onResults: (results: ScenarioResult[]) => void,
): Promise<void> {
  const hostOut = join(runDir, 'selftests');
  mkdirSync(hostOut, { recursive: true });
  await ops.mkdir(GUEST_OUT);
  // The root cgroup: a scenario may have left the agent in one of its own.
  await ops.enterCgroup('/sys/fs/cgroup');
  // What came before the selftests belongs to the scenarios (and was judged there).
  onKernelLog((await ops.kmsg()).lines);

  const runOne = async (runner: 'test_progs' | 'map_tests', path: string, args: string[]): Promise<{ ended: ExecResult; output: string; durationMs: number; kernelLog: ScenarioResult[] }> => {
    log(`selftests: ${[runner, ...args].join(' ')}`);
    const t0 = Date.now();
    // The agent answers when the runner ends; say every minute that it still runs.
    const ticker = setInterval(() => log(`selftests: ${runner} still running, ${Math.round((Date.now() - t0) / 60_000)} min of at most ${Math.round(plan.deadlineMs / 60_000)}`), 60_000);
    const ended = await ops
      .exec(path, args, { cwd: plan.built.dir, out: `${GUEST_OUT}/${runner}.out`, timeoutMs: plan.deadlineMs })
      .catch((err: unknown) => {
        // The kernel died under the runner (a panic, an oops in the agent's path): the report
        // names the runner it died under; the run itself ends as the guest's death.
        if (err instanceof GuestError) onResults([errorResult(runner, `the guest died while ${[runner, ...args].join(' ')} ran: ${err.message}`, runner)]);
        throw err;
      })
      .finally(() => clearInterval(ticker));
    const output = await readBack(ops, `${GUEST_OUT}/${runner}.out`);
    writeFileSync(join(hostOut, `${runner}.log`), output);
    const read = await ops.kmsg().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    if (!(read instanceof Error)) onKernelLog(read.lines);
    const kernelLog = runnerKernelLogResults(runner, read);
    log(`selftests: ${runner} ${endedHow(ended, plan.deadlineMs)} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return { ended, output, durationMs: Date.now() - t0, kernelLog };
  };

  const mapTests = selectedMapTests(plan.selection);
  const json = `${GUEST_OUT}/test_progs.json`;
  const tp = await runOne('test_progs', plan.built.testProgs, ['-J', json, ...testProgsRunnerArgs(plan.deadlineMs, plan.guestCpus), ...plan.listed.args]);
  const jsonText = await readBack(ops, json);
  writeFileSync(join(hostOut, 'test_progs.json'), jsonText);
  const parsed = parseTestProgsOutput(tp.output);
  const tpResults = testProgsResults(parsed, parseTestProgsJson(jsonText));
  for (const r of tpResults) r.durationMs = parsed.tests.length ? Math.round(tp.durationMs / parsed.tests.length) : 0;
  const removed = plan.listed.removed.filter((r) => !r.subtests).map(removedResult);
  if (!parsed.summary) {
    const watchdog = watchdogKill(tp.output);
    tpResults.push(errorResult('test_progs', `test_progs ${endedHow(tp.ended, plan.deadlineMs)} without its summary line${watchdog ? ` (${watchdog})` : ''} (see selftests/test_progs.log)`, 'test_progs'));
  } else if (tpResults.length === 0 && mapTests.length === 0 && removed.length === 0) {
    tpResults.push(errorResult('test_progs', `test_progs ran no test: the selection ${plan.listed.args.join(' ')} matches none in this tree`, 'test_progs'));
  }
  onResults([...tpResults, ...removed, ...tp.kernelLog]);

  if (mapTests.length) {
    const tm = await runOne('map_tests', plan.built.mapTestRunner, mapTests);
    const mapResults = testMapsResults(tm.output, mapTests, tm.ended);
    for (const r of mapResults) r.durationMs = tm.durationMs;
    onResults([...mapResults, ...tm.kernelLog]);
  }
}
