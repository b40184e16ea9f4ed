/**
 * bpftool for the guests a user gets a shell in (`bpf-harness shell`, `vm-test --shell-on-fail`):
 * Debian's own `bpftool` package, fetched through the private apt (host/apt.ts) with the
 * packages of the shared libraries it needs, all from one suite (trixie: stable, so the
 * versions and the cache entry stay put). Those libraries need a newer glibc than the host may
 * have, so bpftool gets its own loader and libraries under /opt/bpftool/ in the guest, apart
 * from the host's libraries that sshd and the selftests' runners bring, and a /usr/sbin/bpftool
 * script that runs it through that loader. Which libraries it needs is asked of its own loader
 * (`ld.so --list`, what ldd does), and a library none of the packages holds is an error naming
 * it. Kept unpacked in cacheDir()/guest-bpftool/<version>/; once there, no apt is needed.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { DEBIAN_KEYRING, PrivateApt, discoverDebianMirror } from '../host/apt.js';
import { firstLine } from '../util/first-line.js';
import { SetupError } from '../util/errors.js';
import { withTempDir } from '../util/temp-dir.js';
import { newestCacheEntry, publishCacheEntry } from '../util/cache-entry.js';
import { cacheDir } from '../util/paths.js';
import { parseLdd } from './guest-image.js';
import type { CpioEntry } from './initramfs.js';

/** The suite bpftool and its libraries come from. */
export const BPFTOOL_SUITE = 'trixie';
/**
 * bpftool (libbpf is linked in) and the packages of the libraries trixie's bpftool and its
 * libraries load: libc6 (with the loader), libcap2, libelf1t64 (which needs zlib1g, libzstd1).
 */
export const BPFTOOL_PACKAGES = ['bpftool', 'libc6', 'libcap2', 'libelf1t64', 'zlib1g', 'libzstd1'] as const;
/** Where it lives in the guest. */
export const GUEST_BPFTOOL_DIR = 'opt/bpftool';
const LOADER = 'ld-linux-x86-64.so.2';

interface Index {
  version: string;
  packages: string[];
  /** The program and the libraries its loader listed, relative to the entry. */
  program: string;
  libraries: string[];
}

/** The /usr/sbin/bpftool of the guest: bpftool under its own loader and libraries, kept in `dir` (the initramfs's, or the cache entry a vng guest reads over 9p). */
export function bpftoolWrapper(dir = `/${GUEST_BPFTOOL_DIR}`): string {
  return `#!/bin/sh\nexec ${dir}/lib/${LOADER} --library-path ${dir}/lib --argv0 bpftool ${dir}/bpftool "$@"\n`;
}

/**
 * The wrapper for a vng guest, whose root is this machine's: it runs bpftool straight from its
 * cache entry (the same files the initramfs carries), which the guest sees at the same path.
 */
export async function hostBpftoolWrapper(opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const entry = await cachedBpftool(opts);
  // The wrapper execs the loader: entries kept before the cache wrote it executable get the bit now.
  chmodSync(join(entry, 'lib', LOADER), 0o755);
  return bpftoolWrapper(entry);
}

/** Initramfs entries for bpftool: the program, its loader and libraries, and the wrapper script. */
export async function guestBpftoolEntries(opts: { mirror?: string; log: (line: string) => void }): Promise<CpioEntry[]> {
  const entry = await cachedBpftool(opts);
  const index = JSON.parse(readFileSync(join(entry, 'index.json'), 'utf8')) as Index;
  const file = (path: string, from: string, mode: number): CpioEntry => ({ path, type: 'file', mode, data: readFileSync(join(entry, from)) });
  return [
    file(`${GUEST_BPFTOOL_DIR}/bpftool`, index.program, 0o755),
    ...index.libraries.map((l) => file(`${GUEST_BPFTOOL_DIR}/lib/${basename(l)}`, l, 0o755)),
    { path: 'usr/sbin/bpftool', type: 'file', mode: 0o755, data: Buffer.from(bpftoolWrapper()) },
  ];
}

/** The cache entry of trixie's bpftool, made the first time. */
async function cachedBpftool(opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const root = join(cacheDir(), 'guest-bpftool');
  const have = newestCacheEntry(root, (e) => existsSync(join(e, 'index.json')));
  if (have) return have;

  const mirror = opts.mirror ?? discoverDebianMirror();
  if (mirror === undefined) throw new SetupError('the guest needs bpftool from Debian, and there is no Debian mirror in the system apt sources: pass --mirror <URL of a Debian mirror>');
  if (!existsSync(DEBIAN_KEYRING)) throw new SetupError(`bpftool: ${DEBIAN_KEYRING} is missing: install the package debian-archive-keyring`);
  const apt = new PrivateApt(join(cacheDir(), 'apt'), mirror);
  await apt.prepare();
  if (!apt.hasLists()) {
    opts.log(`updating the private package lists from ${mirror} for bpftool`);
    const failure = await apt.update(180_000, opts.log);
    if (failure !== undefined) throw new SetupError(`bpftool: ${failure}: check the network, or pass --mirror <URL of a Debian mirror>`);
  }
  const items = await apt.versionsIn(BPFTOOL_PACKAGES, BPFTOOL_SUITE, 'the guest\'s bpftool');
  const version = items[0]!.version;
  mkdirSync(root, { recursive: true });
  return withTempDir(root, '.tmp-', async (tmp) => {
    opts.log(`downloading bpftool ${version} and its libraries (${items.slice(1).map((i) => i.pkg).join(', ')}) from ${BPFTOOL_SUITE} for the guest`);
    const { root: x } = await apt.downloadUnpacked(items, tmp, 120_000);
    const stage = join(tmp, 'entry');
    mkdirSync(join(stage, 'lib'), { recursive: true });
    const program = join(x, 'usr', 'sbin', 'bpftool');
    if (!existsSync(program)) throw new SetupError(`bpftool ${version} has no usr/sbin/bpftool: report this`);
    const libraries = await neededLibraries(x, program);
    // Executable as in the initramfs: a vng guest runs them from here (hostBpftoolWrapper).
    writeFileSync(join(stage, 'bpftool'), readFileSync(program), { mode: 0o755 });
    for (const l of libraries) writeFileSync(join(stage, 'lib', basename(l)), readFileSync(l), { mode: 0o755 });
    const index: Index = { version, packages: items.map((i) => `${i.pkg} ${i.version}`), program: 'bpftool', libraries: libraries.map((l) => join('lib', basename(l))) };
    writeFileSync(join(stage, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
    const dest = publishCacheEntry(stage, root, version.replace(/[^A-Za-z0-9.+~-]/g, '_'));
    opts.log(`kept bpftool ${version} with ${libraries.length} libraries in ${dest}`);
    return dest;
  });
}

/**
 * The loader and libraries `program` loads, as its own loader (from the unpacked packages under
 * `root`) lists them: the host's ldd would use the host's older glibc. A library that is
 * "not found" is an error naming it (the package list above is then short of one).
 */
async function neededLibraries(root: string, program: string): Promise<string[]> {
  const libDirs = [join(root, 'usr', 'lib', 'x86_64-linux-gnu'), join(root, 'lib', 'x86_64-linux-gnu')].filter((d) => existsSync(d));
  const loader = [join(root, 'usr', 'lib64', LOADER), join(root, 'lib64', LOADER), ...libDirs.map((d) => join(d, LOADER))].find((p) => existsSync(p));
  if (!loader) throw new SetupError(`libc6 of ${BPFTOOL_SUITE} has no ${LOADER}: report this`);
  const r = await execa(loader, ['--library-path', libDirs.join(':'), '--list', program], { timeout: 30_000, reject: false, stdin: 'ignore' });
  const missing = String(r.stdout).split('\n').filter((l) => /not found/.test(l)).map((l) => l.trim().split(/\s/)[0]);
  if (missing.length > 0) throw new SetupError(`bpftool needs ${missing.join(', ')}, which none of ${BPFTOOL_PACKAGES.join(', ')} holds: add its package to BPFTOOL_PACKAGES (harness/vm/guest-bpftool.ts)`);
  if (r.failed) throw new SetupError(`${LOADER} --list bpftool failed: ${firstLine(r.stderr) || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}`);
  const listed = parseLdd(String(r.stdout));
  // The loader lists itself by the path the program names (/lib64/...): take ours instead.
  const libs = listed.filter((p) => basename(p) !== LOADER);
  for (const l of libs) if (!l.startsWith(root)) throw new SetupError(`bpftool's loader took ${l} from this machine instead of the ${BPFTOOL_SUITE} packages: report this`);
  return [loader, ...libs];
}
