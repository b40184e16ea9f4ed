/**
 * Readings only a debug kernel offers, through the agent's read/write verbs: the allocinfo line
 * of BPF local storage, the sheaf capacities of the kmalloc caches, and kmemleak scans.
 * Used by vm-test when the kernel has CONFIG_MEM_ALLOC_PROFILING or CONFIG_DEBUG_KMEMLEAK;
 * verdict/debug-kernel.ts judges what they read after the scenarios.
 */
import type { AgentClient } from '../agent/client.js';
import { GuestOps } from '../agent/guest-ops.js';
import { sleep } from '../util/deadline.js';
import { parseAllocinfo, siteTotal, type AllocSite } from './allocinfo.js';
import { parseKmemleak, type LeakRecord } from './kmemleak.js';
import { parseSlabinfo } from './slabinfo.js';

export const KMEMLEAK = '/sys/kernel/debug/kmemleak';
/** kmemleak reports only objects older than this (MSECS_MIN_AGE in mm/kmemleak.c) at scan time. */
export const KMEMLEAK_MIN_AGE_MS = 5000;
/** A scan of a 2 GiB KASAN guest under TCG takes tens of seconds. */
const SCAN_DEADLINE_MS = 600_000;

export interface DebugBaseline {
  allocinfo?: AllocSite[];
  sheafCapacities: Map<string, number>;
  kmemleak: boolean;
  ncpus: number;
}

export function isDebugKernel(config: ReadonlyMap<string, string>): boolean {
  return config.get('CONFIG_MEM_ALLOC_PROFILING') === 'y' || config.get('CONFIG_DEBUG_KMEMLEAK') === 'y';
}

/** Reads of a debug file may take long under TCG on a KASAN guest. */
const READ_DEADLINE_MS = 60_000;

function read(ops: GuestOps, path: string, deadlineMs = READ_DEADLINE_MS): Promise<string> {
  return ops.read(path, deadlineMs);
}

async function kmemleakCmd(ops: GuestOps, cmd: 'scan' | 'clear'): Promise<void> {
  await ops.write(KMEMLEAK, cmd, SCAN_DEADLINE_MS);
}

/** /proc/allocinfo now. */
export async function readAllocinfo(ops: GuestOps): Promise<AllocSite[]> {
  return parseAllocinfo(await read(ops, '/proc/allocinfo'));
}

/**
 * kmemleak's unreferenced objects since the last clear. Objects freed or allocated during the
 * first scan can look unreferenced once; a second scan after the minimum age confirms, as
 * Documentation/dev-tools/kmemleak.rst advises.
 */
export async function confirmedKmemleak(ops: GuestOps): Promise<LeakRecord[]> {
  await kmemleakCmd(ops, 'scan');
  await sleep(KMEMLEAK_MIN_AGE_MS + 1000);
  await kmemleakCmd(ops, 'scan');
  return parseKmemleak(await read(ops, KMEMLEAK, 120_000));
}

/**
 * Before the scenarios: allocinfo and sheaf capacities; kmemleak scanned and cleared so
 * boot-time suspects do not count. Takes the agent (not a GuestOps) as vm-test calls it.
 */
export async function debugBaseline(agent: AgentClient, config: ReadonlyMap<string, string>, ncpus: number, log: (line: string) => void): Promise<DebugBaseline | undefined> {
  if (!isDebugKernel(config)) return undefined;
  const ops = new GuestOps(agent);
  const base: DebugBaseline = { sheafCapacities: new Map(), kmemleak: false, ncpus };
  if (config.get('CONFIG_MEM_ALLOC_PROFILING') === 'y') {
    base.allocinfo = await readAllocinfo(ops);
    const caches = parseSlabinfo(await read(ops, '/proc/slabinfo'));
    for (const name of caches.keys()) {
      if (!name.startsWith('kmalloc-cg-')) continue;
      try {
        base.sheafCapacities.set(name, Number((await read(ops, `/sys/kernel/slab/${name}/sheaf_capacity`)).trim()));
      } catch {
        /* merged alias or no sheaves on this kernel: capacity 0 */
      }
    }
    const site = siteTotal(base.allocinfo);
    log(`debug kernel: allocinfo ${site ? `${site.sites.join(', ')} holds ${site.calls} objects` : 'has no bpf_map_kmalloc_nolock line'}; sheaf_capacity ${[...new Set(base.sheafCapacities.values())].join('/') || 'n/a'} on ${base.sheafCapacities.size} kmalloc-cg caches`);
  }
  if (config.get('CONFIG_DEBUG_KMEMLEAK') === 'y') {
    const t0 = Date.now();
    await kmemleakCmd(ops, 'scan');
    await kmemleakCmd(ops, 'clear');
    base.kmemleak = true;
    log(`debug kernel: kmemleak scanned and cleared in ${((Date.now() - t0) / 1000).toFixed(1)} s (boot-time suspects do not count)`);
  }
  return base;
}
