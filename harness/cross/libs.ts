/**
 * Debian's arm64 static libraries that the agent links (-lbpf -lelf -lz -lzstd), for the cross
 * build: the -dev packages of bookworm (the suite of the cross toolchain's glibc), fetched
 * through the arm64 private apt (host/apt.ts; the system's apt sources and architectures are
 * never touched) and kept unpacked in cacheDir()/cross/arm64/<versions>/. Once there, no apt is
 * needed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_KEYRING, aptWithLists, discoverDebianMirror, privateAptFor, type PrivateApt } from '../host/apt.js';
import { SetupError } from '../util/errors.js';
import { newestCacheEntry, publishCacheEntry } from '../util/cache-entry.js';
import { cacheDir } from '../util/paths.js';
import { withTempDir } from '../util/temp-dir.js';

export const CROSS_SUITE = 'bookworm';
export const ARM64_LIB_PACKAGES = ['libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'libzstd-dev'] as const;
/** The archives the agent links, as the packages put them. */
export const ARM64_STATIC_LIBS = ['libbpf.a', 'libelf.a', 'libz.a', 'libzstd.a'].map((l) => `usr/lib/aarch64-linux-gnu/${l}`);

export interface DebOpts {
  mirror?: string;
  log: (line: string) => void;
}

/** The arm64 private apt of the mirror given or the system's, with fresh lists; `what` names the need in its errors. */
async function arm64Apt(what: string, opts: DebOpts): Promise<PrivateApt> {
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (mirror === undefined) throw new SetupError(`${what} needs Debian's arm64 packages, and there is no Debian mirror in the system apt sources: pass --mirror <URL of a Debian mirror>`);
  return aptWithLists(privateAptFor('arm64', mirror), what, opts.log);
}

/** Downloads and unpacks `items` of the arm64 private apt under `into`; returns the unpacked root (the caller renames or removes it). */
export async function fetchArm64Debs(items: ReadonlyArray<{ pkg: string; version: string }>, into: string, what: string, opts: DebOpts): Promise<string> {
  if (!existsSync(DEBIAN_KEYRING)) throw new SetupError(`${what}: ${DEBIAN_KEYRING} is missing: install the package debian-archive-keyring`);
  const apt = await arm64Apt(what, opts);
  return (await apt.downloadUnpacked(items, into, 120_000)).root;
}

/** The versions of `pkgs` in `suite` of the arm64 private apt; a missing one is an error naming it. */
export async function arm64Versions(pkgs: readonly string[], suite: string, what: string, opts: DebOpts): Promise<Array<{ pkg: string; version: string }>> {
  return (await arm64Apt(what, opts)).versionsIn(pkgs, suite, what);
}

/** The directory holding usr/include and usr/lib/aarch64-linux-gnu of the four -dev packages. */
export async function arm64CrossLibs(opts: DebOpts): Promise<string> {
  const root = join(cacheDir(), 'cross', 'arm64');
  const have = newestCacheEntry(root, (entry) => ARM64_STATIC_LIBS.every((l) => existsSync(join(entry, l))));
  if (have) return have;
  const what = "the arm64 agent's static libraries";
  const items = await arm64Versions(ARM64_LIB_PACKAGES, CROSS_SUITE, what, opts);
  mkdirSync(root, { recursive: true });
  return withTempDir(root, '.tmp-', async (tmp) => {
    opts.log(`downloading ${items.map((i) => `${i.pkg} ${i.version}`).join(', ')} (arm64, ${CROSS_SUITE}) for the cross build`);
    const x = await fetchArm64Debs(items, tmp, what, opts);
    for (const l of ARM64_STATIC_LIBS) if (!existsSync(join(x, l))) throw new SetupError(`${what}: the packages hold no ${l}: report this`);
    return publishCacheEntry(x, root, createHash('sha256').update(items.map((i) => `${i.pkg}=${i.version}`).join('\n')).digest('hex').slice(0, 16));
  });
}
