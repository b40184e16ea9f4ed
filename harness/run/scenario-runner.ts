/**
 * Runs one scenario in its own cgroup with a deadline, scans the kernel log it produced, and
 * turns what it measured into a verdict. A scenario that throws is an 'error', never a pass.
 */
import { AgentCallError } from '../agent/client.js';
import type { ScenarioResult, SettleSeries } from '../results/summary.js';
import type { GuestOps, KmsgRead } from '../agent/guest-ops.js';
import type { Fault } from '../scenarios/faults.js';
import type { Scenario, SizeLevel } from '../scenarios/types.js';
import { withDeadline } from '../util/deadline.js';
import { SetupError } from '../util/errors.js';
import { wholeNumber, type WholeNumberRange } from '../util/whole-number.js';
import type { Tolerance } from '../results/checks.js';
import { caughtBy, verdictOf } from '../verdict/lingering.js';
import { lostMessage, scanKernelLog } from '../verdict/kernel-log.js';
import { raceCoverageNote } from '../verdict/race-coverage.js';

export interface RunnerEnv {
  ops: GuestOps;
  ncpus: number;
  pageSize: number;
  tolerance: Tolerance;
  seed: number;
  level: SizeLevel;
  settleDeadlineMs: number;
  /** The fault this scenario injects (faults.ts faultFor). */
  fault?: Fault;
  /** --require-race (ScenarioContext.requireRace). */
  requireRace?: boolean;
  /** Debug kernel with /proc/allocinfo: scenarios name the sites that grew when memcg fails. */
  allocinfo?: boolean;
  /** --set name=value: replaces the parameter of that name in every scenario that has it. */
  overrides: Record<string, number>;
  log: (line: string) => void;
  /** Hands every kernel log record read from the guest to the run's kernel.log. */
  onKernelLog: (records: string[]) => void;
  /** ScenarioContext.deferTeardown: the owners stay for a shell after the scenario (shell-stop.ts). */
  deferTeardown?: (teardown: () => Promise<void>) => void;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Enough descriptors for the largest socket counts of the stress level. */
const NOFILE = 1 << 20;

function pick(params: Record<string, unknown>, overrides: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(overrides).filter(([k]) => k in params));
}

/**
 * What the agent accepts for each scenario parameter (bpf/race.c, bpf/stgmap.c): threads up to
 * RACE_MAX_THREADS, maps up to MAX_MAPS open at once, rounds and owners as the race verb bounds them.
 */
const PARAM_RANGES: Record<string, WholeNumberRange> = {
  threads: { min: 1, max: 64, unit: 'racing threads' },
  maps: { min: 1, max: 16, unit: 'maps open at once' },
  rounds: { min: 1, max: 1_000_000, unit: 'race rounds' },
  sockets: { min: 1, max: 1 << 20, unit: 'sockets' },
  owners: { min: 1, max: 1 << 20, unit: 'owners' },
  generations: { min: 1, max: 10_000, unit: 'map generations' },
  widenUs: { min: 0, max: 20_000, unit: 'microseconds the map-free gap is held, 0: not held' },
};
const ANY_COUNT: WholeNumberRange = { min: 1, max: 1 << 20, unit: '' };

/** Every --set name must be a parameter of at least one selected scenario, its value in range. */
export function checkOverrides(scenarios: readonly Scenario[], level: SizeLevel, overrides: Record<string, number>): void {
  const known = new Set(scenarios.flatMap((s) => Object.keys(s.params(level))));
  for (const [name, value] of Object.entries(overrides)) {
    if (!known.has(name)) throw new SetupError(`--set ${name}: no selected scenario has that parameter; they have ${[...known].sort().join(', ')}`);
    wholeNumber(`--set ${name}=`, String(value), PARAM_RANGES[name] ?? ANY_COUNT);
    for (const s of scenarios) {
      const max = s.limits?.[name];
      if (max !== undefined && value > max) throw new SetupError(`--set ${name}=${value}: ${s.name} takes at most ${max} ${name}; ask for fewer, or leave ${s.name} out with --scenario`);
    }
  }
}

export async function runScenario(scenario: Scenario, env: RunnerEnv): Promise<ScenarioResult> {
  const params = { ...scenario.params(env.level), ...pick(scenario.params(env.level), env.overrides) };
  const started = Date.now();
  const result: ScenarioResult = {
    name: scenario.name,
    verdict: 'error',
    reason: '',
    params,
    seed: env.seed,
    counters: { before: null, after: null },
    settleMs: null,
    durationMs: 0,
    checks: [],
  };
  const cgroup = `${CGROUP_ROOT}/bpfh-${scenario.name}`;
  const settleSeries: SettleSeries[] = [];
  try {
    await env.ops.mkdir(cgroup);
    await env.ops.enterCgroup(cgroup);
    await env.ops.raiseNofile(NOFILE);
    const deadline = scenario.deadlineMs(params);
    const outcome = await withDeadline(
      scenario.run(
        {
          ops: env.ops, ncpus: env.ncpus, pageSize: env.pageSize, tolerance: env.tolerance, seed: env.seed, cgroup,
          settleDeadlineMs: env.settleDeadlineMs, fault: env.fault, requireRace: env.requireRace, allocinfo: env.allocinfo, log: (l) => env.log(`  ${l}`), settleSeries,
          deferTeardown: env.deferTeardown,
        },
        params,
      ),
      deadline,
      `scenario ${scenario.name}`,
    );
    Object.assign(result, { checks: outcome.checks, counters: outcome.counters, settleMs: outcome.settleMs });
    if (outcome.rates) result.rates = outcome.rates;
    if (outcome.notes) result.notes = outcome.notes;
    if (outcome.inspector) result.inspector = outcome.inspector;
    if (outcome.raceCoverage) result.raceCoverage = outcome.raceCoverage;
    if (outcome.memcg) result.memcg = outcome.memcg;
    const v = verdictOf(outcome.checks);
    result.verdict = v.verdict;
    result.reason = v.reason ?? summarisePass(outcome.checks.length, outcome.settleMs);
    if (v.verdict === 'pass' && outcome.raceCoverage) result.reason += `; ${raceCoverageNote(outcome.raceCoverage)}`;
  } catch (err) {
    result.verdict = 'error';
    result.reason = err instanceof AgentCallError || err instanceof Error ? err.message : String(err);
  }
  // Kept for errors too: the readings up to the failure are what a user wants to look at.
  if (settleSeries.length) result.settleSeries = settleSeries;
  await scanScenarioKernelLog(env.ops, env.onKernelLog, result);
  setCaughtBy(result);
  result.durationMs = Date.now() - started;
  return result;
}

function summarisePass(checks: number, settleMs: number | null): string {
  return `all ${checks} checks passed; counters back ${settleMs ?? '?'} ms after the last map reference was dropped`;
}

/**
 * Any kernel report during the scenario fails it, quoted. A log that cannot be read, or that
 * lost records before the harness read them, cannot show the scenario was clean: ERROR with the
 * reason (a FAIL stays a FAIL, with the reason added).
 */
export async function scanScenarioKernelLog(source: Pick<GuestOps, 'kmsg'>, onKernelLog: (records: string[]) => void, result: ScenarioResult): Promise<void> {
  let read: KmsgRead;
  try {
    read = await source.kmsg();
  } catch (err) {
    markUnjudged(result, 'kernel-log-read', `the kernel log could not be read after the scenario: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  onKernelLog(read.lines);
  const findings = scanKernelLog(read.lines);
  if (findings.length > 0) {
    // Added to: a later read (the held teardown's, the one before a shell) keeps what the scenario's own found.
    result.kernelLog = [...(result.kernelLog ?? []), ...findings.flatMap((f) => [f.line, ...f.context.slice(0, 12)])];
    const kinds = [...new Set(findings.map((f) => f.kind))].join(', ');
    const first = findings[0]?.line ?? '';
    if (result.verdict !== 'error') result.verdict = 'fail';
    result.checks.push({ name: 'kernel-log', ok: false, message: `the kernel reported ${kinds}: ${first}` });
    result.reason = result.reason && !result.reason.startsWith('all ') ? `${result.reason}; kernel log: ${first}` : `kernel log: ${first}`;
  }
  if (read.lost > 0) markUnjudged(result, 'kernel-log-lost', lostMessage(read.lost, 'the scenario'));
}

/** Checks that say the kernel log could not be judged: no signal saw a fault there. */
export const UNJUDGED_CHECKS = new Set(['kernel-log-read', 'kernel-log-lost']);

/**
 * A failed scenario's caughtBy, from its checks as they stand: called again when a later read
 * (the held teardown's, shell-stop.ts) adds a check. A failed teardown is no detection either.
 */
export function setCaughtBy(result: ScenarioResult): void {
  if (result.verdict === 'fail') result.caughtBy = caughtBy(result.checks.filter((c) => !UNJUDGED_CHECKS.has(c.name) && c.name !== TEARDOWN_CHECK));
}

/** The check a held teardown that failed adds (shell-stop.ts). */
export const TEARDOWN_CHECK = 'teardown';

/** A check that could not be made: ERROR unless the scenario already failed on its own. */
export function markUnjudged(result: ScenarioResult, check: string, message: string): void {
  result.checks.push({ name: check, ok: false, message });
  const passed = result.verdict === 'pass';
  if (result.verdict !== 'fail') result.verdict = 'error';
  result.reason = result.reason && !passed ? `${result.reason}; ${message}` : message;
}
