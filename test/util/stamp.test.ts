// Directory time stamps (results/<stamp>-<kernel>, results/bisect-<stamp>): UTC, sorting as time does.
import t from 'tap';
import { stamp } from '../../harness/util/stamp.js';

t.test('stamp: YYYYmmdd-HHMMSS in UTC, zero-padded', async (t) => {
  t.equal(stamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 999))), '20260102-030405');
  t.equal(stamp(new Date(Date.UTC(2026, 11, 31, 23, 59, 59))), '20261231-235959');
  const a = stamp(new Date(Date.UTC(2026, 8, 9, 10, 0, 0)));
  const b = stamp(new Date(Date.UTC(2026, 9, 1, 9, 0, 0)));
  t.ok(a < b, 'September before October as strings too');
});
