// A guest with an sshd on Debian's 7.3 under QEMU: virtio_net comes from the kernel's own
// modules package, the host's OpenSSH client logs in as root with this boot's key on the port
// forwarded from 127.0.0.1, nothing else gets in, and the guest reaches nothing outside.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { execa } from 'execa';
import { debianKernelModules, loadOrder, modinfoDepends, moduleName } from '../../harness/kernel/modules.js';
import { resolveAndBuildKernel } from '../../harness/kernel-build/tree-kernel.js';
import { networkArgs } from '../../harness/vm/network.js';
import { bootSshGuest, type SshGuest } from '../../harness/vm/ssh-guest.js';

t.test('module names and load order', async (t) => {
  t.equal(moduleName('/x/drivers/net/virtio-net.ko.xz'), 'virtio_net');
  const deps: Record<string, string[]> = { virtio_net: ['net_failover'], net_failover: ['failover'], failover: [] };
  t.same(loadOrder(['virtio_net'], (n) => deps[n]), ['failover', 'net_failover', 'virtio_net'], 'dependencies first');
  t.throws(() => loadOrder(['virtio_net'], (n) => (n === 'failover' ? undefined : deps[n])), /module failover \(needed by net_failover\) is not in the kernel's package/);
});

t.test('the forwarded port listens on 127.0.0.1 only, and the guest network is restricted', async (t) => {
  const args = networkArgs({ hostPort: 40022, guestPort: 22 }).join(' ');
  t.match(args, /user,id=net0,restrict=on,ipv6=off,hostfwd=tcp:127\.0\.0\.1:40022-:22/);
  t.notMatch(args, /guestfwd|smb|tftp|dns/, 'nothing else is offered to the guest');
});

let guest: SshGuest | undefined;
t.teardown(() => guest?.stop());

t.test('a 7.3 guest with an sshd', async (t) => {
  guest = await bootSshGuest({ kernel: 'debian:7.3', cpus: 1, memoryMiB: 1024, bootDeadlineMs: 600_000, log: (l) => t.comment(l) });
  const g = guest;
  const ssh = (extra: string[], command: string) =>
    execa('ssh', ['-F', 'none', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=60', '-o', `UserKnownHostsFile=${g.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-p', String(g.port), ...extra, 'root@127.0.0.1', command], { timeout: 90_000, reject: false, stdin: 'ignore' });

  await t.test('the modules come from the kernel package, dependencies first', async (t) => {
    const kernel = await resolveAndBuildKernel('debian:7.3', { log: () => undefined });
    const mods = await debianKernelModules(kernel.bzImage, ['virtio_net'], { log: (l) => t.comment(l) });
    t.same(mods.files.map((f) => basename(f)), ['failover.ko', 'net_failover.ko', 'virtio_net.ko']);
    t.same(modinfoDepends(readFileSync(mods.files[2]!)), ['net_failover'], "virtio_net's own modinfo names its dependency");
  });

  await t.test('root logs in with the key of this boot', async (t) => {
    const r = await ssh(['-i', g.keys.userKey], 'id -u; uname -r; test -r /sys/kernel/btf/vmlinux && echo btf; ip -o -4 addr show eth0');
    t.equal(r.exitCode, 0, r.stderr);
    t.match(r.stdout, /^0\n7\.3-amd64\nbtf\n.*eth0\s+inet 10\.0\.2\.15\/24/);
  });

  await t.test('no password and no other key get in', async (t) => {
    const r = await ssh(['-o', 'PubkeyAuthentication=no', '-o', 'PasswordAuthentication=yes'], 'true');
    t.equal(r.exitCode, 255);
    t.match(r.stderr, /Permission denied \(publickey\)/);
  });

  await t.test('the guest cannot open connections, not even to the host', async (t) => {
    // 10.0.2.2 is the host on QEMU's user network, and the forwarded port listens there.
    const r = await ssh(['-i', g.keys.userKey], `nc -w 5 10.0.2.2 ${g.port} </dev/null; echo nc=$?`);
    t.match(r.stdout, /nc=1/, r.stderr);
  });

  await t.test('stop leaves no QEMU and no files', async (t) => {
    const pid = (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${g.port}-`], { reject: false })).stdout.trim();
    t.not(pid, '', 'QEMU runs while the guest is up');
    g.stop();
    guest = undefined;
    await new Promise((r) => setTimeout(r, 500));
    t.equal((await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${g.port}-`], { reject: false })).stdout.trim(), '');
    t.notOk(existsSync(g.dir));
  });
});
