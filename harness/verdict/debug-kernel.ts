/**
 * Verdicts only a debug kernel can give: the allocinfo counter of local storage elements, and
 * kmemleak's unreferenced objects that belong to BPF local storage.
 *
 * allocinfo tolerance, from the mechanism: an element or storage struct freed with kfree_rcu()
 * goes through kvfree_call_rcu() -> kfree_rcu_sheaf() (mm/slab_common.c) into the current CPU's
 * rcu_free sheaf of its kmalloc cache, and is handed to call_rcu() only when that sheaf is full
 * (mm/slub.c, __kfree_rcu_sheaf). The allocation tag is dropped only when the object is really
 * freed, so up to sheaf_capacity objects per CPU per cache can stay counted indefinitely (seen:
 * 8 objects for over 60 s). The local storage call site uses two object sizes (bpf_local_storage_elem
 * and bpf_local_storage), so at most two kmalloc caches: the bound is
 * 2 x ncpus x max(sheaf_capacity of the kmalloc-cg caches), whatever N or the number of rounds.
 */
import type { AgentClient } from '../agent/client.js';
import { GuestOps } from '../agent/guest-ops.js';
import { siteTotal, type AllocSite } from '../counters/allocinfo.js';
import { confirmedKmemleak, readAllocinfo, type DebugBaseline } from '../counters/debug-kernel.js';
import type { LeakRecord } from '../counters/kmemleak.js';
import type { AllocinfoTolerance, AllocinfoVerdict, DebugCheckSummary, SiteGrowth } from '../results/debug.js';
import { sleep } from '../util/deadline.js';

/** How long the allocinfo verdict is polled for objects still on their way to being freed. */
const ALLOCINFO_SETTLE_MS = 30_000;

/** `sheafCapacities`: cache name -> sheaf_capacity read from /sys/kernel/slab/<cache>/sheaf_capacity. */
export function allocinfoTolerance(ncpus: number, sheafCapacities: ReadonlyMap<string, number>): AllocinfoTolerance {
  const caps = [...sheafCapacities].filter(([name]) => name.startsWith('kmalloc-cg-'));
  const max = caps.reduce((m, [, c]) => Math.max(m, c), 0);
  const objects = 2 * ncpus * max;
  return {
    objects,
    why: `objects waiting in per-CPU rcu_free sheaves: 2 caches x ${ncpus} CPUs x sheaf_capacity ${max} (max over ${caps.length} kmalloc-cg caches)`,
  };
}

export function judgeAllocinfo(before: readonly AllocSite[], after: readonly AllocSite[], tol: AllocinfoTolerance): AllocinfoVerdict {
  const b = siteTotal(before);
  const a = siteTotal(after);
  if (!b || !a) {
    return { ok: false, sites: [], baseline: { calls: 0, bytes: 0 }, after: { calls: 0, bytes: 0 }, extraObjects: 0, tolerance: tol, reason: 'no bpf_map_kmalloc_nolock line in /proc/allocinfo: is CONFIG_MEM_ALLOC_PROFILING on and is this a 7.x kernel with CONFIG_MEMCG?' };
  }
  const extra = a.calls - b.calls;
  const ok = extra <= tol.objects;
  return {
    ok,
    sites: a.sites,
    baseline: { calls: b.calls, bytes: b.bytes },
    after: { calls: a.calls, bytes: a.bytes },
    extraObjects: extra,
    tolerance: tol,
    reason: ok
      ? `bpf_map_kmalloc_nolock holds ${a.calls} objects (${a.bytes} B), ${extra} over the baseline, within ${tol.objects} (${tol.why})`
      : `bpf_map_kmalloc_nolock holds ${a.calls} objects (${a.bytes} B), ${extra} over the baseline: more than the ${tol.objects} that ${tol.why} explain`,
  };
}

/** Backtrace frames that put an object in BPF local storage or its map. */
export const LOCAL_STORAGE_FRAME = /^(bpf_local_storage|bpf_selem|bpf_sk_storage|sk_storage|bpf_task_storage|task_storage|bpf_cgrp_storage|cgroup_storage|bpf_inode_storage|inode_storage|bpf_map_kmalloc|bpf_map_kzalloc|bpf_map_kvcalloc|bpf_map_area_alloc)/;

export function localStorageLeaks(leaks: readonly LeakRecord[]): LeakRecord[] {
  return leaks.filter((l) => l.backtrace.some((f) => LOCAL_STORAGE_FRAME.test(f)));
}

/** The sites of a grown allocinfo as the failing reason quotes them: where the charge went. */
export function describeAllocinfoGrowth(grown: readonly SiteGrowth[]): string {
  if (grown.length === 0) return 'no /proc/allocinfo site grew over the scenario';
  const sites = grown.map((g) => `${g.func} (${g.site}${g.module ? ` [${g.module}]` : ''}) +${g.bytes} B in ${g.calls >= 0 ? '+' : ''}${g.calls} objects`);
  return `allocinfo sites that grew over the scenario: ${sites.join(', ')}`;
}

/** After the scenarios: the allocinfo verdict (polled until within tolerance or a deadline), then two kmemleak scans. */
export async function debugFinal(agent: AgentClient, base: DebugBaseline, log: (line: string) => void): Promise<DebugCheckSummary> {
  const ops = new GuestOps(agent);
  const out: DebugCheckSummary = { ok: true, reasons: [] };
  if (base.allocinfo) {
    const tol = allocinfoTolerance(base.ncpus, base.sheafCapacities);
    const t0 = Date.now();
    let v = judgeAllocinfo(base.allocinfo, await readAllocinfo(ops), tol);
    while (!v.ok && v.sites.length > 0 && Date.now() - t0 < ALLOCINFO_SETTLE_MS) {
      await sleep(1000);
      v = judgeAllocinfo(base.allocinfo, await readAllocinfo(ops), tol);
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
    const leaks = await confirmedKmemleak(ops);
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
