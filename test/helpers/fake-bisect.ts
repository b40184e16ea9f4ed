/** runBisect with the fake step, as a process of its own (Ctrl-C tests): fake-bisect.js REPO GOOD BAD RESULTS WORKTREE */
import { join } from 'node:path';
import { renderBisect, runBisect } from '../../harness/bisect/bisect.js';
import { projectRoot } from '../../harness/util/paths.js';

const [repo, good, bad, results, worktree] = process.argv.slice(2) as [string, string, string, string, string];
const r = await runBisect({
  tree: repo, good, bad, scenarios: [], sizes: 'small', retries: 1, seed: 1, debug: false, accel: 'tcg',
  bootDeadlineS: 60, settleDeadlineS: 30, buildDeadlineMin: 5, deadlineMin: 5,
  resultsRoot: results, worktree, out: join(results, 'out'),
  stepCommand: [process.execPath, join(projectRoot, 'dist', 'test', 'helpers', 'fake-bisect-step.js')],
  log: (l) => process.stdout.write(`${l}\n`),
});
process.stdout.write(`${renderBisect(r)}\n`);
process.exit(r.exitCode);
