/**
 * Turn what the user gave (--kernel) into a validated bzImage plus its parsed config:
 *  - debian:<series>       the newest Debian amd64 kernel of that series (debian.ts)
 *  - a kernel build tree   <dir>/arch/x86/boot/bzImage with <dir>/.config (an in-tree build), or a
 *                          clean source tree: a TreeToBuild, which kernel-build/ builds out of
 *                          tree (when missing or stale) and loadBuiltTree() turns into an image
 *  - a bzImage file        with its config from opts.config or found next to it
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SetupError } from '../util/errors.js';
import { readArm64ImageInfo, readBzImageInfo, releaseOf } from './bzimage.js';
import { parseKernelConfig } from './config.js';
import { resolveDebianKernel } from './debian.js';

export interface KernelImage {
  /** What the user gave: 'debian:7.3', a path, ... */
  spec: string;
  /** Absolute path of a validated bzImage. */
  bzImage: string;
  /** Absolute path of the kernel's .config. */
  configPath: string;
  /** CONFIG_X -> 'y' | 'm' | '"str"' | number text; unset options absent. */
  config: Map<string, string>;
  /** The first word of the header's version string, as uname -r prints it: '7.3-amd64'. */
  release: string;
  /** The whole version string from the bzImage header. */
  version: string;
  source: 'debian' | 'bzimage' | 'tree';
}

/** A clean kernel source tree (no in-tree build): its image is the one the harness builds out of tree. */
export interface TreeToBuild {
  needsBuild: true;
  /** What the user gave. */
  spec: string;
  /** The tree's absolute path. */
  tree: string;
  /** The kernel for the tree's BPF selftests (ResolveOptions.selftests). */
  selftests?: { debug?: boolean };
}

/** Whether resolveKernel() said the tree needs a build first. */
export function needsBuild(k: KernelImage | TreeToBuild): k is TreeToBuild {
  return 'needsBuild' in k;
}

export interface ResolveOptions {
  /** Debian mirror URI (ending in /debian) for debian:<series>; default: the one the system's apt uses. */
  mirror?: string;
  /** The kernel's config for a bare bzImage (or to override a tree's .config). */
  config?: string;
  /**
   * The kernel for the tree's BPF selftests (kernel-build.ts `selftests`): only a source tree
   * can give it. `debug` undefined: as the tree's last selftests build, else the base config.
   */
  selftests?: { debug?: boolean };
  log: (line: string) => void;
}

const USAGE = 'give a bzImage, a kernel build tree or debian:<series>';

const SELFTESTS_NEED_TREE = 'the BPF selftests are built from the kernel source tree, with the kernel: give --kernel <kernel source tree>';

export async function resolveKernel(spec: string, opts: ResolveOptions): Promise<KernelImage | TreeToBuild> {
  if (opts.selftests && spec.startsWith('debian:')) throw new SetupError(`${spec} is a packaged kernel and ${SELFTESTS_NEED_TREE} (apt-get source linux, or the unpacked linux-source package)`);
  if (spec.startsWith('debian:')) {
    const deb = await resolveDebianKernel(spec, spec.slice('debian:'.length), opts);
    return load(spec, 'debian', deb.bzImage, opts.config ? resolve(opts.config) : deb.configPath, opts);
  }
  const path = resolve(spec);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new SetupError(`kernel ${spec} does not exist: ${USAGE}`);
  }
  if (st.isDirectory()) {
    if (!existsSync(join(path, 'Makefile'))) throw new SetupError(`${spec} is a directory but not a kernel build tree (no Makefile): ${USAGE}`);
    // A clean source tree (no in-tree build): built out of tree by the harness first, a no-op
    // when its build key is unchanged (harness/kernel-build/).
    if (!opts.config && !existsSync(join(path, '.config')) && existsSync(join(path, 'Kconfig')) && existsSync(join(path, 'arch', 'x86'))) {
      return { needsBuild: true, spec, tree: path, ...(opts.selftests ? { selftests: opts.selftests } : {}) };
    }
    if (opts.selftests) throw new SetupError(`${spec} is ${existsSync(join(path, '.config')) ? 'a tree with an in-tree build' : 'not a clean kernel source tree'}, and ${SELFTESTS_NEED_TREE} the harness builds out of tree (run make mrproper in it first)`);
    const bzImage = join(path, 'arch', 'x86', 'boot', 'bzImage');
    if (!existsSync(bzImage)) throw new SetupError(`${spec} has no arch/x86/boot/bzImage: build it first (make bzImage)`);
    const configPath = opts.config ? resolve(opts.config) : join(path, '.config');
    if (!existsSync(configPath)) throw new SetupError(`${spec} has no .config: configure and build it first (make olddefconfig bzImage)`);
    return load(spec, 'tree', bzImage, configPath, opts);
  }
  if (opts.selftests) throw new SetupError(`${spec} is a bzImage and ${SELFTESTS_NEED_TREE}`);
  const info = readBzImageInfo(path);
  const configPath = opts.config ? resolve(opts.config) : findConfigNextTo(path, releaseOf(info.version));
  if (configPath === undefined) {
    throw new SetupError(`no config found for ${spec} (looked for config-${releaseOf(info.version)}, .config and config next to it): pass --config <its .config>`);
  }
  return load(spec, 'bzimage', path, configPath, opts);
}

/**
 * debian:<series> of arm64: the Image and config of Debian's arm64 kernel (debian.ts, cached in
 * kernels-arm64/). vm-test never boots it; the arm64 SSH target guest of the tests does.
 */
export async function resolveArm64DebianKernel(spec: string, opts: Pick<ResolveOptions, 'mirror' | 'log'>): Promise<KernelImage> {
  if (!spec.startsWith('debian:')) throw new SetupError(`kernel ${spec}: an arm64 guest boots debian:<series> only`);
  const deb = await resolveDebianKernel(spec, spec.slice('debian:'.length), { ...opts, arch: 'arm64' });
  const info = readArm64ImageInfo(deb.bzImage);
  const config = parseKernelConfig(readFileSync(deb.configPath, 'utf8'));
  return { spec, bzImage: deb.bzImage, configPath: deb.configPath, config, release: releaseOf(info.version), version: info.version, source: 'debian' };
}

/** The image of a tree the harness built out of tree (a TreeToBuild, once built). */
export function loadBuiltTree(spec: string, built: { bzImage: string; configPath: string }, opts: Pick<ResolveOptions, 'log'>): KernelImage {
  return load(spec, 'tree', built.bzImage, built.configPath, opts);
}

/**
 * The config of a bare bzImage, looked for next to it: config-<release>, config-<suffix> for a
 * vmlinuz-<suffix>, .config, config, the only config-* there, or the tree's .config when the
 * bzImage is <tree>/arch/x86/boot/bzImage.
 */
export function findConfigNextTo(bzImage: string, release: string): string | undefined {
  const dir = dirname(bzImage);
  const name = basename(bzImage);
  const tries = [`config-${release}`];
  const m = /^(?:vmlinuz|bzImage|vmlinux)-(.+)$/.exec(name);
  if (m) tries.push(`config-${m[1]}`);
  tries.push('.config', 'config');
  for (const t of tries) {
    const p = join(dir, t);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  let others: string[] = [];
  try {
    others = readdirSync(dir).filter((n) => n.startsWith('config-'));
  } catch {
    /* none */
  }
  if (others.length === 1) return join(dir, others[0]!);
  const treeConfig = resolve(dir, '..', '..', '..', '.config');
  if (/[/\\]arch[/\\]x86[/\\]boot$/.test(dir) && existsSync(treeConfig)) return treeConfig;
  return undefined;
}

function load(spec: string, source: KernelImage['source'], bzImage: string, configPath: string, opts: Pick<ResolveOptions, 'log'>): KernelImage {
  const info = readBzImageInfo(bzImage);
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    throw new SetupError(`the config ${configPath} of kernel ${spec} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}): pass --config <its .config>`);
  }
  const config = parseKernelConfig(text);
  if (config.size === 0) throw new SetupError(`${configPath} is not a kernel config (no CONFIG_ lines): pass --config <its .config>`);
  const release = releaseOf(info.version);
  // A config from another kernel is an easy mistake with bare bzImages: say so, don't refuse.
  const header = /^# Linux\/\S+ (\d+\.\d+)\S* Kernel Configuration/m.exec(text);
  const series = /^\d+\.\d+/.exec(release)?.[0];
  if (header && series && header[1] !== series) {
    opts.log(`kernel ${spec}: warning: ${configPath} is a config for Linux ${header[1]}, the bzImage is ${release}`);
  }
  return { spec, bzImage: resolve(bzImage), configPath: resolve(configPath), config, release, version: info.version, source };
}
