// The selftests' LLVM choice and the -mcpu wrapper, against the real clang-N of this machine
// (skipped where no versioned clang is installed: bookworm's clang-19 comes with
// BPF_HARNESS_SETUP_SELFTESTS=1 npm run setup).
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { which } from '../../harness/util/which.js';
import { projectRoot } from '../../harness/util/paths.js';
import { cachedLinuxSource } from '../../harness/kernel-build/linux-source.js';
import { checkSelftestsHostTools, chooseSelftestsLlvm, clangCommand } from '../../harness/selftests/toolchain.js';
import { tempDir } from '../helpers/temp-dir.js';

const tree = tempDir(t, 'llvm-tree');
const clang19 = which('clang-19') && which('llvm-strip-19') && which('ld.lld-19') && existsSync('/usr/lib/llvm-19/include/llvm-c/Core.h') ? false : 'clang-19, llvm-19, llvm-19-dev and lld-19 are not installed';

t.test('a tree with no minimum gets the newest versioned clang with its tools', { skip: clang19 }, async (t) => {
  const llvm = await chooseSelftestsLlvm(tree);
  t.match(llvm.clang, /^clang-\d+$/);
  t.ok(llvm.makeVars.includes(`LLVM_STRIP=llvm-strip-${llvm.clang.slice(6)}`));
  t.match(llvm.note, /^BPF selftests: clang-\d+ \d+\.\d+/);
});

// LLVM 20 and later default to a BPF cpu with signed division: no wrapper, nothing to test.
const newest = clang19 ? undefined : await chooseSelftestsLlvm(tree);
const wrapperSkip = clang19 || (newest && !newest.defaultCpu ? `${newest.clang} needs no wrapper (LLVM 20 or later)` : false);

t.test('the wrapper gives BPF compiles without -mcpu the newer ISA, and leaves host compiles alone', { skip: wrapperSkip }, async (t) => {
  const llvm = await chooseSelftestsLlvm(tree);
  const dir = tempDir(t, 'clangw');
  const wrapper = clangCommand(llvm, join(dir, 'clang'));
  // Signed division by a runtime value: BPF cpu v4 only (libarena's test_buddy does the like).
  const src = join(dir, 'sdiv.c');
  writeFileSync(src, 'int f(int a, int b) { return a / b; }\n');
  const compile = (cc: string, args: string[]): boolean => {
    try {
      execFileSync(cc, [...args, '-c', src, '-o', join(dir, 'o.o')], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  t.notOk(compile(llvm.clang, ['--target=bpfel', '-O2']), `${llvm.clang} alone refuses signed division (its default cpu is older)`);
  t.ok(compile(wrapper, ['--target=bpfel', '-O2']), 'the wrapper compiles it');
  t.ok(compile(wrapper, ['-target', 'bpf', '-O2']), 'the two-word -target form too');
  t.notOk(compile(wrapper, ['--target=bpfel', '-O2', '-mcpu=v3']), 'a later -mcpu wins (the test_progs flavors set their own)');
  t.ok(compile(wrapper, ['-O2']), 'a host compile gets no -mcpu (x86 would refuse it)');
});

t.test('no clang new enough: one line naming the packages; a clang without its llvm tools: names them', async (t) => {
  const saved = process.env.PATH;
  t.teardown(() => {
    process.env.PATH = saved;
  });
  // PATH is a directory holding only sh and what the test puts there: a clang-14 too old for a
  // tree whose minimum is 17.0.1 (what linux-source-7.3's scripts/min-tool-version.sh says).
  const bin = tempDir(t, 'path');
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const fake = (name: string, banner: string): void => writeFileSync(join(bin, name), `#!/bin/sh\necho '${banner}'\n`, { mode: 0o755 });
  const minTree = tempDir(t, 'mintree');
  mkdirSync(join(minTree, 'scripts'));
  writeFileSync(join(minTree, 'scripts', 'min-tool-version.sh'), 'case "$1" in llvm) echo 17.0.1 ;; esac\n');
  fake('clang-14', 'Debian clang version 14.0.6');
  process.env.PATH = bin;
  await t.rejects(chooseSelftestsLlvm(minTree), /need clang and LLVM 17\.0\.1 or newer \(clang-14 14\.0\.6 is older\): apt-get install clang-19 llvm-19 llvm-19-dev lld-19 /);
  fake('clang-24', 'Debian clang version 24.0.1');
  await t.rejects(chooseSelftestsLlvm(minTree), /^clang-24 is there but llc-24, llvm-config-24, llvm-objcopy-24, llvm-strip-24 are not: apt-get install llvm-24$/);
  for (const tool of ['llc', 'llvm-config', 'llvm-objcopy', 'llvm-strip']) fake(`${tool}-24`, 'x');
  // The uprobe tests' liburandom_read.so links with -fuse-ld=lld (seen: "clang-19: error: invalid
  // linker name in argument '-fuse-ld=lld'" from linux-source-7.3's selftests without lld-19).
  await t.rejects(chooseSelftestsLlvm(minTree), /^clang-24 is there but ld\.lld-24 is not .*: apt-get install lld-24$/);
  fake('ld.lld-24', 'x');
  // test_progs' JIT disassembly includes llvm-c/Core.h ("fatal error: llvm-c/Core.h: No such file or
  // directory" from linux-source-7.3 with llvm-19 but not llvm-19-dev).
  await t.rejects(chooseSelftestsLlvm(minTree), /^clang-24 is there but not LLVM 24's C headers .*: apt-get install llvm-24-dev$/);
  const include = tempDir(t, 'llvm-include');
  mkdirSync(join(include, 'llvm-c'));
  writeFileSync(join(include, 'llvm-c', 'Core.h'), '');
  fake('llvm-config-24', include);
  const llvm = await chooseSelftestsLlvm(minTree);
  t.equal(llvm.clang, 'clang-24', 'the newest that meets the minimum');
  t.equal(llvm.defaultCpu, undefined, 'LLVM 20 and later need no wrapper');
});

t.test("the Makefile's other host tools: one line naming what is missing", async (t) => {
  const saved = process.env.PATH;
  t.teardown(() => {
    process.env.PATH = saved;
  });
  const bin = tempDir(t, 'tools');
  process.env.PATH = bin;
  t.throws(() => checkSelftestsHostTools(), /^the BPF selftests' Makefile needs rsync and pkg-config: apt-get install rsync pkg-config$/);
  writeFileSync(join(bin, 'rsync'), '#!/bin/sh\n', { mode: 0o755 });
  t.throws(() => checkSelftestsHostTools(), /needs pkg-config: apt-get install pkg-config$/);
  writeFileSync(join(bin, 'pkg-config'), '#!/bin/sh\n', { mode: 0o755 });
  t.doesNotThrow(() => checkSelftestsHostTools());
});

// The real tree (linux-source-7.3, unpacked by the kconfig test) and a PATH without the selftests'
// tools: refused at once, before the kernel's build (most of an hour here) begins.
const realTree = cachedLinuxSource('7.3');
t.test('selftests on a machine without their tools: refused before the kernel is built', { skip: realTree ? false : 'linux-source-7.3 is not unpacked in the cache' }, async (t) => {
  const bin = tempDir(t, 'nobin');
  const r = spawnSync(process.execPath, [join(projectRoot, 'dist', 'harness', 'cli.js'), 'selftests', '--kernel', realTree!], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: bin } });
  t.equal(r.status, 2);
  t.match(r.stderr, /^bpf-harness: the BPF selftests' Makefile needs rsync and pkg-config: apt-get install rsync pkg-config\n$/);
  t.notMatch(r.stdout + r.stderr, /kernel build/, 'no kernel build started');
});
