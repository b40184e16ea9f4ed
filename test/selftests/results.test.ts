// test_progs' output and -J file as the harness reads them, from a real run
// (test/fixtures/selftests/README.md).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstFailureLine, parseTestProgsJson, parseTestProgsOutput, testMapsResults, testProgsResults } from '../../harness/selftests/results.js';
import { summaryToJUnit } from '../../harness/report/junit.js';
import { summaryToTap } from '../../harness/report/tap.js';
import { renderTable } from '../../harness/report/table.js';
import type { Summary } from '../../harness/results/summary.js';
import { projectRoot } from '../../harness/util/paths.js';

const fixture = (run: string, file: string): string => readFileSync(join(projectRoot, 'test', 'fixtures', 'selftests', run, file), 'utf8');
const RUN = '7.3-rc7-rm-is-busybox';

t.test('every test and subtest line, and the summary line', async (t) => {
  const out = parseTestProgsOutput(fixture(RUN, 'test_progs.log'));
  t.same(out.tests.map((x) => `${x.number} ${x.name} ${x.status}`), [
    '87 cgrp_local_storage OK', '238 map_kptr OK', '239 map_kptr_race OK', '432 sk_storage_omem_uncharge OK', '433 sk_storage_tracing OK', '502 task_local_storage OK', '532 test_local_storage FAIL',
  ], 'once each, although the failed one is printed again under "All error logs"');
  const task = out.tests.find((x) => x.name === 'task_local_storage')!;
  t.equal(task.subtests.length, 15);
  t.same(task.subtests[0], { number: '502/1', name: 'sys_enter_exit', status: 'OK' });
  t.same(out.summary, { passed: 6, passedSubtests: 57, skipped: 0, failed: 1, failedSubtests: 0 });
  t.equal(out.tests.reduce((n, x) => n + x.subtests.length, 0), 57, 'the subtests add up to the summary line');
});

t.test('one result per test, the failure with its message from the -J file', async (t) => {
  const json = parseTestProgsJson(fixture(RUN, 'test_progs.json'));
  t.ok(json);
  t.equal(json!.results.length, 1, 'without -v the -J file lists only failed tests');
  const results = testProgsResults(parseTestProgsOutput(fixture(RUN, 'test_progs.log')), json);
  t.equal(results.length, 7);
  t.ok(results.every((r) => r.kind === 'selftest' && r.name.startsWith('test_progs/')));
  const failed = results.filter((r) => r.verdict === 'fail');
  t.same(failed.map((r) => r.name), ['test_progs/test_local_storage']);
  t.equal(failed[0]!.reason, 'the test failed: run_self_unlink:FAIL:task_storage_result unexpected task_storage_result: actual -1 != expected 0');
  t.match(failed[0]!.checks.find((c) => !c.ok)?.message, /run_self_unlink unexpected run_self_unlink: actual 127 != expected 1/, 'the whole log is kept as a check');
  const task = results.find((r) => r.name === 'test_progs/task_local_storage')!;
  t.equal(task.verdict, 'pass');
  t.equal(task.reason, '15 subtests passed');
  t.equal(task.checks.length, 15);
  t.equal(parseTestProgsJson('not json'), undefined);
  t.equal(firstFailureLine('a:PASS\nb:FAIL:x y\n'), 'b:FAIL:x y');
});

t.test('the reports show selftests like scenarios', async (t) => {
  const results = testProgsResults(parseTestProgsOutput(fixture(RUN, 'test_progs.log')), parseTestProgsJson(fixture(RUN, 'test_progs.json')));
  // A skipped test the way test_progs prints one, derived from a passing test of the real run.
  results[1] = { ...results[1]!, verdict: 'skip', reason: 'skipped' };
  const summary: Summary = {
    version: 1, tool: 'bpf-storage-harness', startedAt: '2026-11-26T00:48:16.000Z', kernel: { spec: 'tree', release: '7.3.0-rc7', bzImage: '/b' },
    accel: 'tcg', backend: 'qemu', channel: 'virtio', exitCode: 1, scenarios: results, timings: {}, repeat: 'npx bpf-harness selftests --kernel tree',
  };
  const tap = summaryToTap(summary);
  t.match(tap, /^ok 2 - test_progs\/map_kptr # SKIP skipped$/m);
  t.match(tap, /^not ok 7 - test_progs\/test_local_storage$/m);
  const junit = summaryToJUnit(summary);
  t.match(junit, /<testsuite [^>]*tests="7" failures="1" errors="0" skipped="1"/);
  t.match(junit, /<testcase [^>]*name="test_progs\/map_kptr"[^>]*>\s*<skipped message="skipped"\/>/);
  const table = renderTable(summary);
  t.match(table, /pass 5 {2}fail 1 {2}error 0 {2}skip 1 {2}\(of 0 scenarios and 7 selftests\)/);
  t.match(table, /test_progs\/test_local_storage\s+FAIL\s+-\s+-\s+the test failed/);
});

t.test('map tests: PASS from their own line; an ERROR when the run ended first', async (t) => {
  const out = fixture('7.3-rc7-pass', 'map_tests.log');
  const ok = { status: 0, signal: 0, timedOut: false };
  t.same(testMapsResults(out, ['sk_storage_map'], ok).map((r) => [r.name, r.verdict, r.reason]), [['test_maps/sk_storage_map', 'pass', 'test_sk_storage_map:PASS']]);
  // The same output cut before its PASS line, as a run killed at its deadline leaves it.
  const cut = out.split('\n').filter((l) => !l.includes(':PASS')).join('\n');
  const killed = testMapsResults(cut, ['sk_storage_map'], { status: -1, signal: 9, timedOut: true });
  t.equal(killed[0]!.verdict, 'error');
  t.match(killed[0]!.reason, /hit its deadline before test_sk_storage_map ran or finished/);
  // A CHECK failure line as test_maps.h prints it, in place of the PASS line.
  const failed = testMapsResults(`${cut}\ntest_sk_storage_map_basic(470):FAIL:bpf_map_update_elem(BPF_NOEXIST|BPF_F_LOCK) err:-1 errno:22\n`, ['sk_storage_map'], { status: 255, signal: 0, timedOut: false });
  t.equal(failed[0]!.verdict, 'fail');
  t.match(failed[0]!.reason, /^test_sk_storage_map_basic\(470\):FAIL:/);
});

t.test('the passing run: every default test once, all pass', async (t) => {
  const out = parseTestProgsOutput(fixture('7.3-rc7-pass', 'test_progs.log'));
  const results = testProgsResults(out, parseTestProgsJson(fixture('7.3-rc7-pass', 'test_progs.json')));
  t.equal(results.length, 7);
  t.ok(results.every((r) => r.verdict === 'pass'), results.map((r) => `${r.name} ${r.verdict}`).join(', '));
  t.same(out.summary?.failed, 0);
});
