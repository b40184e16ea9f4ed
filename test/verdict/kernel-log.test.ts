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
