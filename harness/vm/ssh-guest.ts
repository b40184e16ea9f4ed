/**
 * A guest with an sshd: the usual initramfs (agent, objects, busybox) plus the host's OpenSSH
 * server with its shared libraries, a host key and an authorized user key generated for this
 * boot only, root login by key only, and the kernel's network modules; QEMU forwards one port
 * of the host's 127.0.0.1 to its port 22 (network.ts). The SSH target tests and
 * `bpf-harness shell` boot it. With arch 'aarch64' it is Debian's arm64 kernel under
 * qemu-system-aarch64 (TCG) with the arm64 agent (cross/), and Debian's arm64 busybox, sshd and
 * libraries (arm64-userland.ts) instead of the host's: the arm64 SSH target of the tests.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { debianKernelModules } from '../kernel/modules.js';
import { resolveArm64DebianKernel, type KernelImage } from '../kernel/resolve.js';
import { agentBuildFor } from '../cross/build.js';
import { resolveAndBuildKernel } from '../kernel-build/tree-kernel.js';
import { SetupError } from '../util/errors.js';
import { exitSafeTempDir, removeTempDir } from '../util/temp-dir.js';
import { chooseAccel, type AccelRequest } from './accel.js';
import { chooseChannel } from './channel.js';
import { guestBpftoolEntries, hostBpftoolWrapper } from './guest-bpftool.js';
import { arm64SshdEntries, arm64Userland } from './arm64-userland.js';
import { buildGuestInitramfs, guestEntries, sharedLibraryEntries } from './guest-image.js';
import { fileEntry, withParentDirs, writeNewc, type CpioEntry } from './initramfs.js';
import { freeLoopbackPort, LOOPBACK, NETWORK_MODULES } from './network.js';
import { connect } from 'node:net';
import { GuestError } from '../util/errors.js';
import { BOOT_ATTEMPTS, bootGuestRetrying, type GuestSession } from './session.js';
import { locateVng, vngLauncher } from './vng.js';
import { ninePFromPackage, vngDebianKernel, vngKernelRefusal } from './vng-modules.js';
import { loadNodePty } from '../util/node-pty.js';
import { bpfBuildDir, vmDir } from '../util/paths.js';

export const SSHD = '/usr/sbin/sshd';
/** A user who is not root, with the same authorized key. */
export const PLAIN_USER = 'bpfh';
const SETPRIV = '/usr/bin/setpriv';

/** Keys made for one boot: the guest's host key and the key its root accepts. */
export interface SshKeys {
  dir: string;
  hostKey: string;
  hostPublic: string;
  userKey: string;
  userPublic: string;
}

async function keygen(file: string, comment: string): Promise<void> {
  const r = await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { timeout: 30_000, reject: false, stdin: 'ignore' });
  if (r.failed) throw new SetupError(`ssh-keygen failed (${r.stderr.split('\n')[0] || `exit ${r.exitCode}`}): install openssh-client (apt-get install openssh-client)`);
}

export async function generateKeys(dir: string): Promise<SshKeys> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const userKey = join(dir, 'id_ed25519');
  await keygen(hostKey, 'bpfh-guest-host');
  await keygen(userKey, 'bpfh-user');
  return { dir, hostKey, hostPublic: readFileSync(`${hostKey}.pub`, 'utf8').trim(), userKey, userPublic: readFileSync(`${userKey}.pub`, 'utf8').trim() };
}

/** The known_hosts line for the guest as ssh writes it for a non-default port. */
export function knownHostsLine(port: number, hostPublic: string): string {
  const [type, key] = hostPublic.split(/\s+/);
  return `[${LOOPBACK}]:${port} ${type} ${key}`;
}

const SSHD_CONFIG = [
  'Port 22',
  'HostKey /etc/ssh/ssh_host_ed25519_key',
  'PermitRootLogin prohibit-password',
  'PubkeyAuthentication yes',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'AuthorizedKeysFile .ssh/authorized_keys',
  'UsePAM no',
  'UseDNS no',
  'PrintLastLog no',
  'PrintMotd no',
  // The initramfs is ours and every file in it is root's; modes are what withParentDirs gives.
  'StrictModes no',
  'PidFile /run/sshd.pid',
  // No sftp-server binary to carry: the SSH target uploads over the built-in one.
  'Subsystem sftp internal-sftp',
  '',
].join('\n');

const text = (path: string, data: string, mode = 0o644): CpioEntry => ({ path, type: 'file', mode, data: Buffer.from(data) });

/** The host's sshd, its configuration and accounts, the keys, and the modules the network needs. */
export function sshdEntries(keys: SshKeys, modules: readonly string[]): CpioEntry[] {
  if (!existsSync(SSHD)) throw new SetupError(`${SSHD} is missing: install openssh-server (apt-get install openssh-server; npm run setup does)`);
  const programs = [SSHD, SETPRIV].filter((p) => existsSync(p));
  return [...programs.map((p) => fileEntry(p.slice(1), realpathSync(p))), ...sharedLibraryEntries(programs), ...sshdSetupEntries(keys, modules)];
}

/** What any sshd of the guest needs beside its program: configuration, accounts, keys, network modules. */
export function sshdSetupEntries(keys: SshKeys, modules: readonly string[]): CpioEntry[] {
  return [
    text('etc/ssh/sshd_config', SSHD_CONFIG),
    { ...fileEntry('etc/ssh/ssh_host_ed25519_key', keys.hostKey), mode: 0o600 },
    text('root/.ssh/authorized_keys', `${keys.userPublic}\n`, 0o600),
    // An ordinary user with the same key: a login that is not root (the SSH target refuses it).
    text(`home/${PLAIN_USER}/.ssh/authorized_keys`, `${keys.userPublic}\n`, 0o644),
    // sshd's privilege separation needs its user; the shells are busybox's sh.
    text('etc/passwd', `root:x:0:0:root:/root:/bin/sh\nsshd:x:102:65534::/run/sshd:/usr/sbin/nologin\n${PLAIN_USER}:x:1000:1000::/home/${PLAIN_USER}:/bin/sh\n`),
    text('etc/group', `root:x:0:\ntty:x:5:\nnogroup:x:65534:\n${PLAIN_USER}:x:1000:\n`),
    // sshd records logins there and complains on the terminal when it is missing.
    text('var/log/lastlog', ''),
    text('etc/shadow', `root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n${PLAIN_USER}:*:19000:0:99999:7:::\n`, 0o600),
    ...modules.map((m) => fileEntry(`lib/modules/bpfh/${m.split('/').pop()!}`, m, 0o644)),
    text('lib/modules/bpfh/order', modules.map((m) => m.split('/').pop()!).join('\n') + '\n'),
  ];
}

/** Debian kernels have virtio_net as a module: from their package. A kernel with it built in needs none. */
export async function networkModules(kernel: KernelImage, opts: Pick<SshGuestOptions, 'kernel' | 'mirror' | 'log'>): Promise<string[]> {
  const has = kernel.config.get('CONFIG_VIRTIO_NET');
  if (has === 'y') return [];
  if (has === 'm' && kernel.source === 'debian') return (await debianKernelModules(kernel.bzImage, NETWORK_MODULES, { mirror: opts.mirror, log: opts.log })).files;
  throw new SetupError(`${opts.kernel} has no CONFIG_VIRTIO_NET=y: the guest's sshd needs a network device (build the kernel with it, or use a debian: kernel)`);
}

export interface SshGuestOptions {
  kernel: string;
  cpus: number;
  memoryMiB: number;
  bootDeadlineMs: number;
  log: (line: string) => void;
  /**
   * The vCPUs on one host thread of TCG (qemu.ts tcgThreads). A test's target guest: the harness
   * never boots a target again, so multi-threaded TCG's stray int3 (run/guest-restart.ts) would
   * end a test for no kernel's fault.
   */
  tcgThreads?: 'single';
  /** Start the guest's sshd without CAP_BPF/CAP_SYS_ADMIN/CAP_PERFMON (a target without bpf()). */
  noBpf?: boolean;
  mirror?: string;
  onConsole?: (text: string) => void;
  /** Debian's bpftool (guest-bpftool.ts) on the guest's PATH: in /usr/sbin, or under vng in /usr/local/sbin. */
  bpftool?: boolean;
  /** KVM or TCG as vm-test's --accel; TCG when not given (the test guests). */
  accel?: AccelRequest;
  /** 'aarch64': Debian's arm64 kernel (opts.kernel a debian:<series>) and userland under qemu-system-aarch64. */
  arch?: 'aarch64';
  /** qemu (the default): our initramfs with the sshd in it; vng: the host's root and its sshd (bootVngSshd). */
  backend?: 'qemu' | 'vng';
}

/** The image's entries and the kernel for an arm64 guest: everything in it is arm64's. */
async function arm64Guest(opts: SshGuestOptions, keys: SshKeys): Promise<{ kernel: KernelImage; entries: CpioEntry[] }> {
  if (opts.noBpf || opts.bpftool || (opts.accel !== undefined && opts.accel !== 'tcg')) throw new SetupError('the arm64 guest has no setpriv or bpftool and runs under TCG only: leave out noBpf, bpftool and accel');
  const kernel = await resolveArm64DebianKernel(opts.kernel, { mirror: opts.mirror, log: opts.log });
  const modules = await networkModules(kernel, opts);
  const buildDir = await agentBuildFor('aarch64', { mirror: opts.mirror, log: opts.log, why: 'the arm64 guest' });
  const userland = await arm64Userland({ mirror: opts.mirror, log: opts.log });
  return { kernel, entries: [...guestEntries({ buildDir, busybox: userland.busybox }), ...arm64SshdEntries(userland), ...sshdSetupEntries(keys, modules)] };
}

export interface SshGuest {
  session: GuestSession;
  port: number;
  user: 'root';
  keys: SshKeys;
  /** A known_hosts file holding the guest's host key, and the line in it. */
  knownHosts: string;
  knownHostsLine: string;
  /** Everything of this boot on the host (keys, image, agent log); removed by stop(). */
  dir: string;
  /** Kills QEMU and removes dir. */
  stop(): void;
}

/** The x86 guest: the kernel as vm-test resolves it, the host's agent, busybox and sshd. */
async function hostGuest(opts: SshGuestOptions, keys: SshKeys): Promise<{ kernel: KernelImage; entries: CpioEntry[] }> {
  const kernel = await resolveAndBuildKernel(opts.kernel, { mirror: opts.mirror, log: opts.log });
  const modules = await networkModules(kernel, opts);
  const base = guestEntries();
  const have = new Set(base.map((e) => e.path));
  const tools = opts.bpftool ? await guestBpftoolEntries({ mirror: opts.mirror, log: opts.log }) : [];
  return { kernel, entries: [...base, ...[...sshdEntries(keys, modules), ...tools].filter((e) => !have.has(e.path))] };
}

/**
 * Boots `kernel` with an sshd on a fresh port of 127.0.0.1. The image holds this boot's keys,
 * so it is written to the boot's own directory, not the initramfs cache.
 */
export async function bootSshGuest(opts: SshGuestOptions): Promise<SshGuest> {
  // The keys and image go on every exit path, also when the process dies of a signal or an
  // error mid-way (QEMU itself is killed by util/children.ts then).
  const dir = exitSafeTempDir(tmpdir(), `bpfh-ssh-guest-${process.pid}-`);
  const removeDir = (): void => removeTempDir(dir);
  try {
    const keys = await generateKeys(dir);
    if (opts.backend === 'vng') return await bootVngSshd(keys, dir, opts);
    const { kernel, entries } = opts.arch === 'aarch64' ? await arm64Guest(opts, keys) : await hostGuest(opts, keys);
    const image = join(dir, 'initramfs.cpio.gz');
    writeFileSync(image, gzipSync(writeNewc(withParentDirs(entries)), { level: 1 }));
    const port = await freeLoopbackPort();
    // The rare boot-time int3 oops under multi-threaded TCG (see bootGuestRetrying) hits these
    // guests as much as vm-test's: boot again, as vm-test does.
    const spec = {
      bzImage: kernel.bzImage, initramfs: image, accel: 'tcg' as const, channel: chooseChannel(kernel.config).kind, cpus: opts.cpus, memoryMiB: opts.memoryMiB,
      network: { hostPort: port, guestPort: 22 }, append: [`bpfh.sshd=${opts.noBpf ? 'nobpf' : 'on'}`],
      ...(opts.arch ? { arch: opts.arch } : {}),
      ...(opts.tcgThreads ? { tcgThreads: opts.tcgThreads } : {}),
    };
    const accel = opts.accel === undefined || opts.accel === 'tcg' ? 'tcg' : (await chooseAccel(opts.accel, spec, opts.log)).accel;
    const { session } = await bootGuestRetrying(
      { ...spec, accel },
      { bootDeadlineMs: opts.bootDeadlineMs, recordAgent: () => undefined, onConsole: opts.onConsole },
      BOOT_ATTEMPTS,
      () => undefined,
    );
    return await answeringSshGuest(session, port, keys, dir, opts.bootDeadlineMs);
  } catch (err) {
    removeDir();
    throw err;
  }
}

/** The booted guest once its sshd answers on `port` (killed if it does not within the deadline). */
async function answeringSshGuest(session: GuestSession, port: number, keys: SshKeys, dir: string, deadlineMs: number): Promise<SshGuest> {
  try {
    await waitForSshBanner(port, deadlineMs);
  } catch (err) {
    session.kill();
    throw err;
  }
  return sshGuest(session, port, keys, dir);
}

/** The booted guest whose sshd answers on `port`; stop() kills it and removes `dir`. */
function sshGuest(session: GuestSession, port: number, keys: SshKeys, dir: string): SshGuest {
  const line = knownHostsLine(port, keys.hostPublic);
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${line}\n`);
  return {
    session, port, user: 'root', keys, knownHosts, knownHostsLine: line, dir,
    stop: () => {
      session.kill();
      removeTempDir(dir);
    },
  };
}

/**
 * The sshd guest under vng: the host's root is the guest's, so its own /usr/sbin/sshd runs
 * there (vm/vng-guest.sh --sshd) with a configuration in this boot's directory, which the guest
 * reads over 9p: this boot's host key, its user key as root's only authorized key. The network
 * is the qemu guest's (restricted, one port of 127.0.0.1), added to vng's QEMU; a Debian
 * kernel's virtio_net is insmod'ed from its cache entry, its 9p comes as vm-test's does.
 */
async function bootVngSshd(keys: SshKeys, dir: string, opts: SshGuestOptions): Promise<SshGuest> {
  if (opts.arch === 'aarch64') throw new SetupError('--backend vng boots this machine\'s own kernel architecture: leave out the arm64 guest');
  await loadNodePty();
  const kernel = await resolveAndBuildKernel(opts.kernel, { mirror: opts.mirror, log: opts.log });
  const refused = vngKernelRefusal(kernel, chooseChannel(kernel.config).kind);
  if (refused) throw new SetupError(refused);
  const modules = await networkModules(kernel, opts);
  const vng = await locateVng({ fetch: true, mirror: opts.mirror, log: opts.log });
  const nineP = ninePFromPackage(kernel) ? { kimg: await vngDebianKernel(kernel.bzImage, { mirror: opts.mirror, log: opts.log }) } : undefined;
  writeVngSshdDir(dir, keys, modules, opts.bpftool ? await hostBpftoolWrapper({ mirror: opts.mirror, log: opts.log }) : undefined);
  const port = await freeLoopbackPort();
  // vng boots no image of ours; the KVM probe (auto) boots the plain one.
  const spec = { bzImage: kernel.bzImage, initramfs: '', accel: 'tcg' as const, channel: chooseChannel(kernel.config).kind, cpus: opts.cpus, memoryMiB: opts.memoryMiB, network: { hostPort: port, guestPort: 22 } };
  const accel = opts.accel === undefined || opts.accel === 'tcg' ? 'tcg' : (await chooseAccel(opts.accel, { ...spec, initramfs: buildGuestInitramfs().path, network: undefined }, opts.log)).accel;
  const launcher = vngLauncher(vng, { vmDir, bpfBuildDir }, { modules: nineP, sshdDir: dir });
  const { session } = await bootGuestRetrying({ ...spec, accel }, { bootDeadlineMs: opts.bootDeadlineMs, recordAgent: () => undefined, onConsole: opts.onConsole, launcher }, BOOT_ATTEMPTS, () => undefined);
  return answeringSshGuest(session, port, keys, dir, opts.bootDeadlineMs);
}

/**
 * What vm/vng-guest.sh --sshd reads from `dir` (which already holds the keys): root's only
 * authorized key, the sshd_config, the network modules to insmod, and with `bpftool` (a wrapper
 * script, guest-bpftool.ts) bin/bpftool, which the guest lays over its /usr/local/sbin.
 */
export function writeVngSshdDir(dir: string, keys: SshKeys, modules: readonly string[], bpftool?: string): void {
  writeFileSync(join(dir, 'authorized_keys'), `${keys.userPublic}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'sshd_config'), vngSshdConfig(dir));
  writeFileSync(join(dir, 'modules'), modules.map((m) => `${m}\n`).join(''));
  if (bpftool === undefined) return;
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'bpftool'), bpftool, { mode: 0o755 });
}

/** The qemu guest's sshd_config with the keys where the vng guest reads them: this boot's directory. */
export function vngSshdConfig(dir: string): string {
  return SSHD_CONFIG.replace('HostKey /etc/ssh/ssh_host_ed25519_key', `HostKey ${join(dir, 'ssh_host_ed25519_key')}`).replace('AuthorizedKeysFile .ssh/authorized_keys', `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`);
}

/**
 * Until the guest's sshd greets (`SSH-2.0-...`): the agent answers as soon as init starts it,
 * a moment before sshd listens, and QEMU accepts on the host's port either way (then resets).
 */
export async function waitForSshBanner(port: number, deadlineMs: number): Promise<string> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const banner = await new Promise<string | undefined>((resolve) => {
      const sock = connect({ host: LOOPBACK, port });
      let got = '';
      const done = (v: string | undefined): void => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(5000, () => done(undefined));
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('\n')) done(got.split('\n')[0]!.trim());
      });
      sock.on('error', () => done(undefined));
      sock.on('close', () => done(undefined));
    });
    if (banner?.startsWith('SSH-')) return banner;
    if (Date.now() > end) throw new GuestError(`the guest's sshd did not answer on ${LOOPBACK}:${port} within ${deadlineMs / 1000} s`, '');
    await new Promise((r) => setTimeout(r, 300));
  }
}
