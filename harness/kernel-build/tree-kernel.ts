/** A kernel given as a clean source tree: built out of tree first when missing or stale. */
import { resolve } from 'node:path';
import { buildKernel, type BuiltKernel } from './kernel-build.js';
import { defaultOutDir, readStamp, type BuildStamp } from './stamp.js';

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

