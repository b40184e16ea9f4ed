/**
 * The LLVM the BPF selftests compile with: the newest versioned clang-N on PATH that meets the
 * tree's own minimum (scripts/min-tool-version.sh llvm), with the llvm-N tools of the same
 * version beside it. Versioned names on purpose: Debian's plain `clang` is often an older
 * default (bookworm's is 14, below 7.x kernels' 17.0.1).
 */
import { SetupError } from '../util/errors.js';
import { which } from '../kernel/apt.js';
import { compareVersions, minToolVersion, toolVersion } from '../build/toolchain.js';

export interface SelftestsLlvm {
  /** 'clang-19' */
  clang: string;
  version: string;
  /** The make variables naming every LLVM tool the selftests Makefile calls. */
  makeVars: string[];
  /** The tree's minimum. */
  minimum: string;
  note: string;
}

/** Newest first. Debian ships clang-N for N in this range across its suites. */
const CANDIDATE_MAJORS = Array.from({ length: 12 }, (_, i) => 25 - i);
const TOOLS = { LLC: 'llc', LLVM_CONFIG: 'llvm-config', LLVM_OBJCOPY: 'llvm-objcopy', LLVM_STRIP: 'llvm-strip' } as const;
/** The tests of the cpuv4 ISA need clang 18 (the selftests Makefile's own test). */
const CPUV4_MAJOR = 18;

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
    const makeVars = [`CLANG=${clang}`, ...Object.entries(TOOLS).map(([v, t]) => `${v}=${t}-${major}`)];
    const cpuv4 = major >= CPUV4_MAJOR ? '' : `; below ${CPUV4_MAJOR}, the cpuv4 tests are not built`;
    return { clang, version, makeVars, minimum, note: `BPF selftests: ${clang} ${version} (the tree needs LLVM ${minimum}${cpuv4})` };
  }
  const seen = tooOld.length ? ` (${tooOld.join(', ')} ${tooOld.length === 1 ? 'is' : 'are'} older)` : '';
  throw new SetupError(`the BPF selftests of this tree need clang and LLVM ${minimum} or newer${seen}: apt-get install clang-19 llvm-19 (bookworm has 19)`);
}
