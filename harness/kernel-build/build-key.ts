/**
 * The build key: a hash of everything that determines a kernel build's result. Equal keys mean
 * the earlier build in the same output directory is reused at once; a different key rebuilds
 * incrementally there (make decides what to recompile).
 *
 * Tree state: for a git tree the HEAD commit, a hash of `git diff HEAD` (staged and unstaged)
 * and of every untracked, not-ignored file; for a plain tree (an unpacked tarball) a hash of
 * every file's path, size and mtime. Both leave out tools/testing: kbuild never reads it, and
 * building the BPF selftests writes their test modules into it (a kernel must not look changed
 * because its selftests were built).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { gitBytes, gitOut } from '../util/git.js';

export interface TreeState {
  kind: 'git' | 'plain';
  /** HEAD commit for git trees. */
  commit?: string;
  /** sha256 of the uncommitted changes (git) or of the file listing (plain). */
  dirtyHash: string;
  /** Whether a git tree has uncommitted changes or untracked files. */
  dirty: boolean;
}

export interface BuildKeyInputs {
  tree: TreeState;
  /** sha256 of each patch file, in order. */
  patches: string[];
  /** name -> sha256 of each fragment merged, in order. */
  fragments: Array<{ name: string; sha256: string }>;
  /** sha256 of the starting config (--config), or 'defconfig+kvm_guest.config'. */
  startConfig: string;
  /** `gcc --version` first line, and the pahole used (version and where it runs). */
  compiler: string;
  pahole: string;
  /** The make target. */
  target: string;
}

/** What a kernel build never reads, relative to the tree's top. */
export const NOT_KERNEL_INPUT = ['tools/testing'];

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stable JSON text: object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function buildKey(inputs: BuildKeyInputs): string {
  return sha256(canonicalJson(inputs));
}

export function isGitTree(tree: string): boolean {
  return existsSync(join(tree, '.git'));
}

/** A tree's git calls: a kernel tree's diff can take minutes; a failure names the fix. */
function treeGit(tree: string): { timeoutMs: number; hint: string } {
  return { timeoutMs: 300_000, hint: `is ${tree} a valid git checkout?` };
}

/**
 * Which part of a tree a state covers: by default all a kernel build reads (everything but
 * NOT_KERNEL_INPUT); `paths` (relative to the top) narrows it, and `keep` leaves out files
 * (by their path relative to the top) that a build writes there.
 */
export interface TreeScope {
  paths: string[];
  keep?: (rel: string) => boolean;
}

export async function treeState(tree: string, scope?: TreeScope): Promise<TreeState> {
  const keep = scope?.keep ?? ((): boolean => true);
  if (isGitTree(tree)) {
    const commit = (await gitOut(tree, ['rev-parse', 'HEAD'], treeGit(tree))).trim();
    const pathspec = ['--', ...(scope ? scope.paths : ['.', ...NOT_KERNEL_INPUT.map((p) => `:(exclude)${p}`)])];
    const diff = await gitBytes(tree, ['diff', 'HEAD', '--binary', ...pathspec], treeGit(tree));
    const untracked = (await gitOut(tree, ['ls-files', '--others', '--exclude-standard', '-z', ...pathspec], treeGit(tree))).split('\0').filter((f) => f && keep(f)).sort();
    const h = createHash('sha256').update(diff);
    for (const f of untracked) {
      h.update(`\0${f}\0`);
      try {
        h.update(readFileSync(join(tree, f)));
      } catch {
        /* vanished or unreadable: the name still counts */
      }
    }
    return { kind: 'git', commit, dirtyHash: h.digest('hex'), dirty: diff.length > 0 || untracked.length > 0 };
  }
  if (!scope) return { kind: 'plain', dirtyHash: listingHash(tree, NOT_KERNEL_INPUT), dirty: false };
  const parts = scope.paths.map((p) => `${p}\0${listingHash(join(tree, p), [], (rel) => keep(`${p}/${rel}`))}`);
  return { kind: 'plain', dirtyHash: sha256(parts.join('\n')), dirty: false };
}

/**
 * Path, size and mtime of every file under `tree` (symlinks by target text), sorted, but for
 * the subtrees in `skip` (relative paths) and the files `keep` refuses. ~1 s for a kernel tree.
 */
export function listingHash(tree: string, skip: readonly string[] = [], keep: (rel: string) => boolean = () => true): string {
  const h = createHash('sha256');
  const skipped = new Set(skip);
  const walk = (rel: string): void => {
    if (skipped.has(rel)) return;
    let names: string[];
    try {
      names = readdirSync(join(tree, rel)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      let st;
      try {
        st = lstatSync(join(tree, r));
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(r);
      else if (keep(r)) h.update(`${r}\0${st.size}\0${Math.trunc(st.mtimeMs)}\n`);
    }
  };
  walk('');
  return h.digest('hex');
}

/** pahole as its version alone: 'host 1.30' and 'trixie build root 1.30' make the same BTF. */
function paholeVersion(pahole: string): string {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(pahole)?.[1] ?? pahole;
}

/**
 * Whether two builds' inputs differ at most in where their pahole ran (this machine's build
 * root, a build host's own): then either's output serves for the other, though their keys,
 * which name the place, differ.
 */
export function sameBuild(a: BuildKeyInputs | undefined, b: BuildKeyInputs): boolean {
  if (!a) return false;
  return canonicalJson({ ...a, pahole: paholeVersion(a.pahole) }) === canonicalJson({ ...b, pahole: paholeVersion(b.pahole) });
}
