// `bpf-harness compare` as a nightly job or a bisect calls it, on recorded results directories
// (test/fixtures/compare/README.md), and one real `vm-test --kernels` run, kept to one scenario.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComparisonSet } from '../../harness/run/compare.js';
import type { MultiSummary } from '../../harness/results/multi-summary.js';
import { projectRoot } from '../../harness/util/paths.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = (name: string): string => join(projectRoot, 'test', 'fixtures', 'compare', name);

t.test('compare exits 0 when nothing regressed (6.12 vs 7.3, both passing)', async (t) => {
  const r = runCli(['compare', dir('6.12-small-pass'), dir('7.3-small-pass')]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /sk-map-free-live-owners\s+A debian:6\.12\s+PASS/);
  t.match(r.stdout, /what changed: nothing/);
  t.match(r.stdout, /verdict: no regression/);
});

t.test('compare exits 1 on a regression (7.3 passing vs 7.3 with the map held)', async (t) => {
  const r = runCli(['compare', dir('7.3-small-pass'), join(dir('7.3-small-hold-map'), 'summary.json')]);
  t.equal(r.status, 1);
  t.match(r.stdout, /REGRESSION\s+sk-map-free-live-owners: PASS in A, FAIL in B/);
  t.match(r.stdout, /REGRESSION\s+sk-recreate-under-memcg-limit/);
  t.notMatch(r.stdout, /REGRESSION\s+sk-map-free-vs-close-race/);
});

t.test('compare --json: one document, the regression flag and the changes', async (t) => {
  const r = runCli(['compare', '--json', dir('7.3-small-pass'), dir('7.3-small-hold-map')]);
  t.equal(r.status, 1);
  const set = JSON.parse(r.stdout) as ComparisonSet;
  t.equal(set.kind, 'comparisons');
  t.equal(set.regression, true);
  t.same(set.comparisons[0]!.changes.map((c) => c.kind), ['regression', 'regression']);
  t.same(set.comparisons[0]!.settleRule, { factor: 2, minDeltaMs: 500 });
});

t.test('compare a multi-kernel run against a single run of one of its kernels', async (t) => {
  const r = runCli(['compare', dir('multi-6.12-7.3'), dir('7.3-small-hold-map')]);
  t.equal(r.status, 1, 'the 7.3 pair regressed');
  t.match(r.stdout, /only in A: debian:6\.12/);
});

t.test('compare exits 2 on bad input with one line naming the fix', async (t) => {
  const missing = runCli(['compare', dir('no-such-run'), dir('7.3-small-pass')]);
  t.equal(missing.status, 2);
  t.equal(missing.stderr.trim().split('\n').length, 1);
  t.match(missing.stderr, /no-such-run: no such results directory or summary\.json; give a directory under results\//);

  const tmp = tempDir(t, 'cmpv');
  const v2 = JSON.parse(readFileSync(join(dir('7.3-small-pass'), 'summary.json'), 'utf8')) as { version: number };
  v2.version = 2;
  writeFileSync(join(tmp, 'summary.json'), JSON.stringify(v2));
  const other = runCli(['compare', dir('7.3-small-pass'), tmp]);
  t.equal(other.status, 2);
  t.equal(other.stderr.trim().split('\n').length, 1);
  t.match(other.stderr, /summary version 2, this bpf-harness reads version 1; compare it with the bpf-harness that wrote it, or re-run vm-test/);

  const usage = runCli(['compare', dir('7.3-small-pass')]);
  t.equal(usage.status, 2, 'B missing is a usage error');
});

t.test('vm-test --kernels debian:6.12,debian:7.3, one scenario, for real', async (t) => {
  const r = runCli(['vm-test', '--kernels', 'debian:6.12,debian:7.3', '--sizes', 'small', '--seed', '7', '--scenario', 'sk-map-free-live-owners']);
  t.equal(r.status, 0, r.stderr.slice(-2000));
  t.match(r.stdout, /kernels side by side: debian:6\.12, debian:7\.3 \(sizes small, seed 7\)/);
  t.match(r.stdout, /sk-map-free-live-owners\s+debian:6\.12\s+PASS\s+\d+ ms/);
  t.match(r.stdout, /\n\s+debian:7\.3\s+PASS\s+\d+ ms/);
  t.match(r.stdout, /what differs: nothing/);
  const combined = /combined results: (\S+)/.exec(r.stdout)?.[1] ?? '';
  t.match(combined, /-multi$/);
  const m = JSON.parse(readFileSync(join(combined, 'summary.json'), 'utf8')) as MultiSummary;
  t.equal(m.version, 1);
  t.equal(m.kind, 'multi');
  t.equal(m.exitCode, 0);
  t.same(m.runs.map((x) => x.kernel), ['debian:6.12', 'debian:7.3']);
  t.match(m.runs[0]!.summary?.kernel.release, /^6\.12/);
  t.match(m.runs[1]!.summary?.kernel.release, /^7\.3/);
  for (const run of m.runs) {
    t.equal(run.summary?.scenarios[0]?.seed, 7, 'the same seed on each kernel');
    t.ok(existsSync(join(run.resultsDir ?? '', 'summary.json')), `${run.kernel} has its own results directory`);
  }
  t.match(readFileSync(join(combined, 'comparison.txt'), 'utf8'), /debian:7\.3\s+PASS/);
  t.match(r.stdout, new RegExp(`report: ${join(combined, 'report.html').replace(/[.]/g, '\\.')}`), 'the combined report is named');
  const html = readFileSync(join(combined, 'report.html'), 'utf8');
  t.match(html, /id="k1-sk-map-free-live-owners-w1-memcg"[\s\S]*id="k2-sk-map-free-live-owners-w1-memcg"/, "each kernel's settle chart, side by side");
  for (const run of m.runs) t.ok(existsSync(join(run.resultsDir ?? '', 'report.html')), `${run.kernel} has its own report.html`);
  t.match(m.repeat, /--kernels debian:6\.12,debian:7\.3 --sizes small --seed 7 --scenario sk-map-free-live-owners/);
});
