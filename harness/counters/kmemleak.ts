/**
 * kmemleak's report (/sys/kernel/debug/kmemleak): unreferenced objects with their backtraces.
 */

export interface LeakRecord {
  address: string;
  size: number;
  comm?: string;
  /** Function names of the allocation backtrace, innermost first, without offsets. */
  backtrace: string[];
  text: string;
}

export function parseKmemleak(text: string): LeakRecord[] {
  const out: LeakRecord[] = [];
  const blocks = text.split(/^(?=unreferenced object )/m).filter((b) => b.startsWith('unreferenced object '));
  for (const b of blocks) {
    const head = /^unreferenced object (0x[0-9a-f]+) \(size (\d+)\)/.exec(b);
    if (!head) continue;
    const comm = /comm "([^"]*)"/.exec(b)?.[1];
    const bt: string[] = [];
    const btStart = b.search(/^\s*backtrace/m);
    if (btStart >= 0) {
      for (const l of b.slice(btStart).split('\n').slice(1)) {
        const m = /^\s+(?:\[<[0-9a-f]+>\]\s+)?([A-Za-z0-9_.$]+)\+0x/.exec(l);
        if (m) bt.push(m[1]!);
      }
    }
    out.push({ address: head[1]!, size: Number(head[2]), ...(comm !== undefined ? { comm } : {}), backtrace: bt, text: b.trimEnd() });
  }
  return out;
}
