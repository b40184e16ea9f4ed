/**
 * summary.json's findings of a debug kernel: the allocinfo counter of BPF local storage judged
 * against its tolerance, and kmemleak's unreferenced objects (verdict/debug-kernel.ts judges,
 * counters/allocinfo.ts and counters/kmemleak.ts read).
 */

/** A site whose live bytes or objects grew between two readings of /proc/allocinfo. */
export interface SiteGrowth {
  site: string;
  func: string;
  module?: string;
  /** after - before */
  bytes: number;
  calls: number;
}

export interface AllocinfoTolerance {
  objects: number;
  why: string;
}

export interface AllocinfoVerdict {
  ok: boolean;
  sites: string[];
  baseline: { calls: number; bytes: number };
  after: { calls: number; bytes: number };
  extraObjects: number;
  tolerance: AllocinfoTolerance;
  reason: string;
}

/** summary.json's `debug`: the allocinfo counter and kmemleak verdicts of a debug kernel. */
export interface DebugCheckSummary {
  ok: boolean;
  reasons: string[];
  allocinfo?: AllocinfoVerdict & { settleMs: number };
  kmemleak?: { unreferenced: number; localStorage: number; reports: string[]; scanMs: number };
}
