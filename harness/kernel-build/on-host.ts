/**
 * A kernel build's make on a build host (harness/build-host/): the host's toolchain checked
 * against what the tree asks for, and named in the build key exactly as a local build names
 * the local one (`gcc --version`'s first line, `host <pahole version>`), so a local and a remote
 * build of the same inputs with the same tools have the same key and either's output is reused.
 */
import { BuildHost, type BuildHostChoice } from '../build-host/build-host.js';
import { SetupError } from '../util/errors.js';
import { compareVersions, minimumFromChanges, minToolVersion, parseVersion, type Toolchain } from './toolchain.js';

/** What a build on a host brings back into the local output directory. */
export const HOST_ARTIFACTS = ['arch/x86/boot/bzImage', '.config', 'System.map', 'include/config/kernel.release'];
/** And for the selftests' kernel: what their build reads (the BTF of vmlinux, the module symbols). */
export const SELFTESTS_HOST_ARTIFACTS = ['vmlinux', 'Module.symvers'];

/**
 * In the host's directory of a selftests kernel: the key of the build it holds, written once
 * the build there (or what harness/selftests/on-host.ts sends of a local one) is whole.
 */
export const HOST_KERNEL_KEY = 'bpfh-kernel.key';

export interface OpenedHost {
  host: BuildHost;
  toolchain: Toolchain;
}

/** Connects, probes, and checks the host's gcc and pahole against the tree's minimums. */
export async function openBuildHost(choice: BuildHostChoice, tree: string, needPahole: boolean, log: (line: string) => void): Promise<OpenedHost> {
  const host = await BuildHost.open(choice, log);
  try {
    return { host, toolchain: await hostToolchain(host, tree, needPahole) };
  } catch (err) {
    host.close();
    throw err;
  }
}

async function hostToolchain(host: BuildHost, tree: string, needPahole: boolean): Promise<Toolchain> {
  const f = host.facts;
  const gccMin = await minToolVersion(tree, 'gcc');
  const gccVer = parseVersion(f.gcc.replace(/^.*\)\s*/, ''));
  if (gccMin && gccVer && compareVersions(gccVer, gccMin) < 0) {
    throw new SetupError(`${host.url}: the build host's gcc ${gccVer} is older than ${gccMin}, which this tree needs (scripts/min-tool-version.sh): install a newer gcc there`);
  }
  if (!needPahole) return { compiler: f.gcc, pahole: 'not needed', note: `toolchain on ${host.url}: its gcc; no BTF, so no pahole` };
  const need = minimumFromChanges(tree, 'pahole') ?? '1.22';
  if (!f.pahole || compareVersions(f.pahole, need) < 0) {
    throw new SetupError(`${host.url}: the build host has ${f.pahole ? `pahole ${f.pahole}, older than the ${need}` : `no pahole, and this tree needs ${need}`} for BTF: install pahole >= ${need} there (Debian: apt-get install pahole)`);
  }
  return { compiler: f.gcc, pahole: `host ${f.pahole}`, note: `toolchain on ${host.url}: its gcc and pahole ${f.pahole} (the tree needs ${need})` };
}
