// The reporters registry: the files a run's directory gets and what stdout gets come from the
// same entries, so --json prints exactly summary.json and the multi-kernel table exactly
// comparison.txt. The multi-kernel summary is a real run's (test/fixtures/report/README.md).
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MultiSummary } from '../../harness/results/multi-summary.js';
import { MULTI_REPORTERS, RUN_REPORTERS, stdoutReporter, stdoutText } from '../../harness/report/reporters.js';
import { createRunDir, writeMultiReport, writeRunReport } from '../../harness/report/results-dir.js';
import type { Summary } from '../../harness/results/summary.js';
import { renderTable } from '../../harness/report/table.js';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixture = (name: string): string => join(projectRoot, 'test', 'fixtures', 'report', name, 'summary.json');
const single = JSON.parse(readFileSync(fixture('7.3-small-seed5'), 'utf8')) as Summary;
const multi = JSON.parse(readFileSync(fixture('multi-6.12-7.3-seed5'), 'utf8')) as MultiSummary;

function tempRoot(t: Test): string {
  const root = tempDir(t, 'reporters');
  return root;
}

t.test('one run: --json prints summary.json as written, the table follows a blank line', async (t) => {
  const run = createRunDir(tempRoot(t), 'k');
  writeRunReport(run, single);
  t.equal(stdoutReporter({ json: true }), 'json');
  t.equal(stdoutReporter({ json: false }), 'table');
  t.equal(stdoutText(RUN_REPORTERS.json, single, { color: false }), readFileSync(join(run.dir, 'summary.json'), 'utf8'));
  t.equal(stdoutText(RUN_REPORTERS.table, single, { color: false }), `\n${renderTable(single, { color: false })}\n`);
  t.notOk(readdirSync(run.dir).some((n) => n.endsWith('.txt')), 'the table of one run goes to stdout only');
});

t.test('several kernels: summary.json, comparison.txt and report.html, and stdout prints the first two', async (t) => {
  const dir = tempRoot(t);
  t.ok(writeMultiReport(dir, multi));
  t.same(readdirSync(dir).sort(), ['comparison.txt', 'report.html', 'summary.json']);
  const comparison = readFileSync(join(dir, 'comparison.txt'), 'utf8');
  t.match(comparison, /^kernels side by side: debian:6\.12, debian:7\.3 \(sizes small, seed 5\)\n/);
  t.equal(stdoutText(MULTI_REPORTERS.table, multi, { color: false }), `\n${comparison}`);
  t.equal(stdoutText(MULTI_REPORTERS.json, multi, { color: false }), readFileSync(join(dir, 'summary.json'), 'utf8'));
  t.same(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')), multi);
});

/** What `fn` wrote to stderr, which it writes nowhere else meanwhile. */
function stderrOf(fn: () => void): string {
  let out = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => ((out += String(chunk)), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

t.test('a results file that cannot be written: a warning naming it and why, the other files still written', async (t) => {
  // A directory where the file goes: rename() over it fails (EISDIR), whoever runs the test.
  const dir = tempRoot(t);
  mkdirSync(join(dir, 'summary.json'));
  let written = true;
  const multiWarning = stderrOf(() => (written = writeMultiReport(dir, multi)));
  t.notOk(written, 'writeMultiReport says so');
  t.match(multiWarning, new RegExp(`^bpf-harness: warning: ${join(dir, 'summary.json').replace(/[.]/g, '\\.')} could not be written: EISDIR[^\\n]*\\n$`), 'one line naming the file and the error');
  t.ok(readFileSync(join(dir, 'comparison.txt'), 'utf8').length > 0, 'comparison.txt is written');

  const run = createRunDir(tempRoot(t), 'k');
  mkdirSync(join(run.dir, 'junit.xml'));
  const runWarning = stderrOf(() => writeRunReport(run, single));
  t.match(runWarning, /^bpf-harness: warning: \S+\/junit\.xml could not be written: EISDIR[^\n]*\n$/, "a run's file too");
  t.ok(readFileSync(join(run.dir, 'summary.json'), 'utf8').length > 0);
  t.equal(stderrOf(() => writeRunReport(createRunDir(tempRoot(t), 'k'), single)), '', 'nothing when every file is written');
});

t.test('several kernels, one stopped for a shell: the table and the page say where, and what the stop left unrun', async (t) => {
  // Derived in memory from the real run: as if 6.12 had stopped for the shell at its first
  // scenario (its last two taken out and named in notRun), with a report after the shell.
  const m = structuredClone(multi);
  const stopped = m.runs[0]!.summary!;
  const rest = stopped.scenarios.splice(1).map((s) => s.name);
  stopped.shell = { scenario: stopped.scenarios[0]!.name, stoppedBecause: 'failed', ownersReleased: false, notRun: rest, transcript: 'shell-transcript.txt', input: 'shell-input.txt', durationMs: 42_000, kernelLog: { verdict: 'reported', reports: ['refcount_t: underflow; use-after-free.'], problem: 'the kernel reported after the shell opened (read when the user left): refcount_t: underflow; use-after-free.' } };
  const table = stdoutText(MULTI_REPORTERS.table, m, { color: false });
  t.match(table, /\n {2}task-map-free-vs-exit-race: not run on debian:6\.12 \(debian:6\.12 stopped at sk-map-free-live-owners for the shell\)\n/);
  t.match(table, /\ndebian:6\.12: shell: the run stopped at sk-map-free-live-owners \(its first failure\) for a shell, 42 s in the guest; what the guest showed: results\/20261130-224956-debian-6\.12\/shell-transcript\.txt, what was typed: results\/20261130-224956-debian-6\.12\/shell-input\.txt\n {2}not run: task-map-free-vs-exit-race, cgrp-recreate-under-memcg-limit\n {2}kernel log during and after the shell \(not counted against sk-map-free-live-owners, [^)]*; the run fails\): the kernel reported: refcount_t: underflow/);
  t.notMatch(table, /debian:7\.3: shell:/, 'only the kernel where the shell was');
  const dir = tempRoot(t);
  t.ok(writeMultiReport(dir, m));
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  t.match(html, /<p class="note">debian:6\.12: The run stopped at <b>sk-map-free-live-owners<\/b> \(its first failure\) for a shell in the guest, 42 s in the guest: what it showed in <a href="[^"]*20261130-224956-debian-6\.12\/shell-transcript\.txt">/);
  t.match(html, /<div class="banner">debian:6\.12: The kernel log during and after the shell \(not counted against sk-map-free-live-owners[^<]*has a kernel report: /);
});
