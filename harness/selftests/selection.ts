/**
 * Which BPF selftests run: test_progs' own filter options, passed through as it takes them
 * (-t NAME: substring, -a NAME: exact or glob, -d NAME: deny; NAME may be TEST/SUBTEST), and
 * the same rules applied to the map tests of test_maps, which has no filter of its own.
 */

export interface Selection {
  /** -t: a test's name contains it (globs allowed). */
  names: string[];
  /** -a: a test's name matches it exactly or as a glob. */
  allow: string[];
  /** -d: a test whose name matches it (glob) does not run. */
  deny: string[];
}

/**
 * The local storage tests the series touched (sk, task, cgroup storage, the LSM-based
 * local_storage test, kptrs in map values) and, from test_maps, `sk_storage_map`.
 */
export const DEFAULT_ALLOW = ['sk_storage*', 'task_local_storage*', 'cgrp_local_storage*', 'test_local_storage', 'map_kptr*'] as const;

/** The map tests the harness can run through test_maps (which runs all its tests in one go). */
export const MAP_TESTS = ['sk_storage_map'] as const;

/** The user's filters, or the default allow list when none selects (-d alone narrows the default). */
export function effectiveSelection(user: Partial<Selection>): Selection {
  const names = user.names ?? [];
  const allow = user.allow ?? [];
  const deny = user.deny ?? [];
  if (names.length === 0 && allow.length === 0) return { names: [], allow: [...DEFAULT_ALLOW], deny };
  return { names, allow, deny };
}

export function testProgsArgs(sel: Selection): string[] {
  return [...sel.names.flatMap((n) => ['-t', n]), ...sel.allow.flatMap((a) => ['-a', a]), ...sel.deny.flatMap((d) => ['-d', d])];
}

/** test_progs' glob: '*' matches any run of characters, everything else itself. */
export function globMatch(str: string, pat: string): boolean {
  const re = new RegExp(`^${pat.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(str);
}

/** The test part of a filter NAME (TEST/SUBTEST) for matching whole tests. */
function testPart(filter: string): string {
  return filter.split('/')[0]!;
}

/** Whether test_progs' rules would select a test called `name` (test level only). */
export function selects(sel: Selection, name: string): boolean {
  if (sel.deny.some((d) => !d.includes('/') && globMatch(name, d))) return false;
  return sel.names.some((n) => globMatch(name, `*${testPart(n)}*`)) || sel.allow.some((a) => globMatch(name, testPart(a)));
}

export function selectedMapTests(sel: Selection): string[] {
  return MAP_TESTS.filter((t) => selects(sel, t));
}

/**
 * A test list file (the tree's DENYLIST, DENYLIST.<arch>, ALLOWLIST...; --denylist/--allowlist
 * FILE): the entries of test_progs' own reader (parse_test_list_file() in testing_helpers.c, the
 * BPF CI's read_lists does the same): `#` starts a comment, leading and trailing white space
 * goes, empty lines are skipped. Each entry is a -a/-d glob: TEST or TEST/SUBTEST.
 */
export function parseTestList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.split('#')[0]!.trim())
    .filter((entry) => entry !== '');
}

export interface TestList {
  kind: 'deny' | 'allow';
  /** The tree's own list, or one the user gave: tree lists apply first, then the user's. */
  origin: 'tree' | 'user';
  /** How the report names it: the path in the tree (tools/testing/...) or as the user gave it. */
  label: string;
  entries: string[];
}

/** A selected test that a list took out, or a denied subtest entry of a selected test. */
export interface ListRemoval {
  /** The test's name; for a subtest entry, TEST/SUBTEST as the list has it. */
  test: string;
  list: string;
  entry: string;
  /** The entry names subtests: test_progs skips those, the test itself runs. */
  subtests?: boolean;
}

export interface ListedSelection {
  /** test_progs' arguments: the selection, then -d of every deny entry and of what allowlists leave out. */
  args: string[];
  /** What the lists took out of the selection, each by the first list (in layer order) that did. */
  removed: ListRemoval[];
}

/**
 * The lists over a selection, as the BPF CI applies them (every deny entry is test_progs' -d,
 * tree lists first, then the user's), with one difference made on purpose: an allowlist narrows
 * the selection and never widens it (each allowlist in turn keeps the selected tests one of its
 * entries names, at test level), since the selection is already an allow list (the local
 * storage tests by default). test_progs ORs all -a, so what an allowlist leaves out is passed
 * as exact -d NAME.
 * `names` are the tree's test_progs tests (progTestNames()): the removals are reported by name.
 */
export function applyLists(sel: Selection, lists: readonly TestList[], names: readonly string[]): ListedSelection {
  const selected = names.filter((n) => selects(sel, n));
  const removed: ListRemoval[] = [];
  const gone = new Set<string>();
  const denyEntries: string[] = [];
  for (const list of lists.filter((l) => l.kind === 'deny')) {
    for (const entry of list.entries) {
      denyEntries.push(entry);
      const [test, sub] = [testPart(entry), entry.includes('/')];
      for (const name of selected) {
        if (gone.has(name) || !globMatch(name, test)) continue;
        if (sub) {
          removed.push({ test: entry, list: list.label, entry, subtests: true });
        } else {
          gone.add(name);
          removed.push({ test: name, list: list.label, entry });
        }
      }
    }
  }
  const leftOut: string[] = [];
  for (const list of lists.filter((l) => l.kind === 'allow' && l.entries.length)) {
    for (const name of selected) {
      if (gone.has(name) || list.entries.some((e) => globMatch(name, testPart(e)))) continue;
      gone.add(name);
      leftOut.push(name);
      removed.push({ test: name, list: list.label, entry: '(not in this allowlist)' });
    }
  }
  const deny = [...new Set([...denyEntries, ...leftOut])];
  return { args: [...testProgsArgs(sel), ...deny.flatMap((d) => ['-d', d])], removed };
}

/**
 * test_progs' own watchdog (-w SECONDS: a test that makes no progress that long is killed with
 * SIGSEGV and named in the output): a third of the runner's deadline, so a test that hangs in
 * the first two thirds of the run is named by test_progs instead of the whole runner being
 * killed by the harness without a name; at most 10 minutes, five times test_progs' default of
 * 120 s, which is for KVM guests (a TCG guest is many times slower).
 */
export function watchdogSeconds(deadlineMs: number): number {
  return Math.max(1, Math.min(600, Math.floor(deadlineMs / 3000)));
}

/**
 * -w always; --workers=N (test_progs' -j) when the guest has more than one CPU to run them on.
 * The = form: the workers' count is an optional argument (argp's `-j, --workers[=WORKERS]`), so
 * `-j 2` made 2 a stray argument and test_progs exited 64 with its usage, having run nothing.
 */
export function testProgsRunnerArgs(deadlineMs: number, guestCpus: number): string[] {
  return ['-w', String(watchdogSeconds(deadlineMs)), ...(guestCpus > 1 ? [`--workers=${guestCpus}`] : [])];
}
