/**
 * /proc/allocinfo (CONFIG_MEM_ALLOC_PROFILING): bytes and live objects per allocation site.
 *
 * In 7.3 the elements and storage structs of every BPF local storage map come from
 * bpf_map_kmalloc_nolock() (kernel/bpf/bpf_local_storage.c: bpf_selem_alloc and
 * bpf_local_storage_alloc). With CONFIG_MEMCG that is a function in kernel/bpf/syscall.c whose
 * kmalloc_nolock() call is one allocation tag, so one allocinfo line counts exactly what local
 * storage holds (plus bpf_timer/bpf_wq contexts, which no scenario creates). kmemleak cannot
 * see these objects: kmalloc_nolock() skips the kmemleak hook (mm/slub.c,
 * alloc_flags_allow_spinning), so this counter is the direct one.
 */
import type { SiteGrowth } from '../results/debug.js';

export interface AllocSite {
  bytes: number;
  calls: number;
  /** 'kernel/bpf/syscall.c:544' */
  site: string;
  module?: string;
  func: string;
}

/** The function whose line counts local storage elements and storage structs. */
export const LOCAL_STORAGE_FUNC = 'bpf_map_kmalloc_nolock';

/**
 * Parse /proc/allocinfo ("allocinfo - version: 1.0|2.0", a "# <size> <calls> <tag info>"
 * header, then "<bytes> <calls> <file>:<line> [<module>] func:<name> [extra]" lines).
 */
export function parseAllocinfo(text: string): AllocSite[] {
  const lines = text.split('\n');
  if (!/^allocinfo - version: \d+\.\d+/.test((lines[0] ?? '').trim())) {
    throw new Error(`not /proc/allocinfo: first line is ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  }
  const out: AllocSite[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+:\d+)\s+(?:\[(\S+)\]\s+)?func:(\S+)/.exec(line);
    if (m) out.push({ bytes: Number(m[1]), calls: Number(m[2]), site: m[3]!, ...(m[4] ? { module: m[4] } : {}), func: m[5]! });
  }
  return out;
}

/** The summed line(s) of `func` (one per call site), or undefined when the kernel has none. */
export function siteTotal(sites: readonly AllocSite[], func = LOCAL_STORAGE_FUNC): { bytes: number; calls: number; sites: string[] } | undefined {
  const hit = sites.filter((s) => s.func === func && !s.module);
  if (hit.length === 0) return undefined;
  return { bytes: hit.reduce((a, s) => a + s.bytes, 0), calls: hit.reduce((a, s) => a + s.calls, 0), sites: hit.map((s) => s.site) };
}

function siteKey(s: AllocSite): string {
  return `${s.site} ${s.module ?? ''} ${s.func}`;
}

/**
 * The sites that hold more bytes after than before, most bytes first, at most `top` of them.
 * A site missing from `before` (a module loaded since) counts from zero.
 */
export function allocinfoGrowth(before: readonly AllocSite[], after: readonly AllocSite[], top = 8): SiteGrowth[] {
  const base = new Map(before.map((s) => [siteKey(s), s]));
  const grown: SiteGrowth[] = [];
  for (const a of after) {
    const b = base.get(siteKey(a));
    const bytes = a.bytes - (b?.bytes ?? 0);
    if (bytes <= 0) continue;
    grown.push({ site: a.site, func: a.func, ...(a.module ? { module: a.module } : {}), bytes, calls: a.calls - (b?.calls ?? 0) });
  }
  return grown.sort((x, y) => y.bytes - x.bytes || x.site.localeCompare(y.site)).slice(0, top);
}
