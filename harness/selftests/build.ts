/**
 * Build a tree's own BPF selftests (tools/testing/selftests/bpf: test_progs, test_maps, their
 * BPF objects and test modules) against a kernel the harness built from that tree with the
 * selftests' config (kernel-build.ts, `selftests: true`). The output goes into the kernel's
 * build directory (never into the tree, but for what the selftests' Makefile builds in place:
 * its test_kmods/ and libarena/), keyed like kernel builds: unchanged inputs build nothing.
 * On a --build-host (on-host.ts) make and the map-test runner's link run there and the output
 * directory comes back into the same place, with the key a local build of the same inputs has.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildKey, sha256, treeState, type TreeState } from '../kernel-build/build-key.js';
import type { BuiltKernel } from '../kernel-build/kernel-build.js';
import { runMake } from '../kernel-build/make.js';
import { SELFTESTS_SUBDIR, selftestsBuiltInPlace } from '../kernel-build/kconfig.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { projectRoot } from '../util/paths.js';
import { clangCommand, selftestsToolchain, type SelftestsLlvm } from './toolchain.js';
import { BuildHostError, type BuildHost, type BuildHostChoice } from '../build-host/build-host.js';
import { newToken } from '../build-host/sync.js';
import { openBuildHost } from '../kernel-build/on-host.js';
import { readStamp as readKernelStamp } from '../kernel-build/stamp.js';
import { ensureHostKernel, hostSelftestsLlvm } from './on-host.js';

/**
 * What make builds: test_progs (with its BPF objects and test modules), and test_maps for the
 * map tests' objects (map_tests/NAME.c -> NAME.test.o), which bpfh-map-test links.
 */
export const RUNNER_TARGETS = ['test_progs', 'test_maps'] as const;
/** bpf/selftests/map-test-main.c: runs only the named map tests (test_maps runs them all). */
const MAP_TEST_MAIN = join(projectRoot, 'bpf', 'selftests', 'map-test-main.c');
/** The map tests map-test-main.c knows. */
const MAP_TEST_OBJECTS = ['sk_storage_map.test.o'];
export const STAMP = 'bpfh-selftests.json';

/** The tree's selftests did not build: for a bisect step, a commit that cannot be tested (125). */
export class SelftestsBuildError extends HarnessError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'SelftestsBuildError';
  }
}
const DEFAULT_DEADLINE_MIN = 180;

export interface BuiltSelftests {
  /** The kernel tree they were built from. */
  tree: string;
  /** Where test_progs, test_maps, the .bpf.o files and bpf_testmod.ko are; test_progs runs here. */
  dir: string;
  testProgs: string;
  /** bpfh-map-test: the named map tests alone (bpf/selftests/map-test-main.c). */
  mapTestRunner: string;
  key: string;
  reused: boolean;
  elapsedMs: number;
  logPath: string;
  llvm: string;
}

export interface SelftestsBuildOptions {
  tree: string;
  kernel: BuiltKernel;
  jobs: number;
  deadlineMin?: number;
  /** --build-host: make runs there (harness/build-host/), the output directory comes back (fetchSelftests). */
  buildHost?: BuildHostChoice;
  log: (line: string) => void;
}

/** The selftests' output directory's name in the kernel's build directory. */
const SELFTESTS_DIRNAME = 'bpfh-selftests';

export function selftestsOutDir(kernelOutDir: string): string {
  return join(kernelOutDir, SELFTESTS_DIRNAME);
}


/**
 * What the selftests are built from, besides the kernel: tools/ (the tests, libbpf, bpftool,
 * resolve_btfids, the tools' headers), without what the selftests' Makefile writes into its
 * own test_kmods/ and libarena/.
 */
export async function selftestsSourceState(tree: string): Promise<TreeState> {
  return treeState(tree, { paths: ['tools'], keep: (rel) => !selftestsBuiltInPlace(rel) });
}

function readStamp(dir: string): { key: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, STAMP), 'utf8')) as { key: string };
  } catch {
    return undefined;
  }
}

export async function buildSelftests(opts: SelftestsBuildOptions): Promise<BuiltSelftests> {
  const t0 = Date.now();
  const log = (line: string): void => opts.log(`selftests build: ${line}`);
  const src = join(opts.tree, SELFTESTS_SUBDIR);
  if (!existsSync(join(src, 'Makefile'))) throw new SetupError(`${opts.tree} has no ${SELFTESTS_SUBDIR}/Makefile: give a kernel tree with the BPF selftests`);
  const vmlinux = join(opts.kernel.outDir, 'vmlinux');
  if (!existsSync(vmlinux) || !existsSync(join(opts.kernel.outDir, 'Module.symvers'))) {
    throw new SetupError(`${opts.kernel.outDir} has no vmlinux and Module.symvers: the selftests need the kernel built with their config (bpf-harness kernel build --selftests)`);
  }
  const builtOn = readKernelStamp(opts.kernel.outDir)?.buildHost;
  if (builtOn && !opts.buildHost) throw new SetupError(`the kernel in ${opts.kernel.outDir} was built on ${builtOn}, which keeps its headers and modpost output: build the selftests there too (--build-host ${builtOn})`);
  const host = opts.buildHost ? (await openBuildHost(opts.buildHost, opts.tree, true, opts.log)).host : undefined;
  try {
    const llvm = host ? await hostSelftestsLlvm(host, opts.tree) : await selftestsToolchain(opts.tree);
    return await buildWith(opts, llvm, host, t0, log);
  } finally {
    host?.close();
  }
}

async function buildWith(opts: SelftestsBuildOptions, llvm: SelftestsLlvm, host: BuildHost | undefined, t0: number, log: (line: string) => void): Promise<BuiltSelftests> {
  const src = join(opts.tree, SELFTESTS_SUBDIR);
  const dir = selftestsOutDir(opts.kernel.outDir);
  const testProgs = join(dir, 'test_progs');
  const testMaps = join(dir, 'test_maps');
  const mapTestRunner = join(dir, 'bpfh-map-test');
  const logPath = join(dir, 'build.log');
  const key = buildKey({
    tree: await selftestsSourceState(opts.tree),
    patches: [],
    fragments: [],
    startConfig: opts.kernel.key,
    compiler: `${opts.kernel.toolchain?.compiler ?? 'gcc'}; ${llvm.clang} ${llvm.version}`,
    pahole: opts.kernel.toolchain?.pahole ?? 'host',
    target: `${RUNNER_TARGETS.join(' ')} + bpfh-map-test ${sha256(readFileSync(MAP_TEST_MAIN))}`,
  });
  const done = (reused: boolean): BuiltSelftests => ({ tree: opts.tree, dir, testProgs, mapTestRunner, key, reused, elapsedMs: Date.now() - t0, logPath, llvm: `${llvm.clang} ${llvm.version}` });
  if (readStamp(dir)?.key === key && [testProgs, mapTestRunner].every((f) => existsSync(f))) {
    log(`up to date (key ${key.slice(0, 12)}): ${dir}`);
    return done(true);
  }
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, STAMP), { force: true });
  const deadlineMs = (opts.deadlineMin ?? DEFAULT_DEADLINE_MIN) * 60_000;
  // A build host brings its cores, as for the kernel.
  const jobs = host ? host.facts.nproc : opts.jobs;
  const makeVars = selftestsMakeVars(opts.kernel, llvm, host !== undefined);
  log(llvm.note);
  log(`building ${RUNNER_TARGETS.join(' and ')} into ${dir} (-j${jobs}${host ? ` on ${host.url}` : ''}, log ${logPath})`);
  writeFileSync(logPath, `# bpf-harness selftests build ${new Date().toISOString()}\n# tree ${opts.tree}\n# kernel ${opts.kernel.outDir} (key ${opts.kernel.key})\n# key ${key}\n`);
  if (host) await prepareSelftestsHost(host, opts, deadlineMs, log);
  try {
    await runMake(src, [...makeVars, ...RUNNER_TARGETS], { logPath, deadlineMs, log, jobs, quiet: false, host });
  } catch (err) {
    if (err instanceof BuildHostError) throw err;
    throw new SelftestsBuildError(`the BPF selftests of ${opts.tree} did not build${host ? ` on ${host.url}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (host) {
    await linkMapTestRunnerThere(host, dir, mapTestRunner, logPath);
    await fetchSelftests(host, opts.kernel.outDir, deadlineMs, log);
  }
  for (const bin of [testProgs, testMaps]) if (!existsSync(bin)) throw new SelftestsBuildError(`make finished but ${bin} is missing; see ${logPath}`);
  if (host) {
    if (!existsSync(mapTestRunner)) throw new SelftestsBuildError(`${mapTestRunner} did not come back from ${host.url}; see ${logPath}`);
  } else {
    // Built here: what the host made last is no longer what this directory holds.
    rmSync(join(opts.kernel.outDir, FETCHED), { force: true });
    await linkMapTestRunner(dir, mapTestRunner, logPath);
  }
  writeFileSync(join(dir, `${STAMP}.tmp`), `${JSON.stringify({ key, finishedAt: new Date().toISOString(), buildMs: Date.now() - t0, llvm: `${llvm.clang} ${llvm.version}`, ...(host ? { buildHost: host.url } : {}) }, null, 2)}\n`);
  renameSync(join(dir, `${STAMP}.tmp`), join(dir, STAMP));
  log(`done in ${Math.round((Date.now() - t0) / 1000)} s`);
  return done(false);
}

/**
 * Beside the selftests' output directory, here and on the host: the token of the last fetch
 * (there, its mtime is when that fetch began). The same token on both sides: the local
 * directory is what the host had then, and only what the host changed since comes.
 */
const FETCHED = 'bpfh-selftests.fetched';

/**
 * The host's selftests output into the kernel's local build directory: as a local build leaves
 * it (the guest gets it over 9p, test_progs runs in it); whole the first time, then what make
 * changed there since the last fetch.
 */
export async function fetchSelftests(host: BuildHost, kernelOut: string, deadlineMs: number, log: (line: string) => void): Promise<{ files: string[]; whole: boolean }> {
  const local = join(kernelOut, FETCHED);
  const remote = `${host.toRemote(kernelOut)}/${FETCHED}`;
  let mine = '';
  try {
    mine = readFileSync(local, 'utf8').trim();
  } catch {
    /* never fetched here */
  }
  const whole = mine === '' || mine !== (await host.readFile(remote)).trim() || !existsSync(selftestsOutDir(kernelOut));
  rmSync(local, { force: true });
  const token = newToken();
  // Written before the listing: what make changes from now on is newer than it.
  await host.writeFile(`${remote}.next`, token);
  const got = await host.fetch(kernelOut, [SELFTESTS_DIRNAME], deadlineMs, whole ? {} : { newerThan: FETCHED });
  const moved = await host.run(['mv', '-f', `${remote}.next`, remote], { cwd: '/', deadlineMs: 60_000 });
  if (moved.code !== 0) throw new BuildHostError(`build host ${host.url}, fetching the selftests: mv of ${remote}.next failed (${moved.output.trim() || `exit ${moved.code}`})`);
  writeFileSync(local, `${token}\n`);
  log(`fetched ${whole ? `${selftestsOutDir(kernelOut)} whole` : `${got.files.length} file(s) changed since the last fetch into ${selftestsOutDir(kernelOut)}`} from ${host.url} in ${(got.ms / 1000).toFixed(1)} s (${(got.wireBytes / 2 ** 20).toFixed(1)} MiB)`);
  return { files: got.files, whole };
}

/**
 * make's variables for the selftests of `kernel` (the clang wrapper written into their output
 * directory when the LLVM needs one). `onHost`: the build host's pahole is on its PATH.
 */
export function selftestsMakeVars(kernel: BuiltKernel, llvm: SelftestsLlvm, onHost: boolean): string[] {
  const dir = selftestsOutDir(kernel.outDir);
  const paholeWrapper = join(kernel.outDir, 'bpfh-pahole');
  mkdirSync(dir, { recursive: true });
  return [
    `OUTPUT=${dir}`,
    // The kernel build: where the test modules find Module.symvers, and the BTF vmlinux.h is made from.
    `KBUILD_OUTPUT=${kernel.outDir}`,
    `VMLINUX_BTF=${join(kernel.outDir, 'vmlinux')}`,
    `CLANG=${clangCommand(llvm, join(dir, 'bpfh-clang'))}`,
    ...llvm.makeVars,
    // The test modules get BTF like the kernel's own: the same pahole.
    ...(!onHost && existsSync(paholeWrapper) ? [`PAHOLE=${paholeWrapper}`] : []),
  ];
}

/**
 * Before make on a build host: the tree's state (not what a selftests build wrote into it
 * here), the kernel's build (unless the host holds it: ensureHostKernel), the clang wrapper
 * (executable) and map-test-main.c go there; the output directory's path is mapped.
 */
export async function prepareSelftestsHost(host: BuildHost, opts: Pick<SelftestsBuildOptions, 'tree' | 'kernel'>, deadlineMs: number, log: (line: string) => void): Promise<void> {
  const dir = selftestsOutDir(opts.kernel.outDir);
  await host.sync(opts.tree, { deadlineMs, keep: (rel) => !selftestsBuiltInPlace(rel) });
  await ensureHostKernel(host, opts.kernel, deadlineMs, log);
  const remoteDir = host.toRemote(dir);
  await host.run(['mkdir', '-p', remoteDir], { cwd: '/', deadlineMs: 60_000 });
  const wrapper = join(dir, 'bpfh-clang');
  if (existsSync(wrapper)) await host.put(wrapper, host.toRemote(wrapper), 0o755);
  await host.stage(MAP_TEST_MAIN, opts.tree);
}

function mapTestLinkArgs(dir: string, out: string): string[] {
  const objects = MAP_TEST_OBJECTS.map((o) => join(dir, o));
  return ['-O2', '-g', '-o', out, MAP_TEST_MAIN, ...objects, join(dir, 'tools', 'build', 'libbpf', 'libbpf.a'), '-lelf', '-lz', '-lzstd', '-lrt', '-lpthread'];
}

/** linkMapTestRunner()'s gcc, on the host (map-test-main.c staged there). */
async function linkMapTestRunnerThere(host: BuildHost, dir: string, out: string, logPath: string): Promise<void> {
  const args = mapTestLinkArgs(dir, out);
  appendFileSync(logPath, `\n$ gcc ${args.join(' ')}  # on ${host.url}\n`);
  const r = await host.run(['gcc', ...args], { cwd: dir, deadlineMs: 120_000 });
  appendFileSync(logPath, r.output);
  if (r.code !== 0) {
    if (/No such file/.test(r.output) && MAP_TEST_OBJECTS.some((o) => r.output.includes(o))) throw new SelftestsBuildError(`the tree's test_maps build on ${host.url} made no ${MAP_TEST_OBJECTS.join(', ')}: its map_tests/ lack the map tests the harness runs`);
    throw new SelftestsBuildError(`linking bpfh-map-test on ${host.url} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}); see ${logPath}`);
  }
}

/**
 * Links bpf/selftests/map-test-main.c with the tree's map test objects and its libbpf (what
 * test_maps links them with, less test_maps' own main and its other tests).
 */
async function linkMapTestRunner(dir: string, out: string, logPath: string): Promise<void> {
  const objects = MAP_TEST_OBJECTS.map((o) => join(dir, o));
  const missing = objects.filter((o) => !existsSync(o));
  if (missing.length) throw new SelftestsBuildError(`the tree's test_maps build made no ${missing.map((m) => m.split('/').pop()).join(', ')}: its map_tests/ lack the map tests the harness runs`);
  const args = mapTestLinkArgs(dir, out);
  appendFileSync(logPath, `\n$ gcc ${args.join(' ')}\n`);
  const r = await execa('gcc', args, { reject: false, all: true, timeout: 120_000, stdin: 'ignore' });
  appendFileSync(logPath, String(r.all ?? ''));
  if (r.failed) throw new SelftestsBuildError(`linking bpfh-map-test failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}); see ${logPath}`);
}
