// scripts/nightly.sh run twice on a local clone, with NIGHTLY_KERNEL replacing the build + boot of
// the tree by Debian's 7.3 (a documented option): the first night is the baseline, the second
// (with the map held, a planted regression) prints the comparison and exits 1.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execaSync } from 'execa';
import { projectRoot } from '../../harness/util/paths.js';
import { gitRepo } from '../helpers/git.js';
import { tempDir } from '../helpers/temp-dir.js';

const env = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
const git = (d: string, ...a: string[]): string => String(execaSync('git', ['-C', d, ...a], { env }).stdout).trim();

function nightly(args: string[], extra: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync('bash', [join(projectRoot, 'scripts', 'nightly.sh'), ...args], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
    killSignal: 'SIGINT',
    env: { ...process.env, NIGHTLY_KERNEL: 'debian:7.3', NIGHTLY_SIZES: 'small', NIGHTLY_SCENARIOS: 'sk-map-free-live-owners', ...extra },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

t.test('two nights: the tree is pulled, the second night is compared with the first', async (t) => {
  const origin = gitRepo(t, 'nightly-origin');
  const tree = join(tempDir(t, 'nightly-tree'), 'tree');
  execaSync('git', ['clone', '-q', origin, tree]);
  writeFileSync(join(origin, 'a.c'), 'int a; int b;\n');
  git(origin, 'commit', '-qam', 'bpf: upstream moved');
  const results = tempDir(t, 'nightly-res');

  const first = nightly([tree, 'main'], { NIGHTLY_RESULTS: results, NIGHTLY_VMTEST_ARGS: '--accel tcg --seed 3' });
  t.equal(first.status, 0, first.out);
  t.match(first.out, /nightly: updating \S+: git pull --ff-only origin main/);
  t.match(first.out, /nightly: tree at [0-9a-f]{40} bpf: upstream moved/);
  t.match(first.out, /no previous night to compare with: this night is the baseline/);
  t.equal(git(tree, 'rev-parse', 'HEAD'), git(origin, 'rev-parse', 'HEAD'), 'the tree was brought up to date');
  const nights1 = readdirSync(results).filter((n) => n.startsWith('nightly-2'));
  t.equal(nights1.length, 1);
  const n1 = join(results, nights1[0]!);
  for (const f of ['summary.json', 'nightly.log', 'comparison.txt', 'tree-commit.txt', 'trend.html']) t.ok(existsSync(join(n1, f)), f);
  t.ok(readdirSync(n1).some((n) => /-debian-7\.3$/.test(n)), "the run's results directory is inside the night's");
  t.ok(existsSync(join(results, 'nightly-state', 'last-summary.json')), 'the state file points the next night at this one');

  await new Promise((r) => setTimeout(r, 1100)); // night directories are named by the second
  const second = nightly([tree], { NIGHTLY_RESULTS: results, NIGHTLY_SETTLE_DEADLINE: '3', NIGHTLY_VMTEST_ARGS: '--accel tcg --seed 3 --inject-fault hold-map' });
  t.equal(second.status, 1, 'a regression fails the night');
  t.match(second.out, /comparing with the previous night/);
  t.match(second.out, /sk-map-free-live-owners\s+A debian:7\.3\s+PASS/);
  t.match(second.out, /B debian:7\.3\s+(FAIL|ERROR)/);
  t.match(second.out, /REGRESSION\s+sk-map-free-live-owners: PASS in A, (FAIL|ERROR) in B/);
  t.match(second.out, /nightly: REGRESSION since the previous night/);
  const n2 = join(results, readdirSync(results).filter((n) => n.startsWith('nightly-2')).sort().pop()!);
  t.match(readFileSync(join(n2, 'comparison.txt'), 'utf8'), /verdict: REGRESSION/);
  t.match(readFileSync(join(n2, 'nightly.log'), 'utf8'), /REGRESSION\s+sk-map-free-live-owners/, 'the table is in the log');
  const trend = readFileSync(join(n2, 'trend.html'), 'utf8');
  t.match(trend, /2 nights from/, 'the trend holds both nights, once each (results/ and the history beside the state)');
  t.equal(readdirSync(join(results, 'nightly-state', 'history')).length, 2, 'each night kept beside the state file');
  t.match(trend, /<b>REGRESSION<\/b><\/span>: <a href="#t-sk-map-free-live-owners"/, "the trend lists the second night's regression");
  t.match(trend, new RegExp(git(tree, 'rev-parse', 'HEAD').slice(0, 8)), "with the tree's commit");
});

t.test('bad input: exit 2 naming the fix', async (t) => {
  const none = spawnSync('bash', [join(projectRoot, 'scripts', 'nightly.sh')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(none.status, 2);
  t.match(none.stderr, /usage: scripts\/nightly\.sh TREE \[BRANCH\]/);
  const missing = spawnSync('bash', [join(projectRoot, 'scripts', 'nightly.sh'), join(tmpdir(), 'no-such-tree-bpfh')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(missing.status, 2);
  t.match(missing.stderr, /is not a directory: give a kernel source tree/);
});
