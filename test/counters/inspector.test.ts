// The inspector's records, parsed and judged: every fixture is a real reply of the agent in a
// guest (test/fixtures/inspector/README.md says which run).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { elementsOfMap, inspectorCounts, ownersHolding, parseInspectorRecords } from '../../harness/counters/inspector.js';
import { caughtBy, checkInspector, checkInspectorPeak } from '../../harness/verdict/lingering.js';
import { seededOrder } from '../../harness/scenarios/multi-map.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The records of the recorded reply (second line of the fixture). */
function records(name: string): string[] {
  const [, reply] = readFileSync(join(root, 'test', 'fixtures', 'inspector', name), 'utf8').split('\n');
  return (JSON.parse(reply ?? '') as { records: string[] }).records;
}

t.test('7.3: three maps share each thread\'s storage struct', async (t) => {
  const r = parseInspectorRecords(records('7.3-task-multi-map-peak.jsonl'), 'task');
  t.equal(r.owners.length, 128, 'one record per thread with storage');
  t.same(r.owners[0], { owner: '179', mapIds: [23, 21, 19], truncated: false });
  t.same(r.trailer, { visited: 192, storages: 128, elements: 384 });
  for (const id of [19, 21, 23]) t.same(elementsOfMap(r, id), { owners: 128, elements: 128 }, `map ${id} on every thread`);
  t.ok(checkInspectorPeak(r, 19, 128).ok);
  const short = checkInspectorPeak(r, 19, 200);
  t.notOk(short.ok, 'fewer owners than created is a failure');
  t.match(short.message, /found 128 elements of map 19 on 128 task owners, want one on each of 200/);
  t.ok(checkInspector(r, [], false).ok, 'nothing freed yet, nothing lingers');
});

t.test('7.3: right after a close the freed map\'s elements are still linked with id 0', async (t) => {
  const r = parseInspectorRecords(records('7.3-task-multi-map-freeing.jsonl'), 'task');
  t.same(r.owners[0]?.mapIds, [23, 21, 0]);
  const held = ownersHolding(r, new Set([19]));
  t.equal(held.elements, 128, 'an id-0 element counts against the freed map');
  const c = checkInspector(r, [19], false);
  t.notOk(c.ok);
  t.match(c.message, /^128 elements of freed maps are still linked on 128 task owners \(179, 180, 181, 182, 183, \.\.\.\)$/);
  t.equal(elementsOfMap(r, 23).elements, 128, 'the live maps keep theirs');
});

t.test('7.3: every map freed, no storage struct left', async (t) => {
  const r = parseInspectorRecords(records('7.3-task-all-freed.jsonl'), 'task');
  t.equal(r.owners.length, 0);
  t.equal(r.trailer.visited, 192, 'the iterator still walked every thread');
  const c = checkInspector(r, [19, 21, 23], true);
  t.ok(c.ok, c.message);
  t.match(c.message, /no element of the 3 freed maps is linked on any of 192 task owners/);
});

t.test('7.3 hold-map self-test: the inspector names the owners that still hold an element', async (t) => {
  const r = parseInspectorRecords(records('7.3-task-hold-map.jsonl'), 'task');
  const c = checkInspector(r, [11], true);
  t.notOk(c.ok);
  t.match(c.message, /^384 elements of freed maps are still linked on 384 task owners \(176, 177, 178, 179, 180, \.\.\.\)$/);
  const counts = inspectorCounts(r, new Set([11]));
  t.same(counts, {
    kind: 'task', ownersVisited: 445, storages: 384, elements: 384, emptyStorages: 0, lingeringElements: 384,
    lingeringOwners: ['176', '177', '178', '179', '180', '181', '182', '183'],
  });
  t.same(caughtBy([c, { name: 'memcg-current', ok: false, message: '' }, { name: 'optmem', ok: true, message: '' }]), ['memcg', 'inspector']);
});

t.test('6.12: the same id-0 window after a close; the cgroup iterator', async (t) => {
  const task = parseInspectorRecords(records('6.12-task-freeing.jsonl'), 'task');
  t.equal(ownersHolding(task, new Set([56])).elements, 384);
  const cgrp = parseInspectorRecords(records('6.12-cgrp-peak.jsonl'), 'cgrp');
  t.equal(cgrp.owners.length, 64);
  t.same(cgrp.trailer, { visited: 65, storages: 64, elements: 64 }, 'the scenario cgroup itself is visited too');
  t.ok(checkInspectorPeak(cgrp, 62, 64).ok);
  t.notOk(checkInspector(cgrp, [62], true).ok);
});

t.test('a storage struct left attached with every map gone fails', async (t) => {
  // The 7.3 peak with its element lists emptied: what a storage that outlives its last element looks like.
  const emptied = records('7.3-task-multi-map-peak.jsonl').map((l) => (l.startsWith('task ') ? l.split(' ').slice(0, 2).join(' ') : l));
  const r = parseInspectorRecords(emptied, 'task');
  const c = checkInspector(r, [19, 21, 23], true);
  t.notOk(c.ok);
  t.match(c.message, /128 task owners still have a storage struct attached with every map gone \(179, 180/);
  t.equal(inspectorCounts(r, new Set()).emptyStorages, 128);
});

t.test('the parser refuses what it does not understand', async (t) => {
  const real = records('7.3-task-multi-map-peak.jsonl');
  t.throws(() => parseInspectorRecords(real.slice(0, -1), 'task'), /no trailer/, 'a cut-off iteration');
  t.throws(() => parseInspectorRecords(real, 'cgrp'), /another kind/);
  t.throws(() => parseInspectorRecords([...real, real[0] ?? ''], 'task'), /after the trailer/);
  t.throws(() => parseInspectorRecords(['task 179 23 x', ...real.slice(-1)], 'task'), /bad map id/);
  t.throws(() => parseInspectorRecords(['task abc 23', ...real.slice(-1)], 'task'), /bad owner/);
  t.throws(() => parseInspectorRecords(['end task 1 2'], 'task'), /bad inspector trailer/);
  const truncated = parseInspectorRecords(['sk 150/31 13 +', 'end sk 1 1 64'], 'sk');
  t.same(truncated.owners[0], { owner: '150/31', mapIds: [13], truncated: true });
});

t.test('the multi-map free order is a seeded permutation', async (t) => {
  const a = seededOrder(6, 42);
  t.same([...a].sort(), [0, 1, 2, 3, 4, 5], 'every map freed once');
  t.same(seededOrder(6, 42), a, 'the same seed, the same order');
  t.notSame(seededOrder(6, 43), a, 'another seed, another order');
});
