// The one failure handler: what the parser refuses (a missing required option with its hint, a
// bad choice) is one line naming the fix, exit 2, like every other usage error.
import t from 'tap';
import { runCli } from '../helpers/cli.js';

const refusals: Array<[string[], RegExp]> = [
  [['selftests'], /^bpf-harness: Missing required argument: kernel; give --kernel <kernel source tree>; see --help$/],
  [['bisect', '--tree', '/nonexistent'], /^bpf-harness: Missing required arguments: good, bad; give --good <a commit that passes>; give --bad <a commit that fails>; see --help$/],
  [['vm-test', '--sizes', 'huge'], /^bpf-harness: Invalid values: Argument: sizes, Given: "huge", Choices: "small", "default", "stress"; see --help$/],
  [['kernel', 'frob', '--tree', 'x'], /^bpf-harness: Invalid values: Argument: action, Given: "frob", Choices: "build"; see --help$/],
  [['vm-test', '--frobnicate'], /^bpf-harness: Unknown argument: frobnicate; see --help$/],
  [[], /^bpf-harness: name a command, e.g. vm-test; see --help$/],
];

for (const [args, line] of refusals) {
  t.test(`refused: bpf-harness ${args.join(' ')}`, async (t) => {
    const r = runCli(args, 30_000);
    t.equal(r.status, 2);
    t.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `one line: ${JSON.stringify(r.stderr)}`);
    t.match(lines[0], line);
  });
}

t.test('bisect-step: every error aborts the bisect (git bisect run reads 2 as a bad commit)', async (t) => {
  const r = runCli(['bisect-step', '--state', '/nonexistent/bisect.json'], 30_000);
  t.equal(r.status, 128);
  t.match(r.stderr, /^bisect-step: ENOENT/);
});
