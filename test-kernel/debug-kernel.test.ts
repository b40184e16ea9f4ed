/**
 * npm run test:kernel: the whole path a kernel developer takes, on Debian's linux-source-7.3:
 * fetch and unpack it (once), build the debug kernel (KASAN, kmemleak, lockdep, allocinfo;
 * cached by the build key), boot it with both backends (QEMU, virtme-ng) and run every scenario (small sizes: 4096 owners still exceed
 * the allocinfo tolerance many times; KASAN under TCG is slow) with the kmemleak scan. Not part of
 * npm test: the first build takes 35 to 70 minutes on 2 cores.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { buildKernel } from '../harness/kernel-build/kernel-build.js';
import { ensureLinuxSource } from '../harness/kernel-build/linux-source.js';
import { parseKernelConfig } from '../harness/kernel/config.js';
import { parseSummary, runCli } from '../test/helpers/cli.js';

const timings: Array<[string, number]> = [];
const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings.push([name, Date.now() - t0]);
    t.comment(`step ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
};
t.teardown(() => {
  const lines = timings.map(([n, ms]) => `  ${n.padEnd(28)} ${(ms / 1000).toFixed(1).padStart(8)} s`);
  process.stdout.write(`# test:kernel timings\n${lines.map((l) => `#${l}`).join('\n')}\n`);
});

t.test('linux-source-7.3, debug build, boot, scenarios, kmemleak', async (t) => {
  const log = (l: string): void => t.comment(l);
  const src = await step('fetch + unpack source', () => ensureLinuxSource('7.3', { log }));
  t.comment(`tree ${src.tree} (${src.version}${src.cached ? ', cached' : ''})`);

  const built = await step('kernel build --debug', () => buildKernel({ tree: src.tree, debug: true, patches: [], log }));
  const config = parseKernelConfig(readFileSync(built.configPath, 'utf8'));
  for (const o of ['CONFIG_KASAN', 'CONFIG_DEBUG_KMEMLEAK', 'CONFIG_PROVE_RCU', 'CONFIG_MEM_ALLOC_PROFILING', 'CONFIG_DEBUG_INFO_BTF']) t.equal(config.get(o), 'y', `${o}=y`);

  const again = await step('kernel build again (no-op)', () => buildKernel({ tree: src.tree, debug: true, patches: [], log }));
  t.ok(again.reused, 'the same inputs reuse the build');
  t.ok(again.elapsedMs < 30_000, `and return at once (${again.elapsedMs} ms)`);

  const run = await step('vm-test --kernel <tree>', async () => runCli(['vm-test', '--kernel', src.tree, '--json', '--accel', 'tcg', '--sizes', 'small', '--boot-deadline', '900', '--settle-deadline', '120'], 150 * 60_000));
  const summary = parseSummary(run);
  t.comment(`vm-test exit ${run.status}; results ${summary.resultsDir}`);
  for (const s of summary.scenarios) t.comment(`  ${s.name}: ${s.verdict} in ${(s.durationMs / 1000).toFixed(1)} s: ${s.reason}`);
  if (summary.timings.bootMs) timings.push(['  guest boot', summary.timings.bootMs]);
  t.equal(summary.kernel.bzImage, built.bzImage, 'vm-test used the harness build of the tree');
  t.ok(summary.debug, 'the debug checks ran');
  t.ok(summary.debug?.kmemleak, 'kmemleak was scanned');
  t.ok(summary.debug?.allocinfo, 'the allocinfo counter was read');
  if (summary.debug?.allocinfo) t.comment(`allocinfo: ${summary.debug.allocinfo.reason}`);
  if (summary.debug?.kmemleak) t.comment(`kmemleak: ${summary.debug.kmemleak.unreferenced} unreferenced, ${summary.debug.kmemleak.localStorage} in local storage, scans ${(summary.debug.kmemleak.scanMs / 1000).toFixed(1)} s`);
  t.equal(summary.exitCode, 0, `vm-test passes on the debug kernel${summary.aborted ? ` (aborted: ${summary.aborted})` : ''}`);
  t.equal(run.status, 0);

  // The same kernel under virtme-ng: the host's root over 9p, the agent from the project.
  const vrun = await step('vm-test --backend vng', async () => runCli(['vm-test', '--kernel', src.tree, '--backend', 'vng', '--json', '--accel', 'tcg', '--sizes', 'small', '--boot-deadline', '900', '--settle-deadline', '120'], 150 * 60_000));
  const vsum = parseSummary(vrun);
  t.comment(`vm-test --backend vng exit ${vrun.status}; results ${vsum.resultsDir}`);
  for (const s of vsum.scenarios) t.comment(`  vng ${s.name}: ${s.verdict} in ${(s.durationMs / 1000).toFixed(1)} s: ${s.reason}`);
  t.equal(vsum.backend, 'vng');
  t.ok(vsum.debug?.kmemleak, 'kmemleak was scanned under vng too');
  t.equal(vsum.exitCode, 0, `vm-test --backend vng passes${vsum.aborted ? ` (aborted: ${vsum.aborted})` : ''}`);
});
