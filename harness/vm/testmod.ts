/**
 * bpf/testmod/bpfh_warn.ko built for a Debian kernel, for the kernel-log self-test
 * (`--inject-fault kernel-warn`) and for recording real reports as scanner fixtures.
 *
 * Debian ships no headers for the harness's host compiler, so the module is built out of tree
 * against linux-source-<series> (the same Debian source as the kernel package) prepared with
 * the kernel's own config: `olddefconfig` + `modules_prepare` in an O= directory, with
 * KERNELRELEASE set to the guest's `uname -r` so vermagic matches. Two details keep the
 * module's view of the kernel's structures the same as the kernel's:
 *  - olddefconfig with the host's tools drops what depends on the Debian build's tools. Options
 *    behind pahole's version include CONFIG_DEBUG_INFO_BTF_MODULES, which adds fields to struct
 *    module (the kernel refuses a module whose struct module has another size). pahole never
 *    runs here (there is no vmlinux in the O= directory, so the module gets no BTF), so make gets
 *    a PAHOLE= shim that only answers --version with the version in the kernel's config.
 *  - Without Module.symvers (no vmlinux is built) modpost cannot see the kernel's exports: it is
 *    told to warn (KBUILD_MODPOST_WARN=1) and the kernel resolves the symbols at load. Debian's
 *    kernels have no CONFIG_MODVERSIONS, so there are no CRCs to match.
 * The prepared directory is cached by (source tree, config, release, compiler), the module by
 * that and its source. Unsigned, it loads on Debian's kernels (MODULE_SIG without
 * MODULE_SIG_FORCE) and taints them (E, O), which the kernel log says.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { KernelImage } from '../kernel/resolve.js';
import { ensureLinuxSource } from '../kernel-build/linux-source.js';
import { SetupError } from '../util/errors.js';
import { withTempDir } from '../util/temp-dir.js';
import { cacheDir, projectRoot } from '../util/paths.js';

export const TESTMOD_NAME = 'bpfh_warn';
/** Where the module sits in the guest's initramfs. */
export const TESTMOD_GUEST_PATH = `/lib/bpfh/${TESTMOD_NAME}.ko`;
const SOURCE_DIR = join(projectRoot, 'bpf', 'testmod');
const MAKE_TIMEOUT_MS = 15 * 60_000;

export interface BuiltTestModule {
  path: string;
  /** Wall time of this call: preparing the tree (first time) and building the module. */
  elapsedMs: number;
  cached: boolean;
}

function sha(parts: readonly (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The Debian package version in a bzImage's version string ("... Debian 7.3~rc7-1~exp1 (2026-10-16)"). */
export function debianVersionOf(version: string): string | undefined {
  return /\bDebian (\S+)/.exec(version)?.[1];
}

async function run(cmd: string, args: string[], cwd: string, logFile: string): Promise<void> {
  const r = await execa('nice', [cmd, ...args], { cwd, reject: false, timeout: MAKE_TIMEOUT_MS, stdin: 'ignore', all: true });
  writeFileSync(logFile, `$ ${cmd} ${args.join(' ')}\n${r.all ?? ''}\n`, { flag: 'a' });
  if (r.failed) throw new SetupError(`building the test module: ${cmd} ${args.slice(-1)[0]} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}); see ${logFile}`);
}

/** Debian's kernel config, prepared for out-of-tree modules in an O= directory (cached). */
async function preparedTree(tree: string, kernel: KernelImage, gcc: string, log: (line: string) => void): Promise<{ obj: string; makeArgs: string[] }> {
  const config = readFileSync(kernel.configPath);
  const paholeVersion = kernel.config.get('CONFIG_PAHOLE_VERSION') ?? '0';
  const key = sha([tree, config, kernel.release, gcc, paholeVersion]);
  const root = join(cacheDir(), 'testmod');
  const obj = join(root, `prepared-${key}`);
  const shim = join(root, `pahole-${paholeVersion}`);
  const makeArgs = ['-C', tree, `O=${obj}`, `KERNELRELEASE=${kernel.release}`, `PAHOLE=${shim}`];
  if (existsSync(join(obj, '.prepared'))) return { obj, makeArgs };

  mkdirSync(root, { recursive: true });
  const n = Number(paholeVersion);
  writeFileSync(shim, `#!/bin/sh\n# pahole as the kernel's build saw it, for Kconfig only (see harness/vm/testmod.ts)\n[ "$1" = --version ] && { echo v${Math.floor(n / 100)}.${n % 100}; exit 0; }\necho "pahole shim: only --version" >&2\nexit 1\n`);
  chmodSync(shim, 0o755);
  rmSync(obj, { recursive: true, force: true });
  mkdirSync(obj, { recursive: true });
  copyFileSync(kernel.configPath, join(obj, '.config'));
  const logFile = join(obj, 'prepare.log');
  log(`test module: preparing ${tree} with ${kernel.spec}'s config (olddefconfig + modules_prepare, once)`);
  await run('make', [...makeArgs, 'olddefconfig'], root, logFile);
  await run('make', [...makeArgs, `-j${Math.max(1, Math.min(4, availableParallelism()))}`, 'modules_prepare'], root, logFile);
  const released = readFileSync(join(obj, 'include', 'config', 'kernel.release'), 'utf8').trim();
  if (released !== kernel.release) throw new SetupError(`test module: the prepared tree says ${released}, the kernel ${kernel.release}: report this`);
  writeFileSync(join(obj, '.prepared'), `${new Date().toISOString()}\n`);
  return { obj, makeArgs };
}

/**
 * The module for `kernel` (a debian:<series> kernel), built once and cached. Only Debian
 * kernels: their linux-source package is the same source at the same version.
 */
export async function ensureTestModule(kernel: KernelImage, opts: { mirror?: string; log: (line: string) => void }): Promise<BuiltTestModule> {
  const t0 = Date.now();
  if (kernel.source !== 'debian') throw new SetupError(`the test module is built for Debian kernels only, and ${kernel.spec} is a ${kernel.source}: use --kernel debian:<series>`);
  if (kernel.config.get('CONFIG_MODULES') !== 'y') throw new SetupError(`${kernel.spec} has no CONFIG_MODULES: the test module cannot load`);
  if (kernel.config.get('CONFIG_MODVERSIONS') === 'y') throw new SetupError(`${kernel.spec} has CONFIG_MODVERSIONS, and the test module is built without the kernel's Module.symvers: use a kernel without it`);
  if (kernel.config.get('CONFIG_MODULE_SIG_FORCE') === 'y') throw new SetupError(`${kernel.spec} has CONFIG_MODULE_SIG_FORCE: an unsigned test module cannot load`);
  const series = kernel.spec.replace(/^debian:/, '');
  const src = await ensureLinuxSource(series, { mirror: opts.mirror, log: opts.log });
  const want = debianVersionOf(kernel.version);
  if (want && src.version !== want) throw new SetupError(`test module: linux-source-${series} is ${src.version} and the kernel ${want}; the module must be built from the kernel's own source (wait until Debian has both at the same version)`);

  const gcc = (await execa('gcc', ['--version'], { reject: false, timeout: 20_000, stdin: 'ignore' })).stdout.split('\n')[0] ?? '';
  if (!gcc) throw new SetupError('the test module needs gcc on PATH: apt-get install gcc');
  const sources = readdirSync(SOURCE_DIR).filter((f) => /\.(c|h)$|^Kbuild$/.test(f)).sort();
  const modKey = sha([src.tree, readFileSync(kernel.configPath), kernel.release, gcc, ...sources.flatMap((f) => [f, readFileSync(join(SOURCE_DIR, f))])]);
  const out = join(cacheDir(), 'testmod', `${TESTMOD_NAME}-${modKey}.ko`);
  if (existsSync(out)) return { path: out, elapsedMs: Date.now() - t0, cached: true };

  const { obj, makeArgs } = await preparedTree(src.tree, kernel, gcc, opts.log);
  await withTempDir(join(cacheDir(), 'testmod'), '.build-', async (work) => {
    for (const f of sources) copyFileSync(join(SOURCE_DIR, f), join(work, f));
    await run('make', [...makeArgs, 'KBUILD_MODPOST_WARN=1', `M=${work}`, 'modules'], work, join(obj, 'module.log'));
    renameSync(join(work, `${TESTMOD_NAME}.ko`), out);
  });
  const elapsedMs = Date.now() - t0;
  opts.log(`test module: built ${TESTMOD_NAME}.ko for ${kernel.release} in ${(elapsedMs / 1000).toFixed(1)} s`);
  return { path: out, elapsedMs, cached: false };
}
