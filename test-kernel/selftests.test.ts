/**
 * npm run test:kernel: `bpf-harness selftests` on Debian's linux-source-7.3. The first run
 * builds the kernel with the selftests' config (35-70 min on 2 cores) and test_progs with its
 * BPF objects (clang-19), then boots it and runs the default selection (the local storage
 * tests and test_maps' sk_storage_map, alone); the second run must build nothing. Not part of npm test.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLinuxSource } from '../harness/kernel-build/linux-source.js';
import { parseSummary, runCli } from '../test/helpers/cli.js';

t.test('selftests --kernel <linux-source-7.3>: the local storage selftests in the VM', async (t) => {
  const src = await ensureLinuxSource('7.3', { log: (l) => t.comment(l) });
  const args = ['selftests', '--kernel', src.tree, '--json', '--accel', 'tcg'];
  const t0 = Date.now();
  const first = runCli(args, 4 * 60 * 60_000);
  const summary = parseSummary(first);
  t.comment(`first run ${((Date.now() - t0) / 1000).toFixed(0)} s, exit ${first.status}, results ${summary.resultsDir}`);
  for (const r of summary.scenarios) t.comment(`  ${r.name}: ${r.verdict}: ${r.reason}`);
  t.ok(summary.selftests, 'the summary says what ran');
  const names = summary.scenarios.map((r) => r.name);
  for (const expected of ['test_progs/sk_storage_tracing', 'test_progs/task_local_storage', 'test_progs/cgrp_local_storage', 'test_progs/test_local_storage', 'test_progs/map_kptr', 'test_maps/sk_storage_map']) {
    t.ok(names.includes(expected), `${expected} ran`);
  }
  t.ok(summary.scenarios.every((r) => r.kind === 'selftest'), 'no scenario of our own');
  t.ok(summary.scenarios.filter((r) => r.verdict === 'pass').length >= 5, 'the local storage tests pass on 7.3-rc7');
  for (const f of ['selftests/test_progs.log', 'selftests/test_progs.json', 'selftests/map_tests.log', 'results.tap', 'junit.xml', 'kernel.log']) t.ok(existsSync(join(summary.resultsDir!, f)), f);
  t.match(readFileSync(join(summary.resultsDir!, 'junit.xml'), 'utf8'), /name="test_progs\/task_local_storage"/);
  t.equal(first.status, summary.exitCode);

  const t1 = Date.now();
  const again = runCli([...args, '-t', 'task_local_storage'], 60 * 60_000);
  const second = parseSummary(again);
  t.match(again.stderr, /kernel build: up to date/, 'the kernel is not rebuilt');
  t.match(again.stderr, /selftests build: up to date/, 'nor are the selftests');
  t.same(second.scenarios.map((r) => r.name), ['test_progs/task_local_storage'], '-t passes through');
  t.comment(`second run ${((Date.now() - t1) / 1000).toFixed(0)} s`);
});
