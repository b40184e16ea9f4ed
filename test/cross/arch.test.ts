// Which agent build a machine gets by its `uname -m`, the refusal of the others, and the
// aarch64 build's one-line error when the cross compiler is missing.
import t from 'tap';
import { execa } from 'execa';
import { join } from 'node:path';
import { agentArchOf, agentBuildDir, debianArchOf } from '../../harness/cross/arch.js';
import { agentBuildFor, CROSS_CC } from '../../harness/cross/build.js';
import { parseKernelPackage, basePackageOf } from '../../harness/kernel/debian.js';
import { modulesPackageOf } from '../../harness/kernel/modules.js';
import { parseProbe, refusal } from '../../harness/target/ssh-target.js';
import { SetupError } from '../../harness/util/errors.js';
import { bpfBuildDir, projectRoot } from '../../harness/util/paths.js';
import { parseNeeded } from '../../harness/vm/arm64-userland.js';
import { kernelCommandLine, qemuArgs, type GuestSpec } from '../../harness/vm/qemu.js';
import { tempDir } from '../helpers/temp-dir.js';

t.test('uname -m picks the build: x86_64 bpf/build/, aarch64 bpf/build/aarch64/, nothing else', async (t) => {
  t.equal(agentArchOf('x86_64'), 'x86_64');
  t.equal(agentArchOf('aarch64'), 'aarch64');
  t.equal(agentBuildDir('x86_64'), bpfBuildDir);
  t.equal(agentBuildDir('aarch64'), join(bpfBuildDir, 'aarch64'));
  t.same([debianArchOf('x86_64'), debianArchOf('aarch64')], ['amd64', 'arm64']);
  // What other Linux machines print: no build is made or proven for them.
  for (const m of ['ppc64le', 's390x', 'riscv64', 'armv7l', 'i686', 'arm64', '']) t.equal(agentArchOf(m), undefined, m || '(empty)');
});

t.test('a target of another architecture is refused in one line; aarch64 is not', async (t) => {
  // The probe's output of the arm64 test guest (Debian's 7.3 under qemu-system-aarch64, PROBE_COMMAND over ssh).
  const arm64 = parseProbe('uid=0\nrelease=7.3-arm64\narch=aarch64\nbtf=1\ncgroup2=1\nmemcg=1\n');
  t.equal(refusal('ssh://root@h', arm64), undefined, 'aarch64 runs');
  t.equal(refusal('ssh://root@h', { ...arm64, arch: 'x86_64' }), undefined, 'x86_64 runs');
  for (const arch of ['ppc64le', 's390x', 'riscv64']) {
    const r = refusal('ssh://root@h', { ...arm64, arch }) ?? '';
    t.match(r, new RegExp(`^ssh://root@h: the agent is built for x86_64 and aarch64 only and the target is ${arch}: run on an x86_64 or aarch64 target$`), arch);
    t.notMatch(r, /\n/, `${arch}: one line`);
  }
  t.match(refusal('ssh://root@h', { ...arm64, arch: '' }), /the target is unknown/);
});

t.test('the aarch64 build without the cross compiler: one line naming the package, nothing fetched', async (t) => {
  const empty = tempDir(t, 'no-cross-cc');
  const path = process.env.PATH;
  process.env.PATH = empty;
  t.teardown(() => {
    process.env.PATH = path;
  });
  const logged: string[] = [];
  const err = await agentBuildFor('aarch64', { log: (l) => logged.push(l), why: 'ssh://root@arm' }).catch((e: unknown) => e);
  t.ok(err instanceof SetupError);
  t.equal((err as Error).message, `ssh://root@arm is aarch64: its agent is cross-built with ${CROSS_CC}, which is not installed: apt-get install gcc-aarch64-linux-gnu (or BPF_HARNESS_SETUP_ARM64=1 npm run setup)`);
  t.same(logged, [], 'no library was fetched before the check');
});

t.test('the Makefile: the BPF target arch follows AGENT_ARCH, other arches and a missing CROSS_LIBS stop make', async (t) => {
  const make = (args: string[]) => execa('make', ['-n', '-B', '-C', join(projectRoot, 'bpf'), ...args], { reject: false });
  const x86 = await make(['build/sk_storage.bpf.o']);
  t.match(x86.stdout, /-target bpf -D__TARGET_ARCH_x86 .* -o build\/sk_storage\.bpf\.o/);
  const arm = await make(['AGENT_ARCH=aarch64', 'CROSS_LIBS=/nonexistent', 'build/aarch64/sk_storage.bpf.o', 'build/aarch64/agent.o']);
  t.match(arm.stdout, /-target bpf -D__TARGET_ARCH_arm64 .* -o build\/aarch64\/sk_storage\.bpf\.o/);
  t.match(arm.stdout, /aarch64-linux-gnu-gcc .*-isystem \/nonexistent\/usr\/include .* -o build\/aarch64\/agent\.o/);
  const noLibs = await make(['AGENT_ARCH=aarch64']);
  t.not(noLibs.exitCode, 0);
  t.match(noLibs.stderr, /AGENT_ARCH=aarch64 needs CROSS_LIBS=/);
  const ppc = await make(['AGENT_ARCH=ppc64le']);
  t.not(ppc.exitCode, 0);
  t.match(ppc.stderr, /AGENT_ARCH=ppc64le: the agent builds for x86_64 or aarch64/);
});

t.test("arm64 kernels: Debian's package names, the modules package", async (t) => {
  t.same(parseKernelPackage('linux-binary-7.3-arm64', 'arm64'), { abi: '7.3', kind: 'binary' });
  t.same(parseKernelPackage('linux-image-6.12.117+deb13-arm64-unsigned', 'arm64'), { abi: '6.12.117+deb13', kind: 'image' });
  // Names from the arm64 lists of experimental: the 16k-page, cloud and rt flavours are other kernels.
  for (const no of ['linux-binary-7.3-arm64-16k', 'linux-binary-7.3-cloud-arm64', 'linux-binary-7.3-rt-arm64']) t.equal(parseKernelPackage(no, 'arm64'), undefined, no);
  t.equal(parseKernelPackage('linux-binary-7.3-arm64'), undefined, 'an arm64 kernel is never an amd64 one');
  t.equal(parseKernelPackage('linux-binary-7.3-amd64', 'arm64'), undefined);
  t.equal(basePackageOf('7.3', 'arm64'), 'linux-base-7.3-arm64');
  t.equal(modulesPackageOf({ package: 'linux-binary-7.3-arm64', abi: '7.3', arch: 'arm64' }), 'linux-modules-7.3-arm64');
  t.equal(modulesPackageOf({ package: 'linux-binary-7.3-amd64', abi: '7.3' }), 'linux-modules-7.3-amd64');
});

t.test('an aarch64 guest: virt board, every CPU feature, TCG, the PL011 console, virtio only', async (t) => {
  const spec: GuestSpec = { bzImage: 'Image', initramfs: 'i', accel: 'tcg', channel: 'virtio', cpus: 2, memoryMiB: 1024, arch: 'aarch64' };
  const args = qemuArgs(spec, '/s');
  t.match(args.join(' '), /-machine virt -cpu max,pauth-impdef=on -accel tcg /);
  t.notMatch(args.join(' '), /q35/);
  t.match(kernelCommandLine(spec), /^console=ttyAMA0 /);
  t.throws(() => qemuArgs({ ...spec, accel: 'kvm' }, '/s'), /TCG .* only/);
  t.throws(() => qemuArgs({ ...spec, channel: 'ttyS1' }, '/s'), /virtio-serial only/);
  t.match(qemuArgs({ ...spec, arch: undefined }, '/s').join(' '), /-machine q35,accel=tcg/);
});

t.test("the arm64 sshd's libraries: NEEDED entries as readelf -d prints them", async (t) => {
  // readelf -d usr/sbin/sshd of bookworm's openssh-server 1:9.2p1-2+deb12u10 (arm64), its first lines.
  const recorded = [
    'Dynamic section at offset 0x13eba8 contains 39 entries:',
    '  Tag        Type                         Name/Value',
    ' 0x0000000000000001 (NEEDED)             Shared library: [libcrypt.so.1]',
    ' 0x0000000000000001 (NEEDED)             Shared library: [libwrap.so.0]',
    ' 0x0000000000000001 (NEEDED)             Shared library: [libz.so.1]',
    ' 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]',
    ' 0x0000000000000001 (NEEDED)             Shared library: [ld-linux-aarch64.so.1]',
    ' 0x000000000000000c (INIT)               0xc898',
  ].join('\n');
  t.same(parseNeeded(recorded), ['libcrypt.so.1', 'libwrap.so.0', 'libz.so.1', 'libc.so.6', 'ld-linux-aarch64.so.1']);
  t.same(parseNeeded(' 0x000000000000000c (INIT)               0xc898\n'), []);
});
