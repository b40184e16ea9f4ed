// Bad input gets one clear line naming the fix and exit 2, before any VM boots.
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveKernel } from '../../harness/kernel/resolve.js';
import { runCli } from '../helpers/cli.js';

function oneErrorLine(t: Test, stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  t.equal(lines.length, 1, `exactly one line on stderr: ${JSON.stringify(stderr)}`);
  t.match(lines[0], pattern);
}

t.test('a file that is not a bzImage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfh-bad-'));
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
  const real = await resolveKernel('debian:6.12', { log: () => undefined });
  const dir = mkdtempSync(join(tmpdir(), 'bpfh-cfg-'));
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
  const dir = mkdtempSync(join(tmpdir(), 'bpfh-notree-'));
  const notTree = runCli(['selftests', '--kernel', dir]);
  t.equal(notTree.status, 2);
  oneErrorLine(t, notTree.stderr, /not a kernel build tree/);
});
