/**
 * Memory is freed after RCU grace periods and from workqueues, and memory.stat is flushed
 * lazily (about every 2 s), so a single reading right after the map's close means nothing.
 * Poll every ~200 ms until every check passes or the deadline passes; the time it took is
 * the reclaim time reported.
 */
import { allocinfoGrowth } from '../counters/allocinfo.js';
import { takeReading, type DrainFigure, type Reading } from '../counters/collect.js';
import type { InspectorReading } from '../counters/inspector.js';
import { sleep } from '../util/deadline.js';
import type { MemcgFigures } from '../results/summary.js';
import { describeAllocinfoGrowth } from '../verdict/debug-kernel.js';
import type { Check } from '../results/checks.js';
import { checkInspector, checkMapsFreed, checkMemcg, checkOptmem, memcgFigures } from '../verdict/lingering.js';
import { inspectOwners, type OwnerKind } from './owners.js';
import { settleSample, startSeries } from './settle-series.js';
import type { ScenarioContext } from './types.js';

export const SETTLE_INTERVAL_MS = 200;
export const SETTLE_DEADLINE_MS = 30_000;

export interface SettleTarget {
  before: Reading;
  /** Per-socket optmem every held socket must return to; null when no sockets are held. */
  optmemBaseline: readonly number[] | null;
  mapIds: readonly number[];
  /**
   * The inspector walks these owners: no element of mapIds may stay linked; with allGone
   * (no map of the kind left open) no storage struct may stay attached.
   */
  inspect?: { kind: OwnerKind; allGone: boolean };
}

export interface Settled {
  after: Reading;
  settleMs: number | null;
  checks: Check[];
  inspector?: InspectorReading;
  memcg: MemcgFigures;
}

/**
 * Each poll reads the exact signals first (maps freed, optmem, inspector) on an undrained
 * reading; memcg is read and judged only once they pass (or at the deadline), after a drain of
 * the charge caches. Draining only then keeps frees still under way out of the drain's figure:
 * what the drains of one wait handed back is summed, so a second drain after a poll that failed
 * on rstat lag does not hide the first one's figure.
 */
export async function waitForSettle(ctx: ScenarioContext, target: SettleTarget, startedAt: number, deadlineMs = ctx.settleDeadlineMs): Promise<Settled> {
  const alive = new Set(target.mapIds);
  let handedBack: DrainFigure | undefined;
  const series = startSeries(ctx, target.before, target.optmemBaseline, target.mapIds, SETTLE_INTERVAL_MS, deadlineMs);
  for (;;) {
    for (const id of [...alive]) if (!(await ctx.ops.mapAlive(id))) alive.delete(id);
    const undrained = await takeReading(ctx.ops, ctx.cgroup, target.optmemBaseline !== null);
    const freed: Check[] = [checkMapsFreed([...alive], target.mapIds.length)];
    if (target.optmemBaseline && undrained.optmem) freed.push(checkOptmem(target.optmemBaseline, undrained.optmem));
    const inspector = target.inspect ? await inspectOwners(ctx, target.inspect.kind) : undefined;
    const linked = inspector && target.inspect ? [checkInspector(inspector, target.mapIds, target.inspect.allGone)] : [];
    const exact = [...freed, ...linked];
    series?.samples.push(settleSample(undrained, startedAt, target.optmemBaseline, target.mapIds, alive.size, inspector));
    const last = Date.now() - startedAt >= deadlineMs;
    if (!exact.every((c) => c.ok) && !last) {
      await sleep(SETTLE_INTERVAL_MS);
      continue;
    }
    const after: Reading = { ...(await takeReading(ctx.ops, ctx.cgroup, false, { drain: true })), optmem: undrained.optmem };
    handedBack = addDrains(handedBack, after.drain);
    const checks = [...freed, ...checkMemcg(target.before, after, ctx.tolerance), ...linked];
    const elapsed = Date.now() - startedAt;
    const memcg = memcgFigures(target.before, after, ctx.tolerance, handedBack, undrained);
    series?.samples.push(settleSample(after, startedAt, target.optmemBaseline, target.mapIds, alive.size, inspector, true));
    if (series && checks.every((c) => c.ok)) series.settleMs = elapsed;
    if (checks.every((c) => c.ok)) return { after, settleMs: elapsed, checks, inspector, memcg };
    if (elapsed >= deadlineMs) {
      const still = checks.map((c) => (c.ok ? c : { ...c, message: `${c.message}, still after ${(deadlineMs / 1000).toFixed(0)} s` }));
      return { after, settleMs: null, inspector, memcg, checks: await withAllocSites(ctx, target.before, still, memcg) };
    }
    await sleep(SETTLE_INTERVAL_MS);
  }
}

function addDrains(a: DrainFigure | undefined, b: DrainFigure | undefined): DrainFigure | undefined {
  if (!a || !b) return a ?? b;
  return { current: a.current + b.current, kernel: a.kernel + b.kernel, user: a.user + b.user, drainUs: a.drainUs + b.drainUs };
}

/**
 * Debug kernels: when the charge stays up, the allocation sites whose /proc/allocinfo grew since
 * the baseline go into the figures and into each failed memcg check, so a leak comes with its site.
 */
async function withAllocSites(ctx: ScenarioContext, before: Reading, checks: Check[], memcg: MemcgFigures): Promise<Check[]> {
  if (!ctx.allocinfo || !before.allocinfo || checks.every((c) => c.ok || !c.name.startsWith('memcg'))) return checks;
  const after = await takeReading(ctx.ops, ctx.cgroup, false, { allocinfo: true });
  memcg.allocinfoGrowth = allocinfoGrowth(before.allocinfo, after.allocinfo ?? []);
  const sites = describeAllocinfoGrowth(memcg.allocinfoGrowth);
  return checks.map((c) => (c.ok || !c.name.startsWith('memcg') ? c : { ...c, message: `${c.message}; ${sites}` }));
}
