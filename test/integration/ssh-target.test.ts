// vm-test --target against a real OpenSSH sshd: the test boots Debian's 7.3 under QEMU with
// the host's sshd, keys made for this boot, and one port forwarded from 127.0.0.1
// (harness/vm/ssh-guest.ts). The CLI runs as a user runs it, with a HOME of its own (no SSH
// agent, no ~/.ssh of the user's). What the run left on the target is checked through the
// guest's own agent (its virtio channel), which works even after the test killed the sshd.
//
// The host itself is a target only when BPF_HARNESS_HOST_TARGET=ssh://root@localhost[:port]
// is set: that run loads BPF into this machine's kernel.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { GuestOps } from '../../harness/agent/guest-ops.js';
import type { MultiSummary } from '../../harness/results/multi-summary.js';
import type { Summary } from '../../harness/results/summary.js';
import { cacheDir } from '../../harness/util/paths.js';
import { bootSshGuest, generateKeys, knownHostsLine, PLAIN_USER, type SshGuest } from '../../harness/vm/ssh-guest.js';
import { spawnCli, type CliOptions, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const home = tempDir(t, 'ssh-home');
const results = join(home, 'results');
mkdirSync(results);
const env = { ...process.env, HOME: home, BPF_HARNESS_CACHE: cacheDir(), BPF_HARNESS_RESULTS: results, SSH_AUTH_SOCK: '' };

/** The CLI as a user runs it; `during` sees stdout as it comes and may act on the run. */
function vmTestCli(args: string[], during?: CliOptions['during'], timeoutMs = 600_000, extraEnv: Record<string, string> = {}): Promise<CliRun> {
  return spawnCli(['vm-test', ...args], { env: { ...env, ...extraEnv }, deadlineMs: timeoutMs, deadlineSignal: 'SIGINT', during });
}

/** A shell command in the guest through its own agent (not over SSH). */
async function inGuest(g: SshGuest, command: string): Promise<string> {
  const ops = new GuestOps(g.session.agent);
  await ops.exec('/bin/sh', ['-c', command], { out: '/tmp/check.out', timeoutMs: 30_000 });
  return ops.read('/tmp/check.out');
}

/** What a run may leave on the target: its directory, its agent, its cgroups. Polls: the guardian cleans up within seconds. */
async function leftovers(g: SshGuest, waitMs = 15_000): Promise<string> {
  const look = "ls -d /tmp/bpfh-* /sys/fs/cgroup/bpfh-* 2>/dev/null; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep '^/tmp/bpfh-' ; done; true";
  const end = Date.now() + waitMs;
  for (;;) {
    const left = (await inGuest(g, look)).trim();
    if (left === '' || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function target(g: SshGuest): string[] {
  return ['--target', `ssh://root@127.0.0.1:${g.port}`];
}

let guest: SshGuest | undefined;
t.teardown(() => guest?.stop());

t.test('the test guest as a target', async (t) => {
  // One host thread for the 2 vCPUs: a target is never booted again after a stray int3 of multi-threaded TCG (ssh-guest.ts).
  guest = await bootSshGuest({ kernel: 'debian:7.3', cpus: 2, memoryMiB: 2048, bootDeadlineMs: 600_000, log: (l) => t.comment(l), tcgThreads: 'single' });
  const g = guest;
  const auth = ['--identity', g.keys.userKey, '--known-hosts', g.knownHosts];
  const otherKeys = await generateKeys(mkdtempSync(join(home, 'other-')));

  await t.test('the scenarios run on the target, with the same report as in a VM', async (t) => {
    const r = await vmTestCli([...target(g), ...auth, '--scenario', 'sk-map-free-live-owners', '--scenario', 'task-map-free-live-owners', '--sizes', 'small', '--seed', '7', '--json']);
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
    const s = JSON.parse(r.stdout) as Summary;
    t.same(s.scenarios.map((x) => [x.name, x.verdict]), [['sk-map-free-live-owners', 'pass'], ['task-map-free-live-owners', 'pass']]);
    t.match(s, { kernel: { spec: `ssh://root@127.0.0.1:${g.port}`, release: '7.3-amd64' }, accel: 'native', backend: 'ssh', channel: 'ssh' });
    t.match(s.target, { user: 'root', host: '127.0.0.1', port: g.port, cleanedUp: true });
    t.equal(s.target?.hostKey, `ssh-ed25519 ${(await execa('ssh-keygen', ['-lf', `${g.keys.hostKey}.pub`])).stdout.split(/\s+/)[1]}`, 'the host key that was verified is the guest\'s');
    t.ok(s.scenarios.every((x) => x.counters.before && x.counters.after && x.inspector?.after), 'counters and inspector came back as in a VM run');
    const kernelLog = readFileSync(join(s.resultsDir!, 'kernel.log'), 'utf8');
    t.match(kernelLog, new RegExp(`--- ${s.target?.kernelLogBefore} records above were in the target's kernel log before this run ---`));
    t.match(kernelLog.split('--- ')[0], /Linux version 7\.3-amd64/, 'the boot lines are among those before the run');
    for (const f of ['summary.json', 'results.tap', 'junit.xml', 'agent.jsonl']) t.ok(readFileSync(join(s.resultsDir!, f)).length > 0, f);
    t.ok(existsSync(join(s.resultsDir!, 'console.log')), "console.log: the agent's stderr (empty when it said nothing)");
    t.notMatch(readFileSync(join(s.resultsDir!, 'agent.jsonl'), 'utf8'), /poweroff/, 'no poweroff was ever sent');
    t.equal(await leftovers(g, 0), '', 'no directory, agent or cgroup left on the target');
  });

  await t.test('two URLs of one machine at once: one runs, the machine lock refuses the other', async (t) => {
    // The counters are the machine's (slabinfo, the memcg stocks, cgroups named by scenario):
    // two runs on one kernel would judge each other's allocations. Only the target can tell.
    const both = join(home, 'known_hosts.both-names');
    writeFileSync(both, `${g.knownHostsLine}\n${g.knownHostsLine.replace('[127.0.0.1]', '[localhost]')}\n`);
    const urls = [`ssh://root@127.0.0.1:${g.port}`, `ssh://root@localhost:${g.port}`];
    const r = await vmTestCli(['--target', urls[0]!, '--target', urls[1]!, '--identity', g.keys.userKey, '--known-hosts', both, '--scenario', 'cgrp-map-free-live-owners', '--sizes', 'small', '--json']);
    t.equal(r.status, 2, 'exit 2: one run was refused', { stderr: r.stderr.slice(-2000) });
    const multi = JSON.parse(r.stdout) as MultiSummary;
    t.same(multi.runs.map((x) => x.kernel), urls, 'both runs recorded, in the order given');
    t.same(multi.runs.map((x) => x.exitCode).sort(), [0, 2], 'one passed, one refused');
    const refused = multi.runs.find((x) => x.exitCode === 2)!;
    const ran = multi.runs.find((x) => x.exitCode === 0)!;
    t.match(refused.error, new RegExp(`^${refused.kernel.replace(/[.]/g, '\\.')}: another bpf-harness run is on this machine \\(${ran.kernel.replace(/[.]/g, '\\.')}\\); .*rm -r /tmp/bpfh-lock there\\)$`));
    t.equal(ran.summary?.target?.cleanedUp, true);
    t.equal(await leftovers(g), '', 'no directory, agent, cgroup or lock left on the target');
  });

  await t.test('two machines at once: overlapping runs, one results directory each, the combined table; a refused one stops nothing', async (t) => {
    const b = await bootSshGuest({ kernel: 'debian:7.3', cpus: 1, memoryMiB: 1024, bootDeadlineMs: 600_000, log: (l) => t.comment(`second guest: ${l}`) });
    t.teardown(() => b.stop());
    // The two guests have keys of their own: both in an SSH agent, both host keys in one known_hosts.
    const agent = await execa('ssh-agent', ['-s'], { env: { ...process.env, HOME: home } });
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent.stdout)![1]!;
    t.teardown(() => process.kill(Number(/SSH_AGENT_PID=(\d+);/.exec(agent.stdout)![1]), 'SIGTERM'));
    await execa('ssh-add', ['-q', g.keys.userKey, b.keys.userKey], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    const both = join(home, 'known_hosts.two-guests');
    writeFileSync(both, `${g.knownHostsLine}\n${b.knownHostsLine}\n`);
    const urls = [`ssh://root@127.0.0.1:${g.port}`, `ssh://root@127.0.0.1:${b.port}`];
    const args = ['--target', urls[0]!, '--target', urls[1]!, '--scenario', 'cgrp-map-free-live-owners', '--sizes', 'small', '--seed', '5'];

    const t0 = Date.now();
    const r = await vmTestCli([...args, '--known-hosts', both, '--json'], undefined, 600_000, { SSH_AUTH_SOCK: sock });
    t.comment(`two targets at once: ${((Date.now() - t0) / 1000).toFixed(1)} s wall`);
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
    const multi = JSON.parse(r.stdout) as MultiSummary;
    t.same(multi.runs.map((x) => [x.kernel, x.exitCode, x.summary?.target?.cleanedUp]), [[urls[0], 0, true], [urls[1], 0, true]]);
    const spans = multi.runs.map((x) => ({ from: Date.parse(x.summary!.startedAt), to: Date.parse(x.summary!.startedAt) + x.summary!.timings.totalMs! }));
    t.comment(`runs: ${spans.map((x) => `${((x.to - x.from) / 1000).toFixed(1)} s`).join(', ')}; overlap ${((Math.min(spans[0]!.to, spans[1]!.to) - Math.max(spans[0]!.from, spans[1]!.from)) / 1000).toFixed(1)} s`);
    t.ok(Math.max(spans[0]!.from, spans[1]!.from) < Math.min(spans[0]!.to, spans[1]!.to), 'the two runs overlapped in time');
    for (const x of multi.runs) t.ok(existsSync(join(x.resultsDir!, 'summary.json')), `a results directory of its own: ${x.kernel}`);
    t.not(multi.runs[0]!.resultsDir, multi.runs[1]!.resultsDir);
    const table = readFileSync(join(multi.resultsDir!, 'comparison.txt'), 'utf8');
    for (const u of urls) t.match(table, u, `the combined table names ${u}`);
    for (const u of urls) t.match(r.stderr, new RegExp(`^\\[${u.replace(/[.]/g, '\\.')}\\] target ${u.replace(/[.]/g, '\\.')}: 7\\.3-amd64`, 'm'), `progress lines of ${u} carry its prefix (on stderr under --json)`);

    // The second guest's host key unknown: that run is refused, the first runs to its end.
    const onlyFirst = join(home, 'known_hosts.first-guest');
    writeFileSync(onlyFirst, `${g.knownHostsLine}\n`);
    const refused = await vmTestCli([...args, '--known-hosts', onlyFirst], undefined, 600_000, { SSH_AUTH_SOCK: sock });
    t.equal(refused.status, 2, 'exit 2: the worst of the runs', { stderr: refused.stderr.slice(-2000) });
    t.match(refused.stderr, new RegExp(`^bpf-harness: ${urls[1]!.replace(/[.]/g, '\\.')}: the host key of .* is not known`, 'm'), 'the refusal, naming its target once');
    const last = JSON.parse(readFileSync(join(results, readdirSync(results).filter((d) => d.endsWith('-multi')).sort().pop()!, 'summary.json'), 'utf8')) as MultiSummary;
    t.same(last.runs.map((x) => [x.kernel, x.exitCode]), [[urls[0], 0], [urls[1], 2]], 'the first target ran to its end');
    t.equal(last.runs[0]!.summary?.scenarios[0]?.verdict, 'pass');
    for (const u of urls) t.match(refused.stdout, u, `the combined table on stdout names ${u}`);
    t.equal(await leftovers(g), '', 'nothing left on the first target');

    // Ctrl-C while both run a race: every run in flight recorded as aborted, both targets clean up.
    let sent = false;
    const race = (u: string): RegExp => new RegExp(`^\\[${u.replace(/[.]/g, '\\.')}\\] .*scenario sk-map-free-vs-close-race`, 'm');
    const stopped = await vmTestCli(['--target', urls[0]!, '--target', urls[1]!, '--known-hosts', both, '--scenario', 'sk-map-free-vs-close-race', '--set', 'rounds=400'], (out, child) => {
      if (!sent && urls.every((u) => race(u).test(out))) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 1500);
      }
    }, 600_000, { SSH_AUTH_SOCK: sock });
    t.ok(sent, 'both races started');
    t.equal(stopped.status, 130, 'exit 130', { stderr: stopped.stderr.slice(-2000) });
    const aborted = JSON.parse(readFileSync(join(results, readdirSync(results).filter((d) => d.endsWith('-multi')).sort().pop()!, 'summary.json'), 'utf8')) as MultiSummary;
    t.match(aborted.aborted, /SIGINT/);
    t.same(aborted.runs.map((x) => [x.kernel, x.exitCode]), [[urls[0], 130], [urls[1], 130]], 'every run in flight recorded, aborted');
    for (const x of aborted.runs) t.match(JSON.parse(readFileSync(join(x.resultsDir!, 'summary.json'), 'utf8')) as Summary, { aborted: /SIGINT/, exitCode: 130 }, `${x.kernel}'s own summary says so`);
    t.equal(await leftovers(g), '', 'the first target cleaned up');
    t.equal(await leftovers(b), '', 'the second target cleaned up');
  });

  await t.test('an unknown host key is refused before anything is uploaded', async (t) => {
    const empty = join(home, 'known_hosts.empty');
    writeFileSync(empty, '');
    const r = await vmTestCli([...target(g), '--identity', g.keys.userKey, '--known-hosts', empty, '--sizes', 'small']);
    t.equal(r.status, 2);
    t.match(r.stderr, new RegExp(`^bpf-harness: ssh://root@127\\.0\\.0\\.1:${g.port}: the host key of \\[127\\.0\\.0\\.1\\]:${g.port} is not known \\(ssh-ed25519 SHA256:[^)]+\\).*ssh-keyscan -p ${g.port} 127\\.0\\.0\\.1 >> ~/\\.ssh/known_hosts\\n$`));
    t.equal(await leftovers(g, 0), '');
  });

  await t.test('a changed host key is refused', async (t) => {
    const wrong = join(home, 'known_hosts.changed');
    writeFileSync(wrong, `${knownHostsLine(g.port, otherKeys.hostPublic)}\n`);
    const r = await vmTestCli([...target(g), '--identity', g.keys.userKey, '--known-hosts', wrong, '--sizes', 'small']);
    t.equal(r.status, 2);
    t.match(r.stderr, /has CHANGED .*ssh-keygen -R/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line');
  });

  await t.test('a hashed known_hosts entry is accepted', async (t) => {
    const hashed = join(home, 'known_hosts.hashed');
    writeFileSync(hashed, readFileSync(g.knownHosts));
    await execa('ssh-keygen', ['-H', '-f', hashed]);
    const r = await vmTestCli([...target(g), '--identity', g.keys.userKey, '--known-hosts', hashed, '--scenario', 'cgrp-map-free-live-owners', '--sizes', 'small', '--json']);
    t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
  });

  await t.test("login with ~/.ssh/config's IdentityFile for the host, then with the SSH agent", async (t) => {
    const sshDir = join(home, '.ssh');
    mkdirSync(sshDir, { recursive: true });
    writeFileSync(join(sshDir, 'config'), `Host other.example\n  IdentityFile ${otherKeys.userKey}\nHost 127.0.0.1\n  IdentityFile ${g.keys.userKey}\n`);
    const viaConfig = await vmTestCli([...target(g), '--known-hosts', g.knownHosts, '--scenario', 'cgrp-map-free-live-owners', '--sizes', 'small', '--json']);
    t.equal(viaConfig.status, 0, 'IdentityFile of the matching Host block', { stderr: viaConfig.stderr.slice(-2000) });
    rmSync(join(sshDir, 'config'));

    const agent = await execa('ssh-agent', ['-s'], { env: { ...process.env, HOME: home } });
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent.stdout)![1]!;
    const pid = Number(/SSH_AGENT_PID=(\d+);/.exec(agent.stdout)![1]);
    t.teardown(() => process.kill(pid, 'SIGTERM'));
    await execa('ssh-add', ['-q', g.keys.userKey], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    const viaAgent = await vmTestCli([...target(g), '--known-hosts', g.knownHosts, '--scenario', 'cgrp-map-free-live-owners', '--sizes', 'small', '--json'], undefined, 600_000, { SSH_AUTH_SOCK: sock });
    t.equal(viaAgent.status, 0, 'the key in the SSH agent', { stderr: viaAgent.stderr.slice(-2000) });
    const withoutAgent = await vmTestCli([...target(g), '--known-hosts', g.knownHosts, '--sizes', 'small']);
    t.equal(withoutAgent.status, 2, 'and without the agent, no key at all');
    t.match(withoutAgent.stderr, /no key to log in with/);
  });

  await t.test('a user key the target does not accept is refused', async (t) => {
    const r = await vmTestCli([...target(g), '--identity', otherKeys.userKey, '--known-hosts', g.knownHosts, '--sizes', 'small']);
    t.equal(r.status, 2);
    t.match(r.stderr, new RegExp(`root refused every key offered \\(${otherKeys.userKey}\\).*authorized_keys.*--identity FILE`));
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line');
  });

  await t.test('a login that is not root is refused', async (t) => {
    const r = await vmTestCli(['--target', `ssh://${PLAIN_USER}@127.0.0.1:${g.port}`, ...auth, '--sizes', 'small']);
    t.equal(r.status, 2);
    t.equal(r.stderr, `bpf-harness: ssh://${PLAIN_USER}@127.0.0.1:${g.port}: the scenarios need root on the target (uid 1000 logged in): use ssh://root@...\n`);
  });

  await t.test('Ctrl-C mid-scenario: exit 130, results written, nothing left on the target', async (t) => {
    let sent = false;
    const r = await vmTestCli([...target(g), ...auth, '--scenario', 'sk-map-free-vs-close-race', '--set', 'rounds=400'], (out, child) => {
      if (!sent && /scenario sk-map-free-vs-close-race/.test(out)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 1500);
      }
    });
    t.ok(sent);
    t.equal(r.status, 130, 'exit 130', { stderr: r.stderr.slice(-2000) });
    const s = JSON.parse(readFileSync(join(results, 'latest', 'summary.json'), 'utf8')) as Summary;
    t.match(s.aborted, /SIGINT/);
    t.equal(await leftovers(g), '', 'the guardian killed the agent and removed its directory and cgroups');
  });

  await t.test('a connection dropped mid-scenario: the run fails, the target cleans up', async (t) => {
    let killed = false;
    const run = vmTestCli([...target(g), ...auth, '--scenario', 'sk-map-free-vs-close-race', '--scenario', 'sk-map-free-live-owners', '--set', 'rounds=400', '--json']);
    for (let i = 0; i < 60 && !killed; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      if ((await inGuest(g, "ls -d /sys/fs/cgroup/bpfh-sk-map-free-vs-close-race 2>/dev/null; true")).trim() !== '') {
        await inGuest(g, 'killall sshd; true');
        killed = true;
      }
    }
    t.ok(killed, 'every sshd in the guest was killed while the scenario ran');
    const dropped = await run;
    t.equal(dropped.status, 1, 'exit 1', { stderr: dropped.stderr.slice(-2000) });
    const s = JSON.parse(dropped.stdout) as Summary;
    t.equal(s.scenarios[0]?.verdict, 'error');
    t.match(s.scenarios[0]?.reason, /connection (closed|failed).*target's agent/);
    t.equal(s.scenarios.length, 1, 'no scenario was tried after the connection was gone');
    t.equal(await leftovers(g), '', 'the guardian killed the agent and removed its directory and cgroups');
  });
});

t.test('a target whose root may not use bpf()', async (t) => {
  guest?.stop();
  // Its sshd runs without CAP_BPF, CAP_SYS_ADMIN and CAP_PERFMON in its bounding set (setpriv,
  // vm/init.sh), as in a container: root logs in, and Debian's unprivileged_bpf_disabled=2 refuses bpf().
  guest = await bootSshGuest({ kernel: 'debian:7.3', cpus: 1, memoryMiB: 1024, bootDeadlineMs: 600_000, log: (l) => t.comment(l), noBpf: true });
  const g = guest;
  const r = await vmTestCli([...target(g), '--identity', g.keys.userKey, '--known-hosts', g.knownHosts, '--sizes', 'small']);
  t.equal(r.status, 2);
  t.match(r.stderr, /^bpf-harness: ssh:\/\/root@127\.0\.0\.1:\d+: bpf\(\) fails with EPERM for root on the target \(no CAP_BPF\/CAP_SYS_ADMIN.*\): use a target where root may use bpf\(\)\n$/);
  t.equal(await leftovers(g), '', 'nothing left behind');
});

t.test('the host as a target (opt-in)', { skip: process.env.BPF_HARNESS_HOST_TARGET ? false : 'set BPF_HARNESS_HOST_TARGET=ssh://root@localhost to run the scenarios on this machine (loads BPF into its kernel)' }, async (t) => {
  const r = await vmTestCli(['--target', process.env.BPF_HARNESS_HOST_TARGET!, '--sizes', 'small', '--scenario', 'sk-map-free-live-owners', '--json'], undefined, 600_000);
  t.equal(r.status, 0, 'exit 0', { stderr: r.stderr.slice(-2000) });
});
