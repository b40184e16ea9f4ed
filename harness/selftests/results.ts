/**
 * What the BPF selftests' runners printed, turned into the harness's report: one result per
 * test, with its subtests as checks, so summary.json, TAP, JUnit, the table and `compare`
 * treat a selftest like a scenario.
 *
 * test_progs prints every test and every subtest it ran on stdout (`#238     sk_storage_tracing:OK`,
 * `#238/1   sk_storage_tracing/x:FAIL`); its -J file holds the totals and, without -v, only
 * the failed tests with their logs. A map test of test_maps (run alone by bpfh-map-test) ends at
 * its first failed CHECK (`func(line):FAIL:tag ...`, exit 255) and prints `test_NAME:PASS` when it
 * passes.
 */
import type { ScenarioResult, Verdict } from '../results/summary.js';

export type TestStatus = 'OK' | 'SKIP' | 'FAIL';

export interface SubtestLine {
  number: string;
  name: string;
  status: TestStatus;
}

export interface TestLine {
  number: number;
  name: string;
  status: TestStatus;
  /** The rest of the status text: "(SKIP: 1/4)", "(not built)". */
  detail: string;
  subtests: SubtestLine[];
}

export interface TestProgsJson {
  success: number;
  success_subtest: number;
  skipped: number;
  failed: number;
  failed_subtest: number;
  results: Array<{ name: string; number: number; message: string; failed: boolean; subtests: Array<{ name: string; number: number; message: string; failed: boolean }> }>;
}

export interface TestProgsSummaryLine {
  passed: number;
  passedSubtests: number;
  skipped: number;
  failed: number;
  failedSubtests: number;
}

function statusOf(text: string): { status: TestStatus; detail: string } | undefined {
  const m = /^(OK|SKIP|FAIL)\b\s*(.*)$/.exec(text.trim());
  return m ? { status: m[1] as TestStatus, detail: m[2]! } : undefined;
}

/** Every test and subtest result line of test_progs' stdout, in order. */
export function parseTestProgsOutput(text: string): { tests: TestLine[]; summary?: TestProgsSummaryLine } {
  const tests: TestLine[] = [];
  const byNumber = new Map<number, TestLine>();
  let summary: TestProgsSummaryLine | undefined;
  for (const line of text.split('\n')) {
    const sub = /^#(\d+)\/(\d+)\s+([^/\s]+)\/(.*):(OK|SKIP|FAIL)\s*$/.exec(line);
    if (sub) {
      const testNo = Number(sub[1]);
      let test = byNumber.get(testNo);
      if (!test) {
        // Subtests print before their test's own line.
        test = { number: testNo, name: sub[3]!, status: 'OK', detail: '', subtests: [] };
        byNumber.set(testNo, test);
        tests.push(test);
      }
      test.subtests.push({ number: `${sub[1]}/${sub[2]}`, name: sub[4]!, status: sub[5] as TestStatus });
      continue;
    }
    const top = /^#(\d+)\s+(\S+?):((?:OK|SKIP|FAIL).*)$/.exec(line);
    if (top) {
      const st = statusOf(top[3]!);
      if (!st) continue;
      const testNo = Number(top[1]);
      let test = byNumber.get(testNo);
      if (!test) {
        test = { number: testNo, name: top[2]!, status: st.status, detail: st.detail, subtests: [] };
        byNumber.set(testNo, test);
        tests.push(test);
      }
      test.status = st.status;
      test.detail = st.detail;
      continue;
    }
    const s = /^Summary: (\d+)\/(\d+) PASSED, (\d+) SKIPPED(?: \(\d+ not built\))?, (\d+)\/(\d+) FAILED/.exec(line);
    if (s) summary = { passed: Number(s[1]), passedSubtests: Number(s[2]), skipped: Number(s[3]), failed: Number(s[4]), failedSubtests: Number(s[5]) };
  }
  return { tests, summary };
}

export function parseTestProgsJson(text: string): TestProgsJson | undefined {
  try {
    const j = JSON.parse(text) as TestProgsJson;
    return typeof j.success === 'number' && Array.isArray(j.results) ? j : undefined;
  } catch {
    return undefined;
  }
}

/** The first lines of a failure log that say what went wrong, for the one-line reason. */
export function firstFailureLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /FAIL|fail|unexpected|error|ERROR/.test(l)) ?? lines[0] ?? '';
}

function baseResult(name: string, verdict: Verdict, reason: string, runner: string): ScenarioResult {
  return {
    name,
    verdict,
    reason,
    kind: 'selftest',
    params: { runner },
    seed: 0,
    counters: { before: null, after: null },
    settleMs: null,
    durationMs: 0,
    checks: [],
  };
}

/** One result per test test_progs ran; failures carry the messages of its -J file. */
export function testProgsResults(out: ReturnType<typeof parseTestProgsOutput>, json: TestProgsJson | undefined): ScenarioResult[] {
  const failures = new Map((json?.results ?? []).map((r) => [r.name, r]));
  return out.tests.map((t) => {
    const verdict: Verdict = t.status === 'OK' ? 'pass' : t.status === 'SKIP' ? 'skip' : 'fail';
    const failed = failures.get(t.name);
    const subMessages = new Map((failed?.subtests ?? []).map((s) => [s.name, s.message]));
    const failedSubs = t.subtests.filter((s) => s.status === 'FAIL');
    const skippedSubs = t.subtests.filter((s) => s.status === 'SKIP');
    let reason: string;
    if (verdict === 'fail') {
      const where = failedSubs.length ? `${failedSubs.length} of ${t.subtests.length} subtests failed (${failedSubs.map((s) => s.name).join(', ')})` : 'the test failed';
      const msg = firstFailureLine(failedSubs.length ? (subMessages.get(failedSubs[0]!.name) ?? failed?.message ?? '') : (failed?.message ?? ''));
      reason = msg ? `${where}: ${msg}` : where;
    } else if (verdict === 'skip') {
      reason = `skipped${t.detail ? ` ${t.detail}` : ''}`;
    } else {
      reason = `${t.subtests.length ? `${t.subtests.length - skippedSubs.length} subtests passed` : 'passed'}${skippedSubs.length ? `, ${skippedSubs.length} skipped` : ''}`;
    }
    const r = baseResult(`test_progs/${t.name}`, verdict, reason, 'test_progs');
    r.params.number = t.number;
    r.checks = t.subtests.map((s) => ({ name: s.name, ok: s.status !== 'FAIL', message: s.status === 'FAIL' ? (subMessages.get(s.name) ?? '').trim() || 'FAIL' : s.status }));
    if (verdict === 'fail' && failed?.message && failedSubs.length === 0) r.checks.push({ name: 'log', ok: false, message: failed.message.trim() });
    return r;
  });
}

/**
 * The map tests asked for, judged from their output: PASS on the `test_NAME:PASS` line; FAIL
 * on a CHECK failure inside it (`test_NAME...(line):FAIL:`); ERROR when the run ended before
 * reaching or finishing it.
 */
export function testMapsResults(output: string, mapTests: readonly string[], ended: { status: number; signal: number; timedOut: boolean }): ScenarioResult[] {
  const lines = output.split('\n');
  const failLine = lines.find((l) => /^\w+\(\d+\):FAIL:/.test(l));
  const how = ended.timedOut ? 'hit its deadline' : ended.signal ? `was killed by signal ${ended.signal}` : `exited with ${ended.status}`;
  return mapTests.map((name) => {
    const fn = `test_${name}`;
    if (lines.some((l) => l.trim() === `${fn}:PASS`)) return baseResult(`test_maps/${name}`, 'pass', `${fn}:PASS`, 'test_maps');
    const own = lines.find((l) => l.startsWith(fn) && /\(\d+\):FAIL:/.test(l));
    if (own) return baseResult(`test_maps/${name}`, 'fail', own.trim(), 'test_maps');
    const before = failLine ? `: ${failLine.trim()}` : '';
    return baseResult(`test_maps/${name}`, 'error', `the map tests' run ${how} before ${fn} ran or finished${before}`, 'test_maps');
  });
}
