/**
 * Line charts as inline SVG, drawn when the page is written: the page needs no script and no
 * library, prints as it shows, and each data point is an element (with a <title> tooltip) that
 * the browser test can count. Small on purpose: linear axes, lines with points, a shaded band,
 * a baseline and vertical markers.
 */
import { esc } from './page.js';

export interface Domain {
  min: number;
  max: number;
}

export interface ChartPoint {
  x: number;
  y: number;
  /** The tooltip: what the point is, in words and units. */
  title: string;
  /** A verdict-coloured point instead of the series' colour (trend charts). */
  verdict?: string;
  /** Circled: a regression the compare rules found at this point. */
  ring?: boolean;
  /** Drawn at the top edge with "never" beside it: a value that does not exist (never settled). */
  never?: boolean;
  /** An open circle: a reading of another kind (memcg after a drain of the charge caches). */
  hollow?: boolean;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
  /** A dashed line (a counter that is shown, not judged). */
  dashed?: boolean;
}

export type MarkerKind = 'drop' | 'freed' | 'settled' | 'deadline' | 'change';

export interface ChartMarker {
  x: number;
  label: string;
  kind: MarkerKind;
}

export interface ChartSpec {
  /** Unique in the page; the browser test finds the chart by it. */
  id: string;
  title: string;
  /** The y axis' unit, printed above it. */
  yUnit: string;
  x: Domain;
  y: Domain;
  series: ChartSeries[];
  /** x tick labels; default: numeric ticks formatted by xFormat. */
  xTicks?: Array<{ x: number; label: string; sub?: string }>;
  xFormat?: (x: number) => string;
  xUnit?: string;
  band?: { from: number; to: number; label: string };
  baseline?: { y: number; label: string };
  markers?: ChartMarker[];
  /** Counts: whole-number ticks only. */
  yWhole?: boolean;
  width?: number;
  height?: number;
}

const MARGIN = { left: 52, right: 14, top: 34, bottom: 36 };
/** Marker labels sit in rows above the plot, this far apart. */
const LABEL_ROW = 11;
const CHAR_W = 6;

/** 1, 2 or 5 times a power of ten: the step giving closest to `count` ticks over the domain (whole steps when `whole`). */
export function niceTicks(d: Domain, count = 5, whole = false): number[] {
  const span = d.max - d.min;
  if (!(span > 0) || !Number.isFinite(span)) return [d.min];
  const pow = 10 ** Math.floor(Math.log10(span / count));
  const steps = [1, 2, 5, 10].map((m) => m * pow).filter((s) => !whole || (s >= 1 && Number.isInteger(s)));
  const step = (steps.length ? steps : [1]).reduce((a, b) => (Math.abs(span / b - count) < Math.abs(span / a - count) ? b : a));
  const out: number[] = [];
  for (let v = Math.ceil(d.min / step) * step; v <= d.max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * The domain holding every value (and `include`), with a margin above; below only when values
 * go negative (counts and settle times start at 0). Never empty.
 */
export function domainOf(values: readonly number[], include: readonly number[] = [], pad = 0.08): Domain {
  const all = [...values, ...include].filter(Number.isFinite);
  if (all.length === 0) return { min: 0, max: 1 };
  const min = Math.min(...all);
  let max = Math.max(...all);
  if (min === max) max = min + (Math.abs(min) > 0 ? Math.abs(min) * 0.2 : 1);
  const p = (max - min) * pad;
  return { min: min < 0 ? min - p : min, max: max + p };
}

export function unionDomain(a: Domain, b: Domain): Domain {
  return { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(a < 1 ? 2 : 1);
}

const r1 = (n: number): string => (Math.round(n * 10) / 10).toString();

export function renderChart(spec: ChartSpec): string {
  const W = spec.width ?? 400;
  const H = spec.height ?? 210;
  const pw = W - MARGIN.left - MARGIN.right;
  const ph = H - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + ((x - spec.x.min) / (spec.x.max - spec.x.min || 1)) * pw;
  const sy = (y: number): number => MARGIN.top + ph - ((y - spec.y.min) / (spec.y.max - spec.y.min || 1)) * ph;
  const clampY = (y: number): number => Math.max(MARGIN.top, Math.min(MARGIN.top + ph, sy(y)));
  const parts: string[] = [];
  const clip = `clip-${spec.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  parts.push(`<defs><clipPath id="${esc(clip)}"><rect x="${MARGIN.left}" y="${MARGIN.top - 4}" width="${pw}" height="${ph + 8}"/></clipPath></defs>`);

  // Grid and y axis.
  for (const t of niceTicks(spec.y, 4, spec.yWhole)) {
    const y = r1(sy(t));
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(fmtTick(t))}</text>`);
  }
  parts.push(`<line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + ph}"/>`);
  parts.push(`<line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${MARGIN.top + ph}" y2="${MARGIN.top + ph}"/>`);

  // x axis.
  const xTicks = spec.xTicks ?? niceTicks(spec.x, 5).map((x) => ({ x, label: (spec.xFormat ?? fmtTick)(x), sub: undefined }));
  const every = Math.max(1, Math.ceil(xTicks.length / Math.max(1, Math.floor(pw / 64))));
  xTicks.forEach((t, i) => {
    if (t.x < spec.x.min || t.x > spec.x.max) return;
    const x = r1(sx(t.x));
    parts.push(`<line class="axis" x1="${x}" x2="${x}" y1="${MARGIN.top + ph}" y2="${MARGIN.top + ph + 4}"/>`);
    if (i % every !== 0) return;
    parts.push(`<text x="${x}" y="${MARGIN.top + ph + 15}" text-anchor="middle">${esc(t.label)}</text>`);
    if (t.sub) parts.push(`<text class="mono" x="${x}" y="${MARGIN.top + ph + 27}" text-anchor="middle">${esc(t.sub)}</text>`);
  });
  if (spec.xUnit) parts.push(`<text x="${MARGIN.left + pw}" y="${MARGIN.top + ph + 30}" text-anchor="end">${esc(spec.xUnit)}</text>`);

  // Band and baseline under the data.
  if (spec.band) {
    const top = clampY(spec.band.to);
    const bottom = clampY(spec.band.from);
    parts.push(`<rect class="band" x="${MARGIN.left}" y="${r1(top)}" width="${pw}" height="${r1(Math.max(0, bottom - top))}"><title>${esc(spec.band.label)}</title></rect>`);
  }
  if (spec.baseline && spec.baseline.y >= spec.y.min && spec.baseline.y <= spec.y.max) {
    const y = r1(sy(spec.baseline.y));
    parts.push(`<line class="baseline" x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${y}" y2="${y}"><title>${esc(spec.baseline.label)}</title></line>`);
  }

  // Markers: vertical lines, their labels in rows above the plot, each in the first row where
  // it does not run into a label already there.
  const rowsEnd: number[] = [];
  for (const m of spec.markers ?? []) {
    if (m.x < spec.x.min || m.x > spec.x.max) continue;
    const x = sx(m.x);
    const w = m.label.length * CHAR_W;
    const left = Math.max(2, Math.min(W - MARGIN.right - w, x - w / 2));
    let row = rowsEnd.findIndex((end) => end + 6 <= left);
    if (row < 0) row = rowsEnd.length;
    rowsEnd[row] = left + w;
    const y = MARGIN.top - 6 - row * LABEL_ROW;
    parts.push(`<line class="marker m-${m.kind}" x1="${r1(x)}" x2="${r1(x)}" y1="${MARGIN.top - 2}" y2="${MARGIN.top + ph}"><title>${esc(m.label)}</title></line>`);
    parts.push(`<text class="m-${m.kind}" x="${r1(left)}" y="${y}" text-anchor="start">${esc(m.label)}</text>`);
  }

  // Series: a line through the points, then the points (each a <circle class="pt"> with its title).
  for (const s of spec.series) {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && (p.never || Number.isFinite(p.y)));
    const at = (p: ChartPoint): [number, number] => [sx(p.x), p.never ? MARGIN.top + 7 : clampY(p.y)];
    const drawn = pts.filter((p) => !p.never);
    const d = drawn.map((p, i) => `${i === 0 ? 'M' : 'L'}${r1(at(p)[0])},${r1(at(p)[1])}`).join('');
    const g: string[] = [];
    if (drawn.length > 1) g.push(`<path class="line" d="${d}" stroke="${esc(s.color)}"${s.dashed ? ' stroke-dasharray="5 3"' : ''} clip-path="url(#${esc(clip)})"/>`);
    for (const p of pts) {
      const [x, y] = at(p);
      const fill = p.verdict ? ` class="pt p-${esc(p.verdict)}"` : p.hollow ? ` class="pt hollow" style="fill:#fff;stroke:${esc(s.color)}"` : ` class="pt" fill="${esc(s.color)}"`;
      g.push(`<circle${fill} cx="${r1(x)}" cy="${r1(y)}" r="${p.verdict ? 4 : 3}"><title>${esc(p.title)}</title></circle>`);
      if (p.ring) g.push(`<circle class="ring" cx="${r1(x)}" cy="${r1(y)}" r="8"><title>${esc(p.title)}</title></circle>`);
      if (p.never) {
        const right = x + 40 > W - MARGIN.right;
        g.push(`<text class="never" x="${r1(right ? x - 7 : x + 7)}" y="${r1(y + 4)}" text-anchor="${right ? 'end' : 'start'}">never</text>`);
      }
    }
    parts.push(`<g class="series" data-series="${esc(s.name)}" data-points="${pts.length}">${g.join('')}</g>`);
  }

  const legend = spec.series
    .map((s) => `<span><i style="background:${esc(s.color)}"></i>${esc(s.name)}</span>`)
    .concat(spec.band ? [`<span><i class="band"></i>${esc(spec.band.label)}</span>`] : [])
    .concat(spec.baseline ? [`<span><i style="background:#6b7280"></i>${esc(spec.baseline.label)}</span>`] : []);
  return `<figure class="chart" style="width:${W}px">
<figcaption><span class="title">${esc(spec.title)}</span> <span class="note">(${esc(spec.yUnit)})</span></figcaption>
<svg class="chart" id="${esc(spec.id)}" data-chart="${esc(spec.id)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(spec.title)}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>
<div class="legend">${legend.join('')}</div>
</figure>`;
}
