/**
 * Host key verification against an OpenSSH known_hosts file, as ssh(1) does it with
 * StrictHostKeyChecking=yes: plain and hashed (`|1|salt|hash`) host names, `[host]:port` for
 * ports other than 22, patterns with `*`, `?` and `!`, `@revoked` lines. A key that is not
 * there is never accepted; the refusal says how to accept it after checking the fingerprint.
 */
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  /** The host field as written: comma-separated patterns, or one `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The key blob, base64. */
  key: string;
  line: number;
}

export function defaultKnownHostsFiles(): string[] {
  return [join(homedir(), '.ssh', 'known_hosts'), join(homedir(), '.ssh', 'known_hosts2')];
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const words = raw.trim().split(/\s+/);
    if (words[0] === undefined || words[0] === '' || words[0].startsWith('#')) return;
    const marker = words[0] === '@revoked' || words[0] === '@cert-authority' ? words.shift() : undefined;
    const [hosts, keyType, key] = words;
    if (!hosts || !keyType || !key) return;
    out.push({ ...(marker ? { marker: marker as KnownHostEntry['marker'] } : {}), hosts, keyType, key, line: i + 1 });
  });
  return out;
}

/** How ssh names a host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

/** Whether a host field names `name` (hashed, or patterns where a negated match wins). */
export function hostsFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict =
  | { ok: true; file: string; line: number }
  | { ok: false; kind: 'unknown' | 'changed' | 'revoked'; message: string };

/** SHA256:... as ssh-keygen -l prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Verifies the key a server offered. `files`: the known_hosts files to read (those missing are
 * skipped). A key of the host that is listed with a different key (of any type) is "changed".
 */
export function verifyHostKey(files: readonly string[], host: string, port: number, keyType: string, keyBlob: Buffer): HostKeyVerdict {
  const name = hostKeyName(host, port);
  const key = keyBlob.toString('base64');
  const fp = fingerprint(keyBlob);
  const accept = `check that ${fp} is the target's ${keyType} key (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on it), then: ssh-keyscan -p ${port} ${host} >> ~/.ssh/known_hosts`;
  const others: string[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const e of parseKnownHosts(readFileSync(file, 'utf8'))) {
      if (e.marker === '@cert-authority' || !hostsFieldMatches(e.hosts, name)) continue;
      if (e.marker === '@revoked') {
        if (e.key === key) return { ok: false, kind: 'revoked', message: `the host key of ${name} (${fp}) is marked @revoked in ${file}:${e.line}: the target must get a new host key` };
        continue;
      }
      if (e.keyType === keyType && e.key === key) return { ok: true, file, line: e.line };
      others.push(`${file}:${e.line}`);
    }
  }
  if (others.length > 0) {
    return {
      ok: false, kind: 'changed',
      message: `the host key of ${name} has CHANGED (now ${keyType} ${fp}; known_hosts has another at ${others.join(', ')}): this may be an attack; if the target was reinstalled, ${accept.replace('then:', `remove the old one (ssh-keygen -R '${name}') and then:`)}`,
    };
  }
  return { ok: false, kind: 'unknown', message: `the host key of ${name} is not known (${keyType} ${fp}; looked in ${files.join(', ')}): ${accept}` };
}
