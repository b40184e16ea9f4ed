// recreate-under-memcg-limit: elements missing under memory.max are the limit's finding only
// when memory.events says the limit was hit; otherwise they are a set-up failure.
import t from 'tap';
import { limitCheck } from '../../harness/scenarios/storage.js';
import { caughtBy, verdictOf } from '../../harness/verdict/lingering.js';

t.test('a generation that did not fit while the limit was hit is a memcg detection', async (t) => {
  const c = limitCheck('elements-created', 'from user space', 3000, 4096, { hits: 17, bytes: 17040 * 1024 });
  t.equal(c.name, 'memcg-limit');
  t.equal(c.message, 'only 3000 of 4096 elements fit under memory.max = 17040.0 KiB from user space (the limit was hit 17 times): memory of an earlier generation is still charged');
  t.same(caughtBy([c]), ['memcg']);
  t.equal(verdictOf([c]).verdict, 'fail');
});

t.test('missing elements with the limit never hit (or no limit) could not test anything', async (t) => {
  for (const limit of [{ hits: 0, bytes: 17040 * 1024 }, { hits: 3 }]) {
    const c = limitCheck('elements-in-map', 'and found in the map', 4000, 4096, limit);
    t.equal(c.name, 'elements-in-map');
    t.equal(c.ok, false);
    t.same(caughtBy([c]), []);
    t.equal(verdictOf([c]).verdict, 'error');
  }
  t.equal(limitCheck('elements-created', 'from user space', 4096, 4096, { hits: 5, bytes: 1 << 20 }).ok, true, 'all made: the limit was hit but nothing is missing');
});
