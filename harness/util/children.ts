/**
 * No guest survives the harness: every long-lived child (QEMU, builds) is registered here and
 * killed on exit, on Ctrl-C / SIGTERM and on uncaught errors. Cleanup hooks (writing the
 * results gathered so far) run first, synchronously, so nothing gathered is lost.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const children = new Set<ChildProcess>();
const cleanups: Array<(reason: string) => void> = [];
let installed = false;

export function registerChild(child: ChildProcess): void {
  installExitHandlers();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function killAllChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** Runs once on an abnormal exit (signal); must be synchronous. Returns an unregister function. */
export function onAbort(fn: (reason: string) => void): () => void {
  installExitHandlers();
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

function runCleanups(reason: string): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn(reason);
    } catch (err) {
      process.stderr.write(`bpf-harness: cleanup failed: ${String(err)}\n`);
    }
  }
}

function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.once('exit', () => killAllChildren());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbpf-harness: ${sig}: stopping the guest and writing the results gathered so far\n`);
      killAllChildren();
      runCleanups(`interrupted by ${sig}`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Whether a process (or, for a negative pid, a process group) still exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a process group has a member that is not a zombie. The group's leader, once it has
 * exited, stays a zombie until node reaps it, which node cannot do while stop() waits in
 * sleepSync: kill(-pgid, 0) alone would say the group lives for the whole grace period. Read
 * from /proc; without one, kill(-pgid, 0).
 */
export function groupRunning(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return pidAlive(-pgid);
  }
  return pids.some((pid) => {
    const stat = procStat(pid);
    return stat?.pgrp === pgid && notDead(stat);
  });
}

/**
 * Whether a process runs: it is there and is not a zombie (dead, its exit status not yet reaped:
 * an orphan waits for init, which in some sandboxes reaps late or never).
 */
export function processRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && notDead(stat);
}

/** A process's state letter and process group from /proc; undefined when it is gone. */
function procStat(pid: number | string): { state: string; pgrp: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so count after the last ')'.
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: state ?? '', pgrp: Number(pgrp) };
}

function notDead(stat: { state: string }): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * A child spawned with `detached: true` leads a process group of its own (its grandchildren
 * too: a launcher's QEMU, make's compilers, git bisect run's step). Killing the child alone
 * would leave them running, so the whole group is killed: by kill(), by stop(), and when the
 * harness exits (and on Ctrl-C / SIGTERM with `killOnAbort`) until release().
 */
export interface ProcessGroup {
  /** SIGKILL to the whole group; nothing when it is gone. */
  kill(): void;
  /**
   * SIGTERM to the group first (its own handlers may write what they gathered), up to
   * `graceMs` for it to end, then SIGKILL. Synchronous: it runs inside signal handlers.
   */
  stop(graceMs: number): void;
  /** The harness no longer kills the group on its way out (the child has ended or been killed). */
  release(): void;
}

export function processGroup(child: { readonly pid?: number | undefined }, opts: { killOnAbort?: boolean } = {}): ProcessGroup {
  const kill = (): void => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const stop = (graceMs: number): void => {
    const pid = child.pid;
    if (!pid || !pidAlive(-pid)) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let waited = 0; waited < graceMs && groupRunning(pid); waited += 100) sleepSync(100);
    kill();
  };
  process.once('exit', kill);
  const unAbort = opts.killOnAbort ? onAbort(kill) : undefined;
  return {
    kill,
    stop,
    release: () => {
      unAbort?.();
      process.removeListener('exit', kill);
    },
  };
}

/** spawn() in a process group of its own, with the group's killer (see processGroup). */
export function spawnGroup(cmd: string, args: readonly string[], options: SpawnOptions, groupOpts: { killOnAbort?: boolean } = {}): { child: ChildProcess; group: ProcessGroup } {
  const child = spawn(cmd, args, { ...options, detached: true });
  return { child, group: processGroup(child, groupOpts) };
}
