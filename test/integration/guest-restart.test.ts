// A real debian:7.3 guest under multi-threaded TCG dies of `Oops: int3` in its first boot (the
// test module's int3, --inject-fault stray-int3: the oops multi-threaded TCG's stale
// text_poke_bp() breakpoint makes, which ended two full `npm test` runs). The run must boot
// again, run the scenario that was running again, and pass, with the death in the results.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSummary, runCli } from '../helpers/cli.js';

const BASE = ['vm-test', '--kernel', 'debian:7.3', '--sizes', 'small', '--seed', '7', '--scenario', 'sk-map-free-live-owners', '--inject-fault', 'stray-int3'];

t.test('a stray int3 in the first boot: booted again, the scenario run again, and the run passes', async (t) => {
  const run = runCli([...BASE, '--accel', 'tcg', '--cpus', '2', '--json']);
  const s = parseSummary(run);
  t.equal(run.status, 0, `exit 0: ${run.stderr.slice(-2000)}`);
  t.same(s.scenarios.map((x) => [x.name, x.verdict]), [['sk-map-free-live-owners', 'pass']], 'one result: the new boot\'s');
  t.equal(s.guestRestarts?.length, 1, 'one restart recorded');
  const r = s.guestRestarts?.[0];
  t.equal(r?.scenario, 'sk-map-free-live-owners');
  t.match(r?.crash, /Oops: int3: /);
  t.match(r?.firstReason, /guest died/, 'what the first run said');
  t.ok(Number(r?.bootMs) > 0, `the new boot took ${r?.bootMs} ms`);
  const dead = readFileSync(join(String(s.resultsDir), String(r?.console)), 'utf8');
  t.match(dead, /RIP: 0010:bpfh_warn_init\+/, "the dead guest's console has the oops's RIP");
  t.match(dead, /---\[ end trace/, 'and the whole trace');
  t.match(readFileSync(join(String(s.resultsDir), 'kernel.log'), 'utf8'), /--- the guest died here \(kernel oops: .*Oops: int3.*\) and was booted again: boot 2 ---/);
  t.match(run.stderr, /taken for multi-threaded TCG's stale text_poke_bp\(\) breakpoint .*: booting again \(boot 2\)/);
});

t.test('with one vCPU no restart can follow: stray-int3 is refused in one line before the boot', async (t) => {
  const run = runCli([...BASE, '--accel', 'tcg', '--cpus', '1']);
  t.equal(run.status, 2);
  const lines = run.stderr.trim().split('\n');
  t.match(lines[lines.length - 1], /--inject-fault stray-int3 needs multi-threaded TCG with 2 or more CPUs \(tcg, 1 CPU here\), the only guest a stray int3 boots again: use --accel tcg --cpus 2$/);
  t.notMatch(run.stdout + run.stderr, /booting 7\.3/, 'nothing booted');
});

t.test('with --shell-on-fail no restart can follow: stray-int3 is refused in one line, before the terminal is even asked for', async (t) => {
  const run = runCli([...BASE, '--shell-on-fail']);
  t.equal(run.status, 2);
  t.equal(run.stderr, 'bpf-harness: --inject-fault stray-int3 cannot go with --shell-on-fail (the run boots no second guest while a shell may open in it): leave one out\n');
});
