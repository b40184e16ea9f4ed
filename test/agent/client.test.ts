// The host side of the protocol against the real agent binary on this host (`--channel -`).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { AgentCallError, AgentClient } from '../../harness/agent/client.js';
import { DeadlineError } from '../../harness/util/deadline.js';
import { GuestOps } from '../../harness/agent/guest-ops.js';
import { bpfBuildDir } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const agentPath = join(bpfBuildDir, 'bpf-agent');

t.test('ready, replies, errors and deadlines', { skip: existsSync(agentPath) ? false : 'agent not built' }, async (t) => {
  const child = spawn(agentPath, ['--channel', '-', '--bpf-dir', bpfBuildDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  const client = new AgentClient(Duplex.from({ readable: child.stdout, writable: child.stdin }), (l) => lines.push(l));
  const ready = await client.ready(10_000);
  t.equal(ready.verb, 'ready');
  t.type(ready.ncpus, 'number');
  const read = await client.call('read', { path: '/proc/self/status' });
  t.match(String(read.data), /^Name:\s+bpf-agent/m, 'the agent read its own status');
  await t.rejects(client.call('read', { path: '/no/such/file' }), AgentCallError, 'ok:false becomes AgentCallError');
  await t.rejects(client.call('no-such-verb'), AgentCallError);
  t.throws(() => client.call('read', { path: 'a b' }), /white space/);
  child.kill('SIGSTOP');
  await t.rejects(client.call('read', { path: '/proc/self/status' }, 300), DeadlineError, 'a silent agent hits the deadline');
  child.kill('SIGCONT');
  t.ok(lines.some((l) => l.startsWith('> ') && l.includes(' read path=/proc/self/status')), 'commands are recorded');
});

// Owner verbs need no BPF: the real agent on this host spawns and joins threads (a thread pidfd
// each) and makes directories it holds open; the map verbs refuse bad arguments before loading.
t.test('owner verbs and argument checks of the new verbs', { skip: existsSync(agentPath) ? false : 'agent not built' }, async (t) => {
  const child = spawn(agentPath, ['--channel', '-', '--bpf-dir', bpfBuildDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const client = new AgentClient(Duplex.from({ readable: child.stdout, writable: child.stdin }), () => undefined);
  await client.ready(10_000);
  const threadsOf = async (): Promise<number> => {
    const status = String((await client.call('read', { path: '/proc/self/status' })).data);
    return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]);
  };
  const spawned = await client.call('threads-spawn', { count: 32 });
  t.equal(spawned.held, 32);
  t.equal(await threadsOf(), 33, 'the agent plus 32 parked owner threads');
  t.equal((await client.call('threads-stop')).stopped, 32);
  t.equal(await threadsOf(), 1, 'every owner thread joined');

  const parent = tempDir(t, 'owners');
  t.equal((await client.call('cgroups-make', { parent, count: 3 })).held, 3);
  t.same(readdirSync(parent).sort(), ['bpfh-o0', 'bpfh-o1', 'bpfh-o2']);
  t.equal((await client.call('cgroups-remove')).removed, 3);
  t.same(readdirSync(parent), [], 'removed again');

  const refused = async (verb: string, args: Record<string, string | number>, why: RegExp): Promise<void> => {
    await t.rejects(client.call(verb, args), why, `${verb} ${JSON.stringify(args)}`);
  };
  await refused('map-open', { kind: 'task', via: 'prog', value: 'small' }, /value=small: only via=user/);
  await refused('map-open', { kind: 'sk', via: 'user', value: 'small' }, /only task and cgrp/);
  await refused('map-open', { kind: 'xyz', via: 'user' }, /unknown kind xyz/);
  await refused('elems-create', {}, /no map open/);
  await refused('map-close', { map: 7 }, /no open map with id 7/);
  await refused('race', { kind: 'cgrp', rounds: 1, owners: 1, threads: 1, seed: 1, via: 'user' }, /kind=cgrp needs cgroup=PARENT/);
  await refused('race', { kind: 'sk', rounds: 1, owners: 1, sockets: 1, threads: 1, seed: 1, via: 'user' }, /owners and sockets: give one/);
  await refused('inspect', { kind: 'proc' }, /kind=proc: not task, cgrp or sk/);
  await refused('inspect', { kind: 'task', cgroup: '/' }, /cgroup is for kind=cgrp/);
});

// exec (for the BPF selftests' runners): arguments and environment words with the separators
// encoded, output to a file, the exit status, a deadline that kills the whole process group.
t.test('exec runs a program to its end or its deadline', { skip: existsSync(agentPath) ? false : 'agent not built' }, async (t) => {
  const child = spawn(agentPath, ['--channel', '-', '--bpf-dir', bpfBuildDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const client = new AgentClient(Duplex.from({ readable: child.stdout, writable: child.stdin }), () => undefined);
  await client.ready(10_000);
  const ops = new GuestOps(client);
  const dir = tempDir(t, 'exec');
  const out = join(dir, 'out');

  const r = await ops.exec('/bin/sh', ['-c', 'echo "a, b %41 $FOO"; pwd; echo err >&2; exit 3'], { out, cwd: dir, timeoutMs: 10_000, env: ['FOO=x,y z'] });
  t.same({ status: r.status, signal: r.signal, timedOut: r.timedOut }, { status: 3, signal: 0, timedOut: false });
  t.equal(readFileSync(out, 'utf8'), `a, b %41 x,y z\n${dir}\nerr\n`, 'words arrive whole; stdout and stderr in the file; cwd');

  const t0 = Date.now();
  // The shell's background child is in the same process group and must die with it.
  const slow = await ops.exec('/bin/sh', ['-c', `sleep 30 & echo $! > ${dir}/bg; wait`], { out, timeoutMs: 400 });
  t.ok(slow.timedOut, 'the deadline ended it');
  t.equal(slow.signal, 9);
  t.ok(Date.now() - t0 < 5000, 'without waiting for the program');
  const bg = Number(readFileSync(join(dir, 'bg'), 'utf8'));
  await new Promise((res) => setTimeout(res, 200));
  t.notOk(existsSync(`/proc/${bg}/cmdline`) && readFileSync(`/proc/${bg}/cmdline`, 'utf8').startsWith('sleep'), 'its background child was killed too');

  const missing = await ops.exec('/no/such/program', [], { out, timeoutMs: 5000 });
  t.equal(missing.status, 127);
  t.match(readFileSync(out, 'utf8'), /no\/such\/program: No such file or directory/);
  await t.rejects(client.call('exec', { path: '/bin/true', out, timeout: 1000, args: 'a%4' }), /bad args/);
  await t.rejects(client.call('exec', { path: '/bin/true', timeout: 1000 }), /missing argument out/);
});
