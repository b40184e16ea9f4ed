// Real VMs: the memcg charge caches are drained before the judged readings, and the drain's own
// figure shows the 7.x charge drift. On Debian's 7.3 with one CPU, the sk race leaves far more
// charge in objcg->nr_charged_bytes than the per-CPU tolerance (the drain hands it back; see
// harness/verdict/lingering.ts); 6.12 has no drift. Without the drain the clean 7.3 run fails
// (seen with the drain skipped: memory.stat kernel +1156 KiB after 30 s, tolerance 260 KiB).
// 300 rounds: the drift grows with the rounds (364..937 KiB handed back after 100 in five
// runs), so it stays well above the one-CPU tolerance.
import t from 'tap';
import type { ScenarioResult } from '../../harness/results/summary.js';
import { parseSummary, runCli } from '../helpers/cli.js';

const RACE = 'sk-map-free-vs-close-race';

function race(kernel: string): ScenarioResult {
  const run = runCli(['vm-test', '--kernel', kernel, '--cpus', '1', '--scenario', RACE, '--set', 'rounds=300', '--seed', '5', '--accel', 'tcg', '--json']);
  const s = parseSummary(run);
  const r = s.scenarios.find((x) => x.name === RACE);
  if (!r) throw new Error(`${RACE} missing from the summary of ${kernel}`);
  return r;
}

t.test('debian:7.3, one CPU: the drain hands back the drift, the drained residue passes', async (t) => {
  const r = race('debian:7.3');
  t.equal(r.verdict, 'pass', r.reason);
  const m = r.memcg;
  if (!m) return t.fail('summary.json has no memcg figures');
  t.ok(m.baselineHandedBack, 'the baseline was drained too');
  t.ok(m.handedBack.kernel > m.tolerance, `the drain handed back ${m.handedBack.kernel} B of kernel memory, more than the ${m.tolerance} B tolerance`);
  t.ok(m.residue.kernel <= m.tolerance, `after the drain memory.stat kernel is ${m.residue.kernel} B above its baseline`);
  t.ok(m.residue.kernel + m.handedBack.kernel > m.tolerance, 'an undrained reading of this clean run would have failed');
  t.ok(m.handedBack.drainUs < 1_000_000, `the memory.high=0 write took ${m.handedBack.drainUs} us`);
});

t.test('debian:6.12, one CPU: nothing to hand back', async (t) => {
  const r = race('debian:6.12');
  t.equal(r.verdict, 'pass', r.reason);
  const m = r.memcg;
  if (!m) return t.fail('summary.json has no memcg figures');
  t.ok(Math.abs(m.handedBack.kernel) < 4 * 4096, `the drain handed back ${m.handedBack.kernel} B: under a page per object stock slot`);
  t.ok(m.residue.kernel <= m.tolerance, `memory.stat kernel ${m.residue.kernel} B above its baseline`);
});
