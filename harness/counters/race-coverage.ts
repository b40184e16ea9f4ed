/**
 * Race coverage, summed per scenario: whether the map-free side (bpf_local_storage_map_free)
 * and the owner-destroy side (bpf_local_storage_destroy) of the race rounds met on the same
 * storage element inside bpf_selem_unlink_nofail(), and who freed it. The agent's race verb
 * reports raw counts per round (bpf/racecov.bpf.c, docs/PROTOCOL.md; agent/race-coverage.ts
 * parses them); this module sums them per scenario. What counts as reached, and what fails, is
 * verdict/race-coverage.ts.
 */
import type { RaceCoverageReply, RaceCoverageRound } from '../agent/race-coverage.js';
import type { RaceCoverageSummary } from '../results/race-coverage.js';

export function handshakes(r: RaceCoverageRound): number {
  return r.handshakeMapFree + r.handshakeDestroy + r.handshakeUnknown;
}

/** The scenario's own misses, when every reply told them. */
function missesDuring(replies: readonly RaceCoverageReply[]): { missesDuring?: number } {
  const own = replies.map((r) => r.missesDuring);
  return own.every((m) => m !== undefined) ? { missesDuring: own.reduce<number>((a, m) => a + (m ?? 0), 0) } : {};
}

/** One scenario's race replies (one per creation path) summed. */
export function summarizeRaceCoverage(replies: readonly RaceCoverageReply[]): RaceCoverageSummary {
  const rounds = replies.flatMap((r) => r.rounds);
  const counted = rounds.filter((r) => r.final);
  const sum = (f: (r: RaceCoverageRound) => number): number => counted.reduce((a, r) => a + f(r), 0);
  const first = replies[0];
  return {
    applicable: true,
    widenNs: first?.widenNs ?? 0,
    after: first?.after ?? 'drop',
    drop: first?.drop ?? 'seeded',
    rounds: rounds.length,
    roundsCounted: counted.length,
    roundsReached: counted.filter((r) => handshakes(r) > 0).length,
    roundsMet: counted.filter((r) => r.met > 0).length,
    met: sum((r) => r.met),
    handshake: sum(handshakes),
    handshakeFreedByMapFree: sum((r) => r.handshakeMapFree),
    handshakeFreedByDestroy: sum((r) => r.handshakeDestroy),
    late: sum((r) => r.lateMapFree + r.lateDestroy + r.lateUnknown),
    unfreed: sum((r) => r.unfreed),
    orphaned: sum((r) => r.orphaned),
    widened: sum((r) => r.widened),
    waitTimeouts: replies.reduce((a, r) => a + r.waitTimeouts, 0),
    // Both are totals since the tracer was loaded.
    overflow: Math.max(0, ...replies.map((r) => r.overflow)),
    misses: Math.max(0, ...replies.map((r) => r.misses)),
    ...missesDuring(replies),
    perRound: rounds.map((r) => ({
      mapId: r.mapId, final: r.final, handshake: handshakes(r), met: r.met,
      ...(r.destroyedBeforeWalk === undefined ? {} : { destroyedBeforeWalk: r.destroyedBeforeWalk }),
    })),
  };
}
