/** Runs the built CLI as a user would, capturing everything. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../harness/util/paths.js';
import type { Summary } from '../../harness/results/summary.js';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The whole environment of the run (default: this process's). */
  env?: NodeJS.ProcessEnv;
  deadlineMs?: number;
  /**
   * Sent at the deadline. SIGINT (the default) lets the harness kill QEMU and write its
   * results; SIGKILL for a run that must not linger on the way out.
   */
  deadlineSignal?: NodeJS.Signals;
  /** Sees stdout as it comes and may act on the run (Ctrl-C it, cut its connection). */
  during?: (stdout: string, child: ChildProcess) => void;
}

const CLI = join(projectRoot, 'dist', 'harness', 'cli.js');
const DEFAULT_DEADLINE_MS = 15 * 60_000;

/** The CLI to its end; for a run that needs nothing done while it goes. */
export function runCli(args: string[], timeoutMs = DEFAULT_DEADLINE_MS): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGINT', // lets the harness kill QEMU and write its results
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI without blocking the test: `during` may act on it while it runs. */
export function spawnCli(args: string[], opts: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill(opts.deadlineSignal ?? 'SIGINT'), opts.deadlineMs ?? DEFAULT_DEADLINE_MS);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.during?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export function parseSummary(run: CliRun): Summary {
  try {
    return JSON.parse(run.stdout) as Summary;
  } catch {
    throw new Error(`no JSON summary on stdout (exit ${run.status}); stderr:\n${run.stderr.slice(-4000)}`);
  }
}
