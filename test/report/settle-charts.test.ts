// How a settle wait is marked and named, on real waits from recorded runs
// (test/fixtures/report/README.md); one case is derived in memory and says so.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitHeading, waitMarkers, waitPanels } from '../../harness/report/html/settle-charts.js';
import type { SettleSeries, Summary } from '../../harness/results/summary.js';
import { projectRoot } from '../../harness/util/paths.js';

const load = (name: string): Summary => JSON.parse(readFileSync(join(projectRoot, 'test', 'fixtures', 'report', name, 'summary.json'), 'utf8')) as Summary;
const firstWait = (s: Summary, scenario: string): SettleSeries => s.scenarios.find((r) => r.name === scenario)!.settleSeries![0]!;

t.test('a wait that settled: drop, freed, settled', async (t) => {
  const w = firstWait(load('7.3-small-seed5'), 'sk-map-free-live-owners');
  t.same(waitMarkers(w).map((m) => m.kind), ['drop', 'freed', 'settled']);
  t.equal(waitMarkers(w).at(-1)?.x, w.settleMs);
  t.match(waitHeading(w, 0, 2), /^wait 1 of 2: map \d+ dropped, settled after \d+ ms \(\d+ readings, every 200 ms\)$/);
  t.same(waitPanels(w, 'x').map((p) => p.kind), ['memcg', 'optmem', 'elements'], 'sockets: optmem too');
  t.same(waitPanels(firstWait(load('7.3-small-seed5'), 'task-map-free-live-owners'), 'x').map((p) => p.kind), ['memcg', 'elements'], 'threads: no optmem');
});

t.test('a wait that ran to its deadline (the map held): no freed mark, the deadline', async (t) => {
  const w = firstWait(load('7.3-small-seed5-hold-map'), 'sk-map-free-live-owners');
  t.equal(w.settleMs, null);
  t.same(waitMarkers(w).map((m) => [m.kind, m.x]), [['drop', 0], ['deadline', 3000]]);
  t.match(waitHeading(w, 0, 1), /not settled by the 3000 ms deadline/);
  const band = waitPanels(w, 'x')[0]!.spec.band;
  t.equal(band?.to, w.toleranceBytes / 1024, 'the band is the tolerance the checks applied');
});

t.test('a wait whose readings stop before the deadline (derived: the held-map wait cut after 2 readings)', async (t) => {
  const real = firstWait(load('7.3-small-seed5-hold-map'), 'sk-map-free-live-owners');
  const w: SettleSeries = { ...real, samples: real.samples.slice(0, 2) };
  const last = waitMarkers(w).at(-1)!;
  t.same([last.kind, last.label, last.x], ['deadline', 'readings stop', w.samples[1]!.t]);
  t.match(waitHeading(w, 0, 1), /readings stop \d+ ms after the drop, before the 3000 ms deadline/);
});
