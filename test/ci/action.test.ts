// The reusable action: action.yml's structure (parsed with the `yaml` package), and its logic,
// scripts/ci-action.sh, run the way the action's step runs it: the environment built from
// action.yml's own `env:` mapping with the inputs a workflow would pass, GitHub's
// GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_WORKSPACE as temp files. Two real debian:7.3
// guests at small sizes with one scenario and the map held (the hidden self-test fault: the
// scenario fails for real), about 20 s each: against a recorded run that failed the same way
// (no regression: the job passes) and against a recorded passing run (a regression).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir } from '../helpers/temp-dir.js';

interface ActionInput { description: string; required?: boolean; default?: string }
interface ActionStep { name?: string; id?: string; uses?: string; run?: string; shell?: string; if?: string; env?: Record<string, string>; with?: Record<string, string> }
interface Action { name: string; description: string; inputs: Record<string, ActionInput>; outputs: Record<string, { value: string }>; runs: { using: string; steps: ActionStep[] } }

const action = parse(readFileSync(join(projectRoot, 'action.yml'), 'utf8')) as Action;
const script = readFileSync(join(projectRoot, 'scripts', 'ci-action.sh'), 'utf8');
const runStep = action.runs.steps.find((s) => s.id === 'run');

t.test('action.yml: a composite action whose step runs scripts/ci-action.sh with every input', async (t) => {
  t.equal(action.runs.using, 'composite');
  t.ok(action.name && action.description);
  for (const [name, input] of Object.entries(action.inputs)) {
    t.ok(input.description, `${name} is described`);
    t.equal(typeof input.default, 'string', `${name} has a default (the script's own when empty)`);
  }
  for (const s of action.runs.steps) if (s.run) t.equal(s.shell, 'bash', `${s.name}: composite run steps name their shell`);
  t.ok(runStep, 'the step with id run');
  t.match(runStep!.run!, /\$GITHUB_ACTION_PATH\/scripts\/ci-action\.sh/);
  for (const name of Object.keys(action.inputs).filter((n) => n !== 'artifact-name')) {
    const env = `INPUT_${name.toUpperCase().replace(/-/g, '_')}`;
    t.equal(runStep!.env?.[env], `\${{ inputs.${name} }}`, `${name} reaches the script as ${env}`);
    t.ok(script.includes(env), `the script reads ${env}`);
  }
  for (const [name, o] of Object.entries(action.outputs)) {
    t.equal(o.value, `\${{ steps.run.outputs.${name} }}`);
    t.match(script, new RegExp(`output ${name} `), `the script writes ${name}`);
  }
  const upload = action.runs.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
  t.equal(upload?.with?.path, '${{ steps.run.outputs.results-dir }}', 'the run directory is uploaded');
  t.equal(upload?.with?.name, '${{ inputs.artifact-name }}');
  const steps = action.runs.steps;
  t.ok(steps.indexOf(upload!) > steps.indexOf(runStep!) && steps.at(-1)!.run?.includes('steps.run.outputs.exit-code'), 'the verdict fails the job last, after the upload');
});

/** The step's environment as the runner makes it from action.yml for these inputs (GitHub's expressions used there). */
function stepEnv(inputs: Record<string, string>, dir: string): Record<string, string> {
  const value = (name: string): string => inputs[name] ?? action.inputs[name]?.default ?? '';
  const env: Record<string, string> = {};
  for (const [k, expr] of Object.entries(runStep!.env ?? {})) {
    const plain = /^\$\{\{ inputs\.([\w-]+) \}\}$/.exec(expr);
    const ternary = /^\$\{\{ inputs\.([\w-]+) == '([^']*)' && '([^']*)' \|\| '([^']*)' \}\}$/.exec(expr);
    if (plain) env[k] = value(plain[1]!);
    else if (ternary) env[k] = value(ternary[1]!) === ternary[2] ? ternary[3]! : ternary[4]!;
    else throw new Error(`${k}: an expression this test does not evaluate: ${expr}`);
  }
  return { ...env, GITHUB_OUTPUT: join(dir, 'output'), GITHUB_STEP_SUMMARY: join(dir, 'step-summary.md'), GITHUB_WORKSPACE: dir, GITHUB_ACTION_PATH: projectRoot };
}

function runAction(inputs: Record<string, string>): { status: number | null; out: string; outputs: Record<string, string>; stepSummary: string; dir: string } {
  const dir = tempDir(t, 'action');
  writeFileSync(join(dir, 'output'), '');
  writeFileSync(join(dir, 'step-summary.md'), '');
  const r = spawnSync('bash', [join(projectRoot, 'scripts', 'ci-action.sh')], { cwd: dir, encoding: 'utf8', timeout: 5 * 60_000, killSignal: 'SIGINT', env: { ...process.env, ...stepEnv(inputs, dir) } });
  const outputs = Object.fromEntries(readFileSync(join(dir, 'output'), 'utf8').trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { status: r.status, out: `${r.stdout}${r.stderr}`, outputs, stepSummary: readFileSync(join(dir, 'step-summary.md'), 'utf8'), dir };
}

t.test('bad inputs: exit 2, one line naming the fix, in the log and the job summary, before anything boots', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ sizes: 'huge' }, /sizes: 'huge': give small, default or stress/],
    [{ selftests: 'yes' }, /selftests: 'yes': give true or false/],
    [{ selftests: 'true' }, /selftests: true needs tree/],
    [{ debug: 'true', kernel: 'debian:7.3' }, /debug: true needs tree/],
    [{ kernel: 'debian:7.3', tree: '.' }, /either kernel .* or tree/],
    [{ tree: '/nonexistent/linux' }, /tree: \/nonexistent\/linux is not a directory/],
    [{ 'previous-summary': '/nonexistent/summary.json' }, /previous-summary: \/nonexistent\/summary\.json does not exist/],
  ];
  for (const [inputs, message] of cases) {
    const r = runAction(inputs);
    t.equal(r.status, 2, JSON.stringify(inputs));
    t.match(r.out, message);
    t.match(r.stepSummary, message, 'the job summary says it too');
    t.same([r.outputs.verdict, r.outputs['exit-code']], ['error', '2']);
  }
});

const SCENARIO = 'sk-map-free-live-owners';
/** The map held through the settle wait: the scenario fails for real (elements, optmem, memcg stay). */
const HELD = '--accel tcg --seed 42 --cpus 1 --inject-fault hold-map --settle-deadline 3';

t.test('a run that fails as the previous one did: no regression, the job passes, the failure in the table', async (t) => {
  const previous = join(projectRoot, 'test', 'fixtures', 'compare', '7.3-small-hold-map');
  const r = runAction({ kernel: 'debian:7.3', sizes: 'small', scenarios: SCENARIO, 'previous-summary': previous, 'vm-test-args': HELD });
  t.equal(r.status, 0, r.out);
  t.same([r.outputs.verdict, r.outputs['exit-code']], ['fail', '0'], 'vm-test failed; compare found nothing new');
  t.ok(existsSync(join(r.outputs['results-dir']!, 'summary.json')) && r.outputs.summary === join(r.outputs['results-dir']!, 'summary.json'));
  t.ok(r.outputs['results-dir']!.startsWith(join(r.dir, 'bpf-harness-results')), 'results under the workspace');
  t.match(r.stepSummary, /^## bpf-harness: FAIL \(debian:7\.3, sizes small\)/);
  t.match(r.stepSummary, new RegExp(`${SCENARIO}\\s+FAIL`));
  t.match(r.stepSummary, /verdict: no regression/);
});

t.test('a regression against the previous summary fails the job, with the comparison in the job summary', async (t) => {
  const previous = join(projectRoot, 'test', 'fixtures', 'compare', '7.3-small-pass');
  const r = runAction({ kernel: 'debian:7.3', sizes: 'small', scenarios: SCENARIO, 'previous-summary': previous, 'vm-test-args': HELD });
  t.equal(r.status, 1, r.out);
  t.same([r.outputs.verdict, r.outputs['exit-code']], ['regression', '1']);
  t.match(r.stepSummary, /^## bpf-harness: REGRESSION/);
  t.match(r.stepSummary, new RegExp(`${SCENARIO}\\s+FAIL`));
  t.match(r.stepSummary, new RegExp(`REGRESSION\\s+${SCENARIO}: PASS in A, (FAIL|ERROR) in B`));
  t.match(readFileSync(join(r.outputs['results-dir']!, 'comparison.txt'), 'utf8'), /verdict: REGRESSION/, 'the comparison is kept with the results');
});
