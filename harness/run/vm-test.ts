/**
 * `bpf-harness vm-test`: kernel -> VM -> guest agent -> counters -> verdict -> report.
 * Whatever happens after the results directory exists (a verdict, a panic, a deadline,
 * Ctrl-C), summary.json, the TAP and JUnit files, the console and kernel logs are written.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertConfig } from '../kernel/config.js';
import type { KernelImage } from '../kernel/resolve.js';
import { parseKmsgRecord, scanKernelLog } from '../verdict/kernel-log.js';
import { createRunDir, writeRunReport, type RunDir } from '../report/results-dir.js';
import { RUN_REPORTERS, stdoutReporter, stdoutText } from '../report/reporters.js';
import { isAcceptable } from '../report/format.js';
import type { ScenarioResult, Summary } from '../results/summary.js';
import { GuestOps } from '../agent/guest-ops.js';
import { selectScenarios } from '../scenarios/registry.js';
import { faultFor, type FaultRequest } from '../scenarios/faults.js';
import type { SizeLevel } from '../scenarios/types.js';
import { onAbort } from '../util/children.js';
import { GuestError, HarnessError, SetupError } from '../util/errors.js';
import { resultsRoot } from '../util/paths.js';
import { chooseLocalBackend, type BackendRequest } from '../backend/registry.js';
import { debugBaseline } from '../counters/debug-kernel.js';
import { debugFinal } from '../verdict/debug-kernel.js';
import { memcgTolerance } from '../verdict/lingering.js';
import { chooseAccel, type AccelRequest } from '../vm/accel.js';
import { chooseChannel, type ChannelKind } from '../vm/channel.js';
import type { GuestSession } from '../vm/session.js';
import { SHARE_NEEDS } from '../vm/qemu.js';
import { buildGuestInitramfs } from '../vm/guest-image.js';
import { defaultJobs, type BuiltKernel } from '../kernel-build/kernel-build.js';
import { resolveAndBuildKernel } from '../kernel-build/tree-kernel.js';
import { buildSelftests } from '../selftests/build.js';
import { selftestsGuestFiles } from '../selftests/guest-files.js';
import { runSelftests } from '../selftests/run.js';
import { progTestNames, treeLists, userLists } from '../selftests/lists.js';
import { applyLists, effectiveSelection, testProgsArgs, testProgsRunnerArgs, type Selection } from '../selftests/selection.js';
import { repeatCommand } from './repeat.js';
import type { PreparedGuest } from '../backend/backend.js';
import { sshBackend } from '../backend/ssh.js';
import { isTargetSpec } from '../target/ssh.js';
import type { BuiltSelftests } from '../selftests/build.js';
import { checkOverrides, runScenario } from './scenario-runner.js';
import { AFTER_RUN_MIN_WAIT_MS, armKernelWarn, attributeAfterRun, consoleReports, floodKmsg, readKernelLogAfterRun, type KernelLogFault } from './after-run.js';
import { ensureTestModule, TESTMOD_GUEST_PATH } from '../vm/testmod.js';
import { fileEntry } from '../vm/initramfs.js';


export interface VmTestOptions {
  kernel: string;
  mirror?: string;
  scenarios?: string[];
  sizes: SizeLevel;
  seed: number;
  accel: AccelRequest;
  channel?: ChannelKind;
  cpus: number;
  memoryMiB: number;
  bootDeadlineS: number;
  settleDeadlineS: number;
  /** Harness self-test only: the kernel-log faults of after-run.ts, for the whole run. */
  fault?: KernelLogFault;
  /** Harness self-test only: the scenarios' faults (ScenarioContext.fault, scenarios/faults.ts). */
  faults?: FaultRequest[];
  /** A race scenario whose rounds never reached the contended unlink path fails. */
  requireRace?: boolean;
  /** qemu (default), vng, or auto (vng for a tree when present). */
  backend?: BackendRequest;
  /** Scenario parameters set on the command line (--set name=value). */
  overrides?: Record<string, number>;
  json: boolean;
  /**
   * For vm-test --kernels: called with the live Summary as soon as it exists (it is final
   * once vmTest settles), so an interrupted multi-kernel run can still write it.
   */
  onSummary?: (summary: Summary) => void;
  /** For vm-test --kernels under --json: print no report of this kernel (stdout stays one document). */
  quiet?: boolean;
  /** Where the run's directory is made (default results/); bisect keeps each step's runs together. */
  resultsRoot?: string;
  /**
   * Also run the tree's BPF selftests in the same boot, after the scenarios (vm-test
   * --with-selftests, and `bpf-harness selftests` with no scenario at all).
   */
  selftests?: SelftestsRequest;
  /** Run none of the harness's own scenarios (`bpf-harness selftests`). */
  noScenarios?: boolean;
  /** SSH targets (`kernel` is ssh://...): --identity and --known-hosts. */
  ssh?: { identity?: string; knownHosts?: string };
}

export interface SelftestsRequest {
  /** What the user asked for (-t/-a/-d); effectiveSelection() fills in the default. */
  user: Partial<Selection>;
  /** Minutes each runner (test_progs, test_maps) may run in the guest. */
  deadlineMin: number;
  /** --denylist/--allowlist FILEs, applied after the tree's DENYLIST/ALLOWLIST files (selftests/lists.ts). */
  lists?: { deny?: string[]; allow?: string[] };
  /** Debug kernel; undefined: as the tree's last selftests build. */
  debug?: boolean;
  /** The kernel already built with the selftests' config (bisect steps): --kernel is its bzImage. */
  build?: BuiltKernel;
}

/** Progress goes to stderr under --json so stdout stays one JSON document. */
function makeLogger(json: boolean): (line: string) => void {
  return (line) => (json ? process.stderr : process.stdout).write(`${line}\n`);
}

function kernelTag(k: KernelImage): string {
  return k.source === 'debian' ? k.spec.replace(':', '-') : k.release;
}

function formatKmsg(records: readonly string[]): string {
  return records
    .map((r) => {
      const rec = parseKmsgRecord(r);
      return rec ? `[${(rec.usec / 1e6).toFixed(6).padStart(12)}] ${rec.message}` : r;
    })
    .join('\n');
}

/** The local guest: the kernel, the initramfs, QEMU or vng. Nothing boots until start(). */
async function prepareLocalGuest(opts: VmTestOptions, log: (line: string) => void, timings: Record<string, number>): Promise<{ backend: PreparedGuest; selftests?: BuiltSelftests }> {
  const t0 = Date.now();
  // A tree resolveKernel says needs a build is built first (kernel-build/tree-kernel.ts).
  const resolved = await resolveAndBuildKernel(opts.kernel, { mirror: opts.mirror, log, ...(opts.selftests && !opts.selftests.build ? { selftests: { debug: opts.selftests.debug } } : {}) });
  const kernel = opts.selftests?.build ? { ...resolved, build: opts.selftests.build } : resolved;
  timings.kernelMs = Date.now() - t0;
  const channel = chooseChannel(kernel.config, opts.channel);
  assertConfig(kernel, [...channel.requires, ...(opts.selftests ? SHARE_NEEDS : [])]);
  log(`kernel ${kernel.spec}: ${kernel.release}; agent channel ${channel.kind} (${channel.why})`);

  const selftests = opts.selftests && kernel.build ? await buildSelftests({ tree: kernel.build.tree, kernel: kernel.build, jobs: defaultJobs(), log }) : undefined;
  if (selftests) timings.selftestsBuildMs = selftests.elapsedMs;
  // The selftests come over 9p at the same path as on the host; their shared libraries ride in the initramfs.
  const testmod = opts.fault === 'kernel-warn' ? await ensureTestModule(kernel, { mirror: opts.mirror, log }) : undefined;
  if (testmod) timings.testModuleMs = testmod.elapsedMs;
  const image = buildGuestInitramfs([...(selftests ? selftestsGuestFiles(selftests) : []), ...(testmod ? [fileEntry(TESTMOD_GUEST_PATH.slice(1), testmod.path, 0o644)] : [])]);
  const shares = selftests ? [{ tag: 'bpfh.selftests', hostPath: selftests.dir, guestPath: selftests.dir }] : undefined;
  const spec = { bzImage: kernel.bzImage, initramfs: image.path, accel: 'tcg' as const, channel: channel.kind, cpus: opts.cpus, memoryMiB: opts.memoryMiB, shares };
  const accel = await chooseAccel(opts.accel, spec, log);
  const chosen = await chooseLocalBackend(opts.backend ?? 'qemu', kernel.source, { mirror: opts.mirror, log });
  const guest = { kernel, tag: kernelTag(kernel), spec: { ...spec, accel: accel.accel } };
  const refused = chosen.backend.refusal(guest);
  if (refused) throw new SetupError(refused);
  if (chosen.backend.name !== 'qemu') log(`backend ${chosen.backend.name}: ${chosen.why}`);
  return { selftests, backend: await chosen.backend.prepare(guest, log) };
}

export async function vmTest(opts: VmTestOptions): Promise<number> {
  const log = makeLogger(opts.json);
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const scenarios = opts.noScenarios ? [] : selectScenarios(opts.scenarios);
  checkOverrides(scenarios, opts.sizes, opts.overrides ?? {});
  // The user's test lists are read now: a missing file is a usage error before anything is built.
  const userTestLists = opts.selftests ? userLists(opts.selftests.lists ?? {}) : [];

  if (isTargetSpec(opts.kernel) && opts.selftests) throw new SetupError(`--with-selftests needs a kernel tree the harness builds and boots; it does not run on --target ${opts.kernel}`);
  // The kernel-log self-tests load a module, flood the log or panic the kernel: never on a machine that is not ours.
  if (isTargetSpec(opts.kernel) && opts.fault) throw new SetupError(`--inject-fault ${opts.fault} warns, floods or panics the kernel: it runs in a guest the harness boots, never on --target ${opts.kernel}`);
  const prepared = isTargetSpec(opts.kernel)
    ? { backend: await sshBackend.prepare({ url: opts.kernel, ...opts.ssh, bootDeadlineS: opts.bootDeadlineS }, log), selftests: undefined }
    : await prepareLocalGuest(opts, log, timings);
  const { backend, selftests } = prepared;
  const run = createRunDir(opts.resultsRoot ?? resultsRoot, backend.tag);
  const summary: Summary = {
    version: 1,
    tool: 'bpf-storage-harness',
    startedAt: new Date(t0).toISOString(),
    kernel: { ...backend.kernel },
    accel: backend.accel,
    backend: backend.backend,
    channel: backend.channel,
    ...(backend.target ? { target: backend.target } : {}),
    exitCode: 2,
    scenarios: [],
    timings,
    repeat: repeatCommand([opts.kernel], opts),
    resultsDir: run.dir,
  };
  opts.onSummary?.(summary);
  const kernelLog: string[] = [];
  let session: GuestSession | null = null;
  const agentLog = join(run.dir, 'agent.jsonl');
  const saveLogs = (): void => {
    if (session) writeFileSync(join(run.dir, 'console.log'), session.console.all);
    writeFileSync(join(run.dir, 'kernel.log'), formatKmsg(kernelLog) + '\n');
  };
  const unregister = onAbort((reason) => {
    summary.aborted = reason;
    summary.exitCode = 130;
    saveLogs();
    writeRunReport(run, summary);
  });

  try {
    log(backend.startLine);
    const bootDeadlineMs = opts.bootDeadlineS * 1000;
    const booted = await backend.start({
      bootDeadlineMs,
      recordAgent: (line) => appendFileSync(agentLog, line + '\n'),
    }, log).catch((err: unknown) => {
      if (err instanceof GuestError) writeFileSync(join(run.dir, 'console.log'), err.consoleTail);
      throw err;
    });
    session = booted.session;
    if (booted.crashes.length) summary.bootCrashes = booted.crashes;
    timings.bootMs = session.bootMs;
    const ready = session.ready;
    summary.kernel.release = String(ready.release ?? backend.kernel.release);
    const ncpus = Number(ready.ncpus ?? opts.cpus);
    const pageSize = Number(ready.pageSize ?? 4096);
    log(`${backend.target ? 'agent' : 'guest'} up in ${(session.bootMs / 1000).toFixed(1)} s: ${summary.kernel.release}, ${ncpus} CPUs`);

    const ops = new GuestOps(session.agent);
    const bootRead = await ops.kmsg();
    kernelLog.push(...bootRead.lines);
    if (bootRead.lost) log(`note: ${bootRead.lost} kernel log records were overwritten while booting`);
    // A target's kernel log holds what happened before the run: say where the run begins.
    if (backend.target) kernelLog.push(`--- ${backend.target.kernelLogBefore = bootRead.lines.length} records above were in the target's kernel log before this run ---`);
    const bootFindings = scanKernelLog(bootRead.lines);
    if (bootFindings.length) {
      summary.bootKernelLog = bootFindings.map((f) => f.line);
      log(`note: the kernel reported ${bootFindings.length} problem(s) while booting (see kernel.log); they do not count against any scenario`);
    }
    const tolerance = memcgTolerance(ncpus, pageSize);
    // Debug kernels (allocinfo, kmemleak): a baseline now, the checks after the scenarios.
    const debug = await debugBaseline(session.agent, backend.config, ncpus, log);
    if (opts.fault === 'kernel-warn') await armKernelWarn(ops);
    if (opts.fault === 'kmsg-flood') await floodKmsg(ops);
    for (const scenario of scenarios) {
      log(`scenario ${scenario.name}: ${scenario.summary}`);
      const result: ScenarioResult = await runScenario(scenario, {
        ops, ncpus, pageSize, tolerance, seed: opts.seed, level: opts.sizes, log,
        settleDeadlineMs: opts.settleDeadlineS * 1000, fault: faultFor(opts.faults, scenario), requireRace: opts.requireRace, overrides: opts.overrides ?? {},
        allocinfo: debug?.allocinfo !== undefined,
        onKernelLog: (records) => kernelLog.push(...records),
      });
      summary.scenarios.push(result);
      log(`  ${result.verdict.toUpperCase()} in ${(result.durationMs / 1000).toFixed(1)} s: ${result.reason}`);
      if (session.console.fatalError || session.gone?.()) break;
    }
    if (selftests && opts.selftests && !session.console.fatalError) {
      const tSelftests = Date.now();
      const selection = effectiveSelection(opts.selftests.user);
      const lists = [...treeLists(selftests.tree), ...userTestLists];
      const listed = applyLists(selection, lists, progTestNames(selftests.tree));
      const plan = { built: selftests, selection, listed, deadlineMs: opts.selftests.deadlineMin * 60_000, guestCpus: ncpus };
      summary.selftests = {
        tree: selftests.tree, dir: selftests.dir, llvm: selftests.llvm, selection: testProgsArgs(selection),
        lists: lists.map((l) => ({ label: l.label, kind: l.kind, origin: l.origin, entries: l.entries.length })),
        removed: listed.removed,
        runnerArgs: testProgsRunnerArgs(plan.deadlineMs, ncpus),
      };
      if (listed.removed.length) log(`  selftests: the test lists took out ${listed.removed.map((r) => `${r.test} (${r.list})`).join(', ')}`);
      await runSelftests(ops, plan, run.dir, log, (records) => kernelLog.push(...records), (rs) => summary.scenarios.push(...rs));
      timings.selftestsMs = Date.now() - tSelftests;
      const count = (v: string): number => summary.scenarios.filter((r) => r.kind === 'selftest' && r.verdict === v).length;
      log(`  selftests: ${count('pass')} passed, ${count('fail')} failed, ${count('error')} errors, ${count('skip')} skipped in ${(timings.selftestsMs / 1000).toFixed(1)} s`);
    }
    if (debug && !session.console.fatalError) summary.debug = await debugFinal(session.agent, debug, log);
    // Deferred teardown of the last scenario runs after its own read: read once more, and
    // look at the console after power-off for what came after this last read.
    const afterRun = session.console.fatalError ? undefined : await readKernelLogAfterRun(ops, {
      minWaitMs: AFTER_RUN_MIN_WAIT_MS, deadlineMs: opts.settleDeadlineS * 1000, onRecords: (records) => kernelLog.push(...records),
    });
    if (opts.fault === 'panic-after-run') await ops.write('/proc/sysrq-trigger', 'c').catch(() => undefined);
    const shutdownStart = Date.now();
    const shutdownError = await session.shutdown().then(() => undefined, (err: unknown) => (err instanceof Error ? err : new Error(String(err))));
    timings.shutdownMs = Date.now() - shutdownStart;
    let afterRunOk = true;
    if (afterRun) {
      afterRun.consoleAfterShutdown = consoleReports(session.console.linesAfter(ops.lastKmsgUsec ?? 0));
      afterRunOk = attributeAfterRun(summary, afterRun);
      if (!afterRunOk) log(`after the run: ${afterRun.attributedTo ? `added to ${afterRun.attributedTo}: ` : ''}${summary.afterRun?.kernelLog[0] ?? summary.afterRun?.consoleAfterShutdown[0] ?? summary.afterRun?.readError ?? `${afterRun.lost} kernel log records lost`}`);
    }
    if (shutdownError) throw shutdownError;
    summary.exitCode = summary.scenarios.every(isAcceptable) && (summary.debug?.ok ?? true) && afterRunOk ? 0 : 1;
  } catch (err) {
    summary.aborted = err instanceof Error ? err.message : String(err);
    summary.exitCode = err instanceof HarnessError ? err.exitCode : 1;
    if (session) session.kill();
    else backend.discard();
    throw err;
  } finally {
    unregister();
    timings.totalMs = Date.now() - t0;
    saveLogs();
    writeRunReport(run, summary);
    if (!opts.quiet) report(summary, run, opts, log);
  }
  return summary.exitCode;
}

function report(summary: Summary, run: RunDir, opts: VmTestOptions, log: (line: string) => void): void {
  process.stdout.write(stdoutText(RUN_REPORTERS[stdoutReporter(opts)], summary, { color: process.stdout.isTTY === true }));
  log(`results: ${run.dir}`);
  log(`report: ${join(run.dir, 'report.html')}`);
  if (summary.exitCode !== 0) log(`repeat with: ${summary.repeat}`);
}
