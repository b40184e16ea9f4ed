/**
 * No guest survives the harness: every long-lived child (QEMU, builds) is registered here and
 * killed on exit, on Ctrl-C / SIGTERM and on uncaught errors. Cleanup hooks (writing the
 * results gathered so far) run first, synchronously, so nothing gathered is lost.
 */
import type { ChildProcess } from 'node:child_process';

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
