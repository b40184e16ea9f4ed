/**
 * Which tools build the kernel: the host's when they are new enough for the tree, otherwise a
 * cached Debian trixie build root (debootstrap, once, about a minute and 570 MB) from which only
 * pahole runs, through a small wrapper given to make as PAHOLE=. The versions a tree needs are
 * read from the tree (Documentation/process/changes.rst, scripts/min-tool-version.sh).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { discoverDebianMirror } from '../host/apt.js';
import { which } from '../util/which.js';
import { registerChild } from '../util/children.js';
import { SetupError } from '../util/errors.js';
import { cacheDir } from '../util/paths.js';

export const BUILD_ROOT_SUITE = 'trixie';
export const BUILD_ROOT_PACKAGES = ['gcc', 'make', 'flex', 'bison', 'bc', 'libelf-dev', 'libssl-dev', 'pahole', 'python3'];
const DEBOOTSTRAP_TIMEOUT_MS = 20 * 60_000;

/** '1.24' from 'v1.24', '12.2.0' from a gcc banner; undefined when there is no version. */
export function parseVersion(text: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The minimum version of `tool` in the tree's Documentation/process/changes.rst table ("pahole   1.26   pahole --version"). */
export function minimumFromChanges(tree: string, tool: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(tree, 'Documentation', 'process', 'changes.rst'), 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${tool.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+(\\d+\\.\\d+(?:\\.\\d+)?)\\s`, 'mi').exec(text);
  return m?.[1];
}

export async function toolVersion(cmd: string, args: string[] = ['--version']): Promise<string | undefined> {
  const r = await execa(cmd, args, { reject: false, timeout: 20_000, stdin: 'ignore' });
  if (r.failed) return undefined;
  return parseVersion(String(r.stdout).split('\n')[0] ?? '');
}

export interface Toolchain {
  /** First line of `gcc --version`. */
  compiler: string;
  /** The PAHOLE= value for make, or undefined for the host's pahole. */
  paholeCmd?: string;
  /** 'host 1.30' or 'trixie build root 1.30'. */
  pahole: string;
  /** The one line that says what was chosen and why. */
  note: string;
  buildRoot?: string;
}

export function buildRootDir(): string {
  return join(cacheDir(), 'buildroot', BUILD_ROOT_SUITE);
}

/**
 * Choose the tools. `needPahole`: the fragments ask for BTF. The build root is created when the
 * host's pahole is missing or older than the tree asks for.
 */
export async function chooseToolchain(tree: string, needPahole: boolean, opts: { mirror?: string; log: (line: string) => void }): Promise<Toolchain> {
  const gccBanner = await execa('gcc', ['--version'], { reject: false, timeout: 20_000, stdin: 'ignore' });
  if (gccBanner.failed) throw new SetupError('no gcc on PATH: install gcc (npm run setup does)');
  const compiler = String(gccBanner.stdout).split('\n')[0]!.trim();
  const gccMin = await minToolVersion(tree, 'gcc');
  const gccVer = parseVersion(compiler.replace(/^.*\)\s*/, ''));
  if (gccMin && gccVer && compareVersions(gccVer, gccMin) < 0) {
    throw new SetupError(`gcc ${gccVer} is older than ${gccMin}, which this tree needs (scripts/min-tool-version.sh): install a newer gcc`);
  }
  for (const t of ['make', 'flex', 'bison', 'bc']) {
    if (!which(t)) throw new SetupError(`${t} is not installed, the kernel build needs it: run npm run setup (or apt-get install ${t})`);
  }
  if (!needPahole) return { compiler, pahole: 'not needed', note: 'toolchain: host gcc; no BTF, so no pahole' };

  const need = minimumFromChanges(tree, 'pahole') ?? '1.22';
  const hostPahole = which('pahole') ? await toolVersion('pahole') : undefined;
  if (hostPahole && compareVersions(hostPahole, need) >= 0) {
    return { compiler, pahole: `host ${hostPahole}`, note: `toolchain: host gcc and pahole ${hostPahole} (the tree needs ${need})` };
  }
  const why = hostPahole ? `the host's pahole ${hostPahole} is older than ${need}, which this tree needs (Documentation/process/changes.rst)` : `no pahole on the host (this tree needs ${need} for BTF)`;
  const root = await ensureBuildRoot(opts);
  const ver = await toolVersion('chroot', [root, 'pahole', '--version']);
  if (!ver || compareVersions(ver, need) < 0) throw new SetupError(`the ${BUILD_ROOT_SUITE} build root's pahole ${ver ?? '(broken)'} is older than ${need}: delete ${root} and retry`);
  return {
    compiler,
    pahole: `${BUILD_ROOT_SUITE} build root ${ver}`,
    note: `toolchain: ${why}: running pahole ${ver} from the cached ${BUILD_ROOT_SUITE} build root ${root}, host gcc for the rest`,
    buildRoot: root,
  };
}

export async function minToolVersion(tree: string, tool: string): Promise<string | undefined> {
  const script = join(tree, 'scripts', 'min-tool-version.sh');
  if (!existsSync(script)) return undefined;
  const r = await execa('sh', [script, tool], { reject: false, timeout: 10_000, stdin: 'ignore', env: { ARCH: 'x86_64', SRCARCH: 'x86' } });
  return r.failed ? undefined : parseVersion(String(r.stdout));
}

/** The cached trixie build root, created with debootstrap from the system's Debian mirror when absent. */
export async function ensureBuildRoot(opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const root = buildRootDir();
  const stamp = join(root, '.bpfh-ready');
  if (existsSync(stamp)) return root;
  if (process.getuid?.() !== 0) throw new SetupError(`creating the ${BUILD_ROOT_SUITE} build root (debootstrap) needs root: run the build once as root, or install pahole >= the tree's minimum on the host`);
  if (!which('debootstrap')) throw new SetupError(`debootstrap is not installed, it is needed for the ${BUILD_ROOT_SUITE} build root: apt-get install debootstrap (npm run setup does)`);
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (!mirror) throw new SetupError('no Debian mirror (a URI ending in /debian) in the system apt sources for the build root: pass --mirror <URL of a Debian mirror>');
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  opts.log(`build root: debootstrap ${BUILD_ROOT_SUITE} (minbase + ${BUILD_ROOT_PACKAGES.join(',')}) into ${root}; about a minute`);
  const t0 = Date.now();
  const child = execa('nice', ['-n', '19', 'debootstrap', '--variant=minbase', `--include=${BUILD_ROOT_PACKAGES.join(',')}`, BUILD_ROOT_SUITE, tmp, mirror], {
    reject: false,
    timeout: DEBOOTSTRAP_TIMEOUT_MS,
    stdin: 'ignore',
    all: true,
  });
  registerChild(child);
  const r = await child;
  if (r.failed) {
    const tail = String(r.all ?? '').trim().split('\n').slice(-5).join('\n');
    rmSync(tmp, { recursive: true, force: true });
    throw new SetupError(`debootstrap ${BUILD_ROOT_SUITE} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}); check the network and the mirror ${mirror}:\n${tail}`);
  }
  writeFileSync(join(tmp, '.bpfh-ready'), `${JSON.stringify({ suite: BUILD_ROOT_SUITE, packages: BUILD_ROOT_PACKAGES, createdAt: new Date().toISOString() })}\n`);
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  opts.log(`build root: ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return root;
}

/**
 * The PAHOLE= wrapper for one build: a private mount namespace, the source tree and the output
 * directory bind-mounted into the build root at the same paths, then pahole in a chroot in the
 * same directory make runs it from. The mounts vanish with the namespace.
 */
export function writePaholeWrapper(path: string, root: string, dirs: readonly string[]): string {
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const mounts = dirs.map((d) => `mount --bind ${q(d)} ${q(join(root, d))}`).join(' && ');
  const unshare = process.getuid?.() === 0 ? 'unshare --mount --propagation private' : 'unshare --map-root-user --mount --propagation private';
  const text = `#!/bin/sh\n# Written by bpf-storage-harness: pahole from the ${BUILD_ROOT_SUITE} build root (harness/kernel-build/toolchain.ts).\nexec ${unshare} /bin/sh -c ${q(`${mounts} && exec chroot ${q(root)} /bin/sh -c 'cd "$0" && exec pahole "$@"' "$PWD" "$@"`)} sh "$@"\n`;
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}
