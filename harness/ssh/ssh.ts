/**
 * An SSH connection to a target or a build host (ssh2): the host key checked against known_hosts (never
 * accepted silently), authentication by the SSH agent, --identity or ~/.ssh/config's
 * IdentityFile, and commands, SFTP and channels that each have a deadline. A refusal is one
 * line naming the fix (SetupError, exit 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AgentAuthMethod, ClientChannel, PublicKeyAuthMethod, SFTPWrapper } from 'ssh2';
import { DeadlineError, withDeadline } from '../util/deadline.js';
import { GuestError, SetupError } from '../util/errors.js';
import { defaultKnownHostsFiles, fingerprint, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import { userSshConfigIdentities } from './ssh-config.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

export interface TargetSpec {
  /** As the user wrote it: ssh://user@host[:port]. */
  url: string;
  user: string;
  host: string;
  port: number;
}

export const TARGET_PREFIX = 'ssh://';

export function isTargetSpec(spec: string): boolean {
  return spec.startsWith(TARGET_PREFIX);
}

const URL_USAGE = 'give ssh://user@host or ssh://user@host:port (an IPv6 address in brackets: ssh://root@[::1]:2222)';

/** `option`: the command-line option that gave the URL, for the refusal's line. */
export function parseTargetUrl(url: string, option = '--target'): TargetSpec {
  const m = /^ssh:\/\/([A-Za-z0-9._][A-Za-z0-9._-]*)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (!m) throw new SetupError(`${option} ${url}: ${URL_USAGE}`);
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (port < 1 || port > 65535) throw new SetupError(`${option} ${url}: the port must be 1-65535`);
  return { url, user: m[1]!, host: m[2]!.replace(/^\[(.*)\]$/, '$1'), port };
}

export interface SshAuthOptions {
  /** --identity FILE: tried first. */
  identity?: string;
  /** --known-hosts FILE (default ~/.ssh/known_hosts and known_hosts2). */
  knownHosts?: string;
  /** The SSH agent's socket (default $SSH_AUTH_SOCK); null: none. */
  agentSocket?: string | null;
  connectDeadlineMs: number;
}

/** The type an SSH key blob names in its first field. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(homedir(), '.ssh', n));

/** The private keys to offer, in order, and the ones that could not be used (encrypted, unreadable). */
export function identities(spec: TargetSpec, opts: SshAuthOptions): { keys: Array<{ file: string; key: Buffer }>; skipped: string[] } {
  const files = [...(opts.identity ? [opts.identity] : []), ...userSshConfigIdentities(spec), ...DEFAULT_IDENTITIES];
  const keys: Array<{ file: string; key: Buffer }> = [];
  const skipped: string[] = [];
  for (const file of [...new Set(files)]) {
    if (!existsSync(file)) {
      if (file === opts.identity) throw new SetupError(`--identity ${file} does not exist: give the private key file that the target accepts`);
      continue;
    }
    const key = readFileSync(file);
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error) {
      if (file === opts.identity) {
        throw new SetupError(/encrypted|passphrase/i.test(parsed.message)
          ? `--identity ${file} is encrypted: add it to the SSH agent (ssh-add ${file}) and leave --identity out`
          : `--identity ${file} is not a private key the harness can read (${parsed.message}): give the private key file, not the .pub`);
      }
      skipped.push(`${file} (${/encrypted|passphrase/i.test(parsed.message) ? 'encrypted: add it to the agent' : parsed.message})`);
      continue;
    }
    keys.push({ file, key });
  }
  return { keys, skipped };
}

export class SshConnection {
  private closed = false;
  private readonly closeListeners: Array<(why: string) => void> = [];
  private readonly exits = new WeakMap<ClientChannel, Promise<number | null>>();

  constructor(
    readonly spec: TargetSpec,
    readonly client: SshClient,
    /** The known_hosts line the host key matched. */
    readonly hostKey: { type: string; fingerprint: string; file: string; line: number },
  ) {
    client.on('close', () => this.onClose('the connection closed'));
    client.on('error', (err: Error) => this.onClose(`the connection failed: ${err.message}`));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Called once when the connection ends, whoever ended it. */
  onClosed(fn: (why: string) => void): void {
    this.closeListeners.push(fn);
  }

  private onClose(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeListeners.splice(0)) fn(why);
  }

  /**
   * Opens an exec channel (no pty): the caller reads and writes its streams. The exit status is
   * listened for at once: a short command's status, output and close can come in one read,
   * before the caller's code after the await runs.
   */
  channel(command: string, deadlineMs: number): Promise<ClientChannel> {
    // A channel that opens after its deadline has no caller left: closed at once, not left running.
    let late = false;
    return withDeadline(
      new Promise<ClientChannel>((resolve, reject) => {
        this.client.exec(command, (err, ch) => {
          if (err) return reject(err);
          if (late) return void ch.close();
          this.exits.set(ch, new Promise<number | null>((res) => {
            let status: number | null = null;
            ch.on('exit', (c: number | null) => (status = c));
            ch.on('close', () => res(status));
          }));
          resolve(ch);
        });
      }),
      deadlineMs,
      `opening a channel on ${this.spec.url}`,
    ).catch((err: unknown) => {
      late = true;
      throw err;
    });
  }

  /** Once the channel closed: its command's exit status (null: killed by a signal, or none came). */
  exitOf(ch: ClientChannel): Promise<number | null> {
    return this.exits.get(ch) ?? Promise.resolve(null);
  }

  /** Runs a command to its end: output and exit status, killed (channel closed) at the deadline. */
  async run(command: string, deadlineMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const ch = await this.channel(command, deadlineMs);
    let stdout = '';
    let stderr = '';
    ch.setEncoding('utf8');
    ch.stderr.setEncoding('utf8');
    ch.on('data', (d: string) => (stdout += d));
    ch.stderr.on('data', (d: string) => (stderr += d));
    ch.end();
    try {
      const code = await withDeadline(
        this.exitOf(ch),
        deadlineMs,
        `${command.split(/\s/)[0]} on ${this.spec.url}`,
      );
      return { code, stdout, stderr };
    } catch (err) {
      ch.close();
      throw err;
    }
  }

  sftp(deadlineMs: number): Promise<SFTPWrapper> {
    return withDeadline(
      new Promise<SFTPWrapper>((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s)))),
      deadlineMs,
      `SFTP on ${this.spec.url}`,
    );
  }

  close(): void {
    this.client.end();
    this.client.destroy();
    this.onClose('closed by the harness');
  }
}

/** Single-quoted for the target's POSIX shell. */
export function shq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Connects and authenticates. Refusals (SetupError, exit 2): an unknown, changed or revoked
 * host key; no key the target accepts; nothing listening.
 */
export async function connectSsh(spec: TargetSpec, opts: SshAuthOptions): Promise<SshConnection> {
  const knownHosts = opts.knownHosts ? [opts.knownHosts] : defaultKnownHostsFiles();
  if (opts.knownHosts && !existsSync(opts.knownHosts)) throw new SetupError(`--known-hosts ${opts.knownHosts} does not exist: give a known_hosts file that lists the target's host key`);
  const { keys, skipped } = identities(spec, opts);
  const agent = opts.agentSocket === undefined ? process.env.SSH_AUTH_SOCK : opts.agentSocket ?? undefined;
  const methods: Array<AgentAuthMethod | PublicKeyAuthMethod> = [
    ...(agent ? [{ type: 'agent' as const, username: spec.user, agent }] : []),
    ...keys.map((k) => ({ type: 'publickey' as const, username: spec.user, key: k.key })),
  ];
  const tried = [...(agent ? ['the SSH agent'] : []), ...keys.map((k) => k.file)];
  if (methods.length === 0) {
    throw new SetupError(`${spec.url}: no key to log in with (no SSH agent, no --identity, no IdentityFile in ~/.ssh/config, no ~/.ssh/id_*${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}): pass --identity FILE`);
  }
  const client = new Client();
  let verdict: HostKeyVerdict | undefined;
  let matched: { type: string; fingerprint: string; file: string; line: number } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error('the connection closed before login')));
  });
  client.connect({
    host: spec.host,
    port: spec.port,
    username: spec.user,
    readyTimeout: opts.connectDeadlineMs,
    // A target that stops answering (powered off, network gone) is noticed within ~45 s.
    keepaliveInterval: 15_000,
    keepaliveCountMax: 3,
    hostVerifier: (blob: Buffer) => {
      const type = keyTypeOf(blob);
      verdict = verifyHostKey(knownHosts, spec.host, spec.port, type, blob);
      if (verdict.ok) matched = { type, fingerprint: fingerprint(blob), file: verdict.file, line: verdict.line };
      return verdict.ok;
    },
    authHandler: [...methods],
  });
  try {
    await withDeadline(ready, opts.connectDeadlineMs + 5000, `connecting to ${spec.url}`);
  } catch (err) {
    client.destroy();
    if (verdict && !verdict.ok) throw new SetupError(`${spec.url}: ${verdict.message}`);
    const msg = err instanceof Error ? err.message : String(err);
    if (/authentication methods failed/i.test(msg)) {
      throw new SetupError(`${spec.url}: ${spec.user} refused every key offered (${tried.join(', ')}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}): add your public key to ${spec.user}'s ~/.ssh/authorized_keys on the target, or pass --identity FILE`);
    }
    if (err instanceof DeadlineError || /timed out/i.test(msg)) throw new SetupError(`${spec.url}: no SSH login within ${Math.round(opts.connectDeadlineMs / 1000)} s (${msg}): is the target up and its sshd listening on port ${spec.port}?`);
    throw new SetupError(`${spec.url}: cannot connect (${msg}): is the target up and its sshd listening on port ${spec.port}?`);
  }
  return new SshConnection(spec, client, matched!);
}

/** A dropped connection while the agent still had work is a guest-died kind of failure (exit 1). */
export function droppedError(spec: TargetSpec, why: string): GuestError {
  return new GuestError(`${spec.url}: ${why} while the harness still talked to the target's agent`, '');
}
