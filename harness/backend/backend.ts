/**
 * Where a vm-test run's agent runs: the seam between vm-test and what it runs on. A Backend
 * says what it requires (of a kernel, or of a machine), and prepares a guest that boots (or
 * connects) on start() and is torn down by the session it gives or by discard(). A local guest
 * (QEMU or vng, booted by the harness) and an SSH target (a kernel already running elsewhere)
 * both give a GuestSession: the agent answering, a console, kill and shutdown. Everything
 * after that (scenarios, counters, verdicts, the report) is the same code for all of them.
 * The implementations are in this folder; registry.ts lists them.
 */
import type { KernelImage } from '../kernel/resolve.js';
import type { Summary, TargetSummary } from '../results/summary.js';
import type { GuestSpec } from '../vm/qemu.js';
import type { BootOptions, GuestSession } from '../vm/session.js';

/** The name a backend has on the command line and in summary.json. */
export type BackendName = Summary['backend'];

export interface Backend<Input> {
  readonly name: BackendName;
  /** One line for --help and the docs. */
  readonly describe: string;
  /**
   * What the backend requires of the kernel it would run: the one line that refuses it (with
   * the fix), or undefined. Checked before anything boots.
   */
  refusal(input: Input): string | undefined;
  /** Everything up to the boot: nothing runs in a guest until the prepared guest's start(). */
  prepare(input: Input, log: (line: string) => void): Promise<PreparedGuest>;
}

/** A kernel the harness boots itself (qemu, vng): its image and the guest to boot it in. */
export interface LocalGuest {
  kernel: KernelImage;
  /** The results directory's suffix. */
  tag: string;
  /** The guest, with its accelerator chosen. */
  spec: GuestSpec;
  /** Under vng, a shell after a scenario: vm/vng-guest.sh starts the host's sshd with this directory's config (vm/shell-guest.ts). */
  sshdDir?: string;
}

/** A guest ready to boot, or a target ready to take the agent. */
export interface PreparedGuest {
  /** What the summary says about the kernel before it runs (the agent's `ready` has the last word). */
  kernel: Summary['kernel'];
  /** The results directory's suffix. */
  tag: string;
  accel: Summary['accel'];
  /**
   * Several vCPUs on multi-threaded TCG, where a stale int3 of the kernel's code patching is the
   * emulator's (run/guest-restart.ts); false on KVM, one-thread TCG and SSH targets.
   */
  multiThreadedTcg: boolean;
  backend: BackendName;
  channel: Summary['channel'];
  /** The kernel's config (the debug-kernel checks read it); empty when the target has none to read. */
  config: Map<string, string>;
  /** For SSH targets: who, and the host key that was verified. */
  target?: TargetSummary;
  /** The progress line before start(): "booting ... under TCG", "connecting to ...". */
  startLine: string;
  /** Boots or connects until the agent answers; boot crashes that were retried are returned. Teardown is the session's shutdown() or kill(). */
  start(opts: BootOptions, log: (line: string) => void): Promise<{ session: GuestSession; crashes: string[] }>;
  /** Closes what prepare opened when start() is never called (a run refused before it starts). */
  discard(): void;
}

/** Several vCPUs, each on a host thread of TCG (vm/qemu.ts tcgThreads). */
export function isMultiThreadedTcg(spec: Pick<GuestSpec, 'accel' | 'tcgThreads' | 'cpus'>): boolean {
  return spec.accel === 'tcg' && spec.tcgThreads !== 'single' && spec.cpus > 1;
}

/** The prepared guest of a local backend: the spec booted (again after a boot-time crash) with the backend's launch options. */
export function localGuest(name: BackendName, g: LocalGuest, boot: (opts: BootOptions, log: (line: string) => void) => Promise<{ session: GuestSession; crashes: string[] }>): PreparedGuest {
  return {
    kernel: { spec: g.kernel.spec, release: g.kernel.release, bzImage: g.kernel.bzImage },
    tag: g.tag,
    accel: g.spec.accel,
    multiThreadedTcg: isMultiThreadedTcg(g.spec),
    backend: name,
    channel: g.spec.channel,
    config: g.kernel.config,
    startLine: `booting ${g.kernel.release} under ${g.spec.accel.toUpperCase()} (${g.spec.cpus} CPUs, ${g.spec.memoryMiB} MiB)`,
    start: boot,
    discard: () => undefined,
  };
}
