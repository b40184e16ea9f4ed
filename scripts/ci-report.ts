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
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildGrid, compareRuns, gridDifferences, type Comparison, type LabelledRun } from '../harness/report/compare.js';
import { renderComparison, renderDifferences, renderGrid } from '../harness/report/compare-table.js';
import { loadSummary } from '../harness/report/load-summary.js';
import type { Summary } from '../harness/report/summary-types.js';
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

function combineCommand(args: string[]): number {
  let out: string | undefined;
  let state: string | undefined;
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i];
    else if (args[i] === '--state') state = args[++i];
    else dirs.push(args[i]!);
  }
  if (!out || dirs.length === 0) throw new SetupError('usage: ci-report combine --out DIR [--state DIR] JOB_DIR... (each JOB_DIR holds one job\'s summary.json)');
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
  return combined.exitCode;
}

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  if (cmd === 'table' && rest.length === 1) {
    process.stdout.write(`${renderTable(single(rest[0]!))}\n`);
    return 0;
  }
  if (cmd === 'combine') return combineCommand(rest);
  throw new SetupError('usage: ci-report table SUMMARY | ci-report combine --out DIR [--state DIR] JOB_DIR...');
}

if (process.argv[1] && basename(process.argv[1]) === 'ci-report.js') {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`ci-report: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof HarnessError ? err.exitCode : 2;
  }
}
