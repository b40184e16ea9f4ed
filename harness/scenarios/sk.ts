/**
 * Socket local storage: the case the series review insisted on. Sockets are often long-lived
 * connections; when their map goes away, the elements must go with it, or the memcg and the
 * sockets' optmem stay charged and a re-created map hits the memcg limit.
 */
import { takeReading, toSnapshot, type Reading } from '../counters/collect.js';
import { kib, memcgSensitivity, type Check } from '../verdict/lingering.js';
import { waitForSettle } from './settle.js';
import type { Via } from './guest-ops.js';
import type { Scenario, ScenarioContext, SizeLevel } from './types.js';

const WARMUP_SOCKETS = 64;

/**
 * One-time allocations (BTF, the first map of a kind, per-CPU caches filled on first use)
 * must not count as lingering: run one full cycle before any baseline is taken.
 */
async function warmUp(ctx: ScenarioContext): Promise<void> {
  await ctx.ops.openSockets(WARMUP_SOCKETS);
  const id = await ctx.ops.openMap('user');
  await ctx.ops.createElems();
  await ctx.ops.closeMap();
  await ctx.ops.closeSockets();
  const deadline = Date.now() + 30_000;
  while ((await ctx.ops.mapAlive(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

function createdCheck(name: string, what: string, created: number, wanted: number, extra = ''): Check {
  return {
    name,
    ok: created === wanted,
    message: created === wanted ? `${created} elements created ${what}` : `only ${created} of ${wanted} elements were created ${what}${extra}`,
  };
}

/** Every socket's optmem must have risen: proves the element exists and the measure works. */
function optmemRoseCheck(baseline: readonly number[], peak: readonly number[], what: string): Check {
  const rose = peak.filter((v, i) => v > (baseline[i] ?? 0)).length;
  return {
    name: 'optmem-rose',
    ok: rose === peak.length,
    message: `${rose} of ${peak.length} sockets were charged for an element ${what}`,
  };
}

interface Generation {
  checks: Check[];
  before: Reading;
  peak: Reading;
  after: Reading;
  settleMs: number | null;
  chargedBytes: number;
}

/**
 * One map generation on the sockets the agent holds: elements created from user space, or by
 * the cgroup/setsockopt program on each existing socket (the kernel path for long-lived owners).
 */
async function generation(ctx: ScenarioContext, via: Via, sockets: number, memoryMax?: number): Promise<Generation> {
  const before = await takeReading(ctx.ops, ctx.cgroup, true);
  const optmemBaseline = before.optmem ?? [];
  const mapId = await ctx.ops.openMap(via, via === 'prog' ? ctx.cgroup : undefined);
  // The limit applies while the elements are created, not while the object loads: libbpf
  // parses the kernel's BTF (megabytes, freed right after) and the agent would be OOM-killed.
  if (memoryMax !== undefined) await ctx.ops.write(`${ctx.cgroup}/memory.max`, memoryMax);
  const made = await ctx.ops.createElems();
  if (memoryMax !== undefined) await ctx.ops.write(`${ctx.cgroup}/memory.max`, 'max');
  const what = via === 'user' ? 'from user space' : 'by the cgroup/setsockopt program';
  const createdCheckResult = createdCheck('elements-created', what, made.created, sockets, made.failed ? ` (${made.failed} failed, first errno ${made.firstErrno})` : '');
  // The kernel, not the agent, made them: count what the map really holds.
  const present = via === 'prog' ? (await ctx.ops.countElems()).present : made.created;
  const presentCheck = createdCheck('elements-in-map', `and found in the map ${what}`, present, sockets);
  const peak = await takeReading(ctx.ops, ctx.cgroup, true);
  const closedAt = Date.now();
  if (ctx.fault !== 'hold-map') await ctx.ops.closeMap();
  const settled = await waitForSettle(ctx, { before, optmemBaseline, mapIds: [mapId] }, closedAt);
  if (ctx.fault === 'hold-map') await ctx.ops.closeMap();
  const checks = [createdCheckResult, presentCheck, optmemRoseCheck(optmemBaseline, peak.optmem ?? [], what), ...settled.checks];
  return { checks, before, peak, after: settled.after, settleMs: settled.settleMs, chargedBytes: peak.memcgCurrent - before.memcgCurrent };
}

function sensitivityNote(ctx: ScenarioContext, charged: number, owners: number): Record<string, number | string> {
  const s = memcgSensitivity(charged, owners, ctx.tolerance);
  return {
    chargedPerElement: Math.round(charged / Math.max(owners, 1)),
    memcgSensitivity: Number(s.toFixed(2)),
    memcgTolerance: ctx.tolerance.bytes,
  };
}

export const skMapFreeLiveOwners: Scenario<{ sockets: number }> = {
  name: 'sk-map-free-live-owners',
  summary: 'close the sk storage map while every socket stays open: elements created from user space, then by a cgroup/setsockopt program',
  // One lingering element per socket costs ~400 B of memcg: 4096 sockets exceed the 520 KiB
  // tolerance of a 2-CPU guest 3x, 16384 sockets 12x. optmem is exact at any size.
  params: (level: SizeLevel) => ({ sockets: { small: 4096, default: 16384, stress: 65536 }[level] }),
  deadlineMs: (p) => 180_000 + p.sockets * 20,
  async run(ctx, p) {
    await warmUp(ctx);
    await ctx.ops.openSockets(p.sockets);
    const user = await generation(ctx, 'user', p.sockets);
    ctx.log(`from user space: ${p.sockets} elements, ${kib(user.chargedBytes)} charged, settled in ${user.settleMs ?? 'never'} ms`);
    const prog = await generation(ctx, 'prog', p.sockets);
    ctx.log(`by the program: ${p.sockets} elements, ${kib(prog.chargedBytes)} charged, settled in ${prog.settleMs ?? 'never'} ms`);
    await ctx.ops.closeSockets();
    const tag = (what: string) => (c: Check): Check => ({ ...c, name: `${c.name}[${what}]` });
    return {
      checks: [...user.checks.map(tag('user')), ...prog.checks.map(tag('prog'))],
      counters: { before: toSnapshot(user.before, user.before.optmem), peak: toSnapshot(user.peak, user.before.optmem), after: toSnapshot(user.after, user.before.optmem) },
      settleMs: user.settleMs === null || prog.settleMs === null ? null : Math.max(user.settleMs, prog.settleMs),
      notes: { ...sensitivityNote(ctx, user.chargedBytes, p.sockets), settleMsUser: user.settleMs ?? -1, settleMsProg: prog.settleMs ?? -1 },
    };
  },
};

export const skMapFreeVsCloseRace: Scenario<{ rounds: number; sockets: number; threads: number }> = {
  name: 'sk-map-free-vs-close-race',
  summary: 'drop the last map reference at a seeded random moment while threads close the sockets',
  params: (level: SizeLevel) => ({
    rounds: { small: 10, default: 100, stress: 2000 }[level],
    sockets: { small: 512, default: 1024, stress: 1024 }[level],
    threads: 2,
  }),
  deadlineMs: (p) => 120_000 + p.rounds * p.sockets * 10,
  async run(ctx, p) {
    await warmUp(ctx);
    const before = await takeReading(ctx.ops, ctx.cgroup, false);
    const started = Date.now();
    const race = await ctx.ops.race({ ...p, seed: ctx.seed, via: 'user' }, this.deadlineMs(p));
    const raceDone = Date.now();
    const settled = await waitForSettle(ctx, { before, optmemBaseline: null, mapIds: race.mapIds }, raceDone);
    const wanted = p.rounds * p.sockets;
    const checks: Check[] = [createdCheck('elements-created', 'in the race rounds', race.created, wanted, race.failed ? ` (${race.failed} failed)` : ''), ...settled.checks];
    const seconds = race.elapsedUs / 1e6;
    ctx.log(`${race.rounds} rounds in ${seconds.toFixed(2)} s, settled in ${settled.settleMs ?? 'never'} ms`);
    return {
      checks,
      counters: { before: toSnapshot(before, null), after: toSnapshot(settled.after, null) },
      settleMs: settled.settleMs,
      rates: { raceRoundsPerSec: Number((race.rounds / seconds).toFixed(2)), elementsPerSec: Math.round(race.created / seconds) },
      notes: { dropAfterMin: Math.min(...race.dropAfter), dropAfterMax: Math.max(...race.dropAfter), wallMs: raceDone - started },
    };
  },
};

export const skRecreateUnderMemcgLimit: Scenario<{ sockets: number; generations: number }> = {
  name: 'sk-recreate-under-memcg-limit',
  summary: 'on long-lived sockets, re-create the map generation after generation (user space and program alternating) under a memory.max just above one generation',
  params: (level: SizeLevel) => ({
    sockets: { small: 4096, default: 8192, stress: 16384 }[level],
    generations: { small: 3, default: 6, stress: 40 }[level],
  }),
  deadlineMs: (p) => 120_000 + p.generations * (40_000 + p.sockets * 10),
  async run(ctx, p) {
    await warmUp(ctx);
    await ctx.ops.openSockets(p.sockets);
    // Calibration generation without a limit: how much one generation needs, measured.
    const first = await generation(ctx, 'user', p.sockets);
    const need = Math.max(first.chargedBytes, 0);
    // Just above one generation: the second generation fits only if the first one's elements
    // are gone. The tolerance covers the per-CPU charge caches (see verdict/lingering.ts).
    const limit = first.after.memcgCurrent + Math.ceil(need * 1.25) + ctx.tolerance.bytes;
    ctx.log(`memory.max = ${kib(limit)} while elements are created (one generation needs ${kib(need)})`);
    const checks: Check[] = first.checks.map((c) => ({ ...c, name: `${c.name}[gen 1]` }));
    let last = first;
    let worstSettle = first.settleMs;
    for (let g = 2; g <= p.generations; g++) {
      last = await generation(ctx, g % 2 === 0 ? 'prog' : 'user', p.sockets, limit);
      checks.push(...last.checks.map((c) => ({ ...c, name: `${c.name}[gen ${g}]` })));
      worstSettle = worstSettle === null || last.settleMs === null ? null : Math.max(worstSettle, last.settleMs);
      if (last.checks.some((c) => !c.ok)) break; // later generations would only repeat it
    }
    await ctx.ops.closeSockets();
    return {
      checks,
      counters: { before: toSnapshot(first.before, first.before.optmem), peak: toSnapshot(last.peak, first.before.optmem), after: toSnapshot(last.after, first.before.optmem) },
      settleMs: worstSettle,
      notes: { ...sensitivityNote(ctx, need, p.sockets), memoryMax: limit },
    };
  },
};

export const SK_SCENARIOS = [skMapFreeLiveOwners, skMapFreeVsCloseRace, skRecreateUnderMemcgLimit] as const;
