/**
 * git, run the one way the harness runs it: in a directory, stdin closed unless given, a
 * deadline, LC_ALL=C (callers match its messages), output of any size (binary diffs of a
 * kernel tree). `git` never throws and says whether it worked; `gitOut` and `gitBytes` are for
 * the calls whose failure means the tree is not what the user said it is.
 */
import { execa } from 'execa';
import { SetupError } from './errors.js';

export interface GitOptions {
  /** Default 120 s. */
  timeoutMs?: number;
  /** Fed to git's stdin (git apply -). */
  input?: Buffer;
  /** Added to the environment (an identity for git am and git commit). */
  env?: Readonly<Record<string, string>>;
}

export interface GitResult {
  ok: boolean;
  /** stdout without its final newline (execa strips it). */
  out: string;
  /** stderr without its final newline. */
  err: string;
  code: number | undefined;
  timedOut: boolean;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_BUFFER = 1 << 30;

function execaOptions(cwd: string, o: GitOptions): { cwd: string; reject: false; timeout: number; maxBuffer: number; env: Record<string, string>; input?: Buffer; stdin?: 'ignore' } {
  return {
    cwd,
    reject: false,
    timeout: o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBuffer: MAX_BUFFER,
    env: { ...o.env, LC_ALL: 'C' },
    ...(o.input ? { input: o.input } : { stdin: 'ignore' as const }),
  };
}

/** git `args` in `cwd`; never throws. */
export async function git(cwd: string, args: readonly string[], o: GitOptions = {}): Promise<GitResult> {
  const r = await execa('git', args, execaOptions(cwd, o));
  return { ok: !r.failed, out: String(r.stdout), err: String(r.stderr), code: r.exitCode, timedOut: r.timedOut };
}

function failure(cwd: string, args: readonly string[], r: { stderr: unknown; timedOut: boolean; exitCode?: number }, hint?: string): SetupError {
  const why = String(r.stderr ?? '').trim().split('\n')[0] || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`);
  return new SetupError(`git ${args[0]} in ${cwd} failed: ${why}${hint ? `: ${hint}` : ''}`);
}

/** stdout of git `args` in `cwd` without its final newline; a failure is a SetupError, `hint` its fix. */
export async function gitOut(cwd: string, args: readonly string[], o: GitOptions & { hint?: string } = {}): Promise<string> {
  const r = await execa('git', args, execaOptions(cwd, o));
  if (r.failed) throw failure(cwd, args, r, o.hint);
  return String(r.stdout);
}

/**
 * stdout of git `args` in `cwd` as bytes (a binary diff) less its final newline (execa's
 * default, which the build key has always hashed: keep it, or every build key changes); a
 * failure is a SetupError, `hint` its fix.
 */
export async function gitBytes(cwd: string, args: readonly string[], o: GitOptions & { hint?: string } = {}): Promise<Buffer> {
  const r = await execa('git', args, { ...execaOptions(cwd, o), encoding: 'buffer' });
  if (r.failed) throw failure(cwd, args, { stderr: Buffer.from(r.stderr).toString('utf8'), timedOut: r.timedOut, exitCode: r.exitCode }, o.hint);
  return Buffer.from(r.stdout);
}
