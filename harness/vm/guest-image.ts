/**
 * What the guest runs: busybox (static, for the init script's tools), vm/init.sh as /init, the
 * static agent and the BPF objects. The initramfs is cached by content, so an unchanged agent
 * and init reuse the same image.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../util/errors.js';
import { firstLine } from '../util/first-line.js';
import { bpfBuildDir, cacheDir, vmDir } from '../util/paths.js';
import { cachedInitramfs, fileEntry, type CpioEntry } from './initramfs.js';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

function staticBusybox(): string {
  const found = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!found) throw new SetupError('no busybox found: install busybox-static (apt-get install busybox-static)');
  return found;
}

/**
 * `of`: another architecture's agent build and busybox (the arm64 guest, ssh-guest.ts); the
 * host's (bpf/build/ and its busybox-static) by default.
 */
export function guestEntries(of?: { buildDir: string; busybox: string }): CpioEntry[] {
  const buildDir = of?.buildDir ?? bpfBuildDir;
  const agent = join(buildDir, 'bpf-agent');
  if (!existsSync(agent)) throw new SetupError(`${agent} is missing: build it with 'make -C bpf' (npm run setup does)`);
  const objects = readdirSync(buildDir).filter((f) => f.endsWith('.bpf.o'));
  if (objects.length === 0) throw new SetupError(`no BPF objects in ${buildDir}: build them with 'make -C bpf'`);
  return [
    fileEntry('init', join(vmDir, 'init.sh')),
    fileEntry('bin/busybox', of?.busybox ?? staticBusybox()),
    fileEntry('bin/bpf-agent', agent),
    ...objects.map((o) => fileEntry(`bpf/${o}`, join(buildDir, o), 0o644)),
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    { path: 'dev/console', type: 'chardev', mode: 0o600, rdev: { major: 5, minor: 1 } },
    { path: 'sys/fs/cgroup', type: 'dir', mode: 0o755 },
    { path: 'sys/fs/bpf', type: 'dir', mode: 0o755 },
  ];
}

/**
 * `extra`: more files, such as the shared libraries of the BPF selftests' runners (which
 * themselves come over a 9p share, see GuestShare).
 */
export function buildGuestInitramfs(extra: readonly CpioEntry[] = []): { path: string; hash: string; reused: boolean } {
  const entries = guestEntries();
  const have = new Set(entries.map((e) => e.path));
  return cachedInitramfs([...entries, ...extra.filter((e) => !have.has(e.path))], join(cacheDir(), 'initramfs'));
}

/**
 * The dynamic loader and shared libraries `ldd` names in its output, as absolute paths.
 * Lines look like `libelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x...)` and
 * `/lib64/ld-linux-x86-64.so.2 (0x...)`; `linux-vdso.so.1 (0x...)` has no file.
 */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /=>\s*(\/\S+)\s+\(0x/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}

/**
 * Initramfs entries for what dynamically linked host programs need to start in the guest:
 * each library at the path the loader looks it up by, holding the file it resolves to.
 */
export function sharedLibraryEntries(binaries: readonly string[]): CpioEntry[] {
  const paths = new Set<string>();
  for (const bin of binaries) {
    const r = spawnSync('ldd', [bin], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error || r.status !== 0) {
      const why = r.error?.message ?? (firstLine(r.stderr || r.stdout) || `exit ${r.status}`);
      throw new SetupError(`ldd ${bin} failed (${why}): is it a dynamically linked program of this machine? (ldd comes with libc-bin)`);
    }
    // A library or symbol version this machine lacks (a runner linked on a newer build host):
    // the guest gets this machine's libraries, so it would die in the loader, after the boot.
    const lacking = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /not found/.test(l)).map((l) => l.trim());
    if (lacking.length > 0) throw new SetupError(`${bin} cannot start with this machine's libraries, which the guest gets: ${lacking.join('; ')}: install what it lacks here, or build it here or on a build host of this machine's release`);
    for (const p of parseLdd(r.stdout)) paths.add(p);
  }
  return [...paths].map((p) => fileEntry(p.slice(1), realpathSync(p)));
}
