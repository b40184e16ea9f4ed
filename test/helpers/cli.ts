/** Runs the built CLI as a user would, capturing everything. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../harness/util/paths.js';
import type { Summary } from '../../harness/results/summary.js';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 15 * 60_000): CliRun {
  const r = spawnSync(process.execPath, [join(projectRoot, 'dist', 'harness', 'cli.js'), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGINT', // lets the harness kill QEMU and write its results
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function parseSummary(run: CliRun): Summary {
  try {
    return JSON.parse(run.stdout) as Summary;
  } catch {
    throw new Error(`no JSON summary on stdout (exit ${run.status}); stderr:\n${run.stderr.slice(-4000)}`);
  }
}
