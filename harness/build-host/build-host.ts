/**
 * `--build-host ssh://user@host[:port]`: make runs on another machine. The connection and its
 * host key check are harness/ssh/'s (never a key accepted silently); the host is probed before
 * anything is sent and refused in one line when it lacks a tool, a header or the space.
 *
 * The tree goes to a workspace under the host user's ~/.cache/bpf-storage-harness/build-host/
 * (one per local tree): only what changed since the last sync (sync.ts), as one gzip'd tar
 * stream over an exec channel, extracted with the host's clock as mtime (tar -m): make there
 * compares sources with objects it made itself, so a clock skew between the machines can never
 * make it skip a changed file, and unchanged files keep their mtimes (incremental stays
 * incremental). Local paths in make's arguments (the tree, O=, staged files) are rewritten to
 * the workspace's; the artifacts come back as a tar stream into the local output directory.
 *
 * Every remote command runs under a small shell that watches its channel's stdin: when the
 * channel or the connection goes (the end, a deadline, Ctrl-C, the harness killed, a dropped
 * network), stdin ends and the command's whole process group (setsid) is killed there.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { connectSsh, parseTargetUrl, shq, type SshConnection } from '../ssh/ssh.js';
import { registerChild } from '../util/children.js';
import { withDeadline } from '../util/deadline.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { cacheDir } from '../util/paths.js';
import { HOST_CACHE, parseProbe, PROBE_COMMAND, refusal, type HostFacts } from './probe.js';
import { diffManifests, listTree, newToken, readManifest, writeManifest, type Manifest } from './sync.js';

/** The build host failed (lost connection, refused): not the tree's fault, so a bisect aborts instead of skipping. */
export class BuildHostError extends SetupError {
  constructor(message: string) {
    super(message);
    this.name = 'BuildHostError';
  }
}

/**
 * What went wrong while `step` talked to the host at `url`, as a BuildHostError naming both
 * (a deadline, a refusal, a failed remote command); `lost`: why the connection ended, when it
 * did, which is then the reason (a tar cut off by a dropped connection says so, not "no room").
 */
export function hostFailure(url: string, step: string, err: unknown, lost?: string): BuildHostError {
  if (err instanceof BuildHostError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const msg = text.startsWith(`${url}: `) ? text.slice(url.length + 2) : text;
  return new BuildHostError(`build host ${url}, ${step}: ${lost ? `the connection was lost (${lost})` : msg}`);
}

/** What a command line says about the build host. */
export interface BuildHostChoice {
  url: string;
  identity?: string;
  knownHosts?: string;
}

/** Room a first build needs on the host besides the tree (objects, vmlinux with its debug info). */
export const FIRST_BUILD_BYTES = 8 * 2 ** 30;
/** Room a later, incremental step needs besides what it sends. */
export const STEP_BYTES = 1 * 2 ** 30;

const PROBE_DEADLINE_MS = 60_000;
const SHORT_DEADLINE_MS = 60_000;
/** How long the end of a killed command is awaited (the watcher there kills it as the channel ends). */
const KILL_GRACE_MS = 10_000;

export interface SyncStats {
  /** Whether everything went (first sync, or the host's copy was not the last one sent from here). */
  full: boolean;
  files: number;
  removed: number;
  /** Bytes of the files sent, and of the compressed stream that carried them. */
  bytes: number;
  wireBytes: number;
  /** Listing and comparing the local tree, and the whole sync. */
  listMs: number;
  ms: number;
}

export interface RemoteProcess {
  /** The command's stdout and stderr, merged. */
  output: Readable;
  /** What the watching shell itself said (a directory that is not there). */
  stderr: () => string;
  done: Promise<{ code: number | null }>;
  /** Ends the channel: the watcher on the host kills the process group. */
  kill(): void;
}

/**
 * The shell that runs `command` on the host: in a session of its own (setsid: its process
 * group is killed whole), beside a watcher that reads the channel's stdin (fd 3, since an
 * asynchronous command's stdin is /dev/null) and kills the group when stdin ends. The shell
 * waits for the command itself, so a command that ends returns at once; the watcher is then
 * stopped (its cat goes when the channel closes).
 */
export function watchedCommand(cwd: string, command: string): string {
  return [
    `cd ${shq(cwd)} || exit 126`,
    'exec 3<&0',
    `setsid ${command} </dev/null 2>&1 3<&- &`,
    'M=$!',
    '{ cat >/dev/null; kill -KILL -- -$M; kill -KILL $M; } <&3 3<&- >/dev/null 2>&1 &',
    'W=$!',
    'exec 3<&- 0</dev/null',
    'wait $M; rc=$?',
    'kill $W 2>/dev/null',
    'exit $rc',
  ].join('\n');
}

function envWords(env: Record<string, string>): string {
  return ['env', ...Object.entries({ LC_ALL: 'C', ...env }).map(([k, v]) => shq(`${k}=${v}`))].join(' ');
}

function countBytes(stream: Readable): { bytes: () => number } {
  let n = 0;
  stream.on('data', (b: Buffer) => (n += b.length));
  return { bytes: () => n };
}

export class BuildHost {
  /** Local directory -> the host's, longest first (the rewrite of make's arguments). */
  private readonly mapped: Array<{ local: string; remote: string }> = [];
  /** Why the connection ended, once it did. */
  private lost: string | undefined;

  private constructor(
    readonly url: string,
    readonly conn: SshConnection,
    readonly facts: HostFacts,
    private readonly log: (line: string) => void,
  ) {
    conn.onClosed((why) => (this.lost = why));
  }

  /** `fn`, its failure a BuildHostError naming the host and `step`. */
  private async step<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw hostFailure(this.url, step, err, this.lost);
    }
  }

  /** Connects (the host key checked as for --target) and probes; refuses a host without the tools. */
  static async open(choice: BuildHostChoice, log: (line: string) => void): Promise<BuildHost> {
    const spec = parseTargetUrl(choice.url, '--build-host');
    const conn = await connectSsh(spec, { identity: choice.identity, knownHosts: choice.knownHosts, connectDeadlineMs: 30_000 }).catch((err: unknown) => {
      throw hostFailure(choice.url, 'logging in', err);
    });
    let lost: string | undefined;
    conn.onClosed((why) => (lost = why));
    try {
      const probe = await conn.run(PROBE_COMMAND, PROBE_DEADLINE_MS);
      const facts = parseProbe(probe.stdout);
      const refused = refusal(choice.url, facts, 0);
      if (refused) throw new SetupError(refused);
      log(`build host ${choice.url}: ${facts.nproc} CPUs, ${facts.gcc}, host key ${conn.hostKey.type} ${conn.hostKey.fingerprint} (${conn.hostKey.file}:${conn.hostKey.line})`);
      return new BuildHost(choice.url, conn, facts, log);
    } catch (err) {
      const failure = hostFailure(choice.url, 'probing the host', err, lost);
      conn.close();
      throw failure;
    }
  }

  /** The host's workspace for a local tree: one per tree and machine it comes from. */
  workspace(localTree: string): string {
    const abs = resolve(localTree);
    const id = createHash('sha256').update(`${hostname()}:${abs}`).digest('hex').slice(0, 10);
    return `${this.facts.home}/${HOST_CACHE}/${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}-${id}`;
  }

  private map(local: string, remote: string): void {
    this.mapped.push({ local: resolve(local), remote });
    this.mapped.sort((a, b) => b.local.length - a.local.length);
  }

  /** A word of a command line with the local paths it names rewritten to the host's. */
  toRemote(word: string): string {
    for (const m of this.mapped) {
      const at = word.indexOf(m.local);
      if (at < 0) continue;
      const after = word[at + m.local.length];
      if (after !== undefined && after !== '/') continue;
      if (at > 0 && word[at - 1] !== '=') continue;
      return `${word.slice(0, at)}${m.remote}${word.slice(at + m.local.length)}`;
    }
    return word;
  }

  /** The host's directory for a local output directory (mapped from now on). */
  async outDir(localOut: string, tree: string): Promise<string> {
    const remote = `${this.workspace(tree)}/out/${basename(resolve(localOut))}`;
    await this.step('making the output directory', () => this.must(`mkdir -p ${shq(remote)}`, `making ${remote}`));
    this.map(localOut, remote);
    return remote;
  }

  /** A local file (a config fragment outside the tree) copied to the host, its path mapped. */
  async stage(localFile: string, tree: string): Promise<string> {
    const abs = resolve(localFile);
    const dir = `${this.workspace(tree)}/stage`;
    const remote = `${dir}/${createHash('sha256').update(abs).digest('hex').slice(0, 8)}-${basename(abs)}`;
    await this.step(`copying ${basename(abs)}`, () => this.must(`mkdir -p ${shq(dir)}`, `making ${dir}`));
    await this.put(abs, remote);
    this.map(abs, remote);
    return remote;
  }

  /** `mode`: the file's mode there (a script to run), else SFTP's default. */
  async put(local: string, remote: string, mode?: number): Promise<void> {
    await this.step(`copying ${basename(local)}`, async () => {
      const sftp = await this.conn.sftp(SHORT_DEADLINE_MS);
      try {
        await withDeadline(new Promise<void>((res, rej) => sftp.fastPut(local, remote, mode === undefined ? {} : { mode }, (err) => (err ? rej(err) : res()))), 300_000, `copying ${basename(local)} to ${this.url}`);
      } finally {
        sftp.end();
      }
    });
  }

  private async must(command: string, what: string): Promise<string> {
    const r = await this.conn.run(command, SHORT_DEADLINE_MS);
    if (r.code !== 0) throw new HarnessError(`${this.url}: ${what} failed on the build host (${r.stderr.trim().split('\n')[0] || `exit ${r.code}`})`, 2);
    return r.stdout;
  }

  /**
   * Brings the host's copy of `localTree` to its state now: a delete list, then one tar stream
   * of the files new or changed since the last sync from here. Refuses (before sending) when
   * the host lacks the room. `minFreeBytes`: the room asked for besides what is sent.
   */
  sync(localTree: string, o: { deadlineMs: number; minFreeBytes?: number; keep?: (rel: string, isDir: boolean) => boolean }): Promise<SyncStats> {
    return this.step('syncing the tree', () => this.syncTree(localTree, o));
  }

  private syncTree(localTree: string, o: { deadlineMs: number; minFreeBytes?: number; keep?: (rel: string, isDir: boolean) => boolean }): Promise<SyncStats> {
    const tree = resolve(localTree);
    const ws = this.workspace(tree);
    return this.syncInto(tree, `${ws}/src`, { ...o, token: `${ws}/src.token`, replace: true, what: 'the tree' }).then((stats) => {
      this.map(tree, `${ws}/src`);
      return stats;
    });
  }

  /**
   * A local directory but the tree (a kernel's output directory, `keep` choosing what of it)
   * to `remoteDir` on the host, only what changed since the last such sync from here. Unlike
   * the tree's, a first sync adds to what is there instead of emptying the directory first.
   */
  syncDir(localDir: string, remoteDir: string, o: { deadlineMs: number; keep: (rel: string, isDir: boolean) => boolean; minFreeBytes?: number }): Promise<SyncStats> {
    const token = `${remoteDir.replace(/\/+$/, '')}.bpfh-token`;
    return this.step(`sending ${basename(localDir)}`, () => this.syncInto(resolve(localDir), remoteDir, { ...o, token, replace: false, what: basename(localDir) }));
  }

  private async syncInto(local: string, remote: string, o: { deadlineMs: number; minFreeBytes?: number; keep?: (rel: string, isDir: boolean) => boolean; token: string; replace: boolean; what: string }): Promise<SyncStats> {
    const t0 = Date.now();
    const manifestPath = join(cacheDir(), 'build-hosts', `${createHash('sha256').update(`${this.url}\0${o.replace ? dirname(o.token) : remote}`).digest('hex').slice(0, 16)}.manifest`);
    const now = listTree(local, o.keep);
    const saved = readManifest(manifestPath);
    const hostToken = (await this.catFile(o.token)).trim();
    const full = saved === undefined || hostToken === '' || hostToken !== saved.token;
    const before: Manifest = full ? new Map() : saved.entries;
    const diff = diffManifests(before, now);
    const listMs = Date.now() - t0;
    const need = diff.bytes + (o.minFreeBytes ?? (full ? FIRST_BUILD_BYTES : STEP_BYTES));
    const refused = refusal(this.url, this.facts, need);
    if (refused) throw new SetupError(refused);
    this.log(`build host: ${full ? 'first sync' : 'sync'} of ${local} to ${remote}: ${diff.send.length} file(s) to send (${(diff.bytes / 2 ** 20).toFixed(1)} MiB), ${diff.remove.length} to delete`);

    // From here the host's copy is in between: no token until it is whole again.
    await this.must(`rm -f ${shq(o.token)}${full && o.replace ? ` && rm -rf ${shq(remote)}` : ''} && mkdir -p ${shq(remote)}`, `preparing ${remote}`);
    if (diff.remove.length > 0) await this.feed(`cd ${shq(remote)} && xargs -0 rm -f --`, Buffer.from(`${diff.remove.join('\0')}\0`), o.deadlineMs, 'deleting what is gone');
    const wireBytes = diff.send.length > 0 ? await this.sendTar(local, remote, diff.send, o.deadlineMs, o.what) : 0;
    const token = newToken();
    await this.must(`printf %s ${token} > ${shq(o.token)}`, 'writing the sync token');
    writeManifest(manifestPath, { token, entries: now });
    const stats: SyncStats = { full, files: diff.send.length, removed: diff.remove.length, bytes: diff.bytes, wireBytes, listMs, ms: Date.now() - t0 };
    this.log(`build host: synced in ${(stats.ms / 1000).toFixed(1)} s (${(wireBytes / 2 ** 20).toFixed(1)} MiB on the wire)`);
    return stats;
  }

  /** The text of a small file on the host ('' when there is none). */
  async readFile(remote: string): Promise<string> {
    return this.step(`reading ${basename(remote)}`, () => this.catFile(remote));
  }

  /** readFile's read, for a caller already inside a step of its own (sync's token). */
  private async catFile(remote: string): Promise<string> {
    return (await this.conn.run(`cat ${shq(remote)} 2>/dev/null; true`, SHORT_DEADLINE_MS)).stdout;
  }

  /** A small file written on the host, whole or not at all (a rename). */
  async writeFile(remote: string, text: string): Promise<void> {
    await this.step(`writing ${basename(remote)}`, () => this.feed(`cat > ${shq(`${remote}.tmp`)} && mv -f ${shq(`${remote}.tmp`)} ${shq(remote)}`, Buffer.from(text), SHORT_DEADLINE_MS, `writing ${remote}`));
  }

  /** Runs `command` on the host with `input` as its stdin, to its end. */
  private async feed(command: string, input: Buffer, deadlineMs: number, what: string): Promise<void> {
    const ch = await this.conn.channel(command, SHORT_DEADLINE_MS);
    let stderr = '';
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ch.resume();
    ch.end(input);
    const code = await withDeadline(this.conn.exitOf(ch), deadlineMs, `${what} on ${this.url}`).catch((err: unknown) => {
      ch.close();
      throw err;
    });
    if (code !== 0) throw new HarnessError(`${this.url}: ${what} failed on the build host (${stderr.trim().split('\n')[0] || `exit ${code}`})`, 2);
  }

  /** The local tar of `files` (relative to `tree`), gzip'd, into tar -x on the host. */
  private async sendTar(tree: string, remoteDir: string, files: string[], deadlineMs: number, what = 'the tree'): Promise<number> {
    const list = join(cacheDir(), 'build-hosts', `send-${process.pid}.list`);
    mkdirSync(join(cacheDir(), 'build-hosts'), { recursive: true });
    writeFileSync(list, `${files.join('\0')}\0`);
    const ch = await this.conn.channel(`tar -xzmf - -C ${shq(remoteDir)}`, SHORT_DEADLINE_MS);
    const tar = spawn('tar', ['-c', '-f', '-', '-C', tree, '--null', '--no-recursion', '-T', list, '--use-compress-program=gzip -1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    registerChild(tar);
    let tarErr = '';
    let hostErr = '';
    tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
    ch.stderr.on('data', (d: Buffer) => (hostErr += d.toString()));
    ch.resume();
    const sent = countBytes(tar.stdout);
    tar.stdout.pipe(ch);
    try {
      const [tarCode, hostCode] = await withDeadline(Promise.all([
        new Promise<number | null>((res) => tar.on('close', (c) => res(c))),
        // A host end that took nothing more (a dropped connection) would leave tar blocked on a full pipe.
        this.conn.exitOf(ch).then((c) => {
          if (c !== 0) tar.kill('SIGKILL');
          return c;
        }),
      ]), deadlineMs, `sending ${what} to ${this.url}`);
      // No exit status: the channel, or the connection, ended under tar -x (not a full disk).
      if (hostCode === null) throw new BuildHostError(`build host ${this.url}, sending ${what}: the connection was lost${this.lost ? ` (${this.lost})` : ' (the channel ended without tar\'s exit status)'}`);
      // GNU tar exits 1 when a file changed while it read it: the next sync sends it again.
      if (tarCode !== null && tarCode !== 0 && tarCode !== 1) throw new HarnessError(`tar of ${tree} failed (exit ${tarCode}): ${tarErr.trim().split('\n')[0]}`, 2);
      if (hostCode !== 0) throw new HarnessError(`${this.url}: tar -x on the build host failed (${hostErr.trim().split('\n')[0] || `exit ${hostCode}`}): is there room under ~/${HOST_CACHE}?`, 2);
      return sent.bytes();
    } catch (err) {
      tar.kill('SIGKILL');
      ch.close();
      throw err;
    } finally {
      rmSync(list, { force: true });
    }
  }

  /** `argv` (local paths rewritten) in `cwd` on the host, killed there when the channel ends. */
  async spawn(argv: readonly string[], o: { cwd: string; env?: Record<string, string> }): Promise<RemoteProcess> {
    const command = `${envWords(o.env ?? {})} ${argv.map((w) => shq(this.toRemote(w))).join(' ')}`;
    const ch = await this.step(`starting ${basename(argv[0] ?? '')}`, () => this.conn.channel(watchedCommand(this.toRemote(o.cwd), command), SHORT_DEADLINE_MS));
    // Once killed, the end is awaited for KILL_GRACE_MS at most: a host that does not close the channel does not hang the harness.
    let gaveUp: ((v: { code: null }) => void) | undefined;
    const done = Promise.race([this.conn.exitOf(ch).then((code) => ({ code })), new Promise<{ code: null }>((res) => (gaveUp = res))]);
    let stderr = '';
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return {
      output: ch,
      stderr: () => stderr,
      done,
      kill: () => {
        ch.end();
        ch.close();
        setTimeout(() => gaveUp?.({ code: null }), KILL_GRACE_MS).unref();
      },
    };
  }

  /** `argv` on the host to its end within `deadlineMs`: its exit status and output. */
  async run(argv: readonly string[], o: { cwd: string; env?: Record<string, string>; deadlineMs: number }): Promise<{ code: number | null; output: string; timedOut: boolean }> {
    const p = await this.spawn(argv, o);
    let output = '';
    p.output.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill();
    }, o.deadlineMs);
    try {
      const { code } = await p.done;
      // No status and not killed here: the connection (or the host's sshd) ended the command.
      if (code === null && !timedOut) throw new BuildHostError(`build host ${this.url}, ${argv.slice(0, 2).map((w) => basename(w)).join(' ')}: the connection was lost${this.lost ? ` (${this.lost})` : ''}`);
      return { code, output: output + p.stderr(), timedOut };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The named files (relative to the host's directory for `localOut`) into `localOut`, as one
   * tar stream; those the host does not have are left out. Returns the paths that came. A name
   * may be a directory: it comes whole.
   */
  fetch(localOut: string, files: readonly string[], deadlineMs: number, o: { newerThan?: string } = {}): Promise<{ files: string[]; wireBytes: number; ms: number }> {
    return this.step(`fetching ${files.join(', ')}`, () => this.fetchFiles(localOut, files, deadlineMs, o.newerThan));
  }

  /** `newerThan`: a file in the host's directory; then only what under `files` is newer than it comes (no directories). */
  private async fetchFiles(localOut: string, files: readonly string[], deadlineMs: number, newerThan?: string): Promise<{ files: string[]; wireBytes: number; ms: number }> {
    const t0 = Date.now();
    const remote = this.toRemote(resolve(localOut));
    const pick = newerThan
      ? `find ${files.map(shq).join(' ')} -newer ${shq(newerThan)} ! -type d -print0 2>/dev/null`
      : files.map((f) => `[ -e ${shq(f)} ] && printf '%s\\0' ${shq(f)}`).join('; ');
    const ch = await this.conn.channel(`cd ${shq(remote)} && { ${pick}; true; } | tar -czf - --null -T - --verbose`, SHORT_DEADLINE_MS);
    mkdirSync(localOut, { recursive: true });
    const tar = spawn('tar', ['-xzf', '-', '-C', localOut], { stdio: ['pipe', 'ignore', 'pipe'] });
    registerChild(tar);
    let listed = '';
    let tarErr = '';
    ch.stderr.on('data', (d: Buffer) => (listed += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
    const got = countBytes(ch);
    ch.pipe(tar.stdin);
    try {
      const [hostCode, tarCode] = await withDeadline(Promise.all([
        this.conn.exitOf(ch),
        new Promise<number | null>((res) => tar.on('close', (c) => res(c))),
      ]), deadlineMs, `fetching the build from ${this.url}`);
      if (hostCode !== 0) throw new HarnessError(`${this.url}: tar -c of the build failed on the build host (${listed.trim().split('\n').pop() || `exit ${hostCode}`})`, 2);
      if (tarCode !== 0) throw new HarnessError(`tar -x into ${localOut} failed (exit ${tarCode}): ${tarErr.trim().split('\n')[0]}`, 2);
      return { files: listed.split('\n').map((l) => l.trim().replace(/\/$/, '')).filter((l) => (newerThan ? l !== '' && !l.startsWith('tar: ') : files.includes(l))), wireBytes: got.bytes(), ms: Date.now() - t0 };
    } catch (err) {
      ch.close();
      tar.kill('SIGKILL');
      throw err;
    }
  }

  close(): void {
    this.conn.close();
  }
}
