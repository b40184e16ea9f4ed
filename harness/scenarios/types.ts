import type { CounterSnapshot, InspectorCounts } from '../report/summary-types.js';
import type { Check, Tolerance } from '../verdict/lingering.js';
import type { GuestOps } from './guest-ops.js';

export type SizeLevel = 'small' | 'default' | 'stress';

export interface ScenarioContext {
  ops: GuestOps;
  ncpus: number;
  pageSize: number;
  tolerance: Tolerance;
  seed: number;
  /** The scenario's own cgroup directory in the guest; the agent has entered it. */
  cgroup: string;
  log: (line: string) => void;
  /** How long counters may take to come back after the last map reference is dropped. */
  settleDeadlineMs: number;
  /**
   * Self-test of the harness: 'hold-map' keeps the map open through the settle wait (closing
   * it only afterwards), which is what a map whose elements never go away looks like from the
   * counters. The checks must fail; the tests prove it.
   */
  fault?: 'hold-map';
}

/** What a scenario measured; the runner adds the verdict, kernel log and timing. */
export interface ScenarioOutcome {
  checks: Check[];
  counters: { before: CounterSnapshot | null; after: CounterSnapshot | null; peak?: CounterSnapshot | null };
  settleMs: number | null;
  rates?: Record<string, number>;
  /** The inspector's counts at the peak and after the maps were freed. */
  inspector?: { peak?: InspectorCounts; after?: InspectorCounts };
  /** Facts worth keeping beside the verdict (sensitivity, per-element charge, ...). */
  notes?: Record<string, number | string>;
}

export interface Scenario<P extends Record<string, number | string | boolean> = Record<string, number | string | boolean>> {
  name: string;
  summary: string;
  params(level: SizeLevel): P;
  /** Upper bound on the scenario's run time under TCG for these params, ms. */
  deadlineMs(params: P): number;
  run(ctx: ScenarioContext, params: P): Promise<ScenarioOutcome>;
}
