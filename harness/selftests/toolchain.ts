/**
 * The LLVM the BPF selftests compile with: the newest versioned clang-N on PATH that meets the
 * tree's own minimum (scripts/min-tool-version.sh llvm), with the llvm-N tools of the same
 * version beside it. Versioned names on purpose: Debian's plain `clang` is often an older
 * default (bookworm's is 14, below 7.x kernels' 17.0.1).
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SetupError } from '../util/errors.js';
import { which } from '../util/which.js';
import { compareVersions, minToolVersion, toolVersion } from '../kernel-build/toolchain.js';

export interface SelftestsLlvm {
  /** 'clang-19' */
  clang: string;
  version: string;
  /** The make variables naming the LLVM tools the selftests Makefile calls, but CLANG. */
  makeVars: string[];
  /** The -mcpu a wrapper gives BPF compiles that set none (see NO_MCPU_NEEDS_HELP_BELOW), or undefined. */
  defaultCpu?: 'v3' | 'v4';
  /** The tree's minimum. */
  minimum: string;
  note: string;
}

/** Newest first. Debian ships clang-N for N in this range across its suites. */
const CANDIDATE_MAJORS = Array.from({ length: 12 }, (_, i) => 25 - i);
const TOOLS = { LLC: 'llc', LLVM_CONFIG: 'llvm-config', LLVM_OBJCOPY: 'llvm-objcopy', LLVM_STRIP: 'llvm-strip' } as const;
/** The tests of the cpuv4 ISA need clang 18 (the selftests Makefile's own test). */
const CPUV4_MAJOR = 18;
/**
 * Parts of newer trees are compiled with no -mcpu and rely on a newer LLVM than bookworm's:
 * 7.3's libarena uses 32-bit atomics (cpu v3; "unsupported atomic operation, please use 64 bit
 * version", then a crash in clang 19's backend) and signed division (v4; "unsupported signed
 * division"). Clangs before this major get -mcpu=v4 (v3 before 18, which has no v4) through a
 * wrapper, for BPF targets only (the same CLANG also compiles and probes for the host), put
 * first: every runner flavor that sets its own -mcpu (test_progs v3, no_alu32 v2, cpuv4 v4)
 * still wins, as the last -mcpu counts.
 */
const NO_MCPU_NEEDS_HELP_BELOW = 20;

/**
 * Host tools the selftests' Makefile calls besides the compilers: rsync copies the runners'
 * extra files (EXT-COPY, "make: rsync: No such file or directory" without it), pkg-config finds
 * their libraries. Checked before a build, in one line.
 */
const MAKEFILE_TOOLS = ['rsync', 'pkg-config'] as const;

export function checkSelftestsHostTools(): void {
  const missing = MAKEFILE_TOOLS.filter((t) => !which(t));
  if (missing.length > 0) throw new SetupError(`the BPF selftests' Makefile needs ${missing.join(' and ')}: apt-get install ${missing.join(' ')}`);
}

async function hasLlvmCHeaders(llvmConfig: string): Promise<boolean> {
  try {
    const { stdout } = await execa(llvmConfig, ['--includedir'], { timeout: 10_000 });
    return existsSync(join(stdout.trim(), 'llvm-c', 'Core.h'));
  } catch {
    return false;
  }
}

export async function chooseSelftestsLlvm(tree: string): Promise<SelftestsLlvm> {
  const minimum = (await minToolVersion(tree, 'llvm')) ?? '15.0.0';
  const tooOld: string[] = [];
  for (const major of CANDIDATE_MAJORS) {
    const clang = `clang-${major}`;
    if (!which(clang)) continue;
    const version = await toolVersion(clang);
    if (!version) continue;
    if (compareVersions(version, minimum) < 0) {
      tooOld.push(`${clang} ${version}`);
      continue;
    }
    const missing = Object.values(TOOLS).map((t) => `${t}-${major}`).filter((t) => !which(t));
    if (missing.length > 0) throw new SetupError(`${clang} is there but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not: apt-get install llvm-${major}`);
    // liburandom_read.so (uprobe tests) links with -fuse-ld=lld: clang-N finds its own ld.lld.
    if (!which(`ld.lld-${major}`)) throw new SetupError(`${clang} is there but ld.lld-${major} is not (the selftests link liburandom_read.so with lld): apt-get install lld-${major}`);
    // test_progs disassembles JIT code through LLVM's C API when llvm-config says LLVM is there.
    if (!(await hasLlvmCHeaders(`llvm-config-${major}`))) throw new SetupError(`${clang} is there but not LLVM ${major}'s C headers (test_progs includes llvm-c/Core.h): apt-get install llvm-${major}-dev`);
    const defaultCpu = major >= NO_MCPU_NEEDS_HELP_BELOW ? undefined : major >= CPUV4_MAJOR ? 'v4' : 'v3';
    const makeVars = Object.entries(TOOLS).map(([v, t]) => `${v}=${t}-${major}`);
    const cpuv4 = major >= CPUV4_MAJOR ? '' : `; below ${CPUV4_MAJOR}, the cpuv4 tests are not built`;
    const cpu = defaultCpu ? `; BPF code built with no -mcpu gets -mcpu=${defaultCpu}` : '';
    return { clang, version, makeVars, defaultCpu, minimum, note: `BPF selftests: ${clang} ${version} (the tree needs LLVM ${minimum}${cpuv4}${cpu})` };
  }
  const seen = tooOld.length ? ` (${tooOld.join(', ')} ${tooOld.length === 1 ? 'is' : 'are'} older)` : '';
  throw new SetupError(`the BPF selftests of this tree need clang and LLVM ${minimum} or newer${seen}: apt-get install clang-19 llvm-19 llvm-19-dev lld-19 (bookworm has 19)`);
}

/**
 * The CLANG= for make: the clang itself, or for an older one a wrapper at `path` that puts
 * -mcpu=<defaultCpu> first when it compiles for a BPF target.
 */
export function clangCommand(llvm: SelftestsLlvm, path: string): string {
  if (!llvm.defaultCpu) return llvm.clang;
  writeFileSync(
    path,
    `#!/bin/sh
# bpf-harness: ${llvm.clang}, with -mcpu=${llvm.defaultCpu} first for BPF targets (a later -mcpu wins); see harness/selftests/toolchain.ts.
prev=
for a in "$@"; do
	case "$a" in
	--target=bpf*) exec ${llvm.clang} -mcpu=${llvm.defaultCpu} "$@" ;;
	bpf | bpfel | bpfeb) [ "$prev" = -target ] && exec ${llvm.clang} -mcpu=${llvm.defaultCpu} "$@" ;;
	esac
	prev="$a"
done
exec ${llvm.clang} "$@"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * What the selftests' build needs of this machine (the Makefile's tools and the LLVM it compiles
 * with), also checked before the kernel is built: that build takes most of an hour here, and a
 * missing clang-19 or rsync found only after it wasted it.
 */
export async function selftestsToolchain(tree: string): Promise<SelftestsLlvm> {
  checkSelftestsHostTools();
  return chooseSelftestsLlvm(tree);
}
