// test_progs' selection rules (tools/testing/selftests/bpf/testing_helpers.c: -t NAME matches
// *NAME*, -a NAME is exact or a glob, -d denies), as the harness passes and applies them.
import t from 'tap';
import { DEFAULT_ALLOW, effectiveSelection, globMatch, selectedMapTests, selects, testProgsArgs } from '../../harness/selftests/selection.js';

t.test('the default selection is the local storage tests, with sk_storage_map', async (t) => {
  const sel = effectiveSelection({});
  t.same(sel.allow, [...DEFAULT_ALLOW]);
  for (const name of ['sk_storage_tracing', 'sk_storage_omem_uncharge', 'task_local_storage', 'cgrp_local_storage', 'test_local_storage', 'map_kptr', 'map_kptr_race']) t.ok(selects(sel, name), name);
  for (const name of ['cgroup_storage', 'cg_storage_multi', 'bpf_iter', 'verifier_local_storage_x']) t.notOk(selects(sel, name), name);
  t.same(selectedMapTests(sel), ['sk_storage_map']);
  t.same(testProgsArgs(sel), DEFAULT_ALLOW.flatMap((a) => ['-a', a]));
});

t.test('user filters replace the default; -d alone narrows it', async (t) => {
  const byName = effectiveSelection({ names: ['task_local'] });
  t.same(byName.allow, []);
  t.ok(selects(byName, 'task_local_storage'));
  t.notOk(selects(byName, 'sk_storage_tracing'));
  t.same(selectedMapTests(byName), [], 'test_maps does not run for a selection that does not name it');
  const denied = effectiveSelection({ deny: ['map_kptr*'] });
  t.same(denied.allow, [...DEFAULT_ALLOW]);
  t.notOk(selects(denied, 'map_kptr_race'));
  t.ok(selects(denied, 'sk_storage_tracing'));
  t.same(testProgsArgs(effectiveSelection({ names: ['a/b'], allow: ['c*'], deny: ['d'] })), ['-t', 'a/b', '-a', 'c*', '-d', 'd']);
  t.ok(selects(effectiveSelection({ names: ['sk_storage/basic'] }), 'sk_storage_map'), 'a TEST/SUBTEST filter selects by its test part');
  t.ok(selects(effectiveSelection({ names: ['sk_storage'] }), 'sk_storage_map'), '-t is a substring');
  t.notOk(selects(effectiveSelection({ allow: ['sk_storage'] }), 'sk_storage_map'), '-a is exact');
});

t.test('glob', async (t) => {
  t.ok(globMatch('abc', 'a*c'));
  t.ok(globMatch('a.c', 'a.c'));
  t.notOk(globMatch('abc', 'a.c'), 'a dot is a dot');
  t.ok(globMatch('x', '*'));
  t.notOk(globMatch('xa', 'a*'));
});
