// Which /proc/allocinfo sites grew over a scenario: the list a failing memcg verdict quotes on a
// debug kernel. No guest here has CONFIG_MEM_ALLOC_PROFILING (Debian's 6.12 and 7.3 configs
// say "# CONFIG_MEM_ALLOC_PROFILING is not set", and no debug build exists on the machine the
// recorded runs came from), so these lines are not a recorded reading: they follow 7.3's
// mm/alloc_tag.c format ("allocinfo - version: 2.0", "%12lli %8llu " then
// "file:line [module] func:name", lib/codetag.c) with the sites and line numbers of the
// linux-source-7.3 tree (kernel/bpf/syscall.c:545 is bpf_map_kmalloc_nolock's kmalloc_nolock
// call); the byte and call counts are chosen for the test.
import t from 'tap';
import { allocinfoGrowth, parseAllocinfo } from '../../harness/counters/allocinfo.js';
import { describeAllocinfoGrowth } from '../../harness/verdict/debug-kernel.js';

const line = (bytes: number, calls: number, tag: string): string => `${String(bytes).padStart(12)} ${String(calls).padStart(8)} ${tag} `;
const snapshot = (rows: string[]): string => ['allocinfo - version: 2.0', '#     <size>  <calls> <tag info>', ...rows, ''].join('\n');

const before = parseAllocinfo(snapshot([
  line(4096, 1, 'kernel/bpf/syscall.c:525 func:bpf_map_kmalloc_node'),
  line(2048, 8, 'kernel/bpf/syscall.c:545 func:bpf_map_kmalloc_nolock'),
  line(1966080, 960, 'net/core/sock.c:2246 func:sk_prot_alloc'),
  line(65536, 16, 'mm/percpu.c:512 func:pcpu_mem_zalloc'),
]));
const after = parseAllocinfo(snapshot([
  line(4096, 1, 'kernel/bpf/syscall.c:525 func:bpf_map_kmalloc_node'),
  line(264192, 1032, 'kernel/bpf/syscall.c:545 func:bpf_map_kmalloc_nolock'),
  line(1966080 + 8192, 964, 'net/core/sock.c:2246 func:sk_prot_alloc'),
  line(32768, 8, 'mm/percpu.c:512 func:pcpu_mem_zalloc'),
  line(4096, 2, 'fs/foo.c:12 [foomod] func:foo_alloc'),
]));

t.test('the sites that grew, most bytes first, with their objects', async (t) => {
  const g = allocinfoGrowth(before, after);
  t.same(g.map((s) => s.func), ['bpf_map_kmalloc_nolock', 'sk_prot_alloc', 'foo_alloc'], 'shrunk and unchanged sites are left out');
  t.same(g[0], { site: 'kernel/bpf/syscall.c:545', func: 'bpf_map_kmalloc_nolock', bytes: 262144, calls: 1024 });
  t.same(g[2], { site: 'fs/foo.c:12', func: 'foo_alloc', module: 'foomod', bytes: 4096, calls: 2 }, 'a module site new since the baseline counts from zero');
  t.same(allocinfoGrowth(before, after, 1).map((s) => s.func), ['bpf_map_kmalloc_nolock'], 'top N');
  t.same(allocinfoGrowth(after, after), [], 'nothing grew');
});

t.test('the reason names each site with its bytes and objects', async (t) => {
  const text = describeAllocinfoGrowth(allocinfoGrowth(before, after, 2));
  t.equal(text, 'allocinfo sites that grew over the scenario: bpf_map_kmalloc_nolock (kernel/bpf/syscall.c:545) +262144 B in +1024 objects, sk_prot_alloc (net/core/sock.c:2246) +8192 B in +4 objects');
  t.equal(describeAllocinfoGrowth([]), 'no /proc/allocinfo site grew over the scenario');
});
