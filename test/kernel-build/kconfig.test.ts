/**
 * Fragments and the dropped-option check against a real kernel tree: Debian's
 * linux-source-7.3, fetched and unpacked once into the cache (about 16 s) when absent.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { configureTree } from '../../harness/kernel-build/configure.js';
import { droppedOptions, explainDropped, findKconfigSymbol, fragmentPaths, parseFragment, selftestsFragmentPaths, symbolsIn } from '../../harness/kernel-build/kconfig.js';
import { ensureLinuxSource } from '../../harness/kernel-build/linux-source.js';
import { minimumFromChanges } from '../../harness/kernel-build/toolchain.js';
import { SetupError } from '../../harness/util/errors.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('fragments parse, and every option has a comment above it', async (t) => {
  const [base, debug] = fragmentPaths(true).map((p) => readFileSync(p, 'utf8'));
  const b = parseFragment(base!);
  const d = parseFragment(debug!);
  t.equal(b.get('CONFIG_BPF_SYSCALL'), 'y');
  t.equal(b.get('CONFIG_VIRTIO_CONSOLE'), 'y');
  t.equal(d.get('CONFIG_KASAN'), 'y');
  t.equal(d.get('CONFIG_DEBUG_KMEMLEAK_DEFAULT_OFF'), 'n', '"is not set" is a request for n');
  t.equal(d.get('CONFIG_MEM_ALLOC_PROFILING'), 'y');
  t.equal(fragmentPaths(false).length, 1);
  for (const text of [base!, debug!]) {
    const lines = text.split('\n');
    lines.forEach((l, i) => {
      if (/^CONFIG_/.test(l) || /^# CONFIG_\w+ is not set/.test(l)) {
        // The option's comment: a comment line somewhere in the block of lines above it.
        let j = i - 1;
        while (j >= 0 && (/^CONFIG_/.test(lines[j]!) || /^# CONFIG_\w+ is not set/.test(lines[j]!))) j--;
        t.ok(j >= 0 && lines[j]!.startsWith('#') && !/^# CONFIG_/.test(lines[j]!), `${l} is explained`);
      }
    });
  }
});

t.test('droppedOptions compares values, and n means absent or n', async (t) => {
  const frag = [{ name: 'f', options: parseFragment('CONFIG_A=y\nCONFIG_B=60\n# CONFIG_C is not set\nCONFIG_D=y\n') }];
  const cfg = parseFragment('CONFIG_A=y\nCONFIG_B=21\nCONFIG_C=y\n');
  t.same(
    droppedOptions(frag, cfg).map((d) => `${d.option}:${d.got}`),
    ['CONFIG_B:21', 'CONFIG_C:y', 'CONFIG_D:absent'],
  );
  t.same(symbolsIn('PAHOLE_VERSION >= 122 && !HEXAGON || (FOO && "x")'), ['PAHOLE_VERSION', 'HEXAGON', 'FOO']);
});

// Fetched (about 16 s) or found in the cache before the tests run; a clean skip when offline.
const t0 = Date.now();
const source = await ensureLinuxSource('7.3', { log: (l) => t.comment(l) }).then(
  (src) => {
    t.comment(`linux-source-7.3 ${src.version} ${src.cached ? 'cached' : `fetched and unpacked in ${((Date.now() - t0) / 1000).toFixed(1)} s`}: ${src.tree}`);
    return src.tree;
  },
  (e: unknown) => ({ skip: `linux-source-7.3 is not available (${(e as Error).message})` }),
);

t.test('against the real linux-source-7.3 Kconfig', { skip: typeof source === 'string' ? false : source.skip }, async (t) => {
  const tree = source as string;
  t.equal(minimumFromChanges(tree, 'pahole'), '1.26', 'changes.rst states the minimum pahole');

  const btf = findKconfigSymbol(tree, 'CONFIG_DEBUG_INFO_BTF');
  t.equal(btf.length, 1);
  t.equal(btf[0]!.file, 'lib/Kconfig.debug');
  t.ok(btf[0]!.dependsOn.some((d) => /PAHOLE_VERSION >= 122/.test(d)), 'reads the depends on line');
  t.ok(btf[0]!.hasPrompt);
  t.same(findKconfigSymbol(tree, 'CONFIG_NO_SUCH_OPTION_EVER'), []);

  // A real merge with pahole "missing" (PAHOLE=false: PAHOLE_VERSION=0): DEBUG_INFO_BTF is
  // dropped and the error names the dependency; every other option of both fragments survives.
  const out = tempDir(t, 'kconfig');
  const fragments = fragmentPaths(true).map((p) => ({ path: p, name: basename(p), options: parseFragment(readFileSync(p, 'utf8')), strict: true }));
  const logPath = join(out, 'build.log');
  writeFileSync(logPath, '');
  const t1 = Date.now();
  const err = await configureTree({ source: tree, makeVars: [`O=${out}`, 'PAHOLE=false'], configPath: join(out, '.config'), outDir: out, fragments, logPath, log: () => undefined }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.comment(`merge + olddefconfig took ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  t.ok(err instanceof SetupError, 'a dropped option is a setup error');
  const msg = (err as Error).message;
  t.match(msg, /^1 option of the fragments did not survive olddefconfig/);
  t.match(msg, /CONFIG_DEBUG_INFO_BTF=y \(from base\.config\) became unset: lib\/Kconfig\.debug:\d+: .*depends on PAHOLE_VERSION >= 122 \(PAHOLE_VERSION=0\)/);
  const merged = parseFragment(readFileSync(join(out, '.config'), 'utf8'));
  t.equal(merged.get('CONFIG_KASAN'), 'y');
  t.equal(merged.get('CONFIG_DEBUG_KMEMLEAK'), 'y');
  t.equal(merged.get('CONFIG_PROVE_RCU'), 'y');
  t.equal(merged.get('CONFIG_VIRTIO_CONSOLE'), 'y', 'from the fragment, built in');
  t.equal(merged.get('CONFIG_KVM_GUEST'), 'y', 'the start is defconfig + kvm_guest.config');

  // The explanation for an option whose dependency is off: KASAN needs HAVE_ARCH_KASAN etc.
  const why = explainDropped(tree, { option: 'CONFIG_KASAN_INLINE', wanted: 'y', got: 'absent', fragment: 'debug.config' }, new Map([['CONFIG_KASAN', 'y']]));
  t.match(why, /^CONFIG_KASAN_INLINE=y \(from debug\.config\) became unset: /);
  t.match(why, /if KASAN \(KASAN=y\); choice depends on KASAN_GENERIC \|\| KASAN_SW_TAGS \(KASAN_GENERIC=n, KASAN_SW_TAGS=n\)/, 'enclosing if and choice conditions, with values');
  // A menu's entries' own depends on lines are not the menu's.
  t.same(findKconfigSymbol(tree, 'CONFIG_VIRTIO_CONSOLE')[0]!.enclosing, []);
  t.equal(findKconfigSymbol(tree, 'CONFIG_PROVE_RCU')[0]!.hasPrompt, false, 'PROVE_RCU only follows PROVE_LOCKING');
});

t.test("the tree's BPF selftests fragments merge over ours, and what they lose is listed, not fatal", { skip: typeof source === 'string' ? false : source.skip }, async (t) => {
  const tree = source as string;
  const paths = selftestsFragmentPaths(tree);
  t.same(paths.map((p) => basename(p)), ['config', 'config.vm', 'config.x86_64']);
  const fragments = [
    ...fragmentPaths(false).map((p) => ({ path: p, name: basename(p), options: parseFragment(readFileSync(p, 'utf8')), strict: true })),
    ...paths.map((p) => ({ path: p, name: `selftests/${basename(p)}`, options: parseFragment(readFileSync(p, 'utf8')), strict: false })),
  ];
  const out = tempDir(t, 'kconfig-st');
  const logPath = join(out, 'build.log');
  writeFileSync(logPath, '');
  const lines: string[] = [];
  // PAHOLE=false: no BTF. DEBUG_INFO_BTF is in base.config and in the selftests' config, merged
  // later, so the selftests' fragment owns it: dropped, listed, and the merge goes on.
  const merged = await configureTree({ source: tree, makeVars: [`O=${out}`, 'PAHOLE=false'], configPath: join(out, '.config'), outDir: out, fragments, logPath, log: (l) => lines.push(l) });
  t.equal(merged.get('CONFIG_BPF_LSM'), 'y', 'an option only the selftests ask for');
  t.equal(merged.get('CONFIG_9P_FS'), 'y', 'config.vm');
  t.equal(merged.get('CONFIG_VIRTIO_CONSOLE'), 'y', 'ours');
  const listed = readFileSync(join(out, 'bpfh-dropped-options.txt'), 'utf8');
  t.match(listed, /CONFIG_DEBUG_INFO_BTF=y \(from selftests\/config\) became unset/);
  t.ok(lines.some((l) => /option\(s\) of the tree's selftests fragments did not survive olddefconfig \(not ours to fix/.test(l)), 'one line says so');
});
