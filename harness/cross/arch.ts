/**
 * Which build of the agent and BPF objects a machine needs, by its `uname -m`: x86_64 gets
 * bpf/build/ (what setup.sh builds), aarch64 bpf/build/aarch64/ (cross-built on demand,
 * build.ts). Every other architecture is refused: nothing is built or proven for it.
 */
import { join } from 'node:path';
import { bpfBuildDir } from '../util/paths.js';

export type AgentArch = 'x86_64' | 'aarch64';

/** The architectures the agent is built and proven for, as `uname -m` prints them. */
export const AGENT_ARCHES: readonly AgentArch[] = ['x86_64', 'aarch64'];

/** The agent's architecture for a machine's `uname -m`; undefined when there is no build for it. */
export function agentArchOf(unameM: string): AgentArch | undefined {
  return AGENT_ARCHES.find((a) => a === unameM);
}

/** Where the agent and objects of `arch` are: bpf/build/ for x86_64, bpf/build/<arch>/ else. */
export function agentBuildDir(arch: AgentArch): string {
  return arch === 'x86_64' ? bpfBuildDir : join(bpfBuildDir, arch);
}

/** Debian's name of the architecture (its packages, its kernels). */
export function debianArchOf(arch: AgentArch): 'amd64' | 'arm64' {
  return arch === 'x86_64' ? 'amd64' : 'arm64';
}
