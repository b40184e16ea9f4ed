/**
 * report.html of a run: the verdicts first (plain HTML, readable with scripts off), then per
 * scenario its reason, checks and the settle waits as charts; selftests as a table. For a
 * multi-kernel run the same scenario's charts stand side by side, kernel by kernel, on shared
 * scales so that the curves compare by eye. Accepts partial summaries: it is written from exit
 * paths too (an aborted run has a report).
 */
import { relative, sep } from 'node:path';
import { buildGrid, firstClause, type LabelledRun } from '../compare.js';
import { checksOf, ms, scenariosOf, str, verdictOf } from '../format.js';
import type { MultiRun, MultiSummary } from '../../results/multi-summary.js';
import type { ScenarioResult, SettleSeries, Summary } from '../../results/summary.js';
import { renderChart, unionDomain, type ChartSpec } from './chart.js';
import { badge, esc, page } from './page.js';
import { waitHeading, waitPanels, type Panel } from './settle-charts.js';

type Result = Partial<ScenarioResult>;

const anchor = (prefix: string, name: string): string => `${prefix}${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
const isSelftest = (r: Result): boolean => r.kind === 'selftest';
const seriesOf = (r: Result): SettleSeries[] => (Array.isArray(r.settleSeries) ? r.settleSeries.filter((w) => w && Array.isArray(w.samples)) : []);
const settleText = (r: Result): string => (isSelftest(r) ? '' : r.settleMs === null ? 'never' : ms(r.settleMs));

function runMeta(s: Partial<Summary>): string {
  const k = s.kernel;
  const bits = [
    `<b>${esc(k?.release ?? '?')}</b> (${esc(k?.spec ?? '?')})`,
    `started ${esc(s.startedAt ?? '?')}`,
    `${esc(String(s.accel ?? '?').toUpperCase())}, ${esc(s.backend ?? 'qemu')}, channel ${esc(s.channel ?? '?')}`,
    `exit <b>${esc(s.exitCode ?? '?')}</b>`,
  ];
  const seed = scenariosOf(s).find((r) => typeof r.seed === 'number')?.seed;
  if (seed !== undefined) bits.push(`seed ${esc(seed)}`);
  return `<p class="meta">${bits.join(' · ')}</p>`;
}

function banners(s: Partial<Summary>): string {
  const out: string[] = [];
  if (s.aborted) out.push(`<div class="banner">The run ended early: ${esc(s.aborted)}</div>`);
  if (s.debug && s.debug.ok === false) out.push(`<div class="banner">Debug kernel checks failed (allocinfo / kmemleak): see summary.json <code>debug</code></div>`);
  for (const r of Array.isArray(s.guestRestarts) ? s.guestRestarts : []) out.push(`<p class="note">The guest was booted again in <b>${esc(r.scenario)}</b>, which ran again in the new boot: it died of ${esc(r.crash)}; ${esc(r.cause)}. Its first run had: ${esc(r.firstReason)}. The dead guest's console: ${esc(r.console)}.</p>`);
  if (s.bootKernelLog?.length) out.push(`<p class="note">The kernel reported ${s.bootKernelLog.length} problem(s) while booting (not counted against any scenario): ${esc(s.bootKernelLog[0])}</p>`);
  return out.join('\n');
}

/**
 * The stop for a shell: where, the transcript (linked: `dir` is where its files are, relative to
 * the page), what did not run, and the kernel log after it, a banner of its own when it reported.
 */
function shellBlock(s: Partial<Summary>, dir = '', who = ''): string {
  const sh = s.shell;
  if (!sh || typeof sh !== 'object') return '';
  const link = (file: string): string => `<a href="${esc(`${dir}${encodeURIComponent(str(file))}`)}">${esc(file)}</a>`;
  const spent = typeof sh.durationMs === 'number' ? `, ${esc(Math.round(sh.durationMs / 1000))} s in the guest` : ', the run ended in it';
  const out = [`<p class="note">${esc(who)}The run stopped at <b>${esc(sh.scenario)}</b> (${sh.stoppedBecause === 'failed' ? 'its first failure' : 'shell --after'}) for a shell in the guest${spent}: what it showed in ${link(str(sh.transcript))}, what was typed in ${link(str(sh.input))}.${Array.isArray(sh.notRun) && sh.notRun.length ? ` Not run: ${esc(sh.notRun.join(', '))}.` : ''}</p>`];
  const k = sh.kernelLog;
  if (k && k.verdict !== 'clean') {
    out.push(`<div class="banner">${esc(who)}The kernel log during and after the shell (not counted against ${esc(sh.scenario)}, whose verdict is the one it had when the shell opened) ${k.verdict === 'reported' ? 'has a kernel report' : 'could not be judged'}: ${esc(k.problem ?? '')}</div>`);
    if (Array.isArray(k.reports) && k.reports.length) out.push(`<pre>${esc(k.reports.join('\n'))}</pre>`);
  } else if (k) out.push(`<p class="note">${esc(who)}The kernel log during and after the shell: nothing reported.</p>`);
  return out.join('\n');
}

function verdictTable(results: readonly Result[]): string {
  const rows = results
    .filter((r) => !isSelftest(r))
    .map((r) => {
      const name = str(r.name);
      // The first clause only: the full reason is in the scenario's section, linked.
      return `<tr><td class="name"><a href="#${anchor('s-', name)}">${esc(name)}</a></td><td>${badge(verdictOf(r))}</td><td class="num">${esc(settleText(r))}</td><td>${esc(verdictOf(r) === 'pass' ? (r.reason ?? '') : firstClause(r.reason ?? ''))}</td></tr>`;
    });
  if (rows.length === 0) return '';
  return `<table class="verdicts"><thead><tr><th>scenario</th><th>verdict</th><th class="num">reclaim</th><th>reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function checksBlock(r: Result): string {
  const checks = checksOf(r);
  if (checks.length === 0) return '';
  const failed = checks.filter((c) => !c.ok).length;
  const rows = checks.map((c) => `<tr><td class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'FAILED'}</td><td class="mono">${esc(c.name)}</td><td>${esc(c.message)}</td></tr>`).join('');
  // Closed: the reason above already says what failed; the table is for the whole picture.
  return `<details><summary>${checks.length} checks, ${failed} failed${failed ? ' (their messages are the reason above)' : ''}</summary><table>${rows}</table></details>`;
}

function scenarioFacts(r: Result): string {
  const facts: string[] = [];
  const params = r.params && typeof r.params === 'object' ? Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  if (params) facts.push(`<span class="mono">${esc(params)}</span>`);
  if (typeof r.durationMs === 'number') facts.push(`ran ${esc(ms(r.durationMs))}`);
  if (r.rates) facts.push(Object.entries(r.rates).map(([k, v]) => `${esc(k)} ${esc(v)}`).join(', '));
  if (r.caughtBy?.length) facts.push(`caught by ${esc(r.caughtBy.join(', '))}`);
  return facts.length ? `<p class="meta">${facts.join(' · ')}</p>` : '';
}

function reasonLine(r: Result): string {
  const v = verdictOf(r);
  return `<p class="reason${v === 'fail' || v === 'error' ? ' bad' : ''}">${esc(r.reason ?? '')}</p>`;
}

function scenarioSection(r: Result, idPrefix: string): string {
  const name = str(r.name);
  const waits = seriesOf(r);
  const parts = [`<section id="${anchor('s-', name)}">`, `<h2>${badge(verdictOf(r))} ${esc(name)}</h2>`, reasonLine(r), scenarioFacts(r), checksBlock(r)];
  if (r.kernelLog?.length) parts.push(`<pre>${esc(r.kernelLog.join('\n'))}</pre>`);
  // The curves right under the verdict: the checks' table stays folded above them.
  if (waits.length === 0) parts.push(`<p class="note">No settle readings in this summary: written before they were kept, or the scenario ended before its settle wait.</p>`);
  waits.forEach((w, i) => {
    parts.push(`<h3>${esc(waitHeading(w, i, waits.length))}</h3>`);
    parts.push(`<div class="charts">${waitPanels(w, `${idPrefix}${anchor('', name)}-w${i + 1}`).map((p) => renderChart(p.spec)).join('\n')}</div>`);
  });
  parts.push('</section>');
  return parts.join('\n');
}

function subtestCount(r: Result): string {
  const checks = checksOf(r);
  if (checks.length === 0) return '';
  return `${checks.filter((c) => c.ok).length}/${checks.length}`;
}

function selftestTable(results: readonly Result[]): string {
  const tests = results.filter(isSelftest);
  if (tests.length === 0) return '';
  const rows = tests.map((r) => `<tr><td class="mono">${esc(r.name)}</td><td>${badge(verdictOf(r))}</td><td class="num">${esc(subtestCount(r))}</td><td>${esc(r.reason ?? '')}</td></tr>`).join('');
  return `<h2 id="selftests">BPF selftests</h2><table><thead><tr><th>test</th><th>verdict</th><th class="num">subtests ok</th><th>reason</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function repeatBlock(repeat: unknown): string {
  return typeof repeat === 'string' && repeat ? `<h2>Repeat</h2><pre>${esc(repeat)}</pre>` : '';
}

const LEGEND = `<p class="note">Charts: time runs from the map's last reference drop (0). The settle loop reads every counter every 200 ms until every check passes or the deadline passes. The shaded band is the memcg tolerance (per-CPU charge caches); optmem and the inspector are exact and must come back to the baseline. An open circle is a reading taken after draining the cgroup's per-CPU charge caches. Hover a point for its value.</p>`;

export function renderRunReport(s: Partial<Summary>): string {
  const results = scenariosOf(s);
  const title = `bpf-harness ${s.kernel?.release ?? s.kernel?.spec ?? ''}`.trim();
  const body = [
    `<h1>bpf-storage-harness run report</h1>`,
    runMeta(s),
    banners(s),
    shellBlock(s),
    verdictTable(results),
    results.some((r) => !isSelftest(r)) ? LEGEND : '',
    ...results.filter((r) => !isSelftest(r)).map((r) => scenarioSection(r, '')),
    selftestTable(results),
    repeatBlock(s.repeat),
  ];
  return page(title, body.filter(Boolean).join('\n'));
}

// ---- several kernels ----

/** The kernel's own report.html, relative to the multi directory (both live under results/). */
/** The kernel's own results directory, relative to the multi directory (both live under results/), with a slash; '' when unknown. */
function ownDir(m: Partial<MultiSummary>, r: MultiRun): string {
  if (!m.resultsDir || !r.resultsDir) return '';
  return `${relative(m.resultsDir, r.resultsDir).split(sep).map(encodeURIComponent).join('/')}/`;
}

/** The kernel's own report.html. */
function ownReport(m: Partial<MultiSummary>, r: MultiRun): string {
  const dir = ownDir(m, r);
  return dir ? ` <a class="note" href="${esc(dir)}report.html">its own report</a>` : '';
}

function label(r: MultiRun): string {
  const release = r.summary?.kernel?.release;
  return r.kernel.includes('/') && release ? release : r.kernel;
}

function multiGrid(runs: readonly LabelledRun[], selftests: boolean): string {
  const grid = buildGrid(runs);
  const rows = grid.rows
    .filter((row) => row.cells.some((c) => (c.selftest ?? false) === selftests && c.verdict !== 'missing'))
    .map((row) => {
      const cells = row.cells.map((c) => (c.verdict === 'missing' ? '<td class="note">not run</td>' : `<td>${badge(c.verdict)} ${c.selftest ? '' : esc(c.settleMs === null ? 'never' : ms(c.settleMs))}</td>`));
      const name = selftests ? esc(row.scenario) : `<a href="#${anchor('s-', row.scenario)}">${esc(row.scenario)}</a>`;
      return `<tr><td>${name}</td>${cells.join('')}</tr>`;
    });
  if (rows.length === 0) return '';
  const head = `<tr><th>${selftests ? 'selftest' : 'scenario'}</th>${grid.labels.map((l) => `<th>${esc(l)}</th>`).join('')}</tr>`;
  return `${selftests ? '<h2 id="selftests">BPF selftests</h2>' : ''}<table class="verdicts"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/** One chart per kernel for the same wait and panel, on one x and one y scale. */
function sideBySide(scenario: string, runs: readonly LabelledRun[], width: number, links: readonly string[]): string {
  const results = runs.map((r) => scenariosOf(r.summary).find((x) => x.name === scenario));
  const cols = runs.length;
  const parts: string[] = [`<section id="${anchor('s-', scenario)}">`, `<h2>${esc(scenario)}</h2>`];
  parts.push(`<div class="side" style="grid-template-columns: repeat(${cols}, ${width}px)">`);
  runs.forEach((r, i) => {
    const res = results[i];
    parts.push(`<div class="col-head">${esc(r.label)} ${res ? badge(verdictOf(res)) : '<span class="note">not run</span>'}${links[i] ?? ''}</div>`);
  });
  results.forEach((res) => parts.push(`<div>${res ? reasonLine(res) + checksBlock(res) : ''}</div>`));
  const panelsPerKernel: Panel[][][] = results.map((res, k) => seriesOf(res ?? {}).map((w, i) => waitPanels(w, `k${k + 1}-${anchor('', scenario)}-w${i + 1}`)));
  const waits = Math.max(0, ...panelsPerKernel.map((p) => p.length));
  for (let i = 0; i < waits; i++) {
    parts.push(...results.map((res) => {
      const w = seriesOf(res ?? {})[i];
      return `<h3>${w ? esc(waitHeading(w, i, seriesOf(res ?? {}).length)) : ''}</h3>`;
    }));
    const kinds = [...new Set(panelsPerKernel.flatMap((p) => (p[i] ?? []).map((x) => x.kind)))];
    for (const kind of kinds) {
      const specs = panelsPerKernel.map((p) => p[i]?.find((x) => x.kind === kind)?.spec);
      const present = specs.filter((x): x is ChartSpec => x !== undefined);
      const x = present.map((sp) => sp.x).reduce(unionDomain);
      const y = present.map((sp) => sp.y).reduce(unionDomain);
      parts.push(...specs.map((sp) => `<div>${sp ? renderChart({ ...sp, x, y, width }) : ''}</div>`));
    }
  }
  parts.push('</div></section>');
  return parts.join('\n');
}

export function renderMultiReport(m: Partial<MultiSummary>): string {
  const kept = (Array.isArray(m.runs) ? m.runs : []).filter((r): r is MultiRun & { summary: Summary } => !!r && r.summary !== null && typeof r.summary === 'object');
  const runs: LabelledRun[] = kept.map((r) => ({ label: label(r), summary: r.summary }));
  const links = kept.map((r) => ownReport(m, r));
  const width = Math.max(300, Math.min(600, Math.floor(1600 / Math.max(1, runs.length)) - 24));
  const scenarios = buildGrid(runs).rows.filter((row) => row.cells.some((c) => !c.selftest && c.verdict !== 'missing')).map((row) => row.scenario);
  const errors = (m.runs ?? []).filter((r) => r.error).map((r) => `<div class="banner">${esc(r.kernel)}: ended early (exit ${esc(r.exitCode)}): ${esc(r.error)}</div>`);
  const body = [
    `<h1>bpf-storage-harness: kernels side by side</h1>`,
    `<p class="meta">${esc((m.kernels ?? []).join(', '))} · sizes ${esc(m.sizes ?? '?')} · seed ${esc(m.seed ?? '?')} · started ${esc(m.startedAt ?? '?')} · exit <b>${esc(m.exitCode ?? '?')}</b></p>`,
    m.aborted ? `<div class="banner">The run ended early: ${esc(m.aborted)}</div>` : '',
    ...errors,
    ...kept.map((r, i) => shellBlock(r.summary, ownDir(m, r), `${runs[i]!.label}: `)),
    multiGrid(runs, false),
    scenarios.length ? LEGEND : '',
    ...scenarios.map((sc) => sideBySide(sc, runs, width, links)),
    multiGrid(runs, true),
    repeatBlock(m.repeat),
  ];
  return page('bpf-harness: kernels side by side', body.filter(Boolean).join('\n'));
}
