/**
 * vm-test's middle stage, run in the guest: boot (or connect), the boot's kernel log, the
 * scenarios, the tree's selftests, the debug-kernel checks, the kernel log after the run, and
 * the shutdown. What it learns goes into the run's record (record.ts) as it comes.
 */
import type { PreparedGuest } from '../backend/backend.js';
import { debugBaseline, type DebugBaseline } from '../counters/debug-kernel.js';
import { debugFinal } from '../verdict/debug-kernel.js';
import { isAcceptable, shellKernelLogLine } from '../report/format.js';
import type { GuestRestart, ScenarioResult } from '../results/summary.js';
import { faultFor } from '../scenarios/faults.js';
import { GuestOps } from '../agent/guest-ops.js';
import type { Scenario } from '../scenarios/types.js';
import type { BuiltSelftests } from '../selftests/build.js';
import { progTestNames, treeLists } from '../selftests/lists.js';
import { runSelftests } from '../selftests/run.js';
import { applyLists, effectiveSelection, testProgsArgs, testProgsRunnerArgs, type TestList } from '../selftests/selection.js';
import { scanKernelLog } from '../verdict/kernel-log.js';
import { memcgTolerance } from '../verdict/lingering.js';
import type { GuestSession } from '../vm/session.js';
import type { ShellGuest } from '../vm/shell-guest.js';
import { AFTER_RUN_MIN_WAIT_MS, armKernelWarn, attributeAfterRun, consoleReports, floodKmsg, readKernelLogAfterRun } from './after-run.js';
import type { RunRecord } from './record.js';
import { awaitOopsTrace, injectStrayInt3, restartCause, STRAY_INT3_FAULT } from './guest-restart.js';
import { runScenario } from './scenario-runner.js';
import { afterScenario, shellSession, stopForShell, TeardownHolder } from './shell-stop.js';
import type { SelftestsRequest, VmTestOptions } from './options.js';

export interface GuestPlan {
  backend: PreparedGuest;
  scenarios: readonly Scenario[];
  /** --shell-on-fail, `shell --after`: the guest's sshd for the shell (run/shell-stop.ts). */
  shellGuest?: ShellGuest;
  /** The tree's selftests, built, with what the user asked of them and their own test lists. */
  selftests?: { built: BuiltSelftests; request: SelftestsRequest; userLists: readonly TestList[] };
}

interface Guest {
  session: GuestSession;
  ops: GuestOps;
  ncpus: number;
  pageSize: number;
}

/** Runs everything in the guest; the record's summary gets its exit code (or the error is thrown). */
export async function runInGuest(plan: GuestPlan, opts: VmTestOptions, rec: RunRecord, log: (line: string) => void): Promise<void> {
  const timings = rec.summary.timings;
  let { guest, debug } = await bootForScenarios(plan.backend, opts, rec, log, 1);
  const { shellGuest } = plan;
  const teardowns = new TeardownHolder();
  let shellOpened = false;
  for (let index = 0; index < plan.scenarios.length; index++) {
    const scenario = plan.scenarios[index]!;
    const { session, ops, ncpus, pageSize } = guest;
    log(`scenario ${scenario.name}: ${scenario.summary}`);
    const result: ScenarioResult = await runScenario(scenario, {
      ops, ncpus, pageSize, tolerance: memcgTolerance(ncpus, pageSize), seed: opts.seed, level: opts.sizes, log,
      settleDeadlineMs: opts.settleDeadlineS * 1000, fault: faultFor(opts.faults, scenario), requireRace: opts.requireRace, overrides: opts.overrides ?? {},
      allocinfo: debug?.allocinfo !== undefined,
      onKernelLog: (records) => rec.kernelLog.push(...records),
      deferTeardown: shellGuest ? teardowns.defer : undefined,
    });
    const cause = restartCause(session.console.fatalError, { multiThreadedTcg: plan.backend.multiThreadedTcg, restarts: rec.summary.guestRestarts?.length ?? 0, shell: shellGuest !== undefined });
    if (cause) {
      // The scenario's result is the dead guest's: it runs again in a new boot, and so does what came after it.
      ({ guest, debug } = await bootAgain(plan.backend, opts, rec, log, { scenario: scenario.name, crash: session.console.fatalError ?? '', cause, firstReason: result.reason }, session));
      index -= 1; // the loop's index++ comes back to this scenario
      continue;
    }
    rec.summary.scenarios.push(result);
    // A guest that died takes no teardown and gives no shell.
    const alive = (): boolean => !session.console.fatalError && !session.gone?.();
    // Decided after the teardown's kernel-log read, which can still fail the scenario.
    const next = alive() && shellGuest ? await afterScenario(opts.shell, ops, result, teardowns, (records) => rec.kernelLog.push(...records)) : 'go on';
    log(`  ${result.verdict.toUpperCase()} in ${(result.durationMs / 1000).toFixed(1)} s: ${result.reason}`);
    if (next !== 'go on' && alive() && opts.shell && shellGuest) {
      // In the summary before the shell opens: a run interrupted there still says where it stopped.
      // Leaving the shell stops the guest (its banner says so): what would have come after is not run.
      const rest = [...plan.scenarios.slice(index + 1).map((s) => s.name), ...(plan.selftests ? ['the tree\'s selftests'] : []), ...(debug ? ['the debug-kernel checks'] : [])];
      const shell = (rec.summary.shell = shellSession(opts.shell, result, next, rest));
      await stopForShell(opts.shell, ops, shellGuest.access, result, teardowns, rec.run.dir, shell, (records) => rec.kernelLog.push(...records));
      shellOpened = true;
      break;
    }
    if (session.console.fatalError || session.gone?.()) break;
  }
  const { session, ops } = guest;
  if (shellGuest && opts.shell?.at === 'fail' && !shellOpened && !session.console.fatalError) log('--shell-on-fail: no scenario failed, so no shell');
  const goOn = !session.console.fatalError && !shellOpened;
  if (plan.selftests && goOn) await runTreeSelftests(plan.selftests, guest, rec, log);
  if (debug && goOn) rec.summary.debug = await debugFinal(session.agent, debug, log);
  // Deferred teardown of the last scenario runs after its own read: read once more, and
  // look at the console after power-off for what came after this last read.
  const afterRun = session.console.fatalError ? undefined : await readKernelLogAfterRun(ops, {
    minWaitMs: AFTER_RUN_MIN_WAIT_MS, deadlineMs: opts.settleDeadlineS * 1000, onRecords: (records) => rec.kernelLog.push(...records),
  });
  if (opts.fault === 'panic-after-run') await ops.write('/proc/sysrq-trigger', 'c').catch(() => undefined);
  const shutdownStart = Date.now();
  const shutdownError = await session.shutdown().then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  timings.shutdownMs = Date.now() - shutdownStart;
  let afterRunOk = true;
  if (afterRun) {
    afterRun.consoleAfterShutdown = consoleReports(session.console.linesAfter(ops.lastKmsgUsec ?? 0));
    afterRunOk = attributeAfterRun(rec.summary, afterRun);
    if (rec.summary.shell) log(shellKernelLogLine(rec.summary.shell));
    else if (!afterRunOk) log(`after the run: ${afterRun.attributedTo ? `added to ${afterRun.attributedTo}: ` : ''}${rec.summary.afterRun?.kernelLog[0] ?? rec.summary.afterRun?.consoleAfterShutdown[0] ?? rec.summary.afterRun?.readError ?? `${afterRun.lost} kernel log records lost`}`);
  }
  if (shutdownError) throw shutdownError;
  rec.summary.exitCode = rec.summary.scenarios.every(isAcceptable) && (rec.summary.debug?.ok ?? true) && afterRunOk ? 0 : 1;
}

/**
 * A boot ready for the scenarios: booted (or connected), its boot log read, the debug-kernel
 * baseline taken, the run-wide faults set up. `boot` counts from 1 (guest-restart.ts).
 */
async function bootForScenarios(backend: PreparedGuest, opts: VmTestOptions, rec: RunRecord, log: (line: string) => void, boot: number): Promise<{ guest: Guest; debug: DebugBaseline | undefined }> {
  const guest = await bootOnce(backend, opts, rec, log);
  await readBootLog(backend, guest, rec, log);
  // Debug kernels (allocinfo, kmemleak): a baseline now, the checks after the scenarios.
  const debug = await debugBaseline(guest.session.agent, backend.config, guest.ncpus, log);
  if (opts.fault === 'kernel-warn') await armKernelWarn(guest.ops);
  if (opts.fault === 'kmsg-flood') await floodKmsg(guest.ops);
  if (opts.fault === STRAY_INT3_FAULT && boot === 1) await injectStrayInt3(guest.ops, guest.session);
  return { guest, debug };
}

/** The guest died of an emulator artifact: its console kept, the restart recorded, the same guest booted again. */
async function bootAgain(backend: PreparedGuest, opts: VmTestOptions, rec: RunRecord, log: (line: string) => void, died: Omit<GuestRestart, 'console' | 'bootMs'>, dead: GuestSession): Promise<{ guest: Guest; debug: DebugBaseline | undefined }> {
  await awaitOopsTrace(dead);
  dead.kill();
  const restarts = (rec.summary.guestRestarts ??= []);
  const boot = restarts.length + 2;
  const consoleFile = rec.keepConsole(dead, boot - 1);
  log(`  the guest died in ${died.scenario}: ${died.crash}`);
  log(`  ${died.cause}: booting again (boot ${boot}) to run ${died.scenario} again; the dead guest's console is ${consoleFile}`);
  rec.kernelLog.push(`--- the guest died here (${died.crash}) and was booted again: boot ${boot} ---`);
  const restart: GuestRestart = { ...died, console: consoleFile, bootMs: 0 };
  restarts.push(restart);
  const next = await bootForScenarios(backend, opts, rec, log, boot);
  restart.bootMs = next.guest.session.bootMs;
  return next;
}

/** Boots (or connects) until the agent answers; the record has the session from then on. */
async function bootOnce(backend: PreparedGuest, opts: VmTestOptions, rec: RunRecord, log: (line: string) => void): Promise<Guest> {
  log(backend.startLine);
  const booted = await backend.start({ bootDeadlineMs: opts.bootDeadlineS * 1000, recordAgent: rec.recordAgent }, log).catch((err: unknown) => {
    rec.bootFailed(err);
    throw err;
  });
  const session = booted.session;
  rec.session = session;
  const summary = rec.summary;
  if (booted.crashes.length) summary.bootCrashes = [...(summary.bootCrashes ?? []), ...booted.crashes];
  // The first boot's; a boot after a restart has its own figure (guestRestarts).
  summary.timings.bootMs ??= session.bootMs;
  const ready = session.ready;
  summary.kernel.release = String(ready.release ?? backend.kernel.release);
  const ncpus = Number(ready.ncpus ?? opts.cpus);
  const pageSize = Number(ready.pageSize ?? 4096);
  log(`${backend.target ? 'agent' : 'guest'} up in ${(session.bootMs / 1000).toFixed(1)} s: ${summary.kernel.release}, ${ncpus} CPUs`);
  return { session, ops: new GuestOps(session.agent), ncpus, pageSize };
}

/** The kernel log up to the run: kept, and what it reports is noted (it counts against no scenario). */
async function readBootLog(backend: PreparedGuest, guest: Guest, rec: RunRecord, log: (line: string) => void): Promise<void> {
  const bootRead = await guest.ops.kmsg();
  rec.kernelLog.push(...bootRead.lines);
  if (bootRead.lost) log(`note: ${bootRead.lost} kernel log records were overwritten while booting`);
  // A target's kernel log holds what happened before the run: say where the run begins.
  if (backend.target) rec.kernelLog.push(`--- ${backend.target.kernelLogBefore = bootRead.lines.length} records above were in the target's kernel log before this run ---`);
  const bootFindings = scanKernelLog(bootRead.lines);
  if (bootFindings.length) {
    rec.summary.bootKernelLog = [...(rec.summary.bootKernelLog ?? []), ...bootFindings.map((f) => f.line)];
    log(`note: the kernel reported ${bootFindings.length} problem(s) while booting (see kernel.log); they do not count against any scenario`);
  }
}

/** The tree's BPF selftests in the same boot, after the scenarios. */
async function runTreeSelftests(st: NonNullable<GuestPlan['selftests']>, guest: Guest, rec: RunRecord, log: (line: string) => void): Promise<void> {
  const { built, request } = st;
  const summary = rec.summary;
  const tSelftests = Date.now();
  const selection = effectiveSelection(request.user);
  const lists = [...treeLists(built.tree), ...st.userLists];
  const listed = applyLists(selection, lists, progTestNames(built.tree));
  const plan = { built, selection, listed, deadlineMs: request.deadlineMin * 60_000, guestCpus: guest.ncpus };
  summary.selftests = {
    tree: built.tree, dir: built.dir, llvm: built.llvm, selection: testProgsArgs(selection),
    lists: lists.map((l) => ({ label: l.label, kind: l.kind, origin: l.origin, entries: l.entries.length })),
    removed: listed.removed,
    runnerArgs: testProgsRunnerArgs(plan.deadlineMs, guest.ncpus),
  };
  if (listed.removed.length) log(`  selftests: the test lists took out ${listed.removed.map((r) => `${r.test} (${r.list})`).join(', ')}`);
  await runSelftests(guest.ops, plan, rec.run.dir, log, (records) => rec.kernelLog.push(...records), (rs) => summary.scenarios.push(...rs));
  summary.timings.selftestsMs = Date.now() - tSelftests;
  const count = (v: string): number => summary.scenarios.filter((r) => r.kind === 'selftest' && r.verdict === v).length;
  log(`  selftests: ${count('pass')} passed, ${count('fail')} failed, ${count('error')} errors, ${count('skip')} skipped in ${(summary.timings.selftestsMs / 1000).toFixed(1)} s`);
}
