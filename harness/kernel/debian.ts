/**
 * debian:<series>: the newest Debian amd64 kernel of a series from trixie, sid and experimental,
 * fetched through a private apt setup (host/apt.ts) and cached as just its bzImage and config under
 * cacheDir()/kernels/<package>_<version>/. Its arm64 kernels (opts.arch, for the arm64 target guest of
 * the tests) come through the arm64 private apt and are cached apart, in cacheDir()/kernels-arm64/.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_KEYRING, LISTS_MAX_AGE_MS, PrivateApt, discoverDebianMirror, privateAptFor } from '../host/apt.js';
import { compareDebVersions } from '../host/debversion.js';
import { SetupError } from '../util/errors.js';
import { withTempDir } from '../util/temp-dir.js';
import { cacheDir } from '../util/paths.js';
import { which } from '../util/which.js';
import { readArm64ImageInfo, readBzImageInfo, releaseOf } from './bzimage.js';
import { parseKernelConfig } from './config.js';

/** A kernel ABI in a package name: 7.3, 7.2.13+deb14, 6.12.117+deb13, 6.1.0-30. */
const ABI = String.raw`\d+\.\d+(?:\.\d+)*(?:-\d+)?(?:\+[a-z0-9.]+)?`;
const SERIES_RE = new RegExp(`^${ABI}$`);

/**
 * The kernel packages the harness can use. 7.x splits the kernel: linux-binary-<abi>-amd64 holds
 * the (signed) vmlinuz, linux-base-<abi>-amd64 the config. 6.x has both in
 * linux-image-<abi>-amd64-unsigned (the signed linux-image-<abi>-amd64 is the same kernel plus a
 * signature). -cloud-, -rt- and -dbg packages do not match: the ABI is followed by -amd64 directly.
 */
export type KernelPackageKind = 'binary' | 'image';

/**
 * Debian's name of a kernel's architecture. amd64 kernels boot the guests of vm-test; arm64
 * ones (cached apart, in kernels-arm64/, through the arm64 private apt) the arm64 SSH target
 * guest of the tests (harness/vm/ssh-guest.ts).
 */
export type DebianArch = 'amd64' | 'arm64';

export function parseKernelPackage(name: string, arch: DebianArch = 'amd64'): { abi: string; kind: KernelPackageKind } | undefined {
  let m = new RegExp(`^linux-binary-(${ABI})-${arch}$`).exec(name);
  if (m) return { abi: m[1]!, kind: 'binary' };
  m = new RegExp(`^linux-image-(${ABI})-${arch}-unsigned$`).exec(name);
  if (m) return { abi: m[1]!, kind: 'image' };
  return undefined;
}

/** Whether a package ABI belongs to the series the user named: 7.2 matches 7.2.13+deb14, 6.1 does not match 6.12.x. */
export function seriesMatches(abi: string, series: string): boolean {
  return abi === series || (abi.startsWith(series) && /^[.+-]/.test(abi.slice(series.length)));
}

/** major.minor of an ABI. */
export function seriesOf(abi: string): string {
  return /^\d+\.\d+/.exec(abi)?.[0] ?? abi;
}

export function basePackageOf(abi: string, arch: DebianArch = 'amd64'): string {
  return `linux-base-${abi}-${arch}`;
}

/** Where a kernel of `arch` is cached: kernels/ for amd64 (what debian:<series> means), kernels-<arch>/ else. */
export function kernelsDirOf(arch: DebianArch): string {
  return join(cacheDir(), arch === 'amd64' ? 'kernels' : `kernels-${arch}`);
}

export interface KernelCandidate {
  pkg: string;
  version: string;
  suite: string;
  abi: string;
  kind: KernelPackageKind;
  /** For kind 'binary': the linux-base package holding the config, same version. */
  basePkg?: string;
}

/**
 * The newest candidate for `series`: highest Debian version across packages and suites; at equal
 * versions a linux-binary package (smaller download) wins.
 */
export function chooseCandidate(cands: readonly KernelCandidate[]): KernelCandidate | undefined {
  return [...cands].sort((a, b) => compareDebVersions(b.version, a.version) || (a.kind === b.kind ? 0 : a.kind === 'binary' ? -1 : 1))[0];
}

/** One kernel in the cache. */
export interface CachedKernel {
  dir: string;
  bzImage: string;
  configPath: string;
  package: string;
  version: string;
  abi: string;
  suite: string;
  release: string;
  downloadedAt: string;
}

export function cachedKernels(kernelsDir: string, series: string): CachedKernel[] {
  let names: string[] = [];
  try {
    names = readdirSync(kernelsDir);
  } catch {
    return [];
  }
  const out: CachedKernel[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const dir = join(kernelsDir, name);
    try {
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Omit<CachedKernel, 'dir' | 'bzImage' | 'configPath'>;
      const entry: CachedKernel = { ...meta, dir, bzImage: join(dir, 'vmlinuz'), configPath: join(dir, 'config') };
      if (!seriesMatches(entry.abi, series) || !existsSync(entry.bzImage) || !existsSync(entry.configPath)) continue;
      out.push(entry);
    } catch {
      /* not a complete entry */
    }
  }
  return out.sort((a, b) => compareDebVersions(b.version, a.version));
}

function entryName(pkg: string, version: string): string {
  return `${pkg}_${version.replace(/:/g, '%3a')}`;
}

function hours(ms: number): string {
  return `${(ms / 3600_000).toFixed(1)} h`;
}

export interface DebianKernel {
  bzImage: string;
  configPath: string;
  package: string;
  version: string;
}

/** Resolve debian:<series> to a cached bzImage and config, downloading the newest kernel when needed. */
export async function resolveDebianKernel(
  spec: string,
  series: string,
  opts: { mirror?: string; log: (line: string) => void; arch?: DebianArch },
): Promise<DebianKernel> {
  const arch = opts.arch ?? 'amd64';
  const log = (line: string): void => opts.log(`kernel ${spec}: ${line}`);
  if (!SERIES_RE.test(series)) {
    throw new SetupError(`kernel ${spec}: "${series}" is not a kernel series: give debian:<major>.<minor>, e.g. debian:6.12 or debian:7.3`);
  }
  const kernelsDir = kernelsDirOf(arch);
  const cached = cachedKernels(kernelsDir, series);
  const newest = cached[0];
  const useCached = (c: CachedKernel, why: string): DebianKernel => {
    log(`using cached ${c.package} ${c.version} (${why})`);
    return { bzImage: c.bzImage, configPath: c.configPath, package: c.package, version: c.version };
  };

  const missingTools = ['apt-get', 'apt-cache', 'dpkg-deb'].filter((t) => which(t) === undefined);
  if (missingTools.length > 0) {
    if (newest) return useCached(newest, `${missingTools.join(', ')} not found: not looking for a newer one`);
    throw new SetupError(`kernel ${spec} needs ${missingTools.join(', ')} (not found on PATH): install apt and dpkg, or give a bzImage or a kernel build tree`);
  }
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (mirror === undefined) {
    if (newest) return useCached(newest, 'no Debian mirror in the system apt sources: not looking for a newer one');
    throw new SetupError(`kernel ${spec}: no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list or /etc/apt/sources.list.d/: pass --mirror <URL of a Debian mirror>`);
  }
  if (!existsSync(DEBIAN_KEYRING)) {
    if (newest) return useCached(newest, `${DEBIAN_KEYRING} is missing: not looking for a newer one`);
    throw new SetupError(`kernel ${spec}: ${DEBIAN_KEYRING} is missing: install the package debian-archive-keyring`);
  }

  const apt = privateAptFor(arch, mirror);
  const suites = apt.suites;
  await apt.prepare();
  let age = apt.listsAgeMs();
  if (age === undefined || age > LISTS_MAX_AGE_MS) {
    log(`updating package lists (${suites.join(', ')}) from ${mirror}`);
    const t0 = Date.now();
    let failure = await apt.update(newest ? 60_000 : 180_000, log);
    // Another harness run is updating the same private lists: wait for it, then use its lists.
    for (let waited = 0; failure !== undefined && /Could not get lock/i.test(failure) && waited < 120_000; waited += 2000) {
      await new Promise((r) => setTimeout(r, 2000));
      const now = apt.listsAgeMs();
      if (now !== undefined && now < LISTS_MAX_AGE_MS) failure = undefined;
      else failure = await apt.update(newest ? 60_000 : 180_000, log);
    }
    if (failure !== undefined) {
      if (newest) return useCached(newest, `offline? ${failure}`);
      if (!apt.hasLists()) throw new SetupError(`kernel ${spec}: ${failure}: check the network, or pass --mirror <URL of a Debian mirror>`);
      log(`${failure}; going on with the old lists`);
    } else {
      age = 0;
      log(`package lists updated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }

  // Every usable kernel package in the lists, then the versions of those of this series.
  const names = await apt.pkgnames('linux-');
  const parsed = names.flatMap((pkg) => {
    const p = parseKernelPackage(pkg, arch);
    return p ? [{ pkg, ...p }] : [];
  });
  const wanted = parsed.filter((p) => seriesMatches(p.abi, series));
  if (wanted.length === 0) {
    const all = [...new Set(parsed.map((p) => seriesOf(p.abi)))].sort((a, b) => compareDebVersions(a, b));
    throw new SetupError(
      `kernel ${spec}: Debian has no ${arch} kernel of series ${series} in ${suites.join(', ')}: use one of ${all.map((s) => `debian:${s}`).join(', ') || '(none found: the package lists look empty)'}`,
    );
  }
  const bases = wanted.filter((w) => w.kind === 'binary').map((w) => basePackageOf(w.abi, arch));
  const versions = await apt.versions([...wanted.map((w) => w.pkg), ...bases]);
  const cands: KernelCandidate[] = [];
  for (const v of versions) {
    const w = wanted.find((x) => x.pkg === v.pkg);
    if (!w) continue;
    if (w.kind === 'binary') {
      const basePkg = basePackageOf(w.abi, arch);
      if (!versions.some((b) => b.pkg === basePkg && b.version === v.version)) continue;
      cands.push({ ...v, abi: w.abi, kind: w.kind, basePkg });
    } else {
      cands.push({ ...v, abi: w.abi, kind: w.kind });
    }
  }
  const choice = chooseCandidate(cands);
  if (!choice) throw new SetupError(`kernel ${spec}: the kernel packages of series ${series} (${wanted.map((w) => w.pkg).join(', ')}) have no complete version in the lists: delete ${apt.dir} and retry`);

  const hit = cached.find((c) => c.package === choice.pkg && c.version === choice.version);
  if (hit) return useCached(hit, `the newest in ${choice.suite}; package lists ${hours(age ?? 0)} old`);
  try {
    return await download(apt, choice, kernelsDir, arch, log);
  } catch (e) {
    // The lists were fresh but the mirror is gone now: an older kernel of the series beats none.
    if (newest && e instanceof SetupError) return useCached(newest, `the newer ${choice.pkg} ${choice.version} could not be fetched: ${e.message}`);
    throw e;
  }
}

async function download(apt: PrivateApt, choice: KernelCandidate, kernelsDir: string, arch: DebianArch, log: (line: string) => void): Promise<DebianKernel> {
  mkdirSync(kernelsDir, { recursive: true });
  sweepTemps(kernelsDir);
  return withTempDir(kernelsDir, '.tmp-', async (tmp) => {
    const items = [{ pkg: choice.pkg, version: choice.version }, ...(choice.basePkg ? [{ pkg: choice.basePkg, version: choice.version }] : [])];
    log(`downloading ${items.map((i) => i.pkg).join(' + ')} ${choice.version} (${choice.suite})`);
    const t0 = Date.now();
    const { root: x, bytes } = await apt.downloadUnpacked(items, tmp);
    log(`downloaded and unpacked ${(bytes / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const found = locateKernelFiles(x);
    if (!found) throw new SetupError(`${choice.pkg} ${choice.version} holds no vmlinuz and config where expected (boot/ or usr/lib/modules/<release>/): report this; give a bzImage meanwhile`);

    const stage = join(tmp, 'entry');
    mkdirSync(stage);
    renameSync(found.vmlinuz, join(stage, 'vmlinuz'));
    renameSync(found.config, join(stage, 'config'));
    const info = arch === 'amd64' ? readBzImageInfo(join(stage, 'vmlinuz')) : readArm64ImageInfo(join(stage, 'vmlinuz'));
    if (parseKernelConfig(readFileSync(join(stage, 'config'), 'utf8')).size === 0) {
      throw new SetupError(`${choice.pkg} ${choice.version}: its config has no CONFIG_ lines: report this; give a bzImage meanwhile`);
    }
    const meta = {
      package: choice.pkg,
      version: choice.version,
      abi: choice.abi,
      suite: choice.suite,
      release: releaseOf(info.version),
      ...(arch === 'amd64' ? {} : { arch }),
      downloadedAt: new Date().toISOString(),
      ...(choice.basePkg ? { basePackage: choice.basePkg } : {}),
      debBytes: bytes,
    };
    writeFileSync(join(stage, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const final = join(kernelsDir, entryName(choice.pkg, choice.version));
    try {
      renameSync(stage, final);
    } catch (e) {
      // Another run stored the same kernel meanwhile: use theirs.
      if (!existsSync(join(final, 'meta.json'))) throw e;
    }
    log(`stored ${meta.release} in ${final}`);
    return { bzImage: join(final, 'vmlinuz'), configPath: join(final, 'config'), package: choice.pkg, version: choice.version };
  });
}

/** The vmlinuz and config in an unpacked package tree: boot/{vmlinuz,config}-<rel> or usr/lib/modules/<rel>/{vmlinuz,config}. */
export function locateKernelFiles(root: string): { vmlinuz: string; config: string } | undefined {
  const ls = (d: string): string[] => {
    try {
      return readdirSync(d);
    } catch {
      return [];
    }
  };
  let vmlinuz: string | undefined;
  let config: string | undefined;
  for (const n of ls(join(root, 'boot'))) {
    if (n.startsWith('vmlinuz-')) vmlinuz ??= join(root, 'boot', n);
    if (n.startsWith('config-')) config ??= join(root, 'boot', n);
  }
  for (const mods of ['usr/lib/modules', 'lib/modules']) {
    for (const rel of ls(join(root, mods))) {
      const d = join(root, mods, rel);
      if (existsSync(join(d, 'vmlinuz'))) vmlinuz ??= join(d, 'vmlinuz');
      if (existsSync(join(d, 'config'))) config ??= join(d, 'config');
    }
  }
  return vmlinuz && config ? { vmlinuz, config } : undefined;
}

/** Remove temp dirs of runs that died more than a day ago. */
function sweepTemps(kernelsDir: string): void {
  for (const n of readdirSync(kernelsDir)) {
    if (!n.startsWith('.tmp-')) continue;
    try {
      if (Date.now() - statSync(join(kernelsDir, n)).mtimeMs > 24 * 3600_000) rmSync(join(kernelsDir, n), { recursive: true, force: true });
    } catch {
      /* raced with its owner */
    }
  }
}
