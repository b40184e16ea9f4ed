/**
 * `git bisect run` with the harness as its step: in a process group of its own (the step boots
 * guests), its output to bisect-run.log and, line by line, to the log; stopped as a group on a
 * deadline or on request (SIGTERM first: the step's own handlers stop its guest and write its
 * results).
 */
import { appendFileSync } from 'node:fs';
import { spawnGroup, type ProcessGroup } from '../util/children.js';

/** How long the step may take to stop after SIGTERM before its group is killed. */
const STOP_GRACE_MS = 10_000;

export interface GitBisectRun {
  /** git bisect run's whole output, once it ended. */
  output: Promise<{ text: string; timedOut: boolean }>;
  /** SIGTERM to the group, then SIGKILL; synchronous (signal handlers call it). */
  stop(): void;
  /** Kills what is left and stops watching the group. */
  release(): void;
}

export function runGitBisect(worktree: string, stepScript: string, runLog: string, deadlineMs: number, log: (line: string) => void): GitBisectRun {
  let group: ProcessGroup | undefined;
  let timedOut = false;
  const stop = (): void => group?.stop(STOP_GRACE_MS);
  const output = new Promise<{ text: string; timedOut: boolean }>((res, rej) => {
    const spawned = spawnGroup('git', ['bisect', 'run', 'sh', stepScript], { cwd: worktree, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    group = spawned.group;
    let all = '';
    let partial = '';
    const onData = (b: Buffer): void => {
      const s = b.toString('utf8');
      all += s;
      appendFileSync(runLog, s);
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (!/^running /.test(l) && l.trim()) log(l);
    };
    spawned.child.stdout?.on('data', onData);
    spawned.child.stderr?.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, deadlineMs);
    spawned.child.once('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    spawned.child.once('close', () => {
      clearTimeout(timer);
      if (partial.trim()) log(partial);
      res({ text: all, timedOut });
    });
  });
  return {
    output,
    stop,
    release: () => {
      group?.kill();
      group?.release();
    },
  };
}
