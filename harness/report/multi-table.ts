/**
 * The plain-text report of `vm-test --kernels`, beside table.ts: the scenario-by-kernel grid,
 * what differs between the kernels, and the kernels that ended early (comparison.txt, and what
 * goes to stdout without --json).
 */
import { buildGrid, gridDifferences, type Difference, type LabelledRun } from './compare.js';
import { renderDifferences, renderGrid } from './compare-table.js';
import type { MultiRun, MultiSummary } from '../results/multi-summary.js';
import type { Summary } from '../results/summary.js';
import { restartLine } from './format.js';
import { shellLines } from './table.js';

/** A kernel's label in the table: the spec as typed, or its release when the spec is a path. */
export function runLabel(r: MultiRun): string {
  const release = r.summary?.kernel?.release;
  return r.kernel.includes('/') && release ? release : r.kernel;
}

function labelledRuns(m: MultiSummary): LabelledRun[] {
  return m.runs.filter((r): r is MultiRun & { summary: Summary } => r.summary !== null).map((r) => ({ label: runLabel(r), summary: r.summary }));
}

/** A scenario not run on a kernel because that kernel's run stopped for the shell says so. */
function withShellStop(d: Difference, runs: readonly MultiRun[]): Difference {
  if (d.kind !== 'missing') return d;
  const stops = runs.flatMap((r) => (r.summary?.shell?.notRun.includes(d.scenario) ? [`${runLabel(r)} stopped at ${r.summary.shell.scenario} for the shell`] : []));
  return stops.length ? { ...d, message: `${d.message} (${stops.join('; ')})` } : d;
}

export function renderMultiTable(m: MultiSummary): string {
  const runs = labelledRuns(m);
  const grid = buildGrid(runs);
  const out = [`kernels side by side: ${m.kernels.join(', ')} (sizes ${m.sizes}, seed ${m.seed})`, renderGrid(grid), '', renderDifferences(gridDifferences(grid).map((d) => withShellStop(d, m.runs)))];
  for (const r of m.runs) if (r.error) out.push(`${r.kernel}: ended early (exit ${r.exitCode}): ${r.error}`);
  for (const r of m.runs) for (const x of r.summary?.guestRestarts ?? []) out.push(`${runLabel(r)}: ${restartLine(x)}`);
  // Where the run stopped for its shell: that kernel's scenarios after it show as not run above.
  for (const r of m.runs) {
    const shell = r.summary?.shell;
    if (shell) out.push(...shellLines(shell, r.resultsDir).map((l, i) => (i === 0 ? `${runLabel(r)}: ${l}` : l)));
  }
  if (m.aborted) out.push(`ABORTED: ${m.aborted}`);
  return out.join('\n');
}
