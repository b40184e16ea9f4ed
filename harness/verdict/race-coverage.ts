/**
 * What the race coverage means for a race scenario's verdict.
 *
 * The contended path is bpf_selem_unlink_nofail() finding an element the other side has half
 * unlinked: each side unlinks one list and the per-selem state handshake decides who frees it.
 * A round "reached" it when at least one element went that way. Rounds that never reached it
 * tested the ordinary, one-side-does-everything path only; that is said in the reason, and
 * under --require-race it fails the scenario. Elements the tracer saw left unfreed by the
 * handshake, or half unlinked by the only side it saw, are reported (figures and the reason)
 * but do not fail a scenario yet: on a clean 7.3 a few rounds in a hundred show one such
 * element while the inspector, the memory counters and the kernel log are clean, so until it is
 * known why (a missed tracer call, a record lost between the two sides) they are not a verdict.
 * On kernels without the series (6.12) none of this applies, and that is no failure.
 */
import type { RaceCoverageSummary } from '../results/race-coverage.js';
import type { Check } from '../results/checks.js';

export function raceCoverageChecks(cov: RaceCoverageSummary, requireRace: boolean): Check[] {
  if (!cov.applicable) return [];
  const checks: Check[] = [];
  const reached = cov.roundsReached > 0;
  checks.push({
    name: 'race-reached',
    ok: reached || !requireRace,
    message: reached
      ? `the contended unlink path was reached in ${cov.roundsReached} of ${cov.rounds} rounds (${cov.handshake} elements)`
      : `no round reached the contended unlink path (map free and owner destroy each unlinking half of one element) in ${cov.rounds} rounds${requireRace ? ' (--require-race)' : ''}`,
  });
  return checks;
}

type Applicable = Extract<RaceCoverageSummary, { applicable: true }>;

/** Elements the tracer saw unlinked but not freed, or unlinked by one side only. */
export function unseenFrees(cov: Applicable): number {
  return cov.unfreed + cov.orphaned;
}

/**
 * What those elements are, in words. The kernel skips a tracing program already running on that
 * CPU (a UDP socket's destruct in a softirq landing on a TCP close in the sk race): a skipped
 * free or unlink leaves exactly such an element in the counts, so when the race verbs missed
 * calls that is said first; when they missed none, the tracer's counts are whole.
 */
export function unseenFreesText(cov: Applicable): string {
  const what = `${cov.unfreed} element(s) unlinked with no free seen and ${cov.orphaned} unlinked by one side only`;
  if (cov.missesDuring === undefined) return `the tracer saw ${what}`;
  if (cov.missesDuring > 0) return `the tracer missed ${cov.missesDuring} call(s) (recursion) and saw ${what}`;
  return `the tracer missed no call and saw ${what}`;
}

/** Appended to a passing race scenario's reason: what the race covered, or that it did not. */
export function raceCoverageNote(cov: RaceCoverageSummary): string {
  if (!cov.applicable) return `race coverage not applicable (${cov.reason})`;
  const odd = unseenFrees(cov) ? `; ${unseenFreesText(cov)} (not judged)` : '';
  if (cov.roundsReached === 0) return `the races never reached the contended unlink path (0 of ${cov.rounds} rounds)${odd}`;
  return `contended unlink path reached in ${cov.roundsReached} of ${cov.rounds} rounds${odd}`;
}

/**
 * The tracer is attached only while a race verb runs (bpf/racecov.c): its fentry on the hot
 * kvfree_call_rcu() must not follow the other scenarios. `linksAfter` is what the kernel lists of
 * the tracer's links once the races are done; any left is a failure of the harness's own
 * isolation, named as such.
 */
export function tracerDetachedCheck(linksDuring: number, linksAfter: number): Check {
  return {
    name: 'tracer-detached',
    ok: linksAfter === 0,
    message: linksAfter === 0
      ? `the race coverage tracer was detached after the races (${linksDuring} links while they ran, 0 after)`
      : `the race coverage tracer is still attached after the races (${linksAfter} links): the next scenarios would run traced`,
  };
}
