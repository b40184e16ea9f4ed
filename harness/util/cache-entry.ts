/**
 * Cache folders of unpacked downloads (the guest's bpftool, the arm64 libraries and userland):
 * each entry a directory that appears whole or not at all, staged in a temporary directory of
 * the same folder (a name starting with '.') and renamed into place; the newest by name is used.
 */
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** The newest entry of `root` that `complete` accepts (entries sort by name; '.'-names are being made), or undefined. */
export function newestCacheEntry(root: string, complete: (entry: string) => boolean): string | undefined {
  if (!existsSync(root)) return undefined;
  const have = readdirSync(root).filter((n) => !n.startsWith('.') && complete(join(root, n))).sort();
  return have.length > 0 ? join(root, have[have.length - 1]!) : undefined;
}

/** `staged` (in `root`'s filesystem) becomes `root/name`, replacing an entry of that name; returns its path. */
export function publishCacheEntry(staged: string, root: string, name: string): string {
  const dest = join(root, name);
  rmSync(dest, { recursive: true, force: true });
  renameSync(staged, dest);
  return dest;
}
