// --build-host against a real OpenSSH sshd the test starts on 127.0.0.1 (test/helpers/local-sshd.ts:
// keys made for this run, its own config, the sessions' HOME a directory of the test's, so the
// workspace goes there). The tree is a real one: the Kconfig, Makefile and Kbuild files and
// scripts/ of the cached linux-source-7.3 (what `make defconfig` reads), copied by the test.
// The host's pahole is the harness's trixie build root's (this machine has none of its own),
// through a wrapper on the sessions' PATH; the test skips what needs it when it is absent.
import t from 'tap';
import { threeCommitKernelRepo } from '../helpers/git.js';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildHost, BuildHostError, type BuildHostChoice } from '../../harness/build-host/build-host.js';
import type { BisectState } from '../../harness/bisect/step.js';
import { decideStep } from '../../harness/bisect/step.js';
import { kernelStepRunner } from '../../harness/bisect/kernel-step.js';
import { buildHostChoice } from '../../harness/commands/options.js';
import { runMake } from '../../harness/kernel-build/make.js';
import { generateKeys, knownHostsLine } from '../../harness/vm/ssh-guest.js';
import { cacheDir } from '../../harness/util/paths.js';
import { pathWithout, startSshd, type LocalSshd } from '../helpers/local-sshd.js';
import { spawnCli, type CliOptions, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const realCache = cacheDir();
const work = tempDir(t, 'buildhost');
// The manifests of the syncs from "here" go to a cache of the test's own.
process.env.BPF_HARNESS_CACHE = join(work, 'cache');
const sources = join(realCache, 'src');
const linuxSource = existsSync(sources) ? readdirSync(sources).filter((d) => d.startsWith('linux-source-7.3')).map((d) => join(sources, d)).find((d) => existsSync(join(d, 'Makefile'))) : undefined;
const buildRoot = join(realCache, 'buildroot', 'trixie');

/** What `make defconfig` reads of a kernel tree, copied from the real one: ~6000 files, 14 MB. */
async function kconfigTree(from: string, to: string): Promise<void> {
  mkdirSync(to, { recursive: true });
  const list = "{ find . \\( -name 'Kconfig*' -o -name 'Makefile*' -o -name 'Kbuild*' \\) -type f -print0; find scripts arch/x86/configs kernel/configs -type f -print0; } | sort -zu";
  await execa('sh', ['-c', `${list} | tar -c --null -T - -f - | tar -x -C '${to}' -f -`], { cwd: from, timeout: 120_000 });
}

/** The host's processes whose command line names `marker` (the sessions' HOME, `sleep N`). */
async function hostProcesses(marker: string): Promise<string[]> {
  const r = await execa('ps', ['-eo', 'pid=,args='], { reject: false });
  return r.stdout.split('\n').map((l) => l.trim().replace(/^\d+\s+/, '')).filter((l) => l.includes(marker) && !l.startsWith('ps -eo'));
}

async function gone(marker: string, waitMs: number): Promise<string[]> {
  const end = Date.now() + waitMs;
  for (;;) {
    const left = await hostProcesses(marker);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const home = join(work, 'home');
const bin = join(work, 'bin');
mkdirSync(home, { recursive: true });
mkdirSync(bin, { recursive: true });
if (existsSync(join(buildRoot, 'usr', 'bin', 'pahole'))) {
  writeFileSync(join(bin, 'pahole'), `#!/bin/sh\nexec /usr/sbin/chroot '${buildRoot}' pahole "$@"\n`, { mode: 0o755 });
}

let sshd: LocalSshd;
let choice: BuildHostChoice;
const tree = join(work, 'linux');
const logs: string[] = [];
const log = (l: string): void => void logs.push(l);

t.before(async () => {
  sshd = await startSshd(join(work, 'sshd'), { HOME: home, PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` });
  choice = { url: sshd.url, identity: sshd.keys.userKey, knownHosts: sshd.knownHosts };
});
t.teardown(() => sshd?.stop()); // work itself goes with tempDir's teardown

t.test('the tree goes over whole the first time, then only what changed, the host\'s mtimes kept', { skip: linuxSource ? false : 'no cached linux-source-7.3' }, async (t) => {
  let t0 = Date.now();
  await kconfigTree(linuxSource!, tree);
  t.comment(`copied the tree in ${Date.now() - t0} ms`);
  t0 = Date.now();
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const src = `${host.workspace(tree)}/src`;
  const first = await host.sync(tree, { deadlineMs: 300_000, minFreeBytes: 0 });
  t.comment(`connect ${Date.now() - t0 - first.ms} ms; first sync ${JSON.stringify(first)}`);
  t.ok(first.full, 'the first sync sends everything');
  const files = (await execa('find', [tree, '-type', 'f'])).stdout.split('\n').length;
  t.equal(first.files, files, `all ${files} files`);
  t.equal((await execa('diff', ['-r', tree, src], { reject: false })).exitCode, 0, "the host's copy is the tree");
  t.ok(first.wireBytes > 0 && first.wireBytes < first.bytes, `gzip'd on the wire: ${first.wireBytes} of ${first.bytes} bytes`);

  const untouched = 'scripts/Makefile.build';
  const untouchedMtime = statSync(join(src, untouched)).mtimeMs;
  // A one-commit change: one file edited (its mtime in the past: the host must still see it newer), one new, one gone.
  appendFileSync(join(tree, 'init', 'Kconfig'), '\n# a change\n');
  utimesSync(join(tree, 'init', 'Kconfig'), new Date(2000, 0, 1), new Date(2000, 0, 1));
  writeFileSync(join(tree, 'scripts', 'new-file.sh'), '#!/bin/sh\n', { mode: 0o755 });
  unlinkSync(join(tree, 'kernel', 'configs', 'tiny.config'));
  const beforeSecond = Date.now();
  const second = await host.sync(tree, { deadlineMs: 300_000, minFreeBytes: 0 });
  t.comment(`second sync ${JSON.stringify(second)}`);
  t.match(second, { full: false, files: 2, removed: 1 }, 'the edited and the new file go, the deleted one is deleted');
  t.equal((await execa('diff', ['-r', tree, src], { reject: false })).exitCode, 0, "the host's copy is the tree again");
  t.equal(statSync(join(src, untouched)).mtimeMs, untouchedMtime, 'an unchanged file keeps its mtime on the host (make stays incremental)');
  t.ok(statSync(join(src, 'init', 'Kconfig')).mtimeMs >= beforeSecond - 2000, "the changed file has the host's time of arrival, not its old local mtime");
  t.equal(statSync(join(src, 'scripts', 'new-file.sh')).mode & 0o111, 0o111, 'modes come across');

  const third = await host.sync(tree, { deadlineMs: 300_000, minFreeBytes: 0 });
  t.match(third, { full: false, files: 0, removed: 0, wireBytes: 0 }, 'nothing changed, nothing sent');
});

t.test("a host copy that is not the last one sent from here is sent whole, into an emptied directory", async (t) => {
  const dir = join(work, 'two-files');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Makefile'), 'all:\n');
  writeFileSync(join(dir, 'b.c'), 'int b;\n');
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  t.match(await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 }), { full: true, files: 2 });
  t.match(await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 }), { full: false, files: 0 });
  // The host's copy changed behind our back (a sync from elsewhere, a half-done one): its token is gone.
  const src = `${host.workspace(dir)}/src`;
  rmSync(`${host.workspace(dir)}/src.token`);
  writeFileSync(join(src, 'stray'), 'x');
  t.match(await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 }), { full: true, files: 2 });
  t.notOk(existsSync(join(src, 'stray')), 'what was not sent from here is gone');
});

t.test('make runs on the host (defconfig of the real tree) and .config comes back', { skip: linuxSource ? false : 'no cached linux-source-7.3' }, async (t) => {
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  await host.sync(tree, { deadlineMs: 300_000, minFreeBytes: 0 });
  const out = join(work, 'out');
  const remoteOut = await host.outDir(out, tree);
  t.equal(host.toRemote(`O=${out}`), `O=${remoteOut}`, 'O= is rewritten to the host\'s directory');
  const p = await host.spawn(['make', '-C', tree, `O=${out}`, 'defconfig'], { cwd: tree });
  let text = '';
  p.output.on('data', (d: Buffer) => (text += d.toString()));
  t.same(await p.done, { code: 0 }, 'make defconfig exit 0');
  t.match(text, /HOSTLD\s+scripts\/kconfig\/conf/, "make's output streams back");
  t.notOk(existsSync(join(out, '.config')), 'nothing local yet');
  const got = await host.fetch(out, ['.config', 'no-such-file'], 60_000);
  t.same(got.files, ['.config'], 'what the host has comes back, the rest is left out');
  t.match(readFileSync(join(out, '.config'), 'utf8'), /^CONFIG_X86_64=y$/m, "the host's x86_64 defconfig");
});

t.test('refusals, each one line before anything is sent', async (t) => {
  const empty = join(work, 'known_hosts.empty');
  writeFileSync(empty, '');
  const homeBefore = (await execa('find', [home])).stdout;
  await t.rejects(BuildHost.open({ ...choice, knownHosts: empty }, log), new RegExp(`^build host ${sshd.url.replace(/[/.]/g, '\\$&')}, logging in: the host key of \\[127\\.0\\.0\\.1\\]:${sshd.port} is not known .*ssh-keyscan`), 'unknown host key');
  const other = await generateKeys(mkdtempSync(join(work, 'other-')));
  const changed = join(work, 'known_hosts.changed');
  writeFileSync(changed, `${knownHostsLine(sshd.port, other.hostPublic)}\n`);
  await t.rejects(BuildHost.open({ ...choice, knownHosts: changed }, log), /has CHANGED .*ssh-keygen -R/, 'changed host key');
  await t.rejects(BuildHost.open({ ...choice, identity: other.userKey }, log), /root refused every key offered .*authorized_keys/, 'a user key the host does not accept');
  t.type(await failureOf(BuildHost.open({ ...choice, knownHosts: empty }, log)), BuildHostError, 'a login refusal is the host failing (a bisect stops)');
  t.equal(await hostProcesses(home).then((l) => l.length), 0);
  t.equal((await execa('find', [home])).stdout, homeBefore, 'no key refusal ran anything on the host');

  const noMake = await startSshd(join(work, 'sshd-nomake'), { HOME: join(work, 'home-nomake'), PATH: pathWithout(join(work, 'bin-nomake'), ['make']) });
  t.teardown(() => noMake.stop());
  const opening = BuildHost.open({ url: noMake.url, identity: noMake.keys.userKey, knownHosts: noMake.knownHosts }, log);
  opening.then((h) => h.close(), () => undefined); // should it open (a broken check), the test must still end
  await t.rejects(opening, /the build host lacks make, which the kernel build needs: install/, 'no make on the host');

  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const small = join(work, 'small');
  mkdirSync(small, { recursive: true });
  writeFileSync(join(small, 'Makefile'), 'all:\n');
  await t.rejects(host.sync(small, { deadlineMs: 60_000, minFreeBytes: 2 ** 60 }), /GiB free under ~\/.cache\/bpf-storage-harness\/build-host and the tree and build need .*: free space there/, 'too little space');
  t.type(await failureOf(host.sync(small, { deadlineMs: 60_000, minFreeBytes: 2 ** 60 })), BuildHostError, 'too little space is the host failing');
  t.notOk(existsSync(`${host.workspace(small)}/src`), 'nothing was sent');
});

/** What `p` rejects with (undefined if it resolves). */
async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (err: unknown) => err);
}

/** A tree whose make runs a long sleep (marked by its length): what is killed must include make's children. */
function sleepTree(seconds: number): string {
  const dir = join(work, `sleep-${seconds}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Makefile'), `all:\n\techo started; sleep ${seconds}; echo finished\n`);
  return dir;
}

t.test('a connection dropped mid-make: the make and its children are killed on the host', async (t) => {
  const dir = sleepTree(3141);
  const host = await BuildHost.open(choice, log);
  await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 });
  const p = await host.spawn(['make', '-C', dir], { cwd: dir });
  let text = '';
  p.output.on('data', (d: Buffer) => (text += d.toString()));
  for (let i = 0; i < 100 && !/started/.test(text); i++) await new Promise((r) => setTimeout(r, 100));
  t.same(await hostProcesses('sleep 3141'), ['/bin/sh -c echo started; sleep 3141; echo finished', 'sleep 3141'], "make's recipe and its sleep run on the host");
  for (const pid of await sshd.sessions()) process.kill(pid, 'SIGKILL');
  t.same(await p.done, { code: null }, 'no exit status: the connection is gone');
  t.ok(host.conn.isClosed);
  t.same(await gone('sleep 3141', 5000), [], 'make and the sleep are gone on the host');
});

t.test('a deadline ends the channel: the command is killed there', async (t) => {
  const dir = sleepTree(2718);
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 });
  const t0 = Date.now();
  const r = await host.run(['make', '-C', dir], { cwd: dir, deadlineMs: 2000 });
  t.ok(r.timedOut);
  t.ok(Date.now() - t0 < 11_000, 'the host ended the channel soon after the deadline: the watcher killed the command');
  t.same(await gone('sleep 2718', 5000), [], 'killed with its process group');
  t.notOk(host.conn.isClosed, 'the connection stays for what comes next');
});

/** The CLI as a user runs it, with a HOME of its own (no agent, no ~/.ssh). */
function cliRun(args: string[], during?: CliOptions['during']): Promise<CliRun> {
  return spawnCli(args, { env: { ...process.env, HOME: join(work, 'user'), SSH_AUTH_SOCK: '' }, deadlineMs: 240_000, deadlineSignal: 'SIGKILL', during });
}

t.test('kernel build --build-host: an unknown key is refused in one line, exit 2', { skip: linuxSource ? false : 'no cached linux-source-7.3' }, async (t) => {
  const empty = join(work, 'known_hosts.cli');
  writeFileSync(empty, '');
  const r = await cliRun(['kernel', 'build', '--tree', tree, '--out', join(work, 'out-cli'), '--build-host', sshd.url, '--identity', sshd.keys.userKey, '--known-hosts', empty]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^bpf-harness: build host ssh:\/\/root@127\.0\.0\.1:\d+, logging in: the host key of .* is not known .*\n$/);
  const bad = await cliRun(['kernel', 'build', '--tree', tree, '--build-host', 'root@box']);
  t.equal(bad.status, 2);
  t.equal(bad.stderr, 'bpf-harness: --build-host root@box: give ssh://user@host or ssh://user@host:port (an IPv6 address in brackets: ssh://root@[::1]:2222)\n');
});

t.test('bisect --build-host: a host that would refuse every step refuses the bisect before git bisect starts', async (t) => {
  const repo = threeCommitKernelRepo(join(work, 'kernel-git'));
  const empty = join(work, 'known_hosts.bisect');
  writeFileSync(empty, '');
  const r = await cliRun(['bisect', '--tree', repo, '--good', 'HEAD~2', '--bad', 'HEAD', '--build-host', sshd.url, '--identity', sshd.keys.userKey, '--known-hosts', empty]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^bpf-harness: build host ssh:\/\/root@127\.0\.0\.1:\d+, logging in: the host key of .* is not known .*\n$/, 'the unknown key, in one line');
  t.equal((await execa('git', ['-C', repo, 'worktree', 'list'])).stdout.split('\n').length, 1, 'no bisect worktree was made');
});

t.test('kernel build --build-host, Ctrl-C during the config step: exit 130, nothing left running on the host', { skip: linuxSource && existsSync(join(bin, 'pahole')) ? false : 'needs the cached linux-source-7.3 and the trixie build root' }, async (t) => {
  let sent = false;
  const r = await cliRun(['kernel', 'build', '--tree', tree, '--out', join(work, 'out-ctrlc'), '--build-host', sshd.url, '--identity', sshd.keys.userKey, '--known-hosts', sshd.knownHosts], (out, child) => {
    if (!sent && /step config/.test(out)) {
      sent = true;
      // make defconfig has started on the host once its HOSTCC lines run there.
      const poll = setInterval(() => {
        void hostProcesses(`${home}/`).then((l) => {
          if (l.some((x) => /make/.test(x))) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        });
      }, 200);
    }
  });
  t.ok(sent, 'the config step started');
  t.equal(r.status, 130, 'exit 130', { stdout: r.stdout.slice(-1500), stderr: r.stderr.slice(-1500) });
  t.same(await gone(`${home}/`, 5000), [], 'no make (nor anything else of the build) is left on the host');
});

t.test('kernel build --build-host, the connection dropped mid-make: exit 2 naming the lost host, nothing left running there', { skip: linuxSource && existsSync(join(bin, 'pahole')) ? false : 'needs the cached linux-source-7.3 and the trixie build root' }, async (t) => {
  let dropped = false;
  const r = await cliRun(['kernel', 'build', '--tree', tree, '--out', join(work, 'out-drop'), '--build-host', sshd.url, '--identity', sshd.keys.userKey, '--known-hosts', sshd.knownHosts], (out) => {
    if (!dropped && /step config/.test(out)) {
      dropped = true;
      const poll = setInterval(() => {
        void hostProcesses(`${home}/`).then(async (l) => {
          if (!l.some((x) => /make/.test(x))) return;
          clearInterval(poll);
          for (const pid of await sshd.sessions()) process.kill(pid, 'SIGKILL');
        });
      }, 200);
    }
  });
  t.ok(dropped, 'the config step started');
  t.equal(r.status, 2, 'exit 2', { stdout: r.stdout.slice(-1500), stderr: r.stderr.slice(-1500) });
  t.match(r.stderr, /^bpf-harness: make \S+ on ssh:\/\/root@127\.0\.0\.1:\d+: the connection to the build host was lost \(make there was killed with it\)\n$/);
  t.same(await gone(`${home}/`, 5000), [], 'no make is left on the host');
});

t.test('relative --identity and --known-hosts are made absolute: the choice still logs in from another directory (a bisect step runs in its worktree)', async (t) => {
  const before = process.cwd();
  t.teardown(() => process.chdir(before));
  process.chdir(join(work, 'sshd'));
  const given = buildHostChoice({ 'build-host': sshd.url, identity: 'id_ed25519', 'known-hosts': 'known_hosts' });
  t.same(given, { url: sshd.url, identity: join(work, 'sshd', 'id_ed25519'), knownHosts: join(work, 'sshd', 'known_hosts') }, 'absolute, from where they were typed');
  t.equal(given?.identity, sshd.keys.userKey, "the test sshd's key");
  process.chdir(home);
  const host = await BuildHost.open(given!, log);
  host.close();
  t.pass('logged in from another directory');
});

/** A directory with one file of `mib` MiB of random bytes (gzip cannot shrink it: the stream takes a while). */
async function bigTree(name: string, mib: number): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Makefile'), 'all:\n');
  await execa('sh', ['-c', `head -c ${mib}M /dev/urandom > '${join(dir, 'big')}'`], { timeout: 60_000 });
  return dir;
}

t.test('the connection dropped while the tree is sent: a BuildHostError saying so (not "is there room?"), at once', async (t) => {
  const dir = await bigTree('big-drop', 256);
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const t0 = Date.now();
  const syncing = failureOf(host.sync(dir, { deadlineMs: 180_000, minFreeBytes: 0 }));
  let killed = false;
  for (let i = 0; i < 300 && !killed; i++) {
    if ((await hostProcesses(`tar -xzmf - -C ${home}/`)).length > 0) {
      for (const pid of await sshd.sessions()) process.kill(pid, 'SIGKILL');
      killed = true;
    } else await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(killed, 'tar -x ran on the host, and the connection was dropped under it');
  const err = await syncing;
  t.type(err, BuildHostError);
  t.match(String(err), /build host ssh:\/\/root@127\.0\.0\.1:\d+, (syncing|sending) the tree: the connection was lost/);
  t.notMatch(String(err), /room/);
  // A hang guard, not a timing target: a local tar blocked on the dead channel would wait for the deadline.
  t.ok(Date.now() - t0 < 150_000, 'noticed when the connection went, not at the deadline');
});

t.test('a sync past its deadline: a BuildHostError naming the host and the step, exit 2 (not an internal error)', async (t) => {
  const dir = await bigTree('big-deadline', 64);
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const err = await failureOf(host.sync(dir, { deadlineMs: 1, minFreeBytes: 0 }));
  t.type(err, BuildHostError);
  t.equal(err instanceof BuildHostError ? err.exitCode : undefined, 2);
  t.match(String(err), /build host ssh:\/\/root@127\.0\.0\.1:\d+, syncing the tree: sending the tree to \S+: no answer within/);
});

t.test('a remote command whose connection drops (merge_config.sh there): a BuildHostError, not the tool failing', async (t) => {
  const dir = sleepTree(1618);
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  await host.sync(dir, { deadlineMs: 60_000, minFreeBytes: 0 });
  const running = failureOf(host.run(['make', '-C', dir], { cwd: dir, deadlineMs: 120_000 }));
  for (let i = 0; i < 100 && (await hostProcesses('sleep 1618')).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of await sshd.sessions()) process.kill(pid, 'SIGKILL');
  const err = await running;
  t.type(err, BuildHostError);
  t.match(String(err), /build host ssh:\/\/root@127\.0\.0\.1:\d+, make -C: the connection was lost/);
  t.same(await gone('sleep 1618', 5000), []);
});

t.test('a channel that opens after its deadline is closed at once, not left running', async (t) => {
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const marker = join(work, 'late-channel-ended');
  // cat ends when the channel's stdin does: the marker says the channel was closed.
  await t.rejects(host.conn.channel(`cat >/dev/null; touch '${marker}'`, 1), /opening a channel on .*: no answer within/);
  for (let i = 0; i < 100 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(existsSync(marker), 'the late channel was closed');
});

t.test("make on the host in a directory that is not there: the wrapper shell's reason is in build.log and the error", async (t) => {
  const host = await BuildHost.open(choice, log);
  t.teardown(() => host.close());
  const logPath = join(work, 'wrapper-build.log');
  writeFileSync(logPath, '');
  const missing = join(work, 'never-synced');
  const err = await failureOf(runMake(missing, ['all'], { logPath, deadlineMs: 60_000, log, jobs: 1, quiet: true, host }));
  t.match(String(err), /make all failed \(exit 126\)/);
  const complaint = new RegExp(`cd: .*${missing.replace(/[/.]/g, '\\$&')}|can't cd to ${missing.replace(/[/.]/g, '\\$&')}`);
  t.match(readFileSync(logPath, 'utf8'), complaint, "the shell's complaint about the directory");
  t.match(String(err), complaint, 'and so is the error (its log tail)');
});

t.test('a bisect step: a build host that refuses at the step aborts the bisect; a tree that does not build there is still a skip', { skip: existsSync(join(bin, 'pahole')) ? false : 'needs the trixie build root (pahole for the host)' }, async (t) => {
  const stepTree = join(work, 'step-tree');
  mkdirSync(join(stepTree, 'arch', 'x86'), { recursive: true });
  writeFileSync(join(stepTree, 'Kconfig'), '');
  writeFileSync(join(stepTree, 'Makefile'), '%:\n\t@echo this tree does not build; exit 2\n');
  const state = (buildHost: BuildHostChoice): BisectState => ({
    version: 1, tree: stepTree, worktree: stepTree, outDir: join(work, 'step-out'), dir: join(work, 'step-results'), good: 'g', bad: 'b', candidates: 2, expectedSteps: 2,
    startedAt: new Date().toISOString(), scenarios: [], selftests: [], sizes: 'small', retries: 0, seed: 1, debug: false, accel: 'tcg', bootDeadlineS: 60, settleDeadlineS: 60, buildDeadlineMin: 5, buildHost,
  });
  const empty = join(work, 'known_hosts.step');
  writeFileSync(empty, '');
  const refused = await kernelStepRunner.build(state({ ...choice, knownHosts: empty }), log);
  t.match(decideStep(refused, []), { verdict: 'abort', reason: /^the build host failed: build host \S+, logging in: the host key/ }, 'the host refusing the login stops the bisect');
  const broken = await kernelStepRunner.build(state(choice), log);
  t.match(decideStep(broken, []), { verdict: 'skip', reason: /^does not build: make \S+ failed \(exit 2\)/ }, "make's own failure on the host is the commit's");
});
