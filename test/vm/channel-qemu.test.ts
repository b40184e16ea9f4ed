// Channel choice and QEMU command line, against Debian's real kernel configs.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKernelConfig } from '../../harness/kernel/config.js';
import { chooseChannel } from '../../harness/vm/channel.js';
import { kernelCommandLine, qemuArgs, type GuestSpec } from '../../harness/vm/qemu.js';
import { projectRoot } from '../../harness/util/paths.js';

const fixture = (name: string): Map<string, string> => parseKernelConfig(readFileSync(join(projectRoot, 'test/fixtures/kernel', name), 'utf8'));

t.test('virtio-serial on Debian kernels, ttyS1 without virtio_console', async (t) => {
  for (const name of ['config-7.3-amd64.trimmed', 'config-6.12.117+deb13-amd64.trimmed']) {
    const config = fixture(name);
    t.equal(chooseChannel(config).kind, 'virtio', name);
    const noVirtio = new Map(config);
    noVirtio.delete('CONFIG_VIRTIO_CONSOLE');
    const fallback = chooseChannel(noVirtio);
    t.equal(fallback.kind, 'ttyS1');
    t.match(fallback.why, /virtio_console or virtio-pci is not built in/);
    t.equal(chooseChannel(config, 'ttyS1').kind, 'ttyS1', 'forced');
  }
  const moduleOnly = new Map(fixture('config-7.3-amd64.trimmed'));
  moduleOnly.set('CONFIG_VIRTIO_CONSOLE', 'm');
  t.equal(chooseChannel(moduleOnly).kind, 'ttyS1', 'a module does not count: the initramfs has no modules');
  const noUart = new Map(moduleOnly);
  noUart.set('CONFIG_SERIAL_8250_RUNTIME_UARTS', '1');
  t.same(chooseChannel(noUart).requires.includes('CONFIG_VIRTIO_CONSOLE'), true, 'no second UART: virtio is named as the fix');
});

t.test('QEMU arguments', async (t) => {
  const spec: GuestSpec = { bzImage: '/k/bzImage', initramfs: '/k/initrd', accel: 'tcg', channel: 'virtio', cpus: 2, memoryMiB: 2048 };
  const virtio = qemuArgs(spec, '/s/agent.sock');
  t.ok(virtio.includes('-no-reboot'), 'a panic ends QEMU instead of rebooting');
  t.ok(virtio.includes('socket,id=agent,path=/s/agent.sock'));
  t.ok(virtio.includes('virtserialport,bus=vser0.0,chardev=agent,name=bpfh.agent'));
  t.notOk(virtio.includes('-cpu'), 'the default CPU model (see qemu.ts)');
  t.match(kernelCommandLine(spec), /console=ttyS0,115200 panic=-1 rdinit=\/init bpfh\.chan=virtio/);
  const uart = qemuArgs({ ...spec, channel: 'ttyS1', accel: 'kvm' }, '/s/agent.sock');
  t.same(uart.filter((_, i) => uart[i - 1] === '-serial'), ['stdio', 'chardev:agent'], 'ttyS0 console, ttyS1 agent');
  t.ok(uart.includes('q35,accel=kvm'));
  t.ok(virtio.includes('q35,accel=tcg'), 'TCG multi-threaded by default');
  const single = qemuArgs({ ...spec, tcgThreads: 'single' }, '/s/agent.sock');
  t.same(single.slice(single.indexOf('-machine'), single.indexOf('-machine') + 4), ['-machine', 'q35', '-accel', 'tcg,thread=single'], 'one host thread when asked');
  t.ok(qemuArgs({ ...spec, accel: 'kvm', tcgThreads: 'single' }, '/s/agent.sock').includes('q35,accel=kvm'), 'KVM ignores it');
});

t.test('shares: a read-only 9p export per share, named on the kernel command line', async (t) => {
  const spec: GuestSpec = { bzImage: '/k/bzImage', initramfs: '/k/initrd', accel: 'tcg', channel: 'virtio', cpus: 2, memoryMiB: 2048, shares: [{ tag: 'bpfh.selftests', hostPath: '/h/st', guestPath: '/h/st' }] };
  const args = qemuArgs(spec, '/s/agent.sock');
  t.equal(args[args.indexOf('-virtfs') + 1], 'local,path=/h/st,mount_tag=bpfh.selftests,security_model=none,readonly=on,multidevs=remap');
  t.match(kernelCommandLine(spec), / bpfh\.share=bpfh\.selftests:\/h\/st(\s|$)/, 'vm/init.sh mounts it where the command line says');
  for (const bad of [{ tag: 'a:b', hostPath: '/h', guestPath: '/h' }, { tag: 'x'.repeat(32), hostPath: '/h', guestPath: '/h' }, { tag: 't', hostPath: '/h', guestPath: '/with space' }, { tag: 't', hostPath: '/a,b', guestPath: '/h' }]) {
    t.throws(() => qemuArgs({ ...spec, shares: [bad] }, '/s/agent.sock'), /cannot share/, JSON.stringify(bad));
  }
});
