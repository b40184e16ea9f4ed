// The backend registry and what each backend requires of a kernel. The kernel config is Debian's
// 7.3 (test/fixtures/kernel/README.md says where it came from): modular 9p, which vng boots only
// as a debian: kernel (its package's modules into vng's initramfs), and with kmod on the host.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localGuest, type LocalGuest } from '../../harness/backend/backend.js';
import { qemuBackend } from '../../harness/backend/qemu.js';
import { BACKEND_CHOICES, BACKENDS, chooseLocalBackend } from '../../harness/backend/registry.js';
import { sshBackend } from '../../harness/backend/ssh.js';
import { VNG_BUILT_IN, vngRefusal } from '../../harness/backend/vng.js';
import { kmodRefusal, VNG_MODULE_OPTIONS } from '../../harness/vm/vng-modules.js';
import { parseKernelConfig } from '../../harness/kernel/config.js';
import { projectRoot } from '../../harness/util/paths.js';

const debian73 = parseKernelConfig(readFileSync(join(projectRoot, 'test', 'fixtures', 'kernel', 'config-7.3-amd64.trimmed'), 'utf8'));

function guest(config: Map<string, string>, channel: 'virtio' | 'ttyS1' = 'virtio', source: 'debian' | 'bzimage' = 'debian'): LocalGuest {
  return {
    kernel: { spec: source === 'debian' ? 'debian:7.3' : '/k/bzImage', bzImage: '/k/bzImage', configPath: '/k/config', config, release: '7.3-amd64', version: '7.3-amd64 (x)', source },
    tag: 'debian-7.3',
    spec: { bzImage: '/k/bzImage', initramfs: '/i', accel: 'tcg', channel, cpus: 2, memoryMiB: 1024 },
  };
}

t.test('the registry names every backend summary.json records, and --backend offers the local ones', async (t) => {
  t.same(Object.keys(BACKENDS).sort(), ['qemu', 'ssh', 'vng']);
  t.same([...BACKEND_CHOICES], ['qemu', 'vng', 'auto']);
  for (const c of BACKEND_CHOICES) if (c !== 'auto') t.ok(BACKENDS[c].local, `${c} boots a local guest`);
  t.notOk(BACKENDS.ssh.local);
  t.equal(qemuBackend.name, 'qemu');
  t.equal(sshBackend.name, 'ssh');
});

t.test('qemu and auto without a tree choose qemu without looking for vng', async (t) => {
  const asked = await chooseLocalBackend('qemu', 'tree', { log: () => undefined });
  t.equal(asked.backend.name, 'qemu');
  t.equal(asked.why, 'asked for');
  const auto = await chooseLocalBackend('auto', 'debian', { log: () => undefined });
  t.equal(auto.backend.name, 'qemu');
  t.match(auto.why, /not a kernel tree/);
});

t.test('vng refuses a kernel without 9p built in or without the virtio channel, qemu does not', async (t) => {
  t.equal(qemuBackend.refusal(guest(debian73)), undefined);
  // The same config as a bzImage of no package: its 9p modules come from nowhere.
  t.match(vngRefusal(guest(debian73, 'virtio', 'bzimage')), /^--backend vng shares the host's root over 9p, and \/k\/bzImage lacks CONFIG_9P_FS, CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO built in: .* or use --backend qemu$/);
  t.match(vngRefusal(guest(debian73, 'ttyS1')), /^--backend vng needs the virtio agent channel, and debian:7\.3 has ttyS1/);
  const builtIn = new Map(debian73);
  for (const o of [...VNG_BUILT_IN, ...VNG_MODULE_OPTIONS]) builtIn.set(o, 'y');
  t.equal(vngRefusal(guest(builtIn, 'virtio', 'bzimage')), undefined);
  const noVirtioPci = new Map(builtIn);
  noVirtioPci.set('CONFIG_VIRTIO_PCI', 'm');
  t.match(vngRefusal(guest(noVirtioPci, 'virtio', 'bzimage')), /lacks CONFIG_VIRTIO_PCI built in/);
});

t.test('a debian: kernel with 9p as modules: vng takes them from its package when kmod is on the host', async (t) => {
  // Whether this host has kmod decides which of the two answers is right; both are checked where they can be.
  t.equal(vngRefusal(guest(debian73)), kmodRefusal('debian:7.3'));
  t.match(kmodRefusal('debian:7.3') ?? '', /^(|--backend vng with debian:7\.3 puts the kernel package's 9p modules into vng's initramfs, and vng picks them with modprobe on this host: install kmod \(apt-get install kmod; .* missing\), or use --backend qemu)$/);
  const no9p = new Map(debian73);
  no9p.delete('CONFIG_9P_FS');
  t.match(vngRefusal(guest(no9p)), /^--backend vng shares the host's root over 9p, and debian:7\.3 has CONFIG_9P_FS neither built in nor as modules: use --backend qemu$/);
});

t.test('a local guest says what it boots before it boots', async (t) => {
  const g = localGuest('qemu', guest(debian73), async () => {
    throw new Error('not booted here');
  });
  t.same(g.kernel, { spec: 'debian:7.3', release: '7.3-amd64', bzImage: '/k/bzImage' });
  t.equal(g.startLine, 'booting 7.3-amd64 under TCG (2 CPUs, 1024 MiB)');
  t.match(g, { tag: 'debian-7.3', accel: 'tcg', backend: 'qemu', channel: 'virtio' });
});
