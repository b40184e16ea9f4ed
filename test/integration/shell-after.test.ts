// The shell after a scenario, driven through node-pty as a user at a terminal: `bpf-harness
// shell --after` and `vm-test --shell-on-fail` on Debian's 7.3 (one CPU, small sizes), with
// the harness's own faults so that something lingers: the run stops at the scenario, the
// banner lists the pinned map and the owners, bpftool in the guest sees them, the owners are
// alive, what the user saw and typed is in the results, and the kernel log is scanned after
// the user left (a refcount underflow made from the shell with the test module is reported).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { IPty } from 'node-pty';
import { loadNodePty, NODE_PTY_FIX } from '../../harness/shell/pty.js';
import { KEYS_FILE, TRANSCRIPT_FILE } from '../../harness/shell/shell.js';
import { projectRoot } from '../../harness/util/paths.js';

const cli = join(projectRoot, 'dist', 'harness', 'cli.js');
const GUEST = ['--kernel', 'debian:7.3', '--cpus', '1', '--memory', '1024', '--sizes', 'small'];

t.test('without a terminal: one line, exit 2, nothing boots', async (t) => {
  for (const args of [['vm-test', '--shell-on-fail', '--scenario', 'sk-map-free-live-owners'], ['shell', '--after', 'sk-map-free-live-owners']]) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, stdio: ['pipe', 'pipe', 'pipe'] });
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /^bpf-harness: [^\n]*needs a terminal on stdin and stdout[^\n]*\n$/, `${args.join(' ')}: one line`);
    t.notMatch(r.stdout, /booting/, 'nothing booted');
    t.ok(Date.now() - t0 < 30_000, 'refused at once');
  }
});

/** A command in a pseudo-terminal, as a user runs it, with what its screen showed. */
class Terminal {
  out = '';
  exit: { exitCode: number } | undefined;
  private seen = 0;
  constructor(readonly term: IPty) {
    term.onData((d) => (this.out += d));
    term.onExit((e) => (this.exit = e));
  }

  /** Until the screen shows `re` after what was waited for before; the match. */
  async waitFor(re: RegExp, ms = 600_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(this.seen));
      if (m) {
        this.seen += m.index + m[0].length;
        return m;
      }
      if (this.exit || Date.now() > end) throw new Error(`no ${re} on the terminal (exit ${JSON.stringify(this.exit)}); it shows:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Types a command line and waits for the prompt after it; what the guest printed. */
  async run(line: string, ms = 60_000): Promise<string> {
    this.term.write(`${line}\r`);
    const start = this.seen;
    await this.waitFor(/\n~ # /, ms);
    return this.out.slice(start, this.seen);
  }

  async leave(): Promise<void> {
    this.term.write('\x1d');
    for (let i = 0; i < 900 && !this.exit; i++) await new Promise((r) => setTimeout(r, 200));
  }
}

async function start(t: Test, args: string[]): Promise<Terminal | undefined> {
  let pty;
  try {
    pty = await loadNodePty();
  } catch {
    t.comment(`not run: ${NODE_PTY_FIX}`);
    return undefined;
  }
  const term = new Terminal(pty.spawn(process.execPath, [cli, ...args], { cols: 160, rows: 50, env: { ...process.env, TERM: 'xterm' } }));
  t.teardown(() => {
    if (!term.exit) term.term.kill('SIGTERM');
  });
  return term;
}

const shellGuestDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('bpfh-shell-guest-')).sort();

async function qemuOn(port: string): Promise<string> {
  return (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
}

t.test('shell --after: the pinned map and the cgroups, bpftool, the transcript, the kernel log after leaving', async (t) => {
  const before = shellGuestDirs();
  const term = await start(t, ['shell', '--after', 'cgrp-map-free-live-owners', ...GUEST, '--inject-fault', 'leave-elem', '--inject-fault', 'kernel-warn']);
  if (!term) return;
  const [, port, results] = await term.waitFor(/root shell in the guest \(sshd on 127\.0\.0\.1:(\d+)\)[^\n]*this session is logged to (\S+)\/shell-transcript\.txt/);
  await term.waitFor(/~ # /);
  // The banner, before the prompt.
  t.match(term.out, /scenario cgrp-map-free-live-owners: FAIL: /);
  const pin = /map \d+ \(cgrp_storage cgrp_stg\) pinned at (\/sys\/fs\/bpf\/bpfh\/cgrp_storage-\d+)/.exec(term.out)?.[1];
  t.ok(pin, 'the map leave-elem kept is pinned');
  const cgroup = /768 cgroups: (\/sys\/fs\/cgroup\/bpfh-cgrp-map-free-live-owners\/bpfh-o\d+) \(id \d+\)/.exec(term.out)?.[1];
  t.ok(cgroup, "the scenario's cgroups are listed");
  t.match(term.out, /owners with elements still linked \(the inspector\):\s+cgrp \d+: elements of map \d+/);
  t.not(await qemuOn(port!), '', 'the guest runs while the shell is open');

  t.match(await term.run(`bpftool map show pinned ${pin}`), /\d+: cgrp_storage {2}name cgrp_stg/, "bpftool in the guest shows the pinned map that lingered (leave-elem's)");
  t.match(await term.run('bpftool prog show'), /tracing {2}name inspect_cgrp/, "bpftool lists the guest's programs");
  t.match(await term.run(`ls -d ${cgroup ?? '/nonexistent'} && echo owner""-alive`), /\nowner-alive\r*\n/, 'the cgroups the scenario made are still there');
  // A kernel report made from the shell: the kernel log is read again when the user leaves.
  t.match(await term.run('rmmod bpfh_warn && insmod /lib/bpfh/bpfh_warn.ko report=refcount; echo insmod-$?'), /Operation canceled\r*\ninsmod-125\r*\n/, 'the test module made its report (and refused to load: ECANCELED)');
  await term.leave();
  t.same(term.exit?.exitCode, 1, 'exit 1: the scenario failed');
  t.match(term.out, /kernel log after you left the guest: see below/);
  t.match(term.out, /after the run: added to cgrp-map-free-live-owners: /, 'the log read after the user left found a report');

  const transcript = readFileSync(join(results!, TRANSCRIPT_FILE), 'utf8');
  t.match(transcript, /^scenario cgrp-map-free-live-owners: FAIL/, 'the transcript starts with the banner');
  t.match(transcript, /\nowner-alive\r*\n/, 'and holds what the guest showed');
  t.match(readFileSync(join(results!, KEYS_FILE), 'utf8'), /bpftool map show pinned \/sys\/fs\/bpf\/bpfh\//, 'what the user typed is kept');
  const summary = JSON.parse(readFileSync(join(results!, 'summary.json'), 'utf8')) as { scenarios: Array<{ name: string; verdict: string }>; afterRun?: { kernelLog: string[] } };
  t.same(summary.scenarios.map((s) => `${s.name} ${s.verdict}`), ['cgrp-map-free-live-owners fail']);
  t.match(summary.afterRun?.kernelLog.join('\n') ?? '', /refcount_t: underflow/, "the log after the shell holds the refcount report made there");
  t.ok(existsSync(join(results!, 'kernel.log')), 'kernel.log is written');
  t.equal(await qemuOn(port!), '', 'no QEMU is left');
  t.same(shellGuestDirs(), before, "the run's keys and image are removed");
});

t.test('vm-test --shell-on-fail: passes go on, the first failure stops with its threads alive', async (t) => {
  const term = await start(t, ['vm-test', '--shell-on-fail', ...GUEST, '--accel', 'tcg', '--scenario', 'cgrp-map-free-vs-rmdir-race', '--scenario', 'task-map-free-live-owners', '--scenario', 'sk-map-free-live-owners', '--inject-fault', 'leave-elem:task-map-free-live-owners']);
  if (!term) return;
  await term.waitFor(/scenario cgrp-map-free-vs-rmdir-race:[^\n]*\n(?:[^\n]*\n)*?\s+PASS in /);
  await term.waitFor(/scenario task-map-free-live-owners: FAIL: /);
  const results = (await term.waitFor(/this session is logged to (\S+)\/shell-transcript\.txt/))[1]!;
  await term.waitFor(/~ # /);
  const pin = /map \d+ \(task_storage task_stg\) pinned at (\S+)/.exec(term.out)?.[1];
  t.ok(pin, 'the map leave-elem kept is pinned');
  const pid = /owners held by the agent \(pid (\d+)\):\s+768 threads: tids \d+-\d+ \(ls \/proc\/\d+\/task\)/.exec(term.out)?.[1];
  t.ok(pid, 'the threads are listed with the agent pid');
  t.match(await term.run(`bpftool map show pinned ${pin}`), /\d+: task_storage {2}name task_stg/, 'bpftool shows the map that lingered');
  // The agent's main thread, the owners, and none of them gone.
  t.match(await term.run(`echo threads-$(ls /proc/${pid ?? 1}/task | wc -l)`), /\nthreads-769\r*\n/, "the scenario's 768 threads are alive");
  await term.leave();
  t.same(term.exit?.exitCode, 1);
  t.notMatch(term.out, /scenario sk-map-free-live-owners:/, 'the run stopped at the failure');
  const summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as { scenarios: Array<{ name: string; verdict: string }> };
  t.same(summary.scenarios.map((s) => `${s.name} ${s.verdict}`), ['cgrp-map-free-vs-rmdir-race pass', 'task-map-free-live-owners fail'], 'the results so far are written');
  t.match(readFileSync(join(results, TRANSCRIPT_FILE), 'utf8'), /\nthreads-769\r*\n/);
});
