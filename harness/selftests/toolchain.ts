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
import { compareVersions, minToolVersion, parseVersion, toolVersion } from '../kernel-build/toolchain.js';

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

/** What a machine has of one clang-N: found on PATH, whatever else it lacks. */
export interface LlvmCandidate {
  major: number;
  /** From `clang-N --version`; undefined when it gave none. */
  version?: string;
  /** The llvm-N tools of TOOLS it lacks (llc-N, ...), in TOOLS' order. */
  missingTools: string[];
  /** ld.lld-N is there. */
  lld: boolean;
  /** llvm-config-N --includedir has llvm-c/Core.h (llvm-N-dev). */
  cHeaders: boolean;
}

/** What the selftests' build needs of a machine besides the kernel's tools: this one's, or a build host's (probeSelftestsHost). */
export interface SelftestsToolFacts {
  /** MAKEFILE_TOOLS it lacks. */
  missingTools: string[];
  /** Its clang-N, newest first. */
  candidates: LlvmCandidate[];
}

function makefileToolsRefusal(missing: readonly string[], there: string): string | undefined {
  return missing.length > 0 ? `the BPF selftests' Makefile needs ${missing.join(' and ')}: apt-get install ${missing.join(' ')}${there}` : undefined;
}

export function checkSelftestsHostTools(): void {
  const refused = makefileToolsRefusal(MAKEFILE_TOOLS.filter((t) => !which(t)), '');
  if (refused) throw new SetupError(refused);
}

async function hasLlvmCHeaders(llvmConfig: string): Promise<boolean> {
  try {
    const { stdout } = await execa(llvmConfig, ['--includedir'], { timeout: 10_000 });
    return existsSync(join(stdout.trim(), 'llvm-c', 'Core.h'));
  } catch {
    return false;
  }
}

/** This machine's clang-N, newest first, with what each lacks. */
async function localCandidates(): Promise<LlvmCandidate[]> {
  const out: LlvmCandidate[] = [];
  for (const major of CANDIDATE_MAJORS) {
    const clang = `clang-${major}`;
    if (!which(clang)) continue;
    out.push({
      major,
      version: await toolVersion(clang),
      missingTools: Object.values(TOOLS).map((t) => `${t}-${major}`).filter((t) => !which(t)),
      lld: which(`ld.lld-${major}`) !== undefined,
      cHeaders: await hasLlvmCHeaders(`llvm-config-${major}`),
    });
  }
  return out;
}

/**
 * The LLVM the selftests build with: the newest clang-N that meets `minimum`, with its tools,
 * or a SetupError naming the packages. `there`: ' there' when the machine is a build host (the
 * caller names it), '' for this one.
 */
export function pickSelftestsLlvm(candidates: readonly LlvmCandidate[], minimum: string, there = ''): SelftestsLlvm {
  const tooOld: string[] = [];
  for (const c of candidates) {
    const clang = `clang-${c.major}`;
    const major = c.major;
    const version = c.version;
    if (!version) continue;
    if (compareVersions(version, minimum) < 0) {
      tooOld.push(`${clang} ${version}`);
      continue;
    }
    const missing = c.missingTools;
    if (missing.length > 0) throw new SetupError(`${clang} is there but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not: apt-get install llvm-${major}${there}`);
    // liburandom_read.so (uprobe tests) links with -fuse-ld=lld: clang-N finds its own ld.lld.
    if (!c.lld) throw new SetupError(`${clang} is there but ld.lld-${major} is not (the selftests link liburandom_read.so with lld): apt-get install lld-${major}${there}`);
    // test_progs disassembles JIT code through LLVM's C API when llvm-config says LLVM is there.
    if (!c.cHeaders) throw new SetupError(`${clang} is there but not LLVM ${major}'s C headers (test_progs includes llvm-c/Core.h): apt-get install llvm-${major}-dev${there}`);
    const defaultCpu = major >= NO_MCPU_NEEDS_HELP_BELOW ? undefined : major >= CPUV4_MAJOR ? 'v4' : 'v3';
    const makeVars = Object.entries(TOOLS).map(([v, t]) => `${v}=${t}-${major}`);
    const cpuv4 = major >= CPUV4_MAJOR ? '' : `; below ${CPUV4_MAJOR}, the cpuv4 tests are not built`;
    const cpu = defaultCpu ? `; BPF code built with no -mcpu gets -mcpu=${defaultCpu}` : '';
    return { clang, version, makeVars, defaultCpu, minimum, note: `BPF selftests: ${clang} ${version} (the tree needs LLVM ${minimum}${cpuv4}${cpu})` };
  }
  const seen = tooOld.length ? ` (${tooOld.join(', ')} ${tooOld.length === 1 ? 'is' : 'are'} older)` : '';
  throw new SetupError(`the BPF selftests of this tree need clang and LLVM ${minimum} or newer${seen}: apt-get install clang-19 llvm-19 llvm-19-dev lld-19${there} (bookworm has 19)`);
}

export async function chooseSelftestsLlvm(tree: string): Promise<SelftestsLlvm> {
  return pickSelftestsLlvm(await localCandidates(), await selftestsLlvmMinimum(tree));
}

/** The tree's LLVM minimum (scripts/min-tool-version.sh), 15.0.0 when it names none. */
export async function selftestsLlvmMinimum(tree: string): Promise<string> {
  return (await minToolVersion(tree, 'llvm')) ?? '15.0.0';
}

/**
 * The shell that tells what a build host has of the selftests' tools: run there, its lines
 * parsed by parseSelftestsProbe() into the facts localCandidates() gathers here.
 */
export const SELFTESTS_PROBE_COMMAND = [
  `for n in ${CANDIDATE_MAJORS.join(' ')}; do`,
  '  command -v clang-$n >/dev/null 2>&1 || continue',
  '  echo "clang=$n $(clang-$n --version 2>/dev/null | head -n 1)"',
  `  for t in ${Object.values(TOOLS).join(' ')}; do command -v $t-$n >/dev/null 2>&1 || echo "clang-lacks=$n $t-$n"; done`,
  '  command -v ld.lld-$n >/dev/null 2>&1 && echo "clang-lld=$n"',
  '  d=$(llvm-config-$n --includedir 2>/dev/null) && [ -f "$d/llvm-c/Core.h" ] && echo "clang-headers=$n"',
  'done',
  `for t in ${MAKEFILE_TOOLS.join(' ')}; do command -v $t >/dev/null 2>&1 || echo "lacks=$t"; done`,
  'true',
].join('\n');

function setFlag(c: LlvmCandidate | undefined, flag: 'lld' | 'cHeaders'): void {
  if (c) c[flag] = true;
}

export function parseSelftestsProbe(stdout: string): SelftestsToolFacts {
  const facts: SelftestsToolFacts = { missingTools: [], candidates: [] };
  const of = (major: number): LlvmCandidate | undefined => facts.candidates.find((c) => c.major === major);
  for (const line of stdout.split('\n')) {
    const m = /^([\w-]+)=(\S+)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    const [, k, first, rest] = m;
    const major = Number(first);
    if (k === 'lacks') facts.missingTools.push(first!);
    else if (k === 'clang') facts.candidates.push({ major, version: parseVersion(rest ?? ''), missingTools: [], lld: false, cHeaders: false });
    else if (k === 'clang-lacks' && rest) of(major)?.missingTools.push(rest);
    else if (k === 'clang-lld') setFlag(of(major), 'lld');
    else if (k === 'clang-headers') setFlag(of(major), 'cHeaders');
  }
  return facts;
}

/** The LLVM a machine with `facts` builds the selftests of a tree needing `minimum` with, or the one line refusing it. */
export function selftestsLlvmFrom(facts: SelftestsToolFacts, minimum: string, there = ''): SelftestsLlvm {
  const refused = makefileToolsRefusal(facts.missingTools, there);
  if (refused) throw new SetupError(refused);
  return pickSelftestsLlvm(facts.candidates, minimum, there);
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
