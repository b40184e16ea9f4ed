// The target checks of vm-test --target: what the probe prints, and the one-line refusals.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lockCommand, parseProbe, PROBE_COMMAND, refusal } from '../../harness/target/ssh-target.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('the target checks: what the probe prints, the first thing missing as one line', async (t) => {
  // The probe's output on Debian's 7.3 in the test guest (PROBE_COMMAND over ssh, recorded).
  const good = parseProbe('uid=0\nrelease=7.3-amd64\narch=x86_64\nbtf=1\ncgroup2=1\nmemcg=1\n');
  t.equal(refusal('ssh://root@h', good), undefined);
  t.match(refusal('ssh://me@h', { ...good, uid: 1000 }), /need root .*uid 1000.*ssh:\/\/root@/);
  t.match(refusal('ssh://root@h', { ...good, btf: false }), /no \/sys\/kernel\/btf\/vmlinux.*CONFIG_DEBUG_INFO_BTF/);
  t.match(refusal('ssh://root@h', { ...good, cgroup2: false }), /no cgroup v2/);
  t.match(refusal('ssh://root@h', { ...good, memcg: false }), /echo \+memory > \/sys\/fs\/cgroup\/cgroup.subtree_control/);
  t.match(refusal('ssh://root@h', { ...good, arch: 's390x' }), /built for x86_64 and aarch64 only and the target is s390x/);
  for (const r of [{ ...good, uid: 5 }, { ...good, btf: false }]) t.notMatch(refusal('x', r) ?? '', /\n/, 'one line');
  // The probe itself, run by this machine's shell against its own /sys: every key it prints parses.
  const local = parseProbe((await execa('sh', ['-c', PROBE_COMMAND])).stdout);
  t.equal(local.release, (await execa('uname', ['-r'])).stdout.trim());
  t.equal(local.arch, 'x86_64');
});

t.test('the machine lock: one run per machine, a holder that is gone is replaced', async (t) => {
  // lockCommand as the target's shell runs it: dash here, busybox sh in the test guests.
  const dir = tempDir(t, 'lock-test');
  const lock = join(dir, 'lock');
  for (const shell of [['sh', '-c'], ['busybox', 'sh', '-c']]) {
    rmSync(lock, { recursive: true, force: true });
    const run = async (url: string): Promise<string> => (await execa(shell[0]!, [...shell.slice(1), lockCommand(url, lock)])).stdout;
    // $PPID of the command is this test process (sshd's session on a target): alive, so the lock holds.
    t.equal(await run('ssh://root@a'), 'taken', `${shell.join(' ')}: a free machine`);
    t.equal(readFileSync(join(lock, 'pid'), 'utf8').trim(), String(process.pid), 'held by the connection');
    t.equal(await run('ssh://root@b'), 'busy ssh://root@a', 'a second run is told who holds it');
    writeFileSync(join(lock, 'pid'), '');
    t.equal(await run('ssh://root@b'), 'busy ssh://root@a', 'a holder between its mkdir and its pid is still a holder');
    const gone = execa('true');
    await gone;
    writeFileSync(join(lock, 'pid'), `${gone.pid}\n`);
    t.equal(await run('ssh://root@b'), 'taken', 'a holder that is gone leaves a stale lock: taken over');
    t.equal(readFileSync(join(lock, 'by'), 'utf8').trim(), 'ssh://root@b');
    // Many runs find one stale lock at once: one takes it over, the others are told who has it.
    for (let attempt = 0; attempt < 5; attempt++) {
      writeFileSync(join(lock, 'pid'), `${gone.pid}\n`);
      const said = await Promise.all(Array.from({ length: 12 }, (_, i) => run(`ssh://root@r${i}`)));
      const takers = said.filter((s) => s === 'taken');
      t.equal(takers.length, 1, `${shell.join(' ')}: one of 12 at once took the stale lock (${said.join(', ')})`);
      t.notOk(existsSync(`${lock}.takeover`), 'the takeover mark is gone');
    }
  }
});
