// The agent's exec verb in a real guest (Debian's 7.3 under QEMU): a dynamically linked host
// program runs from the initramfs with the shared libraries sharedLibraryEntries() packed
// beside it (as the BPF selftests' runners do), its output comes back with the read verb, and
// the deadline kills it.
import t from 'tap';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAndBuildKernel } from '../../harness/kernel-build/tree-kernel.js';
import { GuestOps } from '../../harness/agent/guest-ops.js';
import { chooseChannel } from '../../harness/vm/channel.js';
import { buildGuestInitramfs, sharedLibraryEntries } from '../../harness/vm/guest-image.js';
import { fileEntry } from '../../harness/vm/initramfs.js';
import { BOOT_ATTEMPTS, bootGuestRetrying } from '../../harness/vm/session.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('exec of a host program in the guest', async (t) => {
  const kernel = await resolveAndBuildKernel('debian:7.3', { log: () => undefined });
  const program = '/usr/bin/stat';
  const image = buildGuestInitramfs([fileEntry(program.slice(1), program), ...sharedLibraryEntries([program])]);
  const agentLog = join(tempDir(t, 'exec'), 'agent.jsonl');
  // Booted as vm-test boots: again after the rare boot-time int3 oops of multi-threaded TCG
  // (seen here once: "Oops: int3" 1.5 s into the boot, before the agent).
  const { session } = await bootGuestRetrying(
    { bzImage: kernel.bzImage, initramfs: image.path, accel: 'tcg', channel: chooseChannel(kernel.config).kind, cpus: 2, memoryMiB: 1024 },
    { bootDeadlineMs: 120_000, recordAgent: (l) => appendFileSync(agentLog, `${l}\n`) },
    BOOT_ATTEMPTS,
    (line) => t.comment(line),
  );
  t.teardown(() => session.kill());
  const ops = new GuestOps(session.agent);
  const ran = await ops.exec(program, ['-c', '%n is %F', '/init', '/bin'], { out: '/tmp/stat.out', cwd: '/', timeoutMs: 30_000 });
  t.same({ status: ran.status, timedOut: ran.timedOut }, { status: 0, timedOut: false }, `agent log ${agentLog}`);
  t.equal(await ops.read('/tmp/stat.out'), '/init is regular file\n/bin is directory\n', 'the guest ran the host program with its libraries');
  const slow = await ops.exec('/bin/sh', ['-c', 'sleep 60'], { out: '/tmp/sleep.out', timeoutMs: 1500 });
  t.ok(slow.timedOut, 'killed at its deadline');
  t.equal((await ops.exec('/bin/sh', ['-c', 'exit 7'], { out: '/tmp/x', timeoutMs: 10_000 })).status, 7, 'the agent still serves after a kill');
  await session.shutdown();
});
