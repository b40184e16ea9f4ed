/**
 * CI reports, for the reusable action (action.yml, scripts/ci-action.sh) and the matrix nightly
 * (.github/workflows/nightly.yml):
 *
 *   node dist/scripts/ci-report.js table SUMMARY
 *       the run's table, as vm-test prints it
 *   node dist/scripts/ci-report.js combine --out DIR [--state DIR] JOB_DIR...
 *       the matrix jobs' summaries (JOB_DIR/summary.json; the job's configuration is the
 *       directory's name, less a leading "night-") as one table of scenario x configuration,
 *       each configuration compared (bpf-harness compare's rules) with the same configuration's
 *       summary in the state directory (the previous night), one verdict; then the state
 *       directory holds this night's summaries. Writes DIR/combined.txt and DIR/combined.json.
 *       Exit 0 no regression (a first night: every job passed), 1 a regression (a first night:
 *       a job failed), 2 a job left no summary or bad input.
 *       With --history DIR [--keep N] [--commit TEXT]: this night's summaries are also kept in
 *       DIR/nightly-<time>/<configuration>.json (the newest N nights, default 60; TEXT, the
 *       tree's "<hash> <subject>", in tree-commit.txt beside them), and DIR's nights become
 *       OUT/trend.html, one series per configuration (bpf-harness trend's page). The trend comes
 *       after the verdict and the state: a kept night it cannot read is a warning on stderr and
 *       no trend.html, never another exit code.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildGrid, compareRuns, gridDifferences, type Comparison, type LabelledRun } from '../harness/report/compare.js';
import { renderComparison, renderDifferences, renderGrid } from '../harness/report/compare-table.js';
import { renderTrend, type Night } from '../harness/report/html/trend.js';
import { loadSummary } from '../harness/report/load-summary.js';
import type { Summary } from '../harness/results/summary.js';
import { renderTable } from '../harness/report/table.js';
import { HarnessError, SetupError } from '../harness/util/errors.js';

/** A matrix job: its configuration's label and its summary, or why it has none. */
interface JobRun {
  label: string;
  summary?: Summary;
  missing?: string;
}

function single(path: string): Summary {
  const loaded = loadSummary(path);
  if (loaded.kind !== 'single') throw new SetupError(`${path}: a multi-kernel summary; give one run per matrix job`);
  return loaded.summary;
}

export function jobRun(dir: string): JobRun {
  const label = basename(dir.replace(/\/+$/, '')).replace(/^night-/, '');
  const path = join(dir, 'summary.json');
  if (!existsSync(path)) return { label, missing: `no summary.json in ${dir}: the job did not get as far as a run (see its log)` };
  return { label, summary: single(path) };
}

export interface Combined {
  version: 1;
  kind: 'combined';
  configurations: Array<{ label: string; exitCode: number | null; missing?: string; previous: boolean }>;
  comparisons: Comparison[];
  regression: boolean;
  exitCode: number;
}

/** The table and the verdict of a night's matrix; `previous` finds a configuration's last summary. */
export function combine(jobs: readonly JobRun[], previous: (label: string) => Summary | undefined): { text: string; combined: Combined } {
  const ran = jobs.filter((j): j is JobRun & { summary: Summary } => j.summary !== undefined);
  const runs: LabelledRun[] = ran.map((j) => ({ label: j.label, summary: j.summary }));
  const out: string[] = [];
  if (runs.length) {
    const grid = buildGrid(runs);
    out.push(renderGrid(grid), '', renderDifferences(gridDifferences(grid)));
  }
  for (const j of jobs.filter((x) => x.missing)) out.push(`${j.label}: ${j.missing}`);
  const comparisons: Comparison[] = [];
  const firstNight: string[] = [];
  for (const j of ran) {
    const prev = previous(j.label);
    if (prev) comparisons.push(compareRuns({ label: `last ${j.label}`, summary: prev }, { label: `now ${j.label}`, summary: j.summary }));
    else firstNight.push(j.label);
  }
  for (const c of comparisons) out.push('', renderComparison(c));
  const firstFailed = ran.filter((j) => firstNight.includes(j.label) && j.summary.exitCode !== 0);
  if (firstNight.length) out.push('', `no previous night for ${firstNight.join(', ')}: ${firstNight.length === 1 ? 'it is' : 'they are'} the baseline${firstFailed.length ? `; failing already: ${firstFailed.map((j) => j.label).join(', ')}` : ''}`);
  const regression = comparisons.some((c) => c.regression) || firstFailed.length > 0;
  const missing = jobs.some((j) => j.missing);
  const exitCode = missing ? 2 : regression ? 1 : 0;
  out.push('', `verdict: ${missing ? 'INCOMPLETE (a job left no summary)' : regression ? 'REGRESSION' : 'no regression'} over ${jobs.length} configuration(s)`);
  const combined: Combined = {
    version: 1,
    kind: 'combined',
    configurations: jobs.map((j) => ({ label: j.label, exitCode: j.summary ? j.summary.exitCode ?? null : null, ...(j.missing ? { missing: j.missing } : {}), previous: !firstNight.includes(j.label) && !j.missing })),
    comparisons,
    regression,
    exitCode,
  };
  return { text: out.join('\n'), combined };
}

function stateFile(state: string, label: string): string {
  return join(state, `${label}.json`);
}

const NIGHT_PREFIX = 'nightly-';

/** This night's summaries in history/nightly-<time>/<label>.json, the newest `keep` nights kept. */
function keepNight(history: string, jobs: readonly JobRun[], dirs: readonly string[], commit: string | undefined, keep: number, now: Date): void {
  const night = join(history, `${NIGHT_PREFIX}${now.toISOString().replace(/:/g, '-')}`);
  mkdirSync(night, { recursive: true });
  for (const [i, j] of jobs.entries()) if (j.summary) copyFileSync(join(dirs[i]!, 'summary.json'), join(night, `${j.label}.json`));
  if (commit) writeFileSync(join(night, 'tree-commit.txt'), `${commit}\n`);
  const nights = readdirSync(history).filter((n) => n.startsWith(NIGHT_PREFIX)).sort();
  for (const old of nights.slice(0, Math.max(0, nights.length - keep))) rmSync(join(history, old), { recursive: true, force: true });
}

/** The kept nights as trend.html reads them: one run per configuration, the night's time from its directory. */
function historyNights(history: string): Night[] {
  return readdirSync(history).filter((n) => n.startsWith(NIGHT_PREFIX)).sort().map((name) => {
    const dir = join(history, name);
    const commitFile = join(dir, 'tree-commit.txt');
    const commit = existsSync(commitFile) ? readFileSync(commitFile, 'utf8').split('\n')[0]!.trim() : '';
    const runs = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => ({ kernel: f.slice(0, -'.json'.length), summary: single(join(dir, f)) }));
    // nightly-2026-12-01T02-17-00.123Z -> 2026-12-01T02:17:00.123Z, the order and the label of the night.
    const startedAt = name.slice(NIGHT_PREFIX.length).replace(/T(\d\d)-(\d\d)-/, 'T$1:$2:');
    return { path: dir, startedAt, ...(commit ? { commit } : {}), runs };
  }).filter((n) => n.runs.length > 0);
}

interface CombineArgs {
  out: string;
  state?: string;
  history?: string;
  keep: number;
  commit?: string;
  dirs: string[];
}

const COMBINE_USAGE = "usage: ci-report combine --out DIR [--state DIR] [--history DIR [--keep N] [--commit TEXT]] JOB_DIR... (each JOB_DIR holds one job's summary.json)";

function parseCombine(args: readonly string[]): CombineArgs {
  const a: Partial<CombineArgs> & { dirs: string[]; keep: number } = { dirs: [], keep: 60 };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!['--out', '--state', '--history', '--keep', '--commit'].includes(flag)) {
      a.dirs.push(flag);
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new SetupError(`${flag} needs a value; ${COMBINE_USAGE}`);
    if (flag === '--out') a.out = value;
    else if (flag === '--state') a.state = value;
    else if (flag === '--history') a.history = value;
    else if (flag === '--commit') a.commit = value;
    else if (/^[1-9]\d{0,3}$/.test(value)) a.keep = Number(value);
    else throw new SetupError(`--keep ${value}: give a whole number of nights, 1-9999`);
  }
  if (!a.out || a.dirs.length === 0) throw new SetupError(COMBINE_USAGE);
  return { ...a, out: a.out };
}

function combineCommand(args: string[]): number {
  const { out, state, history, keep, commit, dirs } = parseCombine(args);
  const labels = dirs.map((d) => jobRun(d).label);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice) throw new SetupError(`two jobs are both called ${twice}: name each matrix job's results after its configuration`);
  const jobs = dirs.map(jobRun);
  const { text, combined } = combine(jobs, (label) => (state && existsSync(stateFile(state, label)) ? single(stateFile(state, label)) : undefined));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'combined.txt'), `${text}\n`);
  writeFileSync(join(out, 'combined.json'), `${JSON.stringify(combined, null, 2)}\n`);
  process.stdout.write(`${text}\n`);
  // The next night compares with this one: each configuration that ran replaces its last summary.
  if (state) {
    mkdirSync(state, { recursive: true });
    for (const [i, j] of jobs.entries()) {
      if (!j.summary) continue;
      const tmp = `${stateFile(state, j.label)}.tmp`;
      copyFileSync(join(dirs[i]!, 'summary.json'), tmp);
      renameSync(tmp, stateFile(state, j.label));
    }
  }
  // The trend is a page: a night it cannot read (a summary of another version) costs the page,
  // never the verdict's exit code or the state, which are done by now.
  if (history) {
    try {
      writeTrend(history, out, jobs, dirs, commit, keep);
    } catch (err) {
      process.stderr.write(`ci-report: warning: no trend.html this night (the verdict stands): ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return combined.exitCode;
}

/** Keeps this night in the history and writes OUT/trend.html of the kept nights. */
function writeTrend(history: string, out: string, jobs: readonly JobRun[], dirs: readonly string[], commit: string | undefined, keep: number): void {
  keepNight(history, jobs, dirs, commit, keep, new Date());
  const nights = historyNights(history);
  if (nights.length) {
    writeFileSync(join(out, 'trend.html'), renderTrend(nights));
    process.stdout.write(`trend of ${nights.length} night${nights.length === 1 ? '' : 's'}: ${join(out, 'trend.html')}\n`);
  }
}

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  if (cmd === 'table' && rest.length === 1) {
    process.stdout.write(`${renderTable(single(rest[0]!))}\n`);
    return 0;
  }
  if (cmd === 'combine') return combineCommand(rest);
  throw new SetupError(`usage: ci-report table SUMMARY | ${COMBINE_USAGE.replace(/^usage: /, '')}`);
}

if (process.argv[1] && basename(process.argv[1]) === 'ci-report.js') {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`ci-report: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof HarnessError ? err.exitCode : 2;
  }
}
