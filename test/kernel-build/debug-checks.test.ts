import t from 'tap';
import { parseAllocinfo, siteTotal } from '../../harness/counters/allocinfo.js';
import { parseKmemleak } from '../../harness/counters/kmemleak.js';
import { allocinfoTolerance, judgeAllocinfo, localStorageLeaks } from '../../harness/verdict/debug-kernel.js';

// The shape of 7.3's /proc/allocinfo (version 2.0) and of a kmemleak report.
const allocinfo = (calls: number): string => `allocinfo - version: 2.0
#     <size>  <calls> <tag info>
        4096        1 kernel/bpf/syscall.c:535 func:bpf_map_kmalloc_node
${String(calls * 256).padStart(12)} ${String(calls).padStart(8)} kernel/bpf/syscall.c:544 func:bpf_map_kmalloc_nolock
       12288        3 fs/foo.c:12 [foomod] func:bpf_map_kmalloc_nolock
`;

t.test('allocinfo parsing', async (t) => {
  const s = parseAllocinfo(allocinfo(5));
  t.equal(s.length, 3);
  t.same(s[2], { bytes: 12288, calls: 3, site: 'fs/foo.c:12', module: 'foomod', func: 'bpf_map_kmalloc_nolock' });
  t.same(siteTotal(s), { bytes: 1280, calls: 5, sites: ['kernel/bpf/syscall.c:544'] }, 'module lines are not the kernel site');
  t.throws(() => parseAllocinfo('slabinfo - version: 2.1\n'), /not \/proc\/allocinfo/);
});

t.test('the allocinfo tolerance comes from the sheaves and one element per owner exceeds it', async (t) => {
  const caps = new Map([['kmalloc-cg-256', 28], ['kmalloc-cg-64', 120], ['kmalloc-256', 500]]);
  const tol = allocinfoTolerance(2, caps);
  t.equal(tol.objects, 2 * 2 * 120, 'kmalloc-cg caches only, the largest capacity');
  t.match(tol.why, /2 caches x 2 CPUs x sheaf_capacity 120/);
  const before = parseAllocinfo(allocinfo(0));
  t.ok(judgeAllocinfo(before, parseAllocinfo(allocinfo(8)), tol).ok, 'the 8 objects seen after 200 frees pass');
  t.ok(judgeAllocinfo(before, parseAllocinfo(allocinfo(tol.objects)), tol).ok);
  const v = judgeAllocinfo(before, parseAllocinfo(allocinfo(tol.objects + 1)), tol);
  t.notOk(v.ok);
  t.match(v.reason, /481 over the baseline: more than the 480/);
  // With N owners and one lingering element each, N > tolerance fails whatever N is.
  for (const n of [500, 2000, 20000]) t.notOk(judgeAllocinfo(before, parseAllocinfo(allocinfo(n)), tol).ok, `${n} lingering elements fail`);
  t.notOk(judgeAllocinfo(before, parseAllocinfo('allocinfo - version: 2.0\n'), tol).ok, 'a kernel without the line fails with a reason');
});

t.test('kmemleak report: only local storage objects count', async (t) => {
  const report = `unreferenced object 0xffff888012345600 (size 64):
  comm "bpf-agent", pid 91, jiffies 4294912345
  hex dump (first 32 bytes):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace (crc 1a2b3c4d):
    kmemleak_alloc+0x4a/0x90
    __kmalloc_node_noprof+0x2b1/0x480
    bpf_map_kmalloc_node+0x72/0x170
    bpf_local_storage_map_alloc+0x1c3/0x4d0
    map_create+0x6a2/0x1630
unreferenced object 0xffff888087654300 (size 32):
  comm "swapper/0", pid 1, jiffies 4294890000
  backtrace (crc 99):
    [<ffffffff81234567>] kmemleak_alloc+0x4a/0x90
    [<ffffffff81234568>] kstrdup+0x3a/0x70
    [<ffffffff81234569>] some_driver_init+0x10/0x40
`;
  const leaks = parseKmemleak(report);
  t.equal(leaks.length, 2);
  t.equal(leaks[0]!.size, 64);
  t.equal(leaks[0]!.comm, 'bpf-agent');
  t.same(leaks[1]!.backtrace, ['kmemleak_alloc', 'kstrdup', 'some_driver_init'], 'old [<addr>] format too');
  const ours = localStorageLeaks(leaks);
  t.equal(ours.length, 1);
  t.equal(ours[0]!.address, '0xffff888012345600');
  t.same(parseKmemleak(''), []);
});
