/**
 * A settle wait (summary.json `settleSeries`) as charts: the counters the verdict judges, against
 * time since the map's last reference drop, with the baseline, the tolerance band and the
 * moments the map was found freed and the counters settled (or the deadline passed).
 */
import type { CounterSnapshot, SettleSample, SettleSeries } from '../../results/summary.js';
import { domainOf, type ChartMarker, type ChartSeries, type ChartSpec } from './chart.js';

/** Which chart of a wait: the keys side-by-side layouts line charts up by. */
export type PanelKind = 'memcg' | 'optmem' | 'elements';

export interface Panel {
  kind: PanelKind;
  spec: ChartSpec;
}

/** memory.current less the cgroup's user pages: what the memcg-current check judges. */
function kernelPart(c: CounterSnapshot): number {
  return c.memcgCurrent - (c.memcgStat.anon ?? 0) - (c.memcgStat.file ?? 0);
}

const KiB = (n: number): number => Math.round((n / 1024) * 10) / 10;
const ms = (t: number): string => (t < 10_000 ? `${Math.round(t)} ms` : `${(t / 1000).toFixed(1)} s`);

/**
 * A wait that neither settled nor ran to its deadline: the scenario stopped in it (an agent call
 * failed, the scenario's own deadline): the readings end early.
 */
function stoppedEarly(w: SettleSeries): boolean {
  return w.settleMs === null && (w.samples.at(-1)?.t ?? 0) < w.deadlineMs - 2 * w.intervalMs;
}

/** The end of the x axis: the last reading, the settle moment or the deadline, whichever is last. */
function xEnd(w: SettleSeries): number {
  const last = w.samples.at(-1)?.t ?? 0;
  return Math.max(last, w.settleMs ?? 0, w.settleMs === null && !stoppedEarly(w) ? w.deadlineMs : 0, 1);
}

/** Drop at 0; the first reading with every map freed; settled, or the deadline. */
export function waitMarkers(w: SettleSeries): ChartMarker[] {
  const markers: ChartMarker[] = [{ x: 0, label: 'map dropped', kind: 'drop' }];
  const freed = w.samples.find((s) => s.mapsAlive === 0);
  if (freed && freed.t > 0) markers.push({ x: freed.t, label: `freed by ${ms(freed.t)}`, kind: 'freed' });
  if (w.settleMs !== null) markers.push({ x: w.settleMs, label: `settled ${ms(w.settleMs)}`, kind: 'settled' });
  else if (stoppedEarly(w)) markers.push({ x: w.samples.at(-1)?.t ?? 0, label: 'readings stop', kind: 'deadline' });
  else markers.push({ x: w.deadlineMs, label: `deadline ${ms(w.deadlineMs)}`, kind: 'deadline' });
  return markers;
}

function line(name: string, color: string, samples: readonly SettleSample[], value: (s: SettleSample) => number | undefined, unit: string, dashed = false): ChartSeries {
  const points = samples
    .map((s) => ({ s, v: value(s) }))
    .filter((p): p is { s: SettleSample; v: number } => typeof p.v === 'number' && Number.isFinite(p.v))
    .map(({ s, v }) => ({
      x: s.t,
      y: v,
      hollow: s.drained === true,
      title: `${ms(s.t)} after the drop${s.drained ? ', after draining the charge caches' : ''}: ${name} ${v > 0 ? '+' : ''}${v} ${unit}${s.mapsAlive ? ` (${s.mapsAlive} map${s.mapsAlive > 1 ? 's' : ''} not yet freed)` : ''}`,
    }));
  return { name, color, points, dashed };
}

export const COLORS = { judged: '#1d4ed8', kernel: '#7c3aed', slab: '#b45309', optmem: '#0f766e', elements: '#1d4ed8', lingering: '#c62828' };

/** The charts of one wait; `id` prefixes their ids. */
export function waitPanels(w: SettleSeries, id: string): Panel[] {
  const x = { min: 0, max: xEnd(w) * 1.04 };
  const markers = waitMarkers(w);
  const common = { x, markers, xUnit: 'ms after the drop', xFormat: (v: number) => String(Math.round(v)) };
  const b = w.baseline;
  const tol = KiB(w.toleranceBytes);
  const memcg: ChartSeries[] = [
    line('memory.current − user pages', COLORS.judged, w.samples, (s) => KiB(kernelPart(s.counters) - kernelPart(b)), 'KiB'),
    line('memory.stat kernel', COLORS.kernel, w.samples, (s) => KiB(s.counters.memcgStat.kernel - b.memcgStat.kernel), 'KiB', true),
    line('slab_unreclaimable', COLORS.slab, w.samples, (s) => KiB(s.counters.memcgStat.slab_unreclaimable - b.memcgStat.slab_unreclaimable), 'KiB', true),
  ];
  const panels: Panel[] = [
    {
      kind: 'memcg',
      spec: {
        ...common,
        id: `${id}-memcg`,
        title: 'memcg above its baseline',
        yUnit: 'KiB',
        y: domainOf(memcg.flatMap((s) => s.points.map((p) => p.y)), [0, tol]),
        series: memcg,
        band: { from: 0, to: tol, label: `tolerance ${tol} KiB` },
        baseline: { y: 0, label: 'baseline' },
      },
    },
  ];
  if (typeof b.optmemTotal === 'number') {
    const base = b.optmemTotal;
    const optmem = [line('optmem, all sockets', COLORS.optmem, w.samples, (s) => (typeof s.counters.optmemTotal === 'number' ? s.counters.optmemTotal - base : undefined), 'B')];
    panels.push({
      kind: 'optmem',
      spec: { ...common, id: `${id}-optmem`, title: 'socket optmem above its baseline', yUnit: 'bytes, exact', y: domainOf(optmem[0]!.points.map((p) => p.y), [0]), series: optmem, baseline: { y: 0, label: 'baseline (each socket its own)' } },
    });
  }
  if (w.samples.some((s) => typeof s.elements === 'number')) {
    const el = [
      line('elements linked', COLORS.elements, w.samples, (s) => s.elements, ''),
      line('of the freed maps', COLORS.lingering, w.samples, (s) => s.lingeringElements, '', true),
    ];
    panels.push({
      kind: 'elements',
      spec: { ...common, id: `${id}-elements`, title: 'inspector: elements on the owners', yUnit: 'count, must reach 0', yWhole: true, y: domainOf(el.flatMap((s) => s.points.map((p) => p.y)), [0]), series: el, baseline: { y: 0, label: 'none' } },
    });
  }
  return panels;
}

/** One line saying what the wait was: which maps, how many readings, how it ended. */
export function waitHeading(w: SettleSeries, index: number, count: number): string {
  const maps = `map${w.mapIds.length > 1 ? 's' : ''} ${w.mapIds.join(', ')}`;
  const end =
    w.settleMs !== null ? `settled after ${ms(w.settleMs)}`
    : stoppedEarly(w) ? `readings stop ${ms(w.samples.at(-1)?.t ?? 0)} after the drop, before the ${ms(w.deadlineMs)} deadline (the scenario stopped: see its reason)`
    : `not settled by the ${ms(w.deadlineMs)} deadline`;
  return `${count > 1 ? `wait ${index + 1} of ${count}: ` : ''}${maps} dropped, ${end} (${w.samples.length} reading${w.samples.length === 1 ? '' : 's'}, every ${w.intervalMs} ms)`;
}
