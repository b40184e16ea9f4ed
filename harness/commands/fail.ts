/**
 * The one failure handler of every command: what an error becomes on stderr and as the exit
 * code. Exit 0 when nothing lingered, 1 when something did or the kernel complained (or the
 * guest died), 2 for usage and setup errors: one line that names the fix, before anything boots.
 */
import { killAllChildren } from '../util/children.js';
import { GuestError, HarnessError, SetupError } from '../util/errors.js';
import { stdoutFlushed } from '../util/stdout.js';

/**
 * For a command that another tool runs and whose exit codes mean something there (`git bisect
 * run`: 2 would mark the commit bad): every error is `exitCode`, reported under `name`.
 */
export interface ErrorExit {
  name: string;
  exitCode: number;
}

/** Stops the children, prints the error and exits with its code. */
export function fail(err: unknown, as?: ErrorExit): never {
  killAllChildren();
  if (as) {
    process.stderr.write(`${as.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(as.exitCode);
  }
  if (err instanceof GuestError) {
    process.stderr.write(`bpf-harness: ${err.message}\n--- console tail ---\n${err.consoleTail}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof HarnessError) {
    process.stderr.write(`bpf-harness: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`bpf-harness: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/**
 * yargs' fail callback: what the parser refused (unknown option, missing argument, a bad
 * choice) as one line, exit 2. yargs re-throws what an option's coerce threw as a YError with
 * the same message: a usage error whose message already names the fix (util/whole-number.ts).
 */
export function failParse(msg: string | null | undefined, err: Error | null | undefined): never {
  if (err?.name === 'YError') fail(new SetupError(err.message));
  if (err) fail(err);
  // yargs puts a required option's own hint ("give --tree <...>") and a choice's list on lines
  // of their own: joined, the refusal stays one line.
  const lines = String(msg ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.reduce((text, l) => (text.endsWith(':') ? `${text} ${l}` : `${text}; ${l}`), lines.shift() ?? 'bad command line');
  process.stderr.write(`bpf-harness: ${line}; see --help\n`);
  process.exit(2);
}

/**
 * Runs a command's work and exits with the code it returns, once stdout has taken what was
 * written to it (to a pipe, process.exit drops what is queued: a --json document is large).
 */
export async function exitWith(work: () => number | Promise<number>, as?: ErrorExit): Promise<never> {
  let code: number;
  try {
    code = await work();
  } catch (err) {
    await stdoutFlushed();
    fail(err, as);
  }
  await stdoutFlushed();
  process.exit(code);
}
