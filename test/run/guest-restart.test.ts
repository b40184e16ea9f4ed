// When a run may boot its guest again (harness/run/guest-restart.ts), and what the report says
// of it. The fatal lines are the console monitor's, from real runs: the stray int3 of
// multi-threaded TCG at boot (a vm-test of Debian's 7.3-rc7 under TCG, 2026-12-01) and the
// test module's int3 of the recorded restart (test/fixtures/run/guest-restart-7.3.json).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_RESTARTS, restartCause } from '../../harness/run/guest-restart.js';
import { renderTable } from '../../harness/report/table.js';
import { renderMultiTable } from '../../harness/report/multi-table.js';
import { summaryToTap } from '../../harness/report/tap.js';
import { renderRunReport } from '../../harness/report/html/run-report.js';
import type { GuestRestart, Summary } from '../../harness/results/summary.js';
import { projectRoot } from '../../harness/util/paths.js';

const TCG_INT3 = 'kernel oops: [    1.546404] Oops: int3: 0000 [#1] SMP NOPTI';
const recorded = JSON.parse(readFileSync(join(projectRoot, 'test', 'fixtures', 'run', 'guest-restart-7.3.json'), 'utf8')) as { guestRestarts: GuestRestart[]; scenarios: Summary['scenarios'] };
const MTTCG = { multiThreadedTcg: true, restarts: 0, shell: false };

t.test('a stray int3 under multi-threaded TCG boots the guest again, once', async (t) => {
  t.match(restartCause(TCG_INT3, MTTCG), /emulator artifact/);
  t.match(restartCause(recorded.guestRestarts[0]!.crash, MTTCG), /emulator artifact/, "the test module's int3 is the same oops");
  t.equal(GUEST_RESTARTS, 1);
  t.equal(restartCause(TCG_INT3, { ...MTTCG, restarts: GUEST_RESTARTS }), undefined, 'a second death is the run\'s result');
});

t.test('every other death is the run\'s result', async (t) => {
  t.equal(restartCause(null, MTTCG), undefined, 'alive');
  t.equal(restartCause(TCG_INT3, { ...MTTCG, multiThreadedTcg: false }), undefined, 'KVM, one-thread TCG, one vCPU or a target: an int3 there is the kernel\'s');
  t.equal(restartCause(TCG_INT3, { ...MTTCG, shell: true }), undefined, 'a shell waits in this boot');
  for (const fatal of [
    'kernel oops: [   12.1] Oops: general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP NOPTI',
    'kernel panic: [   40.2] Kernel panic - not syncing: Fatal exception',
    'kernel oops: [    3.3] Oops: invalid opcode: 0000 [#1] SMP NOPTI',
  ]) t.equal(restartCause(fatal, MTTCG), undefined, fatal);
});

t.test('the table and report.html say the guest was booted again, where and why', async (t) => {
  const s: Summary = {
    version: 1, tool: 'bpf-storage-harness', startedAt: '2026-12-01T10:30:00.000Z', kernel: { spec: 'debian:7.3', release: '7.3-amd64', bzImage: '' },
    accel: 'tcg', backend: 'qemu', channel: 'virtio', exitCode: 0, scenarios: recorded.scenarios, timings: {}, repeat: '', guestRestarts: recorded.guestRestarts,
  };
  const table = renderTable(s);
  t.match(table, /^guest booted again: it died in sk-map-free-live-owners of kernel oops: \[ +[\d.]+\] Oops: int3: .*emulator artifact.*sk-map-free-live-owners ran again in the new boot \(the dead guest's console: console-boot1\.log\)$/m);
  t.match(table, /^pass 2  fail 0  error 0/m);
  const html = renderRunReport(s);
  t.match(html, /booted again in <b>sk-map-free-live-owners<\/b>.*Oops: int3.*console-boot1\.log/);
  t.notMatch(renderTable({ ...s, guestRestarts: undefined }), /booted again/);
  t.match(summaryToTap(s), /^# guest booted again: it died in sk-map-free-live-owners of .*Oops: int3/m, 'results.tap has it as a comment (no verdict changes)');
  const multi = renderMultiTable({ version: 1, kind: 'multi', tool: s.tool, startedAt: s.startedAt, kernels: ['debian:7.3'], seed: 7, sizes: 'small', exitCode: 0, repeat: '', runs: [{ kernel: 'debian:7.3', exitCode: 0, resultsDir: 'results/x', summary: s }] });
  t.match(multi, /^debian:7\.3: guest booted again: it died in sk-map-free-live-owners of .*Oops: int3/m, 'the combined table of --kernels says which kernel');
});
