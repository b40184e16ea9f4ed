/**
 * The three scenarios every owner kind gets (sockets, threads, cgroups): map freed while the
 * owners live, map freed while the owners are destroyed, map re-created under a memcg limit.
 * What differs between kinds is in owners.ts; the sizes are given per kind by the caller.
 */
import { takeReading, toSnapshot, type Reading } from '../counters/collect.js';
import { inspectorCounts } from '../counters/inspector.js';
import type { RaceCoverageReply } from '../agent/race-coverage.js';
import { summarizeRaceCoverage } from '../counters/race-coverage.js';
import type { RaceCoverageSummary } from '../results/race-coverage.js';
import type { InspectorCounts, MemcgFigures } from '../results/summary.js';
import type { Check } from '../results/checks.js';
import { checkInspectorPeak, kib, memcgSensitivity, worstMemcg } from '../verdict/lingering.js';
import { FAULT_EVERY_OWNERS, holdEvery } from './faults.js';
import { raceCoverageChecks, tracerDetachedCheck } from '../verdict/race-coverage.js';
import type { RaceCovLoad, RaceResult, Via } from '../agent/guest-ops.js';
import { inspectOwners, type OwnerKind } from './owners.js';
import { DEFAULT_WIDEN_US, raceSteering } from './race-policy.js';
import { waitForSettle } from './settle.js';
import type { Scenario, ScenarioContext, SizeLevel } from './types.js';

/** A progress line's settle time: "settled in N ms", or that the counters never came back. */
function settledText(ms: number | null | undefined): string {
  return ms === undefined || ms === null ? 'never settled' : `settled in ${ms} ms`;
}

const WARMUP_OWNERS = 64;

export type Sized = Record<SizeLevel, number>;

/**
 * One-time allocations (BTF, the first map of a kind, per-CPU caches filled on first use, the
 * inspector object) must not count as lingering: run one full cycle before any baseline.
 */
export async function warmUp(ctx: ScenarioContext, kind: OwnerKind): Promise<void> {
  await kind.open(ctx, WARMUP_OWNERS);
  const ids: number[] = [];
  for (const via of ['user', 'prog'] as const) {
    const id = await ctx.ops.openMap(kind.name, via, { cgroup: via === 'prog' ? kind.progCgroup(ctx) : undefined });
    ids.push(id);
    await ctx.ops.createElems(id);
    await inspectOwners(ctx, kind);
    await ctx.ops.closeMap(id);
  }
  await kind.close(ctx);
  const deadline = Date.now() + 30_000;
  for (const id of ids) {
    while ((await ctx.ops.mapAlive(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
}

export function createdCheck(name: string, what: string, created: number, wanted: number, extra = ''): Check {
  return {
    name,
    ok: created === wanted,
    message: created === wanted ? `${created} elements created ${what}` : `only ${created} of ${wanted} elements were created ${what}${extra}`,
  };
}

/** Every socket's optmem must have risen: proves the element exists and the measure works. */
function optmemRoseCheck(baseline: readonly number[], peak: readonly number[], what: string): Check {
  const rose = peak.filter((v, i) => v > (baseline[i] ?? 0)).length;
  return { name: 'optmem-rose', ok: rose === peak.length, message: `${rose} of ${peak.length} sockets were charged for an element ${what}` };
}

export interface Generation {
  mapId: number;
  checks: Check[];
  before: Reading;
  peak: Reading;
  after: Reading;
  settleMs: number | null;
  chargedBytes: number;
  elementsPerSec: number;
  inspector: { peak: InspectorCounts; after?: InspectorCounts };
  memcg: MemcgFigures;
  /** Maps a fault left open (leave-elem's stray map): closeKept() after the last reading. */
  kept: number[];
}

/** Closes what an injected fault kept (maps by id), once the scenario has judged. */
export async function closeKept(ctx: ScenarioContext, ids: Iterable<number>): Promise<void> {
  for (const id of new Set(ids)) await ctx.ops.closeMap(id);
}

/** The scenario's last step (owners released, kept maps closed), or handed to ctx.deferTeardown. */
export async function endScenario(ctx: ScenarioContext, teardown: () => Promise<void>): Promise<void> {
  if (ctx.deferTeardown) ctx.deferTeardown(teardown);
  else await teardown();
}

/** memory.events `max`: how often the cgroup's usage hit memory.max. */
async function maxEvents(ctx: ScenarioContext): Promise<number> {
  const m = /^max (\d+)$/m.exec(await ctx.ops.read(`${ctx.cgroup}/memory.events`));
  return m ? Number(m[1]) : 0;
}

/**
 * Elements that did not fit under memory.max are the limit's finding (the previous
 * generation's memory is still charged): a 'memcg-limit' check, a detection. Elements missing
 * with the limit never hit are a set-up failure like any other ('elements-created').
 */
export function limitCheck(name: string, what: string, created: number, owners: number, limit: { hits: number; bytes?: number }, extra = ''): Check {
  if (created === owners || limit.hits === 0 || limit.bytes === undefined) return createdCheck(name, what, created, owners, extra);
  return { name: 'memcg-limit', ok: false, message: `only ${created} of ${owners} elements fit under memory.max = ${kib(limit.bytes)} ${what} (the limit was hit ${limit.hits} times): memory of an earlier generation is still charged` };
}

/**
 * One map generation on the owners the agent holds: elements created from user space, or by a
 * program on each existing owner (the kernel path for long-lived owners), then the map closed
 * and everything watched until it is back.
 */
export async function generation(ctx: ScenarioContext, kind: OwnerKind, via: Via, owners: number, memoryMax?: number): Promise<Generation> {
  const before = await takeReading(ctx.ops, ctx.cgroup, kind.exactOptmem, { drain: true, allocinfo: ctx.allocinfo });
  const optmemBaseline = kind.exactOptmem ? before.optmem ?? [] : null;
  const mapId = await ctx.ops.openMap(kind.name, via, { cgroup: via === 'prog' ? kind.progCgroup(ctx) : undefined });
  // The limit applies while the elements are created, not while the object loads: libbpf
  // parses the kernel's BTF (megabytes, freed right after) and the agent would be OOM-killed.
  const hitsBefore = memoryMax !== undefined ? await maxEvents(ctx) : 0;
  if (memoryMax !== undefined) await ctx.ops.write(`${ctx.cgroup}/memory.max`, memoryMax);
  const t0 = Date.now();
  const made = await ctx.ops.createElems(mapId, ctx.fault === 'leave-elem' ? { stray: FAULT_EVERY_OWNERS } : {});
  const createMs = Date.now() - t0;
  if (memoryMax !== undefined) await ctx.ops.write(`${ctx.cgroup}/memory.max`, 'max');
  const hits = memoryMax !== undefined ? (await maxEvents(ctx)) - hitsBefore : 0;
  const what = via === 'user' ? 'from user space' : kind.progWhat;
  const limit = { hits, bytes: memoryMax };
  const checks = [limitCheck('elements-created', what, made.created, owners, limit, made.failed ? ` (${made.failed} failed, first errno ${made.firstErrno})` : '')];
  // The kernel, not the agent, made them: count what the map really holds.
  const present = via === 'prog' ? (await ctx.ops.countElems(mapId)).present : made.created;
  checks.push(limitCheck('elements-in-map', `and found in the map ${what}`, present, owners, limit));
  const peak = await takeReading(ctx.ops, ctx.cgroup, kind.exactOptmem);
  const peakInspect = await inspectOwners(ctx, kind);
  checks.push(checkInspectorPeak(peakInspect, mapId, owners));
  if (optmemBaseline) checks.push(optmemRoseCheck(optmemBaseline, peak.optmem ?? [], what));
  const closedAt = Date.now();
  await ctx.ops.closeMap(mapId, { hold: ctx.fault === 'hold-map' });
  const settled = await waitForSettle(ctx, { before, optmemBaseline, mapIds: [mapId], inspect: { kind, allGone: true } }, closedAt);
  if (ctx.fault === 'hold-map') await ctx.ops.closeMap(mapId);
  checks.push(...settled.checks);
  const freed = new Set([mapId]);
  return {
    mapId,
    checks,
    before,
    peak,
    after: settled.after,
    settleMs: settled.settleMs,
    chargedBytes: peak.memcgCurrent - before.memcgCurrent,
    elementsPerSec: Math.round(made.created / Math.max(createMs / 1000, 0.001)),
    inspector: { peak: inspectorCounts(peakInspect, new Set()), after: settled.inspector ? inspectorCounts(settled.inspector, freed) : undefined },
    kept: made.strayMapId !== undefined ? [made.strayMapId] : [],
    memcg: settled.memcg,
  };
}

export function sensitivityNote(ctx: ScenarioContext, charged: number, owners: number): Record<string, number> {
  const s = memcgSensitivity(charged, owners, ctx.tolerance);
  return { chargedPerElement: Math.round(charged / Math.max(owners, 1)), memcgSensitivity: Number(s.toFixed(2)), memcgTolerance: ctx.tolerance.bytes };
}

function tagged(what: string): (c: Check) => Check {
  return (c) => ({ ...c, name: `${c.name}[${what}]` });
}

function worst(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/** The exact optmem comparison only exists for sockets. */
function snapshots(kind: OwnerKind, before: Reading, peak: Reading | null, after: Reading) {
  const base = kind.exactOptmem ? before.optmem : null;
  return { before: toSnapshot(before, base), peak: peak ? toSnapshot(peak, base) : null, after: toSnapshot(after, base) };
}

export interface LiveOwnersSpec {
  kind: OwnerKind;
  name: string;
  summary: string;
  owners: Sized;
}

export function mapFreeLiveOwners(spec: LiveOwnersSpec): Scenario {
  const { kind } = spec;
  return {
    name: spec.name,
    summary: spec.summary,
    family: 'live-owners',
    params: (level: SizeLevel) => ({ [kind.paramKey]: spec.owners[level] }),
    deadlineMs: (p) => 180_000 + Number(p[kind.paramKey]) * 30,
    async run(ctx, p) {
      const owners = Number(p[kind.paramKey]);
      await warmUp(ctx, kind);
      await kind.open(ctx, owners);
      const user = await generation(ctx, kind, 'user', owners);
      ctx.log(`from user space: ${owners} elements, ${kib(user.chargedBytes)} charged, ${settledText(user.settleMs)}`);
      const prog = await generation(ctx, kind, 'prog', owners);
      ctx.log(`${kind.progWhat}: ${owners} elements, ${kib(prog.chargedBytes)} charged, ${settledText(prog.settleMs)}`);
      await endScenario(ctx, async () => {
        await closeKept(ctx, [...user.kept, ...prog.kept]);
        await kind.close(ctx);
      });
      return {
        checks: [...user.checks.map(tagged('user')), ...prog.checks.map(tagged('prog'))],
        counters: snapshots(kind, user.before, user.peak, user.after),
        settleMs: worst(user.settleMs, prog.settleMs),
        rates: { elementsPerSecUser: user.elementsPerSec, elementsPerSecProg: prog.elementsPerSec },
        inspector: { peak: user.inspector.peak, after: prog.inspector.after ?? user.inspector.after },
        notes: { ...sensitivityNote(ctx, user.chargedBytes, owners), settleMsUser: user.settleMs ?? -1, settleMsProg: prog.settleMs ?? -1 },
        memcg: worstMemcg([user.memcg, prog.memcg]),
      };
    },
  };
}

export interface RaceSpec {
  kind: OwnerKind;
  name: string;
  summary: string;
  rounds: Sized;
  owners: Sized;
  /** Which creation paths the rounds use: half from user space, half by the program on new owners. */
  vias: readonly Via[];
  /** The most owners a round may have, when the steering bounds it. */
  ownersMax?: number;
}

export function mapFreeVsRelease(spec: RaceSpec): Scenario {
  const { kind } = spec;
  return {
    name: spec.name,
    summary: spec.summary,
    family: 'race',
    ...(spec.ownersMax ? { limits: { [kind.paramKey]: spec.ownersMax } } : {}),
    params: (level: SizeLevel) => ({ rounds: spec.rounds[level], [kind.paramKey]: spec.owners[level], threads: 2, widenUs: DEFAULT_WIDEN_US }),
    deadlineMs: (p) => 120_000 + Number(p.rounds) * Number(p[kind.paramKey]) * 15,
    async run(ctx, p) {
      await warmUp(ctx, kind);
      // Loaded before the baseline: the tracer's maps are charged here, once per boot.
      const tracer = await ctx.ops.racecov();
      const before = await takeReading(ctx.ops, ctx.cgroup, false, { drain: true, allocinfo: ctx.allocinfo });
      const owners = Number(p[kind.paramKey]);
      const perVia = Math.max(1, Math.floor(Number(p.rounds) / spec.vias.length));
      const started = Date.now();
      const races: RaceResult[] = [];
      for (const via of spec.vias) {
        races.push(await ctx.ops.race({
          kind: kind.name, rounds: perVia, owners, threads: Number(p.threads), seed: ctx.seed + races.length, via,
          cgroup: via === 'prog' ? kind.progCgroup(ctx) ?? kind.raceCgroup(ctx) : kind.raceCgroup(ctx),
          ...(tracer.applicable ? raceSteering(kind.name, via, Number(p.widenUs), ctx.ncpus) : {}),
          hold: ctx.fault === 'hold-map' ? holdEvery(perVia) : undefined,
        }, this.deadlineMs(p)));
      }
      const raceDone = Date.now();
      // The agent detaches the tracer when each race verb ends: the kernel's link list shows it.
      const untraced = tracer.applicable ? await ctx.ops.racecov() : undefined;
      const tracerCheck = untraced?.applicable ? [tracerDetachedCheck(Math.max(...races.map((r) => r.tracerLinks ?? 0)), untraced.links)] : [];
      const mapIds = races.flatMap((r) => r.mapIds);
      const settled = await waitForSettle(ctx, { before, optmemBaseline: null, mapIds, inspect: { kind, allGone: true } }, raceDone);
      // hold-map: the kept maps, and the owners kept with them (the agent's own sets)
      await endScenario(ctx, async () => {
        await closeKept(ctx, races.flatMap((r) => r.heldMapIds));
        if (ctx.fault === 'hold-map') await kind.close(ctx);
      });
      const created = races.reduce((a, r) => a + r.created, 0);
      const failed = races.reduce((a, r) => a + r.failed, 0);
      const rounds = races.reduce((a, r) => a + r.rounds, 0);
      const seconds = races.reduce((a, r) => a + r.elapsedUs, 0) / 1e6;
      const raceCoverage: RaceCoverageSummary = tracer.applicable
        ? summarizeRaceCoverage(races.map((r) => r.coverage).filter((c): c is RaceCoverageReply => c !== undefined))
        : { applicable: false, reason: tracer.reason };
      const checks: Check[] = [createdCheck('elements-created', 'in the race rounds', created, rounds * owners, failed ? ` (${failed} failed)` : ''), ...settled.checks, ...raceCoverageChecks(raceCoverage, ctx.requireRace === true), ...tracerCheck];
      ctx.log(`${rounds} rounds (${kind.noun} ${kind.release} while the map goes) in ${seconds.toFixed(2)} s, ${settledText(settled.settleMs)}`);
      const dropAfter = races.flatMap((r) => r.dropAfter);
      return {
        checks,
        counters: { before: toSnapshot(before, null), after: toSnapshot(settled.after, null) },
        settleMs: settled.settleMs,
        rates: { raceRoundsPerSec: Number((rounds / seconds).toFixed(2)), elementsPerSec: Math.round(created / seconds) },
        inspector: settled.inspector ? { after: inspectorCounts(settled.inspector, new Set(mapIds)) } : undefined,
        notes: { dropAfterMin: Math.min(...dropAfter), dropAfterMax: Math.max(...dropAfter), wallMs: raceDone - started, vias: spec.vias.join(','), ...tracerNotes(races, untraced) },
        raceCoverage,
        memcg: settled.memcg,
      };
    },
  };
}

/** The tracer's links while the races ran and after, and its misses so far (README "Race coverage"). */
function tracerNotes(races: readonly RaceResult[], untraced: RaceCovLoad | undefined): Record<string, number> {
  if (!untraced?.applicable) return {};
  return { tracerLinksDuring: Math.max(...races.map((r) => r.tracerLinks ?? 0)), tracerLinksAfter: untraced.links, tracerMissesAfter: untraced.misses };
}

export interface RecreateSpec {
  kind: OwnerKind;
  name: string;
  summary: string;
  owners: Sized;
  generations: Sized;
}

export function recreateUnderMemcgLimit(spec: RecreateSpec): Scenario {
  const { kind } = spec;
  return {
    name: spec.name,
    summary: spec.summary,
    family: 'recreate',
    params: (level: SizeLevel) => ({ [kind.paramKey]: spec.owners[level], generations: spec.generations[level] }),
    deadlineMs: (p) => 120_000 + Number(p.generations) * (40_000 + Number(p[kind.paramKey]) * 10),
    async run(ctx, p) {
      const owners = Number(p[kind.paramKey]);
      await warmUp(ctx, kind);
      await kind.open(ctx, owners);
      // Calibration generation without a limit: how much one generation needs, measured.
      const first = await generation(ctx, kind, 'user', owners);
      const need = Math.max(first.chargedBytes, 0);
      // Just above one generation: the next fits only if the previous one's elements are
      // gone. The tolerance covers the per-CPU charge caches (see verdict/lingering.ts).
      const limit = first.after.memcgCurrent + Math.ceil(need * 1.25) + ctx.tolerance.bytes;
      ctx.log(`memory.max = ${kib(limit)} while elements are created (one generation needs ${kib(need)})`);
      const checks: Check[] = first.checks.map(tagged('gen 1'));
      let last = first;
      let worstSettle = first.settleMs;
      const kept = [...first.kept];
      const memcgs = [first.memcg];
      // a first generation that lingers would only be repeated (and blur the next baseline)
      const generations = first.checks.some((c) => !c.ok) ? 1 : Number(p.generations);
      for (let g = 2; g <= generations; g++) {
        last = await generation(ctx, kind, g % 2 === 0 ? 'prog' : 'user', owners, limit);
        checks.push(...last.checks.map(tagged(`gen ${g}`)));
        kept.push(...last.kept);
        worstSettle = worst(worstSettle, last.settleMs);
        memcgs.push(last.memcg);
        if (last.checks.some((c) => !c.ok)) break; // later generations would only repeat it
      }
      await endScenario(ctx, async () => {
        await closeKept(ctx, kept);
        await kind.close(ctx);
      });
      return {
        checks,
        counters: snapshots(kind, first.before, last.peak, last.after),
        settleMs: worstSettle,
        inspector: { peak: last.inspector.peak, after: last.inspector.after },
        notes: { ...sensitivityNote(ctx, need, owners), memoryMax: limit },
        memcg: worstMemcg(memcgs),
      };
    },
  };
}

