import type { CounterSnapshot } from '../report/summary-types.js';
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
}

/** What a scenario measured; the runner adds the verdict, kernel log and timing. */
export interface ScenarioOutcome {
  checks: Check[];
  counters: { before: CounterSnapshot | null; after: CounterSnapshot | null; peak?: CounterSnapshot | null };
  settleMs: number | null;
  rates?: Record<string, number>;
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
