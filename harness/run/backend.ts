/**
 * Where a vm-test run's agent runs: the seam between vm-test and what it runs on. A local
 * guest (QEMU or vng, booted by the harness) and an SSH target (a kernel already running
 * elsewhere, harness/target/ssh-target.ts) both give a GuestSession: the agent answering,
 * a console, kill and shutdown. Everything after that (scenarios, counters, verdicts, the
 * report) is the same code for both.
 */
import type { Summary, TargetSummary } from '../results/summary.js';
import type { BootOptions, GuestSession } from '../vm/session.js';

export interface Backend {
  /** What the summary says about the kernel before it runs (the agent's `ready` has the last word). */
  kernel: Summary['kernel'];
  /** The results directory's suffix. */
  tag: string;
  accel: Summary['accel'];
  backend: Summary['backend'];
  channel: Summary['channel'];
  /** The kernel's config (the debug-kernel checks read it); empty when the target has none to read. */
  config: Map<string, string>;
  /** For SSH targets: who, and the host key that was verified. */
  target?: TargetSummary;
  /** The progress line before start(): "booting ... under TCG", "connecting to ...". */
  startLine: string;
  /** Boots or connects until the agent answers; boot crashes that were retried are returned. */
  start(opts: BootOptions, log: (line: string) => void): Promise<{ session: GuestSession; crashes: string[] }>;
  /** Closes what prepare opened when start() is never called (a run refused before it starts). */
  discard(): void;
}
