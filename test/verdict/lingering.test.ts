// The lingering policy on counters recorded from a real run (see test/fixtures/run/README.md).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../harness/util/paths.js';
import { caughtBy, checkMapsFreed, checkMemcg, checkOptmem, isSetupCheck, memcgSensitivity, memcgTolerance, signalOf, verdictOf } from '../../harness/verdict/lingering.js';
import type { Check } from '../../harness/results/checks.js';
import type { Reading } from '../../harness/counters/collect.js';

const rec = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/run/live-owners-7.3.optmem.json'), 'utf8')) as Record<'before' | 'peak' | 'afterClose' | 'settled', number[]>;

t.test('optmem: exact, per socket', async (t) => {
  t.equal(checkOptmem(rec.before, rec.settled).ok, true, 'all back to the baseline');
  const mid = checkOptmem(rec.before, rec.afterClose);
  t.equal(mid.ok, false, 'a poll while freeing is under way is not settled');
  t.match(mid.message, /^4793 of 16384 sockets kept 1533760 B of optmem after the map was freed, up to 320 B on one/);
  const peak = checkOptmem(rec.before, rec.peak);
  t.match(peak.message, /^16384 of 16384 sockets kept 5242880 B/);
  const oneLeft = [...rec.settled];
  oneLeft[100] = 320;
  t.equal(checkOptmem(rec.before, oneLeft).ok, false, 'one socket with one element fails');
});

t.test('memcg tolerance comes from the per-CPU charge caches, not from the work size', async (t) => {
  const tol = memcgTolerance(2, 4096);
  t.equal(tol.bytes, 2 * 65 * 4096);
  t.match(tol.why, /64 pages of memcg charge stock/);
  t.equal(memcgTolerance(8, 4096).bytes, 4 * tol.bytes);
  const reading = (current: number, slab: number, anon = 0, kernel = slab): Reading => ({ at: 0, memcgCurrent: current, memcgStat: { slab_unreclaimable: slab, anon, file: 0, kernel }, slabActive: {}, optmem: null });
  const [cur, kernel, slab] = checkMemcg(reading(25_000_000, 1_000_000), reading(25_000_000 + tol.bytes, 1_000_000 - 4096), tol);
  t.equal(cur?.ok, true, 'exactly at the tolerance passes');
  t.equal(kernel?.ok, true);
  t.equal(slab?.ok, true);
  const [over] = checkMemcg(reading(25_000_000, 0), reading(25_000_000 + tol.bytes + 1, 0), tol);
  t.equal(over?.ok, false, 'one byte over fails');
  t.match(over?.message ?? '', /memory.current less user pages is 520.0 KiB above its baseline \(tolerance 520.0 KiB/);
  // A real pair: before and after of task-multi-map on debian:6.12 (default sizes, seed 42,
  // 2026-11-30, copied from its summary.json): the agent's heap (anon) grew by 132 KiB while
  // memory.current fell by 100 KiB, so the kernel's part fell by 232 KiB. The check must judge
  // that part (current less anon and file), not the raw memory.current.
  const before612: Reading = { at: 0, memcgCurrent: 8015872, memcgStat: { kernel: 6352896, slab_unreclaimable: 1869512, percpu: 0, sock: 0, anon: 1273856, file: 12288 }, slabActive: {}, optmem: null };
  const after612: Reading = { at: 0, memcgCurrent: 7913472, memcgStat: { kernel: 6352896, slab_unreclaimable: 1864256, percpu: 0, sock: 0, anon: 1409024, file: 12288 }, slabActive: {}, optmem: null };
  const [current612] = checkMemcg(before612, after612, tol);
  t.match(current612?.message ?? '', /^memory.current less user pages is -232.0 KiB above its baseline/, 'the kernel part, with the agent heap taken out');
  t.same(checkMemcg(before612, after612, tol).map((c) => c.ok), [true, true, true]);
  // The same reading with 800 KiB more kernel memory (about one lingering element on each of
  // its 256 threads, at the 2.3-3.3 KiB per element measured on task storage):
  const lingering = { ...after612, memcgCurrent: after612.memcgCurrent + 800 * 1024, memcgStat: { ...after612.memcgStat, kernel: after612.memcgStat.kernel! + 800 * 1024 } };
  t.same(checkMemcg(before612, lingering, tol).map((c) => c.ok), [false, false, true], '800 KiB more kernel memory fails');
  // ... and 800 KiB more agent heap does not: user pages are not evidence.
  const heap = { ...after612, memcgCurrent: after612.memcgCurrent + 800 * 1024, memcgStat: { ...after612.memcgStat, anon: after612.memcgStat.anon! + 800 * 1024 } };
  t.same(checkMemcg(before612, heap, tol).map((c) => c.ok), [true, true, true], '800 KiB more agent heap passes');
  // 16384 elements at the 414 B per element measured on 7.3: far above the tolerance.
  t.ok(memcgSensitivity(16384 * 414, 16384, tol) > 10);
});

t.test('maps freed', async (t) => {
  t.equal(checkMapsFreed([], 3).ok, true);
  const c = checkMapsFreed([41, 42], 3);
  t.equal(c.ok, false);
  t.equal(c.message, '2 of 3 closed maps still exist (ids 41, 42)');
});

// Checks of two real failing runs (see test/fixtures/run/README.md): set-up checks fail there
// too, as a side effect of the fault, and must not be reported as what caught it.
const faultRuns = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/run/fault-checks-7.3.json'), 'utf8')) as Record<string, { checks: Check[] }>;

t.test('caughtBy: only signals that watched something being freed, never set-up checks', async (t) => {
  const recreate = faultRuns['sk-recreate-under-memcg-limit']!.checks;
  const setupFailed = recreate.filter((c) => !c.ok && isSetupCheck(c.name));
  t.same(setupFailed.map((c) => c.name), ['optmem-rose[gen 2]'], 'the recorded run has a failed set-up check');
  t.equal(signalOf('optmem-rose[gen 2]'), null);
  t.same(caughtBy(recreate), ['optmem', 'memcg', 'inspector', 'maps-freed']);
  t.same(caughtBy(faultRuns['sk-map-free-live-owners']!.checks), ['optmem', 'inspector'], 'leave-elem: the map is freed, optmem and the inspector see the stray elements');
  for (const name of ['inspector-peak', 'elements-created[map 2]', 'elements-in-map[gen 3]', 'optmem-rose[user]']) t.equal(signalOf(name), null, `${name} is set-up`);
  t.equal(signalOf('inspector[free 2]'), 'inspector');
  t.equal(signalOf('memcg-limit[gen 2]'), 'memcg', 'elements that did not fit under memory.max: memcg saw it');
  t.equal(signalOf('values[new 1]'), 'values');
  t.equal(signalOf('lookups[free 1]'), 'elements');
});

t.test('verdict: a failed detection fails; failed set-up checks alone could not test', async (t) => {
  const recreate = faultRuns['sk-recreate-under-memcg-limit']!.checks;
  t.equal(verdictOf(recreate).verdict, 'fail');
  t.match(verdictOf(recreate).reason, /^1 of 1 closed maps still exist/);
  const setupOnly = recreate.filter((c) => c.ok || isSetupCheck(c.name));
  const v = verdictOf(setupOnly);
  t.equal(v.verdict, 'error', 'nothing was shown either way');
  t.match(v.reason, /^could not test: 1244 of 4096 sockets were charged for an element by the cgroup\/setsockopt program$/);
  t.same(caughtBy(setupOnly), [], 'and nothing is reported as caught');
  t.same(verdictOf(recreate.filter((c) => c.ok)), { verdict: 'pass', reason: null });
});

// The failed checks of a recorded 7.3 run (vm-test --kernel debian:7.3 --scenario
// sk-map-free-live-owners --inject-fault leave-elem, 2026-11-30): both generations' inspector
// checks state the same owners; the reason says it once.
t.test('one fact stated by two checks is said once in the reason', async (t) => {
  const owners = '64 sk owners still have a storage struct attached with every map gone (113/5, 113/69, 113/140, 113/204, 113/268), still after 3 s';
  const optmem = '64 of 4096 sockets kept 20480 B of optmem after the map was freed, up to 320 B on one (socket #0: 0 B before, 320 B now), still after 3 s';
  const checks = [
    { name: 'optmem[user]', ok: false, message: optmem },
    { name: 'inspector[user]', ok: false, message: owners },
    { name: 'inspector[prog]', ok: false, message: owners },
  ];
  t.same(verdictOf(checks), { verdict: 'fail', reason: `${optmem}; ${owners}` });
});
