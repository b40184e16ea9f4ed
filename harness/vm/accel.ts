/**
 * KVM or TCG. /dev/kvm existing proves nothing: on some hosts KVM dies in the guest's
 * decompressor ("KVM internal error"), hangs without a line, or aborts on an MSR. So the only
 * test is booting the real guest under KVM to the init marker within a short deadline. The
 * answer is cached per host, QEMU and kernel image for a day; a failed probe means TCG, said in
 * one line.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { cacheDir } from '../util/paths.js';
import { sleep } from '../util/deadline.js';
import { SetupError } from '../util/errors.js';
import { firstLine } from '../util/first-line.js';
import { ConsoleMonitor } from './console.js';
import { startGuest, type Accel, type GuestSpec } from './qemu.js';

/** Printed by vm/init.sh once userspace runs: the probe's proof that the guest booted. */
export const INIT_MARKER = 'bpfh: init ready';
const PROBE_DEADLINE_MS = 15_000;
const CACHE_TTL_MS = 24 * 3600 * 1000;

export type AccelRequest = Accel | 'auto';

export interface AccelChoice {
  accel: Accel;
  why: string;
}

interface ProbeRecord {
  key: string;
  usable: boolean;
  why: string;
  at: number;
}

function probeKey(spec: GuestSpec): string {
  const st = statSync(spec.bzImage);
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown cpu';
  return [hostname(), release(), cpu, 'qemu', spec.bzImage, st.size, st.mtimeMs].join('|');
}

function kvmDeviceProblem(): string | null {
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return null;
  } catch {
    return '/dev/kvm is not accessible (add the user to the kvm group)';
  }
}

/** Boots the guest under KVM until the init marker, a fatal line or the deadline. */
export async function probeKvm(spec: GuestSpec): Promise<{ usable: boolean; why: string }> {
  const monitor = new ConsoleMonitor();
  let guest;
  try {
    guest = await startGuest({ ...spec, accel: 'kvm' }, (text) => monitor.push(text), { connectDeadlineMs: PROBE_DEADLINE_MS });
  } catch (err) {
    if (err instanceof SetupError) throw err;
    return { usable: false, why: `QEMU could not start with KVM: ${firstLine(monitor.all) || String(err)}` };
  }
  let exited = false;
  void guest.exited.then(() => (exited = true));
  const deadline = Date.now() + PROBE_DEADLINE_MS;
  try {
    while (Date.now() < deadline) {
      if (monitor.includes(INIT_MARKER)) return { usable: true, why: 'a KVM guest booted to init' };
      const internal = /KVM internal error.*|kvm run failed.*|error: failed to set MSR.*/i.exec(monitor.all);
      if (internal) return { usable: false, why: internal[0].trim() };
      if (exited) return { usable: false, why: `QEMU exited during the KVM boot: ${firstLine(monitor.tail(3))}` };
      await sleep(100);
    }
    return { usable: false, why: `a KVM guest printed no init marker within ${PROBE_DEADLINE_MS / 1000} s` };
  } finally {
    guest.kill();
  }
}

export async function chooseAccel(request: AccelRequest, spec: GuestSpec, log: (line: string) => void): Promise<AccelChoice> {
  if (request === 'tcg') return { accel: 'tcg', why: 'asked for with --accel tcg' };
  const deviceProblem = kvmDeviceProblem();
  if (deviceProblem) {
    if (request === 'kvm') throw new SetupError(`KVM unusable: ${deviceProblem}; run with --accel tcg`);
    log(`accel: TCG (${deviceProblem})`);
    return { accel: 'tcg', why: deviceProblem };
  }
  const cacheFile = join(cacheDir(), 'kvm-probe.json');
  const key = probeKey(spec);
  // One record per host/QEMU/kernel image: runs alternating kernels must not re-probe.
  let records: ProbeRecord[] = [];
  try {
    const parsed: unknown = JSON.parse(readFileSync(cacheFile, 'utf8'));
    if (Array.isArray(parsed)) records = (parsed as ProbeRecord[]).filter((r) => Date.now() - r.at < CACHE_TTL_MS);
  } catch {
    records = [];
  }
  let record = records.find((r) => r.key === key) ?? null;
  if (!record) {
    const result = await probeKvm(spec);
    record = { key, ...result, at: Date.now() };
    mkdirSync(cacheDir(), { recursive: true });
    writeFileSync(cacheFile, JSON.stringify([...records, record], null, 2));
  }
  if (record.usable) return { accel: 'kvm', why: record.why };
  if (request === 'kvm') throw new SetupError(`KVM unusable: ${record.why}; run with --accel tcg`);
  log(`accel: KVM unusable here (${record.why}); falling back to TCG, which is slower`);
  return { accel: 'tcg', why: `KVM unusable: ${record.why}` };
}
