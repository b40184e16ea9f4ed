/**
 * The reporters: every rendering of a run's summary, by name, with the file each writes into
 * the results directory and whether it can go to stdout. results-dir.ts writes the files from
 * this list; a command prints the one its flags choose (the table, or JSON under --json), so a
 * new format is one entry here, written and printable the same way.
 */
import { renderMultiReport, renderRunReport } from './html/run-report.js';
import { summaryToJUnit } from './junit.js';
import type { MultiSummary } from '../results/multi-summary.js';
import { renderMultiTable } from './multi-table.js';
import type { Summary } from '../results/summary.js';
import { renderTable } from './table.js';
import { summaryToTap } from './tap.js';

export interface RenderOptions {
  /** ANSI colours (the table on a terminal). */
  color: boolean;
}

export interface Reporter<S> {
  /** Its file in the results directory; none: stdout only. */
  file?: string;
  /**
   * Can be printed on stdout, after what goes there before it (the table: a blank line after
   * the progress lines). TAP, JUnit and HTML are files only.
   */
  stdout?: { before: string };
  /** The file's text, ending in a newline where the format has one. */
  render(s: S, o: RenderOptions): string;
}

function json(s: unknown): string {
  return JSON.stringify(s, null, 2) + '\n';
}

/** One kernel's run (vm-test, selftests). */
export const RUN_REPORTERS = {
  table: { stdout: { before: '\n' }, render: (s, o) => `${renderTable(s, o)}\n` },
  json: { file: 'summary.json', stdout: { before: '' }, render: json },
  tap: { file: 'results.tap', render: summaryToTap },
  junit: { file: 'junit.xml', render: summaryToJUnit },
  html: { file: 'report.html', render: renderRunReport },
} as const satisfies Record<string, Reporter<Summary>>;

/** Several kernels side by side (vm-test --kernels). */
export const MULTI_REPORTERS = {
  json: { file: 'summary.json', stdout: { before: '' }, render: json },
  table: { file: 'comparison.txt', stdout: { before: '\n' }, render: (m) => `${renderMultiTable(m)}\n` },
  html: { file: 'report.html', render: renderMultiReport },
} as const satisfies Record<string, Reporter<MultiSummary>>;

/** What the output options put on stdout: the table unless --json asks for the document. */
export function stdoutReporter(o: { json: boolean }): 'table' | 'json' {
  return o.json ? 'json' : 'table';
}

/** The text a reporter puts on stdout. */
export function stdoutText<S>(reporter: Reporter<S>, s: S, o: RenderOptions): string {
  return `${reporter.stdout?.before ?? ''}${reporter.render(s, o)}`;
}

/** The reporters of `list` that write a file, with it. */
export function fileReporters<S>(list: Record<string, Reporter<S>>): Array<Reporter<S> & { file: string }> {
  return Object.values(list).filter((r): r is Reporter<S> & { file: string } => r.file !== undefined);
}
