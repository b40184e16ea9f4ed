/**
 * vm-test --target ssh://user@host[:port]: the same agent, BPF objects and scenarios on a
 * kernel that already runs elsewhere. The agent and objects go over SFTP into a private
 * directory (mktemp -d on the target), the agent speaks its protocol on an exec channel's
 * stdin/stdout (`--channel -`), its stderr is the run's console. The target is checked first
 * (root, BTF, cgroup v2 with the memory controller, then bpf() through the agent) and refused
 * in one line when it lacks one. It is never rebooted: no poweroff is ever sent.
 *
 * Cleanup does not depend on the harness being alive: a guardian shell on the target waits
 * for the agent to end or for the SSH session to go (Ctrl-C, a dropped connection), kills the
 * agent, removes the scenarios' cgroups and the directory.
 *
 * One run per machine at a time (MACHINE_LOCK): the counters are the machine's (slabinfo, the
 * per-CPU memcg charge stocks, the scenario cgroups named by scenario), so two runs at once
 * would judge each other's allocations. Two URLs can name one machine (127.0.0.1 and
 * localhost, two users), and two harnesses can share a target: only the target can tell.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentCallError, AgentClient, type AgentReply } from '../agent/client.js';
import { GuestOps } from '../agent/guest-ops.js';
import { parseKernelConfig } from '../kernel/config.js';
import type { TargetSummary } from '../results/summary.js';
import { withDeadline } from '../util/deadline.js';
import { GuestError, SetupError } from '../util/errors.js';
import { AGENT_ARCHES, agentArchOf } from '../cross/arch.js';
import { agentBuildFor } from '../cross/build.js';
import { ConsoleMonitor } from '../vm/console.js';
import type { BootOptions, GuestSession } from '../vm/session.js';
import { connectSsh, droppedError, parseTargetUrl, shq, type SshConnection, type TargetSpec } from '../ssh/ssh.js';

export interface TargetOptions {
  identity?: string;
  knownHosts?: string;
  /** Debian mirror for the aarch64 build's libraries; default: the one the system's apt uses. */
  mirror?: string;
  bootDeadlineS: number;
  log: (line: string) => void;
}

/** What the target said about itself before anything was uploaded. */
export interface TargetFacts {
  uid: number;
  release: string;
  arch: string;
  btf: boolean;
  cgroup2: boolean;
  memcg: boolean;
}

export const PROBE_COMMAND = [
  'echo uid=$(id -u)',
  'echo release=$(uname -r)',
  'echo arch=$(uname -m)',
  '[ -r /sys/kernel/btf/vmlinux ] && echo btf=1',
  "grep -qs '^[^ ]* /sys/fs/cgroup cgroup2 ' /proc/mounts && echo cgroup2=1",
  'grep -qsw memory /sys/fs/cgroup/cgroup.subtree_control && echo memcg=1',
  'true',
].join('; ');

export function parseProbe(stdout: string): TargetFacts {
  const kv = new Map(stdout.split('\n').flatMap((l) => {
    const m = /^(\w+)=(.*)$/.exec(l.trim());
    return m ? [[m[1]!, m[2]!] as const] : [];
  }));
  return {
    uid: kv.has('uid') && kv.get('uid') !== '' ? Number(kv.get('uid')) : -1,
    release: kv.get('release') ?? '',
    arch: kv.get('arch') ?? '',
    btf: kv.get('btf') === '1',
    cgroup2: kv.get('cgroup2') === '1',
    memcg: kv.get('memcg') === '1',
  };
}

/** The first thing the target lacks, as the one line that refuses it; undefined when it has all. */
export function refusal(url: string, f: TargetFacts): string | undefined {
  if (f.uid !== 0) return `${url}: the scenarios need root on the target (uid ${f.uid < 0 ? '?' : f.uid} logged in): use ssh://root@...`;
  if (!agentArchOf(f.arch)) return `${url}: the agent is built for ${AGENT_ARCHES.join(' and ')} only and the target is ${f.arch || 'unknown'}: run on an ${AGENT_ARCHES.join(' or ')} target`;
  if (!f.btf) return `${url}: ${f.release} has no /sys/kernel/btf/vmlinux: local storage maps need BTF (a kernel with CONFIG_DEBUG_INFO_BTF=y)`;
  if (!f.cgroup2) return `${url}: no cgroup v2 at /sys/fs/cgroup: boot the target with the unified hierarchy (systemd.unified_cgroup_hierarchy=1)`;
  if (!f.memcg) return `${url}: cgroup v2's memory controller is not enabled for the children of /sys/fs/cgroup: on the target, echo +memory > /sys/fs/cgroup/cgroup.subtree_control`;
  return undefined;
}

/**
 * A directory on the target held by a live process: the connection's sshd ($PPID) from
 * lockCommand, then the guardian, which removes it after its cleanup. A holder that is gone
 * (a dropped connection before the agent started) leaves a stale lock that the next run takes.
 */
export const MACHINE_LOCK = '/tmp/bpfh-lock';

/** Prints `taken`, or `busy <url of the holder>`. An empty pid is a holder between its mkdir and its echo: busy. */
export function lockCommand(url: string, lock = MACHINE_LOCK): string {
  return [
    `L=${shq(lock)}`,
    `take() { mkdir "$L" 2>/dev/null && echo $PPID > "$L/pid" && echo ${shq(url)} > "$L/by"; }`,
    'if take; then echo taken; exit 0; fi',
    'busy() { echo "busy $(cat "$L/by" 2>/dev/null)"; exit 0; }',
    'O=$(cat "$L/pid" 2>/dev/null)',
    'if [ -z "$O" ] || kill -0 "$O" 2>/dev/null; then busy; fi',
    // One run at a time takes a stale lock over: without it two could each remove the lock the
    // other had just taken, and both run.
    'mkdir "$L.takeover" 2>/dev/null || busy',
    'O=$(cat "$L/pid" 2>/dev/null)',
    'if [ -z "$O" ] || kill -0 "$O" 2>/dev/null; then rmdir "$L.takeover"; busy; fi',
    'rm -rf "$L"; if take; then R=taken; else R="busy $(cat "$L/by" 2>/dev/null)"; fi',
    'rmdir "$L.takeover"; echo "$R"',
  ].join('\n');
}

async function takeMachine(conn: SshConnection): Promise<void> {
  const r = await conn.run(lockCommand(conn.spec.url), 30_000);
  const said = r.stdout.trim();
  if (said === 'taken') return;
  if (said.startsWith('busy')) {
    const by = said.slice('busy'.length).trim();
    throw new SetupError(`${conn.spec.url}: another bpf-harness run is on this machine${by ? ` (${by})` : ''}; its counters are machine-wide, so two runs at once would judge each other's allocations: run one at a time (if no run is left, rm -r ${MACHINE_LOCK} there)`);
  }
  throw new SetupError(`${conn.spec.url}: could not take ${MACHINE_LOCK} (${r.stderr.trim() || `exit ${r.code}`}): /tmp must be writable on the target`);
}

/**
 * The agent under a guardian. `$PPID` is the sshd process of this session: it ends when the
 * connection does. The guardian (detached from the channel's descriptors, so the channel can
 * close) waits for the agent or the session to end, then kills the agent, waits for it to be
 * gone, removes the scenarios' cgroups (bpfh-*, empty once the agent is gone) and the directory,
 * and puts back the workqueues' affinity scope a race verb cut short left at `cpu`.
 */
const WQ_SCOPE = '/sys/module/workqueue/parameters/default_affinity_scope';

export function agentCommand(dir: string): string {
  const d = shq(dir);
  return [
    `D=${d}; P=$PPID; W=${WQ_SCOPE}; S=$(cat $W 2>/dev/null)`,
    'exec 3<&0',
    '"$D/bpf-agent" --channel - --bpf-dir "$D" 0<&3 3<&- &',
    'A=$!',
    'exec 3<&- 0</dev/null',
    'echo $A > "$D/agent.pid"',
    "( trap '' HUP INT TERM; while kill -0 $A && kill -0 $P; do sleep 1; done; kill -KILL $A; while kill -0 $A; do sleep 1; done; " +
      `cd /; find /sys/fs/cgroup -depth -type d -name 'bpfh-*' -exec rmdir {} \\; ; ` +
      '[ -n "$S" ] && [ "$(cat $W)" != "$S" ] && echo "$S" > $W; ' +
      `rm -rf "$D" ${MACHINE_LOCK} ) >/dev/null 2>&1 &`,
    // The guardian holds the machine until its cleanup is done.
    `echo $! > ${MACHINE_LOCK}/pid`,
    'wait $A',
  ].join('\n');
}

/** A target connected and checked, nothing uploaded yet: start() uploads and starts the agent, discard() hangs up. */
export interface PreparedTarget {
  spec: TargetSpec;
  facts: TargetFacts;
  /** Who, and the host key that was verified; start() records the cleanup in it. */
  target: TargetSummary;
  /** The kernel's config (the debug-kernel checks read it); empty when the target has none to read. */
  config: Map<string, string>;
  start(boot: BootOptions, log: (line: string) => void): Promise<GuestSession>;
  discard(): void;
}

/** Connects and checks the target; the returned start() uploads and starts the agent. */
export async function prepareSshTarget(url: string, opts: TargetOptions): Promise<PreparedTarget> {
  const spec = parseTargetUrl(url);
  const deadlineMs = opts.bootDeadlineS * 1000;
  const conn = await connectSsh(spec, { identity: opts.identity, knownHosts: opts.knownHosts, connectDeadlineMs: Math.min(deadlineMs, 60_000) });
  try {
    const probe = await conn.run(PROBE_COMMAND, 30_000);
    const facts = parseProbe(probe.stdout);
    const refused = refusal(url, facts);
    if (refused) throw new SetupError(refused);
    // The agent for the target's architecture: aarch64's is cross-built now (a no-op when built).
    const buildDir = await agentBuildFor(agentArchOf(facts.arch)!, { mirror: opts.mirror, log: opts.log, why: url });
    const config = await readTargetConfig(conn);
    const target: TargetSummary = { url, user: spec.user, host: spec.host, port: spec.port, hostKey: `${conn.hostKey.type} ${conn.hostKey.fingerprint}` };
    opts.log(`target ${url}: ${facts.release} (${facts.arch}), host key ${target.hostKey} (${conn.hostKey.file}:${conn.hostKey.line})${config.size ? '' : ', no kernel config to read'}`);
    return {
      spec,
      facts,
      target,
      config,
      start: (boot, log) => startRemoteAgent(conn, target, buildDir, boot, deadlineMs, log),
      discard: () => conn.close(),
    };
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** /boot/config-<release> or /proc/config.gz: the debug-kernel checks read it; empty when neither is there. */
async function readTargetConfig(conn: SshConnection): Promise<Map<string, string>> {
  const r = await conn.run('cat "/boot/config-$(uname -r)" 2>/dev/null || zcat /proc/config.gz 2>/dev/null || true', 60_000);
  return parseKernelConfig(r.stdout);
}

/** errno values of bpf() that mean the target cannot run BPF at all. */
const NO_BPF: Record<number, string> = { 1: 'EPERM', 13: 'EACCES', 38: 'ENOSYS' };

async function upload(conn: SshConnection, buildDir: string, dir: string, deadlineMs: number): Promise<number> {
  const sftp = await conn.sftp(deadlineMs);
  const files = [
    { local: join(buildDir, 'bpf-agent'), remote: `${dir}/bpf-agent`, mode: 0o755 },
    ...readdirSync(buildDir).filter((f) => f.endsWith('.bpf.o')).map((f) => ({ local: join(buildDir, f), remote: `${dir}/${f}`, mode: 0o644 })),
  ];
  try {
    await withDeadline(
      Promise.all(files.map((f) => new Promise<void>((resolve, reject) => sftp.fastPut(f.local, f.remote, { mode: f.mode }, (err) => (err ? reject(err) : resolve()))))),
      deadlineMs,
      `uploading the agent to ${conn.spec.url}`,
    );
  } finally {
    sftp.end();
  }
  return files.length;
}

async function startRemoteAgent(conn: SshConnection, target: TargetSummary, buildDir: string, boot: BootOptions, deadlineMs: number, log: (line: string) => void): Promise<GuestSession> {
  const started = Date.now();
  await takeMachine(conn);
  const made = await conn.run('umask 077; mktemp -d /tmp/bpfh-XXXXXX', 30_000);
  const dir = made.stdout.trim();
  if (made.code !== 0 || !/^\/tmp\/bpfh-[\w]+$/.test(dir)) throw new SetupError(`${conn.spec.url}: mktemp -d failed (${made.stderr.trim() || `exit ${made.code}`}): /tmp must be writable on the target`);
  target.cleanedUp = false;
  target.leftOver = dir;
  // Before the guardian exists the lock is this connection's: it goes with the directory.
  const removeDir = (): Promise<unknown> => conn.run(`rm -rf ${shq(dir)} ${MACHINE_LOCK}`, 30_000).catch(() => undefined);
  let channel;
  try {
    const files = await upload(conn, buildDir, dir, deadlineMs);
    log(`  uploaded the agent and ${files - 1} BPF objects to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    channel = await conn.channel(agentCommand(dir), 30_000);
  } catch (err) {
    await removeDir();
    throw err;
  }
  const ch = channel;
  const monitor = new ConsoleMonitor();
  ch.stderr.setEncoding('utf8');
  ch.stderr.on('data', (t: string) => {
    monitor.push(t);
    boot.onConsole?.(t);
  });
  const agent = new AgentClient(ch, boot.recordAgent);
  conn.onClosed((why) => agent.failAll(droppedError(conn.spec, why)));
  const channelClosed = new Promise<void>((resolve) => ch.on('close', () => resolve()));
  const session = remoteSession(conn, target, dir, agent, monitor, { closed: channelClosed, end: () => ch.end() }, started);

  let ready: AgentReply;
  try {
    ready = await agent.ready(deadlineMs);
    await probeBpf(conn.spec, agent);
  } catch (err) {
    await session.shutdown(20_000).catch(() => undefined);
    if (err instanceof SetupError) throw err;
    const noexec = /permission denied/i.test(monitor.all) ? ' (permission denied: is /tmp mounted noexec there?)' : '';
    throw new GuestError(`${conn.spec.url}: the agent did not start${noexec}: ${err instanceof Error ? err.message : String(err)}`, monitor.tail());
  }
  return Object.assign(session, { ready, bootMs: Date.now() - started });
}

/** bpf() itself: the agent asks for map id 1; ENOENT or a map both mean bpf() works. */
async function probeBpf(spec: TargetSpec, agent: AgentClient): Promise<void> {
  try {
    await new GuestOps(agent).mapAlive(1, 30_000);
  } catch (err) {
    const errno = err instanceof AgentCallError ? err.reply.errno : undefined;
    if (errno !== undefined && NO_BPF[errno]) {
      throw new SetupError(`${spec.url}: bpf() fails with ${NO_BPF[errno]} for ${spec.user} on the target (${errno === 38 ? 'a kernel without CONFIG_BPF_SYSCALL' : 'no CAP_BPF/CAP_SYS_ADMIN: a container or a restricted capability bounding set'}): use a target where root may use bpf()`);
    }
    throw err;
  }
}

function remoteSession(
  conn: SshConnection, target: TargetSummary, dir: string, agent: AgentClient, monitor: ConsoleMonitor, channel: { closed: Promise<void>; end: () => void }, started: number,
): GuestSession {
  const killAgent = (): Promise<unknown> => conn.run(`kill -KILL $(cat ${shq(`${dir}/agent.pid`)}) 2>/dev/null; true`, 10_000).catch(() => undefined);
  /** The guardian removes the directory once the agent is gone; wait for that, with a deadline. */
  const confirmRemoved = async (deadlineMs: number): Promise<boolean> => {
    const end = Date.now() + deadlineMs;
    while (!conn.isClosed && Date.now() < end) {
      const r = await conn.run(`test -e ${shq(dir)} && echo present || echo gone`, 10_000).catch(() => undefined);
      if (r?.stdout.trim() === 'gone') return true;
      await new Promise((res) => setTimeout(res, 500));
    }
    return false;
  };
  return {
    agent,
    console: monitor,
    ready: { id: 0, ok: true, verb: 'ready' },
    bootMs: Date.now() - started,
    gone: () => (conn.isClosed ? `the connection to ${conn.spec.url} is gone` : null),
    kill: () => {
      // Asynchronous on purpose: on the way out the guardian on the target does it anyway.
      void killAgent().finally(() => conn.close());
    },
    shutdown: async (deadlineMs = 20_000) => {
      // End of input: the agent exits, the guardian cleans up. Never a poweroff.
      try {
        agent.failAll(new Error('the harness closed the agent channel'));
        channel.end();
        await withDeadline(channel.closed, Math.min(deadlineMs, 10_000), `the agent on ${conn.spec.url} ending`).catch(async () => {
          await killAgent();
        });
        target.cleanedUp = await confirmRemoved(deadlineMs);
        if (target.cleanedUp) delete target.leftOver;
      } finally {
        conn.close();
      }
    },
  };
}
