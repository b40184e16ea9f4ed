// Real VMs: Debian's 7.3 (with the series) and 6.12 (without it) must both pass every scenario
// at small sizes: the harness must not cry wolf on a correct kernel. And the harness must fail
// when something really stays: one boot injects a fault (harness/scenarios/faults.ts, made by
// the agent) into every scenario, and each must be caught by the signals that can see it.
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult, Summary } from '../../harness/results/summary.js';
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
    }
    // Every raced owner is gone afterwards, so "nothing linked on the owners" cannot fail there;
    // what can: each round made all its elements, every raced map was freed (the map check ran
    // over all of them), and at least one round dropped the map with owners still to release.
    for (const name of ['sk-map-free-vs-close-race', 'task-map-free-vs-exit-race', 'cgrp-map-free-vs-rmdir-race']) {
      const raced = scenario(s, name);
      const rounds = Number(raced.params.rounds);
      const owners = Number(raced.params[name.startsWith('sk') ? 'sockets' : 'owners']);
      t.ok((raced.rates?.raceRoundsPerSec ?? 0) > 0 && (raced.rates?.elementsPerSec ?? 0) > 0, `${name}: race rates recorded`);
      t.match(raced.checks.find((c) => c.name === 'elements-created')?.message, new RegExp(`^${rounds * owners} elements created`), `${name}: every round made all its elements`);
      t.match(raced.checks.find((c) => c.name === 'maps-freed')?.message, new RegExp(`^all ${rounds} maps freed`), `${name}: every raced map was watched until freed`);
      t.ok(Number(raced.notes?.dropAfterMin) < owners, `${name}: a round dropped the map with owners left to release (dropAfterMin ${raced.notes?.dropAfterMin} of ${owners})`);
    }
    for (const kind of ['sk', 'task', 'cgrp']) {
      const multi = scenario(s, `${kind}-multi-map`);
      const n = Number(multi.params[kind === 'sk' ? 'sockets' : 'owners']);
      t.equal(multi.inspector?.peak?.storages, n, `${kind}-multi-map: one storage struct per owner`);
      t.equal(multi.inspector?.peak?.elements, n * Number(multi.params.maps), `${kind}-multi-map: one element per map on each owner, in it`);
      t.equal(multi.inspector?.after?.storages, 0, `${kind}-multi-map: the shared struct went with the last map`);
    }

    // Race coverage: on 7.3 every steered race reaches the contended unlink path (both sides
    // each unlinking half of one element) and every round's map free is counted (README "Race
    // coverage"); the tracer was attached while the races ran and detached after (the kernel's
    // link list). 6.12 has no series: not applicable, and no failure.
    for (const name of ['sk-map-free-vs-close-race', 'task-map-free-vs-exit-race', 'cgrp-map-free-vs-rmdir-race']) {
      const cov = scenario(s, name).raceCoverage;
      if (releasePrefix === '6.12') {
        t.equal(cov?.applicable, false, `${name}: race coverage not applicable on 6.12`);
        continue;
      }
      if (!cov?.applicable) {
        t.fail(`${name}: no race coverage on 7.3`);
        continue;
      }
      t.equal(cov.roundsCounted, cov.rounds, `${name}: every round's map free was counted`);
      t.ok(cov.roundsReached > 0 && cov.handshake > 0, `${name}: the contended path was reached (${cov.roundsReached} of ${cov.rounds} rounds)`);
      const notes = scenario(s, name).notes;
      t.ok(Number(notes?.tracerLinksDuring) > 0 && notes?.tracerLinksAfter === 0, `${name}: the tracer was attached during the races only (${notes?.tracerLinksDuring} links, ${notes?.tracerLinksAfter} after)`);
    }

    // The cgroup race's gather (drop=gather, bpf/race.c): the agent holds every cgroup until
    // nothing else does, puts them at once, and keeps their storage destroys queued until the
    // map-free walk has begun. So in a gathered round (all but the first of each creation path,
    // which drops at its seeded moment: race-policy.ts) no destroy comes before the walk, and
    // the walk meets them. Without the hold they come before it (README "Race coverage").
    const cgrpCov = scenario(s, 'cgrp-map-free-vs-rmdir-race').raceCoverage;
    if (releasePrefix === '7.3' && cgrpCov?.applicable) {
      t.equal(cgrpCov.drop, 'gather');
      const perVia = cgrpCov.rounds / 2;
      const gathered = cgrpCov.perRound.filter((_, i) => i % perVia !== 0);
      const early = gathered.map((r) => r.destroyedBeforeWalk);
      t.ok(gathered.length > 0 && early.every((n) => n === 0), `cgrp: no storage destroyed before the walk in a gathered round (${early.join(', ')})`);
      const reached = gathered.filter((r) => r.handshake > 0).length;
      t.ok(reached * 2 > gathered.length, `cgrp: most gathered rounds reached the contended path (${reached} of ${gathered.length})`);
    }

    const dir = s.resultsDir ?? '';
    for (const f of ['summary.json', 'results.tap', 'junit.xml', 'report.html', 'console.log', 'kernel.log', 'agent.jsonl']) {
      t.ok(existsSync(join(dir, f)), `${f} written`);
    }
    // The settle loop's readings: from the drop to the settled reading, which passed every check.
    for (const r of s.scenarios) {
      const waits = r.settleSeries ?? [];
      t.ok(waits.length > 0 && waits.every((w) => w.samples.length > 0 && w.settleMs !== null), `${r.name}: every settle wait's readings kept`);
      const last = waits.at(-1)?.samples.at(-1);
      t.equal(last?.mapsAlive, 0, `${r.name}: the last reading found the maps freed`);
    }
  });
}

/**
 * One boot, every scenario with a fault the agent injects, and the signals that must catch it
 * (the help of --inject-fault says the same). `never`: signals that must not fire, because the
 * fault leaves nothing they measure (leave-elem frees the map; stale-value leaves nothing at
 * all): a signal firing there would be a false attribution. memcg is required only where
 * the fault leaves far more than its tolerance; elsewhere it may or may not see it.
 */
const FAULT_PLAN: Array<{ scenario: string; fault: string; caught: string[]; never: string[]; reason: RegExp }> = [
  { scenario: 'sk-map-free-live-owners', fault: 'leave-elem', caught: ['optmem', 'inspector'], never: ['maps-freed', 'values'], reason: /^64 of 4096 sockets kept 20480 B of optmem after the map was freed, up to 320 B on one .*64 sk owners still have a storage struct attached with every map gone/ },
  { scenario: 'sk-map-free-vs-close-race', fault: 'hold-map', caught: ['inspector', 'maps-freed'], never: ['values'], reason: /^4 of 10 closed maps still exist .*4 elements of freed maps are still linked on 4 sk owners/ },
  { scenario: 'sk-recreate-under-memcg-limit', fault: 'hold-map', caught: ['optmem', 'memcg', 'inspector', 'maps-freed'], never: ['values'], reason: /4096 of 4096 sockets kept 1310720 B of optmem/ },
  { scenario: 'task-map-free-live-owners', fault: 'hold-map', caught: ['memcg', 'inspector', 'maps-freed'], never: ['values'], reason: /768 elements of freed maps are still linked on 768 task owners \(\d+/ },
  { scenario: 'task-map-free-vs-exit-race', fault: 'hold-map', caught: ['inspector', 'maps-freed'], never: ['values'], reason: /^6 of 12 closed maps still exist .*6 elements of freed maps are still linked on 6 task owners/ },
  { scenario: 'task-recreate-under-memcg-limit', fault: 'leave-elem', caught: ['inspector'], never: ['maps-freed', 'values'], reason: /^8 task owners still have a storage struct attached with every map gone/ },
  { scenario: 'cgrp-map-free-live-owners', fault: 'leave-elem', caught: ['inspector'], never: ['maps-freed', 'values'], reason: /^12 cgrp owners still have a storage struct attached with every map gone/ },
  { scenario: 'cgrp-map-free-vs-rmdir-race', fault: 'hold-map', caught: ['inspector', 'maps-freed'], never: ['values'], reason: /^6 of 10 closed maps still exist .*6 elements of freed maps are still linked on 6 cgrp owners/ },
  { scenario: 'cgrp-recreate-under-memcg-limit', fault: 'hold-map', caught: ['memcg', 'inspector', 'maps-freed'], never: ['values'], reason: /512 elements of freed maps are still linked on 512 cgrp owners/ },
  { scenario: 'sk-multi-map', fault: 'stale-value', caught: ['values'], never: ['optmem', 'memcg', 'inspector', 'maps-freed', 'elements'], reason: /^lookups returned elements stamped by another map \(map \d+: 16 of 1024, e\.g\. owner #0 has stamp \d+, want \d+/ },
  { scenario: 'task-multi-map', fault: 'hold-map', caught: ['inspector', 'maps-freed'], never: ['values'], reason: /^3 of 6 closed maps still exist .*384 elements of freed maps are still linked on 128 task owners/ },
  { scenario: 'cgrp-multi-map', fault: 'leave-elem', caught: ['inspector'], never: ['maps-freed', 'values'], reason: /^2 cgrp owners still have a storage struct attached with every map gone/ },
];

t.test('every scenario catches the fault injected into it, by the signals that can see it', async (t) => {
  t.same(FAULT_PLAN.map((p) => p.scenario).sort(), [...SCENARIOS].sort(), 'every scenario gets a fault');
  t.same([...new Set(FAULT_PLAN.map((p) => p.fault))].sort(), ['hold-map', 'leave-elem', 'stale-value'], 'every fault is injected');
  const faults = FAULT_PLAN.flatMap((p) => ['--inject-fault', `${p.fault}:${p.scenario}`]);
  const run = runCli(['vm-test', '--kernel', 'debian:7.3', '--sizes', 'small', '--seed', '42', ...faults, '--settle-deadline', '3', '--json']);
  const s = parseSummary(run);
  t.equal(run.status, 1, 'exit 1 when something lingers');
  t.same(s.scenarios.map((x) => x.name), SCENARIOS);
  for (const p of FAULT_PLAN) {
    const x = scenario(s, p.scenario);
    t.equal(x.verdict, 'fail', `${p.scenario} (${p.fault}) fails: ${x.reason}`);
    const caughtSignals: string[] = x.caughtBy ?? [];
    for (const signal of p.caught) t.ok(caughtSignals.includes(signal), `${p.scenario} (${p.fault}) is caught by ${signal}: caughtBy ${JSON.stringify(x.caughtBy)}`);
    for (const signal of p.never) t.notOk(caughtSignals.includes(signal), `${p.scenario} (${p.fault}) is not attributed to ${signal}`);
    t.match(x.reason, p.reason, `${p.scenario}: the reason says what stayed`);
  }
  for (const name of ['task-map-free-live-owners', 'cgrp-recreate-under-memcg-limit']) t.ok((scenario(s, name).inspector?.after?.lingeringElements ?? 0) > 0, `${name}: lingering elements counted in summary.json`);
  t.match(run.stderr + run.stdout, /repeat with: npm run vm-test -- .*--inject-fault leave-elem:sk-map-free-live-owners --inject-fault hold-map:sk-map-free-vs-close-race/);
});
