// The compare logic on summaries recorded from real runs (test/fixtures/compare/README.md).
// Cases no recorded run shows (a slower reclaim, a missing scenario, an aborted run) are
// derived in memory from a real summary, each by the one edit its test names.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildGrid, compareRuns, firstClause, gridDifferences, settleMateriallySlower, worstExitCode, SETTLE_FACTOR, SETTLE_MIN_DELTA_MS,
} from '../../harness/report/compare.js';
import { renderComparison, renderDifferences, renderGrid } from '../../harness/report/compare-table.js';
import { loadSummary } from '../../harness/report/load-summary.js';
import type { Summary } from '../../harness/results/summary.js';
import { pairAndCompare } from '../../harness/run/compare.js';
import { SetupError } from '../../harness/util/errors.js';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = (name: string): string => join(projectRoot, 'test', 'fixtures', 'compare', name);
const load = (name: string): Summary => JSON.parse(readFileSync(join(dir(name), 'summary.json'), 'utf8')) as Summary;
const LIVE = 'sk-map-free-live-owners';
const RACE = 'sk-map-free-vs-close-race';
const RECREATE = 'sk-recreate-under-memcg-limit';

t.test('the settle rule: factor 2 and at least +500 ms, both needed', async (t) => {
  t.equal(SETTLE_FACTOR, 2);
  t.equal(SETTLE_MIN_DELTA_MS, 500);
  t.notOk(settleMateriallySlower(200, 400), 'one poll interval of jitter (2x, +200 ms) does not count');
  t.notOk(settleMateriallySlower(2000, 3000), '+1 s but only 1.5x does not count');
  t.ok(settleMateriallySlower(250, 800), '3.2x and +550 ms counts');
  t.ok(settleMateriallySlower(300, 800), 'exactly +500 ms and over 2x counts');
  t.notOk(settleMateriallySlower(800, 250), 'faster is not slower');
});

t.test('6.12 vs 7.3, both passing for real: no regression, nothing differs', async (t) => {
  const a = load('6.12-small-pass');
  const b = load('7.3-small-pass');
  const c = compareRuns({ label: 'A', summary: a }, { label: 'B', summary: b });
  t.equal(c.regression, false);
  t.same(c.changes, [], 'same verdicts, reclaim times within the rule');
  t.same(c.grid.rows.map((r) => r.scenario), [LIVE, RACE, RECREATE]);
  const cell = c.grid.rows[0]!.cells[1]!;
  t.equal(cell.verdict, 'pass');
  t.equal(cell.settleMs, b.scenarios[0]!.settleMs, 'the settle time is the recorded one');
  t.same(cell.deltas.map((d) => d.name), ['memcg', 'slab', 'optmem'], 'the main counters only');
  t.equal(c.a.release, a.kernel.release);
  t.same(gridDifferences(buildGrid([{ label: 'debian:6.12', summary: a }, { label: 'debian:7.3', summary: b }])), []);
});

t.test('7.3 passing (A) vs 7.3 with the map held (B): the real failure is a regression', async (t) => {
  const c = compareRuns({ label: 'A', summary: load('7.3-small-pass') }, { label: 'B', summary: load('7.3-small-hold-map') });
  t.equal(c.regression, true);
  t.same(c.changes.map((x) => [x.scenario, x.kind]), [[LIVE, 'regression'], [RECREATE, 'regression']], 'the race scenario passed in both');
  t.match(c.changes[0]!.message, /^PASS in A, FAIL in B: 1 of 1 closed maps still exist/);
  t.notMatch(c.changes[0]!.message, /;/, 'one clause of the reason, not the whole paragraph');
  t.equal(c.grid.rows[0]!.cells[1]!.settleMs, null, 'never settled');
  const text = renderComparison(c);
  t.match(text, /REGRESSION\s+sk-map-free-live-owners: PASS in A, FAIL in B/);
  t.match(text, /B\s+FAIL\s+never\s+memcg \+1\.\d MiB, slab \+1\.\d MiB, optmem \+1\.3 MiB/);
  t.match(text, /verdict: REGRESSION/);
});

t.test('the other way round (B fixed what A broke) is not a regression', async (t) => {
  const c = compareRuns({ label: 'A', summary: load('7.3-small-hold-map') }, { label: 'B', summary: load('7.3-small-pass') });
  t.equal(c.regression, false);
  t.same(c.changes.map((x) => x.kind), ['fixed', 'fixed']);
  t.match(renderComparison(c), /verdict: no regression/);
});

t.test('derived: a reclaim time edited up to 4x and +1 s is "slower" and reported, not fatal', async (t) => {
  const a = load('7.3-small-pass');
  const b = load('7.3-small-pass');
  const before = a.scenarios[0]!.settleMs!;
  b.scenarios[0]!.settleMs = before * 4 + 1000; // the one edit
  const c = compareRuns({ label: 'A', summary: a }, { label: 'B', summary: b });
  t.same(c.changes.map((x) => [x.scenario, x.kind]), [[LIVE, 'slower']]);
  t.match(c.changes[0]!.message, `reclaim grew from ${before} ms to ${before * 4 + 1000} ms`);
  t.equal(c.regression, false, 'a slower reclaim alone does not fail compare');
  const diffs = gridDifferences(buildGrid([{ label: 'x', summary: a }, { label: 'y', summary: b }]));
  t.same(diffs.map((d) => d.kind), ['settle']);
  t.match(renderDifferences(diffs), /sk-map-free-live-owners: reclaim \d+ ms on y vs \d+ ms on x/);
});

t.test('derived: a scenario dropped from B is "missing", one added is "new", neither fatal', async (t) => {
  const a = load('6.12-small-pass');
  const b = load('6.12-small-pass');
  const dropped = b.scenarios.shift()!; // edit: B ran without the first scenario ...
  b.scenarios.push({ ...dropped, name: 'task-map-free-live-owners' }); // ... and with a new one
  const c = compareRuns({ label: 'A', summary: a }, { label: 'B', summary: b });
  t.same(c.changes.map((x) => [x.scenario, x.kind]), [[LIVE, 'missing'], ['task-map-free-live-owners', 'new']]);
  t.equal(c.regression, false);
  t.match(renderGrid(c.grid), /B\s+not run/);
});

t.test('derived: B aborted (Ctrl-C) where A did not is a regression', async (t) => {
  const b = load('7.3-small-pass');
  b.aborted = 'interrupted by SIGINT'; // the one edit
  const c = compareRuns({ label: 'A', summary: load('7.3-small-pass') }, { label: 'B', summary: b });
  t.same(c.changes.map((x) => x.kind), ['aborted']);
  t.equal(c.regression, true);
});

t.test('side by side: a verdict that differs between kernels is listed', async (t) => {
  const grid = buildGrid([{ label: 'debian:7.3', summary: load('7.3-small-pass') }, { label: 'held', summary: load('7.3-small-hold-map') }]);
  const diffs = gridDifferences(grid);
  t.same(diffs.map((d) => [d.scenario, d.kind]), [[LIVE, 'verdict'], [RECREATE, 'verdict']]);
  t.equal(diffs[0]!.message, 'PASS on debian:7.3, FAIL on held');
  const text = renderGrid(grid);
  t.match(text, /^scenario\s+kernel\s+verdict\s+settle\s+counters/);
  t.equal(text.split('\n').length, 2 + 3 * 2, 'header, rule, one line per scenario and kernel');
});

t.test('multi-kernel summaries pair by kernel; two single runs pair whatever their kernels', async (t) => {
  const multi = loadSummary(dir('multi-6.12-7.3'));
  t.equal(multi.kind, 'multi');
  if (multi.kind !== 'multi') return;
  t.same(multi.multi.runs.map((r) => r.kernel), ['debian:6.12', 'debian:7.3']);
  const runs = multi.multi.runs.map((r) => ({ kernel: r.kernel, summary: r.summary! }));
  const set = pairAndCompare(runs, [{ kernel: 'debian:7.3', summary: load('7.3-small-hold-map') }]);
  t.equal(set.comparisons.length, 1, 'only 7.3 is on both sides');
  t.same(set.unpaired, [{ side: 'A', kernel: 'debian:6.12' }]);
  t.equal(set.regression, true);
  const single = pairAndCompare([{ kernel: 'debian:6.12', summary: load('6.12-small-pass') }], [{ kernel: 'debian:7.3', summary: load('7.3-small-pass') }]);
  t.equal(single.comparisons.length, 1, 'a bisect compares two different builds');
});

t.test('loadSummary: directories, files, and bad input as one-line SetupErrors', async (t) => {
  t.equal(loadSummary(dir('6.12-small-pass')).kind, 'single');
  t.equal(loadSummary(join(dir('6.12-small-pass'), 'summary.json')).kind, 'single');
  t.throws(() => loadSummary(dir('no-such-run')), SetupError);
  const tmp = tempDir(t, 'cmp');
  const v2 = { ...load('6.12-small-pass'), version: 2 }; // derived: another version
  writeFileSync(join(tmp, 'summary.json'), JSON.stringify(v2));
  t.throws(() => loadSummary(tmp), { message: /summary version 2, this bpf-harness reads version 1; compare it with the bpf-harness that wrote it/ });
  writeFileSync(join(tmp, 'summary.json'), '{"version":1,');
  t.throws(() => loadSummary(tmp), { message: /not valid JSON/ });
  writeFileSync(join(tmp, 'summary.json'), '{"version":1}');
  t.throws(() => loadSummary(tmp), { message: /not a bpf-harness summary/ });
});

t.test('worstExitCode: 2 > 1 > 0', async (t) => {
  t.equal(worstExitCode([]), 0);
  t.equal(worstExitCode([0, 1, 0]), 1);
  t.equal(worstExitCode([1, 2, 0]), 2);
  t.equal(worstExitCode([0, 130, 2]), 130);
});

t.test('firstClause', async (t) => {
  t.equal(firstClause('all back'), 'all back');
  t.equal(firstClause('maps stay; optmem stays'), 'maps stay (...)');
});

t.test('selftests compare like scenarios; a pass that becomes a skip is reported, never a regression', async (t) => {
  const a = load('7.3-tree-with-selftests');
  t.equal(a.scenarios.filter((r) => r.kind === 'selftest').length, 8, 'the recorded run has 12 scenarios and 8 selftests');
  const same = compareRuns({ label: 'A', summary: a }, { label: 'B', summary: a });
  t.same(same.changes, []);
  // B: the same run with one edit each, named by the test.
  const skipped = structuredClone(a);
  const tp = skipped.scenarios.find((r) => r.name === 'test_progs/map_kptr')!;
  tp.verdict = 'skip';
  tp.reason = 'skipped';
  const c = compareRuns({ label: 'A', summary: a }, { label: 'B', summary: skipped });
  t.same(c.changes.map((x) => [x.scenario, x.kind, x.message]), [['test_progs/map_kptr', 'skipped', 'PASS in A, SKIP in B: skipped']]);
  t.equal(c.regression, false);
  const failing = structuredClone(skipped);
  failing.scenarios.find((r) => r.name === 'test_progs/map_kptr')!.verdict = 'fail';
  const back = compareRuns({ label: 'A', summary: skipped }, { label: 'B', summary: failing });
  t.same(back.changes.map((x) => x.kind), ['regression'], 'a skipped test that now fails is a regression');
  t.equal(back.regression, true);
  const grid = renderGrid(buildGrid([{ label: 'A', summary: a }, { label: 'B', summary: skipped }]));
  t.match(grid, /test_progs\/map_kptr\s+A\s+PASS\s+-\s+-/, 'no settle time or counters for a selftest');
});
