/**
 * The import check of harness/: every folder of harness/ is a module with a place in the
 * data flow's layer order, and an import may only point to a module below its own (or stay
 * inside its own module); no file may reach itself through its imports (no cycle, type-only
 * imports included, since they tie the modules' meaning together as much as value imports).
 *
 *   node dist/scripts/check-imports.js [ROOT]   # ROOT defaults to this checkout; exit 1 on a finding
 *
 * The order is the picture of the data flow (kernel -> VM -> guest agent -> counters ->
 * verdict -> report), with the ground (util, results) at the bottom and the commands on top.
 * A new folder must be given its place here: an unlisted module is itself a finding.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lowest first. A module may import from any module earlier in this list. */
export const LAYERS: readonly string[] = [
  'util', // generic helpers: no harness knowledge
  'results', // the result schema: summaries, checks, tolerances, signals
  'agent', // the guest agent's protocol and its typed verbs
  'host', // the host's packages: the private apt
  'ssh', // an SSH connection (host keys, logins, channels): low, so that both kernel-build's build hosts and target/ use it
  'kernel', // Debian kernels: specs, packages, modules, configs
  'cross', // the agent for another architecture (aarch64): which build a machine needs, Debian's arm64 libraries, the cross make
  'build-host', // make on another machine over SSH: the tree synced, make run and killed there, artifacts fetched
  'kernel-build', // building a tree's kernel (and Debian's linux-source)
  'vm', // booting a local guest: QEMU, vng, initramfs, channels
  'target', // a running machine over SSH
  'backend', // the Backend interface and its registry (qemu, vng, ssh)
  'counters', // measuring: readings from the guest and the host
  'verdict', // judging readings against tolerances
  'scenarios', // what a scenario does in the guest, and its checks
  'selftests', // the kernel's BPF selftests: build, run, parse
  'report', // writing results: table, json, tap, junit, html, compare
  'run', // the vm-test stages: prepare, run in the guest, record
  'bisect', // bisect over a tree's commits
  'shell', // a terminal in the guest
  'commands', // the command layer: options, commands, failure handling
];

/** Top-level files of harness/ and the module they count as. */
const TOP_FILES: Record<string, string> = { 'cli.ts': 'commands' };

export interface ImportEdge {
  from: string;
  to: string;
}

export interface Finding {
  kind: 'upward' | 'unlisted' | 'cycle';
  text: string;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative imports of every .ts file under `harnessDir`, as paths relative to it. */
export function importEdges(harnessDir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of tsFiles(harnessDir)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2];
      if (spec === undefined) continue;
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      edges.push({ from: relative(harnessDir, file), to: relative(harnessDir, target) });
    }
  }
  return edges;
}

/** The module a harness-relative file path belongs to. */
export function moduleOf(path: string): string {
  const parts = path.split(sep);
  if (parts.length === 1) return TOP_FILES[parts[0] ?? ''] ?? parts[0] ?? '';
  return parts[0] ?? '';
}

function layerFindings(edges: readonly ImportEdge[], layers: readonly string[]): Finding[] {
  const out: Finding[] = [];
  const unlisted = new Set<string>();
  for (const { from, to } of edges) {
    const a = moduleOf(from);
    const b = moduleOf(to);
    for (const m of [a, b]) if (!layers.includes(m)) unlisted.add(m);
    if (a === b || !layers.includes(a) || !layers.includes(b)) continue;
    if (layers.indexOf(b) > layers.indexOf(a)) out.push({ kind: 'upward', text: `${from} -> ${to} (${a} is below ${b})` });
  }
  for (const m of unlisted) out.push({ kind: 'unlisted', text: `module ${m} has no place in LAYERS (scripts/check-imports.ts)` });
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself): Tarjan. */
function cycleFindings(edges: readonly ImportEdge[]): Finding[] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: Finding[] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    const selfLoop = (next.get(v) ?? []).includes(v);
    if (component.length > 1 || selfLoop) out.push({ kind: 'cycle', text: component.sort().join(' <-> ') });
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** Every finding for the harness/ folder under `root`. */
export function checkImports(root: string, layers: readonly string[] = LAYERS): Finding[] {
  const edges = importEdges(join(root, 'harness'));
  return [...layerFindings(edges, layers), ...cycleFindings(edges)];
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = process.argv[2] ?? resolve(here, '..', '..');
  const findings = checkImports(root);
  for (const f of findings) console.log(`${f.kind}: ${f.text}`);
  const modules = LAYERS.join(' < ');
  console.log(findings.length === 0 ? `imports: no cycle, no upward import (${modules})` : `imports: ${findings.length} finding(s)`);
  process.exitCode = findings.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
