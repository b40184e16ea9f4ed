// The BPF CI's test lists (the tree's DENYLIST, DENYLIST.<arch>, ALLOWLIST; --denylist/--allowlist
// FILE), test_progs' watchdog and workers. On the recorded lists and test names of Debian's
// linux-source-7.3 (test/fixtures/selftests/lists-7.3, see its README), and on the tree itself
// when it can be had (fetched and unpacked once into the cache, a clean skip when offline).
import t from 'tap';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLinuxSource } from '../../harness/kernel-build/linux-source.js';
import { progTestNames, SELFTESTS_BPF, treeLists, userLists } from '../../harness/selftests/lists.js';
import { watchdogKill } from '../../harness/selftests/run.js';
import { applyLists, effectiveSelection, parseTestList, testProgsArgs, testProgsRunnerArgs, selects, watchdogSeconds } from '../../harness/selftests/selection.js';
import { projectRoot } from '../../harness/util/paths.js';
import { SetupError } from '../../harness/util/errors.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIX = join(projectRoot, 'test', 'fixtures', 'selftests', 'lists-7.3');
const NAMES = readFileSync(join(FIX, 'prog-tests.txt'), 'utf8').trim().split('\n');
const LIST_FILES = ['DENYLIST', 'DENYLIST.asan', 'DENYLIST.riscv64', 'DENYLIST.s390x'];

/** A tree with 7.3's recorded lists where a tree has them (no sources: treeLists reads only the lists). */
function treeWithLists(extra: Record<string, string> = {}): string {
  const tree = tempDir(t, 'lists');
  const dir = join(tree, SELFTESTS_BPF);
  mkdirSync(dir, { recursive: true });
  for (const f of LIST_FILES) copyFileSync(join(FIX, f), join(dir, f));
  for (const [f, text] of Object.entries(extra)) writeFileSync(join(dir, f), text);
  return tree;
}

function userFile(text: string): string {
  const p = join(tempDir(t, 'userlist'), 'list');
  writeFileSync(p, text);
  return p;
}

t.test("7.3's lists read as test_progs reads them: comments and white space go", async (t) => {
  t.same(parseTestList(readFileSync(join(FIX, 'DENYLIST'), 'utf8')), ['get_stack_raw_tp', 'stacktrace_build_id', 'stacktrace_build_id_nmi', 'task_fd_query_rawtp', 'varlen']);
  t.same(parseTestList(readFileSync(join(FIX, 'DENYLIST.s390x'), 'utf8')), ['exe_ctx', 'get_stack_raw_tp', 'stacktrace_build_id'], 'entries followed by wide comments');
  t.same(parseTestList(readFileSync(join(FIX, 'DENYLIST.riscv64'), 'utf8')), ['exceptions']);
  t.same(parseTestList('  a b  # c\n\n#x\nt/sub*\r\n'), ['a b', 't/sub*'], 'inner spaces stay (test_progs keeps them), CR is white space');
});

t.test('the tree lists of x86_64 guests: DENYLIST, and no other arch or flavour', async (t) => {
  const tree = treeWithLists();
  t.same(treeLists(tree).map((l) => [l.kind, l.origin, l.label]), [['deny', 'tree', `${SELFTESTS_BPF}/DENYLIST`]]);
  t.same(treeLists(tree, 's390x').map((l) => l.label), [`${SELFTESTS_BPF}/DENYLIST`, `${SELFTESTS_BPF}/DENYLIST.s390x`], 'the arch file after the plain one');
  const withX86 = treeWithLists({ 'DENYLIST.x86_64': 'sk_storage_tracing # say\n', ALLOWLIST: 'sk_storage*\ntask_local_storage\n' });
  t.same(treeLists(withX86).map((l) => l.label.split('/').pop()), ['DENYLIST', 'DENYLIST.x86_64', 'ALLOWLIST']);
});

t.test('the default selection with 7.3 lists: nothing removed, every deny entry passed to test_progs', async (t) => {
  const sel = effectiveSelection({});
  const listed = applyLists(sel, treeLists(treeWithLists()), NAMES);
  t.same(listed.removed, []);
  t.same(listed.args, [...testProgsArgs(sel), '-d', 'get_stack_raw_tp', '-d', 'stacktrace_build_id', '-d', 'stacktrace_build_id_nmi', '-d', 'task_fd_query_rawtp', '-d', 'varlen']);
});

t.test("a selection the tree's DENYLIST cuts: the removed tests by name, list and entry", async (t) => {
  const listed = applyLists(effectiveSelection({ names: ['stack'] }), treeLists(treeWithLists()), NAMES);
  const label = `${SELFTESTS_BPF}/DENYLIST`;
  t.same(listed.removed, [
    { test: 'get_stack_raw_tp', list: label, entry: 'get_stack_raw_tp' },
    { test: 'stacktrace_build_id', list: label, entry: 'stacktrace_build_id' },
    { test: 'stacktrace_build_id_nmi', list: label, entry: 'stacktrace_build_id_nmi' },
  ]);
  t.ok(NAMES.filter((n) => n.includes('stack')).length > 3, 'and the other *stack* tests stay');
});

t.test('user lists layer after the tree: globs, subtest entries, attribution to the first list', async (t) => {
  const deny = userFile('# mine\nsk_storage_trac*   # flaky here\ntask_local_storage/exit_creds\nget_stack_raw_tp\n');
  const lists = [...treeLists(treeWithLists()), ...userLists({ deny: [deny] })];
  t.same(lists.map((l) => l.origin), ['tree', 'user']);
  const listed = applyLists(effectiveSelection({ names: ['sk_storage_tracing', 'task_local_storage', 'get_stack'] }), lists, NAMES);
  t.same(listed.removed, [
    { test: 'get_stack_raw_tp', list: `${SELFTESTS_BPF}/DENYLIST`, entry: 'get_stack_raw_tp' },
    { test: 'sk_storage_tracing', list: deny, entry: 'sk_storage_trac*' },
    { test: 'task_local_storage/exit_creds', list: deny, entry: 'task_local_storage/exit_creds', subtests: true },
  ]);
  const d = listed.args.flatMap((w, i) => (listed.args[i - 1] === '-d' ? [w] : []));
  t.ok(d.includes('task_local_storage/exit_creds') && d.includes('sk_storage_trac*'), 'test_progs gets every deny entry, subtests too');
  t.same(d.filter((x) => x === 'get_stack_raw_tp').length, 1, 'once, though two lists name it');
});

t.test('an allowlist narrows the selection and never widens it; what it leaves out goes as exact -d', async (t) => {
  const allow = userFile('sk_storage*\nbpf_iter/task_file\n');
  const listed = applyLists(effectiveSelection({}), userLists({ allow: [allow] }), NAMES);
  const kept = NAMES.filter((n) => n.startsWith('sk_storage'));
  const leftOut = listed.removed.map((r) => r.test);
  t.ok(leftOut.includes('task_local_storage') && leftOut.includes('cgrp_local_storage') && leftOut.includes('test_local_storage'), leftOut.join(' '));
  for (const n of kept) t.notOk(leftOut.includes(n), `${n} stays`);
  t.notOk(leftOut.includes('bpf_iter'), 'bpf_iter was not selected: the allowlist does not add it');
  t.ok(listed.removed.every((r) => r.list === allow && r.entry === '(not in this allowlist)'));
  for (const n of leftOut) t.ok(listed.args.join(' ').includes(`-d ${n}`), `-d ${n}`);
  t.notOk(listed.args.includes('bpf_iter/task_file'), 'no -a from an allowlist');
  const second = userFile('sk_storage_tracing\n');
  const both = applyLists(effectiveSelection({}), userLists({ allow: [allow, second] }), NAMES);
  const runs = NAMES.filter((n) => selects(effectiveSelection({}), n) && !both.removed.some((r) => r.test === n));
  t.same(runs, ['sk_storage_tracing'], 'each allowlist narrows in turn');
});

t.test('a list file that cannot be read is a usage error naming the option', async (t) => {
  t.throws(() => userLists({ deny: ['/nonexistent/DENYLIST.mine'] }), new SetupError('x'));
  t.throws(() => userLists({ allow: ['/nonexistent/a'] }), /--allowlist \/nonexistent\/a: cannot read it/);
  const cli = runCli(['selftests', '--kernel', '/nonexistent/tree', '--denylist', '/nonexistent/d'], 60_000);
  t.equal(cli.status, 2);
  t.match(cli.stderr, /--denylist \/nonexistent\/d: cannot read it/, 'before the kernel is even looked at');
  const alone = runCli(['vm-test', '--denylist', '/nonexistent/d'], 60_000);
  t.equal(alone.status, 2);
  t.match(alone.stderr, /--denylist and --allowlist choose BPF selftests: add --with-selftests/);
});

t.test("test_progs' watchdog from the runner deadline, workers from the guest's CPUs", async (t) => {
  // Not `-j 2`: linux-source-7.3's test_progs takes -j's count only attached (`-j, --workers[=WORKERS]`)
  // and exited 64 with its usage on `-j 2` (a 2-CPU guest, 2026-12-01).
  t.same(testProgsRunnerArgs(30 * 60_000, 2), ['-w', '600', '--workers=2'], 'the default deadline: 10 min watchdog, two workers');
  t.same(testProgsRunnerArgs(30 * 60_000, 1), ['-w', '600'], 'one CPU: no -j');
  t.same(testProgsRunnerArgs(60_000, 4), ['-w', '20', '--workers=4'], 'a third of a short deadline');
  t.equal(watchdogSeconds(9 * 60_000), 180);
  t.equal(watchdogSeconds(1000), 1, 'never 0 (test_progs takes 0 as no watchdog)');
  t.ok(watchdogSeconds(24 * 60 * 60_000) <= 600);
});

// The tree itself: the recorded lists and names are what linux-source-7.3 has.
const source = await ensureLinuxSource('7.3', { log: (l) => t.comment(l) }).then(
  (src) => src.tree,
  (e: unknown) => ({ skip: `linux-source-7.3 is not available (${(e as Error).message})` }),
);

t.test('the recorded lists and names are those of linux-source-7.3', { skip: typeof source === 'string' ? false : source.skip }, async (t) => {
  const tree = source as string;
  for (const f of LIST_FILES) t.equal(readFileSync(join(tree, SELFTESTS_BPF, f), 'utf8'), readFileSync(join(FIX, f), 'utf8'), f);
  t.same(treeLists(tree).map((l) => l.entries), [parseTestList(readFileSync(join(FIX, 'DENYLIST'), 'utf8'))]);
  t.same(progTestNames(tree), NAMES, "progTestNames reads prog_tests/*.c as the Makefile's tests.h rule does");
  // The watchdog line the runner's output is searched for, as 7.3's test_progs.c prints it.
  const fmt = /"(WATCHDOG: test case %s executes for %d seconds, terminating[^"]*)"/.exec(readFileSync(join(tree, SELFTESTS_BPF, 'test_progs.c'), 'utf8'))?.[1];
  t.ok(fmt, 'test_progs.c has the watchdog kill message');
  const printed = fmt!.replace('%s', 'sk_storage_tracing/sub').replace('%d', '600').replace('\\n', '\n');
  t.equal(watchdogKill(`#1 x:OK\n${printed}Caught signal #11!\n`), printed.trim());
});
