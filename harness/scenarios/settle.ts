/**
 * Memory is freed after RCU grace periods and from workqueues, and memory.stat is flushed
 * lazily (about every 2 s), so a single reading right after the map's close means nothing.
 * Poll every ~200 ms until every check passes or the deadline passes; the time it took is
 * the reclaim time reported.
 */
import { takeReading, type Reading } from '../counters/collect.js';
import type { InspectorReading } from '../counters/inspector.js';
import { sleep } from '../util/deadline.js';
import { checkInspector, checkMapsFreed, checkMemcg, checkOptmem, type Check } from '../verdict/lingering.js';
import { inspectOwners, type OwnerKind } from './owners.js';
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
}

export async function waitForSettle(ctx: ScenarioContext, target: SettleTarget, startedAt: number, deadlineMs = ctx.settleDeadlineMs): Promise<Settled> {
  const alive = new Set(target.mapIds);
  for (;;) {
    for (const id of [...alive]) if (!(await ctx.ops.mapAlive(id))) alive.delete(id);
    const after = await takeReading(ctx.ops, ctx.cgroup, target.optmemBaseline !== null);
    const checks: Check[] = [checkMapsFreed([...alive], target.mapIds.length)];
    if (target.optmemBaseline && after.optmem) checks.push(checkOptmem(target.optmemBaseline, after.optmem));
    checks.push(...checkMemcg(target.before, after, ctx.tolerance));
    const inspector = target.inspect ? await inspectOwners(ctx, target.inspect.kind) : undefined;
    if (inspector && target.inspect) checks.push(checkInspector(inspector, target.mapIds, target.inspect.allGone));
    const elapsed = Date.now() - startedAt;
    if (checks.every((c) => c.ok)) return { after, settleMs: elapsed, checks, inspector };
    if (elapsed >= deadlineMs) {
      return { after, settleMs: null, inspector, checks: checks.map((c) => (c.ok ? c : { ...c, message: `${c.message}, still after ${(deadlineMs / 1000).toFixed(0)} s` })) };
    }
    await sleep(SETTLE_INTERVAL_MS);
  }
}
