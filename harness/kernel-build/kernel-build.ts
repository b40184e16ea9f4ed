/**
 * `bpf-harness kernel build`: a bzImage from a kernel source tree, built out of tree (O=) into
 * a directory keyed by the tree, with the harness's config fragments merged and checked. The
 * build key (build-key.ts) decides whether anything needs doing: an unchanged input returns at
 * once, a changed one rebuilds incrementally in the same directory.
 *
 * The parts: stamp.ts (the stamp and the output directory), configure.ts (fragments, merge,
 * check), lock.ts (one build per directory), make.ts (make in its process group),
 * tree-kernel.ts (a tree given as --kernel, built first).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { BuildHost, BuildHostChoice } from '../build-host/build-host.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { cacheDir } from '../util/paths.js';
import { buildKey, sameBuild, sha256, treeState, type BuildKeyInputs } from './build-key.js';
import { ccacheCounts, ccacheSetup, describeCounts, writeCompilerLinks } from './ccache.js';
import { configureTree, readFragment, selftestsFragments, type Fragment } from './configure.js';
import { fragmentPaths, selftestsBuiltInPlace } from './kconfig.js';
import { lockOutDir } from './lock.js';
import { fmtElapsed, runMake } from './make.js';
import { HOST_ARTIFACTS, HOST_KERNEL_KEY, openBuildHost, SELFTESTS_HOST_ARTIFACTS } from './on-host.js';
import { applyPatches, readPatchFiles } from './patches.js';
import { defaultOutDir, readStamp, STAMP, writeStamp, type BuildStamp } from './stamp.js';
import { chooseToolchain, writePaholeWrapper, type Toolchain } from './toolchain.js';

export interface KernelBuildOptions {
  tree: string;
  debug: boolean;
  patches: string[];
  /**
   * Merge the tree's BPF selftests fragments over ours and build the modules too (the
   * selftests' test_kmods need the build's Module.symvers): the kernel `bpf-harness selftests` boots.
   */
  selftests?: boolean;
  /** make -j; default min(2, CPUs): builds share the machine. */
  jobs?: number;
  /** O= directory; default cacheDir()/builds/<tree name>-<hash of its path>. */
  out?: string;
  /** Starting config instead of defconfig + kvm_guest.config. */
  config?: string;
  mirror?: string;
  /** Minutes make may run. */
  deadlineMin?: number;
  /** --build-host: make runs there (build-host/), the artifacts come back into `out`. */
  buildHost?: BuildHostChoice;
  log: (line: string) => void;
}

export interface BuiltKernel {
  tree: string;
  /** The directory make ran in: the tree, or the patch worktree. */
  source: string;
  outDir: string;
  bzImage: string;
  configPath: string;
  key: string;
  reused: boolean;
  elapsedMs: number;
  logPath: string;
  toolchain?: Toolchain;
}


const DEFAULT_DEADLINE_MIN = 240;

export function defaultJobs(): number {
  return Math.max(1, Math.min(2, availableParallelism()));
}


/** Refuse what make would refuse later, with the fix. */
export function checkTree(tree: string): void {
  if (!existsSync(join(tree, 'Makefile')) || !existsSync(join(tree, 'Kconfig')) || !existsSync(join(tree, 'arch', 'x86'))) {
    throw new SetupError(`${tree} is not a kernel source tree (no Makefile, Kconfig and arch/x86): give the top directory of a Linux tree`);
  }
  const inTree = ['.config', 'include/config', 'arch/x86/include/generated'].filter((p) => existsSync(join(tree, p)));
  if (inTree.length > 0) {
    throw new SetupError(
      `${tree} has an in-tree build (${inTree.join(', ')}), and out-of-tree (O=) builds need a clean source: save its .config, run make -C ${tree} mrproper, and pass the saved file with --config`,
    );
  }
}

export async function buildKernel(opts: KernelBuildOptions): Promise<BuiltKernel> {
  const t0 = Date.now();
  const log = (line: string): void => opts.log(`kernel build: ${line}`);
  const tree = resolve(opts.tree);
  checkTree(tree);
  if (opts.jobs !== undefined && (!Number.isInteger(opts.jobs) || opts.jobs < 1)) throw new SetupError(`--jobs ${opts.jobs}: give a whole number of parallel jobs, 1 or more`);
  const patchFiles = opts.patches.map((p) => resolve(p));
  const patches = readPatchFiles(patchFiles);
  const outDir = resolve(opts.out ?? defaultOutDir(tree, patchFiles.length > 0, opts.selftests));
  if (outDir === tree || outDir.startsWith(`${tree}/`)) throw new SetupError(`--out ${outDir} is inside the source tree: give a directory outside it`);
  mkdirSync(outDir, { recursive: true });
  const logPath = join(outDir, 'build.log');
  const bzImage = join(outDir, 'arch', 'x86', 'boot', 'bzImage');
  const configPath = join(outDir, '.config');

  const fragments = [...fragmentPaths(opts.debug).map((p) => readFragment(p, basename(p), true)), ...(opts.selftests ? selftestsFragments(tree) : [])];
  const target = opts.selftests ? 'all' : 'bzImage';
  let startConfig = 'defconfig+kvm_guest.config';
  if (opts.config) {
    try {
      startConfig = sha256(readFileSync(resolve(opts.config)));
    } catch {
      throw new SetupError(`--config ${opts.config} cannot be read: give the path of a kernel .config`);
    }
  }
  const needPahole = fragments.some((f) => f.options.get('CONFIG_DEBUG_INFO_BTF') === 'y');
  const remote = opts.buildHost ? await openBuildHost(opts.buildHost, tree, needPahole, opts.log) : undefined;
  const closeHost = (): void => remote?.host.close();
  // A build host brings its cores: make -j as many as it has.
  const jobs = opts.jobs ?? remote?.host.facts.nproc ?? defaultJobs();
  const toolchain = remote?.toolchain ?? (await chooseToolchain(tree, needPahole, { mirror: opts.mirror, log }));
  const state = await treeState(tree).catch((err: unknown) => {
    closeHost();
    throw err;
  });
  const inputs: BuildKeyInputs = {
    tree: state,
    patches: patches.map((p) => p.sha256),
    fragments: fragments.map((f) => ({ name: f.name, sha256: sha256(f.text) })),
    startConfig,
    compiler: toolchain.compiler,
    pahole: toolchain.pahole,
    target,
  };
  const key = buildKey(inputs);
  const stamp = readStamp(outDir);
  if (stamp && (stamp.key === key || sameBuild(stamp.inputs, inputs)) && existsSync(bzImage) && existsSync(configPath)) {
    closeHost();
    log(`up to date (key ${stamp.key.slice(0, 12)}${stamp.key === key ? '' : `: built with pahole ${stamp.inputs.pahole}, the same version`}): ${bzImage}`);
    // The build's own key and tools: what is built on it (the selftests) is keyed by them.
    return { tree, source: stamp.source, outDir, bzImage, configPath, key: stamp.key, reused: true, elapsedMs: Date.now() - t0, logPath, toolchain: { ...toolchain, compiler: stamp.inputs.compiler, pahole: stamp.inputs.pahole } };
  }
  let unlock = (): void => {};
  try {
    unlock = lockOutDir(outDir);
    return await doBuild();
  } finally {
    unlock();
    closeHost();
  }

  async function doBuild(): Promise<BuiltKernel> {
    log(toolchain.note);
    // A build that stops half-way must not leave the old key claiming the new tree's objects.
    rmSync(join(outDir, STAMP), { force: true });
    const flavor = `${opts.debug ? 'debug' : 'base'}${opts.selftests ? ' + BPF selftests' : ''}`;
    log(`${stamp ? `inputs changed since the build of ${stamp.finishedAt}: rebuilding incrementally` : 'first build'} in ${outDir} (${flavor} config, -j${jobs}${remote ? ` on ${remote.host.url}` : ''}, log ${logPath})`);
    writeFileSync(logPath, `# bpf-harness kernel build ${new Date().toISOString()}\n# tree ${tree} (${state.kind}${state.commit ? ` ${state.commit}` : ''}${state.dirty ? ', uncommitted changes' : ''})\n# key ${key}\n`);

    let source = tree;
    if (patchFiles.length > 0) {
      const wt = join(cacheDir(), 'worktrees', basename(outDir));
      const p = await applyPatches(tree, patchFiles, wt, log);
      source = p.dir;
      appendFileSync(logPath, `# patched worktree ${p.dir} branch ${p.branch} at ${p.head}\n${p.applied.map((a) => `#   ${a.subject}\n`).join('')}`);
    }

    const makeVars = [`O=${outDir}`, ...(toolchain.buildRoot ? [`PAHOLE=${writePaholeWrapper(join(outDir, 'bpfh-pahole'), toolchain.buildRoot, [...new Set([tree, source, outDir])])}`] : [])];
    const deadlineMs = (opts.deadlineMin ?? DEFAULT_DEADLINE_MIN) * 60_000;
    const host = remote?.host;
    if (host) await sendToHost(host, source, outDir, fragments, deadlineMs);
    // The host's build directory stops claiming a kernel until this build is whole (selftests/on-host.ts).
    const hostKeyFile = host && opts.selftests ? `${host.toRemote(outDir)}/${HOST_KERNEL_KEY}` : undefined;
    if (host && hostKeyFile) await host.writeFile(hostKeyFile, '');

    log('step config: merging ' + fragments.map((f) => f.name).join(' + '));
    await configureTree({ source, makeVars, configPath, outDir, fragments, logPath, log, startConfig: opts.config, host });

    // ccache through gcc links on make's PATH: same commands, same config, same key (ccache.ts).
    const ccache = host ? undefined : ccacheSetup({ source, outDir, cacheRoot: cacheDir(), env: process.env });
    if (ccache) writeCompilerLinks(ccache);
    const ccacheBefore = ccache ? await ccacheCounts(ccache) : undefined;
    log(`step make: ${target} -j${jobs}${ccache ? `, ccache ${ccache.dir}` : ''}`);
    const tMake = Date.now();
    await runMake(source, [...makeVars, target], { logPath, deadlineMs, log, jobs, quiet: false, env: ccache?.env, host });
    if (host) {
      const got = await host.fetch(outDir, [...HOST_ARTIFACTS, ...(opts.selftests ? SELFTESTS_HOST_ARTIFACTS : [])], deadlineMs);
      log(`fetched ${got.files.join(', ')} from ${host.url} in ${(got.ms / 1000).toFixed(1)} s (${(got.wireBytes / 2 ** 20).toFixed(1)} MiB)`);
      // Its headers, scripts and modpost output stay there, for the selftests' build there.
      if (hostKeyFile) await host.writeFile(hostKeyFile, `${key}\n`);
    }
    if (ccache) log(describeCounts(ccacheBefore, await ccacheCounts(ccache), ccache.dir));
    if (!existsSync(bzImage)) throw new HarnessError(`make finished but ${bzImage} is missing; see ${logPath}`, 1);
    const newStamp: BuildStamp = {
      key,
      tree,
      source,
      options: { debug: opts.debug, patches: patchFiles, ...(opts.config ? { config: resolve(opts.config) } : {}), ...(opts.selftests ? { selftests: true } : {}) },
      inputs,
      finishedAt: new Date().toISOString(),
      buildMs: Date.now() - tMake,
      ...(host ? { buildHost: host.url } : {}),
    };
    writeStamp(outDir, newStamp);
    log(`done in ${fmtElapsed(Date.now() - t0)}: ${bzImage}`);
    return { tree, source, outDir, bzImage, configPath, key, reused: false, elapsedMs: Date.now() - t0, logPath, toolchain };
  }
}

/** The tree (only what changed) and the fragments from outside it to the host; O= mapped there. */
async function sendToHost(host: BuildHost, source: string, outDir: string, fragments: readonly Fragment[], deadlineMs: number): Promise<void> {
  await host.sync(source, { deadlineMs, keep: (rel) => !selftestsBuiltInPlace(rel) });
  await host.outDir(outDir, source);
  for (const f of fragments) if (!resolve(f.path).startsWith(`${source}/`)) await host.stage(f.path, source);
}
