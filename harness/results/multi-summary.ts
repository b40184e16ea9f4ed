/**
 * The combined summary of `vm-test --kernels`: results/<time>-multi/summary.json. Each kernel's
 * own run directory keeps its full report; this file embeds those summaries too, so one file is
 * enough for `compare` and a nightly job. Add fields, never rename or remove one without bumping
 * `version`.
 */
import type { Summary } from './summary.js';

export interface MultiRun {
  /** The kernel as given on the command line: debian:<series> or a path. */
  kernel: string;
  exitCode: number;
  /** The kernel's own results directory (absent when the run failed before it existed). */
  resultsDir?: string;
  /** The kernel's summary.json as written there; null when the run failed before it existed. */
  summary: Summary | null;
  /** Why this kernel's run ended early, when it did (a setup error, a dead guest, Ctrl-C). */
  error?: string;
}

export interface MultiSummary {
  version: 1;
  kind: 'multi';
  tool: string;
  startedAt: string;
  /** The kernels asked for, in the order they ran. */
  kernels: string[];
  seed: number;
  sizes: string;
  /** Worst of the runs' exit codes: 2 > 1 > 0 (130 when interrupted). */
  exitCode: number;
  /** Set when the whole multi-kernel run was interrupted. */
  aborted?: string;
  runs: MultiRun[];
  repeat: string;
  resultsDir?: string;
}

export function isMultiSummary(x: unknown): x is MultiSummary {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'multi';
}
