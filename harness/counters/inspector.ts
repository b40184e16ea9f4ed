/**
 * The inspector's records (bpf/inspect.bpf.c), parsed on the host. One record per owner whose
 * storage struct is attached, listing the map id of every element linked to it, then a trailer:
 *
 *   task 151 5 2          thread 151: storage attached, elements of maps 5 and 2
 *   cgrp 84               cgroup 84: storage attached, no element linked (an emptied storage)
 *   sk 150/31 13 +        socket fd 31 of process 150: map 13, and more than the program walks
 *   end task 65 4 8       owners visited, storages seen, elements seen
 *
 * Map id 0 means the element's map pointer was NULL. The parser is strict: a record it does
 * not understand is an error, never silently a zero.
 */
import type { InspectorCounts } from '../results/summary.js';

export type InspectedKind = 'task' | 'cgrp' | 'sk';

export interface InspectedOwner {
  owner: string;
  mapIds: number[];
  /** The element list was longer than the program walks (64). */
  truncated: boolean;
}

export interface InspectorReading {
  kind: InspectedKind;
  owners: InspectedOwner[];
  trailer: { visited: number; storages: number; elements: number };
}

const KINDS: readonly string[] = ['task', 'cgrp', 'sk'];
const OWNER = /^\d+(\/\d+)?$/;
const UINT = /^\d+$/;

function parseOwner(fields: string[], line: string): InspectedOwner {
  const [, owner = '', ...rest] = fields;
  if (!OWNER.test(owner)) throw new Error(`inspector record with a bad owner: ${JSON.stringify(line)}`);
  const truncated = rest[rest.length - 1] === '+';
  const ids = truncated ? rest.slice(0, -1) : rest;
  if (!ids.every((x) => UINT.test(x))) throw new Error(`inspector record with a bad map id: ${JSON.stringify(line)}`);
  return { owner, mapIds: ids.map(Number), truncated };
}

export function parseInspectorRecords(lines: readonly string[], kind: InspectedKind): InspectorReading {
  const owners: InspectedOwner[] = [];
  let trailer: InspectorReading['trailer'] | null = null;
  for (const line of lines) {
    if (line === '') continue;
    if (trailer) throw new Error(`inspector record after the trailer: ${JSON.stringify(line)}`);
    const fields = line.split(' ');
    if (fields[0] === 'end') {
      const [, k, ...nums] = fields;
      if (k !== kind || nums.length !== 3 || !nums.every((x) => UINT.test(x))) throw new Error(`bad inspector trailer for ${kind}: ${JSON.stringify(line)}`);
      const [visited, storages, elements] = nums.map(Number) as [number, number, number];
      trailer = { visited, storages, elements };
      continue;
    }
    if (!KINDS.includes(fields[0] ?? '') || fields[0] !== kind) throw new Error(`inspector record of another kind (want ${kind}): ${JSON.stringify(line)}`);
    owners.push(parseOwner(fields, line));
  }
  // Without the trailer the iteration did not finish: a partial list would undercount.
  if (!trailer) throw new Error(`inspector output for ${kind} has no trailer (${lines.length} records)`);
  return { kind, owners, trailer };
}

/** Owners holding at least one element of one of these maps (or of a map whose pointer is gone). */
export function ownersHolding(r: InspectorReading, mapIds: ReadonlySet<number>): { owners: string[]; elements: number } {
  const owners: string[] = [];
  let elements = 0;
  for (const o of r.owners) {
    const n = o.mapIds.filter((id) => id === 0 || mapIds.has(id)).length;
    if (n > 0) {
      owners.push(o.owner);
      elements += n;
    }
  }
  return { owners, elements };
}

/** Elements of one map, per owner: at peak every owner must hold exactly one. */
export function elementsOfMap(r: InspectorReading, mapId: number): { owners: number; elements: number } {
  let owners = 0;
  let elements = 0;
  for (const o of r.owners) {
    const n = o.mapIds.filter((id) => id === mapId).length;
    if (n > 0) owners++;
    elements += n;
  }
  return { owners, elements };
}

/** The summary.json form: what a reading says about the maps that were freed. */
export function inspectorCounts(r: InspectorReading, freed: ReadonlySet<number>): InspectorCounts {
  const held = ownersHolding(r, freed);
  return {
    kind: r.kind,
    ownersVisited: r.trailer.visited,
    storages: r.owners.length,
    elements: r.owners.reduce((a, o) => a + o.mapIds.length, 0),
    emptyStorages: r.owners.filter((o) => o.mapIds.length === 0 && !o.truncated).length,
    lingeringElements: held.elements,
    lingeringOwners: held.owners.slice(0, 8),
  };
}
