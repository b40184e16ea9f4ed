import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PrivateApt, discoverDebianMirror, parseSourceUris, pickAcquireSettings, pickDebianMirror } from '../../harness/host/apt.js';
import { chooseCandidate, parseKernelPackage, seriesMatches, seriesOf, type KernelCandidate } from '../../harness/kernel/debian.js';
import { compareDebVersions } from '../../harness/host/debversion.js';
import { cacheDir, projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

const fixture = (name: string): string => join(projectRoot, 'test', 'fixtures', 'kernel', name);

t.test('mirror from a real deb822 debian.sources (host replaced)', async (t) => {
  const text = readFileSync(fixture('debian.sources'), 'utf8');
  const uris = parseSourceUris(text, 'deb822');
  t.same(uris, ['http://mirror.example.org/debian', 'http://mirror.example.org/debian-security'], 'comment lines are not URIs');
  t.equal(pickDebianMirror(uris), 'http://mirror.example.org/debian');
});

t.test('one-line sources, options, disabled stanzas, several URIs, trailing slashes', async (t) => {
  const list = [
    '# deb http://commented.example.org/debian bookworm main',
    'deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://one.example.org/pub/debian/ trixie main',
    'deb-src http://two.example.org/debian trixie main',
    'deb http://ports.example.org/ubuntu noble main',
  ].join('\n');
  t.same(parseSourceUris(list, 'one-line'), ['https://one.example.org/pub/debian/', 'http://two.example.org/debian', 'http://ports.example.org/ubuntu']);
  t.equal(pickDebianMirror(parseSourceUris(list, 'one-line')), 'https://one.example.org/pub/debian');
  const deb822 = [
    'Types: deb',
    'URIs: http://off.example.org/debian',
    'Suites: trixie',
    'Enabled: no',
    '',
    'Types: deb',
    'URIs: http://a.example.org/debian-security',
    ' http://b.example.org/debian',
    'Suites: trixie',
  ].join('\n');
  t.same(parseSourceUris(deb822, 'deb822'), ['http://a.example.org/debian-security', 'http://b.example.org/debian'], 'continuation lines, Enabled: no');
  t.equal(pickDebianMirror(['http://archive.example.org/ubuntu', 'mirror+file:/etc/apt/mirrors.txt']), undefined, 'an Ubuntu host has no Debian mirror');
});

t.test('discoverDebianMirror reads sources.list first, then sources.list.d in name order', async (t) => {
  const etc = tempDir(t, 'etcapt');
  mkdirSync(join(etc, 'sources.list.d'));
  t.equal(discoverDebianMirror(etc), undefined);
  writeFileSync(join(etc, 'sources.list.d', 'debian.sources'), readFileSync(fixture('debian.sources')));
  writeFileSync(join(etc, 'sources.list.d', 'a-other.list'), 'deb http://other.example.org/nodesource main\n');
  t.equal(discoverDebianMirror(etc), 'http://mirror.example.org/debian');
  writeFileSync(join(etc, 'sources.list'), 'deb http://first.example.org/debian bookworm main\n');
  t.equal(discoverDebianMirror(etc), 'http://first.example.org/debian');
  t.equal(discoverDebianMirror(join(etc, 'absent')), undefined);
});

t.test('only the network settings of the system apt config are inherited', async (t) => {
  const dump = [
    'Acquire::Check-Valid-Until "false";',
    'Acquire::Check-Date "false";',
    'Acquire::http::Proxy "http://proxy.example.org:3128/";',
    'Acquire::IndexTargets::deb::Packages::MetaKey "x";',
    'Acquire::GzipIndexes "true";',
    'Dir::Cache::pkgcache "";',
    'APT::Update::Post-Invoke-Success:: "appstreamcli refresh";',
  ].join('\n');
  t.same(pickAcquireSettings(dump), [
    'Acquire::Check-Valid-Until "false";',
    'Acquire::Check-Date "false";',
    'Acquire::http::Proxy "http://proxy.example.org:3128/";',
  ]);
});

t.test('kernel package names', async (t) => {
  t.same(parseKernelPackage('linux-binary-7.3-amd64'), { abi: '7.3', kind: 'binary' });
  t.same(parseKernelPackage('linux-binary-7.2.13+deb14-amd64'), { abi: '7.2.13+deb14', kind: 'binary' });
  t.same(parseKernelPackage('linux-image-6.12.117+deb13-amd64-unsigned'), { abi: '6.12.117+deb13', kind: 'image' });
  t.same(parseKernelPackage('linux-image-6.1.0-30-amd64-unsigned'), { abi: '6.1.0-30', kind: 'image' });
  for (const no of [
    'linux-binary-7.3-cloud-amd64',
    'linux-binary-7.3-rt-amd64',
    'linux-binary-unsigned-7.3-amd64',
    'linux-image-7.3-amd64',
    'linux-image-6.12.117+deb13-amd64',
    'linux-image-6.12.117+deb13-cloud-amd64-unsigned',
    'linux-image-6.12.117+deb13-amd64-dbg',
    'linux-image-amd64',
    'linux-base-7.3-amd64',
  ]) {
    t.equal(parseKernelPackage(no), undefined, no);
  }
  t.ok(seriesMatches('7.2.13+deb14', '7.2'));
  t.ok(seriesMatches('7.2.13+deb14', '7.2.13'));
  t.ok(seriesMatches('7.3', '7.3'));
  t.notOk(seriesMatches('6.12.117+deb13', '6.1'));
  t.notOk(seriesMatches('7.3', '7.30'));
  t.equal(seriesOf('6.12.117+deb13'), '6.12');
});

t.test('the newest candidate wins across suites and ABIs', async (t) => {
  const c = (pkg: string, version: string, suite: string): KernelCandidate => {
    const p = parseKernelPackage(pkg)!;
    return { pkg, version, suite, abi: p.abi, kind: p.kind };
  };
  t.equal(chooseCandidate([c('linux-image-6.12.107+deb13-amd64-unsigned', '6.12.107-1', 'trixie'), c('linux-image-6.12.117+deb13-amd64-unsigned', '6.12.117-1', 'trixie')])?.version, '6.12.117-1');
  t.equal(chooseCandidate([c('linux-binary-7.3-amd64', '7.3-1', 'sid'), c('linux-binary-7.3-amd64', '7.3~rc7-1~exp1', 'experimental')])?.suite, 'sid', 'a release beats its rc');
  t.equal(chooseCandidate([]), undefined);
});

t.test('Debian version order agrees with dpkg --compare-versions', async (t) => {
  const versions = ['7.3~rc7-1~exp1', '7.3-1', '7.3~rc6-1~exp1', '7.3~rc7-1', '7.2.13-1', '7.2.9-1', '6.12.117-1', '6.12.107-1', '1:6.0-1', '6.12.117-1+b1', '6.12.117', '6.12.117-1.1', '6.12a-1', '6.12+x-1', '6.12~-1', '6.12-1'];
  const haveDpkg = spawnSync('dpkg', ['--version']).status === 0;
  for (const a of versions) {
    for (const b of versions) {
      const mine = compareDebVersions(a, b);
      if (haveDpkg) {
        const rel = mine < 0 ? 'lt' : mine > 0 ? 'gt' : 'eq';
        t.equal(spawnSync('dpkg', ['--compare-versions', a, rel, b]).status, 0, `${a} ${rel} ${b}`);
      }
    }
  }
  t.ok(compareDebVersions('7.3~rc7-1~exp1', '7.3-1') < 0);
  t.ok(compareDebVersions('1:6.0-1', '7.3-1') > 0, 'epoch first');
});

// The harness's own private apt in the user's cache, with its lists: a real download of a small
// package (virtme-ng, ~0.5 MB) through downloadUnpacked(), the path every cached fetch takes.
const mirror = discoverDebianMirror();
const cachedApt = mirror === undefined ? undefined : new PrivateApt(join(cacheDir(), 'apt'), mirror);
t.test('downloadUnpacked: a real package downloaded and unpacked; a version Debian lacks is one line', { skip: cachedApt?.hasLists() ? false : 'no private apt lists in the cache yet (any `npm run vm-test` makes them)' }, async (t) => {
  const apt = cachedApt!;
  await apt.prepare();
  const pick = (await apt.versions(['virtme-ng']))[0];
  t.ok(pick, 'virtme-ng is in the private apt lists');
  if (!pick) return;
  const dir = tempDir(t, 'bpfh-apt-');
  const got = await apt.downloadUnpacked([{ pkg: 'virtme-ng', version: pick.version }], dir, 120_000);
  t.equal(got.root, join(dir, 'x'));
  t.equal(got.debs.length, 1);
  t.ok(got.bytes > 10_000, `${got.bytes} bytes downloaded`);
  t.ok(existsSync(join(got.root, 'usr', 'bin', 'vng')), 'the package files are unpacked under root');
  const bad = tempDir(t, 'bpfh-apt-');
  await t.rejects(apt.downloadUnpacked([{ pkg: 'virtme-ng', version: '0.0.0-none' }], bad), /apt-get download virtme-ng failed: .*check the network or the mirror/);
});

t.test('versionsIn: the version in a suite, and a package the suite lacks as one line naming it', { skip: cachedApt?.hasLists() ? false : 'no private apt lists in the cache yet (any `npm run vm-test` makes them)' }, async (t) => {
  const apt = cachedApt!;
  await apt.prepare();
  const [vng] = await apt.versionsIn(['virtme-ng'], 'sid', 'the test');
  t.match(vng, { pkg: 'virtme-ng', version: /^\d/ });
  t.same(vng?.version, (await apt.versions(['virtme-ng'])).find((v) => v.suite === 'sid')?.version, "sid's version, as apt-cache madison lists it");
  await t.rejects(apt.versionsIn(['virtme-ng', 'bpfh-no-such-package'], 'sid', 'the test'), new RegExp(`^the test: bpfh-no-such-package is not in sid's package lists: delete ${apt.dir.replace(/[.+]/g, '\\$&')} and retry`));
});
