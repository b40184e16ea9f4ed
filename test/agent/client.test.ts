// The host side of the protocol against the real agent binary on this host (`--channel -`).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { AgentCallError, AgentClient } from '../../harness/agent/client.js';
import { DeadlineError } from '../../harness/util/deadline.js';
import { bpfBuildDir } from '../../harness/util/paths.js';

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
