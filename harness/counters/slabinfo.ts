/** /proc/slabinfo, version 2.1 (SLUB and SLAB both print this format). */
export interface SlabCache {
  name: string;
  activeObjs: number;
  numObjs: number;
  objSize: number;
  objPerSlab: number;
  pagesPerSlab: number;
  activeSlabs: number;
  numSlabs: number;
}

/**
 * Parses /proc/slabinfo into a map by cache name. Throws a clear Error when the first line is
 * not "slabinfo - version: 2.1", or a cache line does not have the 2.1 columns.
 */
export function parseSlabinfo(text: string): Map<string, SlabCache> {
  const lines = text.split('\n');
  const first = (lines[0] ?? '').trim();
  const v = /^slabinfo - version: (\S+)$/.exec(first);
  if (!v) throw new Error(`not /proc/slabinfo: first line is ${JSON.stringify(first.slice(0, 80))}`);
  if (v[1] !== '2.1') throw new Error(`unsupported /proc/slabinfo version ${v[1]} (only 2.1 is understood)`);
  const caches = new Map<string, SlabCache>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) continue;
    // name active num objsize objperslab pagesperslab : tunables l b s : slabdata active num shared
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*:\s*tunables\s+\d+\s+\d+\s+\d+\s*:\s*slabdata\s+(\d+)\s+(\d+)\s+\d+/.exec(line);
    if (!m) throw new Error(`/proc/slabinfo line ${i + 1} does not match version 2.1: ${JSON.stringify(line.slice(0, 120))}`);
    const n = (k: number): number => Number(m[k]);
    caches.set(m[1]!, {
      name: m[1]!,
      activeObjs: n(2),
      numObjs: n(3),
      objSize: n(4),
      objPerSlab: n(5),
      pagesPerSlab: n(6),
      activeSlabs: n(7),
      numSlabs: n(8),
    });
  }
  return caches;
}
