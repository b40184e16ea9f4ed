// bpf-harness trend: which summaries make the nights, in which order, where the page goes, and
// one line with exit 2 for bad input. The summaries are the recorded real runs in
// test/fixtures/compare and test/fixtures/report (see the READMEs there).
import t, { type Test } from 'tap';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNights } from '../../harness/run/trend.js';
import { projectRoot } from '../../harness/util/paths.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixtures = join(projectRoot, 'test', 'fixtures');

function oneErrorLine(t: Test, stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, `exactly one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], pattern);
}

/** results/ with nightly-* directories holding these fixtures' summaries, newest last. */
function nights(sources: string[]): string {
  const root = tempDir(t, 'trend');
  sources.forEach((src, i) => {
    const d = join(root, `nightly-2026120${i + 1}-020000`);
    mkdirSync(d);
    copyFileSync(join(fixtures, src, 'summary.json'), join(d, 'summary.json'));
  });
  return root;
}

t.test('a directory of nights: its nightly-* directories, by start time, the commit beside each', async (t) => {
  const root = nights(['report/7.3-small-seed5', 'compare/7.3-small-pass', 'compare/7.3-small-hold-map']);
  writeFileSync(join(root, 'nightly-20261201-020000', 'tree-commit.txt'), 'abc123 bpf: a subject\n');
  mkdirSync(join(root, 'nightly-state'));
  writeFileSync(join(root, 'nightly-state', 'last-summary.json'), '{}');
  const got = loadNights([root], 60);
  t.equal(got.length, 3, 'nightly-state is not a night');
  t.same(got.map((n) => n.startedAt), [...got.map((n) => n.startedAt)].sort(), 'ordered by start time, not by directory name');
  t.equal(got.find((n) => n.path.includes('nightly-20261201'))?.commit, 'abc123 bpf: a subject');
  t.equal(loadNights([root], 2).length, 2, '--last keeps the newest');
  const copy = join(root, 'nightly-state', 'history', 'nightly-20261201-020000');
  mkdirSync(copy, { recursive: true });
  copyFileSync(join(root, 'nightly-20261201-020000', 'summary.json'), join(copy, 'summary.json'));
  t.equal(loadNights([join(root, 'nightly-state', 'history'), root], 60).length, 3, 'a night given twice counts once');
  t.same(loadNights([root], 2).map((n) => n.startedAt), got.slice(1).map((n) => n.startedAt));
});

t.test('a multi-kernel summary is one night with a series per kernel', async (t) => {
  const [night] = loadNights([join(fixtures, 'report', 'multi-6.12-7.3-seed5', 'summary.json')], 60);
  t.same(night?.runs.map((r) => r.kernel), ['debian:6.12', 'debian:7.3']);
});

t.test('the command writes trend.html in the first DIR and says where', async (t) => {
  const root = nights(['compare/7.3-small-pass', 'compare/7.3-small-hold-map']);
  const r = runCli(['trend', root], 60_000);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, new RegExp(`trend of 2 nights: ${join(root, 'trend.html').replace(/[.]/g, '\\.')}`));
  const html = readFileSync(join(root, 'trend.html'), 'utf8');
  t.match(html, /<b>REGRESSION<\/b><\/span>: <a href="#t-sk-map-free-live-owners"/, 'the held map is a regression against the night before');
  const out = join(root, 'elsewhere.html');
  t.equal(runCli(['trend', root, '--out', out], 60_000).status, 0);
  t.ok(existsSync(out), '--out');
});

t.test('bad input: one line naming the fix, exit 2', async (t) => {
  const missing = runCli(['trend', join(tmpdir(), 'no-such-nights-bpfh')], 60_000);
  t.equal(missing.status, 2);
  oneErrorLine(t, missing.stderr, /no such directory or summary\.json; give nightly results directories/);
  const empty = tempDir(t, 'trend-empty');
  const none = runCli(['trend', empty], 60_000);
  t.equal(none.status, 2);
  oneErrorLine(t, none.stderr, /holds no summary\.json, nor directories with one/);
  for (const bad of ['0', '1.5', 'x']) {
    const r = runCli(['trend', empty, '--last', bad], 60_000);
    t.equal(r.status, 2, `--last ${bad}`);
    oneErrorLine(t, r.stderr, new RegExp(`--last ${bad.replace('.', '\\.')}: give a whole number from 1 to 10000 \\(nights\\)`));
  }
  const notJson = join(empty, 'summary.json');
  writeFileSync(notJson, 'nope');
  const r = runCli(['trend', notJson], 60_000);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /not valid JSON/);
});
