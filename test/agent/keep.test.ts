// The keep verb's refusals, against the real agent binary on this host (`--channel -`): they
// come before any bpf() call, so nothing touches the host's BPF state. What it pins and lists
// is tested in a guest (test/integration/shell-after.test.ts) and on a recorded reply
// (test/run/shell-stop.test.ts).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { AgentCallError, AgentClient } from '../../harness/agent/client.js';
import { bpfBuildDir } from '../../harness/util/paths.js';

const agentPath = join(bpfBuildDir, 'bpf-agent');

t.test('keep refuses a relative directory and unknown arguments', { skip: existsSync(agentPath) ? false : 'agent not built' }, async (t) => {
  const child = spawn(agentPath, ['--channel', '-', '--bpf-dir', bpfBuildDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const client = new AgentClient(Duplex.from({ readable: child.stdout, writable: child.stdin }), () => undefined);
  t.match((await client.ready(10_000)).agent, /^1\.6\./, 'the agent that has keep');
  await t.rejects(client.call('keep', { dir: 'bpfh' }), new AgentCallError({ id: 1, ok: false, verb: 'keep', error: 'dir must be an absolute path', errno: 22 }));
  await t.rejects(client.call('keep', { maps: '1' }), /unknown argument maps/);
});
