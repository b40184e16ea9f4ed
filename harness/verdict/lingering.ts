/**
 * What counts as lingering: the policy of the harness, in one place, with the reason a user
 * reads when a check fails.
 *
 * - Socket optmem is exact: every element charged to a socket is uncharged when it is freed,
 *   so each socket must come back to exactly its own value from before the element.
 * - memcg counters are not exact, and are judged only after a drain of the cgroup's per-CPU
 *   charge caches (counters/collect.ts: memory.high 0 then max, which calls drain_all_stock()).
 *   Without the drain, 7.x keeps charges no bound explains (mm/memcontrol.c of 7.3): 7.x takes
 *   the per-CPU object stock lock with preemption, not interrupts, disabled, so an uncharge from
 *   an interrupt or softirq (e.g. an RCU callback freeing elements) that lands on a CPU whose
 *   task holds the lock finds it taken (trylock_stock() fails); __refill_obj_stock() then
 *   uncharges the whole pages and adds the byte rest to objcg->nr_charged_bytes, an atomic that
 *   is handed back only when the objcg takes a stock slot anew, which it never needs to while it
 *   stays cached. So it grows with contended frees, with no element behind it (the sk race on
 *   7.3, one CPU: 0.9 MiB handed back by the drain after 100 rounds; the issue saw 2.4 MiB
 *   undrained after 400). 6.12 takes the stock lock with interrupts off and never parks there. The drain empties every slot; the next charge
 *   takes a fresh one and uncharges nr_charged_bytes' whole pages. What it handed back is
 *   recorded beside the verdict, never judged: it is the kernel's, not local storage's.
 * - What may remain after a drain on a correct kernel, per CPU, whatever the work size:
 *   (a) memory.current: the memcg stock the reading's own charges refill after the drain (the
 *       first charge on a CPU with an empty stock charges MEMCG_CHARGE_BATCH = 64 pages and
 *       keeps the rest), on each CPU the agent ran on between drain and reading;
 *   (b) the object stock of those CPUs: under a page of byte-granular charge, plus the sub-page
 *       rests the drain parked in nr_charged_bytes from CPUs whose drain work ran late;
 *   (c) not in the bound: memory.stat (kernel, slab_unreclaimable) is rstat, flushed on a read
 *       only past MEMCG_CHARGE_BATCH x ncpus pending page updates (plus under 64 still per CPU)
 *       and by a worker every 2 s (mm/memcontrol.c, "memcg and lruvec stats flushing"); that
 *       lag lasts 2 s at most and the settle polls for 30 s, so polling covers it, not the bound
 *       (the drain's figure does include it: 6.12, no drift, shows up to 692 KiB at 4 CPUs).
 *   So the bound stays ncpus x 65 pages, but it is now a bound: the one unbounded term, the
 *   drift, is gone before judging. It does not grow with owners or rounds, and the scenario
 *   sizes are chosen so that one lingering element per owner exceeds it several times.
 * - Two findings are kept apart: "elements linger" (optmem, the inspector, on debug kernels the
 *   allocinfo of local storage) sees elements; "the cgroup's charge stays up after a drain"
 *   (memcg alone) sees charge with no element seen. A failed memcg check names the second in
 *   its message (CHARGE_FINDING) and on debug kernels quotes the allocinfo sites that grew.
 * - A map the agent closed must be gone (bpf_map_get_fd_by_id fails) before anything is judged:
 *   the map is freed from a workqueue after the last reference drops.
 * - The inspector is exact and direct: once a map is freed, no owner may still have one of its
 *   elements linked, whatever the memory counters say. When no map of the kind is left, no
 *   owner may keep a storage struct either (the struct goes with its last element).
 */
import { diffOptmem } from '../counters/meminfo.js';
import { toSnapshot, type Reading } from '../counters/collect.js';
import { elementsOfMap, ownersHolding, type InspectorReading } from '../counters/inspector.js';
import type { Check, Tolerance } from '../results/checks.js';
import type { MemcgFigures, Signal } from '../results/summary.js';

/** Pages each CPU's memcg stock may hold pre-charged (mm/memcontrol.c MEMCG_CHARGE_BATCH). */
export const MEMCG_CHARGE_BATCH = 64;

/** What a correct kernel may keep after a drain (see the header): per CPU, a refilled memcg stock and an object stock. */
export function memcgTolerance(ncpus: number, pageSize: number): Tolerance {
  const bytes = ncpus * (MEMCG_CHARGE_BATCH + 1) * pageSize;
  return { bytes, why: `after a drain: ${ncpus} CPUs x (${MEMCG_CHARGE_BATCH} pages of memcg charge stock refilled + 1 page of object stock) x ${pageSize} B` };
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Every socket back to exactly its own baseline. */
export function checkOptmem(baseline: readonly number[], now: readonly number[]): Check {
  const d = diffOptmem([...baseline], [...now]);
  if (d.changed === 0) return { name: 'optmem', ok: true, message: `all ${d.sockets} sockets back to their optmem baseline` };
  const example = d.examples[0];
  const ex = example ? ` (socket #${example.index}: ${example.before} B before, ${example.after} B now)` : '';
  return {
    name: 'optmem',
    ok: false,
    message: `${d.changed} of ${d.sockets} sockets kept ${d.totalDelta} B of optmem after the map was freed, up to ${d.maxDelta} B on one${ex}`,
  };
}

/**
 * memory.current less the cgroup's user pages (anon + file): the agent lives in the scenario's
 * cgroup, and its own heap (JSON buffers, libbpf's BTF parsing) moves anon by hundreds of KiB
 * between readings. Storage elements are kernel memory, so user pages are not evidence.
 */
export function kernelPartOfCurrent(r: Reading): number {
  return r.memcgCurrent - (r.memcgStat.anon ?? 0) - (r.memcgStat.file ?? 0);
}

/** What stayed charged after - before, both readings drained. */
export function memcgResidue(before: Reading, now: Reading): MemcgFigures['residue'] {
  return {
    current: kernelPartOfCurrent(now) - kernelPartOfCurrent(before),
    kernel: (now.memcgStat.kernel ?? 0) - (before.memcgStat.kernel ?? 0),
    slab: (now.memcgStat.slab_unreclaimable ?? 0) - (before.memcgStat.slab_unreclaimable ?? 0),
  };
}

/** The finding a failed memcg check names: no element is seen, the charge itself stays up. */
export const CHARGE_FINDING = "the cgroup's charge stays up after a drain of its charge caches";

function handedBack(now: Reading): string {
  return now.drain ? `; the drain handed back ${kib(now.drain.kernel)} of kernel memory` : '; no drain before this reading';
}

/**
 * The kernel part of memory.current, memory.stat kernel and slab_unreclaimable back within the
 * tolerance, on drained readings (the drain's own figure is quoted, never judged).
 */
export function checkMemcg(before: Reading, now: Reading, tol: Tolerance): Check[] {
  const r = memcgResidue(before, now);
  const finding = (ok: boolean): string => (ok ? '' : `${CHARGE_FINDING}: `);
  const drained = handedBack(now);
  return [
    {
      name: 'memcg-current',
      ok: r.current <= tol.bytes,
      message: `${finding(r.current <= tol.bytes)}memory.current less user pages is ${kib(r.current)} above its baseline (tolerance ${kib(tol.bytes)}: ${tol.why})${drained}`,
    },
    {
      name: 'memcg-kernel',
      ok: r.kernel <= tol.bytes,
      message: `${finding(r.kernel <= tol.bytes)}memory.stat kernel is ${kib(r.kernel)} above its baseline (tolerance ${kib(tol.bytes)})${drained}`,
    },
    {
      name: 'memcg-slab',
      ok: r.slab <= tol.bytes,
      message: `${finding(r.slab <= tol.bytes)}memory.stat slab_unreclaimable is ${kib(r.slab)} above its baseline (tolerance ${kib(tol.bytes)})`,
    },
  ];
}

/** The scenario's memcg figures for summary.json: the judged residue and what the drains handed back. */
export function memcgFigures(before: Reading, after: Reading, tol: Tolerance, handedBack = after.drain, undrained?: Reading): MemcgFigures {
  const f: MemcgFigures = { residue: memcgResidue(before, after), tolerance: tol.bytes, handedBack: handedBack ?? { current: 0, kernel: 0, user: 0, drainUs: 0 } };
  if (before.drain) f.baselineHandedBack = before.drain;
  if (undrained) f.undrainedAfter = toSnapshot(undrained, null);
  return f;
}

/** Of several generations' figures, the one that came closest to failing (largest kernel residue). */
export function worstMemcg(figures: ReadonlyArray<MemcgFigures | undefined>): MemcgFigures | undefined {
  let worst: MemcgFigures | undefined;
  for (const f of figures) if (f && (!worst || f.residue.kernel > worst.residue.kernel)) worst = f;
  return worst;
}

export function checkMapsFreed(stillAlive: readonly number[], total: number): Check {
  if (stillAlive.length === 0) return { name: 'maps-freed', ok: true, message: `all ${total} maps freed by the kernel` };
  return { name: 'maps-freed', ok: false, message: `${stillAlive.length} of ${total} closed maps still exist (ids ${stillAlive.slice(0, 8).join(', ')})` };
}

/**
 * How many times one lingering element per owner would exceed the memcg tolerance, from the
 * charge per element measured in this very run. Below 2 the memcg checks cannot tell.
 */
export function memcgSensitivity(chargedBytes: number, owners: number, tol: Tolerance): number {
  if (owners <= 0) return 0;
  return chargedBytes / tol.bytes;
}

/**
 * After maps were freed: no owner holds an element of one of them; with allGone (no map of
 * this kind left open), no owner keeps a storage struct at all.
 */
export function checkInspector(r: InspectorReading, freed: readonly number[], allGone: boolean): Check {
  const held = ownersHolding(r, new Set(freed));
  if (held.elements > 0) {
    const names = held.owners.slice(0, 5).join(', ');
    return {
      name: 'inspector',
      ok: false,
      message: `${held.elements} elements of freed maps are still linked on ${held.owners.length} ${r.kind} owners (${names}${held.owners.length > 5 ? ', ...' : ''})`,
    };
  }
  if (allGone && r.owners.length > 0) {
    const names = r.owners.slice(0, 5).map((o) => o.owner).join(', ');
    return { name: 'inspector', ok: false, message: `${r.owners.length} ${r.kind} owners still have a storage struct attached with every map gone (${names})` };
  }
  return { name: 'inspector', ok: true, message: `no element of the ${freed.length} freed maps is linked on any of ${r.trailer.visited} ${r.kind} owners` };
}

/** At the peak: every owner holds exactly one element of the map (the inspector sees what exists). */
export function checkInspectorPeak(r: InspectorReading, mapId: number, owners: number): Check {
  const seen = elementsOfMap(r, mapId);
  const ok = seen.owners === owners && seen.elements === owners;
  return {
    name: 'inspector-peak',
    ok,
    message: ok
      ? `the inspector found the element of map ${mapId} on all ${owners} ${r.kind} owners`
      : `the inspector found ${seen.elements} elements of map ${mapId} on ${seen.owners} ${r.kind} owners, want one on each of ${owners}`,
  };
}

/**
 * Set-up checks prove that the scenario built what it tests (the elements exist, the inspector
 * and optmem see them); they watch nothing being freed, so they never count as a detection.
 * When one fails and no detection failed, the scenario could not test anything: verdictOf()
 * makes that an 'error' ("could not test: ..."), neither a pass (nothing was shown) nor a
 * lingering finding (nothing was seen to linger). Beside a failed detection the detection
 * stands (what lingered did linger) and the set-up failure is still in the reason.
 */
const SETUP_CHECKS = new Set(['inspector-peak', 'elements-created', 'elements-in-map', 'optmem-rose']);

export function isSetupCheck(checkName: string): boolean {
  return SETUP_CHECKS.has(checkName.replace(/\[.*\]$/, ''));
}

/** Check names to the signal that raised them: what summary.json calls `caughtBy`; null for set-up checks. */
export function signalOf(checkName: string): Signal | null {
  const base = checkName.replace(/\[.*\]$/, '');
  if (SETUP_CHECKS.has(base)) return null;
  if (base === 'optmem') return 'optmem';
  if (base.startsWith('memcg')) return 'memcg';
  if (base.startsWith('inspector')) return 'inspector';
  if (base === 'maps-freed') return 'maps-freed';
  if (base === 'kernel-log') return 'kernel log';
  if (base === 'values') return 'values';
  // lookups through a live map that miss its elements
  return 'elements';
}

/** The distinct signals among the failed detection checks, in a fixed order. */
export function caughtBy(checks: readonly Check[]): Signal[] {
  const order: Signal[] = ['optmem', 'memcg', 'inspector', 'maps-freed', 'kernel log', 'values', 'elements'];
  const seen = new Set(checks.filter((c) => !c.ok).map((c) => signalOf(c.name)));
  return order.filter((s) => seen.has(s));
}

/** pass, fail (a detection failed), or error when only set-up checks failed (see SETUP_CHECKS). */
export function verdictOf(checks: readonly Check[]): { verdict: 'pass' | 'fail' | 'error'; reason: string | null } {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return { verdict: 'pass', reason: null };
  // The inspector walks every owner: the user and prog generations' checks can state one fact twice.
  const text = [...new Set(failed.map((c) => c.message))].join('; ');
  if (failed.every((c) => isSetupCheck(c.name))) return { verdict: 'error', reason: `could not test: ${text}` };
  return { verdict: 'fail', reason: text };
}
