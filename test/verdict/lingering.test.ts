// The lingering policy on counters recorded from a real run (see test/fixtures/run/README.md).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../harness/util/paths.js';
import { checkMapsFreed, checkMemcg, checkOptmem, memcgSensitivity, memcgTolerance } from '../../harness/verdict/lingering.js';
import type { Reading } from '../../harness/counters/collect.js';

const rec = JSON.parse(readFileSync(join(projectRoot, 'test/fixtures/run/live-owners-7.3.optmem.json'), 'utf8')) as Record<'before' | 'peak' | 'afterClose' | 'settled', number[]>;

t.test('optmem: exact, per socket', async (t) => {
  t.equal(checkOptmem(rec.before, rec.settled).ok, true, 'all back to the baseline');
  const mid = checkOptmem(rec.before, rec.afterClose);
  t.equal(mid.ok, false, 'a poll while freeing is under way is not settled');
  t.match(mid.message, /^4793 of 16384 sockets kept 1533760 B of optmem after the map was freed, up to 320 B on one/);
  const peak = checkOptmem(rec.before, rec.peak);
  t.match(peak.message, /^16384 of 16384 sockets kept 5242880 B/);
  const oneLeft = [...rec.settled];
  oneLeft[100] = 320;
  t.equal(checkOptmem(rec.before, oneLeft).ok, false, 'one socket with one element fails');
});

t.test('memcg tolerance comes from the per-CPU charge caches, not from the work size', async (t) => {
  const tol = memcgTolerance(2, 4096);
  t.equal(tol.bytes, 2 * 65 * 4096);
  t.match(tol.why, /64 pages of memcg charge stock/);
  t.equal(memcgTolerance(8, 4096).bytes, 4 * tol.bytes);
  const reading = (current: number, slab: number, anon = 0, kernel = slab): Reading => ({ at: 0, memcgCurrent: current, memcgStat: { slab_unreclaimable: slab, anon, file: 0, kernel }, slabActive: {}, optmem: null });
  const [cur, kernel, slab] = checkMemcg(reading(25_000_000, 1_000_000), reading(25_000_000 + tol.bytes, 1_000_000 - 4096), tol);
  t.equal(cur?.ok, true, 'exactly at the tolerance passes');
  t.equal(kernel?.ok, true);
  t.equal(slab?.ok, true);
  const [over] = checkMemcg(reading(25_000_000, 0), reading(25_000_000 + tol.bytes + 1, 0), tol);
  t.equal(over?.ok, false, 'one byte over fails');
  t.match(over?.message ?? '', /memory.current less user pages is 520.0 KiB above its baseline \(tolerance 520.0 KiB/);
  // The 6.12 task-multi-map run that cried wolf before user pages were excluded (a clean-clone
  // CI run): memory.current, kernel and slab_unreclaimable as recorded in its summary.json
  // (+576 KiB, -4 KiB, -2 KiB); that summary kept no anon, so anon here is memory.current minus
  // kernel, the most user memory there can have been.
  const before612: Reading = { at: 0, memcgCurrent: 3166208, memcgStat: { anon: 110592, file: 0, kernel: 3055616, slab_unreclaimable: 843392 }, slabActive: {}, optmem: null };
  const after612: Reading = { at: 0, memcgCurrent: 3756032, memcgStat: { anon: 704512, file: 0, kernel: 3051520, slab_unreclaimable: 841080 }, slabActive: {}, optmem: null };
  t.same(checkMemcg(before612, after612, tol).map((c) => c.ok), [true, true, true], 'the agent heap is not a lingering element');
  const lingering = { ...after612, memcgCurrent: after612.memcgCurrent + 600 * 1024, memcgStat: { ...after612.memcgStat, kernel: after612.memcgStat.kernel! + 600 * 1024 } };
  t.same(checkMemcg(before612, lingering, tol).map((c) => c.ok), [false, false, true], '600 KiB more kernel memory fails');
  // 16384 elements at the 414 B per element measured on 7.3: far above the tolerance.
  t.ok(memcgSensitivity(16384 * 414, 16384, tol) > 10);
});

t.test('maps freed', async (t) => {
  t.equal(checkMapsFreed([], 3).ok, true);
  const c = checkMapsFreed([41, 42], 3);
  t.equal(c.ok, false);
  t.equal(c.message, '2 of 3 closed maps still exist (ids 41, 42)');
});
