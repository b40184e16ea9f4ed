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
import { startTerminal, type Terminal } from '../helpers/terminal.js';
import { KEYS_FILE, TRANSCRIPT_FILE } from '../../harness/shell/shell.js';
import { projectRoot } from '../../harness/util/paths.js';

const cli = join(projectRoot, 'dist', 'harness', 'cli.js');
// A failing scenario waits the settle deadline for counters that never come back, twice (user
// space, then programs): 5 s instead of the default 30 is a minute less per run, and the
// scenarios that must pass here settle in well under a second.
const GUEST = ['--kernel', 'debian:7.3', '--cpus', '1', '--memory', '1024', '--sizes', 'small', '--settle-deadline', '5'];

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

/** `bpf-harness ARGS` in a terminal of 160 x 50, as the shell tests run it. */
const start = (t: Test, args: string[]): Promise<Terminal | undefined> => startTerminal(t, args, { cols: 160, rows: 50 });

/** The shell guest files of the harness run with process id `pid` (other harness runs on this machine make theirs in the same /tmp). */
const shellGuestDirs = (pid: number): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`bpfh-shell-guest-${pid}-`));

async function qemuOn(port: string): Promise<string> {
  return (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
}

t.test('shell --after: the pinned map and the cgroups, bpftool, the transcript, the kernel log after leaving', async (t) => {
  const term = await start(t, ['shell', '--after', 'cgrp-map-free-live-owners', ...GUEST, '--inject-fault', 'leave-elem', '--inject-fault', 'kernel-warn']);
  if (!term) return;
  const [, port, results] = await term.waitFor(/root shell in the guest \(sshd on 127\.0\.0\.1:(\d+)\)[^\n]*this session is logged to (\S+)\/shell-transcript\.txt/);
  await term.waitFor(/~ # /);
  t.equal(shellGuestDirs(term.pid).length, 1, "the run's keys and image are there while the shell is open");
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
  t.same(term.exit?.exitCode, 1, 'exit 1: the scenario failed, and the kernel reported after the shell');
  // What the log said after the user left is the shell's, not the scenario's (README, "A shell in the guest").
  t.match(term.out, /kernel log during and after the shell \(not counted against cgrp-map-free-live-owners, whose verdict is the one it had when the shell opened; the run fails\): the kernel reported: /, 'the log read after the user left found a report');
  t.notMatch(term.out, /after the run: added to/, 'and it is added to no scenario');
  t.match(term.out, /\nshell: the run stopped at cgrp-map-free-live-owners \(shell --after\) for a shell, \d+ s in the guest/, 'the table says where the run stopped');

  const transcript = readFileSync(join(results!, TRANSCRIPT_FILE), 'utf8');
  t.match(transcript, /^scenario cgrp-map-free-live-owners: FAIL/, 'the transcript starts with the banner');
  t.match(transcript, /\nowner-alive\r*\n/, 'and holds what the guest showed');
  t.match(readFileSync(join(results!, KEYS_FILE), 'utf8'), /bpftool map show pinned \/sys\/fs\/bpf\/bpfh\//, 'what the user typed is kept');
  const summary = JSON.parse(readFileSync(join(results!, 'summary.json'), 'utf8')) as { exitCode: number; scenarios: Array<{ name: string; verdict: string; reason: string; kernelLog?: string[] }>; afterRun?: { kernelLog: string[]; attributedTo?: string }; shell?: { scenario: string; kernelLog?: { verdict: string; reports: string[] } } };
  t.same(summary.scenarios.map((s) => `${s.name} ${s.verdict}`), ['cgrp-map-free-live-owners fail']);
  t.match(summary.afterRun?.kernelLog.join('\n') ?? '', /refcount_t: underflow/, "the log after the shell holds the refcount report made there");
  t.equal(summary.afterRun?.attributedTo, undefined);
  t.same([summary.shell?.scenario, summary.shell?.kernelLog?.verdict], ['cgrp-map-free-live-owners', 'reported'], "the shell's own record has it");
  t.match(summary.shell?.kernelLog?.reports.join('\n') ?? '', /refcount_t: underflow/);
  const scenario = summary.scenarios[0]!;
  t.notMatch(scenario.reason, /after the run|refcount/, "the scenario's reason is the banner's");
  t.notMatch((scenario.kernelLog ?? []).join('\n'), /refcount_t/, "the scenario's kernel log has only its own reports");
  t.match((scenario.kernelLog ?? []).join('\n'), /WARNING: bpfh_warn\.c:\d+ at bpfh_warn_pre/, "the kernel-warn fault's WARNING at the map free stays the scenario's");
  t.equal(summary.exitCode, 1);
  t.match(readFileSync(join(results!, 'results.tap'), 'utf8'), /\nnot ok 2 - kernel log during and after the shell \(after cgrp-map-free-live-owners\)\n/, 'results.tap has it as a test point of its own');
  t.match(readFileSync(join(results!, 'junit.xml'), 'utf8'), /name="kernel log during and after the shell \(after cgrp-map-free-live-owners\)"[^>]*>\n\s*<failure /, 'junit.xml as a failing testcase');
  t.ok(existsSync(join(results!, 'kernel.log')), 'kernel.log is written');
  t.equal(await qemuOn(port!), '', 'no QEMU is left');
  t.same(shellGuestDirs(term.pid), [], "the run's keys and image are removed");
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

/** The combined results of a --kernels run, as its last lines name them. */
interface MultiRunSummary {
  exitCode: number;
  aborted?: string;
  runs: Array<{ kernel: string; exitCode: number; resultsDir?: string; summary: { exitCode: number; scenarios: Array<{ name: string; verdict: string }>; shell?: { scenario: string; notRun: string[]; transcript: string; durationMs?: number; kernelLog?: { verdict: string } } } | null }>;
}

t.test('vm-test --shell-on-fail --kernels: one shell, at the first kernel that fails; Ctrl-C in it goes to the guest; the kernels after it run to their end without one', async (t) => {
  const term = await start(t, ['vm-test', '--shell-on-fail', '--kernels', 'debian:7.3,debian:6.12', '--cpus', '1', '--memory', '1024', '--sizes', 'small', '--settle-deadline', '5', '--accel', 'tcg', '--scenario', 'sk-map-free-live-owners', '--scenario', 'task-map-free-live-owners', '--inject-fault', 'leave-elem']);
  if (!term) return;
  await term.waitFor(/=== kernel debian:7\.3 \(1 of 2\)\r?\n/);
  await term.waitFor(/scenario sk-map-free-live-owners: FAIL: /);
  const [, port] = await term.waitFor(/root shell in the guest \(sshd on 127\.0\.0\.1:(\d+)\)/);
  await term.waitFor(/~ # /);
  t.equal(shellGuestDirs(term.pid).length, 1, "the run's keys and image are there while the shell is open");
  t.match(await term.run('uname -r'), /\n7\.3[^\n]*\r*\n/, 'the shell is in the first kernel, the one that failed');
  // Ctrl-C in the shell is the guest's: it stops the guest's command, not the run.
  term.term.write('sleep 120\r');
  await new Promise((r) => setTimeout(r, 2000));
  term.term.write('\x03');
  await term.waitFor(/\n~ # /, 30_000);
  t.match(await term.run('echo still""-here'), /\nstill-here\r*\n/, 'the shell is still open after Ctrl-C');
  t.notOk(term.exit, 'the run goes on');
  await term.leave();
  t.same(term.exit?.exitCode, 1, 'exit 1: both kernels failed');
  const out = term.out;
  t.match(out, /--shell-on-fail: the shell was at debian:7\.3, sk-map-free-live-owners; the 1 kernel after it runs without one/);
  t.match(out, /=== kernel debian:6\.12 \(2 of 2\): no shell \(the one shell of this run was at debian:7\.3, sk-map-free-live-owners\)/);
  const second = out.slice(out.indexOf('=== kernel debian:6.12'));
  t.match(second, /scenario sk-map-free-live-owners:[^\n]*\n(?:[^\n]*\n)*?\s+FAIL in [\s\S]*scenario task-map-free-live-owners:[^\n]*\n(?:[^\n]*\n)*?\s+FAIL in /, 'the second kernel ran every scenario, its failures too');
  t.notMatch(second, /root shell in the guest/, 'and gave no shell');
  t.match(out, /debian:7\.3: shell: the run stopped at sk-map-free-live-owners \(its first failure\) for a shell, \d+ s in the guest; what the guest showed: \S+\/shell-transcript\.txt/, 'the combined table says where the shell was');
  t.match(out, /\n {2}not run: task-map-free-live-owners\r?\n {2}kernel log during and after the shell: nothing reported/);
  t.match(out, /task-map-free-live-owners: not run on debian:7\.3 \(debian:7\.3 stopped at sk-map-free-live-owners for the shell\)/);
  const combined = /combined results: (\S+)/.exec(out)?.[1];
  const m = JSON.parse(readFileSync(join(combined!, 'summary.json'), 'utf8')) as MultiRunSummary;
  t.equal(m.exitCode, 1);
  const [k1, k2] = m.runs;
  t.same(k1?.summary?.scenarios.map((s) => `${s.name} ${s.verdict}`), ['sk-map-free-live-owners fail']);
  t.same([k1?.summary?.shell?.scenario, k1?.summary?.shell?.notRun, k1?.summary?.shell?.kernelLog?.verdict], ['sk-map-free-live-owners', ['task-map-free-live-owners'], 'clean']);
  t.type(k1?.summary?.shell?.durationMs, 'number');
  t.match(readFileSync(join(k1!.resultsDir!, 'shell-transcript.txt'), 'utf8'), /\nstill-here\r*\n/, "the transcript is in the first kernel's own results");
  t.same(k2?.summary?.scenarios.map((s) => `${s.name} ${s.verdict}`), ['sk-map-free-live-owners fail', 'task-map-free-live-owners fail']);
  t.equal(k2?.summary?.shell, undefined, 'the second kernel has no shell record');
  t.notOk(existsSync(join(k2!.resultsDir!, 'shell-transcript.txt')));
  t.equal(await qemuOn(port!), '', 'no QEMU is left');
  t.same(shellGuestDirs(term.pid), [], "the run's keys and image are removed");
});

t.test('vm-test --shell-on-fail --kernels: Ctrl-C after the shell, while the next kernel runs, stops the run and records both', async (t) => {
  const term = await start(t, ['vm-test', '--shell-on-fail', '--kernels', 'debian:6.12,debian:7.3', '--cpus', '1', '--memory', '1024', '--sizes', 'small', '--settle-deadline', '5', '--accel', 'tcg', '--scenario', 'sk-map-free-live-owners', '--inject-fault', 'leave-elem']);
  if (!term) return;
  await term.waitFor(/scenario sk-map-free-live-owners: FAIL: /);
  await term.waitFor(/root shell in the guest \(sshd on 127\.0\.0\.1:\d+\)/);
  await term.waitFor(/~ # /);
  t.match(await term.run('uname -r'), /\n6\.12[^\n]*\r*\n/, 'the shell is in 6.12, the first kernel');
  t.match(await term.run('bpftool map show | grep -c sk_storage'), /\n[1-9]\d*\r*\n/, "bpftool in 6.12's guest sees the map that lingered");
  term.term.write('\x1d');
  await term.waitFor(/=== kernel debian:7\.3 \(2 of 2\): no shell/);
  await term.waitFor(/guest up in /);
  const harness = term.pid;
  const guests = (await execa('pgrep', ['-P', String(harness), 'qemu-system'], { reject: false })).stdout.split('\n').filter(Boolean);
  t.equal(guests.length, 1, "the second kernel's QEMU runs");
  term.term.write('\x03');
  for (let i = 0; i < 300 && !term.exit; i++) await new Promise((r) => setTimeout(r, 200));
  t.same(term.exit?.exitCode, 130, 'Ctrl-C: exit 130');
  for (const pid of guests) t.notOk(existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')), `QEMU ${pid} is gone`);
  const dirs = readdirSync(join(projectRoot, 'results')).filter((n) => n.endsWith('-multi')).sort();
  const m = JSON.parse(readFileSync(join(projectRoot, 'results', dirs[dirs.length - 1]!, 'summary.json'), 'utf8')) as MultiRunSummary;
  t.equal(m.exitCode, 130);
  t.match(m.aborted, /interrupted by SIGINT/);
  t.same(m.runs.map((r) => [r.kernel, r.exitCode]), [['debian:6.12', 1], ['debian:7.3', 130]], 'the first kernel as it ended, the second interrupted');
  t.equal(m.runs[0]?.summary?.shell?.scenario, 'sk-map-free-live-owners');
  t.equal(m.runs[0]?.summary?.shell?.kernelLog?.verdict, 'clean');
});
