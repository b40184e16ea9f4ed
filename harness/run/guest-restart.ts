/**
 * A guest booted again mid-run, for one emulator artifact only. Under multi-threaded TCG a
 * vCPU sometimes runs the int3 of a text_poke_bp() after the poke has finished (a static key
 * flipped by a program's attach, a BPF trampoline rewritten by a tracer's detach): the kernel
 * prints `Oops: int3` and the run would end in ERROR for something no kernel did (it ended two
 * full `npm test` runs of the last days in the fault boot, test/integration/vm-test.test.ts). The
 * scenario that was running has no verdict worth keeping, so the run boots the same guest again
 * and runs that scenario again, then the rest. Once per run: a second death is reported as it
 * is. Never under KVM, one-thread TCG or one vCPU, where no such artifact exists, never for any
 * other oops, never on an SSH target or with a shell waiting: there an int3 is the kernel's.
 * The crash, its console and the scenario's first reason stay in the results (guestRestarts).
 *
 * Also the self-test `--inject-fault stray-int3`: the first boot runs a real int3 in the test
 * module (bpf/testmod/, report=int3), the same oops, and the run must recover from it.
 */
import type { GuestOps } from '../agent/guest-ops.js';
import { withDeadline } from '../util/deadline.js';
import { SetupError } from '../util/errors.js';
import type { GuestSession } from '../vm/session.js';
import { TESTMOD_GUEST_PATH } from '../vm/testmod.js';
import { KERNEL_LOG_FAULTS } from './after-run.js';

/** The self-test: a stray int3 in the first boot. */
export const STRAY_INT3_FAULT = 'stray-int3';

/** The whole-run faults: the kernel-log self-tests and the restart's. */
export const RUN_FAULTS = [...KERNEL_LOG_FAULTS, STRAY_INT3_FAULT] as const;
export type RunFault = (typeof RUN_FAULTS)[number];

/** Boots after the first, per run. */
export const GUEST_RESTARTS = 1;

/** The console monitor's fatal line for a kernel-mode breakpoint nobody handled. */
const STRAY_INT3 = /\bOops: int3\b/;

export interface RestartContext {
  /** Multi-threaded TCG with more than one vCPU (PreparedGuest.multiThreadedTcg). */
  multiThreadedTcg: boolean;
  /** Restarts already made in this run. */
  restarts: number;
  /** A shell is to open in this guest (its held teardown and sshd belong to this boot). */
  shell: boolean;
}

/** Why the run may boot again after this death, or undefined: the death is the run's result. */
export function restartCause(fatal: string | null, ctx: RestartContext): string | undefined {
  if (!fatal || !STRAY_INT3.test(fatal)) return undefined;
  if (!ctx.multiThreadedTcg || ctx.shell || ctx.restarts >= GUEST_RESTARTS) return undefined;
  return "taken for multi-threaded TCG's stale text_poke_bp() breakpoint (an emulator artifact, not the kernel's)";
}

const OOPS_DEADLINE_MS = 30_000;
/** The oops's RIP, code and call trace come after its first line: the evidence a reader judges by. */
const TRACE_DEADLINE_MS = 5_000;

/** Until the console has the end of the oops's trace (or the deadline): the dead guest's console is then worth keeping. */
export async function awaitOopsTrace(session: GuestSession): Promise<void> {
  const ended = new Promise<void>((resolve) => session.console.onFatalTraceEnd(resolve));
  // Past the deadline the console is kept as it is: a cut trace still has the oops's first lines.
  await withDeadline(ended, TRACE_DEADLINE_MS, 'the oops trace').catch(() => undefined);
}

/** --inject-fault stray-int3, first boot only: the test module's int3, and the oops on the console. */
export async function injectStrayInt3(ops: GuestOps, session: GuestSession): Promise<void> {
  const oops = new Promise<void>((resolve) => session.console.onFatal(() => resolve()));
  // The insmod dies in the oops: its reply, if one comes, says nothing.
  await ops.exec('/bin/busybox', ['insmod', TESTMOD_GUEST_PATH, 'report=int3'], { out: '/tmp/bpfh-int3.out', timeoutMs: OOPS_DEADLINE_MS }).catch(() => undefined);
  await withDeadline(oops, OOPS_DEADLINE_MS, 'the oops').catch(() => {
    throw new SetupError(`--inject-fault ${STRAY_INT3_FAULT}: the test module's int3 printed no oops on the console within ${OOPS_DEADLINE_MS / 1000} s`);
  });
}
