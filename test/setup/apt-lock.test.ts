// setup.sh waits for the system's apt/dpkg lock instead of failing at once with apt's exit 100.
// The lock holder is a real process taking the same POSIX locks apt takes (python3's lockf is
// fcntl F_SETLK, as in apt), and the apt-get run is real: `apt-get check`, which takes the dpkg
// lock and changes nothing.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { projectRoot } from '../../harness/util/paths.js';

const LOCK = '/var/lib/dpkg/lock-frontend';
const HOLD = `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
`;

async function holdLock(seconds: number): Promise<ChildProcess> {
  const holder = spawn('python3', ['-c', HOLD, LOCK, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(holder.stdout!, 'data')) as [Buffer];
  if (!chunk.toString().includes('held')) throw new Error('the lock holder did not take the lock');
  return holder;
}

function aptGetCheck(deadlineS: number): { status: number | null; stderr: string; ms: number } {
  const started = Date.now();
  const r = spawnSync('bash', ['-c', `sudo=(); . ${join(projectRoot, 'scripts', 'apt-lock.sh')}; apt_get check -qq`], {
    encoding: 'utf8', env: { ...process.env, BPF_HARNESS_APT_LOCK_DEADLINE: String(deadlineS) }, timeout: 120_000,
  });
  return { status: r.status, stderr: r.stderr, ms: Date.now() - started };
}

const canLock = process.getuid?.() === 0 && existsSync(LOCK) && spawnSync('python3', ['--version']).status === 0;

t.test('a lock held past the deadline: exit 2 naming the holder', { skip: canLock ? false : 'needs root, python3 and dpkg' }, async (t) => {
  const holder = await holdLock(20);
  try {
    const r = aptGetCheck(2);
    t.equal(r.status, 2, 'exit 2, not apt-get\'s 100');
    t.ok(r.ms >= 2000, `it waited the deadline (${r.ms} ms)`);
    const lines = r.stderr.trim().split('\n');
    t.match(lines[0], new RegExp(`waiting up to 2 s for the apt lock: ${holder.pid} \\(python3\\) holds ${LOCK}`));
    t.match(lines.at(-1), new RegExp(`still held after 2 s: ${holder.pid} \\(python3\\) holds ${LOCK}; let it finish`));
  } finally {
    holder.kill();
  }
});

t.test('a lock released within the deadline: apt-get runs', { skip: canLock ? false : 'needs root, python3 and dpkg' }, async (t) => {
  const holder = await holdLock(3);
  const r = aptGetCheck(60);
  holder.kill();
  t.equal(r.status, 0, r.stderr);
  t.ok(r.ms >= 2000, `it waited for the holder (${r.ms} ms)`);
  t.equal(r.stderr.match(/waiting up to/g)?.length, 1, 'says once that it waits');
});
