/**
 * cgroup v2 memory controller files, as read from the guest: memory.stat ("key value" lines,
 * values in bytes or event counts) and memory.current (one number, bytes).
 */

/** Parses memory.stat. Throws on a line that is not "key <unsigned integer>". */
export function parseMemoryStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const m = /^([A-Za-z0-9_]+)\s+(\d+)$/.exec(line);
    if (!m) throw new Error(`memory.stat line ${i + 1} is not "key value": ${JSON.stringify(lines[i])}`);
    out[m[1]!] = toSafeInt(m[2]!, `memory.stat ${m[1]}`);
  }
  if (Object.keys(out).length === 0) throw new Error('memory.stat is empty');
  return out;
}

/** Parses memory.current: a single unsigned integer (bytes). */
export function parseMemoryCurrent(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new Error(`memory.current is not a number: ${JSON.stringify(text.slice(0, 80))}`);
  return toSafeInt(t, 'memory.current');
}

function toSafeInt(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} value ${s} exceeds 2^53`);
  return n;
}
