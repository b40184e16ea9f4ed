/**
 * `bpf-harness shell [--kernel K]`: boots the SSH guest (harness/vm/ssh-guest.ts: the agent,
 * the BPF objects, an sshd on a port of 127.0.0.1) and puts the user's terminal in a root shell
 * there, over an ssh2 shell channel with a pty: the window size follows the terminal (SIGWINCH
 * -> setWindow), every key goes to the guest (Ctrl-C too) except Ctrl-], which leaves. Leaving,
 * the guest's shell ending, Ctrl-] or a signal: the guest is always stopped.
 */
import type { ClientChannel } from 'ssh2';
import { SetupError } from '../util/errors.js';
import { onAbort } from '../util/children.js';
import { connectSsh, parseTargetUrl, type SshConnection } from '../ssh/ssh.js';
import { bootSshGuest, type SshGuest } from '../vm/ssh-guest.js';

/** Ctrl-]: the key that leaves (telnet's escape; nothing in a shell needs it). */
export const LEAVE_KEY = 0x1d;
export const LEAVE_KEY_NAME = 'Ctrl-]';

export interface ShellOptions {
  kernel: string;
  cpus: number;
  memoryMiB: number;
  bootDeadlineS: number;
  mirror?: string;
  /** ssh://user@host[:port]: a shell there instead of a guest (never stopped), with --identity and --known-hosts. */
  target?: string;
  identity?: string;
  knownHosts?: string;
}

/** The terminal the user sits at: stdin and stdout must both be one. */
function terminalSize(): { rows: number; cols: number } {
  return { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 };
}

export async function shellCommand(opts: ShellOptions): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new SetupError('bpf-harness shell needs a terminal on stdin and stdout: run it in one, not behind a pipe or a redirection');
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  if (opts.target) return shellOnTarget(opts.target, opts, log);
  let guest: SshGuest | undefined;
  const unregister = onAbort(() => guest?.stop());
  try {
    log(`booting ${opts.kernel} with an sshd (${opts.cpus} CPUs, ${opts.memoryMiB} MiB)`);
    guest = await bootSshGuest({ kernel: opts.kernel, cpus: opts.cpus, memoryMiB: opts.memoryMiB, bootDeadlineMs: opts.bootDeadlineS * 1000, mirror: opts.mirror, log });
    const conn = await connectSsh(parseTargetUrl(`ssh://root@127.0.0.1:${guest.port}`), {
      identity: guest.keys.userKey, knownHosts: guest.knownHosts, agentSocket: null, connectDeadlineMs: 60_000,
    });
    log(`root shell in the guest (${String(guest.session.ready.release ?? '')}, sshd on 127.0.0.1:${guest.port}): the BPF objects are in /bpf; ${LEAVE_KEY_NAME} leaves and stops the guest`);
    await interact(conn);
    log(`\r\nleft the guest; it is stopped`);
    return 0;
  } finally {
    unregister();
    guest?.stop();
  }
}

/** A shell on an SSH target, checked and logged into as vm-test --target does; leaving stops nothing there. */
async function shellOnTarget(url: string, opts: ShellOptions, log: (line: string) => void): Promise<number> {
  const spec = parseTargetUrl(url);
  const conn = await connectSsh(spec, { identity: opts.identity, knownHosts: opts.knownHosts, connectDeadlineMs: Math.min(opts.bootDeadlineS * 1000, 60_000) });
  log(`shell on ${url} (host key ${conn.hostKey.type} ${conn.hostKey.fingerprint}); ${LEAVE_KEY_NAME} leaves, the target keeps running`);
  await interact(conn);
  log(`\r\nleft ${url}`);
  return 0;
}

/** A shell channel with a pty the size of the user's terminal, relayed until it ends or the user leaves. */
async function interact(conn: SshConnection): Promise<void> {
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    conn.client.shell({ term: process.env.TERM || 'xterm-256color', ...terminalSize(), width: 0, height: 0 }, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  try {
    await relay(stream);
  } finally {
    conn.close();
  }
}

/** Until the guest's shell ends or the user presses the leave key. */
function relay(stream: ClientChannel): Promise<void> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    const onResize = (): void => {
      const { rows, cols } = terminalSize();
      stream.setWindow(rows, cols, 0, 0);
    };
    const onKeys = (data: Buffer): void => {
      const at = data.indexOf(LEAVE_KEY);
      if (at < 0) {
        stream.write(data);
        return;
      }
      if (at > 0) stream.write(data.subarray(0, at));
      done();
    };
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      process.off('SIGWINCH', onResize);
      stdin.off('data', onKeys);
      restore();
      process.off('exit', restore);
      stdin.pause();
      stream.close();
      resolve();
    };
    // The user's terminal leaves raw mode on every way out, a signal or a crash included.
    const restore = (): void => {
      if (stdin.isTTY) stdin.setRawMode(false);
    };
    process.once('exit', restore);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onKeys);
    process.on('SIGWINCH', onResize);
    stream.on('data', (d: Buffer) => process.stdout.write(d));
    stream.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    stream.on('close', done);
  });
}
