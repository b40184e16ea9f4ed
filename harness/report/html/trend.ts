/**
 * trend.html: the nightly summaries side by side in time. Per scenario, the settle time, the
 * memcg residue after settling and the race rounds per second across nights, each point
 * coloured by its verdict, with the tree commit under each night, verdict changes marked and
 * the compare's regressions (harness/report/compare.ts, night by night) circled and listed.
 * A verdict matrix (scenario x night) reads without any chart.
 */
import { compareRuns, firstClause, SETTLE_FACTOR, SETTLE_MIN_DELTA_MS, type Change } from '../compare.js';
import { ms, scenariosOf, str, verdictOf } from '../format.js';
import type { CounterSnapshot, ScenarioResult, Summary } from '../../results/summary.js';
import { domainOf, renderChart, type ChartMarker, type ChartPoint, type ChartSeries } from './chart.js';
import { badge, esc, page } from './page.js';

/** One kernel's run in one night. `kernel` keys the series (a tree's path stays the same night to night). */
export interface NightRun {
  kernel: string;
  summary: Summary;
}

export interface Night {
  /** Where it was read from (shown, and a link target). */
  path: string;
  startedAt: string;
  /** The tree's commit as nightly.sh recorded it: "<hash> <subject>". */
  commit?: string;
  runs: NightRun[];
}

/** A change from the previous night of the same kernel, as compareRuns states it. */
export interface NightChange extends Change {
  night: number;
  kernel: string;
}

const SERIES_COLORS = ['#1d4ed8', '#7c3aed', '#0f766e', '#b45309', '#be185d'];
/** The kinds that are marked on the charts and listed at the top. */
const NOTABLE = new Set(['regression', 'slower', 'aborted', 'fixed']);

type Result = Partial<ScenarioResult>;

function resultOf(n: Night, kernel: string, scenario: string): Result | undefined {
  const run = n.runs.find((r) => r.kernel === kernel);
  return run ? scenariosOf(run.summary).find((x) => x.name === scenario) : undefined;
}

/** Every change from one night to the next of the same kernel. */
export function nightChanges(nights: readonly Night[]): NightChange[] {
  const out: NightChange[] = [];
  nights.forEach((n, i) => {
    for (const run of n.runs) {
      const prev = nights.slice(0, i).reverse().find((p) => p.runs.some((r) => r.kernel === run.kernel));
      const a = prev?.runs.find((r) => r.kernel === run.kernel);
      if (!a) continue;
      for (const c of compareRuns({ label: 'A', summary: a.summary }, { label: 'B', summary: run.summary }).changes) out.push({ ...c, night: i, kernel: run.kernel });
    }
  });
  return out;
}

const kernelPart = (c: CounterSnapshot): number => c.memcgCurrent - (c.memcgStat?.anon ?? 0) - (c.memcgStat?.file ?? 0);

/** What stayed charged after settling, bytes: the memcg figures when the run has them, else after - before of the judged counter. */
export function residueBytes(r: Result): number | undefined {
  const judged = (r as { memcg?: { residue?: { current?: unknown } } }).memcg?.residue?.current;
  if (typeof judged === 'number' && Number.isFinite(judged)) return judged;
  const b = r.counters?.before;
  const a = r.counters?.after;
  if (!b || !a || typeof b.memcgCurrent !== 'number' || typeof a.memcgCurrent !== 'number') return undefined;
  return kernelPart(a) - kernelPart(b);
}

/** "2026-11-30T02:00:05.123Z" -> "11-30 02:00". */
function shortDate(iso: string): string {
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso.slice(0, 16);
}
const shortCommit = (c?: string): string => (c ? c.split(/\s+/)[0]!.slice(0, 8) : '');
const kernelName = (k: string): string => (k.includes('/') ? k.split('/').filter(Boolean).pop() ?? k : k);

interface Metric {
  key: string;
  title: string;
  unit: string;
  value: (r: Result) => number | null | undefined;
  /** null means "never" (drawn at the top), not "absent". */
  nullIsNever?: boolean;
  format: (v: number) => string;
}

const METRICS: Metric[] = [
  { key: 'settle', title: 'settle time', unit: 'ms', value: (r) => (r.kind === 'selftest' ? undefined : r.settleMs), nullIsNever: true, format: (v) => ms(v) },
  { key: 'residue', title: 'memcg residue after settling', unit: 'KiB', value: (r) => { const b = residueBytes(r); return b === undefined ? undefined : Math.round((b / 1024) * 10) / 10; }, format: (v) => `${v} KiB` },
  { key: 'race', title: 'race rounds per second', unit: 'rounds/s', value: (r) => r.rates?.raceRoundsPerSec, format: (v) => `${v} rounds/s` },
];

function metricChart(scenario: string, m: Metric, nights: readonly Night[], kernels: readonly string[], changes: readonly NightChange[], id: string): string | null {
  const series: ChartSeries[] = [];
  const values: number[] = [];
  kernels.forEach((kernel, k) => {
    const points: ChartPoint[] = [];
    nights.forEach((n, i) => {
      const r = resultOf(n, kernel, scenario);
      if (!r) return;
      const v = m.value(r);
      const verdict = verdictOf(r);
      const ring = changes.some((c) => c.night === i && c.kernel === kernel && c.scenario === scenario && (c.kind === 'regression' || (c.kind === 'slower' && m.key === 'settle')));
      const head = `${shortDate(n.startedAt)}${n.commit ? ` ${shortCommit(n.commit)}` : ''}${kernels.length > 1 ? ` ${kernelName(kernel)}` : ''}: ${verdict.toUpperCase()}`;
      if (typeof v === 'number' && Number.isFinite(v)) {
        values.push(v);
        points.push({ x: i, y: v, verdict, ring, title: `${head}, ${m.format(v)}` });
      } else if (v === null && m.nullIsNever) {
        points.push({ x: i, y: Number.NaN, verdict, ring, never: true, title: `${head}, never settled` });
      }
    });
    if (points.length) series.push({ name: kernels.length > 1 ? kernelName(kernel) : m.title, color: SERIES_COLORS[k % SERIES_COLORS.length]!, points });
  });
  if (series.length === 0) return null;
  const markers: ChartMarker[] = [];
  for (const c of changes) {
    if (c.scenario !== scenario || (c.kind !== 'regression' && c.kind !== 'fixed')) continue;
    const prev = nights.slice(0, c.night).reverse().map((n) => resultOf(n, c.kernel, scenario)).find((r) => r);
    const now = resultOf(nights[c.night]!, c.kernel, scenario);
    const label = `${prev ? verdictOf(prev).toUpperCase() : '?'}→${now ? verdictOf(now).toUpperCase() : '?'}`;
    if (!markers.some((x) => x.x === c.night - 0.5)) markers.push({ x: c.night - 0.5, label, kind: c.kind === 'regression' ? 'change' : 'settled' });
  }
  return renderChart({
    id,
    title: m.title,
    yUnit: m.unit,
    x: { min: -0.5, max: Math.max(0.5, nights.length - 0.5) },
    // Room at the top for the "never" row above the highest figure.
    y: domainOf(values, [0], series.some((x) => x.points.some((p) => p.never)) ? 0.18 : 0.08),
    xTicks: nights.map((n, i) => ({ x: i, label: shortDate(n.startedAt), sub: shortCommit(n.commit) })),
    series,
    markers,
    baseline: m.key === 'residue' ? { y: 0, label: 'baseline' } : undefined,
    // About 66 px a night, so that each night's date fits under it up to a dozen nights.
    width: Math.max(380, Math.min(900, 110 + nights.length * 66)),
  });
}

const anchor = (name: string): string => `t-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** The notable changes, night by night: one line per night and kind, naming the scenarios. */
function changeList(changes: readonly NightChange[], nights: readonly Night[], kernels: readonly string[]): string {
  const notable = changes.filter((c) => NOTABLE.has(c.kind));
  if (notable.length === 0) return `<p>No regression, slower reclaim or fix from one night to the next.</p>`;
  const items: string[] = [];
  nights.forEach((n, i) => {
    const here = notable.filter((c) => c.night === i);
    if (here.length === 0) return;
    const lines = [...new Set(here.map((c) => `${c.kind}\u0000${c.kernel}`))].map((key) => {
      const [kind = '', kernel = ''] = key.split('\u0000');
      const cs = here.filter((c) => c.kind === kind && c.kernel === kernel);
      const cls = kind === 'fixed' ? 'ok' : 'bad';
      const what = cs.map((c) => (c.scenario === '(run)' ? esc(c.message) : `<a href="#${anchor(c.scenario)}" title="${esc(c.message)}">${esc(c.scenario)}</a>`)).join(', ');
      return `<li><span class="${cls}"><b>${esc(kind.toUpperCase())}</b></span>${kernels.length > 1 ? ` [${esc(kernelName(kernel))}]` : ''}: ${what}</li>`;
    });
    items.push(`<li>${esc(shortDate(n.startedAt))}${n.commit ? ` <span class="mono">${esc(n.commit)}</span>` : ''}<ul>${lines.join('')}</ul></li>`);
  });
  return `<ul class="changes">${items.join('')}</ul>`;
}

function verdictMatrix(scenarios: readonly string[], nights: readonly Night[], kernels: readonly string[], changes: readonly NightChange[]): string {
  const head = `<tr><th>scenario</th>${nights.map((n) => `<th class="night" title="${esc(n.path)}">${esc(shortDate(n.startedAt))}<br><span class="mono">${esc(shortCommit(n.commit))}</span></th>`).join('')}</tr>`;
  const rows = scenarios.flatMap((sc) =>
    kernels.map((kernel) => {
      const cells = nights.map((n, i) => {
        const r = resultOf(n, kernel, sc);
        if (!r) return '<td class="note">-</td>';
        const reg = changes.some((c) => c.night === i && c.kernel === kernel && c.scenario === sc && c.kind === 'regression');
        return `<td${reg ? ' class="regressed"' : ''} title="${esc(r.reason ?? '')}">${badge(verdictOf(r))}</td>`;
      });
      const name = `${esc(sc)}${kernels.length > 1 ? ` <span class="note">${esc(kernelName(kernel))}</span>` : ''}`;
      return `<tr><td class="name"><a href="#${anchor(sc)}">${name}</a></td>${cells.join('')}</tr>`;
    }),
  );
  return `<div style="overflow-x:auto"><table class="matrix"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>`;
}

export function renderTrend(nights: readonly Night[]): string {
  const kernels = [...new Set(nights.flatMap((n) => n.runs.map((r) => r.kernel)))];
  const scenarios = [...new Set(nights.flatMap((n) => n.runs.flatMap((r) => scenariosOf(r.summary).map((x) => str(x.name)))))].filter(Boolean);
  const changes = nightChanges(nights);
  const first = nights[0]?.startedAt ?? '?';
  const last = nights.at(-1)?.startedAt ?? '?';
  const sections = scenarios.map((sc, s) => {
    const charts = METRICS.map((m) => metricChart(sc, m, nights, kernels, changes, `trend-${s + 1}-${m.key}`)).filter((c): c is string => c !== null);
    const latest = nights.map((n) => kernels.map((k) => resultOf(n, k, sc))).flat().filter((r) => r).at(-1);
    return [
      `<section id="${anchor(sc)}">`,
      `<h2>${latest ? badge(verdictOf(latest)) : ''} ${esc(sc)}</h2>`,
      latest ? `<p class="reason${verdictOf(latest) === 'pass' || verdictOf(latest) === 'skip' ? '' : ' bad'}">latest night: ${esc(verdictOf(latest) === 'pass' ? (latest.reason ?? '') : firstClause(latest.reason ?? ''))}</p>` : '',
      charts.length ? `<div class="charts">${charts.join('\n')}</div>` : `<p class="note">A BPF selftest: its verdicts are in the table above.</p>`,
      '</section>',
    ].join('\n');
  });
  const body = [
    `<h1>bpf-storage-harness nightly trend</h1>`,
    `<p class="meta">${nights.length} night${nights.length === 1 ? '' : 's'} from ${esc(first)} to ${esc(last)} · ${esc(kernels.map(kernelName).join(', '))}</p>`,
    `<h2>Changes from night to night</h2>`,
    changeList(changes, nights, kernels),
    `<h2>Verdicts</h2>`,
    verdictMatrix(scenarios, nights, kernels, changes),
    `<p class="note">Each point is a night, coloured by its verdict (green pass, red fail, orange error); a circle marks a regression the compare rules found against the previous night (a verdict that stopped passing, or a settle time at least ${SETTLE_FACTOR}x and ${SETTLE_MIN_DELTA_MS} ms slower); a red line marks a verdict change. Under each night: the tree commit. Hover a point for its figures.</p>`,
    ...sections,
  ];
  return page('bpf-harness nightly trend', body.join('\n'));
}
