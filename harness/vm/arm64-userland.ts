/**
 * The arm64 guest's own programs (harness/vm/ssh-guest.ts with arch aarch64): busybox and
 * OpenSSH's sshd of Debian's arm64 packages (bookworm, through the arm64 private apt; the host's
 * are x86 programs), with the loader and every shared library sshd needs. Which libraries: the
 * NEEDED entries of sshd and of each library, read with readelf (the arm64 loader cannot run
 * here); one that none of ARM64_USERLAND_PACKAGES holds is an error naming it. Kept unpacked in
 * cacheDir()/guest-arm64/<versions>/; once there, no apt is needed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { arm64Versions, CROSS_SUITE, fetchArm64Debs, type DebOpts } from '../cross/libs.js';
import { SetupError } from '../util/errors.js';
import { newestCacheEntry, publishCacheEntry } from '../util/cache-entry.js';
import { cacheDir } from '../util/paths.js';
import { withTempDir } from '../util/temp-dir.js';
import type { CpioEntry } from './initramfs.js';

/** busybox, sshd and the packages of the libraries bookworm's sshd loads, directly or through another library. */
export const ARM64_USERLAND_PACKAGES = [
  'busybox-static', 'openssh-server', 'libc6', 'libcrypt1', 'libwrap0', 'libnsl2', 'libtirpc3', 'libaudit1', 'libcap-ng0', 'libpam0g',
  'libsystemd0', 'libcap2', 'libgcrypt20', 'libgpg-error0', 'liblz4-1', 'liblzma5', 'libzstd1', 'libselinux1', 'libpcre2-8-0',
  'libgssapi-krb5-2', 'libkrb5-3', 'libk5crypto3', 'libkrb5support0', 'libkeyutils1', 'libcom-err2', 'libssl3', 'zlib1g',
] as const;
export const ARM64_LOADER = 'ld-linux-aarch64.so.1';
/** Where the guest's loader finds them: a multiarch directory Debian's ld.so searches without an ld.so.cache. */
export const ARM64_LIB_DIR = 'lib/aarch64-linux-gnu';

interface Index {
  packages: string[];
  /** Relative to the entry: bin/busybox, sbin/sshd, lib/<soname>... */
  busybox: string;
  sshd: string;
  libraries: string[];
}

export interface Arm64Userland {
  busybox: string;
  sshd: string;
  /** The loader first, then the libraries, by soname. */
  libraries: string[];
}

/** The sonames an ELF file needs (readelf -d reads any architecture's). */
export function parseNeeded(readelfDynamic: string): string[] {
  return [...readelfDynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]!);
}

async function needed(file: string): Promise<string[]> {
  const r = await execa('readelf', ['-d', file], { timeout: 30_000, reject: false, stdin: 'ignore' });
  if (r.failed) throw new SetupError(`readelf -d ${basename(file)} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): install binutils`);
  return parseNeeded(String(r.stdout));
}

/** The loader and the closure of sshd's libraries, found in the unpacked packages under `root`. */
async function closure(root: string, sshd: string): Promise<string[]> {
  const dirs = ['lib/aarch64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'lib', 'usr/lib'].map((d) => join(root, d));
  const find = (soname: string): string | undefined => dirs.map((d) => join(d, soname)).find((p) => existsSync(p));
  const out = new Map<string, string>();
  const pending = [ARM64_LOADER, ...(await needed(sshd))];
  while (pending.length > 0) {
    const so = pending.shift()!;
    if (out.has(so)) continue;
    const file = find(so);
    if (!file) throw new SetupError(`the arm64 sshd needs ${so}, which none of its packages holds: add its package to ARM64_USERLAND_PACKAGES (harness/vm/arm64-userland.ts)`);
    out.set(so, file);
    pending.push(...(await needed(file)).filter((n) => !out.has(n)));
  }
  return [...out.values()];
}

/** The cache entry, made the first time. */
export async function arm64Userland(opts: DebOpts): Promise<Arm64Userland> {
  const root = join(cacheDir(), 'guest-arm64');
  const entry = newestCacheEntry(root, (e) => existsSync(join(e, 'index.json'))) ?? (await fetchUserland(root, opts));
  const index = JSON.parse(readFileSync(join(entry, 'index.json'), 'utf8')) as Index;
  return { busybox: join(entry, index.busybox), sshd: join(entry, index.sshd), libraries: index.libraries.map((l) => join(entry, l)) };
}

async function fetchUserland(root: string, opts: DebOpts): Promise<string> {
  const what = "the arm64 guest's busybox and sshd";
  const items = await arm64Versions(ARM64_USERLAND_PACKAGES, CROSS_SUITE, what, opts);
  mkdirSync(root, { recursive: true });
  return withTempDir(root, '.tmp-', async (tmp) => {
    opts.log(`downloading busybox, openssh-server and ${items.length - 2} library packages (arm64, ${CROSS_SUITE}) for the arm64 guest`);
    const x = await fetchArm64Debs(items, tmp, what, opts);
    const sshd = join(x, 'usr', 'sbin', 'sshd');
    const busybox = join(x, 'bin', 'busybox');
    for (const p of [sshd, busybox]) if (!existsSync(p)) throw new SetupError(`${what}: the packages hold no ${p.slice(x.length + 1)}: report this`);
    const libs = await closure(x, sshd);
    const stage = join(tmp, 'entry');
    mkdirSync(join(stage, 'lib'), { recursive: true });
    mkdirSync(join(stage, 'bin'));
    writeFileSync(join(stage, 'bin', 'busybox'), readFileSync(busybox));
    writeFileSync(join(stage, 'bin', 'sshd'), readFileSync(sshd));
    for (const l of libs) writeFileSync(join(stage, 'lib', basename(l)), readFileSync(l));
    const index: Index = { packages: items.map((i) => `${i.pkg} ${i.version}`), busybox: 'bin/busybox', sshd: 'bin/sshd', libraries: libs.map((l) => join('lib', basename(l))) };
    writeFileSync(join(stage, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
    const dest = publishCacheEntry(stage, root, createHash('sha256').update(index.packages.join('\n')).digest('hex').slice(0, 16));
    opts.log(`kept the arm64 busybox, sshd and ${libs.length} libraries in ${dest}`);
    return dest;
  });
}

/** sshd at /usr/sbin/sshd, the loader where sshd's interpreter path names it, the libraries in the multiarch directory. */
export function arm64SshdEntries(u: Arm64Userland): CpioEntry[] {
  const file = (path: string, from: string, mode = 0o755): CpioEntry => ({ path, type: 'file', mode, data: readFileSync(from) });
  return [
    file('usr/sbin/sshd', u.sshd),
    ...u.libraries.map((l) => file(basename(l) === ARM64_LOADER ? `lib/${ARM64_LOADER}` : `${ARM64_LIB_DIR}/${basename(l)}`, l)),
  ];
}
