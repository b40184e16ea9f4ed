// processGroup / spawnGroup: a detached child's whole group goes, grandchildren included (a
// launcher's QEMU, make's compilers, git bisect run's step), and stop() lets it clean up first.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive, spawnGroup } from '../../harness/util/children.js';
import { tempDir } from '../helpers/temp-dir.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Running: alive and not a zombie (an orphan killed here waits for a reaper that may be slow or absent in a container). */
function running(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A shell that starts a grandchild, writes its pid, and waits. */
function leader(dir: string, onTerm = ''): ReturnType<typeof spawnGroup> {
  const script = `${onTerm}sleep 60 & echo $! > ${dir}/grandchild; wait`;
  return spawnGroup('sh', ['-c', script], { stdio: 'ignore' });
}

async function grandchild(dir: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    try {
      const pid = Number(readFileSync(join(dir, 'grandchild'), 'utf8').trim());
      if (pid > 0) return pid;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error('the grandchild never started');
}

t.test('kill() takes the grandchild too', async (t) => {
  const dir = tempDir(t, 'children');
  const { child, group } = leader(dir);
  const gc = await grandchild(dir);
  t.ok(running(gc), 'the grandchild runs');
  const exited = new Promise((r) => child.once('exit', r));
  group.kill();
  await exited;
  for (let i = 0; i < 20 && running(gc); i++) await sleep(50);
  t.notOk(running(gc), 'the grandchild is gone with its group');
  group.release();
});

t.test('stop() sends SIGTERM first and the group may clean up', async (t) => {
  const dir = tempDir(t, 'children');
  const { child, group } = leader(dir, `trap 'echo cleaned > ${dir}/term; exit 0' TERM; `);
  const gc = await grandchild(dir);
  const exited = new Promise((r) => child.once('exit', r));
  const grace = 10_000;
  const t0 = Date.now();
  group.stop(grace);
  // The group ends on SIGTERM: stop() must see that (its leader left a zombie node cannot reap
  // inside stop) rather than wait out the grace, as a Ctrl-C on a bisect would. A loose bound.
  t.ok(Date.now() - t0 < grace / 2, `stop() returned once the group had ended, not after the ${grace} ms grace (${Date.now() - t0} ms)`);
  await exited;
  t.equal(readFileSync(join(dir, 'term'), 'utf8').trim(), 'cleaned', 'the leader ran its TERM handler');
  for (let i = 0; i < 20 && running(gc); i++) await sleep(50);
  t.notOk(running(gc), 'nothing of the group is left');
  group.release();
});

t.test('stop() waits the grace for a group that ignores SIGTERM, then kills it', async (t) => {
  const dir = tempDir(t, 'children');
  // Ignored signals are inherited: neither the leader nor its grandchild ends on SIGTERM.
  const { child, group } = leader(dir, "trap '' TERM; ");
  const gc = await grandchild(dir);
  const exited = new Promise((r) => child.once('exit', r));
  const t0 = Date.now();
  group.stop(1_000);
  t.ok(Date.now() - t0 >= 900, 'the group kept running: stop() waited for it');
  await exited;
  for (let i = 0; i < 20 && running(gc); i++) await sleep(50);
  t.notOk(running(gc), 'then SIGKILL took the whole group');
  group.release();
});
