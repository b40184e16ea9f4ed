// The race coverage parser and what the verdict makes of it, on the recorded replies of two
// real 7.3 runs (test/fixtures/race-coverage/README.md says which): one with the map-free gap
// held open, one with it disarmed.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRaceCoverage, type RaceCoverageReply } from '../../harness/agent/race-coverage.js';
import { summarizeRaceCoverage } from '../../harness/counters/race-coverage.js';
import { raceCoverageLine } from '../../harness/report/table.js';
import { raceCoverageChecks, raceCoverageNote, tracerDetachedCheck } from '../../harness/verdict/race-coverage.js';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'race-coverage');

function replies(file: string): unknown[] {
  return readFileSync(join(FIXTURES, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
}

function coverageOf(reply: unknown): RaceCoverageReply {
  if (typeof reply !== 'object' || reply === null || !('coverage' in reply)) throw new Error('reply without coverage');
  const c = parseRaceCoverage(reply.coverage);
  if (!c) throw new Error('no coverage');
  return c;
}

const armed = replies('armed-7.3.jsonl').map(coverageOf);
const disarmed = replies('disarmed-7.3.jsonl').map(coverageOf);

t.test('an armed sk race: every round reached the handshake, map free freed them', async (t) => {
  const sk = summarizeRaceCoverage([armed[0]!]);
  if (!sk.applicable) throw new Error('applicable expected');
  t.equal(sk.rounds, 100);
  t.equal(sk.roundsCounted, 100, 'every round was counted after its map free finished');
  t.equal(sk.roundsReached, 100);
  t.equal(sk.handshake, 136);
  t.equal(sk.handshakeFreedByMapFree, 136);
  t.equal(sk.handshakeFreedByDestroy, 0);
  t.equal(sk.widenNs, 5_000_000);
  t.equal(sk.after, 'walk');
  t.same(raceCoverageChecks(sk, true).map((c) => c.ok), [true], 'passes under --require-race');
  t.match(raceCoverageNote(sk), /reached in 100 of 100 rounds/);
  t.match(raceCoverageLine(sk), /^100\/100 rounds, 136 elements \(freed by map free 136, by destroy 0\)/);
  t.equal(sk.perRound.length, 100);
});

t.test('task and cgrp replies sum over their two creation paths', async (t) => {
  const task = summarizeRaceCoverage(armed.slice(1, 3));
  const cgrp = summarizeRaceCoverage(armed.slice(3, 5));
  if (!task.applicable || !cgrp.applicable) throw new Error('applicable expected');
  t.same([task.rounds, task.roundsReached, task.handshake], [30, 3, 3]);
  t.same([cgrp.rounds, cgrp.roundsReached, cgrp.handshake], [30, 10, 10]);
  t.equal(task.drop, 'end');
  t.match(raceCoverageLine(cgrp), /per round [1.]{30}$/, 'one mark per round');
});

t.test('disarmed: no round reached it; --require-race fails, the plain run says so', async (t) => {
  for (const [name, cov] of [['sk', summarizeRaceCoverage([disarmed[0]!])], ['task', summarizeRaceCoverage(disarmed.slice(1, 3))], ['cgrp', summarizeRaceCoverage(disarmed.slice(3, 5))]] as const) {
    if (!cov.applicable) throw new Error('applicable expected');
    t.equal(cov.widenNs, 0, `${name}: recorded with the hold disarmed`);
    t.equal(cov.roundsReached, 0, `${name}: no round reached the contended path`);
    const required = raceCoverageChecks(cov, true);
    t.same(required.map((c) => [c.name, c.ok]), [['race-reached', false]], `${name}: a failure under --require-race`);
    t.match(required[0]?.message, /no round reached the contended unlink path/);
    t.same(raceCoverageChecks(cov, false).map((c) => c.ok), [true], `${name}: not a failure without it`);
    t.match(raceCoverageNote(cov), /never reached the contended unlink path/);
  }
});

t.test('not applicable (6.12): no check, said plainly', async (t) => {
  const na = { applicable: false as const, reason: 'the kernel has no bpf_selem_unlink_nofail(): no lockless unlink series' };
  t.same(raceCoverageChecks(na, true), []);
  t.match(raceCoverageNote(na), /^race coverage not applicable/);
  t.match(raceCoverageLine(na), /^not applicable: /);
});

t.test('malformed coverage is an error, not a zero', async (t) => {
  const raw = replies('armed-7.3.jsonl')[0];
  if (typeof raw !== 'object' || raw === null || !('coverage' in raw)) throw new Error('fixture');
  const cov = JSON.parse(JSON.stringify(raw.coverage)) as { rounds: Array<Record<string, unknown>>; after?: unknown };
  delete cov.rounds[3]!.met;
  t.throws(() => parseRaceCoverage(cov), /round 3: met is not a count/);
  cov.after = 'later';
  t.throws(() => parseRaceCoverage(cov), /after is "later"/);
  t.equal(parseRaceCoverage(undefined), undefined, 'no tracer loaded: no coverage');
});

// steered-7.3.jsonl: the race and racecov replies of a run of the current policy (README "Race
// coverage"); detach-broken-7.3.jsonl: a run whose agent was built not to detach the tracer.
function verbReplies(file: string, verb: string): Array<Record<string, unknown>> {
  return replies(file).filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && 'verb' in r && r.verb === verb);
}

t.test('steered threads and cgroups reach it in most rounds, from both creation paths', async (t) => {
  const races = verbReplies('steered-7.3.jsonl', 'race').map(coverageOf);
  t.equal(races.length, 5);
  for (const [name, pair] of [['task', races.slice(1, 3)], ['cgrp', races.slice(3, 5)]] as const) {
    const cov = summarizeRaceCoverage(pair);
    if (!cov.applicable) throw new Error('applicable expected');
    t.equal(cov.drop, 'release', `${name}: dropped once every owner's storage was a grace period away`);
    t.ok(cov.roundsReached * 2 > cov.rounds, `${name}: most rounds reached it (${cov.roundsReached} of ${cov.rounds})`);
    for (const [i, via] of [[0, 'user'], [1, 'prog']] as const) {
      const one = summarizeRaceCoverage([pair[i]!]);
      if (!one.applicable) throw new Error('applicable expected');
      t.ok(one.roundsReached > 0, `${name} via ${via}: reached in ${one.roundsReached} of ${one.rounds} rounds`);
    }
  }
});

t.test('the tracer is attached during a race only: the kernel listed its links then, none after', async (t) => {
  const during = verbReplies('steered-7.3.jsonl', 'race').map((r) => Number(r.tracerLinks));
  const after = verbReplies('steered-7.3.jsonl', 'racecov').map((r) => Number(r.links));
  t.ok(during.every((n) => n > 0), `links during every race (${during.join(', ')})`);
  t.ok(after.every((n) => n === 0), 'no link between scenarios');
  t.equal(tracerDetachedCheck(during[0]!, after[1]!).ok, true);
  const broken = verbReplies('detach-broken-7.3.jsonl', 'racecov').map((r) => Number(r.links));
  const check = tracerDetachedCheck(during[0]!, broken[broken.length - 1]!);
  t.equal(check.ok, false, 'left attached: a failure');
  t.match(check.message, /still attached after the races \(\d+ links\)/);
});

// gathered-7.3.jsonl: the same run once cgroups were gathered (drop=gather, README "Race
// coverage"): the agent held every cgroup until the map-free walk began, so no storage was
// destroyed before it, and the walk met them.
t.test('gathered cgroups: no destroy before the walk, and every gathered round reached it', async (t) => {
  const races = verbReplies('gathered-7.3.jsonl', 'race').map(coverageOf);
  t.equal(races.length, 5);
  const cgrp = summarizeRaceCoverage(races.slice(3, 5));
  if (!cgrp.applicable) throw new Error('applicable expected');
  t.equal(cgrp.drop, 'gather');
  t.equal(cgrp.waitTimeouts, 0, 'no gather wait timed out');
  const gathered = cgrp.perRound.filter((_, i) => i % 15 !== 0);
  t.ok(gathered.every((r) => r.destroyedBeforeWalk === 0), 'no storage destroyed before the walk in a gathered round');
  t.equal(gathered.filter((r) => r.handshake > 0).length, 28);
  t.equal(cgrp.roundsReached, 28);
  const task = summarizeRaceCoverage(races.slice(1, 3));
  if (!task.applicable) throw new Error('applicable expected');
  t.ok(task.perRound.some((r) => (r.destroyedBeforeWalk ?? 0) > 0), 'threads (drop=release) are destroyed before the walk in some rounds: the count is not a constant 0');
  const old = summarizeRaceCoverage(verbReplies('steered-7.3.jsonl', 'race').map(coverageOf).slice(3, 5));
  if (!old.applicable) throw new Error('applicable expected');
  t.ok(old.perRound.every((r) => r.destroyedBeforeWalk === undefined), 'an older agent without the count: absent, not 0');
});

t.test('a destroyedBeforeWalk that is not a count is an error', async (t) => {
  const raw = verbReplies('gathered-7.3.jsonl', 'race')[3];
  if (!raw) throw new Error('fixture');
  const cov = JSON.parse(JSON.stringify(raw.coverage)) as { rounds: Array<Record<string, unknown>> };
  cov.rounds[2]!.destroyedBeforeWalk = -1;
  t.throws(() => parseRaceCoverage(cov), /round 2: destroyedBeforeWalk is not a count/);
});

// missed-7.3.jsonl: the sk race's tracer missed calls (recursion), the thread and cgroup races none.
t.test('elements with no free seen follow from the calls the tracer missed, and are said so', async (t) => {
  const races = replies('missed-7.3.jsonl').filter((r) => typeof r === 'object' && r !== null && 'coverage' in r).map(coverageOf);
  t.same(races.map((r) => r.missesDuring === undefined), [false, false, false, false, false], 'every reply tells its own misses');
  const sk = summarizeRaceCoverage([races[0]!]);
  const task = summarizeRaceCoverage(races.slice(1, 3));
  const cgrp = summarizeRaceCoverage(races.slice(3, 5));
  if (!sk.applicable || !task.applicable || !cgrp.applicable) throw new Error('applicable expected');
  t.equal(sk.missesDuring, 11757, "the sk race's own misses");
  t.equal(sk.misses, 11757, 'the total since load: all of them in the sk race');
  t.same([task.missesDuring, cgrp.missesDuring], [0, 0], 'destroys in callbacks and work items miss none');
  t.equal(sk.unfreed + sk.orphaned, 6);
  t.match(raceCoverageLine(sk), /, 6 not seen freed \(tracer missed 11757 calls\);/);
  t.notMatch(raceCoverageLine(sk), /LEFT UNFREED/);
  t.match(raceCoverageNote(sk), /the tracer missed 11757 call\(s\) \(recursion\) and saw \d+ element\(s\) unlinked with no free seen and \d+ unlinked by one side only \(not judged\)$/);
  // The same counts with no call missed are the tracer's whole view: shown as a leak.
  t.match(raceCoverageLine({ ...sk, missesDuring: 0 }), /, LEFT UNFREED 6;/);
  t.match(raceCoverageNote({ ...sk, missesDuring: 0 }), /the tracer missed no call and saw/);
});

t.test('replies recorded before missesDuring: the scenario has none, the line is as it was', async (t) => {
  const sk = summarizeRaceCoverage([armed[0]!]);
  if (!sk.applicable) throw new Error('applicable expected');
  t.equal(sk.missesDuring, undefined);
  t.notMatch(raceCoverageNote(sk), /missed/);
});
