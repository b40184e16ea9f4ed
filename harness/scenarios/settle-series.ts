/**
 * The settle loop's readings kept as a time series (summary.json `settleSeries`), so a report
 * can draw the counters coming back after the map's last reference drops. Recording only: what
 * is judged stays in settle.ts and verdict/lingering.ts.
 */
import { toSnapshot, type Reading } from '../counters/collect.js';
import { ownersHolding, type InspectorReading } from '../counters/inspector.js';
import type { SettleSample, SettleSeries } from '../results/summary.js';
import type { ScenarioContext } from './types.js';

/** A new series in the context's list (none when the caller keeps no list). */
export function startSeries(ctx: ScenarioContext, before: Reading, optmemBaseline: readonly number[] | null, mapIds: readonly number[], intervalMs: number, deadlineMs: number): SettleSeries | undefined {
  if (!ctx.settleSeries) return undefined;
  const series: SettleSeries = {
    mapIds: [...mapIds],
    intervalMs,
    deadlineMs,
    baseline: toSnapshot(before, optmemBaseline),
    toleranceBytes: ctx.tolerance.bytes,
    settleMs: null,
    samples: [],
  };
  ctx.settleSeries.push(series);
  return series;
}

/** One poll: every counter, the maps not yet freed, the inspector's element counts. */
export function settleSample(after: Reading, startedAt: number, optmemBaseline: readonly number[] | null, mapIds: readonly number[], mapsAlive: number, inspector?: InspectorReading, drained = false): SettleSample {
  const sample: SettleSample = { t: after.at - startedAt, counters: toSnapshot(after, optmemBaseline), mapsAlive, ...(drained ? { drained } : {}) };
  if (inspector) {
    sample.elements = inspector.owners.reduce((a, o) => a + o.mapIds.length, 0);
    sample.lingeringElements = ownersHolding(inspector, new Set(mapIds)).elements;
  }
  return sample;
}
