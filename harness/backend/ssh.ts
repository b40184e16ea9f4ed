/**
 * The ssh backend: the agent on a machine that already runs its kernel (target/ssh-target.ts).
 * What it requires of that kernel (root, x86_64 or aarch64, BTF, cgroup v2 with memcg, bpf()) can only be
 * read on the machine: the probe checks it once connected (target/ssh-target.ts refusal()).
 */
import { prepareSshTarget } from '../target/ssh-target.js';
import type { Backend, PreparedGuest } from './backend.js';

export interface SshTargetInput {
  /** ssh://user@host[:port] */
  url: string;
  identity?: string;
  knownHosts?: string;
  /** Debian mirror for an aarch64 target's cross-build libraries. */
  mirror?: string;
  bootDeadlineS: number;
}

export const SSH_DESCRIBE = 'a machine that already runs its kernel, reached over SSH (--target ssh://...); never rebooted';

export const sshBackend: Backend<SshTargetInput> = {
  name: 'ssh',
  describe: SSH_DESCRIBE,
  refusal: () => undefined,
  prepare: async (input, log): Promise<PreparedGuest> => {
    const t = await prepareSshTarget(input.url, { identity: input.identity, knownHosts: input.knownHosts, mirror: input.mirror, bootDeadlineS: input.bootDeadlineS, log });
    return {
      kernel: { spec: input.url, release: t.facts.release, bzImage: '' },
      tag: `ssh-${t.spec.host}-${t.facts.release}`.replace(/[^\w.-]+/g, '_'),
      accel: 'native',
      multiThreadedTcg: false,
      backend: 'ssh',
      channel: 'ssh',
      config: t.config,
      target: t.target,
      startLine: `starting the agent on ${input.url} (${t.facts.release}; never rebooted)`,
      start: async (boot, startLog) => ({ session: await t.start(boot, startLog), crashes: [] }),
      discard: t.discard,
    };
  },
};
