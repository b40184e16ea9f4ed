// --inject-fault: which scenario gets which fault, the refusals (exit 2 before anything boots),
// and the repeat line's words.
import t from 'tap';
import { faultArgs, faultFor, FAULTS, parseFaults } from '../../harness/scenarios/faults.js';
import { ALL_SCENARIOS } from '../../harness/scenarios/registry.js';
import { runCli } from '../helpers/cli.js';

const byName = (name: string) => {
  const s = ALL_SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return s;
};

t.test('every scenario family has a fault, and each fault names the signals that must catch it', async (t) => {
  const families = new Set(ALL_SCENARIOS.map((s) => s.family));
  t.same([...families].sort(), ['live-owners', 'multi-map', 'race', 'recreate']);
  for (const f of families) t.ok(Object.values(FAULTS).some((x) => (x.families as readonly string[]).includes(f)), `${f} has a fault`);
  for (const [name, f] of Object.entries(FAULTS)) t.match(f.help, new RegExp(`^${name}: .*caught by`), `${name}: the help says what catches it`);
});

t.test('a general fault goes to the scenarios of its families; FAULT:SCENARIO to that one', async (t) => {
  const parsed = parseFaults(['leave-elem', 'hold-map:sk-map-free-vs-close-race', 'kernel-warn'], ALL_SCENARIOS, ['kernel-warn', 'kmsg-flood']);
  t.equal(parsed.run, 'kernel-warn', 'a run-wide fault (the kernel-log self-tests) goes beside them');
  const reqs = parsed.scenarios;
  t.equal(faultFor(reqs, byName('sk-map-free-live-owners')), 'leave-elem');
  t.equal(faultFor(reqs, byName('sk-map-free-vs-close-race')), 'hold-map');
  t.equal(faultFor(reqs, byName('task-map-free-vs-exit-race')), undefined, 'leave-elem is not injected in races');
  t.equal(faultFor([], byName('sk-multi-map')), undefined);
  t.same(faultArgs(reqs), ['--inject-fault', 'leave-elem', '--inject-fault', 'hold-map:sk-map-free-vs-close-race']);
});

t.test('refused: unknown faults and scenarios, a fault a family does not inject, two on one scenario', async (t) => {
  t.throws(() => parseFaults(['bogus'], ALL_SCENARIOS, ['kernel-warn']), /--inject-fault bogus: expected FAULT or FAULT:SCENARIO with FAULT one of hold-map, leave-elem, stale-value, or one of kernel-warn$/);
  t.throws(() => parseFaults(['kernel-warn', 'kmsg-flood'], ALL_SCENARIOS, ['kernel-warn', 'kmsg-flood']), /--inject-fault kmsg-flood: kernel-warn is given already/);
  t.throws(() => parseFaults(['hold-map:nope'], ALL_SCENARIOS), /nope is not among the scenarios to run/);
  t.throws(() => parseFaults(['leave-elem:sk-map-free-vs-close-race'], ALL_SCENARIOS), /leave-elem is injected only in live-owners, recreate, multi-map scenarios; sk-map-free-vs-close-race is race/);
  t.throws(() => parseFaults(['hold-map', 'leave-elem'], ALL_SCENARIOS), /sk-map-free-live-owners would get two faults/);
  t.throws(() => parseFaults(['stale-value'], [byName('sk-map-free-live-owners')]), /no scenario to run is of the families it is injected in \(multi-map\)/);
  const run = runCli(['vm-test', '--scenario', 'sk-map-free-vs-close-race', '--inject-fault', 'leave-elem', '--kernel', 'debian:7.3'], 60_000);
  t.equal(run.status, 2, 'exit 2');
  t.match(run.stderr, /^bpf-harness: --inject-fault leave-elem: no scenario to run is of the families/);
  t.notMatch(run.stderr + run.stdout, /boot|guest up/, 'before anything boots');
});
