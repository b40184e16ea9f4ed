/**
 * vm-test's first stage, prepare: the kernel (built first when it is a tree, kernel-build/),
 * the BPF selftests and test module it needs, the initramfs, the accelerator and the backend.
 * Bad input is refused here, before anything boots. Nothing runs in a guest yet.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertConfig } from '../kernel/config.js';
import type { KernelImage } from '../kernel/resolve.js';
import { defaultJobs } from '../kernel-build/kernel-build.js';
import { resolveAndBuildKernel, type ResolvedKernel } from '../kernel-build/tree-kernel.js';
import { isMultiThreadedTcg, type PreparedGuest } from '../backend/backend.js';
import { chooseLocalBackend } from '../backend/registry.js';
import { sshBackend } from '../backend/ssh.js';
import { buildSelftests, type BuiltSelftests } from '../selftests/build.js';
import { SELFTESTS_SUBDIR } from '../kernel-build/kconfig.js';
import { selftestsToolchain } from '../selftests/toolchain.js';
import { checkSelftestsBuildHost } from '../selftests/on-host.js';
import { selftestsGuestFiles } from '../selftests/guest-files.js';
import { isTargetSpec } from '../ssh/ssh.js';
import { SetupError } from '../util/errors.js';
import { chooseAccel } from '../vm/accel.js';
import { chooseChannel } from '../vm/channel.js';
import { buildGuestInitramfs } from '../vm/guest-image.js';
import { fileEntry } from '../vm/initramfs.js';
import { SHARE_NEEDS, type GuestSpec } from '../vm/qemu.js';
import { ensureTestModule, TESTMOD_GUEST_PATH } from '../vm/testmod.js';
import { prepareShellGuest, type ShellGuest } from '../vm/shell-guest.js';
import { STRAY_INT3_FAULT } from './guest-restart.js';
import type { VmTestOptions } from './options.js';

export interface Prepared {
  backend: PreparedGuest;
  /** The tree's selftests, built, when the run has them. */
  selftests?: BuiltSelftests;
  /** --shell-on-fail, `shell --after`: the guest's sshd, its keys and port (vm/shell-guest.ts). */
  shellGuest?: ShellGuest;
}

/** What is refused of an SSH target before connecting to it. */
export function checkTargetRequest(opts: VmTestOptions): void {
  if (!isTargetSpec(opts.kernel)) return;
  if (opts.selftests) throw new SetupError(`--with-selftests needs a kernel tree the harness builds and boots; it does not run on --target ${opts.kernel}`);
  // The kernel-log self-tests load a module, flood the log or panic the kernel: never on a machine that is not ours.
  if (opts.fault) throw new SetupError(`--inject-fault ${opts.fault} warns, floods, oopses or panics the kernel: it runs in a guest the harness boots, never on --target ${opts.kernel}`);
}

export async function prepare(opts: VmTestOptions, log: (line: string) => void, timings: Record<string, number>): Promise<Prepared> {
  checkTargetRequest(opts);
  if (isTargetSpec(opts.kernel)) return { backend: await sshBackend.prepare({ url: opts.kernel, ...opts.ssh, mirror: opts.mirror, bootDeadlineS: opts.bootDeadlineS }, log) };
  return prepareLocalGuest(opts, log, timings);
}

function kernelTag(k: KernelImage): string {
  return k.source === 'debian' ? k.spec.replace(':', '-') : k.release;
}

/** The kernel of a local guest: a tree resolveKernel says needs a build is built first (kernel-build/). */
async function kernelOf(opts: VmTestOptions, log: (line: string) => void): Promise<ResolvedKernel> {
  const given = opts.selftests?.build;
  const buildHost = opts.selftests?.buildHost;
  // Before the kernel's build, which takes most of an hour: the selftests' toolchain is there (here, or on the build host).
  if (opts.selftests && !given && existsSync(join(opts.kernel, SELFTESTS_SUBDIR, 'Makefile'))) {
    if (buildHost) await checkSelftestsBuildHost(buildHost, opts.kernel, log);
    else await selftestsToolchain(opts.kernel);
  }
  const resolved = await resolveAndBuildKernel(opts.kernel, { mirror: opts.mirror, log, ...(opts.selftests && !given ? { selftests: { debug: opts.selftests.debug } } : {}) }, given ? undefined : buildHost);
  return given ? { ...resolved, build: given } : resolved;
}

/**
 * --inject-fault stray-int3 tests the one restart a run makes, which only multi-threaded TCG
 * gets (guest-restart.ts): known once the accelerator is. With a shell it is refused by the
 * command, before anything is prepared.
 */
function strayInt3Refusal(opts: VmTestOptions, spec: Pick<GuestSpec, 'accel' | 'tcgThreads' | 'cpus'>): string | undefined {
  if (opts.fault !== STRAY_INT3_FAULT) return undefined;
  if (!isMultiThreadedTcg(spec)) return `--inject-fault ${STRAY_INT3_FAULT} needs multi-threaded TCG with 2 or more CPUs (${spec.accel}, ${spec.cpus} CPU${spec.cpus === 1 ? '' : 's'}${spec.tcgThreads ? ', one host thread' : ''} here), the only guest a stray int3 boots again: use --accel tcg --cpus 2`;
  return undefined;
}

/** The local guest: the kernel, the initramfs, QEMU or vng. Nothing boots until start(). */
async function prepareLocalGuest(opts: VmTestOptions, log: (line: string) => void, timings: Record<string, number>): Promise<Prepared> {
  const t0 = Date.now();
  const kernel = await kernelOf(opts, log);
  timings.kernelMs = Date.now() - t0;
  const channel = chooseChannel(kernel.config, opts.channel);
  assertConfig(kernel, [...channel.requires, ...(opts.selftests ? SHARE_NEEDS : [])]);
  log(`kernel ${kernel.spec}: ${kernel.release}; agent channel ${channel.kind} (${channel.why})`);

  const selftests = opts.selftests && kernel.build ? await buildSelftests({ tree: kernel.build.tree, kernel: kernel.build, jobs: defaultJobs(), log, ...(opts.selftests.buildHost ? { buildHost: opts.selftests.buildHost } : {}) }) : undefined;
  if (selftests) timings.selftestsBuildMs = selftests.elapsedMs;
  // The selftests come over 9p at the same path as on the host; their shared libraries ride in the initramfs.
  const chosen = await chooseLocalBackend(opts.backend ?? 'qemu', kernel.source, { mirror: opts.mirror, log });
  // vng boots the host's root, not our image: the module would be missing and insmod fail after the boot.
  const testmodFault = opts.fault === 'kernel-warn' || opts.fault === STRAY_INT3_FAULT ? opts.fault : undefined;
  if (testmodFault && chosen.backend.name === 'vng') throw new SetupError(`--inject-fault ${testmodFault} puts its test module into the harness's own guest image, which vng does not boot: use --backend qemu`);
  const testmod = testmodFault ? await ensureTestModule(kernel, { mirror: opts.mirror, log }) : undefined;
  if (testmod) timings.testModuleMs = testmod.elapsedMs;
  const extra = [...(selftests ? selftestsGuestFiles(selftests) : []), ...(testmod ? [fileEntry(TESTMOD_GUEST_PATH.slice(1), testmod.path, 0o644)] : [])];
  // A shell after a scenario reaches the guest through its sshd (docs/ARCHITECTURE.md): in our
  // initramfs under qemu, the host's own beside the agent under vng.
  const shellGuest = opts.shell ? await prepareShellGuest(kernel, extra, { mirror: opts.mirror, log, backend: chosen.backend.name === 'vng' ? 'vng' : 'qemu' }) : undefined;
  const image = shellGuest?.image !== undefined ? { path: shellGuest.image } : buildGuestInitramfs(extra);
  const shares = selftests ? [{ tag: 'bpfh.selftests', hostPath: selftests.dir, guestPath: selftests.dir }] : undefined;
  const spec = { bzImage: kernel.bzImage, initramfs: image.path, accel: 'tcg' as const, channel: channel.kind, cpus: opts.cpus, memoryMiB: opts.memoryMiB, shares };
  const accel = await chooseAccel(opts.accel, spec, log);
  // The KVM probe above boots without the shell's network: its forwarded port is the guest's.
  // Selftests alone under TCG: one host thread for the vCPUs (qemu.ts tcgThreads); test_progs ran
  // as fast (28 s with 2 CPUs multi-threaded, 31 s with 1 CPU), and no stray int3 kills the guest.
  const singleThread = accel.accel === 'tcg' && opts.noScenarios === true && selftests !== undefined && spec.cpus > 1;
  if (singleThread) log(`accel: TCG with one host thread for the ${spec.cpus} vCPUs (selftests alone: multi-threaded TCG can run a stale int3 of the programs' attach)`);
  const guest = { kernel, tag: kernelTag(kernel), spec: { ...spec, accel: accel.accel, ...(singleThread ? { tcgThreads: 'single' as const } : {}), ...(shellGuest ? { network: shellGuest.network, append: shellGuest.append } : {}) }, ...(shellGuest?.vngSshdDir ? { sshdDir: shellGuest.vngSshdDir } : {}) };
  const refused = chosen.backend.refusal(guest) ?? strayInt3Refusal(opts, guest.spec);
  if (refused) throw new SetupError(refused);
  if (chosen.backend.name !== 'qemu') log(`backend ${chosen.backend.name}: ${chosen.why}`);
  return { selftests, shellGuest, backend: await chosen.backend.prepare(guest, log) };
}
