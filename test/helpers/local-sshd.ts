/**
 * A real OpenSSH sshd on a random port of 127.0.0.1, started by a test as a build host: its own
 * configuration, host key and authorized key (made for this run by ssh-keygen, as the SSH
 * target tests make theirs), root login by key only. `env` becomes sshd's SetEnv: the test's
 * sessions get their own HOME (the workspace goes under it) or a PATH without some tool.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { generateKeys, knownHostsLine, SSHD, type SshKeys } from '../../harness/vm/ssh-guest.js';

export interface LocalSshd {
  port: number;
  url: string;
  keys: SshKeys;
  knownHosts: string;
  process: ChildProcess;
  /** The pids of the sshd processes serving connections now (children of the listener). */
  sessions(): Promise<number[]>;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startSshd(dir: string, env: Record<string, string> = {}): Promise<LocalSshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  const keys = await generateKeys(dir);
  const port = await freePort();
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, `${keys.userPublic}\n`);
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${keys.hostKey}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `AuthorizedKeysFile ${authorized}`,
    'UsePAM no',
    'UseDNS no',
    'PrintLastLog no',
    'PrintMotd no',
    'StrictModes no',
    'PidFile none',
    'Subsystem sftp internal-sftp',
    ...(Object.keys(env).length ? [`SetEnv ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    '',
  ].join('\n'));
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${knownHostsLine(port, keys.hostPublic)}\n`);
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  // A test that dies must not leave its sshd listening.
  const stopOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 15_000;
  for (;;) {
    if (/Server listening/.test(log)) break;
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`sshd did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    url: `ssh://root@127.0.0.1:${port}`,
    keys,
    knownHosts,
    process: child,
    sessions: async () => {
      const r = await execa('ps', ['--ppid', String(child.pid), '-o', 'pid='], { reject: false });
      return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
    },
    stop: () => {
      process.removeListener('exit', stopOnExit);
      child.kill('SIGTERM');
      // Sessions still running (a test that failed) share sshd's stderr: do not wait for them.
      child.stderr?.destroy();
    },
  };
}

/** A PATH of links to every program of /usr/bin and /usr/sbin but those in `without` (an sshd's PATH lacking a tool). */
export function pathWithout(dir: string, without: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const d of ['/usr/bin', '/usr/sbin']) {
    for (const n of readdirSync(d)) {
      if (without.includes(n) || existsSync(join(dir, n))) continue;
      symlinkSync(join(d, n), join(dir, n));
    }
  }
  return dir;
}
