/**
 * `bpf-harness kernel build`: a bzImage from a kernel source tree, built out of tree (O=) into
 * a directory keyed by the tree, with the harness's config fragments merged and checked. The
 * build key (build-key.ts) decides whether anything needs doing: an unchanged input returns at
 * once, a changed one rebuilds incrementally in the same directory.
 */
import { appendFileSync, copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { execa } from 'execa';
import { processGroup, registerChild } from '../util/children.js';
import { HarnessError, SetupError } from '../util/errors.js';
import { cacheDir } from '../util/paths.js';
import { buildKey, sha256, treeState, type BuildKeyInputs } from './build-key.js';
import { ccacheCounts, ccacheSetup, describeCounts, writeCompilerLinks } from './ccache.js';
import { droppedOptions, explainDropped, fragmentPaths, parseConfigWithUnset, parseFragment, selftestsFragmentPaths } from './kconfig.js';
import { applyPatches, readPatchFiles } from './patches.js';
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

/** What a finished build leaves in its output directory (bpfh-build.json). */
export interface BuildStamp {
  key: string;
  tree: string;
  source: string;
  options: { debug: boolean; patches: string[]; config?: string; selftests?: boolean };
  inputs: BuildKeyInputs;
  finishedAt: string;
  buildMs: number;
}

export const STAMP = 'bpfh-build.json';
const DEFAULT_DEADLINE_MIN = 240;

export function defaultJobs(): number {
  return Math.max(1, Math.min(2, availableParallelism()));
}

export function defaultOutDir(tree: string, patched: boolean, selftests = false): string {
  const abs = resolve(tree);
  const flavor = `${patched ? '-patched' : ''}${selftests ? '-selftests' : ''}`;
  return join(cacheDir(), 'builds', `${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256(abs).slice(0, 10)}${flavor}`);
}

export function readStamp(outDir: string): BuildStamp | undefined {
  try {
    return JSON.parse(readFileSync(join(outDir, STAMP), 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
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

function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Which phase a kbuild output line belongs to. */
export function stepOf(line: string): string | undefined {
  const m = /^\s+([A-Z][A-Z0-9_-]*)\s+(\S+)/.exec(line);
  if (!m) return undefined;
  const [, tag, what] = m;
  if (tag === 'BTF' || tag === 'BTFIDS') return 'BTF';
  if (tag === 'LD' && /vmlinux/.test(what!)) return 'linking vmlinux';
  if (/arch\/x86\/boot\/(bzImage|setup\.(bin|elf)|vmlinux\.bin|compressed\/vmlinux)$/.test(what!)) return 'bzImage';
  if (tag === 'HOSTCC' || tag === 'HOSTLD') return 'host tools';
  // The BPF selftests' Makefile (harness/selftests/build.ts).
  if (tag === 'CLNG-BPF' || tag === 'GEN-SKEL' || tag === 'LINK-BPF') return 'BPF objects';
  if (tag === 'TEST-OBJ' || tag === 'EXT-OBJ' || tag === 'BINARY' || tag === 'TEST-HDR') return 'test runners';
  if (['CC', 'AS', 'AR', 'LD', 'CPP', 'GEN', 'SYSHDR', 'SYSTBL', 'WRAP', 'UPD', 'CHK', 'MKELF', 'CALL', 'POLICY', 'CERT', 'DESCEND', 'INSTALL', 'OBJTOOL'].includes(tag!)) return 'compiling';
  return undefined;
}

export async function buildKernel(opts: KernelBuildOptions): Promise<BuiltKernel> {
  const t0 = Date.now();
  const log = (line: string): void => opts.log(`kernel build: ${line}`);
  const tree = resolve(opts.tree);
  checkTree(tree);
  const jobs = opts.jobs ?? defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) throw new SetupError(`--jobs ${opts.jobs}: give a whole number of parallel jobs, 1 or more`);
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
  const toolchain = await chooseToolchain(tree, needPahole, { mirror: opts.mirror, log });
  const state = await treeState(tree);
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
  if (stamp?.key === key && existsSync(bzImage) && existsSync(configPath)) {
    log(`up to date (key ${key.slice(0, 12)}): ${bzImage}`);
    return { tree, source: stamp.source, outDir, bzImage, configPath, key, reused: true, elapsedMs: Date.now() - t0, logPath, toolchain };
  }
  const unlock = lockOutDir(outDir);
  try {
    return await doBuild();
  } finally {
    unlock();
  }

  async function doBuild(): Promise<BuiltKernel> {
    log(toolchain.note);
    // A build that stops half-way must not leave the old key claiming the new tree's objects.
    rmSync(join(outDir, STAMP), { force: true });
    const flavor = `${opts.debug ? 'debug' : 'base'}${opts.selftests ? ' + BPF selftests' : ''}`;
    log(`${stamp ? `inputs changed since the build of ${stamp.finishedAt}: rebuilding incrementally` : 'first build'} in ${outDir} (${flavor} config, -j${jobs}, log ${logPath})`);
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

    log('step config: merging ' + fragments.map((f) => f.name).join(' + '));
    await configureTree({ source, makeVars, configPath, outDir, fragments, logPath, log, startConfig: opts.config });

    // ccache through gcc links on make's PATH: same commands, same config, same key (ccache.ts).
    const ccache = ccacheSetup({ source, outDir, cacheRoot: cacheDir(), env: process.env });
    if (ccache) writeCompilerLinks(ccache);
    const ccacheBefore = ccache ? await ccacheCounts(ccache) : undefined;
    log(`step make: ${target} -j${jobs}${ccache ? `, ccache ${ccache.dir}` : ''}`);
    const tMake = Date.now();
    await runMake(source, [...makeVars, target], { logPath, deadlineMs, log, jobs, quiet: false, env: ccache?.env });
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
    };
    writeFileSync(join(outDir, `${STAMP}.tmp`), `${JSON.stringify(newStamp, null, 2)}\n`);
    renameSync(join(outDir, `${STAMP}.tmp`), join(outDir, STAMP));
    log(`done in ${fmtElapsed(Date.now() - t0)}: ${bzImage}`);
    return { tree, source, outDir, bzImage, configPath, key, reused: false, elapsedMs: Date.now() - t0, logPath, toolchain };
  }
}

export interface Fragment {
  path: string;
  name: string;
  options: Map<string, string>;
  /**
   * Ours (vm/config): an option olddefconfig drops is an error. The tree's selftests
   * fragments are not ours to fix; what they lose is reported and the build goes on.
   */
  strict: boolean;
}

function readFragment(path: string, name: string, strict: boolean): Fragment & { text: string } {
  const text = readFileSync(path, 'utf8');
  return { path, name, text, options: parseFragment(text), strict };
}

function selftestsFragments(tree: string): Array<Fragment & { text: string }> {
  return selftestsFragmentPaths(tree).map((p) => {
    if (!existsSync(p)) throw new SetupError(`${tree} has no ${relative(tree, p)}: the BPF selftests kernel needs a tree with tools/testing/selftests/bpf (Linux 5.x or later)`);
    return readFragment(p, `selftests/${basename(p)}`, false);
  });
}

/**
 * Configure `outDir`: a start (defconfig + kvm_guest.config, or `startConfig`), the fragments
 * merged with the tree's merge_config.sh, olddefconfig; then every fragment option must have
 * survived, or a SetupError names each dropped one and the dependency that dropped it.
 */
export async function configureTree(o: {
  source: string;
  makeVars: string[];
  configPath: string;
  outDir: string;
  fragments: readonly Fragment[];
  logPath: string;
  log: (line: string) => void;
  startConfig?: string;
}): Promise<Map<string, string>> {
  if (o.startConfig) copyFileSync(resolve(o.startConfig), o.configPath);
  else await runMake(o.source, [...o.makeVars, 'defconfig', 'kvm_guest.config'], { logPath: o.logPath, deadlineMs: 300_000, log: o.log, jobs: 1, quiet: true });
  // cwd outDir: merge_config.sh makes its temporary files in the current directory, never in the tree.
  await runTool('sh', [join(o.source, 'scripts', 'kconfig', 'merge_config.sh'), '-m', '-O', o.outDir, o.configPath, ...o.fragments.map((f) => f.path)], o.outDir, o.logPath, 120_000, { KCONFIG_CONFIG: o.configPath });
  await runMake(o.source, [...o.makeVars, 'olddefconfig'], { logPath: o.logPath, deadlineMs: 300_000, log: o.log, jobs: 1, quiet: true });
  const merged = parseConfigWithUnset(readFileSync(o.configPath, 'utf8'));
  const all = droppedOptions(o.fragments.map((f) => ({ name: f.name, options: f.options })), merged);
  const strictNames = new Set(o.fragments.filter((f) => f.strict).map((f) => f.name));
  const dropped = all.filter((d) => strictNames.has(d.fragment));
  const lenient = all.filter((d) => !strictNames.has(d.fragment));
  if (lenient.length > 0) {
    const listPath = join(o.outDir, 'bpfh-dropped-options.txt');
    writeFileSync(listPath, lenient.map((d) => `${explainDropped(o.source, d, merged)}\n`).join(''));
    o.log(`${lenient.length} option(s) of the tree's selftests fragments did not survive olddefconfig (not ours to fix; listed in ${listPath}): ${lenient.slice(0, 6).map((d) => d.option).join(', ')}${lenient.length > 6 ? ', ...' : ''}`);
  }
  if (dropped.length > 0) {
    throw new SetupError(
      `${dropped.length} option${dropped.length === 1 ? '' : 's'} of the fragments did not survive olddefconfig in ${o.source}; fix the dependency or the fragment:\n` +
        dropped.map((d) => `  ${explainDropped(o.source, d, merged)}`).join('\n'),
    );
  }
  return merged;
}

/** One build per output directory at a time: a lock file holding the builder's pid. */
export function lockOutDir(outDir: string): () => void {
  const lock = join(outDir, 'bpfh-build.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      const release = (): void => {
        try {
          if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
        } catch {
          /* gone */
        }
      };
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8').trim());
      let alive = false;
      try {
        if (pid > 0) process.kill(pid, 0);
        alive = pid > 0;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) throw new SetupError(`another kernel build (pid ${pid}) is running in ${outDir}: wait for it to finish, or give another --out`);
      unlinkSync(lock); // left by a build that died
    }
  }
  throw new SetupError(`cannot take the build lock ${lock}: delete it if no build is running`);
}

function tailOf(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

async function runTool(cmd: string, args: string[], cwd: string, logPath: string, timeout: number, env: Record<string, string> = {}): Promise<void> {
  appendFileSync(logPath, `\n$ ${cmd} ${args.join(' ')}\n`);
  const r = await execa(cmd, args, { cwd, reject: false, timeout, stdin: 'ignore', all: true, env: { LC_ALL: 'C', ...env } });
  appendFileSync(logPath, String(r.all ?? ''));
  if (r.failed) throw new HarnessError(`${basename(args[0] ?? cmd)} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}); the last lines of ${logPath}:\n${tailOf(logPath, 20)}`, 2);
}

/**
 * make runs in a session of its own (detached, to be killed as a group), and with the
 * scheduler's autogroups (CONFIG_SCHED_AUTOGROUP, on in Debian) nice only ranks processes
 * within their session: a nice 19 build would still take an equal share of the CPUs from the
 * user's session and the guests the harness runs. Giving the build session's autogroup nice 19
 * too makes it yield for real. Best effort: without autogroups there is no file to write.
 */
function lowerAutogroupPriority(pid: number | undefined): void {
  if (!pid) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, '19');
  } catch {
    /* no autogroups, or not allowed: plain nice still applies */
  }
}

/**
 * make at nice 19 in its own process group (killed as a group on exit or Ctrl-C), output to the
 * log, progress (step, objects built, elapsed) every 20 s unless `quiet`.
 */
export async function runMake(source: string, args: string[], o: { logPath: string; deadlineMs: number; log: (line: string) => void; jobs: number; quiet: boolean; env?: Record<string, string> }): Promise<void> {
  const full = ['-n', '19', 'make', '-C', source, `-j${o.jobs}`, ...args];
  appendFileSync(o.logPath, `\n$ nice ${full.join(' ')}\n`);
  const out = createWriteStream(o.logPath, { flags: 'a' });
  const child = execa('nice', full, { reject: false, stdin: 'ignore', detached: true, buffer: false, env: { LC_ALL: 'C', ...o.env }, forceKillAfterDelay: 5000 });
  registerChild(child);
  lowerAutogroupPriority(child.pid);
  const group = processGroup(child, { killOnAbort: true });
  const t0 = Date.now();
  let objects = 0;
  let step = 'starting';
  let partial = '';
  const onData = (buf: Buffer): void => {
    out.write(buf);
    const text = partial + buf.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      const s = stepOf(l);
      if (!s) continue;
      step = s;
      if (/^\s+(CC|AS|CLNG-BPF|TEST-OBJ|EXT-OBJ)\s/.test(l)) objects++;
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', (b: Buffer) => out.write(b));
  const ticker = o.quiet ? undefined : setInterval(() => o.log(`step ${step}, ${objects} objects built, ${fmtElapsed(Date.now() - t0)}`), 20_000);
  const deadline = setTimeout(group.kill, o.deadlineMs);
  try {
    const r = await child;
    await new Promise<void>((res) => out.end(res));
    if (r.exitCode !== 0) {
      const why = Date.now() - t0 >= o.deadlineMs ? `did not finish within ${Math.round(o.deadlineMs / 60_000)} min` : r.signal ? `was killed by ${r.signal}` : `failed (exit ${r.exitCode})`;
      throw new HarnessError(`make ${args[args.length - 1]} ${why} at step ${step}; the full log is ${o.logPath}; its last lines:\n${tailOf(o.logPath, 25)}`, 2);
    }
    if (!o.quiet) o.log(`step ${step} done, ${objects} objects built, ${fmtElapsed(Date.now() - t0)}`);
  } finally {
    if (ticker) clearInterval(ticker);
    clearTimeout(deadline);
    group.release();
  }
}

/**
 * For `vm-test --kernel <tree>`: the tree's bzImage, built first when missing or stale. Reuses
 * the options of the last harness build of that tree (debug, patches); a tree never built by
 * the harness gets the base config. `selftests`: the kernel for the tree's BPF selftests; its
 * `debug`, when given, replaces the last build's options (no patches).
 */
export async function ensureTreeBuilt(tree: string, log: (line: string) => void, selftests?: { debug?: boolean }): Promise<BuiltKernel> {
  const abs = resolve(tree);
  const flavor = selftests !== undefined;
  const stamp = readStamp(defaultOutDir(abs, false, flavor)) ?? readStamp(defaultOutDir(abs, true, flavor));
  const options: BuildStamp['options'] = selftests?.debug !== undefined ? { debug: selftests.debug, patches: [] } : (stamp?.options ?? { debug: false, patches: [] });
  return buildKernel({ tree: abs, debug: options.debug, patches: options.patches, config: options.config, selftests: flavor, log });
}
