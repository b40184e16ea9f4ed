// `bpf-harness shell` driven through node-pty as a user at a terminal would drive it: it boots
// Debian's 7.3 with an sshd, the user types a command and reads the answer, resizes the
// window (the guest's pty follows), interrupts a command with Ctrl-C (it goes to the guest),
// and leaves with Ctrl-]; the command ends with 0 and no QEMU is left.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadNodePty, NODE_PTY_FIX } from '../../harness/util/node-pty.js';
import { startTerminal } from '../helpers/terminal.js';
import { GuestOps } from '../../harness/agent/guest-ops.js';
import { bootSshGuest } from '../../harness/vm/ssh-guest.js';
import { projectRoot } from '../../harness/util/paths.js';

const cli = join(projectRoot, 'dist', 'harness', 'cli.js');

t.test('without a terminal: one line, exit 2, nothing boots', async (t) => {
  const r = spawnSync(process.execPath, [cli, 'shell'], { encoding: 'utf8', timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
  t.equal(r.status, 2);
  t.equal(r.stderr, 'bpf-harness: bpf-harness shell needs a terminal on stdin and stdout: run it in one, not behind a pipe or a redirection\n');
});

t.test('a root shell in the guest, through a real pseudo-terminal', async (t) => {
  const term = await startTerminal(t, ['shell', '--cpus', '1', '--memory', '1024']);
  if (!term) return;

  const [, port] = await term.waitFor(/root shell in the guest \(7\.3-amd64, sshd on 127\.0\.0\.1:(\d+)\)[^\n]*Ctrl-\] leaves/);
  const qemu = async (): Promise<string> => (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
  t.not(await qemu(), '', 'the guest runs while the shell is open');
  await term.waitFor(/~ # /);

  term.write('echo $((6*7)) $(uname -r) $(id -u)\r');
  t.ok(await term.waitFor(/\n42 7\.3-amd64 0\r*\n/), 'a command typed is run in the guest as root and its answer shown');

  // Debian's bpftool, under its own loader (harness/vm/guest-bpftool.ts), talks to the guest's kernel.
  term.write('bpftool version && bpftool prog show && bpftool map show && echo bpftool""-ok\r');
  t.ok(await term.waitFor(/\nbpftool v\d+\.\d+\.\d+\r*\n[\s\S]*\nbpftool-ok\r*\n/, 30_000), 'bpftool runs in the guest');

  term.resize(132, 43);
  await new Promise((r) => setTimeout(r, 1000));
  term.write('stty size\r');
  t.ok(await term.waitFor(/\n43 132\r*\n/), "the guest's terminal took the new window size");

  term.write('sleep 600; echo not-interrupted\r');
  await new Promise((r) => setTimeout(r, 1500));
  term.write('\x03');
  term.write('echo after""-ctrl-c\r');
  t.ok(await term.waitFor(/\nafter-ctrl-c\r*\n/, 30_000), 'Ctrl-C interrupted the command in the guest; the shell stayed');
  t.notMatch(term.out, /\nnot-interrupted\r*\n/, 'the rest of the command line did not run');

  term.write('\x1d');
  for (let i = 0; i < 150 && !term.exit; i++) await new Promise((r) => setTimeout(r, 200));
  t.same(term.exit?.exitCode, 0, 'Ctrl-] left, exit 0');
  t.match(term.out, /left the guest; it is stopped/);
  t.equal(await qemu(), '', 'no QEMU is left');
});

t.test('the terminal closes under the shell: the guest stops and its files go', async (t) => {
  try {
    await loadNodePty();
  } catch {
    t.comment(`not run: ${NODE_PTY_FIX}`);
    return;
  }
  const r = await execa(process.execPath, [join(projectRoot, 'dist', 'test', 'helpers', 'pty-hangup.js')], { timeout: 700_000, reject: false });
  const [port, pid, filesWhileOpen] = r.stdout.trim().split(' ');
  // The files of this harness run alone: other harness runs on this machine (a developer's shell, another checkout's tests) make theirs in the same /tmp.
  const guestDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`bpfh-ssh-guest-${pid}-`));
  const before: string[] = [];
  t.match(port, /^\d+$/, 'the shell reached the guest before the terminal went');
  t.equal(filesWhileOpen, '1', "the boot's keys and image were there while the shell was open");
  let left = 'unknown';
  for (let i = 0; i < 60; i++) {
    left = (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
    if (left === '' && guestDirs().join() === before.join()) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  t.equal(left, '', 'no QEMU is left');
  t.same(guestDirs(), before, "the boot's keys and image are removed");
});

t.test('a shell on an SSH target: the same terminal, and leaving stops nothing there', async (t) => {
  let pty;
  try {
    pty = await loadNodePty();
  } catch {
    t.comment(`not run: ${NODE_PTY_FIX}`);
    return;
  }
  const guest = await bootSshGuest({ kernel: 'debian:7.3', cpus: 1, memoryMiB: 1024, bootDeadlineMs: 600_000, log: (l) => t.comment(l) });
  t.teardown(() => guest.stop());
  const url = `ssh://root@127.0.0.1:${guest.port}`;
  const term = pty.spawn(process.execPath, [cli, 'shell', '--target', url, '--identity', guest.keys.userKey, '--known-hosts', guest.knownHosts], { cols: 100, rows: 30, env: { ...process.env, TERM: 'xterm' } });
  let out = '';
  let exit: { exitCode: number } | undefined;
  term.onData((d) => (out += d));
  term.onExit((e) => (exit = e));
  t.teardown(() => {
    if (!exit) term.kill('SIGTERM');
  });
  const waitFor = async (re: RegExp, ms = 60_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (exit || Date.now() > end) throw new Error(`no ${re} on the terminal (exit ${JSON.stringify(exit)}); it shows:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await waitFor(new RegExp(`shell on ${url.replace(/[.]/g, '\\.')} \\(host key ssh-ed25519 SHA256:`));
  await waitFor(/~ # /);
  term.write('stty size; echo on-$(uname -r)\r');
  await waitFor(/\n30 100\r*\non-7\.3-amd64\r*\n/);
  term.write('\x1d');
  for (let i = 0; i < 100 && !exit; i++) await new Promise((r) => setTimeout(r, 200));
  t.same(exit?.exitCode, 0, 'Ctrl-] left, exit 0');
  t.match(out, new RegExp(`left ${url.replace(/[.]/g, '\\.')}`));
  t.match(await new GuestOps(guest.session.agent).read('/proc/sys/kernel/osrelease'), /^7\.3-amd64/, 'the target still runs');
});
