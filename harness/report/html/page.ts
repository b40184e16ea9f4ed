/**
 * The HTML shell every page shares: escaping, the style sheet, a Content-Security-Policy that
 * forbids every fetch (so a page that tried to load anything would say so in the browser's
 * console, which the browser test reads), and verdict badges. No script: everything is drawn
 * when the file is written, so the verdicts read the same with JavaScript off.
 */

export function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 'pass' | 'fail' | 'error' | 'skip' | anything -> a badge; unknown verdicts read as errors. */
export function badge(verdict: string): string {
  const v = ['pass', 'fail', 'error', 'skip'].includes(verdict) ? verdict : 'error';
  return `<span class="badge v-${v}">${v.toUpperCase()}</span>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #5b6470; --line: #d5dae0; --pass: #15803d; --fail: #c62828; --error: #c2410c; --skip: #6b7280; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1680px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 6px; padding-top: 10px; border-top: 1px solid var(--line); }
h3 { font-size: 14px; margin: 14px 0 4px; font-weight: 600; }
p, ul { margin: 4px 0; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.meta { color: var(--muted); }
.meta b { color: var(--fg); font-weight: 600; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; border-bottom: 1px solid #eef0f3; }
th { font-weight: 600; color: var(--muted); }
td.name, td.mono { white-space: nowrap; }
table.matrix td, table.matrix th.night { text-align: center; padding: 3px 5px; }
table.matrix th.night { font-size: 11.5px; white-space: nowrap; }
table.matrix td.name { text-align: left; }
table.matrix td.regressed { outline: 2px solid var(--fail); outline-offset: -2px; }
ul.changes { padding-left: 18px; }
td.num, th.num { text-align: right; padding-right: 14px; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; min-width: 44px; text-align: center; font-size: 11.5px; font-weight: 700; letter-spacing: .03em; padding: 1px 6px; border-radius: 3px; color: #fff; }
.v-pass { background: var(--pass); } .v-fail { background: var(--fail); } .v-error { background: var(--error); } .v-skip { background: var(--skip); }
.reason { margin: 4px 0 8px; }
.reason.bad { color: var(--fail); }
.banner { border: 2px solid var(--fail); color: var(--fail); padding: 6px 10px; margin: 10px 0; font-weight: 600; }
.note { color: var(--muted); font-size: 12.5px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: flex-start; }
.side { display: grid; gap: 8px 18px; align-items: start; }
.side > .col-head { font-weight: 600; border-bottom: 2px solid var(--line); padding-bottom: 2px; }
figure.chart { margin: 0; }
figure.chart figcaption { font-size: 12.5px; margin: 0 0 2px; }
figure.chart figcaption .title { font-weight: 600; }
.legend { font-size: 12px; color: var(--muted); display: flex; flex-wrap: wrap; gap: 2px 12px; margin-top: 1px; }
.legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
.legend i.band { height: 9px; background: rgba(21,128,61,.16); border: 1px solid rgba(21,128,61,.45); }
svg.chart { display: block; overflow: visible; }
svg.chart text { font: 11px system-ui, -apple-system, "DejaVu Sans", sans-serif; fill: #3d4650; }
svg.chart .grid { stroke: #eceff2; }
svg.chart .axis { stroke: #9aa3ad; }
svg.chart .band { fill: rgba(21,128,61,.13); stroke: rgba(21,128,61,.45); stroke-dasharray: 3 2; }
svg.chart .baseline { stroke: #6b7280; stroke-width: 1.2; }
svg.chart .marker { stroke-width: 1.3; }
svg.chart line.m-drop { stroke: #374151; stroke-dasharray: 5 3; } svg.chart text.m-drop { fill: #374151; }
svg.chart line.m-freed { stroke: #2563eb; stroke-dasharray: 2 3; } svg.chart text.m-freed { fill: #2563eb; }
svg.chart line.m-settled { stroke: var(--pass); } svg.chart text.m-settled { fill: var(--pass); }
svg.chart line.m-deadline, svg.chart line.m-change { stroke: var(--fail); } svg.chart text.m-deadline, svg.chart text.m-change { fill: var(--fail); }
svg.chart path.line { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
svg.chart circle.pt { stroke: #fff; stroke-width: .8; }
svg.chart circle.pt.hollow { stroke-width: 1.6; }
svg.chart circle.ring { fill: none; stroke: var(--fail); stroke-width: 2; }
svg.chart .p-pass { fill: var(--pass); } svg.chart .p-fail { fill: var(--fail); } svg.chart .p-error { fill: var(--error); } svg.chart .p-skip { fill: var(--skip); }
svg.chart text.never { fill: var(--fail); font-weight: 600; }
details > summary { cursor: pointer; color: var(--muted); }
a { color: #1d4ed8; }
.ok { color: var(--pass); } .bad { color: var(--fail); }
`;

/** A whole page. The CSP allows inline style and nothing else to load: no network, no script. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
