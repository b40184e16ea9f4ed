// Real debian:7.3 guests: the kernel-log verdict catches what really happens in a guest.
//  - kernel-warn: bpf/testmod/bpfh_warn.ko (built against linux-source-7.3 with the kernel's own
//    config, cached; about 20 s the first time here) puts a kprobe on
//    bpf_local_storage_map_free whose handler does WARN_ON_ONCE: the first scenario's map-free
//    worker prints a 7.3-form WARNING and that scenario, and the run, must fail.
//  - kmsg-flood: user space overwrites the ring buffer before the first scenario's read: ERROR.
//  - panic-after-run: `echo c > /proc/sysrq-trigger` after the last log read: the console after
//    power-off shows the panic, and the last scenario fails.
// The clean run on the same kernel passes (test/integration/vm-test.test.ts).
import t from 'tap';
import { parseSummary, runCli } from '../helpers/cli.js';

const BASE = ['vm-test', '--kernel', 'debian:7.3', '--sizes', 'small', '--seed', '7', '--cpus', '1', '--json',
  '--scenario', 'sk-map-free-live-owners', '--scenario', 'task-map-free-live-owners'];

t.test('a WARN_ON in the map-free path of the code under test fails the run', async (t) => {
  const run = runCli([...BASE, '--inject-fault', 'kernel-warn']);
  const s = parseSummary(run);
  t.equal(run.status, 1, 'exit 1');
  const [sk, task] = s.scenarios;
  t.equal(sk?.verdict, 'fail', sk?.reason);
  t.match(sk?.reason, /^kernel log: WARNING: bpfh_warn\.c:\d+ at bpfh_warn_pre\+\S+ \[bpfh_warn\], CPU#\d+: kworker\//, 'the 6.19+ WARNING form, from a kworker');
  t.ok(sk?.kernelLog?.includes('Workqueue: events_unbound bpf_map_free_deferred'), 'in the map-free worker');
  t.same(sk?.caughtBy, ['kernel log']);
  t.equal(task?.verdict, 'pass', 'WARN_ON_ONCE: the next scenario is clean');
  t.equal(s.afterRun?.quiet, true);
  t.ok(Number(s.timings.testModuleMs) >= 0, `test module ready in ${s.timings.testModuleMs} ms`);
});

t.test('kernel log records overwritten before they were read make the scenario an ERROR', async (t) => {
  const run = runCli([...BASE, '--inject-fault', 'kmsg-flood']);
  const s = parseSummary(run);
  t.equal(run.status, 1, 'exit 1');
  t.equal(s.scenarios[0]?.verdict, 'error');
  t.match(s.scenarios[0]?.reason, /^\d+ kernel log record\(s\) were overwritten before the harness could read them/);
  t.ok(Number(/^(\d+)/.exec(s.scenarios[0]?.reason ?? '')?.[1]) > 100, 'the flood overwrote hundreds of records');
  t.equal(s.scenarios[1]?.verdict, 'pass', 'only the read that lost records');
});

t.test('a panic after the last agent call fails the run', async (t) => {
  const run = runCli([...BASE, '--inject-fault', 'panic-after-run']);
  const s = parseSummary(run);
  t.equal(run.status, 1, 'exit 1, not 0');
  t.equal(s.scenarios[0]?.verdict, 'pass');
  t.equal(s.scenarios[1]?.verdict, 'fail');
  t.equal(s.afterRun?.attributedTo, 'task-map-free-live-owners');
  t.equal(s.afterRun?.consoleAfterShutdown[0], 'Kernel panic - not syncing: sysrq triggered crash');
  t.match(s.scenarios[1]?.reason, /^after the run: the console shows a kernel report after the last log read \(power-off\): Kernel panic/);
});
