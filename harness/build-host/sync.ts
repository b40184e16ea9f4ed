/**
 * What of a tree a build host lacks: a manifest (path, kind, size, mtime, mode) of every file
 * and symlink but the top's .git, compared with the manifest of the last sync to that host.
 * What differs goes as one tar stream, what is gone as a delete list (build-host.ts).
 *
 * The last sync's manifest lives here (under the cache) and a token naming it on the host:
 * when the two tokens differ (first sync, a host wiped, another machine synced), the host's
 * copy is not trusted and everything goes again into an emptied directory.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** What decides that a file must go again: its kind, size, mtime (µs) and mode. */
export type Manifest = Map<string, string>;

/** Not sent: the git database (kbuild reads none of it; a worktree's .git is a file). */
const SKIP_AT_TOP = new Set(['.git']);

/**
 * Every file and symlink under `dir` (relative paths), with the facts that make it change;
 * `keep`: which paths go (a directory it refuses is not entered).
 */
export function listTree(dir: string, keep: (rel: string, isDir: boolean) => boolean = () => true): Manifest {
  const out: Manifest = new Map();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(rel === '' ? dir : join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      if (rel === '' && SKIP_AT_TOP.has(n)) continue;
      const r = rel === '' ? n : `${rel}/${n}`;
      let st;
      try {
        st = lstatSync(join(dir, r));
      } catch {
        continue; // vanished while listing
      }
      if (!keep(r, st.isDirectory())) continue;
      if (st.isDirectory()) walk(r);
      else if (st.isFile() || st.isSymbolicLink()) out.set(r, `${st.isFile() ? 'f' : 'l'}:${st.size}:${Math.round(st.mtimeMs * 1000)}:${(st.mode & 0o7777).toString(8)}`);
    }
  };
  walk('');
  return out;
}

export interface TreeDiff {
  /** Files new or changed since `before`: they go in the tar stream. */
  send: string[];
  /** Files in `before` that are gone: deleted on the host. */
  remove: string[];
  /** Bytes of the files to send (sizes from the manifest). */
  bytes: number;
}

export function diffManifests(before: Manifest, now: Manifest): TreeDiff {
  const send: string[] = [];
  let bytes = 0;
  for (const [path, facts] of now) {
    if (before.get(path) === facts) continue;
    send.push(path);
    bytes += Number(facts.split(':')[1]);
  }
  const remove = [...before.keys()].filter((p) => !now.has(p));
  return { send: send.sort(), remove: remove.sort(), bytes };
}

/** A saved manifest: its token (the host holds the same one) and its entries. */
export interface SavedManifest {
  token: string;
  entries: Manifest;
}

export function newToken(): string {
  return randomBytes(12).toString('hex');
}

/** The token, then each path and its facts, all NUL-separated (a path may hold any byte but NUL). */
export function writeManifest(path: string, saved: SavedManifest): void {
  mkdirSync(dirname(path), { recursive: true });
  const parts = [saved.token];
  for (const [p, f] of saved.entries) parts.push(p, f);
  writeFileSync(`${path}.tmp`, parts.join('\0'));
  renameSync(`${path}.tmp`, path);
}

export function readManifest(path: string): SavedManifest | undefined {
  if (!existsSync(path)) return undefined;
  const parts = readFileSync(path, 'utf8').split('\0');
  const token = parts.shift();
  if (!token || parts.length % 2 !== 0) return undefined;
  const entries: Manifest = new Map();
  for (let i = 0; i < parts.length; i += 2) entries.set(parts[i]!, parts[i + 1]!);
  return { token, entries };
}
