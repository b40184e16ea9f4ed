import { SetupError } from '../util/errors.js';

/**
 * Parse a kernel .config: `CONFIG_X=value` lines into a map CONFIG_X -> raw value text
 * ('y', 'm', '"a string"' with its quotes, '1000', '0x10'). `# CONFIG_X is not set` and other
 * comments leave the option absent, as do blank lines. Tolerates CRLF line ends.
 */
export function parseKernelConfig(text: string): Map<string, string> {
  const config = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) config.set(m[1]!, m[2]!);
  }
  return config;
}

/**
 * A requirement is `CONFIG_X` (must be =y: the harness boots without loading modules, so a
 * module does not count), `CONFIG_X=y|m` (any of the listed values), `CONFIG_X=n` (must be
 * unset or =n) or `CONFIG_X=<value>` for exact values such as `CONFIG_HZ=1000`.
 */
function satisfied(config: Map<string, string>, requirement: string): boolean {
  const eq = requirement.indexOf('=');
  const name = eq < 0 ? requirement : requirement.slice(0, eq);
  const wanted = eq < 0 ? ['y'] : requirement.slice(eq + 1).split('|');
  const value = config.get(name);
  if (value === undefined) return wanted.includes('n');
  return wanted.includes(value);
}

/** The option names (without any `=...` part) of the requirements `config` does not meet, in order. */
export function missingOptions(config: Map<string, string>, required: readonly string[]): string[] {
  const missing: string[] = [];
  for (const r of required) {
    const name = r.split('=', 1)[0]!;
    if (!satisfied(config, r) && !missing.includes(name)) missing.push(name);
  }
  return missing;
}

/**
 * What every scenario needs from the guest kernel. The harness boots the bzImage directly with
 * an initramfs holding a static agent and loads no modules, so each of these must be built in.
 */
export const REQUIRED_BASE: readonly string[] = [
  // The agent is a static x86-64 binary and QEMU runs qemu-system-x86_64.
  'CONFIG_X86_64',
  // The bpf(2) syscall: loading objects, map create/update/lookup, bpf_map_get_fd_by_id.
  'CONFIG_BPF_SYSCALL',
  // Local storage maps are created with BTF for their values (the kernel refuses them
  // otherwise) and the objects are CO-RE against the kernel's own BTF (/sys/kernel/btf/vmlinux).
  'CONFIG_DEBUG_INFO_BTF',
  // The cgroup v2 hierarchy the scenarios create and enter.
  'CONFIG_CGROUPS',
  // memory.current and memory.stat: the memcg counters that show storage being charged and freed.
  'CONFIG_MEMCG',
  // Attaching cgroup/sock_create programs (map-open via=prog) to a cgroup.
  'CONFIG_CGROUP_BPF',
  // AF_INET TCP/UDP sockets: the owners of socket local storage (and SO_MEMINFO optmem).
  'CONFIG_INET',
  // The root filesystem is an initramfs handed to the kernel by QEMU (-initrd)...
  'CONFIG_BLK_DEV_INITRD',
  // ...compressed with gzip.
  'CONFIG_RD_GZIP',
  // ELF executables: /init and the agent.
  'CONFIG_BINFMT_ELF',
  // /dev (the serial ports, the virtio ports) without udev: mount -t devtmpfs.
  'CONFIG_DEVTMPFS',
  // /proc: /proc/slabinfo, /proc/self, /proc/cmdline.
  'CONFIG_PROC_FS',
  // /sys: /sys/fs/cgroup, /sys/kernel/btf, /sys/class/virtio-ports.
  'CONFIG_SYSFS',
  // console=ttyS0 for kernel messages, and ttyS1 as the agent channel when virtio is missing.
  'CONFIG_SERIAL_8250',
  'CONFIG_SERIAL_8250_CONSOLE',
];

/** A kernel as assertConfig judges it: what the user called it and its parsed config (a KernelImage fits). */
export interface ConfiguredKernel {
  spec: string;
  config: Map<string, string>;
}

/**
 * Throw a SetupError naming every requirement (REQUIRED_BASE plus `extra`) that `kernel`'s
 * config does not meet.
 */
export function assertConfig(kernel: ConfiguredKernel, extra: readonly string[]): void {
  const shown: string[] = [];
  for (const r of [...REQUIRED_BASE, ...extra]) {
    if (satisfied(kernel.config, r)) continue;
    const [name, want] = r.split('=', 2) as [string, string | undefined];
    if (shown.some((s) => s === name || s.startsWith(`${name} `))) continue;
    const have = kernel.config.get(name);
    if (want !== undefined && want !== 'y') shown.push(`${name} (=${want} wanted, ${have === undefined ? 'unset' : `=${have}`} here)`);
    else shown.push(have === 'm' ? `${name} (a module here)` : name);
  }
  if (shown.length === 0) return;
  throw new SetupError(`kernel ${kernel.spec} lacks ${shown.join(', ')}: rebuild it with ${shown.length === 1 ? 'it' : 'them'} (=y)`);
}
