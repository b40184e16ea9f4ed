/**
 * The options the commands share, declared once each with one default, in three groups: the
 * guest (what boots and how), the scenarios (what runs in it and how it is judged) and the
 * output. A command lists the ones it takes in the order its --help shows them; where its help
 * says something of its own about an option (vm-test's long form, "as for vm-test"), it passes
 * that text, never a default or a type. The defaults are the repeat line's (run/repeat.ts), so a
 * replayed run leaves out exactly what the command would fill in.
 */
import { resolve } from 'node:path';
import type { BuildHostChoice } from '../build-host/build-host.js';
import { VM_TEST_DEFAULTS } from '../run/repeat.js';
import type { SizeLevel } from '../scenarios/types.js';
import { parseTargetUrl } from '../ssh/ssh.js';
import { numberOption, RANGES } from '../util/whole-number.js';
import type { AccelRequest } from '../vm/accel.js';
import type { ChannelKind } from '../vm/channel.js';
import { BACKEND_CHOICES as BACKENDS } from '../backend/registry.js';

export const DEFAULT_KERNEL = 'debian:7.3';

const ACCELS = ['auto', 'kvm', 'tcg'] as const satisfies readonly AccelRequest[];
const CHANNELS = ['virtio', 'ttyS1'] as const satisfies readonly ChannelKind[];
const SIZES = ['small', 'default', 'stress'] as const satisfies readonly SizeLevel[];

/** `describe` when the command has text of its own for the option, else nothing. */
function described(describe: string | undefined): { describe?: string } {
  return describe === undefined ? {} : { describe };
}

/**
 * Which kernel a command boots, for the boot deadline's default. The one rule: a kernel the
 * harness builds itself (selftests and bisect build with the selftests' or the debug config:
 * KASAN, lockdep, more modules) boots slower under TCG than a packaged or user-given one, so its
 * default is longer. vm-test and shell boot what they are given.
 */
export type KernelOrigin = 'given' | 'built';

const BOOT_DEADLINE_DEFAULT_S: Record<KernelOrigin, number> = {
  given: VM_TEST_DEFAULTS.bootDeadlineS,
  built: VM_TEST_DEFAULTS.builtKernelBootDeadlineS,
};

/** The guest: what boots, on what, how big, and how long it may take. */
export const guestOptions = {
  mirror: (describe: string) => ({ type: 'string', describe }) as const,
  accel: (describe?: string) => ({ choices: ACCELS, default: VM_TEST_DEFAULTS.accel, ...described(describe) }) as const,
  backend: (describe: string) => ({ choices: BACKENDS, default: VM_TEST_DEFAULTS.backend, describe }) as const,
  channel: () => ({ choices: CHANNELS, describe: 'agent channel (default: virtio-serial when the kernel has it built in, else ttyS1)' }) as const,
  cpus: () => numberOption('--cpus', RANGES.cpus, { default: VM_TEST_DEFAULTS.cpus, describe: `guest CPUs, ${RANGES.cpus.min}-${RANGES.cpus.max}` }),
  memory: () => numberOption('--memory', RANGES.memoryMiB, { default: VM_TEST_DEFAULTS.memoryMiB, describe: `guest memory, MiB, ${RANGES.memoryMiB.min}-${RANGES.memoryMiB.max}` }),
  bootDeadline: (kernel: KernelOrigin, describe: string) => numberOption('--boot-deadline', RANGES.bootDeadlineS, { default: BOOT_DEADLINE_DEFAULT_S[kernel], describe }),
  settleDeadline: (describe: string) => numberOption('--settle-deadline', RANGES.settleDeadlineS, { default: VM_TEST_DEFAULTS.settleDeadlineS, describe }),
} as const;

/** An SSH target instead of a guest (vm-test, shell). */
export const targetOptions = {
  identity: (describe: string) => ({ type: 'string', describe }) as const,
  knownHosts: (describe: string) => ({ type: 'string', describe }) as const,
} as const;

/** Where make runs: kernel build, selftests and bisect's --build-host (the key check and login as for a target). */
export const buildHostOptions = {
  'build-host': { type: 'string', describe: 'ssh://user@host[:port]: run make there (the tree synced, only what changed; the artifacts come back)' },
  identity: targetOptions.identity('with --build-host: private key file to log in with (also tried: the SSH agent, ~/.ssh/config IdentityFile, ~/.ssh/id_*)'),
  'known-hosts': targetOptions.knownHosts("with --build-host: known_hosts file to verify the host's key (default ~/.ssh/known_hosts)"),
} as const;

/**
 * The build host the options name, its URL checked at once (one line, exit 2, before anything
 * connects). The key and known_hosts paths are made absolute here: a bisect's steps run in its
 * worktree, where a path relative to the user's directory names nothing.
 */
export function buildHostChoice(a: { 'build-host'?: string; identity?: string; 'known-hosts'?: string }): BuildHostChoice | undefined {
  if (a['build-host'] === undefined) return undefined;
  parseTargetUrl(a['build-host'], '--build-host');
  return { url: a['build-host'], ...(a.identity ? { identity: resolve(a.identity) } : {}), ...(a['known-hosts'] ? { knownHosts: resolve(a['known-hosts']) } : {}) };
}

/**
 * Which run a command's --sizes is for. The one rule: a bisect step is a kernel build and a
 * boot per commit, so its scenarios do the least work by default; a run does the default work.
 */
export type SizesUse = 'run' | 'bisect';

const SIZES_DEFAULT: Record<SizesUse, SizeLevel> = { run: VM_TEST_DEFAULTS.sizes, bisect: 'small' };

/** The scenarios: which, how much work, with what seed. */
export const scenarioOptions = {
  scenario: (describe: string) => ({ type: 'string', array: true, describe }) as const,
  sizes: (use: SizesUse) => ({ choices: SIZES, default: SIZES_DEFAULT[use], describe: 'how much work each scenario does' }) as const,
  seed: (describe: string) => numberOption('--seed', RANGES.seed, { describe }),
} as const;

/** The output: the document on stdout instead of the text report. */
export const outputOptions = {
  json: (describe: string) => ({ type: 'boolean', default: false, describe }) as const,
} as const;
