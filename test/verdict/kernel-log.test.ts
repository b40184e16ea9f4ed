import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFatal, parseKmsgRecord, scanKernelLog, type KernelLogFinding } from '../../harness/verdict/kernel-log.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const lines = (name: string): string[] => readFileSync(join(root, 'test', 'fixtures', 'verdict', name), 'utf8').split('\n');
const kinds = (f: KernelLogFinding[]): string[] => f.map((x) => x.kind);

t.test('parseKmsgRecord', async (t) => {
  t.same(parseKmsgRecord('4,370,2716398,-;WARNING: CPU: 1 PID: 94 at fixmod.c:11 do_warn+0x5/0x10 [fixmod]'), {
    level: 4, facility: 0, seq: 370, usec: 2716398, message: 'WARNING: CPU: 1 PID: 94 at fixmod.c:11 do_warn+0x5/0x10 [fixmod]',
  });
  const tab = lines('debian-6.1-boot.kmsg').find((l) => l.includes('RCU restricting'))!;
  t.match(parseKmsgRecord(tab)!.message, /^rcu: \tRCU restricting/, '\\x09 is unescaped');
  const user = lines('debian-6.1-reports.kmsg').find((l) => l.includes('fixture-step warn'))!;
  t.equal(parseKmsgRecord(user)!.facility, 1, 'a record written from user space has facility 1');
  t.equal(parseKmsgRecord(user)!.level, 4);
  t.equal(parseKmsgRecord(' SUBSYSTEM=acpi'), null, 'dictionary lines are not records');
  t.equal(parseKmsgRecord('[    0.000000] Linux version 6.1.0'), null);
  t.equal(parseKmsgRecord(''), null);
});

t.test('clean real boots: no finding', async (t) => {
  for (const f of ['debian-6.1-boot.console.log', 'debian-6.1-boot.kmsg', 'host-6.18-dmesg.txt']) {
    t.same(scanKernelLog(lines(f)), [], f);
  }
  // The host log really does hold the tricky lines the scanner must not count.
  const host = lines('host-6.18-dmesg.txt').join('\n');
  t.match(host, /\[Firmware Bug\]/);
  t.match(host, /Speculative Return Stack Overflow: WARNING:/);
  t.match(host, /report a bug/);
});

const EXPECTED = ['warning', 'refcount', 'hung-task', 'hung-task', 'hung-task', 'hung-task', 'hung-task', 'oops', 'oops', 'rcu-stall', 'rcu-stall', 'rcu-stall'];

t.test('real reports from a Debian 6.1 guest, console format', async (t) => {
  const log = lines('debian-6.1-reports.console.log');
  const f = scanKernelLog(log);
  t.same(kinds(f), [...EXPECTED, 'panic']);
  t.equal(f[0]!.line, 'WARNING: CPU: 1 PID: 94 at fixmod.c:11 do_warn+0x5/0x10 [fixmod]', 'line is the message without timestamp');
  t.match(log[f[0]!.index]!, /^\[\s+2\.716398\] WARNING: CPU/, 'index points at the input line');
  t.equal(f[0]!.context[0], 'Modules linked in: fixmod(OE)');
  t.ok(f[0]!.context.length <= 20 && f[0]!.context.length >= 15, 'context is the report, capped');
  t.equal(f[1]!.line, 'refcount_t: underflow; use-after-free.');
  t.match(f[1]!.context[0], /^WARNING: CPU: 1 PID: 96 at lib\/refcount\.c/, 'the WARNING refcount raises is part of the refcount finding');
  t.match(f[7]!.line, /^BUG: kernel NULL pointer dereference/);
  t.ok(f[7]!.context.some((l) => l.startsWith('Oops: 0002 [#1]')), 'Oops line merged into the NULL dereference');
  t.match(f[8]!.line, /^kernel BUG at fixmod\.c:24!/);
  t.match(f[8]!.context[0], /^invalid opcode: 0000 \[#2\]/);
  t.equal(f[12]!.line, 'Kernel panic - not syncing: sysrq triggered crash');
  t.same(f.filter(isFatal).map((x) => x.kind), ['oops', 'oops', 'panic']);
  t.notOk(log.some((l, i) => l.includes('fixture-step') && f.some((x) => x.index === i)));
});

t.test('the same reports as raw /dev/kmsg records', async (t) => {
  const log = lines('debian-6.1-reports.kmsg');
  const f = scanKernelLog(log);
  t.same(kinds(f), EXPECTED);
  t.equal(f[0]!.line, 'WARNING: CPU: 1 PID: 94 at fixmod.c:11 do_warn+0x5/0x10 [fixmod]');
  t.ok(f.every((x) => x.context.every((l) => !/^ ?[A-Z]+=/.test(l))), 'dictionary lines never appear in context');
  t.match(f[9]!.context[0], /^rcu: \t0-\.\.\.\.: /, 'escapes undone in context too');
  // Text written to /dev/kmsg from user space cannot fail a run.
  const forged = ['12,900,1000,-;WARNING: CPU: 0 PID: 1 at fake.c:1 fake+0x0/0x1', '4,901,1001,-;WARNING: CPU: 0 PID: 1 at real.c:1 real+0x0/0x1'];
  t.same(scanKernelLog(forged).map((x) => x.line), ['WARNING: CPU: 0 PID: 1 at real.c:1 real+0x0/0x1']);
});

t.test('public reports: KASAN, kmemleak, lockdep, UBSAN', async (t) => {
  const kasan = scanKernelLog(lines('syzbot-kasan-slab-use-after-free.txt'));
  t.same(kinds(kasan), ['kasan'], 'three "BUG: KASAN" lines (inline frames) are one report');
  t.match(kasan[0]!.context.join('\n'), /Read of size 8 at addr ffff8880558bd808/);
  t.notOk(isFatal(kasan[0]!));
  t.same(kinds(scanKernelLog(lines('syzbot-kmemleak.txt'))), ['kmemleak']);
  t.same(kinds(scanKernelLog(lines('syzbot-lockdep-circular.txt'))), ['lockdep'], 'lockdep WARNING is lockdep, not warning');
  const ubsan = scanKernelLog(lines('ubsan-array-index.txt'));
  t.same(kinds(ubsan), ['ubsan'], 'caller ids like [ T6479] are stripped');
  t.equal(ubsan[0]!.line, 'UBSAN: array-index-out-of-bounds in');
});

t.test('prefixes and ordinary words', async (t) => {
  const w = 'WARNING: CPU: 0 PID: 1 at kernel/bpf/bpf_local_storage.c:1 x+0x0/0x1';
  for (const line of [w, `[   12.345678] ${w}`, `<4>[   12.345678] ${w}`, `[   12.345678][    T1] ${w}`, `Nov 25 21:00:00 host kernel: [   12.345678] ${w}`, `[   12.345678] ${w}\r`]) {
    t.same(kinds(scanKernelLog([line])), ['warning'], JSON.stringify(line));
  }
  for (const line of [
    'PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug',
    'ACPI BIOS Warning (bug): Incorrect checksum in table [TPM2] - 0x8D, should be 0x6F (20230628/tbprint-291)',
    'WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!',
    'RCU Tasks: Setting shift to 1 and lim to 1 rcu_task_cb_adjust=1.',
    '------------[ cut here ]------------',
    'debug: this WARNING: CPU: 1 is quoted, not at the start',
  ]) {
    t.same(scanKernelLog([line]), [], line);
  }
  t.same(scanKernelLog([]), []);
});

// Recorded from Debian's 7.3 kernel with bpf/testmod/bpfh_warn.ko (test/fixtures/verdict/README.md).
t.test('clean 7.3 boot: no finding', async (t) => {
  t.same(scanKernelLog(lines('debian-7.3-boot.kmsg')), []);
});

const EXPECTED_73 = ['warning', 'warning', 'warning', 'warning', 'refcount', 'warning', 'corruption', 'oops'];

t.test('real reports from a Debian 7.3 guest (6.19+ WARNING form), raw /dev/kmsg records', async (t) => {
  const f = scanKernelLog(lines('debian-7.3-reports.kmsg'));
  t.same(kinds(f), EXPECTED_73);
  // WARN_ON(1) in a module: busybox insmod tries finit_module, then init_module: two reports.
  t.match(f[0]!.line, /^WARNING: bpfh_warn\.c:76 at bpfh_warn_init\+0x[0-9a-f]+\/0x[0-9a-f]+ \[bpfh_warn\], CPU#\d: busybox\/\d+$/, 'the module name after %pS does not hide it');
  t.match(f[2]!.line, /^WARNING: bpfh_warn\.c:78 at /, 'WARN(1, fmt)');
  t.equal(f[4]!.line, 'refcount_t: underflow; use-after-free.');
  t.match(f[4]!.context[0], /^WARNING: lib\/refcount\.c:28 at refcount_warn_saturate\+/, "refcount_warn_saturate()'s WARNING belongs to the refcount finding");
  // The kprobe's WARN_ON_ONCE: in the map-free worker, the deferred teardown of the code under test.
  t.match(f[5]!.line, /^WARNING: bpfh_warn\.c:48 at bpfh_warn_pre\+.*, CPU#\d: kworker\//);
  t.ok(f[5]!.context.includes('Workqueue: events_unbound bpf_map_free_deferred'));
  t.match(f[6]!.line, /^list_add corruption\. next->prev should be prev /, 'a bare list_add corruption line is a finding');
  t.equal(f[7]!.line, 'kernel BUG at lib/list_debug.c:29!', 'BUG_ON_DATA_CORRUPTION: the BUG() is its own (fatal) finding');
  t.same(f.filter(isFatal).map((x) => x.kind), ['oops']);
});

t.test('the same 7.3 reports on the console, and the sysrq panic after them', async (t) => {
  const log = lines('debian-7.3-reports.console.log');
  const f = scanKernelLog(log);
  t.same(kinds(f), [...EXPECTED_73, 'panic']);
  t.match(log[f[5]!.index]!, /^\[\s+\d+\.\d+\] WARNING: bpfh_warn\.c:48 at bpfh_warn_pre/);
  t.equal(f[8]!.line, 'Kernel panic - not syncing: sysrq triggered crash');
});

t.test('a 7.3 list_del corruption (kmsg and console)', async (t) => {
  for (const [file, want] of [['debian-7.3-list-del.kmsg', ['corruption', 'oops']], ['debian-7.3-list-del.console.log', ['corruption', 'oops', 'panic']]] as const) {
    const f = scanKernelLog(lines(file));
    t.same(kinds(f), want, file);
    t.match(f[0]!.line, /^list_del corruption\. next->prev should be [0-9a-f]+, but was [0-9a-f]+\. \(next=[0-9a-f]+\)$/, file);
    t.equal(f[1]!.line, 'kernel BUG at lib/list_debug.c:65!', file);
  }
});

t.test('report forms from the sources (kernel/panic.c __warn, lib/list_debug.c) no recorded guest printed', async (t) => {
  // Lines derived from the recorded 7.3 reports by applying the other branch of the same
  // printk: __warn() without a file (a kernel without CONFIG_DEBUG_BUGVERBOSE prints
  // "WARNING: at %pS, CPU#%d: %s/%d"), and CHECK_DATA_CORRUPTION without
  // BUG_ON_DATA_CORRUPTION (WARN(1, fmt): the message, then the WARNING).
  t.same(kinds(scanKernelLog(['WARNING: at bpfh_warn_pre+0x10/0x20 [bpfh_warn], CPU#1: kworker/u8:0/12'])), ['warning']);
  t.same(kinds(scanKernelLog(['WARNING: at bpf_local_storage_map_free+0x1a/0x200, CPU#1: kworker/1:2/57'])), ['warning']);
  const warnForm = scanKernelLog([
    '------------[ cut here ]------------',
    'list_del corruption, ffff8880071a3c00->next is LIST_POISON1 (dead000000000100)',
    'WARNING: lib/list_debug.c:56 at __list_del_entry_valid_or_report+0x9e/0xf0, CPU#0: kworker/0:1/9',
  ]);
  t.same(kinds(warnForm), ['corruption'], 'the WARNING is part of the corruption report');
  t.same(kinds(scanKernelLog(['list_add double add: new=ffff1, prev=ffff2, next=ffff1.'])), ['corruption']);
  t.same(kinds(scanKernelLog(['WARNING: kworker/0:1/9 still has locks held!'])), ['lockdep']);
  // Lines of the same shape that are not reports.
  for (const line of ['WARNING: Flushing system-wide workqueues will be prohibited in near future.', 'WARNING: See https://kernel.org/doc/html/latest/admin-guide/hw-vuln/srso.html for mitigation options.', 'bpfh_warn: armed: WARN_ON_ONCE when bpf_local_storage_map_free runs', 'module verification failed: signature and/or required key missing - tainting kernel']) {
    t.same(scanKernelLog([line]), [], line);
  }
});
