// The matrix nightly (.github/workflows/nightly.yml, parsed with the `yaml` package): its jobs,
// what each needs, the matrix, and that the names the jobs hand to each other agree (artifacts,
// flavors, the job list combine expects). And its combine step (scripts/ci-report.ts combine) on
// real recorded summaries (test/fixtures/compare, see its README): a first night, a second one
// with a regression in one configuration, a job that left no summary.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Step { name?: string; id?: string; uses?: string; run?: string; if?: string; env?: Record<string, string>; with?: Record<string, string | boolean | number> }
interface Job { needs?: string | string[]; if?: string; 'runs-on': string; 'continue-on-error'?: boolean; outputs?: Record<string, string>; strategy?: { 'fail-fast'?: boolean; matrix: Record<string, Array<string | number>> }; steps: Step[] }
const wf = parse(readFileSync(join(projectRoot, '.github', 'workflows', 'nightly.yml'), 'utf8')) as { on: Record<string, unknown>; jobs: Record<string, Job> };
const jobs = wf.jobs;
const needs = (j: Job): string[] => (j.needs === undefined ? [] : Array.isArray(j.needs) ? j.needs : [j.needs]);
const step = (j: Job, pred: (s: Step) => boolean): Step | undefined => j.steps.find(pred);

t.test('jobs: one build, the test matrix and the selftests after it, one combine after all', async (t) => {
  t.same(Object.keys(jobs).sort(), ['build', 'combine', 'selftests', 'test']);
  t.ok('schedule' in wf.on && 'workflow_dispatch' in wf.on);
  t.same(needs(jobs.build!), []);
  t.same(needs(jobs.test!), ['build']);
  t.same(needs(jobs.selftests!), ['build']);
  t.same(needs(jobs.combine!).sort(), ['build', 'selftests', 'test']);
  t.equal(jobs.combine!.if, 'always()', 'combine runs when a test job failed');
  t.equal(jobs.test!['continue-on-error'], true, 'a failing configuration is judged by combine, not by its own job');
  t.equal(jobs.selftests!['continue-on-error'], true);
  const m = jobs.test!.strategy!;
  t.equal(m['fail-fast'], false);
  t.same(m.matrix.flavor, ['debug', 'plain'], 'debug and non-debug');
  t.same(m.matrix.cpus, [1, 2], '1 and 2 guest CPUs');
  t.ok(m.matrix.sizes!.length >= 1);
});

t.test('the names the jobs pass each other agree', async (t) => {
  const build = step(jobs.build!, (s) => /nightly-build\.sh/.test(s.run ?? ''));
  t.match(build?.run, /scripts\/nightly-build\.sh "\$TREE_DIR" kernels/, 'the build writes kernels/');
  const script = readFileSync(join(projectRoot, 'scripts', 'nightly-build.sh'), 'utf8');
  for (const f of jobs.test!.strategy!.matrix.flavor!) t.match(script, new RegExp(`^\\s*${f}\\) flags=`, 'm'), `nightly-build.sh builds the ${f} flavor`);
  const upload = step(jobs.build!, (s) => s.uses?.startsWith('actions/upload-artifact@') ?? false);
  t.same([upload?.with?.name, upload?.with?.path], ['kernels', 'kernels/']);
  const download = step(jobs.test!, (s) => s.uses?.startsWith('actions/download-artifact@') ?? false);
  t.same([download?.with?.name, download?.with?.path], ['kernels', 'kernels']);
  const action = step(jobs.test!, (s) => s.uses === './');
  t.equal(action?.with?.kernel, 'kernels/${{ matrix.flavor }}/bzImage', 'each test job runs this repository\'s action on its flavor');
  t.match(String(action?.with?.['vm-test-args']), /--cpus \$\{\{ matrix\.cpus \}\}/);
  t.equal(action?.with?.['artifact-name'], 'night-${{ matrix.flavor }}-cpus${{ matrix.cpus }}-${{ matrix.sizes }}');
  const self = step(jobs.selftests!, (s) => s.uses === './');
  t.same([self?.with?.tree, self?.with?.selftests, self?.with?.debug], ['kernel-tree', true, true]);
  const restore = step(jobs.selftests!, (s) => s.uses?.startsWith('actions/cache/restore@') ?? false);
  const save = step(jobs.build!, (s) => s.uses?.startsWith('actions/cache/save@') ?? false);
  t.equal(restore?.with?.key, 'nightly-build-${{ needs.build.outputs.tree-key }}-${{ github.run_id }}', "the selftests job restores this night's build");
  t.equal(save?.with?.key, 'nightly-build-${{ steps.key.outputs.tree }}-${{ github.run_id }}');
  t.equal(jobs.build!.outputs?.['tree-key'], '${{ steps.key.outputs.tree }}');
  t.equal(restore?.with?.path, save?.with?.path, 'the same paths');

  // combine: the artifacts it downloads, the jobs it expects (a missing one is INCOMPLETE).
  const combine = step(jobs.combine!, (s) => s.id === 'combine');
  t.match(combine?.run, /node dist\/scripts\/ci-report\.js combine --out combined --state results\/nightly-state\/matrix \\\n\s+--history results\/nightly-state\/history --keep 60 --commit "\$TREE_COMMIT" nights\/night-\*/);
  t.equal(combine?.env?.TREE_COMMIT, '${{ needs.build.outputs.commit }}', 'the commit comes from the build job');
  t.equal(jobs.build!.outputs?.commit, '${{ steps.commit.outputs.commit }}');
  t.match(step(jobs.build!, (s) => s.id === 'commit')?.run, /git -C "\$TREE_DIR" log -1/);
  const kept = step(jobs.combine!, (s) => (s.uses?.startsWith('actions/cache/save@') ?? false))?.with?.path;
  t.equal(kept, 'results/nightly-state', 'the history is saved with the state, for the next night');
  const expected = /for job in ([^;]+); do/.exec(combine!.run!)![1]!.trim().split(/\s+/).sort();
  const { flavor, cpus, sizes } = jobs.test!.strategy!.matrix;
  const fromMatrix = flavor!.flatMap((f) => cpus!.flatMap((c) => sizes!.map((s) => `${f}-cpus${c}-${s}`)));
  t.same(expected, [...fromMatrix, String(self?.with?.['artifact-name']).replace(/^night-/, '')].sort(), "combine expects exactly the matrix's jobs and the selftests job");
  t.equal(step(jobs.combine!, (s) => s.uses?.startsWith('actions/download-artifact@') ?? false)?.with?.pattern, 'night-*');
});

const FIX = join(projectRoot, 'test', 'fixtures', 'compare');

function jobDir(root: string, label: string, fixture?: string): string {
  const dir = join(root, `night-${label}`);
  mkdirSync(dir, { recursive: true });
  if (fixture) copyFileSync(join(FIX, fixture, 'summary.json'), join(dir, 'summary.json'));
  return dir;
}

function combine(dirs: string[], out: string, state: string, extra: string[] = []): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(projectRoot, 'dist', 'scripts', 'ci-report.js'), 'combine', '--out', out, '--state', state, ...extra, ...dirs], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

t.test('combine: a first night, then a regression in one configuration', async (t) => {
  const root = tempDir(t, 'combine');
  const state = join(root, 'state');
  const n1 = join(root, 'n1');
  const first = combine([jobDir(n1, '7.3-cpus2-small', '7.3-small-pass'), jobDir(n1, '6.12-cpus2-small', '6.12-small-pass')], join(root, 'c1'), state);
  t.equal(first.status, 0, first.out);
  t.match(first.out, /sk-map-free-live-owners\s+7\.3-cpus2-small\s+PASS/);
  t.match(first.out, /\s+6\.12-cpus2-small\s+PASS/, 'one table: a row per configuration');
  t.match(first.out, /no previous night for 7\.3-cpus2-small, 6\.12-cpus2-small: they are the baseline/);
  t.match(first.out, /verdict: no regression over 2 configuration\(s\)/);
  t.ok(existsSync(join(state, '7.3-cpus2-small.json')) && existsSync(join(state, '6.12-cpus2-small.json')), 'the state holds each configuration');

  const n2 = join(root, 'n2');
  const second = combine([jobDir(n2, '7.3-cpus2-small', '7.3-small-hold-map'), jobDir(n2, '6.12-cpus2-small', '6.12-small-pass')], join(root, 'c2'), state);
  t.equal(second.status, 1, second.out);
  t.match(second.out, /REGRESSION\s+sk-map-free-live-owners: PASS in A, FAIL in B/);
  t.match(second.out, /last 7\.3-cpus2-small/, "compared with the same configuration's last night");
  t.match(second.out, /verdict: REGRESSION over 2 configuration\(s\)/);
  const json = JSON.parse(readFileSync(join(root, 'c2', 'combined.json'), 'utf8')) as { regression: boolean; exitCode: number; comparisons: Array<{ regression: boolean; b: { label: string } }> };
  t.same([json.regression, json.exitCode], [true, 1]);
  t.same(json.comparisons.map((c) => [c.b.label, c.regression]), [['now 7.3-cpus2-small', true], ['now 6.12-cpus2-small', false]]);
  t.match(readFileSync(join(root, 'c2', 'combined.txt'), 'utf8'), /verdict: REGRESSION/);

  const n3 = join(root, 'n3');
  const third = combine([jobDir(n3, '7.3-cpus2-small', '7.3-small-hold-map'), jobDir(n3, '6.12-cpus2-small', '6.12-small-pass')], join(root, 'c3'), state);
  t.equal(third.status, 0, 'the night after compares with the failing one: nothing new');
});

t.test('combine: a first night that fails, a job without a summary, bad input', async (t) => {
  const root = tempDir(t, 'combine');
  const failing = combine([jobDir(join(root, 'a'), 'held', '7.3-small-hold-map')], join(root, 'ca'), join(root, 'sa'));
  t.equal(failing.status, 1, 'a first night that already fails is not green');
  t.match(failing.out, /failing already: held/);
  const missing = combine([jobDir(join(root, 'b'), 'ok', '7.3-small-pass'), jobDir(join(root, 'b'), 'lost')], join(root, 'cb'), join(root, 'sb'));
  t.equal(missing.status, 2);
  t.match(missing.out, /lost: no summary\.json in .*night-lost: the job did not get as far as a run/);
  t.match(missing.out, /verdict: INCOMPLETE/);
  t.match(missing.out, /sk-map-free-live-owners\s+ok\s+PASS/, 'the jobs that ran are still in the table');
  const twice = combine([jobDir(join(root, 'c'), 'x', '7.3-small-pass'), jobDir(join(root, 'd'), 'x', '7.3-small-pass')], join(root, 'cc'), join(root, 'sc'));
  t.equal(twice.status, 2);
  t.match(twice.out, /two jobs are both called x/);
  const multi = combine([jobDir(join(root, 'e'), 'm', 'multi-6.12-7.3')], join(root, 'ce'), join(root, 'se'));
  t.equal(multi.status, 2);
  t.match(multi.out, /a multi-kernel summary; give one run per matrix job/);
});

t.test('combine --history: the nights kept beside the state become trend.html, the oldest pruned', async (t) => {
  const root = tempDir(t, 'combine');
  const state = join(root, 'state');
  const history = join(root, 'history');
  const nights: Array<[string, string]> = [['7.3-small-pass', 'aaaa111 bpf: first'], ['7.3-small-pass', 'bbbb222 bpf: second'], ['7.3-small-hold-map', 'cccc333 bpf: third']];
  for (const [i, [fixture, commit]] of nights.entries()) {
    const n = join(root, `n${i}`);
    const r = combine([jobDir(n, 'plain-cpus2-small', fixture), jobDir(n, 'plain-cpus1-small', '6.12-small-pass')], join(root, `c${i}`), state, ['--history', history, '--keep', '2', '--commit', commit]);
    t.match(r.out, new RegExp(`trend of ${Math.min(i + 1, 2)} nights?: `), r.out);
  }
  const kept = readdirSync(history).sort();
  t.equal(kept.length, 2, 'the newest two nights are kept');
  t.same(readdirSync(join(history, kept[1]!)).sort(), ['plain-cpus1-small.json', 'plain-cpus2-small.json', 'tree-commit.txt']);
  const html = readFileSync(join(root, 'c2', 'trend.html'), 'utf8');
  t.match(html, /plain-cpus2-small/, 'a series per configuration');
  t.match(html, /plain-cpus1-small/);
  t.match(html, /cccc333/, "the night's commit is shown");
  t.notMatch(html, /aaaa111/, 'the pruned night is gone');
  t.match(html, /regression/i, "the third night's regression in plain-cpus2-small is marked");
  const bad = combine([jobDir(join(root, 'x'), 'ok', '7.3-small-pass')], join(root, 'cx'), state, ['--history', history, '--keep', 'lots']);
  t.equal(bad.status, 2);
  t.match(bad.out, /--keep lots: give a whole number of nights/);
});

t.test('combine --history: a kept summary the trend cannot read costs the page, not the verdict or the state', async (t) => {
  const root = tempDir(t, 'combine');
  const state = join(root, 'state');
  const history = join(root, 'history');
  // A night kept by an older harness, its summary of a version this one refuses.
  const old = join(history, 'nightly-2026-01-01T02-00-00.000Z');
  mkdirSync(old, { recursive: true });
  const summary = JSON.parse(readFileSync(join(FIX, '7.3-small-pass', 'summary.json'), 'utf8')) as { version: number };
  writeFileSync(join(old, 'plain-cpus2-small.json'), JSON.stringify({ ...summary, version: 99 }));
  const r = combine([jobDir(join(root, 'n'), 'plain-cpus2-small', '7.3-small-hold-map')], join(root, 'c'), state, ['--history', history]);
  t.equal(r.status, 1, `the verdict's exit code (a first night that fails): ${r.out}`);
  t.match(r.out, /verdict: REGRESSION over 1 configuration/);
  t.match(r.out, /ci-report: warning: no trend\.html this night \(the verdict stands\): .*plain-cpus2-small\.json/);
  t.ok(existsSync(join(state, 'plain-cpus2-small.json')), 'the state holds this night for the next');
  t.notOk(existsSync(join(root, 'c', 'trend.html')));
});

t.test('table: the run table of one summary', async (t) => {
  const r = spawnSync(process.execPath, [join(projectRoot, 'dist', 'scripts', 'ci-report.js'), 'table', join(FIX, '7.3-small-hold-map', 'summary.json')], { encoding: 'utf8' });
  t.equal(r.status, 0);
  t.match(r.stdout, /sk-map-free-live-owners\s+FAIL/);
  t.match(r.stdout, /pass 1\s+fail 2\s+error 0/);
});
