/**
 * Plain-text renderings of compare.ts's results, beside table.ts:
 *   scenario | run (kernel, or A/B) | verdict | settle | main counter deltas
 * one line per scenario and run, grouped by scenario, then "what differs" (kernels side by
 * side) or "what changed" (A -> B) as a list.
 */
import type { Cell, Change, Comparison, Difference, Grid } from './compare.js';
import { SETTLE_FACTOR, SETTLE_MIN_DELTA_MS } from './compare.js';
import { ms, signedBytes } from './format.js';

function countersText(c: Cell): string {
  if (c.verdict === 'missing') return '';
  if (c.deltas.length === 0) return '-';
  return c.deltas.filter((d) => d.delta !== 0).map((d) => `${d.name} ${signedBytes(d.delta)}`).join(', ') || 'no change';
}

function settleCell(c: Cell): string {
  if (c.verdict === 'missing') return '';
  if (c.selftest) return '-';
  return c.settleMs === null ? 'never' : ms(c.settleMs);
}

export function renderGrid(grid: Grid): string {
  const head = ['scenario', 'kernel', 'verdict', 'settle', 'counters (after - before)'];
  const rows: string[][] = [];
  for (const row of grid.rows) {
    row.cells.forEach((c, i) => {
      rows.push([i === 0 ? row.scenario : '', grid.labels[i]!, c.verdict === 'missing' ? 'not run' : c.verdict.toUpperCase(), settleCell(c), countersText(c)]);
    });
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const RULE = `reclaim times count as different at ${SETTLE_FACTOR}x and at least +${SETTLE_MIN_DELTA_MS} ms`;

export function renderDifferences(diffs: readonly Difference[]): string {
  if (diffs.length === 0) return `what differs: nothing (same verdicts; ${RULE})`;
  return [`what differs (${RULE}):`, ...diffs.map((d) => `  ${d.scenario}: ${d.message}`)].join('\n');
}

const CHANGE_TAG: Record<Change['kind'], string> = {
  regression: 'REGRESSION',
  aborted: 'REGRESSION',
  fixed: 'fixed',
  new: 'new',
  missing: 'missing',
  slower: 'slower',
  faster: 'faster',
  skipped: 'skipped',
};

export function renderComparison(c: Comparison): string {
  const who = (s: Comparison['a']): string => `${s.label}: ${s.release || '?'}${s.kernel && s.kernel !== s.release ? ` (${s.kernel})` : ''}${s.resultsDir ? `, ${s.resultsDir}` : ''}`;
  const out = [who(c.a), who(c.b), '', renderGrid(c.grid), ''];
  if (c.changes.length === 0) out.push(`what changed: nothing (${RULE})`);
  else out.push(`what changed (${RULE}):`, ...c.changes.map((x) => `  ${CHANGE_TAG[x.kind].padEnd(10)}  ${x.scenario}: ${x.message}`));
  out.push(c.regression ? 'verdict: REGRESSION (something passed in A and does not in B)' : 'verdict: no regression');
  return out.join('\n');
}
