// ccache for kernel builds (harness/kernel-build/ccache.ts): the environment make gets, and with the
// real ccache (setup installs it; a clean skip without) that gcc through the links prints the
// same banner (the build key and CONFIG_CC_VERSION_TEXT come from it), and that two builds in
// different directories laid out the same way share an object compiled with -g, as a kernel
// object is: CCACHE_NOHASHDIR and CCACHE_BASEDIR at work.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ccacheCounts, ccacheSetup, commonDir, describeCounts, onPath, parseCcacheStats, writeCompilerLinks } from '../../harness/kernel-build/ccache.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('the directory holding source and O= directory', async (t) => {
  t.equal(commonDir('/srv/u/src/bpf-next', '/srv/u/.cache/bpf-storage-harness/builds/bpf-next-1'), '/srv/u');
  t.equal(commonDir('/c/worktrees/bisect-x', '/c/builds/bisect-x'), '/c');
  t.equal(commonDir('/src/linux', '/out'), '/');
  t.equal(commonDir('/a/b', '/a/b/out'), '/a/b');
  t.equal(commonDir('/a/bc', '/a/b'), '/a', 'by path component, not by character');
});

t.test('the environment make gets', async (t) => {
  const bin = tempDir(t, 'ccbin');
  writeFileSync(join(bin, 'ccache'), '', { mode: 0o755 });
  const env = { PATH: `${bin}${delimiter}/usr/bin` };
  const s = ccacheSetup({ source: '/w/kernel-tree', outDir: '/w/.cache/builds/x', cacheRoot: '/w/.cache', env });
  t.ok(s);
  t.equal(s!.ccache, join(bin, 'ccache'));
  t.same(s!.env, { PATH: `/w/.cache/ccache-bin${delimiter}${env.PATH}`, CCACHE_DIR: '/w/.cache/ccache', CCACHE_NOHASHDIR: '1', CCACHE_BASEDIR: '/w' });
  const mine = ccacheSetup({ source: '/src/l', outDir: '/out/l', cacheRoot: '/c', env: { ...env, CCACHE_DIR: '/big/ccache', CCACHE_BASEDIR: '/src' } });
  t.same([mine!.env.CCACHE_DIR, mine!.env.CCACHE_BASEDIR], ['/big/ccache', '/src'], "the user's own settings win");
  t.notOk('CCACHE_BASEDIR' in ccacheSetup({ source: '/src/l', outDir: '/out/l', cacheRoot: '/c', env })!.env, "no base dir '/': system headers would turn relative");
  t.equal(ccacheSetup({ source: '/s', outDir: '/s/o', cacheRoot: '/c', env: { ...env, BPF_HARNESS_CCACHE: '0' } }), undefined, 'BPF_HARNESS_CCACHE=0 turns it off');
  t.equal(ccacheSetup({ source: '/s', outDir: '/s/o', cacheRoot: '/c', env: { PATH: '/nonexistent' } }), undefined, 'not installed: no ccache');
});

const real = onPath('ccache', process.env.PATH);

t.test('real ccache: same gcc banner, objects shared between two builds laid out alike', { skip: real ? false : 'ccache is not installed (npm run setup installs it)' }, async (t) => {
  const root = tempDir(t, 'ccache');
  const cacheRoot = join(root, 'cache');
  const plainBanner = execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const builds = ['nightly', 'bisect'].map((name) => {
    const source = join(root, name, 'tree');
    const outDir = join(root, name, 'out');
    mkdirSync(join(source, 'include'), { recursive: true });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(source, 'include', 'storage.h'), '#define ELEMS 4\n');
    writeFileSync(join(source, 'map.c'), '#include "storage.h"\nint elems(void) { return ELEMS; }\n');
    const setup = ccacheSetup({ source, outDir, cacheRoot, env: process.env })!;
    writeCompilerLinks(setup);
    return { source, outDir, setup };
  });
  const { setup } = builds[0]!;
  t.equal(execFileSync('gcc', ['--version'], { encoding: 'utf8', env: { ...process.env, ...setup.env } }).split('\n')[0], plainBanner, 'gcc through the links: the same banner');
  t.equal(execFileSync('sh', ['-c', 'command -v gcc'], { encoding: 'utf8', env: { ...process.env, ...setup.env } }).trim(), join(cacheRoot, 'ccache-bin', 'gcc'), 'make finds the link first');
  writeCompilerLinks(setup); // again: the links are kept
  const counts = [await ccacheCounts(setup)];
  for (const b of builds) {
    // As kbuild compiles in an O= build: in the output directory, absolute -I and source paths, -g.
    execFileSync('gcc', ['-g', '-O2', `-I${join(b.source, 'include')}`, '-c', join(b.source, 'map.c'), '-o', join(b.outDir, 'map.o')], { cwd: b.outDir, env: { ...process.env, ...b.setup.env } });
    counts.push(await ccacheCounts(b.setup));
  }
  t.same(counts.map((c) => c && [c.hits, c.misses]), [[0, 0], [0, 1], [1, 1]], 'the first build misses, the second (another tree, another O=) hits');
  t.match(describeCounts(counts[1], counts[2], setup.dir), /^ccache: 1 hits, 0 misses \(/);
});

t.test('ccache --print-stats: hits are direct + preprocessed (the real output is read above)', async (t) => {
  t.same(parseCcacheStats('cache_miss\t3\ndirect_cache_hit\t5\ndirect_cache_miss\t3\npreprocessed_cache_hit\t2\n'), { hits: 7, misses: 3 });
  t.equal(parseCcacheStats('ccache: invalid option -- print-stats'), undefined, 'an older ccache: no counts, the build goes on');
});
