/**
 * One reading of every counter, taken through the agent: the scenario cgroup's memory.current
 * and memory.stat, /proc/slabinfo, and (when the scenario holds sockets) every socket's optmem.
 * Parsing is done here on the host, from the raw text the guest returned.
 *
 * A drained reading first has the kernel drain the cgroup's per-CPU charge caches (the agent's
 * memcg-drain: memory.high 0 then max, bpf/memcg.c) and keeps what that handed back as its own
 * figure. On 7.x the object stock parks the byte rest of every free that finds the per-CPU stock
 * lock taken in objcg->nr_charged_bytes, which only comes back when the objcg takes a stock slot
 * anew (mm/memcontrol.c, __refill_obj_stock): without a drain it grows with contended frees and
 * stays charged, with no element behind it (see verdict/lingering.ts).
 */
import type { GuestOps } from '../agent/guest-ops.js';
import type { CounterSnapshot } from '../results/summary.js';
import { parseAllocinfo, type AllocSite } from './allocinfo.js';
import { parseMemoryCurrent, parseMemoryStat } from './memcg.js';
import { parseSlabinfo } from './slabinfo.js';

export interface Reading {
  at: number;
  memcgCurrent: number;
  memcgStat: Record<string, number>;
  slabActive: Record<string, number>;
  optmem: number[] | null;
  /** Set on a drained reading: what the drain of the charge caches handed back. */
  drain?: DrainFigure;
  /** Debug kernels: /proc/allocinfo at this moment, when asked for. */
  allocinfo?: AllocSite[];
}

/** What one drain of the cgroup's charge caches handed back, bytes (positive: uncharged). */
export interface DrainFigure {
  /** memory.current just before the drain less just after (the page counter: exact, at once). */
  current: number;
  /** memory.stat kernel before less after (rstat: may lag up to 2 s, see verdict/lingering.ts). */
  kernel: number;
  /** memory.stat anon + file before less after: memory.high=0's reclaim, and the agent's own heap moving. */
  user: number;
  /** How long the kernel took in the memory.high=0 write (the drain and the reclaim attempts). */
  drainUs: number;
}

export interface ReadingOptions {
  /** Drain the charge caches first and judge the drained figures. */
  drain?: boolean;
  /** Also read /proc/allocinfo (debug kernels with CONFIG_MEM_ALLOC_PROFILING). */
  allocinfo?: boolean;
}

/** The caches charged storage elements and storage structs land in (accounted kmalloc). */
const ELEMENT_CACHE = /^kmalloc-cg-\d+$/;

export async function takeReading(ops: GuestOps, cgroup: string, withSockets: boolean, opts: ReadingOptions = {}): Promise<Reading> {
  const drain = opts.drain ? await drainCharges(ops, cgroup) : undefined;
  const [current, stat, slabinfo] = [
    await ops.read(`${cgroup}/memory.current`),
    await ops.read(`${cgroup}/memory.stat`),
    await ops.read('/proc/slabinfo'),
  ];
  const memcgStat = parseMemoryStat(stat);
  if (drain) {
    drain.figure.kernel = drain.statBefore.kernel - (memcgStat.kernel ?? 0);
    drain.figure.user = drain.statBefore.user - userPages(memcgStat);
  }
  const slabActive: Record<string, number> = {};
  for (const [name, cache] of parseSlabinfo(slabinfo)) {
    if (ELEMENT_CACHE.test(name)) slabActive[name] = cache.activeObjs;
  }
  const r: Reading = {
    at: Date.now(),
    memcgCurrent: parseMemoryCurrent(current),
    memcgStat,
    slabActive,
    optmem: withSockets ? await ops.optmem() : null,
  };
  if (drain) r.drain = drain.figure;
  if (opts.allocinfo) r.allocinfo = parseAllocinfo(await ops.read('/proc/allocinfo'));
  return r;
}

function userPages(stat: Record<string, number>): number {
  return (stat.anon ?? 0) + (stat.file ?? 0);
}

/** memory.stat, then the drain: the reading that follows is the drained one. */
async function drainCharges(ops: GuestOps, cgroup: string): Promise<{ figure: DrainFigure; statBefore: { kernel: number; user: number } }> {
  const stat = parseMemoryStat(await ops.read(`${cgroup}/memory.stat`));
  const d = await ops.memcgDrain(cgroup);
  return {
    statBefore: { kernel: stat.kernel ?? 0, user: userPages(stat) },
    figure: { current: d.currentBefore - d.currentAfter, kernel: 0, user: 0, drainUs: d.drainUs },
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
