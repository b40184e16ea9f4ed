/**
 * The config of a build: a start config, the harness's fragments (and the tree's selftests
 * fragments) merged, olddefconfig, and every option of ours checked to have survived.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import type { BuildHost } from '../build-host/build-host.js';
import { SetupError } from '../util/errors.js';
import { droppedOptions, explainDropped, parseConfigWithUnset, parseFragment, selftestsFragmentPaths } from './kconfig.js';
import { runMake, runTool } from './make.js';

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

export function readFragment(path: string, name: string, strict: boolean): Fragment & { text: string } {
  const text = readFileSync(path, 'utf8');
  return { path, name, text, options: parseFragment(text), strict };
}

export function selftestsFragments(tree: string): Array<Fragment & { text: string }> {
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
  /** make runs there: the start config goes there, the merged one comes back. */
  host?: BuildHost;
}): Promise<Map<string, string>> {
  const host = o.host;
  if (o.startConfig) {
    copyFileSync(resolve(o.startConfig), o.configPath);
    if (host) await host.put(o.configPath, host.toRemote(o.configPath));
  } else await runMake(o.source, [...o.makeVars, 'defconfig', 'kvm_guest.config'], { logPath: o.logPath, deadlineMs: 300_000, log: o.log, jobs: 1, quiet: true, host });
  // cwd outDir: merge_config.sh makes its temporary files in the current directory, never in the tree.
  await runTool('sh', [join(o.source, 'scripts', 'kconfig', 'merge_config.sh'), '-m', '-O', o.outDir, o.configPath, ...o.fragments.map((f) => f.path)], o.outDir, o.logPath, 120_000, { KCONFIG_CONFIG: o.configPath }, host);
  await runMake(o.source, [...o.makeVars, 'olddefconfig'], { logPath: o.logPath, deadlineMs: 300_000, log: o.log, jobs: 1, quiet: true, host });
  if (host) await host.fetch(o.outDir, ['.config'], 120_000);
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

