/**
 * virtme-ng (vng), groundwork for a `--backend vng`: find vng on PATH, or run it from Debian's
 * virtme-ng package unpacked into the cache (fetched through the private apt from trixie) with
 * the system's /usr/bin/python3, which on bookworm needs python3-requests and
 * python3-argcomplete (python3-pkg-resources for the entry script); and a launcher of QEMU
 * through vng, given to startGuest by the vng backend (harness/backend/vng.ts).
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { PrivateApt, discoverDebianMirror } from '../host/apt.js';
import { which } from '../util/which.js';
import { compareDebVersions } from '../host/debversion.js';
import { SetupError } from '../util/errors.js';
import { withTempDir } from '../util/temp-dir.js';
import { cacheDir } from '../util/paths.js';
import type { LaunchCommand } from './qemu.js';
import { networkArgs, type GuestNetwork } from './network.js';

export interface Vng {
  /** argv prefix that runs vng. */
  argv: string[];
  env: Record<string, string>;
  version: string;
  from: 'path' | 'deb';
}

export const VNG_PYTHON_MODULES = ['requests', 'argcomplete', 'pkg_resources'];

/** The one line for a host without vng. */
export const VNG_MISSING =
  'vng (virtme-ng) is not installed: apt-get install virtme-ng (trixie and later) or pip install virtme-ng; on bookworm the harness can run it from its Debian package: install python3-requests python3-argcomplete python3-pkg-resources';

export function vngFromDeb(root: string): Vng | undefined {
  const vng = join(root, 'usr', 'bin', 'vng');
  const lib = join(root, 'usr', 'lib', 'python3', 'dist-packages');
  if (!existsSync(vng) || !existsSync(lib)) return undefined;
  // vng runs virtme-run by name: the package's bin directory goes first on PATH.
  return { argv: ['/usr/bin/python3', vng], env: { PYTHONPATH: lib, PATH: `${join(root, 'usr', 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` }, version: '', from: 'deb' };
}

async function versionOf(v: Vng): Promise<string | undefined> {
  const r = await execa(v.argv[0]!, [...v.argv.slice(1), '--version'], { env: v.env, reject: false, timeout: 30_000, stdin: 'ignore' });
  if (r.failed) return undefined;
  return /virtme-ng\s+(\S+)/.exec(String(r.stdout))?.[1];
}

/** The python modules the system python lacks for the unpacked vng. */
export async function missingPythonModules(): Promise<string[]> {
  const missing: string[] = [];
  for (const m of VNG_PYTHON_MODULES) {
    const r = await execa('/usr/bin/python3', ['-c', `import ${m}`], { reject: false, timeout: 20_000, stdin: 'ignore' });
    if (r.failed) missing.push(m);
  }
  return missing;
}

/** vng on PATH, else the cached unpacked package (downloaded when `fetch`). */
export async function locateVng(opts: { fetch: boolean; mirror?: string; log: (line: string) => void }): Promise<Vng> {
  if (which('vng')) {
    const v: Vng = { argv: ['vng'], env: {}, version: '', from: 'path' };
    const ver = await versionOf(v);
    if (ver) return { ...v, version: ver };
  }
  const dir = join(cacheDir(), 'vng');
  const have = (() => {
    try {
      return readdirSync(dir).filter((n) => !n.startsWith('.')).sort((a, b) => compareDebVersions(b, a));
    } catch {
      return [];
    }
  })();
  let root = have[0] ? join(dir, have[0]) : undefined;
  if (!root) {
    if (!opts.fetch) throw new SetupError(VNG_MISSING);
    root = await fetchVngDeb(dir, opts);
  }
  const missing = await missingPythonModules();
  if (missing.length > 0) throw new SetupError(`the unpacked virtme-ng needs the python modules ${missing.join(', ')}: apt-get install ${missing.map((m) => `python3-${m.replace('_', '-')}`).join(' ')}`);
  const v = vngFromDeb(root);
  const ver = v && (await versionOf(v));
  if (!v || !ver) throw new SetupError(`the unpacked virtme-ng in ${root} does not run: delete it and retry`);
  return { ...v, version: ver };
}

async function fetchVngDeb(dir: string, opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (!mirror) throw new SetupError(`${VNG_MISSING} (and no Debian mirror in the system apt sources to fetch it)`);
  const apt = new PrivateApt(join(cacheDir(), 'apt'), mirror);
  await apt.prepare();
  if (!apt.hasLists()) {
    const failure = await apt.update(180_000, opts.log);
    if (failure) throw new SetupError(`${VNG_MISSING} (${failure})`);
  }
  // trixie's: the oldest suite, closest to a bookworm host's python.
  const versions = (await apt.versions(['virtme-ng'])).sort((a, b) => compareDebVersions(a.version, b.version));
  const pick = versions.find((v) => v.suite === 'trixie') ?? versions[0];
  if (!pick) throw new SetupError(`${VNG_MISSING} (no virtme-ng package in the private apt's lists)`);
  mkdirSync(dir, { recursive: true });
  return withTempDir(dir, '.tmp-', async (tmp) => {
    opts.log(`vng: fetching virtme-ng ${pick.version} (${pick.suite}) to run it from its package`);
    const { root: x } = await apt.downloadUnpacked([{ pkg: 'virtme-ng', version: pick.version }], tmp, 120_000);
    const final = join(dir, pick.version.replace(/[:~]/g, '-'));
    renameSync(x, final);
    return final;
  });
}

/** What vngArgs needs of the guest (a GuestSpec has it). */
export interface VngGuest {
  bzImage: string;
  cpus: number;
  memoryMiB: number;
  accel: 'kvm' | 'tcg';
  append?: string[];
  shares?: Array<{ hostPath: string; guestPath: string }>;
  network?: GuestNetwork;
}

/** How vng boots this kernel beyond its spec. */
export interface VngBoot {
  /** A kernel whose 9p comes as modules: the image inside a root that has them (vm/vng-modules.ts). */
  modules?: { kimg: string };
  /** The shell's guest: vng-guest.sh starts the host's sshd with this directory's config (ssh-guest.ts). */
  sshdDir?: string;
}

/**
 * The vng command line for a guest: the bzImage with the host's root, q35 (not microvm: the
 * agent's virtio-serial port needs PCI), the agent's chardev and port added with --qemu-opts,
 * and vm/vng-guest.sh as the command. The console (kernel log included) comes on stdout.
 */
export function vngArgs(spec: VngGuest, agentSocket: string, dirs: { vmDir: string; bpfBuildDir: string }, boot: VngBoot = {}): string[] {
  const qemuOpts = ['-chardev', `socket,id=bpfhagent,path=${agentSocket}`, '-device', 'virtio-serial-pci,id=bpfhser', '-device', 'virtserialport,bus=bpfhser.0,chardev=bpfhagent,name=bpfh.agent', ...(spec.network ? networkArgs(spec.network) : [])];
  const modules = boot.modules;
  return [
    '--run', modules?.kimg ?? spec.bzImage,
    '--disable-microvm',
    '--disable-monitor',
    // bookworm's virtiofsd does not take virtme's arguments; 9p it is.
    '--force-9p',
    // A kernel with 9p and virtio built in needs no modules in vng's initramfs. Without this,
    // vng takes a bzImage beside its .config for a build tree and runs depmod over its
    // modules, writing into the build directory. A Debian kernel's come from its package.
    ...(modules ? [] : ['--skip-modules']),
    ...(spec.accel === 'tcg' ? ['--disable-kvm'] : []),
    '--cpus', String(spec.cpus),
    '--memory', `${spec.memoryMiB}M`,
    '--verbose',
    `--append=${['panic=-1', ...(spec.append ?? [])].join(' ')}`,
    // The = form: argparse would take a value starting with '-' for an option.
    `--qemu-opts=${qemuOpts.join(' ')}`,
    // virtme-ng's bash init (Debian's package has no virtme-ng-init) finds its stdio ports through
    // udev's /dev/virtio-ports links; vm/vng-udev/ stands in for udevd where the host has none.
    ...(hostHasUdevd() ? [] : [`--rodir=/usr/local/bin=${join(dirs.vmDir, 'vng-udev')}`]),
    // Shares need no 9p device of their own here: the host's root is the guest's; vng-guest.sh
    // lays a tmpfs overlay over each, as vm/init.sh does for the QEMU backend.
    '--exec', [join(dirs.vmDir, 'vng-guest.sh'), ...(boot.sshdDir ? ['--sshd', boot.sshdDir] : []), dirs.bpfBuildDir, ...(spec.shares ?? []).map((s) => `${s.hostPath}:${s.guestPath}`)].join(' '),
  ];
}

/**
 * The QEMU launcher for the vng backend. vng insists that its stdout and stderr can be
 * opened read-write through /proc/self/fd (node's pipes are socketpairs, which cannot), so it
 * runs in a pseudo-terminal (node-pty), as on a user's terminal; the console arrives there.
 */
export function vngLauncher(vng: Vng, dirs: { vmDir: string; bpfBuildDir: string }, boot: VngBoot = {}): (agentSocket: string, spec: VngGuest) => LaunchCommand {
  return (agentSocket, spec) => ({ cmd: vng.argv[0]!, args: [...vng.argv.slice(1), ...vngArgs(spec, agentSocket, dirs, boot)], env: vng.env, terminal: true, name: 'vng' });
}

/** Whether the host (the vng guest's root) has a udevd virtme-init would find. */
export function hostHasUdevd(): boolean {
  return ['/usr/lib/systemd/systemd-udevd', '/lib/systemd/systemd-udevd'].some((p) => existsSync(p)) || which('udevd') !== undefined;
}
