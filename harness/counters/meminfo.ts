/**
 * SO_MEMINFO optmem per socket (SK_MEMINFO_OPTMEM), as the agent's `sock-meminfo` reports it:
 * one number per held socket, in open order. Socket local storage is charged to sk_omem_alloc,
 * so a socket whose optmem does not return to its baseline still holds storage.
 */
export interface OptmemDelta {
  sockets: number;
  /** Sockets whose value differs from before. */
  changed: number;
  /** Sum of (after - before), bytes; negative when memory was released. */
  totalDelta: number;
  /** Largest |after - before| over the sockets, bytes (0 when nothing changed). */
  maxDelta: number;
  /** Up to 5 changed sockets, lowest index first. */
  examples: Array<{ index: number; before: number; after: number }>;
}

const MAX_EXAMPLES = 5;

export function diffOptmem(before: number[], after: number[]): OptmemDelta {
  if (before.length !== after.length) {
    throw new Error(`optmem readings cover different socket counts: ${before.length} before, ${after.length} after`);
  }
  let changed = 0;
  let totalDelta = 0;
  let maxDelta = 0;
  const examples: OptmemDelta['examples'] = [];
  for (let i = 0; i < before.length; i++) {
    const b = before[i]!;
    const a = after[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(b)) throw new Error(`optmem reading for socket ${i} is not a number`);
    const d = a - b;
    if (d === 0) continue;
    changed++;
    totalDelta += d;
    maxDelta = Math.max(maxDelta, Math.abs(d));
    if (examples.length < MAX_EXAMPLES) examples.push({ index: i, before: b, after: a });
  }
  return { sockets: before.length, changed, totalDelta, maxDelta, examples };
}
