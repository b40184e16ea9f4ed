// The holes of the kernel-log verdict, each ending as FAIL or ERROR: a failed read, records
// overwritten before they were read, reports after the last scenario, a panic at power-off.
// The agent replies and console output are recorded from real debian:7.3 guests
// (test/fixtures/verdict/README.md); the failures of a read are injected.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough, Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AgentClient } from '../../harness/agent/client.js';
import type { ScenarioResult, ShellSession, Summary } from '../../harness/results/summary.js';
import { renderTable } from '../../harness/report/table.js';
import { summaryToTap } from '../../harness/report/tap.js';
import { summaryToJUnit } from '../../harness/report/junit.js';
import { renderRunReport } from '../../harness/report/html/run-report.js';
import { afterRunProblem, attributeAfterRun, consoleReports, readKernelLogAfterRun } from '../../harness/run/after-run.js';
import { scanScenarioKernelLog } from '../../harness/run/scenario-runner.js';
import { GuestOps, type KmsgRead } from '../../harness/agent/guest-ops.js';
import { GuestError } from '../../harness/util/errors.js';
import { ConsoleMonitor } from '../../harness/vm/console.js';
import { runnerKernelLogResults } from '../../harness/selftests/run.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixture = (name: string): string => readFileSync(join(root, 'test', 'fixtures', 'verdict', name), 'utf8');

/** The agent's recorded replies to `kmsg`, in order (the ready line first). */
function recordedReplies(name: string): string[] {
  return fixture(name).split('\n').filter((l) => l.startsWith('{'));
}

/** An agent that answers the ready line and then each kmsg call with the next recorded reply, renumbered. */
function replayingAgent(name: string): AgentClient {
  const replies = recordedReplies(name);
  const toHost = new PassThrough();
  const fromHost = new PassThrough();
  toHost.write('{"id":0,"ok":true,"verb":"ready"}\n');
  fromHost.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter((l) => l)) {
      const id = Number(/^(\d+) /.exec(line)?.[1]);
      const next = replies.shift();
      if (next) toHost.write(next.replace(/^\{"id":\d+,/, `{"id":${id},`) + '\n');
    }
  });
  return new AgentClient(Duplex.from({ readable: toHost, writable: fromHost }), () => undefined);
}

function passed(name: string): ScenarioResult {
  return { name, verdict: 'pass', reason: 'all 20 checks passed', params: {}, seed: 1, counters: { before: null, after: null }, settleMs: 300, durationMs: 1000, checks: [{ name: 'optmem', ok: true, message: 'back' }] };
}

function summaryWith(results: ScenarioResult[]): Summary {
  return { version: 1, tool: 'bpf-storage-harness', startedAt: '', kernel: { spec: 'debian:7.3', release: '7.3-amd64', bzImage: '' }, accel: 'tcg', backend: 'qemu', channel: 'virtio', exitCode: 2, scenarios: results, timings: {}, repeat: '' };
}

t.test('lost records: the sequence gap counts, not only the agent\'s EPIPE count', async (t) => {
  const agent = replayingAgent('debian-7.3-kmsg-flood.agent.jsonl');
  await agent.ready(5000);
  const ops = new GuestOps(agent);
  const boot = await ops.kmsg();
  t.equal(boot.lost, 0);
  const flooded = await ops.kmsg();
  t.equal(JSON.parse(recordedReplies('debian-7.3-kmsg-flood.agent.jsonl')[1]!).lost, 1, 'the agent saw one EPIPE');
  t.equal(flooded.lost, 458, 'records 349..806 were overwritten: the gap says how many');
  t.equal(ops.lastKmsgUsec, 10487757, 'the time of the last record read');
});

t.test('a scenario: lost records make a pass an ERROR, a report still FAILs', async (t) => {
  const agent = replayingAgent('debian-7.3-kmsg-flood.agent.jsonl');
  await agent.ready(5000);
  const ops = new GuestOps(agent);
  await ops.kmsg();
  const r = passed('sk-map-free-live-owners');
  const kept: string[] = [];
  await scanScenarioKernelLog(ops, (l) => kept.push(...l), r);
  t.equal(r.verdict, 'error');
  t.match(r.reason, /^458 kernel log record\(s\) were overwritten/);
  t.equal(kept.length, 142, 'the records read still go to kernel.log');

  const warn = replayingAgent('debian-7.3-kernel-warn.agent.jsonl');
  await warn.ready(5000);
  const wops = new GuestOps(warn);
  await wops.kmsg();
  const f = passed('sk-map-free-live-owners');
  const lossy: Pick<GuestOps, 'kmsg'> = { kmsg: async (): Promise<KmsgRead> => ({ ...(await wops.kmsg()), lost: 3 }) };
  await scanScenarioKernelLog(lossy, () => undefined, f);
  t.equal(f.verdict, 'fail', 'a report is a finding even when records were lost around it');
  t.match(f.reason, /^kernel log: WARNING: bpfh_warn\.c:48 at bpfh_warn_pre.*; 3 kernel log record\(s\) were overwritten/);
});

t.test('a scenario: a failed read is an ERROR, never a PASS', async (t) => {
  const r = passed('task-map-free-live-owners');
  const dead: Pick<GuestOps, 'kmsg'> = { kmsg: () => Promise.reject(new GuestError('guest died: kernel panic', '')) };
  await scanScenarioKernelLog(dead, () => undefined, r);
  t.equal(r.verdict, 'error');
  t.equal(r.reason, 'the kernel log could not be read after the scenario: guest died: kernel panic');
  t.ok(r.checks.some((c) => c.name === 'kernel-log-read' && !c.ok));
});

t.test('after the run: a report in the deferred teardown fails the last result', async (t) => {
  const agent = replayingAgent('debian-7.3-kernel-warn.agent.jsonl');
  await agent.ready(5000);
  const ops = new GuestOps(agent);
  await ops.kmsg(); // the boot; the next recorded read holds the kprobe's WARNING from the map-free worker
  const kept: string[] = [];
  const a = await readKernelLogAfterRun(ops, { minWaitMs: 0, deadlineMs: 10_000, onRecords: (l) => kept.push(...l) });
  t.ok(a.quiet, 'the read after the report brought nothing: quiet');
  t.equal(kept.length, 41);
  t.match(a.kernelLog[0], /^WARNING: bpfh_warn\.c:48 at bpfh_warn_pre/);
  const s = summaryWith([passed('sk-map-free-live-owners'), passed('task-map-free-live-owners')]);
  t.equal(attributeAfterRun(s, a), false);
  const last = s.scenarios[1]!;
  t.equal(last.verdict, 'fail');
  t.equal(s.scenarios[0]!.verdict, 'pass', 'only the last one: its teardown is the one no scenario read');
  t.match(last.reason, /^after the run: the kernel reported after the last scenario \(deferred teardown, read \d+ ms after it ended\): WARNING: bpfh_warn/);
  t.same(last.caughtBy, ['kernel log']);
  t.equal(s.afterRun?.attributedTo, 'task-map-free-live-owners');
  t.match(renderTable(s), /after the run \(log read \d+ ms after the last scenario, then the console after power-off; added to task-map-free-live-owners\): WARNING: bpfh_warn/);
});

t.test('after the run: an unreadable log is an ERROR; a clean one changes nothing', async (t) => {
  const dead: Pick<GuestOps, 'kmsg'> = { kmsg: () => Promise.reject(new Error('agent channel closed')) };
  const a = await readKernelLogAfterRun(dead, { minWaitMs: 0, deadlineMs: 1000, onRecords: () => undefined });
  t.equal(a.readError, 'agent channel closed');
  const s = summaryWith([passed('sk-map-free-live-owners')]);
  t.equal(attributeAfterRun(s, a), false);
  t.equal(s.scenarios[0]!.verdict, 'error');
  t.match(s.scenarios[0]!.reason, /^after the run: the kernel log could not be read after the last scenario: agent channel closed/);

  const clean = { waitedMs: 2000, quiet: true, lost: 0, kernelLog: [], consoleAfterShutdown: [] };
  const ok = summaryWith([passed('x')]);
  t.equal(attributeAfterRun(ok, clean), true);
  t.equal(ok.scenarios[0]!.verdict, 'pass');
  t.equal(afterRunProblem(clean), null);
  t.equal(attributeAfterRun(summaryWith([]), { ...clean, lost: 2 }), false, 'with nothing to attribute to, the run still cannot pass');
});

t.test('a panic at power-off: the console after the last read', async (t) => {
  const monitor = new ConsoleMonitor();
  monitor.push(fixture('debian-7.3-panic-after-run.console.log'));
  const replies = recordedReplies('debian-7.3-panic-after-run.agent.jsonl').map((l) => JSON.parse(l) as { lines: string[] });
  const lastRecord = replies.flatMap((r) => r.lines).filter((l) => /^\d+,\d+,\d+,/.test(l)).pop()!;
  const lastUsec = Number(lastRecord.split(',')[2]);
  const after = consoleReports(monitor.linesAfter(lastUsec));
  t.equal(after[0], 'Kernel panic - not syncing: sysrq triggered crash');
  t.same(consoleReports(monitor.linesAfter(Number.MAX_SAFE_INTEGER)), []);
  const s = summaryWith([passed('sk-map-free-live-owners')]);
  t.equal(attributeAfterRun(s, { waitedMs: 2003, quiet: true, lost: 0, kernelLog: [], consoleAfterShutdown: after }), false);
  t.equal(s.scenarios[0]!.verdict, 'fail');
  t.match(s.scenarios[0]!.reason, /power-off\): Kernel panic - not syncing: sysrq triggered crash/);
});

t.test('the console after a read: reports already read are not counted again', async (t) => {
  const monitor = new ConsoleMonitor();
  monitor.push(fixture('debian-7.3-reports.console.log'));
  const kprobe = fixture('debian-7.3-reports.kmsg').split('\n').find((l) => l.includes('WARNING: bpfh_warn.c:48'))!;
  const usec = Number(kprobe.split(',')[2]);
  const after = consoleReports(monitor.linesAfter(usec));
  t.notOk(after.some((l) => l.includes('bpfh_warn.c:48')), 'the kprobe WARNING was read: not after');
  t.ok(after.some((l) => l.startsWith('list_add corruption.')), 'what came later is');
  t.ok(after.includes('Kernel panic - not syncing: sysrq triggered crash'));
});

t.test('the selftests runners: same rules', async (t) => {
  const agent = replayingAgent('debian-7.3-kernel-warn.agent.jsonl');
  await agent.ready(5000);
  const ops = new GuestOps(agent);
  await ops.kmsg();
  const warned = await ops.kmsg();
  const r = runnerKernelLogResults('test_progs', warned);
  t.same(r.map((x) => [x.name, x.verdict]), [['test_progs/kernel-log', 'fail']]);
  t.same(runnerKernelLogResults('test_progs', { lines: [], lost: 0 }), [], 'a clean read adds nothing');
  t.same(runnerKernelLogResults('map_tests', { lines: [], lost: 5 }).map((x) => [x.name, x.verdict]), [['map_tests/kernel-log-lost', 'error']]);
  const dead = runnerKernelLogResults('map_tests', new Error('agent channel closed'));
  t.same(dead.map((x) => [x.name, x.verdict, x.reason]), [['map_tests/kernel-log', 'error', 'the kernel log could not be read after map_tests ran: agent channel closed']]);
});

t.test('after a shell: a report read when the user left is the shell\'s own record, never the scenario\'s, and the run still fails', async (t) => {
  const agent = replayingAgent('debian-7.3-kernel-warn.agent.jsonl');
  await agent.ready(5000);
  const ops = new GuestOps(agent);
  await ops.kmsg();
  const a = await readKernelLogAfterRun(ops, { minWaitMs: 0, deadlineMs: 10_000, onRecords: () => undefined });
  // The run stopped at a scenario that failed on its own (shell-on-fail), and at one that passed (shell --after).
  const failed: ScenarioResult = { ...passed('cgrp-map-free-live-owners'), verdict: 'fail', reason: '12 cgrp owners still have a storage struct attached', checks: [{ name: 'inspector', ok: false, message: '12 cgrp owners' }], caughtBy: ['inspector'] };
  for (const stopped of [failed, passed('sk-map-free-live-owners')]) {
    const before = structuredClone(stopped);
    const s = summaryWith([passed('task-map-free-live-owners'), stopped]);
    s.shell = { scenario: stopped.name, stoppedBecause: stopped.verdict === 'fail' ? 'failed' : 'named', ownersReleased: false, notRun: ['sk-map-free-vs-close-race'], transcript: 'shell-transcript.txt', input: 'shell-input.txt', durationMs: 61_000 };
    t.equal(attributeAfterRun(s, a), false, `${stopped.name}: a report after the shell fails the run`);
    t.same(s.scenarios[1], before, `${stopped.name}: the scenario is as it was when the shell opened (verdict, reason, checks, kernel log)`);
    t.equal(s.afterRun?.attributedTo, undefined, 'added to no result');
    t.equal(s.shell.kernelLog?.verdict, 'reported');
    t.match(s.shell.kernelLog?.reports[0], /^WARNING: bpfh_warn\.c:48 at bpfh_warn_pre/);
    t.match(s.shell.kernelLog?.problem, /^the kernel reported after the shell opened \(read when the user left\): WARNING: bpfh_warn/);

    const table = renderTable(s);
    t.notMatch(table, /after the run \(/, 'no "added to" line');
    t.match(table, new RegExp(`shell: the run stopped at ${stopped.name} \\(${stopped.verdict === 'fail' ? 'its first failure' : 'shell --after'}\\) for a shell, 61 s in the guest; what the guest showed: shell-transcript\\.txt`));
    t.match(table, /\n {2}not run: sk-map-free-vs-close-race\n/);
    t.match(table, new RegExp(`\\n {2}kernel log during and after the shell \\(not counted against ${stopped.name}, [^)]*; the run fails\\): the kernel reported: WARNING: bpfh_warn\\.c:48`));
    const tap = summaryToTap(s);
    t.match(tap, new RegExp(`\\nnot ok 3 - kernel log during and after the shell \\(after ${stopped.name}\\)\\n {2}---\\n {2}verdict: fail\\n`), 'TAP: a test point of its own');
    t.match(tap, /\n1\.\.3\n$/);
    t.match(tap, /kernel_log:\n {4}- "WARNING: bpfh_warn\.c:48/);
    const junit = summaryToJUnit(s);
    t.match(junit, new RegExp(`<testcase [^>]*name="kernel log during and after the shell \\(after ${stopped.name}\\)" time="61\\.000">\\n {6}<failure message="the kernel reported after the shell opened`), 'JUnit: a testcase of its own that fails');
    t.match(junit, new RegExp(`<testsuites name="[^"]*" tests="3" failures="${stopped.verdict === 'fail' ? 2 : 1}" errors="0"`));
    const html = renderRunReport(s);
    t.match(html, /<div class="banner">The kernel log during and after the shell \(not counted against [^)]*\) has a kernel report: the kernel reported after the shell opened/);
    t.match(html, /<a href="shell-transcript\.txt">shell-transcript\.txt<\/a>/);
  }

  const stoppedAt = (scenario: string): ShellSession => ({ scenario, stoppedBecause: 'named', ownersReleased: false, notRun: [], transcript: 'shell-transcript.txt', input: 'shell-input.txt' });
  const clean = summaryWith([passed('sk-map-free-live-owners')]);
  clean.shell = stoppedAt('sk-map-free-live-owners');
  t.equal(attributeAfterRun(clean, { waitedMs: 2000, quiet: true, lost: 0, kernelLog: [], consoleAfterShutdown: [] }), true, 'a clean log after the shell: the run can pass');
  t.same(clean.shell.kernelLog, { verdict: 'clean', reports: [] });
  t.match(summaryToTap(clean), /\nok 2 - kernel log during and after the shell \(after sk-map-free-live-owners\)\n1\.\.2\n$/);
  t.match(renderTable(clean), /shell: the run stopped at sk-map-free-live-owners \(shell --after\) for a shell, the run ended in it; .*\n {2}kernel log during and after the shell: nothing reported/);

  const dead = summaryWith([passed('sk-map-free-live-owners')]);
  dead.shell = stoppedAt('sk-map-free-live-owners');
  t.equal(attributeAfterRun(dead, { waitedMs: 0, quiet: false, lost: 0, kernelLog: [], consoleAfterShutdown: [], readError: 'agent channel closed' }), false, 'an unreadable log after the shell fails the run');
  t.equal(dead.scenarios[0]!.verdict, 'pass', 'and leaves the scenario alone');
  t.same(dead.shell.kernelLog, { verdict: 'unjudged', reports: [], problem: 'the kernel log could not be read after the shell opened: agent channel closed' });
  t.match(summaryToJUnit(dead), /<error message="the kernel log could not be read after the shell opened: agent channel closed" type="error">/);
  t.match(summaryToTap(dead), /\nnot ok 2 - kernel log during and after the shell \(after sk-map-free-live-owners\)\n {2}---\n {2}verdict: error\n {2}severity: error\n/);
  const lossy = summaryWith([passed('x')]);
  lossy.shell = stoppedAt('x');
  t.equal(attributeAfterRun(lossy, { waitedMs: 0, quiet: true, lost: 4, kernelLog: [], consoleAfterShutdown: [] }), false);
  t.match(lossy.shell.kernelLog?.problem, /^4 kernel log record\(s\) were overwritten .*\(in the read after the shell\)/);
});
