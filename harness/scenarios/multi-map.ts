/**
 * Several maps of one kind on the same owners. The owner's storage struct is then shared by
 * elements of several maps, and each map has its own slot in the owner's lookup cache: freeing
 * one map must unlink exactly its elements, leave the struct to the others, and leave nothing
 * stale reachable through the owner for the maps created after it (which may reuse the cache
 * slot). This is the one case where a map free leaves the owner's storage alive.
 *
 * Maps differ in how their elements are made (user space, program) and, for threads and
 * cgroups, in their value size (a 1792-byte and a 16-byte value: different element sizes in
 * one storage struct).
 */
import { takeReading, toSnapshot } from '../counters/collect.js';
import { elementsOfMap, inspectorCounts, ownersHolding, type InspectorReading } from '../counters/inspector.js';
import { sleep } from '../util/deadline.js';
import type { Check } from '../results/checks.js';
import type { ValueSize, Via } from '../agent/guest-ops.js';
import { CGRP, inspectOwners, SK, TASK, type OwnerKind } from './owners.js';
import { waitForSettle } from './settle.js';
import { FAULT_EVERY_OWNERS } from './faults.js';
import { closeKept, createdCheck, endScenario, warmUp, type Sized } from './storage.js';
import type { Scenario, ScenarioContext, SizeLevel } from './types.js';

/** splitmix64, as the agent's race uses: a seed gives the same order on every machine. */
function splitmix64(state: { s: bigint }): bigint {
  const M = (1n << 64n) - 1n;
  state.s = (state.s + 0x9e3779b97f4a7c15n) & M;
  let z = state.s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}

/** Fisher-Yates with splitmix64: the order in which the first maps are freed. */
export function seededOrder(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const state = { s: BigInt(seed) };
  for (let i = n - 1; i > 0; i--) {
    const j = Number(splitmix64(state) % BigInt(i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

interface MapFlavour {
  via: Via;
  value: ValueSize;
}

/** The i-th map: user space, program, small value in turn (sockets have no small value). */
function flavour(kind: OwnerKind, i: number): MapFlavour {
  const kinds: MapFlavour[] = kind.name === 'sk'
    ? [{ via: 'user', value: 'big' }, { via: 'prog', value: 'big' }]
    : [{ via: 'user', value: 'big' }, { via: 'prog', value: 'big' }, { via: 'user', value: 'small' }];
  return kinds[i % kinds.length] as MapFlavour;
}

/**
 * Opens a map and puts an element on every owner; the check says whether all are there (a
 * set-up check). Under leave-elem the agent also leaves its stray elements: `stray` is its map.
 */
async function addMap(ctx: ScenarioContext, kind: OwnerKind, f: MapFlavour, owners: number, label: string): Promise<{ id: number; check: Check; stray?: number }> {
  const id = await ctx.ops.openMap(kind.name, f.via, { cgroup: f.via === 'prog' ? kind.progCgroup(ctx) : undefined, value: f.value === 'small' ? 'small' : undefined });
  const made = await ctx.ops.createElems(id, ctx.fault === 'leave-elem' ? { stray: FAULT_EVERY_OWNERS } : ctx.fault === 'stale-value' ? { restamp: FAULT_EVERY_OWNERS } : {});
  const present = (await ctx.ops.countElems(id)).present;
  return { id, check: createdCheck(`elements-created[${label}]`, `for map ${id} (${f.via}, ${f.value} value)`, present, owners), stray: made.strayMapId };
}

/**
 * Each live map has exactly one element on each owner, and no freed map has any. At the peak
 * (nothing freed yet) it is a set-up check and named so: `inspector-peak`.
 */
function checkShared(r: InspectorReading, live: readonly number[], freed: readonly number[], owners: number, label: string): Check {
  const held = ownersHolding(r, new Set(freed));
  const wrong = live.map((id) => ({ id, seen: elementsOfMap(r, id) })).filter((x) => x.seen.elements !== owners || x.seen.owners !== owners);
  const ok = held.elements === 0 && wrong.length === 0;
  let message = `${live.length} live maps hold one element on each of ${owners} ${r.kind} owners; none of the ${freed.length} freed maps has one`;
  if (held.elements > 0) message = `${held.elements} elements of freed maps are still linked on ${held.owners.length} owners (${held.owners.slice(0, 5).join(', ')})`;
  else if (wrong[0]) message = `map ${wrong[0].id} has ${wrong[0].seen.elements} elements on ${wrong[0].seen.owners} owners, want one on each of ${owners}`;
  return { name: freed.length ? `inspector[${label}]` : 'inspector-peak', ok, message };
}

/** After one map's close: wait until the kernel freed it and the inspector agrees. */
async function waitOneGone(ctx: ScenarioContext, kind: OwnerKind, live: readonly number[], freed: readonly number[], owners: number, label: string): Promise<{ check: Check; ms: number }> {
  const started = Date.now();
  const id = freed[freed.length - 1] as number;
  for (;;) {
    const alive = await ctx.ops.mapAlive(id);
    const check = alive
      ? { name: `maps-freed[${label}]`, ok: false, message: `map ${id} still exists` }
      : checkShared(await inspectOwners(ctx, kind), live, freed, owners, label);
    const ms = Date.now() - started;
    if (check.ok || ms >= ctx.settleDeadlineMs) return { check, ms };
    await sleep(200);
  }
}

/**
 * Lookups through every live map find the element on every owner (nothing lost), and each
 * element found is the map's own: every value starts with its map's stamp (the agent's token
 * for the map's object), so a lookup served from a stale owner cache slot, another map's
 * element, shows as a wrong value even where nothing was freed yet and KASAN is off.
 */
async function checkLookups(ctx: ScenarioContext, live: readonly number[], owners: number, label: string): Promise<Check[]> {
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const id of live) {
    const c = await ctx.ops.countElems(id);
    if (c.present !== owners) missing.push(`map ${id}: ${c.present} of ${owners}`);
    if (c.wrong) wrong.push(`map ${id}: ${c.wrongValue} of ${c.present}, e.g. owner #${c.wrong.owner} has stamp ${c.wrong.stamp}, want ${c.wrong.want}`);
  }
  return [
    { name: `lookups[${label}]`, ok: missing.length === 0, message: missing.length ? `lookups miss elements (${missing.join('; ')})` : `lookups through ${live.length} live maps find every owner's element` },
    {
      name: `values[${label}]`,
      ok: wrong.length === 0,
      message: wrong.length ? `lookups returned elements stamped by another map (${wrong.join('; ')})` : `every element found through ${live.length} live maps carries its own map's stamp`,
    },
  ];
}

export interface MultiMapSpec {
  kind: OwnerKind;
  owners: Sized;
  maps: Sized;
}

export function multiMap(spec: MultiMapSpec): Scenario {
  const { kind } = spec;
  return {
    name: `${kind.name}-multi-map`,
    summary: `several ${kind.name} storage maps on the same ${kind.noun}: free them in a seeded order while the owners live, create new maps between the frees, look up and update through them`,
    family: 'multi-map',
    params: (level: SizeLevel) => ({ [kind.paramKey]: spec.owners[level], maps: spec.maps[level] }),
    deadlineMs: (p) => 180_000 + Number(p.maps) * (20_000 + Number(p[kind.paramKey]) * 40),
    async run(ctx, p) {
      const owners = Number(p[kind.paramKey]);
      const nmaps = Number(p.maps);
      await warmUp(ctx, kind);
      await kind.open(ctx, owners);
      const before = await takeReading(ctx.ops, ctx.cgroup, false, { drain: true, allocinfo: ctx.allocinfo });
      const checks: Check[] = [];
      const live: number[] = [];
      const all: number[] = [];
      const kept = new Set<number>();
      for (let i = 0; i < nmaps; i++) {
        const m = await addMap(ctx, kind, flavour(kind, i), owners, `map ${i + 1}`);
        if (m.stray !== undefined) kept.add(m.stray);
        checks.push(m.check);
        live.push(m.id);
        all.push(m.id);
      }
      const peak = await takeReading(ctx.ops, ctx.cgroup, false);
      const peakInspect = await inspectOwners(ctx, kind);
      checks.push(checkShared(peakInspect, live, [], owners, 'peak'));
      const freed: number[] = [];
      const first = [...live];
      let slowest = 0;
      for (const [step, idx] of seededOrder(nmaps, ctx.seed).entries()) {
        const id = first[idx] as number;
        const label = `free ${step + 1}`;
        await ctx.ops.closeMap(id);
        live.splice(live.indexOf(id), 1);
        freed.push(id);
        const gone = await waitOneGone(ctx, kind, live, freed, owners, label);
        slowest = Math.max(slowest, gone.ms);
        checks.push(gone.check, ...(await checkLookups(ctx, live, owners, label)));
        const m = await addMap(ctx, kind, flavour(kind, nmaps + step), owners, `new ${step + 1}`);
        if (m.stray !== undefined) kept.add(m.stray);
        live.push(m.id);
        all.push(m.id);
        checks.push(m.check, ...(await checkLookups(ctx, live, owners, `new ${step + 1}`)));
      }
      ctx.log(`${nmaps} maps freed in seeded order and ${nmaps} created between, on ${owners} ${kind.noun}; slowest free ${slowest} ms`);
      const closedAt = Date.now();
      for (const id of live) await ctx.ops.closeMap(id, { hold: ctx.fault === 'hold-map' });
      const settled = await waitForSettle(ctx, { before, optmemBaseline: null, mapIds: all, inspect: { kind, allGone: true } }, closedAt);
      if (ctx.fault === 'hold-map') for (const id of live) kept.add(id);
      checks.push(...settled.checks);
      await endScenario(ctx, async () => {
        await closeKept(ctx, kept);
        await kind.close(ctx);
      });
      const allIds = new Set(all);
      return {
        checks,
        counters: { before: toSnapshot(before, null), peak: toSnapshot(peak, null), after: toSnapshot(settled.after, null) },
        settleMs: settled.settleMs,
        inspector: { peak: inspectorCounts(peakInspect, new Set()), after: settled.inspector ? inspectorCounts(settled.inspector, allIds) : undefined },
        notes: { maps: all.length, slowestSingleFreeMs: slowest, chargedPerOwner: Math.round((peak.memcgCurrent - before.memcgCurrent) / Math.max(owners, 1)) },
        memcg: settled.memcg,
      };
    },
  };
}

export const MULTI_MAP_SCENARIOS = [
  multiMap({ kind: SK, owners: { small: 1024, default: 4096, stress: 16384 }, maps: { small: 3, default: 4, stress: 12 } }),
  multiMap({ kind: TASK, owners: { small: 128, default: 256, stress: 1024 }, maps: { small: 3, default: 4, stress: 12 } }),
  multiMap({ kind: CGRP, owners: { small: 128, default: 256, stress: 1024 }, maps: { small: 3, default: 4, stress: 12 } }),
] as const;
