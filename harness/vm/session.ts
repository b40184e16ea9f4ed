/**
 * A booted guest with its agent answering: the unit every command of the harness works with.
 * Boot, a panic, a silent guest and shutdown each have a deadline; on any of them the guest is
 * killed and the error carries the console tail.
 */
import { AgentClient, type AgentReply } from '../agent/client.js';
import { GuestOps } from '../agent/guest-ops.js';
import { withDeadline } from '../util/deadline.js';
import { GuestError, HarnessError } from '../util/errors.js';
import { ConsoleMonitor } from './console.js';
import { startGuest, type GuestSpec, type Launcher, type RunningGuest } from './qemu.js';

export interface GuestSession {
  agent: AgentClient;
  console: ConsoleMonitor;
  ready: AgentReply;
  bootMs: number;
  /** Asks the agent to power off, waits for QEMU to end, kills it past the deadline. */
  shutdown(deadlineMs?: number): Promise<void>;
  /** Kills the guest at once. */
  kill(): void;
  /** Why the agent can no longer be reached (an SSH target's connection dropped); null while it can. */
  gone?(): string | null;
}

/** The kernel died (panic/oops) before the agent answered: no scenario has run yet. */
export class BootCrashError extends GuestError {
  constructor(what: string, consoleTail: string) {
    super(`guest did not boot to the agent: ${what}`, consoleTail);
    this.name = 'BootCrashError';
  }
}

export interface BootOptions {
  bootDeadlineMs: number;
  /** Every raw line on the agent channel, both directions. */
  recordAgent: (line: string) => void;
  onConsole?: (text: string) => void;
  /** QEMU started by another program (vng) instead of directly. */
  launcher?: Launcher;
}

export async function bootGuest(spec: GuestSpec, opts: BootOptions): Promise<GuestSession> {
  const started = Date.now();
  const monitor = new ConsoleMonitor();
  let running: RunningGuest;
  try {
    running = await startGuest(spec, (text) => {
      monitor.push(text);
      opts.onConsole?.(text);
    }, { launcher: opts.launcher });
  } catch (err) {
    // QEMU (or vng before it) ended or hung before its agent socket: what it printed says why.
    if (err instanceof HarnessError) throw err;
    throw new GuestError(`guest did not start: ${err instanceof Error ? err.message : String(err)}`, monitor.tail());
  }
  const agent = new AgentClient(running.agentSocket, opts.recordAgent);
  const fatal = (what: string): GuestError => new GuestError(`guest died: ${what}`, monitor.tail());
  monitor.onFatal((what) => agent.failAll(fatal(what)));
  void running.exited.then((code) => agent.failAll(new GuestError(`QEMU exited (${code}) while the harness still talked to the guest`, monitor.tail())));

  let ready: AgentReply;
  try {
    ready = await agent.ready(opts.bootDeadlineMs);
  } catch (err) {
    running.kill();
    if (monitor.fatalError) throw new BootCrashError(monitor.fatalError, monitor.tail());
    const why = err instanceof Error ? err.message : String(err);
    throw new GuestError(`guest did not boot to the agent: ${why}`, monitor.tail());
  }
  return {
    agent,
    console: monitor,
    ready,
    bootMs: Date.now() - started,
    kill: () => running.kill(),
    shutdown: async (deadlineMs = 20_000) => {
      new GuestOps(agent).poweroff(deadlineMs).catch(() => undefined); // the reply may never come
      try {
        await withDeadline(running.exited, deadlineMs, 'guest power-off');
      } finally {
        running.kill();
      }
    },
  };
}

/** Boots tried when the kernel crashes before the agent answers (see bootGuestRetrying). */
export const BOOT_ATTEMPTS = 3;

/**
 * Under multi-threaded TCG, a guest very rarely oopses at boot on an int3 left by the kernel's
 * own code patching (text_poke) when sched_clock is marked stable: seen 2 times in about 60
 * boots of Debian's 7.3 here, only on a loaded host, never in 20 boots in a row otherwise.
 * No scenario has run at that point, so booting again is safe; each crash is logged and
 * returned, and a kernel that crashes on every attempt still fails.
 */
export async function bootGuestRetrying(spec: GuestSpec, opts: BootOptions, attempts: number, log: (line: string) => void): Promise<{ session: GuestSession; crashes: string[] }> {
  const crashes: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return { session: await bootGuest(spec, opts), crashes };
    } catch (err) {
      if (!(err instanceof BootCrashError) || attempt >= attempts) throw err;
      crashes.push(err.message);
      log(`boot attempt ${attempt} crashed before any scenario ran (${err.message}); booting again`);
    }
  }
}
