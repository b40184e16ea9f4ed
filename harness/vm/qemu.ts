/**
 * The plain QEMU backend: `-kernel`/`-initrd`, console on ttyS0 (QEMU's stdout), the agent on
 * its own channel (a unix socket the harness listens on before QEMU starts, so no connect race).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processGroup, registerChild, spawnGroup } from '../util/children.js';
import { loadNodePty } from '../util/node-pty.js';
import { withDeadline } from '../util/deadline.js';
import { SetupError } from '../util/errors.js';
import { exitSafeTempDir, removeTempDir } from '../util/temp-dir.js';
import type { ChannelKind } from './channel.js';
import { networkArgs, type GuestNetwork } from './network.js';

export type Accel = 'kvm' | 'tcg';

export interface GuestSpec {
  bzImage: string;
  initramfs: string;
  accel: Accel;
  channel: ChannelKind;
  cpus: number;
  memoryMiB: number;
  /** Extra kernel command line words. */
  append?: string[];
  /** Host directories the guest mounts (vm/init.sh): the BPF selftests' build output. */
  shares?: GuestShare[];
  /** A network device with one port forwarded from the host's loopback (network.ts); none by default. */
  network?: GuestNetwork;
  /**
   * TCG only: 'single' runs every vCPU on one host thread. Multi-threaded TCG (the default: the
   * races need the vCPUs truly parallel) sometimes runs the stale int3 of a text_poke_bp() it
   * was not done with (an `Oops: int3`, no kernel's fault); test_progs attaches and detaches
   * programs all the time and met it in one of three 2-CPU runs of linux-source-7.3's selftests.
   */
  tcgThreads?: 'single';
  /**
   * 'aarch64': an arm64 kernel Image under qemu-system-aarch64, TCG only (`-M virt -cpu max`, pauth-impdef),
   * console on the PL011 (ttyAMA0), the agent on virtio-serial (there is no second UART). Only
   * the arm64 SSH target guest of the tests boots one (ssh-guest.ts). x86_64 when not given.
   */
  arch?: 'aarch64';
}

/**
 * Another launcher of QEMU (the vng backend, harness/backend/vng.ts): the command to run given
 * the agent socket. It runs in its own process group, killed as a whole.
 */
export type Launcher = (agentSocket: string, spec: GuestSpec) => LaunchCommand;

export interface LaunchCommand {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** Run it in a pseudo-terminal (node-pty): vng wants a terminal for its stdio. */
  terminal?: boolean;
  /** What the messages call it (vng). */
  name?: string;
}

/**
 * A host directory exported read-only over 9p (virtio) and mounted by vm/init.sh at
 * `guestPath` under an overlay with a tmpfs upper layer: the guest can write beside the files
 * (test_progs does, in its directory) and the host's copy never changes.
 */
export interface GuestShare {
  /** The 9p mount tag: at most 31 characters, no ':' or spaces. */
  tag: string;
  hostPath: string;
  /** An absolute path without spaces or ':'. */
  guestPath: string;
}

/** What a guest needs built in to mount shares: 9p over virtio, and overlayfs to make them writable. */
export const SHARE_NEEDS = ['CONFIG_NET_9P', 'CONFIG_NET_9P_VIRTIO', 'CONFIG_9P_FS', 'CONFIG_OVERLAY_FS', 'CONFIG_VIRTIO_PCI'];

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_BINARY_AARCH64 = 'qemu-system-aarch64';

function qemuBinaryOf(spec: GuestSpec): { binary: string; pkg: string } {
  return spec.arch === 'aarch64' ? { binary: QEMU_BINARY_AARCH64, pkg: 'qemu-system-arm' } : { binary: QEMU_BINARY, pkg: 'qemu-system-x86' };
}

/** Name of the virtio-serial port; vm/init.sh looks it up under /sys/class/virtio-ports. */
export const AGENT_PORT_NAME = 'bpfh.agent';

export function kernelCommandLine(spec: GuestSpec): string {
  return [
    spec.arch === 'aarch64' ? 'console=ttyAMA0' : 'console=ttyS0,115200',
    // A panic reboots at once, and -no-reboot turns that into QEMU exiting: no hung guest.
    'panic=-1',
    'rdinit=/init',
    `bpfh.chan=${spec.channel}`,
    ...(spec.shares ?? []).map((s) => `bpfh.share=${s.tag}:${s.guestPath}`),
    ...(spec.network ? ['bpfh.net=1'] : []),
    ...(spec.append ?? []),
  ].join(' ');
}

/** -machine and -accel: q35 for x86_64; for aarch64 the virt board under TCG with every CPU feature QEMU emulates. */
function machineArgs(spec: GuestSpec): string[] {
  const tcg = spec.tcgThreads === 'single' ? 'tcg,thread=single' : 'tcg';
  if (spec.arch === 'aarch64') {
    if (spec.accel !== 'tcg' || spec.channel !== 'virtio') throw new SetupError('an aarch64 guest runs under TCG with the agent on virtio-serial only (no KVM for arm64 on this host, no second UART)');
    // pauth-impdef: pointer authentication stays on (Debian's kernel signs its return addresses)
    // with QEMU's cheap hash instead of the architected QARMA5, the costliest part of emulating
    // it: the guest boots in 4.2 s instead of 8.6 s here.
    return ['-machine', 'virt', '-cpu', 'max,pauth-impdef=on', '-accel', tcg];
  }
  return spec.accel === 'tcg' && spec.tcgThreads === 'single' ? ['-machine', 'q35', '-accel', tcg] : ['-machine', `q35,accel=${spec.accel}`];
}

export function qemuArgs(spec: GuestSpec, agentSocket: string): string[] {
  const args = [
    '-nodefaults', '-no-reboot', '-display', 'none',
    ...machineArgs(spec),
    // The default CPU model on purpose. KVM: 'host'/'max' abort on an MSR on some hosts. TCG:
    // 'max' makes Debian's 7.3 oops at boot (int3 in sched_clock_cpu, a text_poke gone wrong).
    '-smp', String(spec.cpus), '-m', `${spec.memoryMiB}M`,
    '-kernel', spec.bzImage, '-initrd', spec.initramfs,
    '-append', kernelCommandLine(spec),
    '-serial', 'stdio',
    '-chardev', `socket,id=agent,path=${agentSocket}`,
  ];
  for (const share of spec.shares ?? []) {
    if (!/^[A-Za-z0-9._-]{1,31}$/.test(share.tag) || !/^\/[^\s:,]*$/.test(share.guestPath) || share.hostPath.includes(',')) {
      throw new SetupError(`cannot share ${share.hostPath} as ${share.tag} at ${share.guestPath}: tags are 1-31 of [A-Za-z0-9._-], guest paths absolute without spaces, ':' or ',', host paths without ','`);
    }
    args.push('-virtfs', `local,path=${share.hostPath},mount_tag=${share.tag},security_model=none,readonly=on,multidevs=remap`);
  }
  if (spec.network) args.push(...networkArgs(spec.network));
  if (spec.channel === 'virtio') {
    args.push('-device', 'virtio-serial-pci,id=vser0', '-device', `virtserialport,bus=vser0.0,chardev=agent,name=${AGENT_PORT_NAME}`);
  } else {
    args.push('-serial', 'chardev:agent');
  }
  return args;
}

export interface RunningGuest {
  agentSocket: Socket;
  /** Resolves with QEMU's exit code (or signal name) when it ends. */
  exited: Promise<number | string>;
  /** SIGKILLs QEMU if it still runs and removes the socket directory. */
  kill(): void;
}

/**
 * Starts QEMU and waits for it to connect to the agent socket. `onConsole` gets the console
 * (ttyS0) and QEMU's own messages as they come.
 */
export async function startGuest(spec: GuestSpec, onConsole: (text: string) => void, opts: { connectDeadlineMs?: number; launcher?: Launcher } = {}): Promise<RunningGuest> {
  const connectDeadlineMs = opts.connectDeadlineMs ?? 20_000;
  const dir = exitSafeTempDir(tmpdir(), 'bpfh-');
  const socketPath = join(dir, 'agent.sock');
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  const connected = new Promise<Socket>((resolve) => server.once('connection', resolve));

  const launch = opts.launcher?.(socketPath, spec);
  const qemu = qemuBinaryOf(spec);
  let started: Started;
  try {
    started = launch?.terminal ? await startInTerminal(launch, onConsole) : startChild(launch ?? { cmd: qemu.binary, args: qemuArgs(spec, socketPath) }, launch !== undefined, onConsole, launch ? `${launch.cmd} not found` : `${qemu.binary} not found: install ${qemu.pkg} (apt-get install ${qemu.pkg})`);
  } catch (err) {
    server.close();
    removeTempDir(dir);
    throw err;
  }
  const kill = (): void => {
    started.kill();
    server.close();
    removeTempDir(dir);
  };
  const what = launch?.name ?? 'QEMU';
  try {
    const earlyExit = started.exited.then((code) => {
      throw new Error(`${what} exited (${code}) before QEMU connected to the agent socket`);
    });
    const socket = await withDeadline(Promise.race([connected, started.spawnFailed, earlyExit]), connectDeadlineMs, 'QEMU start');
    return { agentSocket: socket, exited: started.exited, kill };
  } catch (err) {
    kill();
    throw err;
  }
}

/** QEMU, or the program that starts it, as started: its end, a failure to start, its killer. */
interface Started {
  exited: Promise<number | string>;
  spawnFailed: Promise<never>;
  kill(): void;
}

/**
 * QEMU itself (its stderr marked), or a launcher with pipes. A launcher's QEMU is its
 * grandchild: it runs in a group of its own, killed as a whole.
 */
function startChild(launch: LaunchCommand, asGroup: boolean, onConsole: (text: string) => void, notFound: string): Started {
  const launched = asGroup ? spawnGroup(launch.cmd, launch.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } }) : undefined;
  const child: ChildProcess = launched?.child ?? spawn(launch.cmd, launch.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  registerChild(child);
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new SetupError(notFound) : err),
    ),
  );
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  child.stdout?.setEncoding('utf8').on('data', onConsole);
  child.stderr?.setEncoding('utf8').on('data', (text: string) => onConsole(text.replace(/^/gm, '[qemu] ')));
  return {
    exited,
    spawnFailed,
    kill: () => {
      launched?.group.kill();
      launched?.group.release();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * A launcher in a pseudo-terminal (node-pty): it leads a session and process group of its own
 * (QEMU is its grandchild), killed as a whole, on Ctrl-C too. The terminal merges stdout and
 * stderr, as a user's would; its line discipline's carriage returns are dropped.
 */
async function startInTerminal(launch: LaunchCommand, onConsole: (text: string) => void): Promise<Started> {
  const pty = await loadNodePty();
  const term = pty.spawn(launch.cmd, launch.args, { name: 'xterm', cols: 250, rows: 50, env: { ...process.env, ...launch.env } });
  const group = processGroup(term, { killOnAbort: true });
  const exited = new Promise<number | string>((resolve) => term.onExit(({ exitCode, signal }) => resolve(signal ? `signal ${signal}` : exitCode)));
  term.onData((text) => onConsole(text.replace(/\r/g, '')));
  return {
    exited,
    spawnFailed: new Promise<never>(() => undefined),
    // The group even when vng has ended: a QEMU it left behind is still in it.
    kill: () => {
      group.kill();
      group.release();
    },
  };
}
