/**
 * Race coverage: whether the map-free side (bpf_local_storage_map_free) and the owner-destroy
 * side (bpf_local_storage_destroy) of a race round met on the same storage element inside
 * bpf_selem_unlink_nofail(), and who freed it. The agent's race verb reports raw counts per
 * round (bpf/racecov.bpf.c, docs/PROTOCOL.md); this module parses them and sums them per
 * scenario. What counts as reached, and what fails, is verdict/race-coverage.ts.
 */
import type { RaceCoverageSummary, RaceDrop } from '../results/race-coverage.js';

/** One round's counts, for its map, once the map-free worker finished (`final`). */
export interface RaceCoverageRound {
  mapId: number;
  /** false: the map's free had not finished when the verb gave up waiting; no counts. */
  final: boolean;
  /** Elements the map-free side touched. */
  walked: number;
  /** Elements the owner-destroy side touched. */
  destroyed: number;
  /** Elements both sides touched. */
  met: number;
  /** Each side unlinked half: the state handshake decided, and this side freed it. */
  handshakeMapFree: number;
  handshakeDestroy: number;
  handshakeUnknown: number;
  /** Both touched, one side unlinked both halves and freed it; the other found nothing left. */
  lateMapFree: number;
  lateDestroy: number;
  lateUnknown: number;
  /** Both halves unlinked, nobody freed it: a leak in the handshake. */
  unfreed: number;
  /** Half unlinked by its only visitor: a leak. */
  orphaned: number;
  /** Elements whose map-free gap was widened by the busy-wait. */
  widened: number;
}

/** The `coverage` field of one race reply. */
export interface RaceCoverageReply {
  widenNs: number;
  after: 'drop' | 'walk';
  /** When the last map reference goes: seeded (random), end (after every release), destroy (at the first owner destroy), release (once every owner entered its last grace period). */
  drop: RaceDrop;
  /** Waits (closers for the map-free walk, the dropper for the first destroy) that timed out. */
  waitTimeouts: number;
  /** Records the tracer had no room for (its counts are then low). */
  overflow: number;
  /** Calls of the tracer's programs the kernel skipped (recursion on a CPU): a side may be missing. */
  misses: number;
  rounds: RaceCoverageRound[];
}

const DROPS: readonly string[] = ['seeded', 'end', 'destroy', 'release'];


const COUNT_FIELDS = [
  'walked', 'destroyed', 'met', 'handshakeMapFree', 'handshakeDestroy', 'handshakeUnknown',
  'lateMapFree', 'lateDestroy', 'lateUnknown', 'unfreed', 'orphaned', 'widened',
] as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isDrop(s: string): s is RaceDrop {
  return DROPS.includes(s);
}

function count(o: Record<string, unknown>, field: string, where: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`race coverage ${where}: ${field} is not a count: ${JSON.stringify(v)}`);
  return v;
}

function parseRound(v: unknown, i: number): RaceCoverageRound {
  const where = `round ${i}`;
  if (!isRecord(v)) throw new Error(`race coverage ${where}: not an object`);
  if (typeof v.final !== 'boolean') throw new Error(`race coverage ${where}: final is not a boolean`);
  const round: RaceCoverageRound = {
    mapId: count(v, 'mapId', where), final: v.final,
    walked: 0, destroyed: 0, met: 0, handshakeMapFree: 0, handshakeDestroy: 0, handshakeUnknown: 0,
    lateMapFree: 0, lateDestroy: 0, lateUnknown: 0, unfreed: 0, orphaned: 0, widened: 0,
  };
  if (v.final) for (const f of COUNT_FIELDS) round[f] = count(v, f, where);
  return round;
}

/** The race reply's `coverage` field; undefined when the reply has none (no tracer loaded). */
export function parseRaceCoverage(v: unknown): RaceCoverageReply | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v)) throw new Error('race coverage: not an object');
  if (v.after !== 'drop' && v.after !== 'walk') throw new Error(`race coverage: after is ${JSON.stringify(v.after)}`);
  if (!Array.isArray(v.rounds)) throw new Error('race coverage: rounds is not an array');
  const drop = v.drop;
  if (typeof drop !== 'string' || !isDrop(drop)) throw new Error(`race coverage: drop is ${JSON.stringify(drop)}`);
  return {
    widenNs: count(v, 'widenNs', 'reply'),
    after: v.after,
    drop,
    waitTimeouts: count(v, 'waitTimeouts', 'reply'),
    overflow: count(v, 'overflow', 'reply'),
    misses: count(v, 'misses', 'reply'),
    rounds: v.rounds.map(parseRound),
  };
}

export function handshakes(r: RaceCoverageRound): number {
  return r.handshakeMapFree + r.handshakeDestroy + r.handshakeUnknown;
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
    perRound: rounds.map((r) => ({ mapId: r.mapId, final: r.final, handshake: handshakes(r), met: r.met })),
  };
}
