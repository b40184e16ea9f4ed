/**
 * summary.json's race coverage of a race scenario: what the agent's race verb reported per
 * round, summed (counters/race-coverage.ts sums it, verdict/race-coverage.ts judges it).
 */

/** When the last map reference goes: seeded (random), end (after every release), destroy (at the first owner destroy), release (once every owner entered its last grace period). */
export type RaceDrop = 'seeded' | 'end' | 'destroy' | 'release' | 'gather';

/** summary.json's `raceCoverage` of one race scenario. */
export type RaceCoverageSummary =
  | { applicable: false; reason: string }
  | {
      applicable: true;
      widenNs: number;
      after: 'drop' | 'walk';
      drop: RaceDrop;
      rounds: number;
      /** Rounds whose map free finished in time to be counted. */
      roundsCounted: number;
      /** Rounds with at least one element where the state handshake decided who frees it. */
      roundsReached: number;
      /** Rounds where both sides touched at least one element. */
      roundsMet: number;
      met: number;
      handshake: number;
      handshakeFreedByMapFree: number;
      handshakeFreedByDestroy: number;
      late: number;
      unfreed: number;
      orphaned: number;
      widened: number;
      waitTimeouts: number;
      overflow: number;
      misses: number;
      /** Calls the tracer missed during this scenario's race verbs (absent in older results). */
      missesDuring?: number;
      /** Per round, in order: handshakes (the contended path), elements met, and destroys before the walk began (when the agent reports them). */
      perRound: Array<{ mapId: number; final: boolean; handshake: number; met: number; destroyedBeforeWalk?: number }>;
    };
