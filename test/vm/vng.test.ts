/** vng from its Debian package with the system python, as on a bookworm host. */
import t from 'tap';
import { existsSync } from 'node:fs';
import { locateVng, missingPythonModules, VNG_MISSING } from '../../harness/vm/vng.js';

t.test('the missing-vng line names the fix', async (t) => {
  t.match(VNG_MISSING, /^vng \(virtme-ng\) is not installed: apt-get install virtme-ng/);
});

// Where vng cannot run at all the test says why (a skip with its reason); where it can, a vng
// that cannot be located or fetched is a broken backend and fails the test.
const missing = await missingPythonModules();
const vngSkip = !existsSync('/usr/bin/python3')
  ? 'no /usr/bin/python3: vng runs with the system python'
  : missing.length > 0
    ? `the system python lacks ${missing.join(', ')} (npm run setup installs python3-requests, python3-argcomplete, python3-pkg-resources)`
    : false;

t.test('vng runs from its unpacked package', { skip: vngSkip }, async (t) => {
  const vng = await locateVng({ fetch: true, log: (l) => t.comment(l) });
  t.match(vng.version, /^\d+\.\d+/);
  t.comment(`vng ${vng.version} from ${vng.from}`);
});

t.test('the vng command line: q35 with the agent port, 9p root, the guest script', async (t) => {
  const { vngArgs } = await import('../../harness/vm/vng.js');
  const a = vngArgs({ bzImage: '/k/bzImage', cpus: 2, memoryMiB: 2048, accel: 'tcg' }, '/run/bpfh/agent.sock', { vmDir: '/p/vm', bpfBuildDir: '/p/bpf/build' });
  t.same(a.slice(0, 2), ['--run', '/k/bzImage']);
  for (const f of ['--disable-microvm', '--force-9p', '--disable-kvm', '--verbose']) t.ok(a.includes(f), f);
  t.ok(a.includes('--memory') && a[a.indexOf('--memory') + 1] === '2048M');
  const qemuOpts = a.find((x) => x.startsWith('--qemu-opts='));
  t.match(qemuOpts, /^--qemu-opts=-chardev socket,id=bpfhagent,path=\/run\/bpfh\/agent\.sock .*virtserialport,bus=bpfhser\.0,chardev=bpfhagent,name=bpfh\.agent$/);
  t.same(a.slice(-2), ['--exec', '/p/vm/vng-guest.sh /p/bpf/build']);
  t.notOk(vngArgs({ bzImage: '/k', cpus: 1, memoryMiB: 512, accel: 'kvm' }, '/s', { vmDir: '/v', bpfBuildDir: '/b' }).includes('--disable-kvm'));
});

t.test('hosts without udevd get the stand-in over /usr/local/bin', async (t) => {
  const { vngArgs, hostHasUdevd } = await import('../../harness/vm/vng.js');
  const a = vngArgs({ bzImage: '/k', cpus: 1, memoryMiB: 512, accel: 'tcg' }, '/s', { vmDir: '/p/vm', bpfBuildDir: '/b' });
  t.equal(a.includes('--rodir=/usr/local/bin=/p/vm/vng-udev'), !hostHasUdevd());
});

t.test('a kernel with 9p built in: no modules; a Debian kernel: its image inside the root that has them', async (t) => {
  const { vngArgs } = await import('../../harness/vm/vng.js');
  const spec = { bzImage: '/k/bzImage', cpus: 1, memoryMiB: 512, accel: 'tcg' as const };
  t.ok(vngArgs(spec, '/s', { vmDir: '/v', bpfBuildDir: '/b' }).includes('--skip-modules'), 'built in: vng makes no initramfs and writes nothing into the build tree');
  const deb = vngArgs(spec, '/s', { vmDir: '/v', bpfBuildDir: '/b' }, { modules: { kimg: '/e/vng-root/boot/vmlinuz-7.3-amd64' } });
  t.same(deb.slice(0, 2), ['--run', '/e/vng-root/boot/vmlinuz-7.3-amd64']);
  t.notOk(deb.includes('--skip-modules'), "vng's initramfs gets the package's modules");
});

t.test('vng runs in a pseudo-terminal, not behind a shell pipe', async (t) => {
  const { vngLauncher } = await import('../../harness/vm/vng.js');
  const launch = vngLauncher({ argv: ['/usr/bin/python3', '/c/usr/bin/vng'], env: { PYTHONPATH: '/c' }, version: '1.35', from: 'deb' }, { vmDir: '/v', bpfBuildDir: '/b' })('/s', { bzImage: '/k', cpus: 1, memoryMiB: 512, accel: 'tcg' });
  t.equal(launch.terminal, true);
  t.equal(launch.cmd, '/usr/bin/python3');
  t.same(launch.args.slice(0, 3), ['/c/usr/bin/vng', '--run', '/k']);
  t.same(launch.env, { PYTHONPATH: '/c' });
});
