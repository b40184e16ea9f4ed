/**
 * One reading of every counter, taken through the agent: the scenario cgroup's memory.current
 * and memory.stat, /proc/slabinfo, and (when the scenario holds sockets) every socket's optmem.
 * Parsing is done here on the host, from the raw text the guest returned.
 */
import type { GuestOps } from '../scenarios/guest-ops.js';
import type { CounterSnapshot } from '../report/summary-types.js';
import { parseMemoryCurrent, parseMemoryStat } from './memcg.js';
import { parseSlabinfo } from './slabinfo.js';

export interface Reading {
  at: number;
  memcgCurrent: number;
  memcgStat: Record<string, number>;
  slabActive: Record<string, number>;
  optmem: number[] | null;
}

/** The caches charged storage elements and storage structs land in (accounted kmalloc). */
const ELEMENT_CACHE = /^kmalloc-cg-\d+$/;

export async function takeReading(ops: GuestOps, cgroup: string, withSockets: boolean): Promise<Reading> {
  const [current, stat, slabinfo] = [
    await ops.read(`${cgroup}/memory.current`),
    await ops.read(`${cgroup}/memory.stat`),
    await ops.read('/proc/slabinfo'),
  ];
  const slabActive: Record<string, number> = {};
  for (const [name, cache] of parseSlabinfo(slabinfo)) {
    if (ELEMENT_CACHE.test(name)) slabActive[name] = cache.activeObjs;
  }
  return {
    at: Date.now(),
    memcgCurrent: parseMemoryCurrent(current),
    memcgStat: parseMemoryStat(stat),
    slabActive,
    optmem: withSockets ? await ops.optmem() : null,
  };
}

/** The summary.json form of a reading; optmem is compared against the sockets' own baseline. */
export function toSnapshot(r: Reading, optmemBaseline: readonly number[] | null): CounterSnapshot {
  const snap: CounterSnapshot = {
    memcgCurrent: r.memcgCurrent,
    memcgStat: {
      kernel: r.memcgStat.kernel ?? 0,
      slab_unreclaimable: r.memcgStat.slab_unreclaimable ?? 0,
      percpu: r.memcgStat.percpu ?? 0,
      sock: r.memcgStat.sock ?? 0,
      anon: r.memcgStat.anon ?? 0,
      file: r.memcgStat.file ?? 0,
    },
    slabActive: r.slabActive,
  };
  if (r.optmem) {
    snap.optmemTotal = r.optmem.reduce((a, b) => a + b, 0);
    if (optmemBaseline && optmemBaseline.length === r.optmem.length) {
      snap.optmemChanged = r.optmem.filter((v, i) => v !== optmemBaseline[i]).length;
    }
  }
  return snap;
}
