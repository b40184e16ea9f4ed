/**
 * npm run false-alarms -- [--runs N] [--kernels A,B] [--cpus 1,2,4] [--scenario NAME]... [--sizes LEVEL] [--seed S]
 *
 * Clean kernels must pass: runs vm-test N times per kernel and CPU count (different seeds) and
 * prints, per scenario, the false alarms (a FAIL on a kernel with no fault), the memcg residue the
 * verdict judged (after - before, both readings drained), what the drain before the judged reading
 * handed back (the 7.x charge drift) and the residue an undrained reading would have shown.
 * Figures only, not a timed test: a run of the default matrix takes hours under TCG.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ScenarioResult, Summary } from '../harness/results/summary.js';
import { projectRoot } from '../harness/util/paths.js';

/** The race scenarios and the live-owner ones: where the 7.x drift showed. */
const DEFAULT_SCENARIOS = [
  'sk-map-free-vs-close-race', 'task-map-free-vs-exit-race', 'cgrp-map-free-vs-rmdir-race',
  'sk-map-free-live-owners', 'task-map-free-live-owners', 'cgrp-map-free-live-owners',
];
const RUN_DEADLINE_MS = 60 * 60_000;

interface Options {
  runs: number;
  kernels: string[];
  cpus: number[];
  scenarios: string[];
  sizes: string;
  seed: number;
}

function usage(message: string): never {
  process.stderr.write(`false-alarms: ${message}\n`);
  process.exit(2);
}

function positiveInt(flag: string, v: string | undefined, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v ?? '') || n < 1 || n > max) usage(`${flag} ${v ?? ''}: give a whole number from 1 to ${max}`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = { runs: 1, kernels: ['debian:6.12', 'debian:7.2', 'debian:7.3'], cpus: [1, 2, 4], scenarios: [], sizes: 'default', seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = argv[++i];
    if (flag === '--runs') o.runs = positiveInt(flag, v, 1000);
    else if (flag === '--kernels') o.kernels = (v ?? '').split(',').filter(Boolean);
    else if (flag === '--cpus') o.cpus = (v ?? '').split(',').map((c) => positiveInt(flag, c, 64));
    else if (flag === '--scenario') o.scenarios.push(v ?? usage('--scenario needs a name'));
    else if (flag === '--sizes') o.sizes = ['small', 'default', 'stress'].includes(v ?? '') ? v! : usage(`--sizes ${v ?? ''}: give small, default or stress`);
    else if (flag === '--seed') o.seed = positiveInt(flag, v, 2 ** 31);
    else usage(`unknown option ${flag}: use --runs N --kernels A,B --cpus 1,2,4 --scenario NAME --sizes LEVEL --seed S`);
  }
  if (o.kernels.length === 0) usage('--kernels: give at least one kernel, e.g. debian:7.3');
  if (o.scenarios.length === 0) o.scenarios = DEFAULT_SCENARIOS;
  return o;
}

/** One vm-test run; its summary (stdout with --json), or why there is none. */
function vmTest(kernel: string, cpus: number, seed: number, o: Options): Promise<Summary | string> {
  const args = [join(projectRoot, 'dist', 'harness', 'cli.js'), 'vm-test', '--kernel', kernel, '--cpus', String(cpus), '--sizes', o.sizes,
    '--accel', 'tcg', '--seed', String(seed), '--json', ...o.scenarios.flatMap((s) => ['--scenario', s])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_DEADLINE_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out) as Summary);
      } catch {
        resolve(`exit ${code}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`);
      }
    });
  });
}

interface Cell {
  runs: number;
  falseAlarms: number;
  errors: number;
  residueKernel: number[];
  residueCurrent: number[];
  handedBack: number[];
  undrained: number[];
  tolerance: number;
  reasons: string[];
}

const kib = (b: number): string => (b / 1024).toFixed(0);
const range = (xs: readonly number[]): string => (xs.length === 0 ? '-' : `${kib(Math.min(...xs))}..${kib(Math.max(...xs))}`);

function record(cells: Map<string, Cell>, key: string, r: ScenarioResult): void {
  const c = cells.get(key) ?? { runs: 0, falseAlarms: 0, errors: 0, residueKernel: [], residueCurrent: [], handedBack: [], undrained: [], tolerance: 0, reasons: [] };
  cells.set(key, c);
  c.runs++;
  if (r.verdict === 'fail') {
    c.falseAlarms++;
    c.reasons.push(r.reason);
  }
  if (r.verdict === 'error') {
    c.errors++;
    c.reasons.push(`ERROR ${r.reason}`);
  }
  if (!r.memcg) return;
  c.tolerance = r.memcg.tolerance;
  c.residueKernel.push(r.memcg.residue.kernel);
  c.residueCurrent.push(r.memcg.residue.current);
  c.handedBack.push(r.memcg.handedBack.kernel);
  // What the verdict would have judged without the drain: the same poll's reading just before it.
  const u = r.memcg.undrainedAfter;
  if (u && r.counters.before) c.undrained.push(u.memcgStat.kernel - r.counters.before.memcgStat.kernel);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const cells = new Map<string, Cell>();
  const started = Date.now();
  for (const kernel of o.kernels) {
    for (const cpus of o.cpus) {
      for (let i = 0; i < o.runs; i++) {
        const seed = o.seed + i;
        const t0 = Date.now();
        const s = await vmTest(kernel, cpus, seed, o);
        if (typeof s === 'string') {
          process.stdout.write(`${kernel} cpus=${cpus} seed=${seed}: no summary (${s})\n`);
          for (const name of o.scenarios) record(cells, `${kernel}\t${cpus}\t${name}`, { name, verdict: 'error', reason: s } as ScenarioResult);
          continue;
        }
        const verdicts = s.scenarios.map((r) => `${r.name} ${r.verdict.toUpperCase()}`).join(', ');
        process.stdout.write(`${kernel} cpus=${cpus} seed=${seed}: ${verdicts} (${((Date.now() - t0) / 1000).toFixed(0)} s, ${s.resultsDir ?? ''})\n`);
        for (const r of s.scenarios) record(cells, `${kernel}\t${cpus}\t${r.name}`, r);
      }
    }
  }
  const head = ['kernel', 'cpus', 'scenario', 'runs', 'false alarms', 'kernel residue KiB', 'current residue KiB', 'drain handed back KiB', 'undrained KiB', 'tolerance KiB'];
  const rows = [...cells].map(([key, c]) => [...key.split('\t'), String(c.runs), String(c.falseAlarms + c.errors) + (c.errors ? ` (${c.errors} errors)` : ''),
    range(c.residueKernel), range(c.residueCurrent), range(c.handedBack), range(c.undrained), kib(c.tolerance)]);
  process.stdout.write(`\n${o.runs} run(s) per kernel and CPU count, sizes ${o.sizes}, seeds ${o.seed}..${o.seed + o.runs - 1}, ${((Date.now() - started) / 60_000).toFixed(0)} min\n`);
  process.stdout.write(`| ${head.join(' | ')} |\n|${head.map(() => ' --- ').join('|')}|\n`);
  for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
  const total = [...cells.values()].reduce((a, c) => a + c.falseAlarms + c.errors, 0);
  process.stdout.write(`false alarms: ${total}\n`);
  for (const [key, c] of cells) for (const reason of c.reasons) process.stdout.write(`  ${key.replace(/\t/g, ' ')}: ${reason}\n`);
}

await main();
