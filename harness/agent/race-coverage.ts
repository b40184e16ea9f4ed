/**
 * The `coverage` field of the agent's race verb (bpf/racecov.bpf.c, docs/PROTOCOL.md): per
 * round, how the map-free side and the owner-destroy side met on storage elements, as raw
 * counts. Parsed and checked here, where the verb is; counters/race-coverage.ts sums them.
 */
import type { RaceDrop } from '../results/race-coverage.js';

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
  /** Elements the owner destroy reached before the map-free walk began (absent from older agents). */
  destroyedBeforeWalk?: number;
}

/** The `coverage` field of one race reply. */
export interface RaceCoverageReply {
  widenNs: number;
  after: 'drop' | 'walk';
  /** When the last map reference goes: seeded (random), end (after every release), destroy (at the first owner destroy), release (once every owner entered its last grace period), gather (cgroups: the agent's last references put at once, their destroys held until the walk begins). */
  drop: RaceDrop;
  /** Waits (closers for the map-free walk, the dropper for the first destroy) that timed out. */
  waitTimeouts: number;
  /** Records the tracer had no room for (its counts are then low). */
  overflow: number;
  /** Calls of the tracer's programs the kernel skipped (recursion on a CPU) since load: a side may be missing. */
  misses: number;
  /** The same, during this verb (agents before 2026-12-01 did not report it). */
  missesDuring?: number;
  rounds: RaceCoverageRound[];
}

const DROPS: readonly string[] = ['seeded', 'end', 'destroy', 'release', 'gather'];

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
  if (v.final && v.destroyedBeforeWalk !== undefined) round.destroyedBeforeWalk = count(v, 'destroyedBeforeWalk', where);
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
    ...(v.missesDuring === undefined ? {} : { missesDuring: count(v, 'missesDuring', 'reply') }),
    rounds: v.rounds.map(parseRound),
  };
}
