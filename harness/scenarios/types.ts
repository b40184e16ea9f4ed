import type { RaceCoverageSummary } from '../results/race-coverage.js';
import type { CounterSnapshot, InspectorCounts, MemcgFigures, SettleSeries } from '../results/summary.js';
import type { Check, Tolerance } from '../results/checks.js';
import type { Family, Fault } from './faults.js';
import type { GuestOps } from '../agent/guest-ops.js';

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
   * Self-test of the harness (faults.ts): the agent leaves behind what a kernel bug would (a
   * map reference, elements); the scenario releases it after its last reading. The checks must
   * fail, by the signals FAULTS names; test/integration/vm-test.test.ts proves it.
   */
  fault?: Fault;
  /** --require-race: a race scenario whose rounds never reached the contended unlink path fails. */
  requireRace?: boolean;
  /** Debug kernels with /proc/allocinfo: read it with the baseline, and after when memcg fails. */
  allocinfo?: boolean;
  /** When given, every settle wait appends its readings here (summary.json `settleSeries`). */
  settleSeries?: SettleSeries[];
  /**
   * When given, the scenario hands its last step (releasing its owners and what a fault kept)
   * here instead of running it: a shell after the scenario (run/shell-stop.ts) finds them alive.
   */
  deferTeardown?: (teardown: () => Promise<void>) => void;
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
  /** Race scenarios: how map free and owner destroy met (counters/race-coverage.ts). */
  raceCoverage?: RaceCoverageSummary;
  /** memcg after a drain of the charge caches, what the drains handed back. */
  memcg?: MemcgFigures;
}

export interface Scenario<P extends Record<string, number | string | boolean> = Record<string, number | string | boolean>> {
  name: string;
  summary: string;
  /** Which faults it injects (faults.ts). */
  family: Family;
  params(level: SizeLevel): P;
  /** Tighter bounds than the agent's own for some parameters of this scenario (what --set may ask). */
  limits?: Readonly<Record<string, number>>;
  /** Upper bound on the scenario's run time under TCG for these params, ms. */
  deadlineMs(params: P): number;
  run(ctx: ScenarioContext, params: P): Promise<ScenarioOutcome>;
}
