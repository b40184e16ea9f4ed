/**
 * The plain-text table printed at the end of a run:
 *   scenario | verdict | settle | key counter deltas (after - before) | reason
 * The counters column lists only counters that moved ("no change" when none did, "-" when
 * the scenario has no before/after snapshot); both snapshots are drained of the memcg charge
 * caches, and what the drain before the after-reading handed back follows as "drained N KiB"
 * (memory.stat kernel), so the kernel's charge drift stays visible beside the verdict.
 * Fixed-width columns; the reason column is last and never cut. No colours unless asked.
 */
import { join } from 'node:path';
import type { RaceCoverageSummary } from '../results/race-coverage.js';
import type { ShellSession, Summary } from '../results/summary.js';
import { counterDeltas, ms, restartLine, scenariosOf, shellKernelLogLine, signedBytes, str, verdictOf, type ShownVerdict } from './format.js';
import { unseenFrees } from '../verdict/race-coverage.js';

export interface TableOptions {
  color: boolean;
}

const COLORS = { pass: '\u001b[32m', fail: '\u001b[31m', error: '\u001b[33m', skip: '\u001b[36m' } as const;
const RESET = '\u001b[0m';

/**
 * One race scenario's coverage: rounds that reached the contended path, who freed, and per
 * round (in order) a digit: elements that went through the handshake (+ for 10 or more,
 * . for none, ? when the round's map free was not counted).
 */
export function raceCoverageLine(c: RaceCoverageSummary): string {
  if (!c.applicable) return `not applicable: ${c.reason}`;
  const perRound = c.perRound.map((x) => (!x.final ? '?' : x.handshake === 0 ? '.' : x.handshake >= 10 ? '+' : String(x.handshake))).join('');
  const held = c.widenNs ? `gap held up to ${Math.round(c.widenNs / 1000)} us` : 'no widening';
  const n = unseenFrees(c);
  const leaks = !n ? '' : c.missesDuring ? `, ${n} not seen freed (tracer missed ${c.missesDuring} calls)` : `, LEFT UNFREED ${n}`;
  return `${c.roundsReached}/${c.rounds} rounds, ${c.handshake} elements (freed by map free ${c.handshakeFreedByMapFree}, by destroy ${c.handshakeFreedByDestroy}), ${c.met} met${leaks}; ${held}, after=${c.after}, drop=${c.drop}; per round ${perRound}`;
}

/** The stop for a shell: where, what did not run, the files, and the kernel log after it (counted apart from the scenario). */
export function shellLines(shell: ShellSession, dir?: string): string[] {
  const spent = shell.durationMs === undefined ? 'the run ended in it' : `${Math.round(shell.durationMs / 1000)} s in the guest`;
  const why = shell.stoppedBecause === 'failed' ? `its first failure${shell.ownersReleased ? ' (found once the owners were released)' : ''}` : 'shell --after';
  const file = (f: string): string => (dir ? join(dir, str(f)) : str(f));
  const lines = [`shell: the run stopped at ${str(shell.scenario)} (${why}) for a shell, ${spent}; what the guest showed: ${file(shell.transcript)}, what was typed: ${file(shell.input)}`];
  if (shell.notRun.length) lines.push(`  not run: ${shell.notRun.map(str).join(', ')}`);
  lines.push(`  ${shellKernelLogLine(shell)}`);
  return lines;
}

export function renderTable(s: Summary, opts: TableOptions = { color: false }): string {
  const head = ['scenario', 'verdict', 'settle', 'counters (after - before)', 'reason'];
  const rows: Array<{ cells: string[]; verdict: ShownVerdict }> = [];
  for (const r of scenariosOf(s)) {
    const v = verdictOf(r);
    const all = counterDeltas(r.counters?.before, r.counters?.after);
    const moved = all.filter((d) => d.delta !== 0).map((d) => `${d.name} ${signedBytes(d.delta)}`).join(', ');
    const drained = r.memcg ? `drained ${signedBytes(r.memcg.handedBack.kernel).replace(/^\+/, '')}` : '';
    const deltas = [all.length === 0 ? '' : moved || 'no change', drained].filter(Boolean).join(', ');
    // A selftest has no reclaim to time.
    const settle = r.kind === 'selftest' ? '-' : r.settleMs === null ? 'never' : ms(r.settleMs);
    rows.push({ cells: [str(r.name), v.toUpperCase(), settle, deltas || '-', str(r.reason).replace(/[\r\n]+/g, ' ')], verdict: v });
  }
  const widths = head.slice(0, 4).map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[], verdict?: ShownVerdict): string =>
    cells
      .map((c, i) => {
        if (i === 4) return c;
        const padded = c.padEnd(widths[i]!);
        return i === 1 && verdict && opts.color ? `${COLORS[verdict]}${padded}${RESET}` : padded;
      })
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  const k = s?.kernel;
  out.push(`kernel ${str(k?.release) || '?'}${k?.spec && k.spec !== k.release ? ` (${k.spec})` : ''}, ${str(s?.accel) || '?'}, channel ${str(s?.channel) || '?'}`);
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  ') + '  ' + '-'.repeat(6));
  for (const r of rows) out.push(line(r.cells, r.verdict));
  const count = (v: string): number => rows.filter((r) => r.verdict === v).length;
  const skips = count('skip') ? `  skip ${count('skip')}` : '';
  const selftests = scenariosOf(s).filter((r) => r.kind === 'selftest').length;
  const what = selftests ? `${rows.length - selftests} scenarios and ${selftests} selftests` : `${rows.length} scenarios`;
  out.push(`pass ${count('pass')}  fail ${count('fail')}  error ${count('error')}${skips}  (of ${what})`);
  for (const r of s?.guestRestarts ?? []) out.push(restartLine(r));
  const after = s?.afterRun;
  const afterWhat = after ? after.kernelLog[0] ?? after.consoleAfterShutdown[0] ?? after.readError ?? (after.lost > 0 ? `${after.lost} kernel log records lost` : undefined) : undefined;
  // After a shell, the log read is the shell's (its own line below); else its findings are in the row of what ran last.
  if (s?.shell) out.push(...shellLines(s.shell, s.resultsDir));
  else if (after && afterWhat) out.push(`after the run (log read ${after.waitedMs} ms after the last scenario, then the console after power-off; added to ${str(after.attributedTo) || 'no result'}): ${str(afterWhat)}`);
  const races = scenariosOf(s).flatMap((r) => (r.raceCoverage ? [`  ${str(r.name)}: ${raceCoverageLine(r.raceCoverage)}`] : []));
  if (races.length) out.push('race coverage (rounds where map free and owner destroy each unlinked half of one element):', ...races);
  if (s?.aborted) out.push(`ABORTED: ${str(s.aborted)}`);
  return out.join('\n');
}
