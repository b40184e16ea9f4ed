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
