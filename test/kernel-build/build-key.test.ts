import t from 'tap';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildKey, canonicalJson, treeState, type BuildKeyInputs } from '../../harness/kernel-build/build-key.js';
import { gitRepo } from '../helpers/git.js';
import { tempDir } from '../helpers/temp-dir.js';

const base: BuildKeyInputs = {
  tree: { kind: 'git', commit: 'c0ffee', dirtyHash: 'd', dirty: false },
  patches: [],
  fragments: [{ name: 'base.config', sha256: 'f1' }],
  startConfig: 'defconfig+kvm_guest.config',
  compiler: 'gcc (Debian 12.2.0-14) 12.2.0',
  pahole: 'trixie build root 1.30',
  target: 'bzImage',
};

t.test('the key is stable and depends on every input', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
  const k = buildKey(base);
  t.equal(buildKey({ ...base }), k);
  t.equal(buildKey(JSON.parse(JSON.stringify(base)) as BuildKeyInputs), k, 'key order does not matter');
  const variants: BuildKeyInputs[] = [
    { ...base, tree: { ...base.tree, commit: 'beef' } },
    { ...base, tree: { ...base.tree, dirtyHash: 'e' } },
    { ...base, patches: ['p1'] },
    { ...base, fragments: [...base.fragments, { name: 'debug.config', sha256: 'f2' }] },
    { ...base, startConfig: 'abc' },
    { ...base, compiler: 'gcc 14' },
    { ...base, pahole: 'host 1.26' },
  ];
  const keys = new Set(variants.map(buildKey));
  t.equal(keys.size, variants.length);
  t.notOk(keys.has(k));
});

t.test('tree state of a real git repository', async (t) => {
  const d = gitRepo(t, 'key');
  const s0 = await treeState(d);
  t.equal(s0.kind, 'git');
  t.match(s0.commit, /^[0-9a-f]{40}$/);
  t.equal(s0.dirty, false);
  t.same(await treeState(d), s0, 'unchanged tree, same state');
  writeFileSync(join(d, 'a.c'), 'int a = 1;\n');
  const s1 = await treeState(d);
  t.equal(s1.dirty, true);
  t.not(s1.dirtyHash, s0.dirtyHash, 'a modified file changes it');
  writeFileSync(join(d, 'new.c'), 'int n;\n');
  const s2 = await treeState(d);
  t.not(s2.dirtyHash, s1.dirtyHash, 'an untracked file changes it');
  writeFileSync(join(d, 'new.c'), 'int n2;\n');
  t.not((await treeState(d)).dirtyHash, s2.dirtyHash, "and so does the untracked file's content");
  const s3 = await treeState(d);
  mkdirSync(join(d, 'tools', 'testing', 'selftests'), { recursive: true });
  writeFileSync(join(d, 'tools', 'testing', 'selftests', 'mod.ko'), 'built by the selftests\n');
  t.same(await treeState(d), s3, 'files under tools/testing (selftests outputs) leave the kernel state alone');
});

t.test('tree state of a plain tree', async (t) => {
  const d = tempDir(t, 'plain');
  writeFileSync(join(d, 'Makefile'), 'x\n');
  const s0 = await treeState(d);
  t.equal(s0.kind, 'plain');
  t.same(await treeState(d), s0);
  utimesSync(join(d, 'Makefile'), new Date(), new Date(Date.now() + 5000));
  const s1 = await treeState(d);
  t.not(s1.dirtyHash, s0.dirtyHash, 'touching a file changes it');
  mkdirSync(join(d, 'tools', 'testing', 'selftests', 'bpf'), { recursive: true });
  writeFileSync(join(d, 'tools', 'testing', 'selftests', 'bpf', 'bpf_testmod.ko'), 'x');
  t.same(await treeState(d), s1, 'tools/testing is not a kernel input');
  mkdirSync(join(d, 'tools', 'lib'), { recursive: true });
  writeFileSync(join(d, 'tools', 'lib', 'x.c'), 'x');
  t.not((await treeState(d)).dirtyHash, s1.dirtyHash, 'the rest of tools/ is');
});

t.test("a scoped state (the selftests' tools/) sees only its paths, less what keep refuses", async (t) => {
  const scope = { paths: ['tools'], keep: (rel: string) => !rel.endsWith('.ko') };
  for (const kind of ['plain', 'git'] as const) {
    const d = kind === 'git' ? gitRepo(t, `scope-${kind}`) : tempDir(t, 'scope');
    mkdirSync(join(d, 'tools', 'lib'), { recursive: true });
    writeFileSync(join(d, 'tools', 'lib', 'a.c'), 'int a;\n');
    const s0 = await treeState(d, scope);
    writeFileSync(join(d, 'kernel.c'), 'int k;\n');
    t.same(await treeState(d, scope), s0, `${kind}: a file outside the scope does not count`);
    writeFileSync(join(d, 'tools', 'lib', 'm.ko'), 'built\n');
    t.same(await treeState(d, scope), s0, `${kind}: a file keep refuses does not count`);
    writeFileSync(join(d, 'tools', 'lib', 'a.c'), 'int a = 2;\n');
    if (kind === 'plain') utimesSync(join(d, 'tools', 'lib', 'a.c'), new Date(), new Date(Date.now() + 5000));
    t.not((await treeState(d, scope)).dirtyHash, s0.dirtyHash, `${kind}: a change inside does`);
  }
});
