/**
 * Comparison of runs, as pure functions over Summary objects: the scenario-by-kernel grid
 * (`vm-test --kernels`), what differs between kernels, and what changed from a run A to a run B
 * (`bpf-harness compare`). No I/O and no rendering here: see compare-table.ts and load-summary.ts.
 */
import type { Summary, Verdict } from '../results/summary.js';
import { counterDeltas, scenariosOf, str, verdictOf, type CounterDelta } from './format.js';

/**
 * When is a reclaim (settle) time "different" or "grown"? Settle times are polled every 200 ms
 * under TCG on 2 shared cores, so a 200 -> 400 ms change is one poll of jitter, and a guest
 * that loses the CPU to a neighbour's kernel build for a moment doubles a small figure easily.
 * A change counts only when it is both a factor of 2 (a real slowdown of the freeing path, e.g.
 * an extra RCU grace period or a deferred workqueue pass) AND at least 500 ms in absolute terms
 * (more than two poll intervals), so small absolute values never count.
 */
export const SETTLE_FACTOR = 2;
export const SETTLE_MIN_DELTA_MS = 500;

/** One run in a comparison, with the label its column or row carries (a kernel spec, "A", "B"). */
export interface LabelledRun {
  label: string;
  summary: Summary;
}

/** One scenario on one run. `verdict` is 'missing' when that run has no such scenario. */
export interface Cell {
  verdict: Verdict | 'missing';
  /** ms; null when the counters never came back; undefined when missing. */
  settleMs?: number | null;
  /** after - before of the main counters (memcg, slab, optmem), only those recorded. */
  deltas: CounterDelta[];
  reason: string;
  /** A BPF selftest: no reclaim time, no counters. */
  selftest?: boolean;
}

export interface GridRow {
  scenario: string;
  cells: Cell[];
}

/** Scenario x run. Rows keep the order scenarios first appear in, run by run. */
export interface Grid {
  labels: string[];
  rows: GridRow[];
}

/** The counters a side-by-side cell shows: the element charge shows up in these three. */
const MAIN_COUNTERS = new Set(['memcg', 'slab', 'optmem']);

export function cellOf(s: Summary, scenario: string): Cell {
  const r = scenariosOf(s).find((x) => x.name === scenario);
  if (!r) return { verdict: 'missing', deltas: [], reason: '' };
  return {
    verdict: verdictOf(r),
    settleMs: typeof r.settleMs === 'number' && Number.isFinite(r.settleMs) ? r.settleMs : null,
    deltas: counterDeltas(r.counters?.before, r.counters?.after).filter((d) => MAIN_COUNTERS.has(d.name)),
    reason: str(r.reason),
    ...(r.kind === 'selftest' ? { selftest: true } : {}),
  };
}

export function scenarioNames(runs: readonly LabelledRun[]): string[] {
  const names: string[] = [];
  for (const run of runs) {
    for (const r of scenariosOf(run.summary)) {
      const name = str(r.name);
      if (name && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

export function buildGrid(runs: readonly LabelledRun[]): Grid {
  return {
    labels: runs.map((r) => r.label),
    rows: scenarioNames(runs).map((scenario) => ({ scenario, cells: runs.map((r) => cellOf(r.summary, scenario)) })),
  };
}

/** True when `slow` is at least SETTLE_FACTOR times `fast` and SETTLE_MIN_DELTA_MS above it. */
export function settleMateriallySlower(fast: number, slow: number): boolean {
  return slow >= fast * SETTLE_FACTOR && slow - fast >= SETTLE_MIN_DELTA_MS;
}

export interface Difference {
  scenario: string;
  kind: 'verdict' | 'settle' | 'missing';
  message: string;
}

function settleText(v: number | null | undefined): string {
  return v === null || v === undefined ? 'never' : `${v} ms`;
}

function rowDifferences(labels: readonly string[], row: GridRow): Difference[] {
  const out: Difference[] = [];
  const present = row.cells.map((c, i) => ({ c, label: labels[i]! })).filter((x) => x.c.verdict !== 'missing');
  const missing = labels.filter((_, i) => row.cells[i]!.verdict === 'missing');
  if (missing.length) out.push({ scenario: row.scenario, kind: 'missing', message: `not run on ${missing.join(', ')}` });
  if (new Set(present.map((x) => x.c.verdict)).size > 1) {
    out.push({ scenario: row.scenario, kind: 'verdict', message: present.map((x) => `${x.c.verdict.toUpperCase()} on ${x.label}`).join(', ') });
  }
  const timed = present.filter((x) => typeof x.c.settleMs === 'number') as Array<{ c: Cell & { settleMs: number }; label: string }>;
  if (timed.length > 1) {
    const fast = timed.reduce((a, b) => (b.c.settleMs < a.c.settleMs ? b : a));
    const slow = timed.reduce((a, b) => (b.c.settleMs > a.c.settleMs ? b : a));
    if (settleMateriallySlower(fast.c.settleMs, slow.c.settleMs)) {
      out.push({ scenario: row.scenario, kind: 'settle', message: `reclaim ${settleText(slow.c.settleMs)} on ${slow.label} vs ${settleText(fast.c.settleMs)} on ${fast.label}` });
    }
  }
  return out;
}

/** What differs across the runs of a grid (kernels side by side): verdicts, reclaim times, missing scenarios. */
export function gridDifferences(grid: Grid): Difference[] {
  return grid.rows.flatMap((row) => rowDifferences(grid.labels, row));
}

export type ChangeKind = 'regression' | 'fixed' | 'new' | 'missing' | 'slower' | 'faster' | 'aborted' | 'skipped';

export interface Change {
  scenario: string;
  kind: ChangeKind;
  message: string;
}

export interface Comparison {
  version: 1;
  kind: 'comparison';
  a: { label: string; kernel: string; release: string; resultsDir?: string; exitCode: number };
  b: { label: string; kernel: string; release: string; resultsDir?: string; exitCode: number };
  settleRule: { factor: number; minDeltaMs: number };
  grid: Grid;
  changes: Change[];
  /** True when something passed in A and fails or errs in B, or B aborted where A did not. */
  regression: boolean;
}

/** Kinds of change that make `compare` exit 1. A slower reclaim is reported, never fatal: see SETTLE_FACTOR. */
const FATAL: ReadonlySet<ChangeKind> = new Set(['regression', 'aborted']);

function scenarioChange(scenario: string, a: Cell, b: Cell): Change | null {
  if (a.verdict === 'missing' && b.verdict === 'missing') return null;
  if (a.verdict === 'missing') return { scenario, kind: 'new', message: `new in B: ${b.verdict.toUpperCase()}` };
  if (b.verdict === 'missing') return { scenario, kind: 'missing', message: `in A (${a.verdict.toUpperCase()}) but not run in B` };
  if (a.verdict === 'skip' && b.verdict === 'skip') return null;
  // A selftest that stops running is worth a line, never a failure of the comparison; one
  // that ran and fails where it was skipped before is a regression.
  if (a.verdict === 'pass' && b.verdict === 'skip') return { scenario, kind: 'skipped', message: `PASS in A, SKIP in B: ${firstClause(b.reason)}` };
  if (a.verdict === 'skip' && (b.verdict === 'fail' || b.verdict === 'error')) return { scenario, kind: 'regression', message: `SKIP in A, ${b.verdict.toUpperCase()} in B: ${firstClause(b.reason)}` };
  if (a.verdict === 'skip') return { scenario, kind: 'skipped', message: `SKIP in A, ${b.verdict.toUpperCase()} in B` };
  if (a.verdict === 'pass' && b.verdict !== 'pass') return { scenario, kind: 'regression', message: `PASS in A, ${b.verdict.toUpperCase()} in B: ${firstClause(b.reason)}` };
  if (a.verdict !== 'pass' && b.verdict === 'pass') return { scenario, kind: 'fixed', message: `${a.verdict.toUpperCase()} in A, PASS in B` };
  if (typeof a.settleMs === 'number' && typeof b.settleMs === 'number') {
    if (settleMateriallySlower(a.settleMs, b.settleMs)) return { scenario, kind: 'slower', message: `reclaim grew from ${a.settleMs} ms to ${b.settleMs} ms` };
    if (settleMateriallySlower(b.settleMs, a.settleMs)) return { scenario, kind: 'faster', message: `reclaim shrank from ${a.settleMs} ms to ${b.settleMs} ms` };
  }
  return null;
}

/** The first clause of a reason: the full one is in B's own report, the change list stays one line. */
export function firstClause(reason: string): string {
  const first = reason.split(/;\s*/)[0] ?? '';
  const cut = first.length > 160 ? `${first.slice(0, 157)}...` : first;
  return cut !== reason ? `${cut} (...)` : cut;
}

function side(label: string, s: Summary): Comparison['a'] {
  return {
    label,
    kernel: str(s.kernel?.spec),
    release: str(s.kernel?.release),
    ...(s.resultsDir ? { resultsDir: s.resultsDir } : {}),
    exitCode: typeof s.exitCode === 'number' ? s.exitCode : 2,
  };
}

/** What changed from A to B, scenario by scenario. */
export function compareRuns(a: LabelledRun, b: LabelledRun): Comparison {
  const grid = buildGrid([a, b]);
  const changes = grid.rows.map((row) => scenarioChange(row.scenario, row.cells[0]!, row.cells[1]!)).filter((c): c is Change => c !== null);
  if (b.summary.aborted && !a.summary.aborted) {
    changes.push({ scenario: '(run)', kind: 'aborted', message: `B ended early: ${str(b.summary.aborted)}` });
  }
  return {
    version: 1,
    kind: 'comparison',
    a: side(a.label, a.summary),
    b: side(b.label, b.summary),
    settleRule: { factor: SETTLE_FACTOR, minDeltaMs: SETTLE_MIN_DELTA_MS },
    grid,
    changes,
    regression: changes.some((c) => FATAL.has(c.kind)),
  };
}

/** 2 > 1 > 0; anything else (130 for Ctrl-C, 143 ...) outranks them all. */
export function worstExitCode(codes: readonly number[]): number {
  const rank = (c: number): number => (c === 0 ? 0 : c === 1 ? 1 : c === 2 ? 2 : 3);
  return codes.reduce((w, c) => (rank(c) > rank(w) ? c : w), 0);
}
