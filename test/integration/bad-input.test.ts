// Bad input gets one clear line naming the fix and exit 2, before any VM boots.
import t, { type Test } from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveAndBuildKernel } from '../../harness/kernel-build/tree-kernel.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

function oneErrorLine(t: Test, stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, `exactly one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], pattern);
}

t.test('a file that is not a bzImage', async (t) => {
  const dir = tempDir(t, 'bad');
  const notKernel = join(dir, 'vmlinuz');
  writeFileSync(notKernel, 'this is not a kernel\n'.repeat(100));
  writeFileSync(join(dir, '.config'), 'CONFIG_BPF_SYSCALL=y\n');
  const r = runCli(['vm-test', '--kernel', notKernel]);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /not an x86 bzImage/);
});

t.test('a kernel without a needed CONFIG_ option', async (t) => {
  // A real bzImage (Debian 6.12, cached by the integration tests' download) with its real
  // config, minus two options the scenarios need.
  const real = await resolveAndBuildKernel('debian:6.12', { log: () => undefined });
  const dir = tempDir(t, 'cfg');
  copyFileSync(real.bzImage, join(dir, 'bzImage'));
  const config = readFileSync(real.configPath, 'utf8').replace(/^CONFIG_BPF_SYSCALL=y$/m, '# CONFIG_BPF_SYSCALL is not set').replace(/^CONFIG_MEMCG=y$/m, '# CONFIG_MEMCG is not set');
  writeFileSync(join(dir, '.config'), config);
  const r = runCli(['vm-test', '--kernel', join(dir, 'bzImage')]);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /CONFIG_BPF_SYSCALL.*CONFIG_MEMCG|CONFIG_MEMCG.*CONFIG_BPF_SYSCALL/);
});

t.test('an unknown scenario', async (t) => {
  const r = runCli(['vm-test', '--scenario', 'no-such-scenario']);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /unknown scenario no-such-scenario: choose from sk-map-free-live-owners/);
});

t.test('an unknown Debian series', async (t) => {
  const r = runCli(['vm-test', '--kernel', 'debian:1.0']);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /debian:1\.0/);
});

t.test('selftests need a kernel source tree', async (t) => {
  const packaged = runCli(['selftests', '--kernel', 'debian:7.3']);
  t.equal(packaged.status, 2);
  oneErrorLine(t, packaged.stderr, /debian:7\.3 is a packaged kernel and the BPF selftests are built from the kernel source tree.*give --kernel <kernel source tree>/);
  const withScenarios = runCli(['vm-test', '--with-selftests']);
  t.equal(withScenarios.status, 2, 'vm-test --with-selftests on the default (packaged) kernel');
  oneErrorLine(t, withScenarios.stderr, /packaged kernel/);
  const dir = tempDir(t, 'notree');
  const notTree = runCli(['selftests', '--kernel', dir]);
  t.equal(notTree.status, 2);
  oneErrorLine(t, notTree.stderr, /not a kernel build tree/);
});

// Every numeric option of every command: refused before anything is resolved, downloaded or
// booted (the kernels named do not exist, so reaching them would be a different error).
const NUMERIC: Array<{ command: string[]; flag: string; bad: string[]; range: RegExp }> = [
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--seed', bad: ['abc', '-1', '1.5', '0x10', '4294967296'], range: /from 0 to 4294967295/ },
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--cpus', bad: ['0', '65', 'two'], range: /from 1 to 64 \(guest CPUs\)/ },
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--memory', bad: ['10', '1e3'], range: /from 512 to \d+ \(MiB\)/ },
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--boot-deadline', bad: ['0', '-5'], range: /from 1 to 86400 \(seconds\)/ },
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--settle-deadline', bad: ['-1', '0'], range: /from 1 to 3600 \(seconds\)/ },
  { command: ['vm-test', '--kernel', '/no/such/kernel'], flag: '--selftests-deadline', bad: ['0'], range: /from 1 to 1440 \(minutes\)/ },
  { command: ['vm-test', '--kernels', '/no/a,/no/b'], flag: '--cpus', bad: ['0'], range: /from 1 to 64/ },
  { command: ['selftests', '--kernel', '/no/such/tree'], flag: '--deadline', bad: ['0', 'x'], range: /from 1 to 1440 \(minutes\)/ },
  { command: ['selftests', '--kernel', '/no/such/tree'], flag: '--cpus', bad: ['0'], range: /from 1 to 64/ },
  { command: ['selftests', '--kernel', '/no/such/tree'], flag: '--memory', bad: ['100'], range: /from 512/ },
  { command: ['selftests', '--kernel', '/no/such/tree'], flag: '--boot-deadline', bad: ['0'], range: /from 1 to 86400/ },
  { command: ['kernel', 'build', '--tree', '/no/such/tree'], flag: '--jobs', bad: ['0', '2.5'], range: /from 1 to 1024 \(make jobs\)/ },
  { command: ['kernel', 'build', '--tree', '/no/such/tree'], flag: '--deadline', bad: ['0'], range: /from 1 to 10080 \(minutes\)/ },
  ...['--retries', '--seed', '--boot-deadline', '--settle-deadline', '--build-deadline', '--deadline'].map((flag) => ({
    command: ['bisect', '--tree', '/no/such/tree', '--good', 'a', '--bad', 'b'], flag, bad: ['-2', 'x'], range: /give a whole number from \d+ to \d+/,
  })),
];

t.test('every numeric option refuses a bad value: exit 2, one line naming the range', async (t) => {
  for (const n of NUMERIC) {
    for (const value of n.bad) {
      const r = runCli([...n.command, n.flag, value]);
      t.equal(r.status, 2, `${n.command[0]} ${n.flag} ${value}: exit 2`);
      oneErrorLine(t, r.stderr, new RegExp(`^bpf-harness: ${n.flag} ${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*${n.range.source}`));
    }
  }
});

t.test('an option given twice or without its value', async (t) => {
  const twice = runCli(['vm-test', '--kernel', '/no/such/kernel', '--cpus', '2', '--cpus', '3']);
  t.equal(twice.status, 2);
  oneErrorLine(t, twice.stderr, /--cpus was given 2 times: give it once, a whole number from 1 to 64/);
  const bare = runCli(['vm-test', '--kernel', '/no/such/kernel', '--seed']);
  t.equal(bare.status, 2);
  oneErrorLine(t, bare.stderr, /seed/);
});

t.test('--set values out of what the agent takes', async (t) => {
  for (const [set, range] of [['threads=65', /from 1 to 64 \(racing threads\)/], ['rounds=0', /from 1 to 1000000 \(race rounds\)/], ['maps=17', /from 1 to 16/]] as const) {
    const r = runCli(['vm-test', '--kernel', '/no/such/kernel', '--set', set]);
    t.equal(r.status, 2, `--set ${set}`);
    oneErrorLine(t, r.stderr, range);
  }
  // In the agent's range, beyond what one scenario's steering holds: refused, naming it.
  const cgrp = runCli(['vm-test', '--kernel', '/no/such/kernel', '--set', 'owners=5000']);
  t.equal(cgrp.status, 2);
  oneErrorLine(t, cgrp.stderr, /--set owners=5000: cgrp-map-free-vs-rmdir-race takes at most 4096 owners; ask for fewer, or leave cgrp-map-free-vs-rmdir-race out with --scenario/);
  const other = runCli(['vm-test', '--kernel', '/no/such/kernel', '--set', 'owners=5000', '--scenario', 'cgrp-map-free-live-owners']);
  t.notMatch(other.stderr, /takes at most/, 'a scenario without that bound takes it');
});

t.test('SSH targets: a bad URL, and what never runs on a target, refused before connecting', async (t) => {
  const url = runCli(['vm-test', '--target', 'ssh://box.lab']);
  t.equal(url.status, 2);
  oneErrorLine(t, url.stderr, /--target ssh:\/\/box\.lab: give ssh:\/\/user@host or ssh:\/\/user@host:port/);
  // Port 1 on 127.0.0.1: nothing is contacted before these refusals (a connection would fail otherwise).
  const selftests = runCli(['vm-test', '--target', 'ssh://root@127.0.0.1:1', '--with-selftests']);
  t.equal(selftests.status, 2);
  oneErrorLine(t, selftests.stderr, /--with-selftests needs a kernel tree .* does not run on --target ssh:\/\/root@127\.0\.0\.1:1/);
  const panic = runCli(['vm-test', '--target', 'ssh://root@127.0.0.1:1', '--inject-fault', 'panic-after-run']);
  t.equal(panic.status, 2);
  oneErrorLine(t, panic.stderr, /--inject-fault panic-after-run .* never on --target/);
  const closed = runCli(['vm-test', '--target', 'ssh://root@127.0.0.1:1', '--known-hosts', '/dev/null', '--identity', '/dev/null']);
  t.equal(closed.status, 2);
  oneErrorLine(t, closed.stderr, /--identity \/dev\/null is not a private key the harness can read .*give the private key file, not the \.pub/);
  // Targets run at once and a machine takes one run at a time: the same URL twice cannot run.
  const twice = runCli(['vm-test', '--target', 'ssh://root@127.0.0.1:1', '--target', 'ssh://root@127.0.0.1:1']);
  t.equal(twice.status, 2);
  oneErrorLine(t, twice.stderr, /--target ssh:\/\/root@127\.0\.0\.1:1 is given twice: targets run at once and a machine takes one run at a time/);
});

t.test('--require-race on one CPU: refused, the races cannot reach the path there', async (t) => {
  const r = runCli(['vm-test', '--kernel', '/no/such/kernel', '--require-race', '--cpus', '1']);
  t.equal(r.status, 2);
  oneErrorLine(t, r.stderr, /--require-race needs --cpus 2 or more/);
});

t.test('--shell-on-fail with --json or a --target: one line, exit 2, before any kernel runs', async (t) => {
  const json = runCli(['vm-test', '--shell-on-fail', '--json', '--kernel', '/no/such/kernel']);
  t.equal(json.status, 2);
  oneErrorLine(t, json.stderr, /^bpf-harness: --shell-on-fail cannot go with --json \(the shell would write into the JSON on stdout\): leave it out/);
  // A local kernel first: refused before it boots, not when the target's turn comes.
  const target = runCli(['vm-test', '--shell-on-fail', '--kernel', '/no/such/kernel', '--target', 'ssh://root@127.0.0.1:1']);
  t.equal(target.status, 2);
  oneErrorLine(t, target.stderr, /--shell-on-fail cannot go with --target ssh:\/\/root@127\.0\.0\.1:1 \(a machine the harness does not boot; use bpf-harness shell --target there\)/);
  const both = runCli(['vm-test', '--shell-on-fail', '--json', '--target', 'ssh://root@127.0.0.1:1']);
  t.equal(both.status, 2);
  oneErrorLine(t, both.stderr, /cannot go with --json .* or --target .*: leave them out/);
  t.equal(json.stdout + target.stdout + both.stdout, '', 'nothing on stdout');
  // Several kernels without a terminal: one refusal for the command, not one per kernel as each runs.
  const two = runCli(['vm-test', '--shell-on-fail', '--kernel', '/no/such/kernel', '--kernel', '/no/other/kernel']);
  t.equal(two.status, 2);
  oneErrorLine(t, two.stderr, /^bpf-harness: --shell-on-fail needs a terminal on stdin and stdout/);
});

t.test('--inject-fault kernel-warn under vng: one line, exit 2, before the boot (its module rides in our image, which vng does not boot)', async (t) => {
  const r = runCli(['vm-test', '--backend', 'vng', '--kernel', 'debian:7.3', '--inject-fault', 'kernel-warn', '--scenario', 'sk-map-free-live-owners']);
  t.equal(r.status, 2);
  if (/virtme-ng|vng \(virtme-ng\) is not installed|node-pty/.test(r.stderr)) return void t.comment(`vng cannot run here, which is refused first: ${r.stderr.trim()}`);
  oneErrorLine(t, r.stderr, /--inject-fault kernel-warn puts its test module into the harness's own guest image, which vng does not boot: use --backend qemu/);
  t.notMatch(r.stdout, /booting|test module:/, 'nothing was built or booted');
});
