import t from 'tap';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingOptions, REQUIRED_BASE } from '../../harness/kernel/config.js';
import { needsBuild, resolveKernel, type KernelImage, type ResolveOptions } from '../../harness/kernel/resolve.js';
import { SetupError } from '../../harness/util/errors.js';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixture = (name: string): string => join(projectRoot, 'test', 'fixtures', 'kernel', name);
const HEAD = fixture('vmlinuz-7.3-amd64.head64k');
const CONFIG73 = fixture('config-7.3-amd64.trimmed');
const CONFIG612 = fixture('config-6.12.117+deb13-amd64.trimmed');
const tmp = (tag: string): string => tempDir(t, `resolve-${tag}`);

/** resolveKernel() of what is an image already (no tree to build). */
async function image(spec: string, opts: ResolveOptions): Promise<KernelImage> {
  const k = await resolveKernel(spec, opts);
  if (needsBuild(k)) throw new Error(`${spec} was taken for a tree to build`);
  return k;
}

function logger(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line: string) => void lines.push(line) };
}

/** Run `fn` with BPF_HARNESS_CACHE (and optionally PATH) set, restoring them afterwards. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

t.test('a bzImage with a .config next to it', async (t) => {
  const d = tmp('bz');
  copyFileSync(HEAD, join(d, 'bzImage'));
  copyFileSync(CONFIG73, join(d, '.config'));
  const { lines, log } = logger();
  const k = await image(join(d, 'bzImage'), { log });
  t.equal(k.source, 'bzimage');
  t.equal(k.bzImage, join(d, 'bzImage'));
  t.equal(k.configPath, join(d, '.config'));
  t.equal(k.release, '7.3-amd64');
  t.match(k.version, /^7\.3-amd64 \(/);
  t.equal(k.config.get('CONFIG_BPF_SYSCALL'), 'y');
  t.same(lines, [], 'nothing to say');
});

t.test('vmlinuz-<rel> finds config-<rel>; --config wins; a config of another series is warned about', async (t) => {
  const d = tmp('named');
  copyFileSync(HEAD, join(d, 'vmlinuz-7.3-amd64'));
  copyFileSync(CONFIG73, join(d, 'config-7.3-amd64'));
  copyFileSync(CONFIG612, join(d, 'config-6.12.117+deb13-amd64'));
  const k = await image(join(d, 'vmlinuz-7.3-amd64'), { log: () => undefined });
  t.equal(k.configPath, join(d, 'config-7.3-amd64'));
  const { lines, log } = logger();
  const o = await image(join(d, 'vmlinuz-7.3-amd64'), { log, config: join(d, 'config-6.12.117+deb13-amd64') });
  t.equal(o.configPath, join(d, 'config-6.12.117+deb13-amd64'));
  t.match(lines, [/warning: .* is a config for Linux 6\.12, the bzImage is 7\.3-amd64/]);
});

t.test('a bzImage with no config to be found', async (t) => {
  const d = tmp('nocfg');
  copyFileSync(HEAD, join(d, 'kernel'));
  await t.rejects(resolveKernel(join(d, 'kernel'), { log: () => undefined }), {
    name: 'SetupError',
    message: /^no config found for \S+kernel \(looked for config-7\.3-amd64, \.config and config next to it\): pass --config <its \.config>$/,
  });
  writeFileSync(join(d, 'config'), '# just a comment\n');
  await t.rejects(resolveKernel(join(d, 'kernel'), { log: () => undefined }), { message: /is not a kernel config \(no CONFIG_ lines\)/ });
});

t.test('a kernel build tree', async (t) => {
  const d = tmp('tree');
  await t.rejects(resolveKernel(d, { log: () => undefined }), { message: /is a directory but not a kernel build tree \(no Makefile\)/ });
  writeFileSync(join(d, 'Makefile'), 'VERSION = 7\n');
  await t.rejects(resolveKernel(d, { log: () => undefined }), new SetupError(`${d} has no arch/x86/boot/bzImage: build it first (make bzImage)`));
  mkdirSync(join(d, 'arch', 'x86', 'boot'), { recursive: true });
  copyFileSync(HEAD, join(d, 'arch', 'x86', 'boot', 'bzImage'));
  await t.rejects(resolveKernel(d, { log: () => undefined }), { message: /has no \.config/ });
  copyFileSync(CONFIG73, join(d, '.config'));
  const k = await image(d, { log: () => undefined });
  t.equal(k.source, 'tree');
  t.equal(k.bzImage, join(d, 'arch', 'x86', 'boot', 'bzImage'));
  t.equal(k.configPath, join(d, '.config'));
  // The tree's bzImage given as a file finds the tree's .config too.
  const b = await image(join(d, 'arch', 'x86', 'boot', 'bzImage'), { log: () => undefined });
  t.equal(b.source, 'bzimage');
  t.equal(b.configPath, join(d, '.config'));
});

t.test('a clean source tree needs a build: resolveKernel says so and builds nothing', async (t) => {
  const d = tmp('source');
  writeFileSync(join(d, 'Makefile'), 'VERSION = 7\n');
  writeFileSync(join(d, 'Kconfig'), 'mainmenu "Linux"\n');
  mkdirSync(join(d, 'arch', 'x86'), { recursive: true });
  t.same(await resolveKernel(d, { log: () => undefined }), { needsBuild: true, spec: d, tree: d });
  t.same(await resolveKernel(d, { log: () => undefined, selftests: { debug: true } }), { needsBuild: true, spec: d, tree: d, selftests: { debug: true } });
  // With --config the tree is taken as built in tree, as before.
  await t.rejects(resolveKernel(d, { log: () => undefined, config: CONFIG73 }), new SetupError(`${d} has no arch/x86/boot/bzImage: build it first (make bzImage)`));
});

t.test('things that are not kernels', async (t) => {
  await t.rejects(resolveKernel('/nonexistent/bzImage', { log: () => undefined }), new SetupError('kernel /nonexistent/bzImage does not exist: give a bzImage, a kernel build tree or debian:<series>'));
  const d = tmp('txt');
  writeFileSync(join(d, 'vmlinuz'), 'no kernel here\n');
  await t.rejects(resolveKernel(join(d, 'vmlinuz'), { log: () => undefined }), { message: /is not an x86 bzImage \(no HdrS boot header\)/ });
  await t.rejects(resolveKernel('debian:', { log: () => undefined }), { message: /^kernel debian:: "" is not a kernel series: give debian:<major>\.<minor>/ });
  await t.rejects(resolveKernel('debian:seven', { log: () => undefined }), { name: 'SetupError' });
});

/** A cache holding one fake debian:7.3 entry (the fixture header and config), as download() writes it. */
function fakeCache(): string {
  const cache = tmp('cache');
  const entry = join(cache, 'kernels', 'linux-binary-7.3-amd64_7.3~rc7-1~exp1');
  mkdirSync(entry, { recursive: true });
  copyFileSync(HEAD, join(entry, 'vmlinuz'));
  copyFileSync(CONFIG73, join(entry, 'config'));
  const meta = { package: 'linux-binary-7.3-amd64', version: '7.3~rc7-1~exp1', abi: '7.3', suite: 'experimental', release: '7.3-amd64', downloadedAt: new Date().toISOString() };
  writeFileSync(join(entry, 'meta.json'), JSON.stringify(meta));
  return cache;
}

t.test('debian: without apt on the host', async (t) => {
  await withEnv({ BPF_HARNESS_CACHE: tmp('noapt'), PATH: '' }, async () => {
    await t.rejects(resolveKernel('debian:7.3', { log: () => undefined }), {
      name: 'SetupError',
      message: 'kernel debian:7.3 needs apt-get, apt-cache, dpkg-deb (not found on PATH): install apt and dpkg, or give a bzImage or a kernel build tree',
    });
  });
  await withEnv({ BPF_HARNESS_CACHE: fakeCache(), PATH: '' }, async () => {
    const { lines, log } = logger();
    const k = await image('debian:7.3', { log });
    t.equal(k.source, 'debian');
    t.equal(k.release, '7.3-amd64');
    t.match(lines, [/^kernel debian:7\.3: using cached linux-binary-7\.3-amd64 7\.3~rc7-1~exp1 \(apt-get, apt-cache, dpkg-deb not found/]);
  });
});

t.test('debian: with the mirror unreachable', async (t) => {
  // Port 9 (discard) on loopback: connection refused at once.
  const mirror = 'http://127.0.0.1:9/debian';
  await withEnv({ BPF_HARNESS_CACHE: tmp('offline') }, async () => {
    const { lines, log } = logger();
    await t.rejects(resolveKernel('debian:7.3', { mirror, log }), { name: 'SetupError', message: /^kernel debian:7\.3: apt-get update failed: .*: check the network, or pass --mirror/ });
    t.match(lines, [/updating package lists \(trixie, sid, experimental\) from http:\/\/127\.0\.0\.1:9\/debian/]);
  });
  await withEnv({ BPF_HARNESS_CACHE: fakeCache() }, async () => {
    const { lines, log } = logger();
    const k = await image('debian:7.3', { mirror, log });
    t.equal(k.release, '7.3-amd64');
    t.match(lines.at(-1), /using cached linux-binary-7\.3-amd64 7\.3~rc7-1~exp1 \(offline\? apt-get update failed/);
  });
});

// The real thing, through the default cache so CI runs reuse it: downloads are fast.
for (const [spec, release, pkg] of [
  ['debian:6.12', /^6\.12\.\d+\+deb13-amd64$/, /^linux-image-6\.12\.\d+\+deb13-amd64-unsigned$/],
  ['debian:7.3', /^7\.3-amd64$/, /^linux-binary-7\.3-amd64$/],
] as const) {
  t.test(`${spec} through apt, then from the cache`, async (t) => {
    const first = logger();
    const k = await image(spec, { log: first.log });
    t.equal(k.source, 'debian');
    t.match(k.release, release);
    t.same(missingOptions(k.config, REQUIRED_BASE), [], `${k.release} has all of REQUIRED_BASE`);
    t.ok(k.config.size > 5000, 'the whole config');
    t.match(readFileSync(k.configPath, 'utf8'), /^# Linux\/x86 /m);
    t.ok(first.lines.every((l) => l.startsWith(`kernel ${spec}: `)), 'every log line names the kernel');

    const second = logger();
    const t0 = Date.now();
    const again = await image(spec, { log: second.log });
    const ms = Date.now() - t0;
    t.equal(again.bzImage, k.bzImage);
    t.equal(second.lines.length, 1, 'one line on a cache hit');
    t.match(second.lines[0], new RegExp(`^kernel ${spec}: using cached ${pkg.source.slice(1, -1)} `));
    t.notMatch(second.lines.join('\n'), /updating|downloading/);
    t.ok(ms < 5000, `cache hit in ${ms} ms`);
  });
}

t.test('an unknown series lists the ones that exist', async (t) => {
  await t.rejects(resolveKernel('debian:1.0', { log: () => undefined }), {
    name: 'SetupError',
    message: /^kernel debian:1\.0: Debian has no amd64 kernel of series 1\.0 in trixie, sid, experimental: use one of .*debian:6\.12.*debian:7\.3/,
  });
});
