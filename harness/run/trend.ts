/**
 * `bpf-harness trend DIR...`: trend.html from nightly summaries. Each DIR is a night
 * (results/nightly-<time>/, a summary.json in it and the tree's commit in tree-commit.txt), any
 * results directory or summary.json, or a directory holding nights (results/: its nightly-*
 * directories). Nights are ordered by their start time; bad input is one line naming the fix.
 * The command itself: commands/trend.ts.
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { renderTrend, type Night } from '../report/html/trend.js';
import { loadSummary } from '../report/load-summary.js';
import type { Summary } from '../results/summary.js';
import { SetupError } from '../util/errors.js';
import { runLabel } from '../report/multi-table.js';

export interface TrendOptions {
  dirs: string[];
  out?: string;
  last: number;
}

export const TREND_NIGHTS = { min: 1, max: 10_000, unit: 'nights' };

/** The summary.json files an argument stands for. */
function summaryFiles(arg: string): string[] {
  let st;
  try {
    st = statSync(arg);
  } catch {
    throw new SetupError(`${arg}: no such directory or summary.json; give nightly results directories (results/nightly-<time>) or the directory holding them (results/)`);
  }
  if (!st.isDirectory()) return [arg];
  if (existsSync(join(arg, 'summary.json'))) return [join(arg, 'summary.json')];
  const children = readdirSync(arg).sort().map((n) => join(arg, n)).filter((d) => existsSync(join(d, 'summary.json')));
  const nightly = children.filter((d) => basename(d).startsWith('nightly-'));
  const found = (nightly.length ? nightly : children).map((d) => join(d, 'summary.json'));
  if (found.length === 0) throw new SetupError(`${arg}: holds no summary.json, nor directories with one; give nightly results directories (results/nightly-<time>) or the directory holding them`);
  return found;
}

/** The tree's commit nightly.sh wrote beside the summary ("<hash> <subject>"), when it did. */
function treeCommit(summaryPath: string): string | undefined {
  try {
    const line = readFileSync(join(dirname(summaryPath), 'tree-commit.txt'), 'utf8').split('\n')[0]!.trim();
    return line || undefined;
  } catch {
    return undefined;
  }
}

export function loadNight(path: string): Night {
  const l = loadSummary(path);
  const commit = treeCommit(l.path);
  if (l.kind === 'single') return { path: l.path, startedAt: String(l.summary.startedAt ?? ''), ...(commit ? { commit } : {}), runs: [{ kernel: String(l.summary.kernel?.spec ?? '?'), summary: l.summary }] };
  const runs = l.multi.runs.filter((r) => r.summary !== null).map((r) => ({ kernel: runLabel(r), summary: r.summary as Summary }));
  return { path: l.path, startedAt: String(l.multi.startedAt ?? ''), ...(commit ? { commit } : {}), runs };
}

export function loadNights(dirs: readonly string[], last: number): Night[] {
  const files = [...new Set(dirs.flatMap(summaryFiles).map((f) => resolve(f)))];
  // The same night may be given twice (a night directory and its copy kept beside the nightly
  // state): one start time is one run.
  const byStart = new Map<string, Night>();
  for (const n of files.map(loadNight)) if (n.runs.length > 0 && !byStart.has(n.startedAt)) byStart.set(n.startedAt, n);
  const nights = [...byStart.values()];
  if (nights.length === 0) throw new SetupError(`${dirs.join(' ')}: no night got as far as a summary with a kernel; give nights whose vm-test booted`);
  nights.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return nights.slice(-last);
}

/** Writes trend.html (atomically: a nightly job may be read while it writes) and returns its path. */
export function writeTrend(opts: TrendOptions): { path: string; nights: Night[] } {
  const nights = loadNights(opts.dirs, opts.last);
  const first = opts.dirs[0]!;
  const out = opts.out ?? (statSync(first).isDirectory() ? join(first, 'trend.html') : join(dirname(first), 'trend.html'));
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, renderTrend(nights));
    renameSync(tmp, out);
  } catch (err) {
    throw new SetupError(`${out}: cannot be written (${(err as Error).message}); give --out a writable path`);
  }
  return { path: out, nights };
}
