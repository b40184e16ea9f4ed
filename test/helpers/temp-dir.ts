/**
 * A temporary directory for one test, removed when that test ends, pass or fail: `npm test`
 * runs nightly on CI users' machines, and a directory left per run fills /tmp. A test that
 * wants its files kept for debugging must say so where it makes them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What tempDir needs of tap's `t`: the root `t` (removed when the file ends) or a subtest's. */
export interface Teardown {
  teardown(fn: () => void): void;
}

export function tempDir(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bpfh-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
