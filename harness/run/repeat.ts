/**
 * The "repeat with" line: the options of a run written back as the command that replays it.
 * One serializer for vm-test, vm-test --kernels and selftests, so none of them forgets an
 * option: every option that changes what runs or how it is judged is written when it differs
 * from the command's default, and the guest's size always (it sets the memcg tolerance).
 */
import { faultArgs, type FaultRequest } from '../scenarios/faults.js';
import type { SizeLevel } from '../scenarios/types.js';
import { testProgsArgs, type Selection } from '../selftests/selection.js';

/** The part of vm-test's selftests request a repeat line needs. */
interface RepeatableSelftests {
  user: Partial<Selection>;
  deadlineMin: number;
  debug?: boolean;
  lists?: { deny?: string[]; allow?: string[] };
  /** --build-host: replayed, or the repeat would build here what was built there (an hour on a small machine). */
  buildHost?: { url: string; identity?: string; knownHosts?: string };
}

/** vm-test's defaults, shared with the command line so the two cannot drift apart. */
export const VM_TEST_DEFAULTS = {
  sizes: 'default' as SizeLevel,
  accel: 'auto',
  backend: 'qemu',
  cpus: 2,
  memoryMiB: 2048,
  bootDeadlineS: 180,
  settleDeadlineS: 30,
  selftestsDeadlineMin: 30,
  /** selftests and bisect boot kernels built with the selftests' or the debug config: slower. */
  builtKernelBootDeadlineS: 300,
} as const;

/** What a repeat line is made from: the options both vmTest and multiKernelTest take. */
export interface RepeatableOptions {
  mirror?: string;
  scenarios?: string[];
  sizes: SizeLevel;
  seed: number;
  accel: string;
  channel?: string;
  cpus: number;
  memoryMiB: number;
  bootDeadlineS: number;
  settleDeadlineS: number;
  /** The run-wide (kernel-log) fault. */
  fault?: string;
  /** The scenarios' faults. */
  faults?: FaultRequest[];
  backend?: string;
  overrides?: Record<string, number>;
  selftests?: RepeatableSelftests;
  noScenarios?: boolean;
  requireRace?: boolean;
  /** SSH targets' --identity and --known-hosts. */
  ssh?: { identity?: string; knownHosts?: string };
}

/** Single-quoted for a POSIX shell when the word needs it (globs, spaces, quotes). */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function unlessDefault(flag: string, value: string | number | undefined, def: string | number | undefined): string[] {
  return value === undefined || value === def ? [] : [flag, String(value)];
}

/**
 * The guest the harness boots: shared by vm-test and selftests. An SSH target boots nothing,
 * so a line of targets alone leaves these out (and the channel: a target's is its SSH session).
 */
function guestArgs(o: RepeatableOptions): string[] {
  return [
    '--cpus', String(o.cpus),
    '--memory', String(o.memoryMiB),
    ...unlessDefault('--accel', o.accel, VM_TEST_DEFAULTS.accel),
    ...unlessDefault('--backend', o.backend, VM_TEST_DEFAULTS.backend),
    ...unlessDefault('--mirror', o.mirror, undefined),
  ];
}

function selftestsRunnerArgs(o: RepeatableOptions): string[] {
  const lists = o.selftests?.lists;
  return [
    ...unlessDefault(o.noScenarios ? '--deadline' : '--selftests-deadline', o.selftests?.deadlineMin, VM_TEST_DEFAULTS.selftestsDeadlineMin),
    ...(lists?.deny ?? []).flatMap((f) => ['--denylist', f]),
    ...(lists?.allow ?? []).flatMap((f) => ['--allowlist', f]),
  ];
}

/** `bpf-harness selftests` takes no scenario options. */
function selftestsCommand(kernel: string, o: RepeatableOptions, s: RepeatableSelftests): string[] {
  const user = { names: s.user.names ?? [], allow: s.user.allow ?? [], deny: s.user.deny ?? [] };
  return [
    'npx', 'bpf-harness', 'selftests', '--kernel', kernel,
    ...(s.debug ? ['--debug'] : []),
    ...testProgsArgs(user),
    ...guestArgs(o),
    ...unlessDefault('--boot-deadline', o.bootDeadlineS, VM_TEST_DEFAULTS.builtKernelBootDeadlineS),
    ...selftestsRunnerArgs(o),
    ...(s.buildHost ? ['--build-host', s.buildHost.url, ...unlessDefault('--identity', s.buildHost.identity, undefined), ...unlessDefault('--known-hosts', s.buildHost.knownHosts, undefined)] : []),
  ];
}

/** `--kernel K` for one kernel, `--kernels A,B` for several. */
export function repeatCommand(kernels: readonly string[], o: RepeatableOptions): string {
  if (o.noScenarios && o.selftests) return selftestsCommand(kernels[0] ?? '', o, o.selftests).map(shellWord).join(' ');
  // SSH targets (ssh://...) run in the list like kernels and are written back as --target.
  const targets = kernels.filter((k) => k.startsWith('ssh://'));
  const local = kernels.filter((k) => !k.startsWith('ssh://'));
  const kernelArgs = [
    ...(local.length === 1 ? ['--kernel', local[0]!] : local.length > 1 ? ['--kernels', local.join(',')] : []),
    ...targets.flatMap((t) => ['--target', t]),
    ...(targets.length ? [...unlessDefault('--identity', o.ssh?.identity, undefined), ...unlessDefault('--known-hosts', o.ssh?.knownHosts, undefined)] : []),
  ];
  const words = [
    'npm', 'run', 'vm-test', '--', ...kernelArgs,
    '--sizes', o.sizes,
    '--seed', String(o.seed),
    ...(o.scenarios ?? []).flatMap((s) => ['--scenario', s]),
    ...(local.length ? [...guestArgs(o), ...unlessDefault('--channel', o.channel, undefined)] : []),
    ...unlessDefault('--boot-deadline', o.bootDeadlineS, VM_TEST_DEFAULTS.bootDeadlineS),
    ...unlessDefault('--settle-deadline', o.settleDeadlineS, VM_TEST_DEFAULTS.settleDeadlineS),
    ...Object.entries(o.overrides ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ...(o.selftests ? ['--with-selftests', ...(o.selftests.user.names ?? []).flatMap((n) => ['--selftest', n]), ...selftestsRunnerArgs(o)] : []),
    ...faultArgs(o.faults),
    ...(o.fault ? ['--inject-fault', o.fault] : []),
    ...(o.requireRace ? ['--require-race'] : []),
  ];
  return words.map(shellWord).join(' ');
}
