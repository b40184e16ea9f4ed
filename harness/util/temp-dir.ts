/**
 * Temporary directories that go on every way out of the harness. The caller removes one with
 * removeTempDir() on its normal and error paths (a `finally`); a run that ends otherwise
 * (Ctrl-C / SIGTERM / SIGHUP, an uncaught error, a process.exit() elsewhere) removes it at
 * process exit. Users run the harness daily: a directory left per run fills /tmp or the cache.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { onAbort } from './children.js';

const pending = new Map<string, () => void>();

/** mkdtemp of `parent/prefixXXXXXX`, removed at exit unless removeTempDir() came first. */
export function exitSafeTempDir(parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  const atExit = (): void => rmSync(dir, { recursive: true, force: true });
  // onAbort installs children.ts's signal handlers, which end in process.exit(): without
  // them a signal would kill the process before any 'exit' listener runs.
  const unregisterAbort = onAbort(atExit);
  process.once('exit', atExit);
  pending.set(dir, () => {
    unregisterAbort();
    process.off('exit', atExit);
  });
  return dir;
}

/** Removes `dir` and forgets its exit hooks (so a long run's many boots add no listeners). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  pending.get(dir)?.();
  pending.delete(dir);
}

/** `fn` given an exitSafeTempDir() of `parent`, which is removed however `fn` ends. */
export async function withTempDir<T>(parent: string, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = exitSafeTempDir(parent, prefix);
  try {
    return await fn(dir);
  } finally {
    removeTempDir(dir);
  }
}
