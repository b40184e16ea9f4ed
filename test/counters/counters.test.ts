import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMemoryCurrent, parseMemoryStat } from '../../harness/counters/memcg.js';
import { parseSlabinfo } from '../../harness/counters/slabinfo.js';
import { diffOptmem } from '../../harness/counters/meminfo.js';

// dist/test/counters -> project root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixture = (name: string): string => readFileSync(join(root, 'test', 'fixtures', 'counters', name), 'utf8');

t.test('memory.stat of a real cgroup v2 child (Debian 6.1)', async (t) => {
  const empty = parseMemoryStat(fixture('debian-6.1.memory.stat.empty'));
  const used = parseMemoryStat(fixture('debian-6.1.memory.stat.used'));
  t.equal(Object.keys(used).length, 51, 'every line becomes a key');
  // The fields the harness snapshots exist and are numbers.
  for (const k of ['kernel', 'slab_unreclaimable', 'percpu', 'sock', 'anon', 'file', 'pgfault']) {
    t.type(used[k], 'number', k);
  }
  t.equal(used.kernel, 401408);
  t.equal(used.slab_unreclaimable, 323320);
  t.equal(used.slab, 404128);
  t.equal(used.slab, used.slab_reclaimable! + used.slab_unreclaimable!, 'slab = reclaimable + unreclaimable, as the kernel sums it');
  t.equal(empty.kernel, 0, 'a new cgroup has charged nothing');
  t.ok(used.shmem! > empty.shmem!, 'the tmpfs files were charged');
});

t.test('memory.stat rejects what is not memory.stat', async (t) => {
  t.throws(() => parseMemoryStat('anon 12\nthis is not a stat line\n'), /line 2/);
  t.throws(() => parseMemoryStat(''), /empty/);
  t.throws(() => parseMemoryStat('anon -5\n'), /not "key value"/);
  t.throws(() => parseMemoryStat('anon 99999999999999999999\n'), /2\^53/);
});

t.test('memory.current', async (t) => {
  t.equal(parseMemoryCurrent(fixture('debian-6.1.memory.current.empty')), 0);
  t.equal(parseMemoryCurrent(fixture('debian-6.1.memory.current.used')), 1347584);
  t.throws(() => parseMemoryCurrent('max\n'), /not a number/);
  t.throws(() => parseMemoryCurrent(''), /not a number/);
});

t.test('/proc/slabinfo 2.1 from a guest and from the host', async (t) => {
  const before = parseSlabinfo(fixture('debian-6.1.slabinfo.before'));
  const after = parseSlabinfo(fixture('debian-6.1.slabinfo.after'));
  t.equal(after.size, 145, 'one entry per cache line (two header lines skipped)');
  const k = after.get('kmalloc-64');
  t.ok(k, 'kmalloc-64 is there');
  t.equal(k!.objSize, 64);
  t.equal(k!.objPerSlab, 64);
  t.equal(k!.pagesPerSlab, 1);
  t.ok(k!.activeObjs <= k!.numObjs, 'active <= total');
  t.equal(k!.numObjs, k!.numSlabs * k!.objPerSlab, 'num_objs = num_slabs * objperslab under SLUB');
  t.ok(before.has('kmalloc-64'));
  const dentryGrew = after.get('dentry')!.activeObjs - before.get('dentry')!.activeObjs;
  t.ok(dentryGrew >= 200, `200 new directories show as dentries (grew by ${dentryGrew})`);

  const host = parseSlabinfo(fixture('host-6.18.slabinfo'));
  t.equal(host.size, 235);
  t.ok(host.has('kmalloc-cg-64'), 'memcg-accounted kmalloc caches are parsed too');
});

t.test('/proc/slabinfo errors are clear', async (t) => {
  const text = fixture('debian-6.1.slabinfo.after');
  t.throws(() => parseSlabinfo(text.replace('version: 2.1', 'version: 1.1')), /unsupported \/proc\/slabinfo version 1\.1/);
  t.throws(() => parseSlabinfo('MemTotal: 1 kB\n'), /not \/proc\/slabinfo/);
  const lines = text.split('\n');
  lines[5] = 'kmalloc-64 12 12 64';
  t.throws(() => parseSlabinfo(lines.join('\n')), /line 6 does not match version 2\.1/);
});

t.test('optmem diff', async (t) => {
  t.same(diffOptmem([], []), { sockets: 0, changed: 0, totalDelta: 0, maxDelta: 0, examples: [] });
  const same = diffOptmem([0, 0, 0], [0, 0, 0]);
  t.equal(same.changed, 0);
  const d = diffOptmem([0, 0, 0, 0, 0, 0, 0, 0], [0, 320, 0, 320, 320, 320, 320, 320]);
  t.equal(d.sockets, 8);
  t.equal(d.changed, 6);
  t.equal(d.totalDelta, 1920);
  t.equal(d.maxDelta, 320);
  t.equal(d.examples.length, 5, 'examples are capped');
  t.same(d.examples[0], { index: 1, before: 0, after: 320 });
  const freed = diffOptmem([320, 320], [0, 640]);
  t.equal(freed.totalDelta, 0, 'a rise and a fall cancel in the total');
  t.equal(freed.changed, 2, 'but both sockets changed');
  t.equal(freed.maxDelta, 320);
  t.throws(() => diffOptmem([1, 2], [1]), /different socket counts: 2 before, 1 after/);
});
