/** Host tools vs the trixie build root, decided from the versions the real 7.3 tree asks for. */
import t from 'tap';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedLinuxSource } from '../../harness/kernel-build/linux-source.js';
import { buildRootDir, chooseToolchain, compareVersions, parseVersion, writePaholeWrapper } from '../../harness/kernel-build/toolchain.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('versions', async (t) => {
  t.equal(parseVersion('v1.24'), '1.24');
  t.equal(parseVersion('gcc (Debian 12.2.0-14+deb12u1) 12.2.0'.replace(/^.*\)\s*/, '')), '12.2.0');
  t.ok(compareVersions('1.24', '1.26') < 0);
  t.ok(compareVersions('1.30', '1.26') > 0);
  t.equal(compareVersions('8.1.0', '8.1'), 0);
});

/** A PATH with a fake pahole printing `version` in front of the real PATH. */
function fakePahole(version: string): string {
  const d = tempDir(t, 'pahole');
  writeFileSync(join(d, 'pahole'), `#!/bin/sh\necho v${version}\n`);
  chmodSync(join(d, 'pahole'), 0o755);
  return `${d}:${process.env.PATH}`;
}

const tree = cachedLinuxSource('7.3');
t.test('pahole: the host\'s when new enough, said in one line; none without BTF', { skip: tree ? false : 'linux-source-7.3 is not unpacked in the cache (npm test fetches it in test/build/kconfig.test.ts)' }, async (t) => {
  const saved = process.env.PATH;
  try {
    process.env.PATH = fakePahole('1.30');
    const host = await chooseToolchain(tree!, true, { log: () => undefined });
    t.equal(host.pahole, 'host 1.30');
    t.equal(host.buildRoot, undefined);
    t.match(host.note, /^toolchain: host gcc and pahole 1\.30 \(the tree needs 1\.26\)$/);

    const none = await chooseToolchain(tree!, false, { log: () => undefined });
    t.equal(none.pahole, 'not needed', 'no BTF, no pahole');
  } finally {
    process.env.PATH = saved;
  }
});

// The build root takes a minute and 570 MB to make (kernel build makes it on first need):
// npm test uses it when it is cached, and says so when it is not.
const buildRootSkip = !tree
  ? 'linux-source-7.3 is not unpacked in the cache (npm test fetches it in test/build/kconfig.test.ts)'
  : existsSync(join(buildRootDir(), '.bpfh-ready'))
    ? false
    : `the trixie build root is not in the cache (${buildRootDir()}); bpf-harness kernel build makes it when the host's pahole is too old`;
t.test('pahole too old: the cached build root runs it, through the wrapper', { skip: buildRootSkip }, async (t) => {
  const saved = process.env.PATH;
  try {
    process.env.PATH = fakePahole('1.24');
    const old = await chooseToolchain(tree!, true, { log: () => undefined });
    t.match(old.note, /^toolchain: the host's pahole 1\.24 is older than 1\.26, which this tree needs \(Documentation\/process\/changes\.rst\): running pahole 1\.\d+ from the cached trixie build root /);
    t.equal(old.buildRoot, buildRootDir());

    // The wrapper runs the build root's pahole in the caller's directory.
    const work = tempDir(t, 'wrap');
    const wrapper = writePaholeWrapper(join(work, 'pahole'), old.buildRoot!, [work]);
    const { execa } = await import('execa');
    const r = await execa(wrapper, ['--version'], { cwd: work, reject: false });
    t.equal(r.exitCode, 0, String(r.stderr));
    t.match(String(r.stdout), /^v1\.(2[6-9]|[3-9]\d)/);
  } finally {
    process.env.PATH = saved;
  }
});
