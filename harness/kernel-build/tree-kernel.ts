/**
 * A kernel given as a clean source tree (kernel/resolve.ts says it needs a build): built out of
 * tree first when missing or stale, then loaded as any other kernel image.
 */
import { resolve } from 'node:path';
import type { BuildHostChoice } from '../build-host/build-host.js';
import { loadBuiltTree, needsBuild, resolveKernel, type KernelImage, type ResolveOptions } from '../kernel/resolve.js';
import { buildKernel, type BuiltKernel } from './kernel-build.js';
import { defaultOutDir, readStamp, type BuildStamp } from './stamp.js';

/** A kernel image, with the harness's build of it when it came from a source tree. */
export type ResolvedKernel = KernelImage & { build?: BuiltKernel };

/** resolveKernel(), with a tree that needs a build built first (ensureTreeBuilt). */
export async function resolveAndBuildKernel(spec: string, opts: ResolveOptions, buildHost?: BuildHostChoice): Promise<ResolvedKernel> {
  const k = await resolveKernel(spec, opts);
  if (!needsBuild(k)) return k;
  const built = await ensureTreeBuilt(k.tree, opts.log, k.selftests, buildHost);
  return { ...loadBuiltTree(k.spec, built, opts), build: built };
}

/**
 * For `vm-test --kernel <tree>`: the tree's bzImage, built first when missing or stale. Reuses
 * the options of the last harness build of that tree (debug, patches); a tree never built by
 * the harness gets the base config. `selftests`: the kernel for the tree's BPF selftests; its
 * `debug`, when given, replaces the last build's options (no patches). `buildHost`: make runs
 * there when the kernel needs a build.
 */
export async function ensureTreeBuilt(tree: string, log: (line: string) => void, selftests?: { debug?: boolean }, buildHost?: BuildHostChoice): Promise<BuiltKernel> {
  const abs = resolve(tree);
  const flavor = selftests !== undefined;
  const stamp = readStamp(defaultOutDir(abs, false, flavor)) ?? readStamp(defaultOutDir(abs, true, flavor));
  const options: BuildStamp['options'] = selftests?.debug !== undefined ? { debug: selftests.debug, patches: [] } : (stamp?.options ?? { debug: false, patches: [] });
  return buildKernel({ tree: abs, debug: options.debug, patches: options.patches, config: options.config, selftests: flavor, log, ...(buildHost ? { buildHost } : {}) });
}

