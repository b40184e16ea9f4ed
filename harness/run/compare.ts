/**
 * `bpf-harness compare A B`: what changed from run A to run B. A and B are results directories
 * or summary.json files, of one kernel or of `vm-test --kernels`. Two single runs are compared
 * whatever their kernels (a bisect compares two builds); multi-kernel runs are paired kernel by
 * kernel. Exit 1 on a regression, 0 otherwise; bad input is a SetupError (2).
 */
import { compareRuns, type Comparison, type LabelledRun } from '../report/compare.js';
import { renderComparison } from '../report/compare-table.js';
import { loadSummary, type LoadedSummary } from '../report/load-summary.js';
import type { Summary } from '../results/summary.js';
import { SetupError } from '../util/errors.js';
import { runLabel } from '../report/multi-table.js';

export interface CompareOptions {
  a: string;
  b: string;
  json: boolean;
}

interface KernelRun {
  kernel: string;
  summary: Summary;
}

function kernelRuns(l: LoadedSummary): KernelRun[] {
  if (l.kind === 'single') return [{ kernel: l.summary.kernel?.spec ?? '?', summary: l.summary }];
  return l.multi.runs.filter((r) => r.summary !== null).map((r) => ({ kernel: runLabel(r), summary: r.summary as Summary }));
}

export interface ComparisonSet {
  version: 1;
  kind: 'comparisons';
  comparisons: Comparison[];
  /** Kernels that only one side ran. */
  unpaired: Array<{ side: 'A' | 'B'; kernel: string }>;
  regression: boolean;
}

const labelled = (side: 'A' | 'B', r: KernelRun): LabelledRun => ({ label: `${side} ${r.kernel}`, summary: r.summary });

/** One pair when each side holds one run; otherwise pairs by kernel, the rest unpaired. */
export function pairAndCompare(a: KernelRun[], b: KernelRun[]): ComparisonSet {
  const comparisons: Comparison[] = [];
  const unpaired: ComparisonSet['unpaired'] = [];
  if (a.length === 1 && b.length === 1) {
    comparisons.push(compareRuns(labelled('A', a[0]!), labelled('B', b[0]!)));
  } else {
    for (const ra of a) {
      const rb = b.find((x) => x.kernel === ra.kernel);
      if (rb) comparisons.push(compareRuns(labelled('A', ra), labelled('B', rb)));
      else unpaired.push({ side: 'A', kernel: ra.kernel });
    }
    for (const rb of b) if (!a.some((x) => x.kernel === rb.kernel)) unpaired.push({ side: 'B', kernel: rb.kernel });
  }
  return { version: 1, kind: 'comparisons', comparisons, unpaired, regression: comparisons.some((c) => c.regression) };
}

export function compareCommand(opts: CompareOptions): number {
  const a = kernelRuns(loadSummary(opts.a));
  const b = kernelRuns(loadSummary(opts.b));
  if (a.length === 0 || b.length === 0) throw new SetupError(`${a.length === 0 ? opts.a : opts.b}: no kernel in it got as far as a summary; compare runs that booted`);
  const set = pairAndCompare(a, b);
  if (set.comparisons.length === 0) throw new SetupError(`${opts.a} and ${opts.b} share no kernel; compare runs of the same kernels, or two single-kernel runs`);
  // Always the set, even for one pair: one shape for every consumer.
  if (opts.json) process.stdout.write(JSON.stringify(set, null, 2) + '\n');
  else {
    const text = set.comparisons.map(renderComparison);
    for (const u of set.unpaired) text.push(`only in ${u.side}: ${u.kernel}`);
    process.stdout.write(text.join('\n\n') + '\n');
  }
  return set.regression ? 1 : 0;
}
