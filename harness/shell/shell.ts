/**
 * `bpf-harness shell [--kernel K]`: boots the SSH guest (harness/vm/ssh-guest.ts: the agent,
 * the BPF objects, an sshd on a port of 127.0.0.1) and puts the user's terminal in a root shell
 * there, over an ssh2 shell channel with a pty: the window size follows the terminal (SIGWINCH
 * -> setWindow), every key goes to the guest (Ctrl-C too) except Ctrl-], which leaves. Leaving,
 * the guest's shell ending, Ctrl-] or a signal: the guest is always stopped.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { ClientChannel } from 'ssh2';
import type { FaultRequest } from '../scenarios/faults.js';
import type { SizeLevel } from '../scenarios/types.js';
import type { KernelLogFault } from '../run/after-run.js';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import { KEYS_FILE, TRANSCRIPT_FILE } from '../run/shell-stop.js';
import { reportRun, vmTest } from '../run/vm-test.js';
import { SetupError } from '../util/errors.js';
import { randomSeed } from '../util/seed.js';
import { onAbort } from '../util/children.js';
import { connectSsh, parseTargetUrl, type SshConnection } from '../ssh/ssh.js';
import type { ShellAccess } from '../vm/shell-guest.js';
import { bootSshGuest, waitForSshBanner, type SshGuest } from '../vm/ssh-guest.js';
import type { AccelRequest } from '../vm/accel.js';
import { bpfBuildDir } from '../util/paths.js';

/** Ctrl-]: the key that leaves (telnet's escape; nothing in a shell needs it). */
export const LEAVE_KEY = 0x1d;
export const LEAVE_KEY_NAME = 'Ctrl-]';

export interface ShellOptions {
  kernel: string;
  cpus: number;
  memoryMiB: number;
  bootDeadlineS: number;
  accel: AccelRequest;
  /** qemu (default) or vng: how the shell's guest boots (vm/ssh-guest.ts). */
  backend?: 'qemu' | 'vng';
  mirror?: string;
  /** ssh://user@host[:port]: a shell there instead of a guest (never stopped), with --identity and --known-hosts. */
  target?: string;
  identity?: string;
  knownHosts?: string;
  /** --after SCENARIO: run it in vm-test's guest first, keep what it left, then the shell (run/shell-stop.ts). */
  after?: string;
  sizes?: SizeLevel;
  seed?: number;
  settleDeadlineS?: number;
  /** --inject-fault: the harness's self-test faults, to look at what each leaves behind. */
  faults?: FaultRequest[];
  fault?: KernelLogFault;
}

/** The files a shell writes into the run's results (named in the summary's shell record, run/shell-stop.ts). */
export { KEYS_FILE, TRANSCRIPT_FILE };

/** The terminal the user sits at: stdin and stdout must both be one. */
function terminalSize(): { rows: number; cols: number } {
  return { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 };
}

export async function shellCommand(opts: ShellOptions): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new SetupError('bpf-harness shell needs a terminal on stdin and stdout: run it in one, not behind a pipe or a redirection');
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  if (opts.target) return shellOnTarget(opts.target, opts, log);
  if (opts.after !== undefined) return shellAfterScenario(opts.after, opts);
  let guest: SshGuest | undefined;
  const unregister = onAbort(() => guest?.stop());
  try {
    const vng = opts.backend === 'vng';
    log(`booting ${opts.kernel} with an sshd (${opts.cpus} CPUs, ${opts.memoryMiB} MiB${vng ? ', under vng: the host root is the guest root' : ''})`);
    guest = await bootSshGuest({ kernel: opts.kernel, cpus: opts.cpus, memoryMiB: opts.memoryMiB, bootDeadlineMs: opts.bootDeadlineS * 1000, mirror: opts.mirror, log, bpftool: true, accel: opts.accel, backend: opts.backend });
    const conn = await connectSsh(parseTargetUrl(`ssh://root@127.0.0.1:${guest.port}`), {
      identity: guest.keys.userKey, knownHosts: guest.knownHosts, agentSocket: null, connectDeadlineMs: 60_000,
    });
    log(`root shell in the guest (${String(guest.session.ready.release ?? '')}, sshd on 127.0.0.1:${guest.port}): the BPF objects are in ${vng ? bpfBuildDir : '/bpf'}; ${LEAVE_KEY_NAME} leaves and stops the guest`);
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

/**
 * `shell --after SCENARIO`: vm-test of that one scenario in a guest with an sshd, stopped after
 * it for the shell (run/shell-stop.ts); the results directory, the kernel log read after the
 * user left and the verdict are vm-test's.
 */
async function shellAfterScenario(scenario: string, opts: ShellOptions): Promise<number> {
  const run = {
    kernel: opts.kernel, mirror: opts.mirror, scenarios: [scenario], sizes: opts.sizes ?? VM_TEST_DEFAULTS.sizes, seed: opts.seed ?? randomSeed(),
    accel: opts.accel, cpus: opts.cpus, memoryMiB: opts.memoryMiB, bootDeadlineS: opts.bootDeadlineS, settleDeadlineS: opts.settleDeadlineS ?? VM_TEST_DEFAULTS.settleDeadlineS,
    faults: opts.faults, fault: opts.fault, json: false, backend: opts.backend,
    shell: { at: { after: scenario }, open: openGuestShell },
  };
  return reportRun(await vmTest(run), run);
}

/**
 * The shell after a scenario (ShellStop.open): logs into the guest's sshd as root with this
 * run's key, shows the banner, and relays until the user leaves. What the guest showed goes to
 * `dir`/shell-transcript.txt (the banner first), the keys typed to shell-input.txt.
 */
export async function openGuestShell(access: ShellAccess, banner: readonly string[], dir: string): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`${line}\r\n`);
  await waitForSshBanner(access.port, 60_000);
  const conn = await connectSsh(parseTargetUrl(`ssh://root@127.0.0.1:${access.port}`), {
    identity: access.userKey, knownHosts: access.knownHosts, agentSocket: null, connectDeadlineMs: 60_000,
  });
  const transcript = createWriteStream(join(dir, TRANSCRIPT_FILE));
  const keys = createWriteStream(join(dir, KEYS_FILE));
  try {
    const head = [...banner, `root shell in the guest (sshd on 127.0.0.1:${access.port}): ${LEAVE_KEY_NAME} leaves and stops the guest; this session is logged to ${join(dir, TRANSCRIPT_FILE)}`];
    for (const line of head) log(line);
    transcript.write(head.map((l) => `${l}\n`).join(''));
    await interact(conn, { output: transcript, input: keys });
    log('left the guest');
  } finally {
    await Promise.all([transcript, keys].map((s) => new Promise<void>((resolve) => s.end(resolve))));
  }
}

/** Where a session's bytes are also written. */
interface Transcript {
  output: WriteStream;
  input: WriteStream;
}

/** A shell channel with a pty the size of the user's terminal, relayed until it ends or the user leaves. */
async function interact(conn: SshConnection, transcript?: Transcript): Promise<void> {
  const stream = await new Promise<ClientChannel>((resolve, reject) =>
    conn.client.shell({ term: process.env.TERM || 'xterm-256color', ...terminalSize(), width: 0, height: 0 }, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  try {
    await relay(stream, transcript);
  } finally {
    conn.close();
  }
}

/** Until the guest's shell ends or the user presses the leave key. */
function relay(stream: ClientChannel, transcript?: Transcript): Promise<void> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    const onResize = (): void => {
      const { rows, cols } = terminalSize();
      stream.setWindow(rows, cols, 0, 0);
    };
    const onKeys = (data: Buffer): void => {
      const at = data.indexOf(LEAVE_KEY);
      const keys = at < 0 ? data : data.subarray(0, at);
      if (keys.length > 0) {
        stream.write(keys);
        transcript?.input.write(keys);
      }
      if (at >= 0) done();
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
    stream.on('data', (d: Buffer) => {
      process.stdout.write(d);
      transcript?.output.write(d);
    });
    stream.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      transcript?.output.write(d);
    });
    stream.on('close', done);
  });
}
