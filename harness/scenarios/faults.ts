/**
 * Faults the harness injects into its own runs (`--inject-fault`, hidden): each makes the agent
 * leave behind what a kernel bug would, so the tests can prove every scenario family catches
 * it, and by which signals. The mechanisms are in the agent (bpf/stgmap.c, bpf/race.c);
 * docs/PROTOCOL.md has the verb arguments.
 *
 * A list on purpose: a new fault is one entry here (its families and the signals that must
 * catch it) plus its mechanism.
 */
import { SetupError } from '../util/errors.js';

/** The scenario families, as in storage.ts and multi-map.ts. */
export type Family = 'live-owners' | 'race' | 'recreate' | 'multi-map';

export interface FaultInfo {
  /** The families whose scenarios inject it; elsewhere it does nothing. */
  families: readonly Family[];
  /** What it leaves behind and which signals must catch it (the option's help). */
  help: string;
}

export const FAULTS = {
  'hold-map': {
    families: ['live-owners', 'race', 'recreate', 'multi-map'],
    help: 'hold-map: the agent keeps an extra reference to the map it closes (races: in rounds 0, N, 2N, ..., at most 4 per race call, each with one owner and its element), a leaked map reference; caught by maps-freed and the inspector, on live sockets by optmem, and by memcg where an element on every owner exceeds its tolerance (live owners, recreate; elsewhere memcg may or may not see it)',
  },
  'leave-elem': {
    families: ['live-owners', 'recreate', 'multi-map'],
    help: 'leave-elem: one element per 64 owners stays linked (in a map the agent keeps) after the map is freed, a map free that skips elements; caught by the inspector (storage left attached) and on sockets by optmem; too small for memcg, and maps-freed passes',
  },
  'stale-value': {
    families: ['multi-map'],
    help: "stale-value: in every map made while another is open, one element per 64 owners carries that other map's stamp, what a lookup served from a stale cache slot returns; caught by values alone (nothing lingers)",
  },
} as const satisfies Record<string, FaultInfo>;

export type Fault = keyof typeof FAULTS;

/** leave-elem leaves, and stale-value restamps, one element per this many owners. */
export const FAULT_EVERY_OWNERS = 64;
/**
 * Under hold-map, race rounds 0, N, 2N, ... keep their map and one owner: every other round,
 * and at most 4 per race call (the agent holds at most 16 maps).
 */
export function holdEvery(rounds: number): number {
  return Math.max(2, Math.ceil(rounds / 4));
}

/** A fault for every selected scenario it applies to, or for one scenario by name. */
export interface FaultRequest {
  fault: Fault;
  scenario?: string;
}

function isFault(name: string): name is Fault {
  return Object.hasOwn(FAULTS, name);
}

/** The option's help: every fault with the signals that must catch it, then the run-wide ones. */
export function faultHelp(runFaults: string): string {
  return `self-test, repeatable: FAULT or FAULT:SCENARIO (that scenario only). ${Object.values(FAULTS).map((f) => f.help).join('. ')}. ${runFaults}`;
}

export interface FaultScenario {
  name: string;
  family: Family;
}

/**
 * --inject-fault words to requests, checked against the scenarios: an unknown fault, a scenario
 * that does not exist, a fault its family does not inject, or two faults on one scenario are
 * one line naming the fix (exit 2, before anything boots). `runFaults` are faults of the whole
 * run, not of a scenario (the kernel-log self-tests, run/after-run.ts): at most one.
 */
export function parseFaults<R extends string>(words: readonly string[] | undefined, scenarios: readonly FaultScenario[], runFaults: readonly R[] = []): { scenarios: FaultRequest[]; run?: R } {
  const out: FaultRequest[] = [];
  let run: R | undefined;
  for (const w of words ?? []) {
    const asRun = runFaults.find((f) => f === w);
    if (asRun !== undefined) {
      if (run !== undefined) throw new SetupError(`--inject-fault ${w}: ${run} is given already; one of ${runFaults.join(', ')} per run`);
      run = asRun;
      continue;
    }
    const [name = '', scenario, extra] = w.split(':');
    if (!isFault(name) || extra !== undefined) {
      throw new SetupError(`--inject-fault ${w}: expected FAULT or FAULT:SCENARIO with FAULT one of ${Object.keys(FAULTS).join(', ')}${runFaults.length ? `, or one of ${runFaults.join(', ')}` : ''}`);
    }
    if (scenario !== undefined) {
      const s = scenarios.find((x) => x.name === scenario);
      if (!s) throw new SetupError(`--inject-fault ${w}: ${scenario} is not among the scenarios to run (${scenarios.map((x) => x.name).join(', ')})`);
      if (!(FAULTS[name].families as readonly Family[]).includes(s.family)) {
        throw new SetupError(`--inject-fault ${w}: ${name} is injected only in ${FAULTS[name].families.join(', ')} scenarios; ${scenario} is ${s.family}`);
      }
    }
    if (scenario === undefined && !scenarios.some((s) => (FAULTS[name].families as readonly Family[]).includes(s.family))) {
      throw new SetupError(`--inject-fault ${w}: no scenario to run is of the families it is injected in (${FAULTS[name].families.join(', ')})`);
    }
    out.push({ fault: name, scenario });
  }
  for (const s of scenarios) {
    const named = out.filter((r) => r.scenario === s.name).length;
    const general = out.filter((r) => r.scenario === undefined && (FAULTS[r.fault].families as readonly Family[]).includes(s.family)).length;
    if (named > 1 || (named === 0 && general > 1)) throw new SetupError(`--inject-fault: ${s.name} would get two faults; give one per scenario (FAULT:SCENARIO)`);
  }
  return run === undefined ? { scenarios: out } : { scenarios: out, run };
}

/** The fault one scenario injects: its own FAULT:SCENARIO, else a general one of its family. */
export function faultFor(requests: readonly FaultRequest[] | undefined, s: FaultScenario): Fault | undefined {
  const reqs = requests ?? [];
  const own = reqs.find((r) => r.scenario === s.name);
  if (own) return own.fault;
  return reqs.find((r) => r.scenario === undefined && (FAULTS[r.fault].families as readonly Family[]).includes(s.family))?.fault;
}

/** The command-line words that request the same faults again (the repeat line). */
export function faultArgs(requests: readonly FaultRequest[] | undefined): string[] {
  return (requests ?? []).flatMap((r) => ['--inject-fault', r.scenario ? `${r.fault}:${r.scenario}` : r.fault]);
}
