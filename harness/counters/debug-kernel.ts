/**
 * Readings only a debug kernel offers, through the agent's read/write verbs: the allocinfo line
 * of BPF local storage, the sheaf capacities of the kmalloc caches, and kmemleak scans.
 * Used by vm-test when the kernel has CONFIG_MEM_ALLOC_PROFILING or CONFIG_DEBUG_KMEMLEAK.
 */
import type { AgentClient } from '../agent/client.js';
import { sleep } from '../util/deadline.js';
import type { DebugCheckSummary } from '../results/debug.js';
import { allocinfoTolerance, judgeAllocinfo, localStorageLeaks } from '../verdict/debug-kernel.js';
import { parseAllocinfo, siteTotal, type AllocSite } from './allocinfo.js';
import { parseKmemleak } from './kmemleak.js';
import { parseSlabinfo } from './slabinfo.js';

export const KMEMLEAK = '/sys/kernel/debug/kmemleak';
/** kmemleak reports only objects older than this (MSECS_MIN_AGE in mm/kmemleak.c) at scan time. */
export const KMEMLEAK_MIN_AGE_MS = 5000;
/** A scan of a 2 GiB KASAN guest under TCG takes tens of seconds. */
const SCAN_DEADLINE_MS = 600_000;
const ALLOCINFO_SETTLE_MS = 30_000;

export interface DebugBaseline {
  allocinfo?: AllocSite[];
  sheafCapacities: Map<string, number>;
  kmemleak: boolean;
  ncpus: number;
}

export function isDebugKernel(config: ReadonlyMap<string, string>): boolean {
  return config.get('CONFIG_MEM_ALLOC_PROFILING') === 'y' || config.get('CONFIG_DEBUG_KMEMLEAK') === 'y';
}

async function read(agent: AgentClient, path: string, deadlineMs = 60_000): Promise<string> {
  const r = await agent.call('read', { path }, deadlineMs);
  if (typeof r.data !== 'string') throw new Error(`agent read ${path}: no data`);
  return r.data;
}

async function kmemleakCmd(agent: AgentClient, cmd: 'scan' | 'clear'): Promise<void> {
  await agent.call('write', { path: KMEMLEAK, value: cmd }, SCAN_DEADLINE_MS);
}

/** Before the scenarios: allocinfo and sheaf capacities; kmemleak scanned and cleared so boot-time suspects do not count. */
export async function debugBaseline(agent: AgentClient, config: ReadonlyMap<string, string>, ncpus: number, log: (line: string) => void): Promise<DebugBaseline | undefined> {
  if (!isDebugKernel(config)) return undefined;
  const base: DebugBaseline = { sheafCapacities: new Map(), kmemleak: false, ncpus };
  if (config.get('CONFIG_MEM_ALLOC_PROFILING') === 'y') {
    base.allocinfo = parseAllocinfo(await read(agent, '/proc/allocinfo'));
    const caches = parseSlabinfo(await read(agent, '/proc/slabinfo'));
    for (const name of caches.keys()) {
      if (!name.startsWith('kmalloc-cg-')) continue;
      try {
        base.sheafCapacities.set(name, Number((await read(agent, `/sys/kernel/slab/${name}/sheaf_capacity`)).trim()));
      } catch {
        /* merged alias or no sheaves on this kernel: capacity 0 */
      }
    }
    const site = siteTotal(base.allocinfo);
    log(`debug kernel: allocinfo ${site ? `${site.sites.join(', ')} holds ${site.calls} objects` : 'has no bpf_map_kmalloc_nolock line'}; sheaf_capacity ${[...new Set(base.sheafCapacities.values())].join('/') || 'n/a'} on ${base.sheafCapacities.size} kmalloc-cg caches`);
  }
  if (config.get('CONFIG_DEBUG_KMEMLEAK') === 'y') {
    const t0 = Date.now();
    await kmemleakCmd(agent, 'scan');
    await kmemleakCmd(agent, 'clear');
    base.kmemleak = true;
    log(`debug kernel: kmemleak scanned and cleared in ${((Date.now() - t0) / 1000).toFixed(1)} s (boot-time suspects do not count)`);
  }
  return base;
}

/** After the scenarios: the allocinfo verdict (polled until within tolerance or a deadline), then two kmemleak scans. */
export async function debugFinal(agent: AgentClient, base: DebugBaseline, log: (line: string) => void): Promise<DebugCheckSummary> {
  const out: DebugCheckSummary = { ok: true, reasons: [] };
  if (base.allocinfo) {
    const tol = allocinfoTolerance(base.ncpus, base.sheafCapacities);
    const t0 = Date.now();
    let v = judgeAllocinfo(base.allocinfo, parseAllocinfo(await read(agent, '/proc/allocinfo')), tol);
    while (!v.ok && v.sites.length > 0 && Date.now() - t0 < ALLOCINFO_SETTLE_MS) {
      await sleep(1000);
      v = judgeAllocinfo(base.allocinfo, parseAllocinfo(await read(agent, '/proc/allocinfo')), tol);
    }
    out.allocinfo = { ...v, settleMs: Date.now() - t0 };
    log(`debug kernel: allocinfo ${v.ok ? 'ok' : 'FAIL'}: ${v.reason}`);
    if (!v.ok) {
      out.ok = false;
      out.reasons.push(v.reason);
    }
  }
  if (base.kmemleak) {
    const t0 = Date.now();
    // Objects freed or allocated during the first scan can look unreferenced once; a second scan
    // after the minimum age confirms, as Documentation/dev-tools/kmemleak.rst advises.
    await kmemleakCmd(agent, 'scan');
    await sleep(KMEMLEAK_MIN_AGE_MS + 1000);
    await kmemleakCmd(agent, 'scan');
    const leaks = parseKmemleak(await read(agent, KMEMLEAK, 120_000));
    const ours = localStorageLeaks(leaks);
    out.kmemleak = { unreferenced: leaks.length, localStorage: ours.length, reports: ours.slice(0, 10).map((l) => l.text), scanMs: Date.now() - t0 };
    const line = `kmemleak: ${leaks.length} unreferenced object(s) since the baseline, ${ours.length} in BPF local storage`;
    log(`debug kernel: ${ours.length === 0 ? 'ok' : 'FAIL'}: ${line} (scans took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (ours.length > 0) {
      out.ok = false;
      out.reasons.push(`${line}; first: ${ours[0]!.backtrace.slice(0, 6).join(' <- ')}`);
    }
  }
  return out;
}
