// The BPF selftests on --build-host, against real OpenSSH sshds the test starts on 127.0.0.1
// (test/helpers/local-sshd.ts): the refusals of a host without the selftests' tools (its PATH
// lacking one), and a real remote part of the selftests' build that fits in about a minute:
// the tools/ of the cached linux-source-7.3 synced, a small kernel build directory sent the way
// a built one is, the tree's own selftests Makefile making liburandom_read.so and urandom_read
// there with the host's clang-19 and lld, and the output directory fetched back. The full
// build (test_progs, minutes) is measured by hand: README.md, "On a build host".
// The hosts' pahole is the harness's trixie build root's (this machine has none of its own).
import t from 'tap';
import { threeCommitKernelRepo } from '../helpers/git.js';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { BuildHost, BuildHostError, type BuildHostChoice } from '../../harness/build-host/build-host.js';
import { sameBuild, type BuildKeyInputs } from '../../harness/kernel-build/build-key.js';
import type { BuiltKernel } from '../../harness/kernel-build/kernel-build.js';
import { runMake } from '../../harness/kernel-build/make.js';
import { HOST_KERNEL_KEY } from '../../harness/kernel-build/on-host.js';
import { fetchSelftests, prepareSelftestsHost, selftestsMakeVars, selftestsOutDir } from '../../harness/selftests/build.js';
import { checkSelftestsBuildHost, ensureHostKernel, hostSelftestsLlvm, kernelDirForHost } from '../../harness/selftests/on-host.js';
import { chooseSelftestsLlvm, parseSelftestsProbe, SELFTESTS_PROBE_COMMAND, selftestsLlvmFrom } from '../../harness/selftests/toolchain.js';
import { cacheDir } from '../../harness/util/paths.js';
import { which } from '../../harness/util/which.js';
import { pathWithout, startSshd, type LocalSshd } from '../helpers/local-sshd.js';
import { spawnCli, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const realCache = cacheDir();
const work = tempDir(t, 'sthost');
process.env.BPF_HARNESS_CACHE = join(work, 'cache');
const sources = join(realCache, 'src');
const linuxSource = existsSync(sources) ? readdirSync(sources).filter((d) => d.startsWith('linux-source-7.3')).map((d) => join(sources, d)).find((d) => existsSync(join(d, 'tools', 'testing', 'selftests', 'bpf', 'Makefile'))) : undefined;
const buildRoot = join(realCache, 'buildroot', 'trixie');
const havePahole = existsSync(join(buildRoot, 'usr', 'bin', 'pahole'));
const haveLlvm = ['clang-19', 'llvm-strip-19', 'ld.lld-19', 'rsync', 'pkg-config'].every((c) => which(c)) && existsSync('/usr/lib/llvm-19/include/llvm-c/Core.h');
const needs = !havePahole ? 'needs the trixie build root (the hosts\' pahole)' : !haveLlvm ? 'needs clang-19, llvm-19-dev, lld-19, rsync and pkg-config' : false;
const needsTree = needs || (linuxSource ? false : 'needs the cached linux-source-7.3');

const log = (): void => undefined;

/** A pahole on the hosts' PATH: the build root's, run in its chroot (only --version is asked of it here). */
function paholeBin(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pahole'), `#!/bin/sh\nexec /usr/sbin/chroot '${buildRoot}' /usr/bin/pahole "$@"\n`, { mode: 0o755 });
  return dir;
}

/** An sshd whose sessions' PATH lacks `without` (and has the pahole), its HOME a directory of the test's. */
async function hostWithout(name: string, without: string[], extra: (bin: string) => void = () => undefined): Promise<{ sshd: LocalSshd; choice: BuildHostChoice; home: string }> {
  const bin = pathWithout(join(work, `bin-${name}`), without);
  extra(bin);
  const home = join(work, `home-${name}`);
  mkdirSync(home, { recursive: true });
  const sshd = await startSshd(join(work, `sshd-${name}`), { HOME: home, PATH: `${paholeBin(join(work, `pahole-${name}`))}:${bin}` });
  t.teardown(() => sshd.stop());
  return { sshd, choice: { url: sshd.url, identity: sshd.keys.userKey, knownHosts: sshd.knownHosts }, home };
}

/** A tree whose only LLVM minimum is linux-source-7.3's (scripts/min-tool-version.sh says 17.0.1). */
function minTree(): string {
  const dir = join(work, 'min-tree');
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'scripts', 'min-tool-version.sh'), 'case "$1" in llvm) echo 17.0.1 ;; gcc) echo 8.1.0 ;; esac\n');
  return dir;
}

/** A kernel build's record, for the parts of the selftests' build that read only its directory and key. */
function kernelAt(tree: string, outDir: string, key: string): BuiltKernel {
  return { tree, source: tree, outDir, key, bzImage: join(outDir, 'arch/x86/boot/bzImage'), configPath: join(outDir, '.config'), reused: true, elapsedMs: 0, logPath: join(outDir, 'build.log'), toolchain: { compiler: 'gcc', pahole: 'host 1.30', note: '' } };
}

/** What the host's HOME holds but the probe's own directory: nothing may have been sent. */
function sentTo(home: string): string[] {
  const r = join(home, '.cache', 'bpf-storage-harness', 'build-host');
  return existsSync(r) ? readdirSync(r) : [];
}

t.test('the probe run here finds the LLVM the local check picks', { skip: needs }, async (t) => {
  const tree = minTree();
  const here = await chooseSelftestsLlvm(tree);
  const probed = parseSelftestsProbe((await execa('sh', ['-c', SELFTESTS_PROBE_COMMAND])).stdout);
  t.same(probed.missingTools, [], 'rsync and pkg-config are here');
  t.same(selftestsLlvmFrom(probed, '17.0.1'), here, 'the same clang, version and make variables: the same build key');
});

t.test('a build host without the selftests\' tools: refused in one line naming the packages, before anything is sent', { skip: needs }, async (t) => {
  const tree = minTree();
  const cases: Array<{ name: string; without: string[]; extra?: (bin: string) => void; says: RegExp }> = [
    { name: 'noclang', without: ['clang-19'], says: /need clang and LLVM 17\.0\.1 or newer[^:]*: apt-get install clang-19 llvm-19 llvm-19-dev lld-19 there \(bookworm has 19\)$/ },
    { name: 'nolld', without: ['ld.lld-19'], says: /clang-19 is there but ld\.lld-19 is not .*: apt-get install lld-19 there$/ },
    { name: 'nollc', without: ['llc-19'], says: /clang-19 is there but llc-19 is not: apt-get install llvm-19 there$/ },
    { name: 'norsync', without: ['rsync'], says: /the BPF selftests' Makefile needs rsync: apt-get install rsync there$/ },
    {
      name: 'noheaders',
      without: ['llvm-config-19'],
      // llvm-19 without llvm-19-dev: an llvm-config whose include directory has no llvm-c/Core.h.
      extra: (bin) => {
        const inc = join(work, 'empty-include');
        mkdirSync(inc, { recursive: true });
        writeFileSync(join(bin, 'llvm-config-19'), `#!/bin/sh\necho ${inc}\n`);
        chmodSync(join(bin, 'llvm-config-19'), 0o755);
      },
      says: /clang-19 is there but not LLVM 19's C headers .*: apt-get install llvm-19-dev there$/,
    },
  ];
  for (const c of cases) {
    const h = await hostWithout(c.name, c.without, c.extra);
    const err = await checkSelftestsBuildHost(h.choice, tree, log).then(() => undefined, (e: unknown) => e);
    t.type(err, BuildHostError, `${c.name}: the host failing (a bisect stops)`);
    const msg = err instanceof Error ? err.message : '';
    t.match(msg, new RegExp(`^${h.sshd.url.replace(/[/.]/g, '\\$&')}: the build host cannot build the BPF selftests: `), `${c.name}: names the host`);
    t.match(msg, c.says, `${c.name}: names what to install there`);
    t.notMatch(msg, /\n/, 'one line');
    t.same(sentTo(h.home), [], 'nothing sent');
  }
});

/** The CLI as a user runs it, with a HOME of its own (no agent, no ~/.ssh). */
function cliRun(args: string[]): Promise<CliRun> {
  return spawnCli(args, { env: { ...process.env, HOME: join(work, 'user'), SSH_AUTH_SOCK: '' }, deadlineMs: 120_000, deadlineSignal: 'SIGKILL' });
}

t.test('selftests --build-host and bisect --selftest --build-host on a host without clang-19: exit 2, one line, before the kernel build and before git bisect', { skip: needsTree }, async (t) => {
  const h = await hostWithout('cli', ['clang-19']);
  const hostArgs = ['--build-host', h.sshd.url, '--identity', h.sshd.keys.userKey, '--known-hosts', h.sshd.knownHosts];
  const r = await cliRun(['selftests', '--kernel', linuxSource!, ...hostArgs]);
  t.equal(r.status, 2);
  t.match(r.stderr, /^bpf-harness: ssh:\/\/root@127\.0\.0\.1:\d+: the build host cannot build the BPF selftests: [^\n]*apt-get install clang-19 llvm-19 llvm-19-dev lld-19 there[^\n]*\n$/);
  t.notMatch(r.stdout, /kernel build:|selftests build:/, 'no build started');
  t.same(sentTo(h.home), [], 'nothing sent');

  const repo = threeCommitKernelRepo(join(work, 'kernel-git'));
  const b = await cliRun(['bisect', '--tree', repo, '--good', 'HEAD~2', '--bad', 'HEAD', '--selftest', 'task_local_storage', ...hostArgs]);
  t.equal(b.status, 2);
  t.match(b.stderr, /^bpf-harness: ssh:\/\/root@127\.0\.0\.1:\d+: the build host cannot build the BPF selftests: [^\n]*clang-19[^\n]* there[^\n]*\n$/);
  t.equal((await execa('git', ['-C', repo, 'worktree', 'list'])).stdout.split('\n').length, 1, 'no bisect worktree was made');
});

t.test('what of a kernel build goes to a host that lacks it, and when it goes again', { skip: needs }, async (t) => {
  const h = await hostWithout('seed', []);
  const out = join(work, 'kernel-out');
  const files: Record<string, string> = {
    '.config': 'CONFIG_BPF=y\n', 'Module.symvers': '0x0\tsym\tvmlinux\tEXPORT_SYMBOL\t\n', vmlinux: 'ELF',
    'include/generated/autoconf.h': '#define CONFIG_BPF 1\n', 'scripts/mod/modpost': 'x', 'tools/objtool/objtool': 'x',
    'kernel/bpf/core.o': 'obj', 'kernel/bpf/.core.o.cmd': 'cmd', 'vmlinux.a': 'a', '.tmp_vmlinux1': 'big', 'arch/x86/boot/bzImage': 'img',
    'bpfh-selftests/test_progs': 'old', 'bpfh-build.json': '{}', 'build.log': 'log', Makefile: 'include /local/tree/Makefile\n',
  };
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(out, f, '..'), { recursive: true });
    writeFileSync(join(out, f), text);
  }
  symlinkSync('/local/tree', join(out, 'source'));
  const kernel = kernelAt(join(work, 'tree-of-kernel'), out, 'k1');
  const host = await BuildHost.open(h.choice, log);
  t.teardown(() => host.close());
  t.equal(await ensureHostKernel(host, kernel, 60_000, log), 'sent');
  const remote = host.toRemote(out);
  const there = (await execa('find', [remote, '-type', 'f'])).stdout.split('\n').map((l) => l.slice(remote.length + 1)).sort();
  t.same(there, [HOST_KERNEL_KEY, '.config', 'Module.symvers', 'include/generated/autoconf.h', 'scripts/mod/modpost', 'tools/objtool/objtool', 'vmlinux'].sort(), 'the config, headers, scripts, symbols and vmlinux; no objects, intermediates, boot images, selftests, stamps or local paths');
  t.equal(readFileSync(join(remote, HOST_KERNEL_KEY), 'utf8'), 'k1\n', "the kernel's key is written beside");
  t.equal(await ensureHostKernel(host, kernel, 60_000, log), 'there', 'the same key: nothing goes');
  writeFileSync(join(out, 'include', 'generated', 'autoconf.h'), '#define CONFIG_BPF 1\n#define CONFIG_X 1\n');
  t.equal(await ensureHostKernel(host, { ...kernel, key: 'k2' }, 60_000, log), 'sent');
  t.match(readFileSync(join(remote, 'include', 'generated', 'autoconf.h'), 'utf8'), /CONFIG_X/, 'a new build: what changed goes');
  t.equal(readFileSync(join(remote, HOST_KERNEL_KEY), 'utf8'), 'k2\n');
  t.ok(kernelDirForHost('include', true) && !kernelDirForHost('bpfh-selftests', true) && !kernelDirForHost('arch/x86/boot', true), 'directories: only the selftests and boot images are left out');
});

t.test("pahole's place is not the build: a kernel built with the build root's pahole serves a host's of the same version", async (t) => {
  const inputs: BuildKeyInputs = { tree: { kind: 'plain', dirtyHash: 'h', dirty: false }, patches: [], fragments: [], startConfig: 'defconfig+kvm_guest.config', compiler: 'gcc 12.2.0', pahole: 'trixie build root 1.30', target: 'all' };
  t.ok(sameBuild(inputs, { ...inputs, pahole: 'host 1.30' }));
  t.notOk(sameBuild(inputs, { ...inputs, pahole: 'host 1.29' }), 'another version is another build');
  t.notOk(sameBuild(inputs, { ...inputs, pahole: 'host 1.30', compiler: 'gcc 14.2.0' }), 'and so is another compiler');
  t.notOk(sameBuild(undefined, inputs));
});

t.test('a real remote part of the selftests build: their Makefile makes liburandom_read.so and urandom_read on the host with its clang-19 and lld, and the output comes back', { skip: needsTree }, async (t) => {
  const h = await hostWithout('make', []);
  // The tree: tools/ of linux-source-7.3 (hard links: nothing is written through them here) and the LLVM minimum.
  const tree = join(work, 'linux');
  mkdirSync(join(tree, 'scripts'), { recursive: true });
  await execa('sh', ['-c', `cd '${linuxSource}' && find tools \\( -type f -o -type l \\) -print0 | cpio -0pdl --quiet '${tree}'`], { timeout: 120_000 });
  writeFileSync(join(tree, 'scripts', 'min-tool-version.sh'), readFileSync(join(linuxSource!, 'scripts', 'min-tool-version.sh')));
  const out = join(work, 'selftests-kernel');
  mkdirSync(out, { recursive: true });
  for (const f of ['.config', 'Module.symvers', 'vmlinux']) writeFileSync(join(out, f), '');
  const kernel = kernelAt(tree, out, 'k');

  const host = await BuildHost.open(h.choice, log);
  t.teardown(() => host.close());
  const llvm = await hostSelftestsLlvm(host, tree);
  t.equal(llvm.clang, 'clang-19');
  const vars = selftestsMakeVars(kernel, llvm, true);
  t.notOk(vars.some((v) => v.startsWith('PAHOLE=')), "the host's own pahole");
  const t0 = Date.now();
  await prepareSelftestsHost(host, { tree, kernel }, 120_000, log);
  t.comment(`tools/ and the kernel directory sent in ${Date.now() - t0} ms`);
  const dir = selftestsOutDir(out);
  const logPath = join(work, 'make.log');
  writeFileSync(logPath, '');
  const targets = ['liburandom_read.so', 'urandom_read'].map((f) => join(dir, f));
  await runMake(join(tree, 'tools', 'testing', 'selftests', 'bpf'), [...vars, ...targets], { logPath, deadlineMs: 240_000, log, jobs: host.facts.nproc, quiet: true, host });
  t.match(readFileSync(logPath, 'utf8'), /BINARY\s+urandom_read/, "make's lines come into the local log");
  t.notOk(existsSync(join(dir, 'urandom_read')), 'built there, not here');
  t.same(await fetchSelftests(host, out, 60_000, log), { files: ['bpfh-selftests'], whole: true }, 'the output directory comes back whole the first time');
  for (const f of ['liburandom_read.so', 'urandom_read']) {
    const comment = (await execa('readelf', ['-p', '.comment', join(dir, f)])).stdout;
    t.match(comment, /Linker: (Debian )?LLD 19/, `${f}: linked by the host's lld-19`);
  }
  if (llvm.defaultCpu) t.ok((lstatSync(join(dir, 'bpfh-clang')).mode & 0o111) !== 0, 'the clang wrapper (CLANG=) came back executable, as make ran it there');

  // A step that changes one source: a new file in its place (the tree's files are hard links to the cached tree's).
  const changed = join(tree, 'tools', 'testing', 'selftests', 'bpf', 'urandom_read.c');
  const text = readFileSync(changed, 'utf8');
  unlinkSync(changed);
  writeFileSync(changed, `${text}\n/* a bisect step */\n`);
  const libBefore = statSync(join(dir, 'liburandom_read.so')).mtimeMs;
  await prepareSelftestsHost(host, { tree, kernel }, 120_000, log);
  await runMake(join(tree, 'tools', 'testing', 'selftests', 'bpf'), [...vars, ...targets], { logPath, deadlineMs: 240_000, log, jobs: host.facts.nproc, quiet: true, host });
  const step = await fetchSelftests(host, out, 60_000, log);
  t.comment(`fetched again: ${step.files.join(' ')}`);
  t.notOk(step.whole);
  t.ok(step.files.includes('bpfh-selftests/urandom_read'), 'then what make changed there comes: urandom_read');
  t.notOk(step.files.includes('bpfh-selftests/liburandom_read.so'), 'and not what it left alone');
  t.equal(statSync(join(dir, 'liburandom_read.so')).mtimeMs, libBefore, 'liburandom_read.so, unchanged there, was not fetched again');
  rmSync(join(out, 'bpfh-selftests.fetched'));
  t.same(await fetchSelftests(host, out, 60_000, log), { files: ['bpfh-selftests'], whole: true }, 'a local directory that is not the last fetched one gets the whole directory again');
});
