/**
 * The agent and objects for a machine's architecture, ready to upload. x86_64's are setup.sh's
 * (make -C bpf); aarch64's are cross-built here on first need (make -C bpf AGENT_ARCH=aarch64,
 * incremental: a no-op when nothing changed) with the host's aarch64-linux-gnu-gcc and Debian's
 * arm64 static libraries (libs.ts). Once per process and architecture: several aarch64
 * targets at once share one make.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SetupError } from '../util/errors.js';
import { firstLine } from '../util/first-line.js';
import { projectRoot } from '../util/paths.js';
import { which } from '../util/which.js';
import { agentBuildDir, type AgentArch } from './arch.js';
import { arm64CrossLibs, type DebOpts } from './libs.js';

export const CROSS_CC = 'aarch64-linux-gnu-gcc';
/** What to do when the cross compiler is missing: one line, the fix in it. */
export const CROSS_FIX = 'apt-get install gcc-aarch64-linux-gnu (or BPF_HARNESS_SETUP_ARM64=1 npm run setup)';
const MAKE_TIMEOUT_MS = 300_000;

const builds = new Map<AgentArch, Promise<string>>();

/** The directory holding bpf-agent and the *.bpf.o of `arch`, built first when it is aarch64. */
export function agentBuildFor(arch: AgentArch, opts: DebOpts & { why: string }): Promise<string> {
  let p = builds.get(arch);
  if (!p) {
    p = build(arch, opts);
    builds.set(arch, p);
    // A failed build is tried again by the next caller (the tools may have been installed meanwhile).
    p.catch(() => builds.delete(arch));
  }
  return p;
}

async function build(arch: AgentArch, opts: DebOpts & { why: string }): Promise<string> {
  const dir = agentBuildDir(arch);
  if (arch === 'x86_64') {
    checkBuilt(dir, 'make -C bpf (npm run setup does)');
    return dir;
  }
  if (which(CROSS_CC) === undefined) throw new SetupError(`${opts.why} is aarch64: its agent is cross-built with ${CROSS_CC}, which is not installed: ${CROSS_FIX}`);
  const libs = await arm64CrossLibs(opts);
  const t0 = Date.now();
  const r = await execa('make', ['-s', '-C', join(projectRoot, 'bpf'), 'AGENT_ARCH=aarch64', `CROSS_LIBS=${libs}`], { timeout: MAKE_TIMEOUT_MS, reject: false, stdin: 'ignore', all: true });
  if (r.failed) {
    const why = r.timedOut ? `did not finish within ${MAKE_TIMEOUT_MS / 1000} s` : firstLine(String(r.all), /error|Error/) || `exit ${r.exitCode}`;
    throw new SetupError(`${opts.why}: building the aarch64 agent failed (make -C bpf AGENT_ARCH=aarch64 CROSS_LIBS=${libs}): ${why}`);
  }
  checkBuilt(dir, `make -C bpf AGENT_ARCH=aarch64 CROSS_LIBS=${libs}`);
  opts.log(`aarch64 agent and objects ready in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return dir;
}

function checkBuilt(dir: string, how: string): void {
  if (!existsSync(join(dir, 'bpf-agent'))) throw new SetupError(`${join(dir, 'bpf-agent')} is missing: build it with ${how}`);
  if (!readdirSync(dir).some((f) => f.endsWith('.bpf.o'))) throw new SetupError(`no BPF objects in ${dir}: build them with ${how}`);
}
