// Cache folders on the real file system: the newest complete entry wins, work in progress and
// incomplete entries never do, and a published entry replaces one of its name whole.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newestCacheEntry, publishCacheEntry } from '../../harness/util/cache-entry.js';
import { tempDir } from '../helpers/temp-dir.js';

const complete = (e: string): boolean => existsSync(join(e, 'index.json'));

function entry(root: string, name: string, index: string | undefined): void {
  mkdirSync(join(root, name), { recursive: true });
  if (index !== undefined) writeFileSync(join(root, name, 'index.json'), index);
}

t.test('the newest complete entry, by name', async (t) => {
  const root = tempDir(t, 'cache-entry');
  t.equal(newestCacheEntry(join(root, 'none'), complete), undefined, 'no folder yet');
  entry(root, '1.0', '{}');
  entry(root, '2.0', undefined);
  entry(root, '.tmp-xyz', '{}');
  t.equal(newestCacheEntry(root, complete), join(root, '1.0'), 'not the incomplete 2.0, not the one being made');
  entry(root, '1.5', '{}');
  t.equal(newestCacheEntry(root, complete), join(root, '1.5'));
});

t.test('a staged entry replaces one of its name whole', async (t) => {
  const root = tempDir(t, 'cache-entry');
  entry(root, 'v1', 'old');
  writeFileSync(join(root, 'v1', 'stale'), '');
  entry(root, '.tmp-a', 'new');
  t.equal(publishCacheEntry(join(root, '.tmp-a'), root, 'v1'), join(root, 'v1'));
  t.equal(readFileSync(join(root, 'v1', 'index.json'), 'utf8'), 'new');
  t.notOk(existsSync(join(root, 'v1', 'stale')), 'nothing of the old entry is left');
  t.notOk(existsSync(join(root, '.tmp-a')), 'the staged directory is gone');
});
