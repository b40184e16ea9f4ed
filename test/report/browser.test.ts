// report.html and trend.html opened in a real headless Chromium (Debian's package; `npm test`
// has setup install it), made from real runs' summaries (test/fixtures/report/README.md,
// test/fixtures/compare/README.md). For every chart the summary says should exist, the page
// must have drawn every data point inside the chart, and a line through them; the page must
// log no error or warning (its CSP forbids every fetch, so a page that tried to load anything
// fails here); a full-page screenshot of each is kept in .tap/browser/.
import t, { type Test } from 'tap';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderMultiReport, renderRunReport } from '../../harness/report/html/run-report.js';
import { residueBytes } from '../../harness/report/html/trend.js';
import type { MultiSummary } from '../../harness/results/multi-summary.js';
import type { ScenarioResult, Summary } from '../../harness/results/summary.js';
import { writeTrend } from '../../harness/run/trend.js';
import { projectRoot } from '../../harness/util/paths.js';
import { Chromium, CHROMIUM_FIX, findChromium, type OpenedPage } from '../helpers/chromium.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixtures = join(projectRoot, 'test', 'fixtures');
const shots = join(projectRoot, '.tap', 'browser');
const work = tempDir(t, 'browser');
const load = <T>(rel: string): T => JSON.parse(readFileSync(join(fixtures, rel), 'utf8')) as T;

/** What the page must show: chart id -> series name -> number of points. */
type Expected = Map<string, Map<string, number>>;

/** The settle charts a summary's scenarios call for, derived from the summary alone. */
function expectedSettleCharts(s: Summary, prefix = ''): Expected {
  const out: Expected = new Map();
  for (const r of s.scenarios.filter((x) => x.kind !== 'selftest')) {
    (r.settleSeries ?? []).forEach((w, i) => {
      const id = `${prefix}${r.name}-w${i + 1}`;
      const n = w.samples.length;
      out.set(`${id}-memcg`, new Map([['memory.current − user pages', n], ['memory.stat kernel', n], ['slab_unreclaimable', n]]));
      if (typeof w.baseline.optmemTotal === 'number') out.set(`${id}-optmem`, new Map([['optmem, all sockets', w.samples.filter((x) => typeof x.counters.optmemTotal === 'number').length]]));
      const withElements = w.samples.filter((x) => typeof x.elements === 'number').length;
      if (withElements) out.set(`${id}-elements`, new Map([['elements linked', withElements], ['of the freed maps', withElements]]));
    });
  }
  return out;
}

interface DrawnSeries {
  name: string;
  points: number;
  visible: number;
  pathLength: number;
}
interface DrawnChart {
  id: string;
  width: number;
  height: number;
  series: DrawnSeries[];
}
interface Drawn {
  charts: DrawnChart[];
  scripts: number;
  csp: boolean;
  badges: string[];
}

/** Runs in the page: what was laid out, measured by the browser (not read back from the markup). */
const MEASURE = `(() => {
  const inside = (b, box) => b.width > 0 && b.height > 0 && b.left >= box.left - 1 && b.right <= box.right + 1 && b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
  const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
    const box = svg.getBoundingClientRect();
    const series = [...svg.querySelectorAll('g.series')].map((g) => {
      const pts = [...g.querySelectorAll('circle.pt')];
      const path = g.querySelector('path.line');
      return { name: g.dataset.series, points: pts.length, visible: pts.filter((c) => inside(c.getBoundingClientRect(), box)).length, pathLength: path ? path.getTotalLength() : 0 };
    });
    return { id: svg.id, width: box.width, height: box.height, series };
  });
  return {
    charts,
    scripts: document.scripts.length,
    csp: !!document.querySelector('meta[http-equiv="Content-Security-Policy"]'),
    badges: [...document.querySelectorAll('table.verdicts .badge')].map((b) => b.textContent),
  };
})()`;

function checkCharts(t: Test, drawn: Drawn, expected: Expected, what: string): void {
  const ids = drawn.charts.map((c) => c.id);
  t.same(ids.slice().sort(), [...expected.keys()].sort(), `${what}: exactly the charts the summary calls for`);
  for (const [id, want] of expected) {
    const c = drawn.charts.find((x) => x.id === id);
    if (!c) continue;
    t.ok(c.width > 100 && c.height > 100, `${id}: laid out (${c.width}x${c.height})`);
    for (const [name, n] of want) {
      const s: DrawnSeries | undefined = c.series.find((x) => x.name === name);
      t.ok(s, `${id}: series ${name}`);
      if (!s) continue;
      t.equal(s.points, n, `${id} ${name}: ${n} points`);
      t.equal(s.visible, n, `${id} ${name}: every point drawn inside the chart`);
      if (n > 1) t.ok(s.pathLength > 0, `${id} ${name}: a line through them`);
    }
  }
}

async function openAndShoot(t: Test, browser: Chromium, html: string, name: string): Promise<{ page: OpenedPage; drawn: Drawn }> {
  const file = join(work, `${name}.html`);
  writeFileSync(file, html);
  const page = await browser.open(pathToFileURL(file).href);
  const drawn = await page.evaluate<Drawn>(MEASURE);
  mkdirSync(shots, { recursive: true });
  writeFileSync(join(shots, `${name}.png`), await page.screenshot(1400));
  t.same(page.problems, [], `${name}: the page logged no error or warning`);
  t.equal(drawn.scripts, 0, `${name}: no script: the verdicts read the same with JavaScript off`);
  t.ok(drawn.csp, `${name}: a CSP that forbids every fetch`);
  return { page, drawn };
}

const binary = findChromium();
if (!binary) {
  t.fail(CHROMIUM_FIX);
} else {
  const browser = new Chromium(binary);
  t.teardown(() => browser.close());

  for (const name of ['7.3-small-seed5', '7.3-small-seed5-hold-map']) {
    t.test(`report.html of ${name}`, async (t) => {
      const s = load<Summary>(`report/${name}/summary.json`);
      const { page, drawn } = await openAndShoot(t, browser, renderRunReport(s), `report-${name}`);
      const expected = expectedSettleCharts(s);
      t.ok(expected.size >= 12, `the run recorded settle series (${expected.size} charts)`);
      checkCharts(t, drawn, expected, name);
      t.same(drawn.badges, s.scenarios.filter((r) => r.kind !== 'selftest').map((r) => r.verdict.toUpperCase()), 'the verdict table shows each verdict');
      await page.close();
    });
  }

  t.test('report.html of a multi-kernel run: each kernel side by side', async (t) => {
    const m = load<MultiSummary>('report/multi-6.12-7.3-seed5/summary.json');
    const { page, drawn } = await openAndShoot(t, browser, renderMultiReport(m), 'report-multi-6.12-7.3-seed5');
    const expected: Expected = new Map();
    m.runs.forEach((r, k) => {
      for (const [id, series] of expectedSettleCharts(r.summary!, `k${k + 1}-`)) expected.set(id, series);
    });
    checkCharts(t, drawn, expected, 'multi');
    await page.close();
  });

  t.test('report.html with selftests: their table', async (t) => {
    const s = load<Summary>('compare/7.3-tree-with-selftests/summary.json');
    const { page } = await openAndShoot(t, browser, renderRunReport(s), 'report-7.3-tree-with-selftests');
    const rows = await page.evaluate<string[][]>(`[...document.querySelectorAll('#selftests + table tbody tr')].map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])`);
    t.same(rows, s.scenarios.filter((r) => r.kind === 'selftest').map((r) => [r.name, r.verdict.toUpperCase()]), 'one row per selftest with its verdict');
    await page.close();
  });

  t.test('trend.html of nights made from real runs', async (t) => {
    // Five nights of debian:7.3, in this order: pass, the held map (regression), pass (fixed),
    // pass, the held map again. tree-commit.txt is what nightly.sh writes beside each night.
    const sources = ['compare/7.3-small-pass', 'compare/7.3-small-hold-map', 'report/7.3-small-seed5', 'compare/7.3-tree-with-selftests', 'report/7.3-small-seed5-hold-map'];
    const root = join(work, 'results');
    const summaries: Summary[] = [];
    sources.forEach((src, i) => {
      const s = load<Summary>(`${src}/summary.json`);
      // One series: the tree night ran the same scenarios on a tree; its kernel is named like the others here.
      s.kernel.spec = 'debian:7.3';
      s.startedAt = `2026-12-0${i + 1}T02:00:00.000Z`;
      summaries.push(s);
      const night = join(root, `nightly-2026120${i + 1}-020000`);
      mkdirSync(night, { recursive: true });
      writeFileSync(join(night, 'summary.json'), JSON.stringify(s));
      writeFileSync(join(night, 'tree-commit.txt'), `${String(i + 1).repeat(40)} bpf: night ${i + 1}\n`);
    });
    copyFileSync(join(fixtures, 'report', '7.3-small-seed5', 'summary.json'), join(root, 'not-a-night.json'));
    const { path, nights } = writeTrend({ dirs: [root], last: 60 });
    t.equal(nights.length, 5, 'the five nightly-* directories, nothing else');
    const { page, drawn } = await openAndShoot(t, browser, readFileSync(path, 'utf8'), 'trend');
    // Expected points, from the summaries: one per night that ran the scenario and has the figure.
    const names = [...new Set(summaries.flatMap((s) => s.scenarios.map((r) => r.name)))];
    const expected: Expected = new Map();
    names.forEach((name, i) => {
      const rs = summaries.map((s) => s.scenarios.find((r) => r.name === name)).filter((r): r is ScenarioResult => r !== undefined);
      const settle = rs.filter((r) => r.kind !== 'selftest').length;
      const residue = rs.filter((r) => r.kind !== 'selftest' && residueBytes(r) !== undefined).length;
      const race = rs.filter((r) => typeof r.rates?.raceRoundsPerSec === 'number').length;
      if (settle) expected.set(`trend-${i + 1}-settle`, new Map([['settle time', settle]]));
      if (residue) expected.set(`trend-${i + 1}-residue`, new Map([['memcg residue after settling', residue]]));
      if (race) expected.set(`trend-${i + 1}-race`, new Map([['race rounds per second', race]]));
    });
    checkCharts(t, drawn, expected, 'trend');
    const rings = await page.evaluate<number>(`document.querySelectorAll('#trend-1-settle circle.ring').length`);
    t.equal(rings, 2, 'sk-map-free-live-owners: both nights that stopped passing are circled');
    const listed = await page.evaluate<string>(`document.querySelector('ul.changes').textContent`);
    t.match(listed, /REGRESSION.*sk-map-free-live-owners/, 'the regressions are listed at the top');
    t.match(listed, /1111111111111111111111111111111111111111|2222222222/, 'with the tree commit of the night');
    await page.close();
  });

  t.test('a page that loads anything from outside is caught', async (t) => {
    const s = load<Summary>('report/7.3-small-seed5/summary.json');
    const html = renderRunReport(s).replace('</body>', '<img src="https://example.invalid/x.png" alt=""></body>');
    const file = join(work, 'leaky.html');
    writeFileSync(file, html);
    const page = await browser.open(pathToFileURL(file).href);
    await new Promise((r) => setTimeout(r, 300));
    t.ok(page.problems.some((p) => /Content Security Policy/i.test(p.text)), `the CSP violation is seen: ${JSON.stringify(page.problems)}`);
    await page.close();
  });
}
