/**
 * The BPF selftests built on a `--build-host` (harness/build-host/): the host's clang/LLVM,
 * rsync and pkg-config checked before anything is sent, the kernel's build directory there
 * (built there, or sent from here once: what external modules and the selftests' Makefile read
 * of it), and the names of what comes back.
 */
import { BuildHost, BuildHostError, type BuildHostChoice } from '../build-host/build-host.js';
import type { BuiltKernel } from '../kernel-build/kernel-build.js';
import { HOST_KERNEL_KEY, openBuildHost } from '../kernel-build/on-host.js';
import { SetupError } from '../util/errors.js';
import { parseSelftestsProbe, SELFTESTS_PROBE_COMMAND, selftestsLlvmFrom, selftestsLlvmMinimum, type SelftestsLlvm } from './toolchain.js';

const PROBE_DEADLINE_MS = 60_000;

/** The LLVM the host builds the selftests of `tree` with, or a BuildHostError naming the packages it lacks. */
export async function hostSelftestsLlvm(host: BuildHost, tree: string): Promise<SelftestsLlvm> {
  const minimum = await selftestsLlvmMinimum(tree);
  const probe = await host.conn.run(SELFTESTS_PROBE_COMMAND, PROBE_DEADLINE_MS).catch((err: unknown) => {
    throw new BuildHostError(`build host ${host.url}, probing the selftests' tools: ${err instanceof Error ? err.message : String(err)}`);
  });
  try {
    return selftestsLlvmFrom(parseSelftestsProbe(probe.stdout), minimum, ' there');
  } catch (err) {
    if (err instanceof SetupError) throw new BuildHostError(`${host.url}: the build host cannot build the BPF selftests: ${err.message}`);
    throw err;
  }
}

/**
 * Before a kernel's hour of build: the host has what the selftests' build needs too (the
 * kernel's tools and pahole, then the LLVM). Connects, probes, closes.
 */
export async function checkSelftestsBuildHost(choice: BuildHostChoice, tree: string, log: (line: string) => void): Promise<SelftestsLlvm> {
  const { host } = await openBuildHost(choice, tree, true, log);
  try {
    return await hostSelftestsLlvm(host, tree);
  } finally {
    host.close();
  }
}

/**
 * What of a kernel's build directory the host needs to build the selftests against it, when
 * it does not hold that build: the config, generated headers, kbuild's scripts and objtool,
 * Module.symvers and vmlinux (the BTF vmlinux.h and the test modules' BTF come from it). Not
 * the objects (4 GiB of them for linux-source-7.3: external modules never read them), the
 * intermediate vmlinux images, the .cmd files, the boot images, nor what names this machine's
 * paths (the top Makefile and `source` link) or is the harness's own.
 */
export function kernelDirForHost(rel: string, isDir: boolean): boolean {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (isDir) return !['bpfh-selftests', 'arch/x86/boot'].includes(rel);
  if (!rel.includes('/') && ['Makefile', 'source', 'build.log', 'vmlinux.unstripped', 'vmlinux.o', 'vmlinux.a'].includes(rel)) return false;
  if (name.startsWith('bpfh-') || name.startsWith('.tmp_')) return false;
  return !/\.(o|a|ko|cmd)$/.test(name);
}

/**
 * The host's directory for `kernel`'s build holds that build: left alone when its key file
 * says so (built there, or sent before), else what kernelDirForHost() keeps goes there (only
 * what changed since the last time) and the key is written.
 */
export async function ensureHostKernel(host: BuildHost, kernel: BuiltKernel, deadlineMs: number, log: (line: string) => void): Promise<'there' | 'sent'> {
  const remote = await host.outDir(kernel.outDir, kernel.tree);
  const keyFile = `${remote}/${HOST_KERNEL_KEY}`;
  if ((await host.readFile(keyFile)).trim() === kernel.key) return 'there';
  log(`the build host has no build of this kernel (key ${kernel.key.slice(0, 12)}): sending what the selftests read of ${kernel.outDir}`);
  await host.writeFile(keyFile, '');
  const stats = await host.syncDir(kernel.outDir, remote, { deadlineMs, keep: kernelDirForHost });
  log(`sent ${stats.files} file(s) of the kernel's build in ${(stats.ms / 1000).toFixed(1)} s (${(stats.wireBytes / 2 ** 20).toFixed(1)} MiB on the wire)`);
  await host.writeFile(keyFile, `${kernel.key}\n`);
  return 'sent';
}
