/**
 * The test lists a selftests run honours, as the BPF CI reads them: the tree's
 * tools/testing/selftests/bpf/DENYLIST and DENYLIST.<arch> (and ALLOWLIST, ALLOWLIST.<arch>
 * when a tree has them), then the user's --denylist/--allowlist files, in that order; and the
 * tree's test_progs test names, so that the report can say which tests a list took out.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../util/errors.js';
import { parseTestList, type TestList } from './selection.js';

export const SELFTESTS_BPF = 'tools/testing/selftests/bpf';

/** The guest's architecture as the lists spell it (`uname -m`): the harness boots x86_64 only. */
export const GUEST_ARCH = 'x86_64';

/** The tree's lists that exist, in the BPF CI's order: DENYLIST, DENYLIST.<arch>, ALLOWLIST, ALLOWLIST.<arch>. */
export function treeLists(tree: string, arch: string = GUEST_ARCH): TestList[] {
  const out: TestList[] = [];
  for (const [kind, base] of [['deny', 'DENYLIST'], ['allow', 'ALLOWLIST']] as const) {
    for (const name of [base, `${base}.${arch}`]) {
      const label = `${SELFTESTS_BPF}/${name}`;
      const path = join(tree, label);
      if (existsSync(path)) out.push({ kind, origin: 'tree', label, entries: parseTestList(readFileSync(path, 'utf8')) });
    }
  }
  return out;
}

/** --denylist/--allowlist FILE...: a file that cannot be read is a usage error, before anything boots. */
export function userLists(files: { deny?: readonly string[]; allow?: readonly string[] }): TestList[] {
  const read = (kind: 'deny' | 'allow', path: string): TestList => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new SetupError(`--${kind}list ${path}: cannot read it (${err instanceof Error ? err.message : String(err)}): give a file of test_progs names, one a line`);
    }
    return { kind, origin: 'user', label: path, entries: parseTestList(text) };
  };
  return [...(files.deny ?? []).map((p) => read('deny', p)), ...(files.allow ?? []).map((p) => read('allow', p))];
}

/**
 * The tree's test_progs tests, named as the selftests' Makefile names them when it writes
 * prog_tests/tests.h: every `void test_NAME(void)` or `void serial_test_NAME(void)` at the start
 * of a line of prog_tests/*.c.
 */
export function progTestNames(tree: string): string[] {
  const dir = join(tree, SELFTESTS_BPF, 'prog_tests');
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.c'))) {
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^void (?:serial_)?test_([a-zA-Z0-9_]+)\((?:void)?\)/gm)) names.add(m[1]!);
  }
  return [...names].sort();
}
