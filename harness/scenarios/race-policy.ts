/**
 * How a race round is steered so that map free and owner destroy meet inside
 * bpf_selem_unlink_nofail() on one element (the contended path the race coverage counts; see
 * counters/race-coverage.ts and bpf/racecov.bpf.c). The agent does the racing; this says when.
 *
 * Measured on debian:7.3 under TCG, 2 CPUs (README "Race coverage"): with no steering the
 * map-free walk begins a grace period after the drop, when every owner released around the
 * drop is long destroyed, and no round ever met. What each owner kind needs:
 * - sockets are destroyed at close(): the releases beyond the drop target wait until the
 *   map-free walk has begun (after=walk), then run against it;
 * - a thread's storage goes in free_task(), two grace periods after it exits (its last RCU user
 *   reference, then, since put_task_struct() always defers, its last reference): the drop waits
 *   until every thread's last reference was put (drop=release: delayed_put_task_struct), so the
 *   map-free walk, which begins a grace period after the drop, starts as the storage destroys
 *   do. Dropping right after the releases (drop=end) came a grace period early: 5 of 15 rounds,
 *   since the walk holds off grace periods while it holds the gap. Even so the walk mostly
 *   finds 1 to 5 of 128 elements left (the threads' destroys span several grace periods), and
 *   one of them reaching the handshake is enough; dropping once half the threads were that far
 *   made it worse (11 of 30 rounds against 22): the walk then held elements whose destroys
 *   still waited for a grace period it was holding off;
 * - a cgroup's storage goes in css_free_rwork_fn(), a grace period after its own css is
 *   released, which waits for its controllers' css and its BPF state to go: several grace periods
 *   and work items after rmdir, each cgroup on its own schedule. Dropping once every cgroup's css
 *   was released (drop=release) reached 20 of 30 rounds: the destroys trickled in over 15-80 ms,
 *   most of them before the walk. drop=gather: the agent holds every cgroup until nothing else
 *   does, puts them all at once, and keeps their frees queued behind a spinning SCHED_FIFO thread
 *   on their CPU until the walk has begun on the other (26-28 of 30; with that hold removed, 10).
 *   (Dropping at the first storage destroy, drop=destroy, reached a third of the rounds; at the
 *   rmdir, none: the walk's held gap, an RCU read section, kept the cgroups' grace periods from
 *   ending.)
 * - elements a program made: the programs hold map references that go grace periods after they
 *   are closed, so the map's free would follow the programs, not the drop. The programs are
 *   closed before the race and the agent waits until their references are gone (progs=first);
 *   the drop is then the agent's and is steered as above.
 * In every kind the gap between the map-free side's two lock sections is held open (widenNs)
 * until the owner side has been through the element, and the dropper runs on CPU 0 (so does the
 * map-free work) with the closers on the other CPUs (pin). For threads and cgroups the first
 * round of each race call keeps the seeded drop in the middle of the releases (seeded: 1), so a
 * scenario still drops a map while owners are being released.
 */
import type { OwnerKindName, RaceParams, Via } from '../agent/guest-ops.js';

/** Default hold of the map-free gap, microseconds (`--set widenUs=0` disarms it). */
export const DEFAULT_WIDEN_US = 5000;

export type RaceSteering = Pick<RaceParams, 'after' | 'drop' | 'widenNs' | 'pin' | 'progs' | 'seeded'>;

/**
 * On one CPU the gap is not held: the owner side cannot run while the only CPU busy-waits in
 * an interrupt, so each hold would only time out.
 */
export function raceSteering(kind: OwnerKindName, via: Via, widenUs: number, ncpus: number): RaceSteering {
  const common = { widenNs: ncpus > 1 ? Math.round(widenUs * 1000) : 0, pin: true };
  const progs = via === 'prog' ? { progs: 'first' as const } : {};
  switch (kind) {
    case 'sk':
      return { ...common, after: 'walk', drop: 'seeded' };
    case 'task':
      return { ...common, ...progs, after: 'drop', drop: 'release', seeded: 1 };
    case 'cgrp':
      return { ...common, ...progs, after: 'drop', drop: 'gather', seeded: 1 };
  }
}
