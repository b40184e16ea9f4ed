// The backend registry and what each backend requires of a kernel. The kernel config is Debian's
// 7.3 (test/fixtures/kernel/README.md says where it came from): modular 9p, which vng cannot boot.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { localGuest, type LocalGuest } from '../../harness/backend/backend.js';
import { qemuBackend } from '../../harness/backend/qemu.js';
import { BACKEND_CHOICES, BACKENDS, chooseLocalBackend } from '../../harness/backend/registry.js';
import { sshBackend } from '../../harness/backend/ssh.js';
import { VNG_NEEDS, vngRefusal } from '../../harness/backend/vng.js';
import { parseKernelConfig } from '../../harness/kernel/config.js';
import { projectRoot } from '../../harness/util/paths.js';

const debian73 = parseKernelConfig(readFileSync(join(projectRoot, 'test', 'fixtures', 'kernel', 'config-7.3-amd64.trimmed'), 'utf8'));

function guest(config: Map<string, string>, channel: 'virtio' | 'ttyS1' = 'virtio'): LocalGuest {
  return {
    kernel: { spec: 'debian:7.3', bzImage: '/k/bzImage', configPath: '/k/config', config, release: '7.3-amd64', version: '7.3-amd64 (x)', source: 'debian' },
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
  t.match(vngRefusal(guest(debian73)), /^--backend vng shares the host's root over 9p, and debian:7\.3 lacks CONFIG_9P_FS, CONFIG_NET_9P, CONFIG_NET_9P_VIRTIO built in: .* or use --backend qemu$/);
  t.match(vngRefusal(guest(debian73, 'ttyS1')), /^--backend vng needs the virtio agent channel, and debian:7\.3 has ttyS1/);
  const builtIn = new Map(debian73);
  for (const o of VNG_NEEDS) builtIn.set(o, 'y');
  t.equal(vngRefusal(guest(builtIn)), undefined);
});

t.test('a local guest says what it boots before it boots', async (t) => {
  const g = localGuest('qemu', guest(debian73), async () => {
    throw new Error('not booted here');
  });
  t.same(g.kernel, { spec: 'debian:7.3', release: '7.3-amd64', bzImage: '/k/bzImage' });
  t.equal(g.startLine, 'booting 7.3-amd64 under TCG (2 CPUs, 1024 MiB)');
  t.match(g, { tag: 'debian-7.3', accel: 'tcg', backend: 'qemu', channel: 'virtio' });
});
