// Real VMs: Debian's 7.3 (with the series) and 6.12 (without it) must both pass every scenario
// at small sizes: the harness must not cry wolf on a correct kernel. And the harness must fail
// when elements really stay: the hold-map self-test keeps the map during the settle wait.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult, Summary } from '../../harness/report/summary-types.js';
import { parseSummary, runCli } from '../helpers/cli.js';

const SCENARIOS = [
  'sk-map-free-live-owners', 'sk-map-free-vs-close-race', 'sk-recreate-under-memcg-limit',
  'task-map-free-live-owners', 'task-map-free-vs-exit-race', 'task-recreate-under-memcg-limit',
  'cgrp-map-free-live-owners', 'cgrp-map-free-vs-rmdir-race', 'cgrp-recreate-under-memcg-limit',
  'sk-multi-map', 'task-multi-map', 'cgrp-multi-map',
];

function scenario(s: Summary, name: string): ScenarioResult {
  const found = s.scenarios.find((x) => x.name === name);
  if (!found) throw new Error(`scenario ${name} missing from summary`);
  return found;
}

for (const [kernel, releasePrefix] of [['debian:7.3', '7.3'], ['debian:6.12', '6.12']] as const) {
  t.test(`vm-test on ${kernel}, small sizes, passes every scenario`, async (t) => {
    const run = runCli(['vm-test', '--kernel', kernel, '--sizes', 'small', '--seed', '42', '--json']);
    const s = parseSummary(run);
    t.equal(s.version, 1);
    t.match(s.kernel.release, new RegExp(`^${releasePrefix.replace('.', '\\.')}`), 'the guest ran the kernel asked for');
    t.same(s.scenarios.map((x) => x.name), SCENARIOS);
    for (const x of s.scenarios) t.equal(x.verdict, 'pass', `${x.name}: ${x.reason}`);
    t.equal(run.status, 0, 'exit 0 when nothing lingers');

    const live = scenario(s, 'sk-map-free-live-owners');
    t.ok(live.counters.before && live.counters.after, 'counters before and after are recorded');
    const perElement = Number(live.notes?.chargedPerElement);
    t.ok(perElement >= 200 && perElement <= 2048, `memcg charge per element is plausible (${perElement} B)`);
    t.ok(Number(live.notes?.memcgSensitivity) >= 2, `one lingering element per socket exceeds the memcg tolerance at least twice (${live.notes?.memcgSensitivity}x)`);
    t.equal(live.counters.after?.optmemChanged, 0, 'every socket back to its optmem baseline');
    t.ok((live.counters.peak?.optmemTotal ?? 0) > 0, 'optmem rose while the elements existed');
    t.ok(live.settleMs !== null && live.settleMs < 30_000, `reclaim time recorded (${live.settleMs} ms)`);

    const race = scenario(s, 'sk-map-free-vs-close-race');
    t.ok((race.rates?.raceRoundsPerSec ?? 0) > 0, 'race rounds per second recorded');
    t.equal(race.seed, 42);

    for (const kind of ['task', 'cgrp']) {
      const owners = scenario(s, `${kind}-map-free-live-owners`);
      const n = Number(owners.params.owners);
      const charge = Number(owners.notes?.chargedPerElement);
      t.ok(charge >= 1024 && charge <= 8192, `${kind}: memcg charge per element is plausible (${charge} B)`);
      t.ok(Number(owners.notes?.memcgSensitivity) >= 2, `${kind}: one lingering element per owner exceeds the memcg tolerance at least twice (${owners.notes?.memcgSensitivity}x)`);
      t.equal(owners.inspector?.peak?.elements, n, `${kind}: the inspector saw the ${n} elements at the peak`);
      t.equal(owners.inspector?.after?.lingeringElements, 0, `${kind}: the inspector found none left`);
      t.equal(owners.inspector?.after?.storages, 0, `${kind}: no storage struct left attached`);
      const raced = scenario(s, kind === 'task' ? 'task-map-free-vs-exit-race' : 'cgrp-map-free-vs-rmdir-race');
      t.ok((raced.rates?.raceRoundsPerSec ?? 0) > 0 && (raced.rates?.elementsPerSec ?? 0) > 0, `${kind}: race rates recorded`);
      t.equal(raced.inspector?.after?.lingeringElements, 0, `${kind}: nothing of the raced maps linked anywhere`);
    }
    for (const kind of ['sk', 'task', 'cgrp']) {
      const multi = scenario(s, `${kind}-multi-map`);
      const n = Number(multi.params[kind === 'sk' ? 'sockets' : 'owners']);
      t.equal(multi.inspector?.peak?.storages, n, `${kind}-multi-map: one storage struct per owner`);
      t.equal(multi.inspector?.peak?.elements, n * Number(multi.params.maps), `${kind}-multi-map: one element per map on each owner, in it`);
      t.equal(multi.inspector?.after?.storages, 0, `${kind}-multi-map: the shared struct went with the last map`);
    }

    const dir = s.resultsDir ?? '';
    for (const f of ['summary.json', 'results.tap', 'junit.xml', 'console.log', 'kernel.log', 'agent.jsonl']) {
      t.ok(existsSync(join(dir, f)), `${f} written`);
    }
  });
}

t.test('the harness fails when the map (and so every element) stays', async (t) => {
  const live = ['sk-map-free-live-owners', 'task-map-free-live-owners', 'cgrp-map-free-live-owners'];
  const run = runCli(['vm-test', '--kernel', 'debian:7.3', '--sizes', 'small', ...live.flatMap((n) => ['--scenario', n]), '--inject-fault', 'hold-map', '--settle-deadline', '3', '--json']);
  const s = parseSummary(run);
  t.equal(run.status, 1, 'exit 1 when something lingers');
  const sk = scenario(s, 'sk-map-free-live-owners');
  t.equal(sk.verdict, 'fail');
  t.match(sk.reason, /sockets kept \d+ B of optmem after the map was freed/);
  t.match(sk.reason, /closed maps still exist/);
  for (const [name, noun] of [['task-map-free-live-owners', 'task'], ['cgrp-map-free-live-owners', 'cgrp']] as const) {
    const x = scenario(s, name);
    t.equal(x.verdict, 'fail', `${name} fails`);
    t.match(x.reason, new RegExp(`\\d+ elements of freed maps are still linked on \\d+ ${noun} owners \\(\\d+`), `${name}: the inspector names the owners`);
    t.same(x.caughtBy, ['memcg', 'inspector', 'maps-freed'], `${name}: caught by memcg, the inspector and the map check`);
    t.ok((x.inspector?.after?.lingeringElements ?? 0) > 0, `${name}: lingering elements counted in summary.json`);
  }
  t.ok(sk.caughtBy?.includes('optmem') && sk.caughtBy.includes('inspector'), 'sk: caught by optmem and the inspector');
  t.match(run.stderr + run.stdout, /repeat with: npm run vm-test -- .*--inject-fault hold-map/);
});
