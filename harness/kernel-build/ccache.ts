/**
 * ccache for kernel builds, when it is installed (setup installs it; BPF_HARNESS_CCACHE=0 turns
 * it off). make runs with a directory of `gcc`/`cc` links to ccache first on its PATH (ccache's
 * masquerade mode), never with CC="ccache gcc": kbuild records each object's command line and
 * rebuilds an object whose command changed, and CONFIG_CC_VERSION_TEXT comes from `$(CC)
 * --version`, so with the links the commands, the config and the build key (which names `gcc
 * --version`, toolchain.ts) are the same with ccache and without, and turning it on or off
 * rebuilds nothing.
 *
 * One cache for every build the harness makes (kernel build, vm-test --kernel TREE, bisect
 * steps, the nightly's flavors): CCACHE_DIR under the harness's cache unless the user set one.
 * CCACHE_NOHASHDIR: kernels are built with -g (BTF needs DWARF), and ccache would otherwise hash
 * the O= directory into every object's key, so a bisect's O= directory and a nightly's could
 * never share an object; the cost is a DW_AT_comp_dir that may name the other build's directory.
 * CCACHE_BASEDIR, the directory holding both the source and the O= directory, makes the
 * absolute -I paths relative: builds whose source and O= directories lie the same way relative
 * to each other (a tree rebuilt after `make clean` or a lost O= directory, a bisect step that
 * comes back to a state built before, the bisect worktree and O= directory of a tree, both
 * under the harness's cache) share objects.
 */
import { existsSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { delimiter, join, resolve, sep } from 'node:path';
import { execa } from 'execa';

export interface CcacheSetup {
  /** The ccache binary. */
  ccache: string;
  /** The cache directory (CCACHE_DIR). */
  dir: string;
  /** make's extra environment: PATH with the links first, the CCACHE_* settings. */
  env: Record<string, string>;
}

/** The directory holding both paths ('/' when they share nothing else). */
export function commonDir(a: string, b: string): string {
  const pa = resolve(a).split(sep);
  const pb = resolve(b).split(sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(sep) || sep;
}

/** The first `name` on PATH. */
export function onPath(name: string, path: string | undefined): string | undefined {
  for (const d of (path ?? '').split(delimiter).filter(Boolean)) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/**
 * The environment make gets for a build of `source` into `outDir`, or undefined without ccache.
 * `env` is the harness's own environment; `cacheRoot` its cache directory.
 */
export function ccacheSetup(o: { source: string; outDir: string; cacheRoot: string; env: NodeJS.ProcessEnv }): CcacheSetup | undefined {
  if (o.env.BPF_HARNESS_CCACHE === '0') return undefined;
  const ccache = onPath('ccache', o.env.PATH);
  if (!ccache) return undefined;
  const links = join(o.cacheRoot, 'ccache-bin');
  const dir = o.env.CCACHE_DIR ?? join(o.cacheRoot, 'ccache');
  const base = commonDir(o.source, o.outDir);
  return {
    ccache,
    dir,
    env: {
      PATH: [links, o.env.PATH ?? ''].join(delimiter),
      CCACHE_DIR: dir,
      CCACHE_NOHASHDIR: o.env.CCACHE_NOHASHDIR ?? '1',
      // '/' would make system headers relative too: no rewriting then.
      ...(o.env.CCACHE_BASEDIR !== undefined ? { CCACHE_BASEDIR: o.env.CCACHE_BASEDIR } : base !== sep ? { CCACHE_BASEDIR: base } : {}),
    },
  };
}

/** The links make finds first on its PATH: gcc and cc run ccache, which runs the next gcc on PATH. */
export function writeCompilerLinks(setup: CcacheSetup): void {
  const links = setup.env.PATH!.split(delimiter)[0]!;
  mkdirSync(links, { recursive: true });
  mkdirSync(setup.dir, { recursive: true });
  for (const name of ['gcc', 'cc']) {
    const link = join(links, name);
    let current: string | undefined;
    try {
      current = readlinkSync(link);
    } catch {
      current = undefined;
    }
    if (current === setup.ccache) continue;
    if (current !== undefined) unlinkSync(link);
    symlinkSync(setup.ccache, link);
  }
}

export interface CcacheCounts {
  hits: number;
  misses: number;
}

/** `ccache --print-stats` (tab-separated name and value): direct + preprocessed hits, misses. */
export function parseCcacheStats(text: string): CcacheCounts | undefined {
  const v = new Map(text.split('\n').map((l) => l.split('\t')).filter((p) => p.length === 2).map(([k, n]) => [k!, Number(n)]));
  if (!v.has('cache_miss')) return undefined;
  return { hits: (v.get('direct_cache_hit') ?? 0) + (v.get('preprocessed_cache_hit') ?? 0), misses: v.get('cache_miss') ?? 0 };
}

export async function ccacheCounts(setup: CcacheSetup): Promise<CcacheCounts | undefined> {
  const r = await execa(setup.ccache, ['--print-stats'], { reject: false, timeout: 20_000, stdin: 'ignore', env: setup.env });
  return r.failed ? undefined : parseCcacheStats(String(r.stdout));
}

/** "ccache: 812 hits, 40 misses (dir)" from two readings, for the build's log line. */
export function describeCounts(before: CcacheCounts | undefined, after: CcacheCounts | undefined, dir: string): string {
  if (!before || !after) return `ccache: on (${dir})`;
  return `ccache: ${after.hits - before.hits} hits, ${after.misses - before.misses} misses (${dir})`;
}
