// The reporters registry: the files a run's directory gets and what stdout gets come from the
// same entries, so --json prints exactly summary.json and the multi-kernel table exactly
// comparison.txt. The multi-kernel summary is a real run's (test/fixtures/report/README.md).
import t, { type Test } from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
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
