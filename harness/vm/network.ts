/**
 * The guest's network, when it has one: QEMU user-mode networking with `restrict=on` (the
 * guest can reach nothing outside; only connections QEMU forwards from the host come in) and
 * one TCP port forwarded from this machine's 127.0.0.1 to the guest. Nothing else: no other
 * host address, no DNS, no route out.
 */
import { createServer } from 'node:net';

export interface GuestNetwork {
  /** The port on the host's 127.0.0.1 that QEMU forwards. */
  hostPort: number;
  /** The guest's TCP port it reaches (22: its sshd). */
  guestPort: number;
}

/** The only address the guest's forwarded port listens on. */
export const LOOPBACK = '127.0.0.1';

/** The guest's own address on QEMU's user network (the slirp default). */
export const GUEST_ADDRESS = '10.0.2.15/24';

/** Modules a Debian kernel needs for the guest's network device. */
export const NETWORK_MODULES = ['virtio_net'];

export function networkArgs(net: GuestNetwork): string[] {
  if (!Number.isInteger(net.hostPort) || net.hostPort < 1 || net.hostPort > 65535) throw new Error(`bad host port ${net.hostPort}`);
  return [
    '-netdev', `user,id=net0,restrict=on,ipv6=off,hostfwd=tcp:${LOOPBACK}:${net.hostPort}-:${net.guestPort}`,
    '-device', 'virtio-net-pci,netdev=net0',
  ];
}

/**
 * A TCP port free on 127.0.0.1 right now (the kernel picks it). QEMU binds it a moment later;
 * a port taken in between makes QEMU fail to start, which says so.
 */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel');
  return address.port;
}
