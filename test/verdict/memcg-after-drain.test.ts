// The memcg verdict after a drain of the charge caches, on readings recorded from real runs of
// `npm run false-alarms` (test/fixtures/run/README.md says which): clean kernels pass on the
// drained readings, the undrained reading of the same moment fails (a skipped drain is a false
// alarm on 7.x), a tolerance without its per-CPU terms fails a clean 4-CPU run, and one
// lingering element per owner fails the derived tolerance but hides under one loosened to
// swallow the undrained drift.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reading } from '../../harness/counters/collect.js';
import type { CounterSnapshot, MemcgFigures } from '../../harness/results/summary.js';
import { projectRoot } from '../../harness/util/paths.js';
import { caughtBy, CHARGE_FINDING, checkMemcg, memcgFigures, memcgTolerance, worstMemcg } from '../../harness/verdict/lingering.js';
import type { Tolerance } from '../../harness/results/checks.js';

interface RecordedScenario {
  name: string;
  verdict: string;
  params: Record<string, number | string>;
  notes?: Record<string, number | string>;
  counters: { before: CounterSnapshot; after: CounterSnapshot };
  memcg: MemcgFigures;
}
interface RecordedRun {
  kernel: string;
  cpus: number;
  command: string;
  scenarios: RecordedScenario[];
}

const runs = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/run/memcg-drain.json'), 'utf8')) as RecordedRun[];
const PAGE = 4096;

function run(kernelPrefix: string, cpus: number): RecordedRun {
  const r = runs.find((x) => x.kernel.startsWith(kernelPrefix) && x.cpus === cpus);
  if (!r) throw new Error(`no recorded run of ${kernelPrefix} at ${cpus} CPUs`);
  return r;
}
function scenario(r: RecordedRun, name: string): RecordedScenario {
  const s = r.scenarios.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name} in the recorded ${r.kernel} run`);
  return s;
}
const reading = (s: CounterSnapshot): Reading => ({ at: 0, memcgCurrent: s.memcgCurrent, memcgStat: { ...s.memcgStat }, slabActive: {}, optmem: null });
const oks = (before: CounterSnapshot, after: CounterSnapshot, tol: Tolerance): boolean[] => checkMemcg(reading(before), reading(after), tol).map((c) => c.ok);

t.test('7.3, one CPU, sk race: the drained reading passes, the undrained one of the same poll fails', async (t) => {
  const r = run('7.3', 1);
  const race = scenario(r, 'sk-map-free-vs-close-race');
  const tol = memcgTolerance(r.cpus, PAGE);
  t.equal(race.memcg.tolerance, tol.bytes, 'the run judged with the tolerance derived here');
  t.same(oks(race.counters.before, race.counters.after, tol), [true, true, true], 'after the drain: within the tolerance');
  const undrained = race.memcg.undrainedAfter;
  if (!undrained) return t.fail('the recorded run kept no undrained reading');
  const skipped = checkMemcg(reading(race.counters.before), reading(undrained), tol);
  t.equal(skipped.find((c) => c.name === 'memcg-kernel')?.ok, false, 'without the drain the clean kernel fails');
  t.match(skipped.find((c) => c.name === 'memcg-kernel')?.message ?? '', new RegExp(`^${CHARGE_FINDING}: memory.stat kernel is`), 'the finding is named');
  t.same(caughtBy(skipped), ['memcg'], 'caught by memcg alone: the charge, not an element');
  t.ok(race.memcg.handedBack.kernel > tol.bytes, `the drain handed back ${race.memcg.handedBack.kernel} B, more than the tolerance`);
  const figures = memcgFigures(reading(race.counters.before), reading(race.counters.after), tol, race.memcg.handedBack);
  t.same(figures.residue, race.memcg.residue, 'the figures are recomputed from the readings');
});

t.test('6.12 has nothing to hand back in the same race', async (t) => {
  const race = scenario(run('6.12', 1), 'sk-map-free-vs-close-race');
  t.ok(race.memcg.handedBack.kernel < 4 * PAGE, `6.12 handed back ${race.memcg.handedBack.kernel} B`);
});

t.test('a tolerance that forgets the per-CPU memcg stock fails a clean 4-CPU run', async (t) => {
  const r = run('6.12', 4);
  const worst = r.scenarios.reduce((a, b) => (b.memcg.residue.kernel > a.memcg.residue.kernel ? b : a));
  t.same(oks(worst.counters.before, worst.counters.after, memcgTolerance(4, PAGE)), [true, true, true], `${worst.name} passes at 4 CPUs`);
  // "After a drain only the object stocks remain": a page per CPU.
  const objectStockOnly: Tolerance = { bytes: r.cpus * PAGE, why: 'one page of object stock per CPU' };
  t.ok(oks(worst.counters.before, worst.counters.after, objectStockOnly).includes(false), `${worst.name} (${worst.memcg.residue.kernel} B of kernel) fails it`);
});

t.test('one lingering element per owner fails the derived tolerance, not one loosened to swallow the drift', async (t) => {
  const r = run('7.3', 1);
  const race = scenario(r, 'sk-map-free-vs-close-race');
  const perElement = Number(scenario(r, 'sk-map-free-live-owners').notes?.chargedPerElement);
  t.ok(perElement > 200, `charge per element measured in the same run: ${perElement} B`);
  const owners = Number(race.params.sockets);
  const leak = owners * perElement;
  const after = race.counters.after;
  const leaked: CounterSnapshot = { ...after, memcgCurrent: after.memcgCurrent + leak, memcgStat: { ...after.memcgStat, kernel: after.memcgStat.kernel + leak, slab_unreclaimable: after.memcgStat.slab_unreclaimable + leak } };
  t.same(oks(race.counters.before, leaked, memcgTolerance(r.cpus, PAGE)), [false, false, false], `one element on each of ${owners} sockets (${leak} B) fails`);
  const undrained = race.memcg.undrainedAfter!;
  const loose: Tolerance = { bytes: undrained.memcgStat.kernel - race.counters.before.memcgStat.kernel, why: 'as much as the undrained drift' };
  t.equal(oks(race.counters.before, leaked, loose)[1], true, 'a tolerance that swallows the drift lets the same leak pass: the drain is needed, not a bigger bound');
});

t.test('of several generations the figures of the closest call are kept', async (t) => {
  const r = run('7.3', 1);
  const figures = r.scenarios.map((s) => s.memcg);
  const worst = worstMemcg([undefined, ...figures]);
  t.equal(worst?.residue.kernel, Math.max(...figures.map((f) => f.residue.kernel)));
  t.equal(worstMemcg([]), undefined);
});
