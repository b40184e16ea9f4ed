// The shell-after-a-scenario policy on replies recorded from a real run (test/fixtures/shell/
// README.md): the keep reply parsed, the banner made of it and of the inspector's records, where
// a run stops, and the held teardown.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentReply } from '../../harness/agent/client.js';
import { parseKeepReply } from '../../harness/agent/keep.js';
import type { InspectedKind } from '../../harness/counters/inspector.js';
import type { KmsgRead } from '../../harness/agent/guest-ops.js';
import type { ScenarioResult } from '../../harness/results/summary.js';
import { afterScenario, linkedOwnerLines, ranges, shellBanner, shellSession, stopForShell, stopsHere, TeardownHolder, type ShellStop } from '../../harness/run/shell-stop.js';
import type { GuestOps } from '../../harness/agent/guest-ops.js';
import { projectRoot } from '../../harness/util/paths.js';

/** The agent's replies in a recorded agent.jsonl excerpt (its request lines, "> ID VERB ...", left out). */
function recordedReplies(dir: string, file: string): AgentReply[] {
  return readFileSync(join(projectRoot, 'test', 'fixtures', dir, file), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AgentReply);
}

const replies = recordedReplies('shell', 'keep-cgrp-7.3.jsonl');
const keepReply = replies.find((r) => r.verb === 'keep')!;
/** The inspector's records by the kind their trailer ("end KIND visited storages elements") names. */
function kindOf(records: readonly string[]): InspectedKind {
  const kind = /^end (sk|task|cgrp) /.exec(records[records.length - 1] ?? '')?.[1];
  if (!kind) throw new Error(`inspect reply without a trailer: ${JSON.stringify(records.slice(-1))}`);
  return kind as InspectedKind;
}
const inspected = new Map<InspectedKind, string[]>(replies.filter((r) => r.verb === 'inspect').map((r) => [kindOf(r.records as string[]), r.records as string[]]));

/** A kmsg reply as GuestOps.kmsg returns it. */
function kmsgRead(reply: AgentReply): KmsgRead {
  return { lines: (reply.lines as unknown[]).map(String), lost: Number(reply.lost) };
}
/** The kmsg read after a held teardown in which the kernel said nothing (teardown-kmsg-7.3.jsonl). */
const quietKmsg = kmsgRead(recordedReplies('shell', 'teardown-kmsg-7.3.jsonl').find((r) => r.verb === 'kmsg')!);
/** A kmsg read holding a real 7.3 WARNING (the kernel-warn fault's, test/fixtures/verdict/README.md). */
const warnKmsg = kmsgRead(recordedReplies('verdict', 'debian-7.3-kernel-warn.agent.jsonl').find((r) => r.verb === 'kmsg' && (r.lines as string[]).some((l) => l.includes('WARNING:')))!);

function result(name: string, verdict: ScenarioResult['verdict'], reason = ''): ScenarioResult {
  return { name, verdict, reason, params: {}, seed: 1, counters: { before: null, after: null }, settleMs: null, durationMs: 0, checks: [] };
}

t.test('the keep reply of a real run', async (t) => {
  const kept = parseKeepReply(keepReply);
  t.same(kept.maps, [{ id: 13, type: 'cgrp_storage', name: 'cgrp_stg', pin: '/sys/fs/bpf/bpfh/cgrp_storage-13' }]);
  t.equal(kept.pid, 116);
  t.equal(kept.cgroups.length, 768);
  t.same(kept.cgroups[0], { id: 1283, path: '/sys/fs/cgroup/bpfh-cgrp-map-free-live-owners/bpfh-o64' });
  t.same([kept.sockets, kept.threads], [[], []]);
  t.throws(() => parseKeepReply({ ...keepReply, maps: [{ id: 13 }] }), /maps is not a list/);
  t.throws(() => parseKeepReply({ ...keepReply, threads: undefined }), /threads is not an array/);
  t.throws(() => parseKeepReply({ ...keepReply, cgroups: [{ path: 'x' }] }), /cgroups is not a list/);
});

t.test('the banner: pinned maps, owners and how to find them, owners with elements linked', async (t) => {
  const kept = parseKeepReply(keepReply);
  const linked = linkedOwnerLines(inspected);
  t.equal(linked.length, 12, 'leave-elem left one element on one cgroup in 64: 12 of 768');
  t.equal(linked[0], 'cgrp 1283: elements of map 13');
  const banner = shellBanner(result('cgrp-map-free-live-owners', 'fail', '12 cgrp owners still have a storage struct attached'), kept, linked);
  t.equal(banner[0], 'scenario cgrp-map-free-live-owners: FAIL: 12 cgrp owners still have a storage struct attached');
  t.ok(banner.includes('  map 13 (cgrp_storage cgrp_stg) pinned at /sys/fs/bpf/bpfh/cgrp_storage-13'));
  t.ok(banner.includes('owners held by the agent (pid 116):'));
  t.match(banner.join('\n'), /768 cgroups: \/sys\/fs\/cgroup\/bpfh-cgrp-map-free-live-owners\/bpfh-o64 \(id 1283\), .*\(ls -d \/sys\/fs\/cgroup\/bpfh-cgrp-map-free-live-owners\/bpfh-o\*\)/);
  t.match(banner.join('\n'), /owners with elements still linked \(the inspector\):\n {2}cgrp 1283: elements of map 13\n/);
  t.match(banner[banner.length - 1], /bpftool map show pinned \/sys\/fs\/bpf\/bpfh\/cgrp_storage-13/);

  const threads = shellBanner(result('task-x', 'pass'), { ...kept, maps: [], cgroups: [], threads: [130, 131, 132, 140], sockets: [5, 6, 7] }, []);
  t.match(threads.join('\n'), /no local storage map is left in the kernel/);
  t.match(threads.join('\n'), /3 sockets: the agent's fds 5-7 \(ls -l \/proc\/116\/fd\)/);
  t.match(threads.join('\n'), /4 threads: tids 130-132, 140 \(ls \/proc\/116\/task\)/);
  t.match(threads.join('\n'), /no owner has an element linked/);
});

t.test('ranges', async (t) => {
  t.equal(ranges([]), '');
  t.equal(ranges([7, 5, 6, 9, 11, 12]), '5-7, 9, 11-12');
});

t.test('where a run stops', async (t) => {
  const onFail: ShellStop = { at: 'fail', open: async () => undefined };
  const after: ShellStop = { at: { after: 'b' }, open: async () => undefined };
  t.notOk(stopsHere(onFail, result('a', 'pass')));
  t.notOk(stopsHere(onFail, result('a', 'skip')));
  t.ok(stopsHere(onFail, result('a', 'fail')));
  t.ok(stopsHere(onFail, result('a', 'error')));
  t.notOk(stopsHere(after, result('a', 'fail')));
  t.ok(stopsHere(after, result('b', 'pass')));
});

t.test('the held teardown runs once, then the log is read again; dropped, it never runs', async (t) => {
  let kmsgReads = 0;
  // The kernel log as the agent returned it after a held teardown when nothing new came.
  const ops: Pick<GuestOps, 'kmsg'> = { kmsg: async () => (kmsgReads++, quietKmsg) };
  const holder = new TeardownHolder();
  let ran = 0;
  holder.defer(async () => void ran++);
  const r = result('a', 'pass', 'all 3 checks passed');
  await holder.run(ops, r, () => undefined);
  await holder.run(ops, r, () => undefined);
  t.equal(ran, 1);
  t.equal(kmsgReads, 1);
  t.equal(r.verdict, 'pass');

  holder.defer(async () => {
    throw new Error('agent cgroups-remove failed: Device or resource busy (errno 16)');
  });
  await holder.run(ops, r, () => undefined);
  t.equal(r.verdict, 'error', 'a teardown that fails is an error of the scenario');
  t.match(r.reason, /releasing the scenario's owners failed: agent cgroups-remove failed/);

  holder.defer(async () => void ran++);
  holder.drop();
  await holder.run(ops, r, () => undefined);
  t.equal(ran, 1, 'dropped: the owners stay');
});

t.test('--shell-on-fail decides after the teardown\'s kernel-log read: a report made while the owners go stops the run there', async (t) => {
  const onFail: ShellStop = { at: 'fail', open: async () => undefined };
  const after: ShellStop = { at: { after: 'b' }, open: async () => undefined };
  const passing = (): ScenarioResult => ({ ...result('a', 'pass', 'all 16 checks passed'), checks: [{ name: 'optmem', ok: true, message: 'back' }] });
  const withTeardown = (): { holder: TeardownHolder; ran: () => number } => {
    let ran = 0;
    const holder = new TeardownHolder();
    holder.defer(async () => void ran++);
    return { holder, ran: () => ran };
  };
  const reading = (read: KmsgRead): Pick<GuestOps, 'kmsg'> => ({ kmsg: async () => read });

  const quiet = withTeardown();
  const clean = passing();
  t.equal(await afterScenario(onFail, reading(quietKmsg), clean, quiet.holder, () => undefined), 'go on', 'a quiet teardown: the run goes on');
  t.equal(quiet.ran(), 1);

  const warned = withTeardown();
  const r = passing();
  t.equal(await afterScenario(onFail, reading(warnKmsg), r, warned.holder, () => undefined), 'stop, owners released', 'a report at the teardown stops the run');
  t.equal(warned.ran(), 1, 'the teardown had run: the owners are released');
  t.equal(r.verdict, 'fail');
  t.match(r.reason, /kernel log: .*WARNING: bpfh_warn\.c:48/);
  t.same(r.caughtBy, ['kernel log'], 'caughtBy from the checks after the teardown\'s read');

  const failed = withTeardown();
  const f = { ...passing(), verdict: 'fail' as const, checks: [{ name: 'optmem', ok: false, message: 'optmem up' }] };
  t.equal(await afterScenario(onFail, reading(warnKmsg), f, failed.holder, () => undefined), 'stop', 'a scenario that failed stops before its teardown');
  t.equal(failed.ran(), 0, 'the owners are still held');

  const named = withTeardown();
  t.equal(await afterScenario(after, reading(warnKmsg), passing(), named.holder, () => undefined), 'go on', 'shell --after stops at its scenario only');
  t.equal(named.ran(), 1);
  t.equal(await afterScenario(undefined, reading(warnKmsg), passing(), withTeardown().holder, () => undefined), 'go on', 'no stop: the teardown just runs');

  const banner = shellBanner(r, { ...parseKeepReply(keepReply), cgroups: [] }, [], true);
  t.match(banner[1], /^found only once the scenario had released its owners .*: the owners are gone/, 'the banner says the owners were released');
  t.match(banner.join('\n'), /holds no owners: they were released before the failure showed/);
});

t.test('the stop: the kernel log is read once more before the prompt, and the banner shows the verdict the summary keeps', async (t) => {
  // A scenario that passed under shell --after, and a WARNING read before the prompt (while the
  // maps were pinned and the inspector walked): it is the scenario's, as the run recorded it.
  const r = { ...result('cgrp-map-free-live-owners', 'pass', 'all 16 checks passed'), checks: [{ name: 'inspector', ok: true, message: 'nothing linked' }] };
  let dropped = 0;
  const holder = new TeardownHolder();
  holder.defer(async () => void dropped++);
  const calls: string[] = [];
  const ops = {
    keep: async () => (calls.push('keep'), parseKeepReply(keepReply)),
    inspect: async (kind: InspectedKind) => (calls.push(`inspect ${kind}`), inspected.get(kind) ?? []),
    kmsg: async () => (calls.push('kmsg'), warnKmsg),
  };
  const shown: string[][] = [];
  const stop: ShellStop = { at: { after: r.name }, open: async (_access, banner) => void shown.push([...banner, `verdict when the shell opened: ${r.verdict}`]) };
  const session = shellSession(stop, r, 'stop', ['sk-map-free-live-owners', 'task-map-free-live-owners']);
  t.same(session, { scenario: 'cgrp-map-free-live-owners', stoppedBecause: 'named', ownersReleased: false, notRun: ['sk-map-free-live-owners', 'task-map-free-live-owners'], transcript: 'shell-transcript.txt', input: 'shell-input.txt' });
  const kept: string[] = [];
  const access = { port: 1, userKey: '', knownHosts: '' };
  const banner = await stopForShell(stop, ops, access, r, holder, '/nonexistent', session, (l) => kept.push(...l));
  t.same(calls, ['keep', 'inspect sk', 'inspect task', 'inspect cgrp', 'kmsg'], 'keep, the inspector, then the last read of the scenario, before the shell');
  t.equal(r.verdict, 'fail', 'the report before the prompt fails the scenario');
  t.same(r.caughtBy, ['kernel log']);
  t.match(banner[0], /^scenario cgrp-map-free-live-owners: FAIL: kernel log: .*WARNING: bpfh_warn\.c:48/, 'the banner shows it');
  t.equal(shown[0]!.at(-1), 'verdict when the shell opened: fail');
  t.ok(kept.length > 0, "the records read go to the run's kernel.log");
  t.type(session.durationMs, 'number', 'the time in the shell is recorded');
  await holder.run({ kmsg: async () => quietKmsg }, r, () => undefined);
  t.equal(dropped, 0, 'the held teardown was dropped: the owners stay');
});
