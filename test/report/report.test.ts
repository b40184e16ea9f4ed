import t from 'tap';
import { Parser, type FinalResults } from 'tap-parser';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScenarioResult, Summary } from '../../harness/results/summary.js';
import { summaryToTap } from '../../harness/report/tap.js';
import { summaryToJUnit } from '../../harness/report/junit.js';
import { renderTable } from '../../harness/report/table.js';
import { createRunDir, sanitiseTag, writeRunReport } from '../../harness/report/results-dir.js';
import { renderRunReport } from '../../harness/report/html/run-report.js';
import { tempDir } from '../helpers/temp-dir.js';

const snap = (memcg: number, slab: number, optmem?: number) => ({
  memcgCurrent: memcg,
  memcgStat: { kernel: slab + 4096, slab_unreclaimable: slab, percpu: 0, sock: 0 },
  ...(optmem === undefined ? {} : { optmemTotal: optmem, optmemChanged: 0 }),
});

const NASTY = 'memcg <kernel> stayed +12288 & "slab" didn\'t return\nsecond line # not a directive';

function scenario(over: Partial<ScenarioResult>): ScenarioResult {
  return {
    name: 'sk-user-close',
    verdict: 'pass',
    reason: 'every counter back within tolerance',
    params: { sockets: 64 },
    seed: 42,
    counters: { before: snap(1_000_000, 300_000, 0), after: snap(1_000_000, 300_000, 0) },
    settleMs: 120,
    durationMs: 2500,
    checks: [{ name: 'memcg', ok: true, message: 'back to baseline' }],
    ...over,
  };
}

function summary(over: Partial<Summary> = {}): Summary {
  return {
    version: 1,
    tool: 'bpf-storage-harness',
    startedAt: '2026-11-25T21:00:00.000Z',
    kernel: { spec: 'debian:bookworm', release: '6.1.0-56-amd64', bzImage: 'vmlinuz-6.1.0-56-amd64' },
    accel: 'tcg',
    backend: 'qemu',
    channel: 'virtio',
    exitCode: 1,
    scenarios: [
      scenario({}),
      scenario({
        name: 'sk-map-free-lingers',
        verdict: 'fail',
        reason: NASTY,
        settleMs: null,
        counters: { before: snap(1_000_000, 300_000, 0), after: snap(1_012_288, 312_000, 640) },
        checks: [
          { name: 'memcg', ok: false, message: 'memory.current +12288 B > tolerance 8192 B' },
          { name: 'optmem', ok: false, message: '2 sockets kept 320 B each' },
          { name: 'map-alive', ok: true, message: 'map freed' },
        ],
        kernelLog: ['WARNING: CPU: 1 PID: 94 at kernel/bpf/bpf_local_storage.c:11 x+0x5/0x10'],
      }),
      scenario({ name: 'sk-race', verdict: 'error', reason: 'agent: race failed: ENOMEM', checks: [], settleMs: null }),
    ],
    timings: { totalMs: 60_000 },
    repeat: "bpf-harness vm-test --kernel debian:bookworm --seed 42 --only 'sk-*'",
    ...over,
  };
}

function parseTap(text: string): Promise<FinalResults> {
  return new Promise((resolve) => {
    const p = new Parser(resolve);
    p.end(text);
  });
}

t.test('TAP 14 parses, and fails what failed', async (t) => {
  const text = summaryToTap(summary());
  t.match(text, /^TAP version 14\n/);
  const r = await parseTap(text);
  t.equal(r.count, 3);
  t.equal(r.pass, 1);
  t.equal(r.fail, 2);
  t.equal(r.ok, false);
  t.equal(r.plan.end, 3, 'plan 1..3');
  const [fail, err] = r.failures;
  t.equal(fail!.name, 'sk-map-free-lingers');
  t.equal(fail!.diag.reason, NASTY, 'the reason survives YAML, newline, quotes, # and all');
  t.same(fail!.diag.failed_checks.map((c: { name: string }) => c.name), ['memcg', 'optmem'], 'only the failed checks');
  t.equal(fail!.diag.settleMs, null);
  t.equal(fail!.diag.repeat, summary().repeat);
  t.same(fail!.diag.kernel_log, summary().scenarios[1]!.kernelLog);
  t.equal(err!.name, 'sk-race');
  t.equal(err!.diag.verdict, 'error');
  t.equal(err!.diag.reason, 'agent: race failed: ENOMEM');
});

t.test('TAP: all pass is ok; an aborted run bails out', async (t) => {
  const ok = await parseTap(summaryToTap(summary({ scenarios: [scenario({})], exitCode: 0 })));
  t.equal(ok.ok, true);
  t.equal(ok.pass, 1);
  const text = summaryToTap(summary({ scenarios: [scenario({})], aborted: 'Kernel panic - not syncing: sysrq triggered crash' }));
  const r = await parseTap(text);
  t.equal(r.ok, false, 'an aborted run is never ok');
  t.match(String(r.bailout), /Kernel panic/);
  const none = await parseTap(summaryToTap(summary({ scenarios: [] })));
  t.equal(none.count, 0);
  t.equal(none.plan.end, 0);
  t.match(summaryToTap(summary({ scenarios: [scenario({ name: 'a # SKIP b' })] })), /ok 1 - a \\# SKIP b/, 'a # in a name is escaped, not a directive');
});

/** A strict little XML well-formedness check: balanced tags, quoted attributes, only the five entities and &#n;. */
function checkXml(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const re = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body)) !== null) {
    if (m[6]) {
      problems.push(`stray < at ${m.index}`);
      continue;
    }
    const text = m[5] ?? m[3] ?? '';
    for (const a of text.matchAll(/&([^;\s]*);?/g)) {
      if (!/^(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+)$/.test(a[1]!) || !a[0].endsWith(';')) problems.push(`bad entity ${a[0]}`);
    }
    if (m[5] !== undefined) continue;
    if (m[1]) {
      if (stack.pop() !== m[2]) problems.push(`unbalanced </${m[2]}>`);
    } else if (!m[4]) stack.push(m[2]!);
  }
  if (stack.length) problems.push(`unclosed ${stack.join(',')}`);
  return problems;
}

const unescape = (s: string): string =>
  s.replace(/&#10;/g, '\n').replace(/&#13;/g, '\r').replace(/&#9;/g, '\t').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

t.test('JUnit XML: well-formed, escaped, counts right', async (t) => {
  const xml = summaryToJUnit(summary());
  t.same(checkXml(xml), [], 'well-formed');
  t.notMatch(xml, /<kernel>/, 'no raw < from the reason');
  t.match(xml, /<testsuites name="bpf-storage-harness" tests="3" failures="1" errors="1"/);
  t.match(xml, /<testsuite name="6\.1\.0-56-amd64 \(debian:bookworm\)" tests="3" failures="1" errors="1"/);
  t.equal(xml.match(/<testcase /g)!.length, 3);
  const msg = /<failure message="([^"]*)" type="fail">/.exec(xml);
  t.ok(msg, 'a <failure> with a message');
  t.equal(unescape(msg![1]!), NASTY, 'the message attribute round-trips: < & " \' and newline');
  t.match(msg![1]!, /&lt;kernel&gt;/);
  t.match(msg![1]!, /&amp;/);
  t.match(msg![1]!, /&quot;slab&quot;/);
  t.match(xml, /<error message="agent: race failed: ENOMEM" type="error">/);
  t.match(xml, /<system-out>\[FAIL\] memcg: memory\.current \+12288 B &gt; tolerance 8192 B\n\[FAIL\] optmem/);
  t.match(xml, /\[ok\] map-alive: map freed/);
  t.match(xml, /<property name="repeat" value="bpf-harness vm-test --kernel debian:bookworm --seed 42 --only &apos;sk-\*&apos;"\/>/);
  const ctl = summaryToJUnit(summary({ scenarios: [scenario({ verdict: 'fail', reason: 'bell \u0007 and nul \u0000' })] }));
  t.same(checkXml(ctl), []);
  t.notMatch(ctl, /[\u0000-\u0008]/, 'control characters XML cannot hold are replaced');
});

t.test('JUnit: an aborted run is an error even with no scenario', async (t) => {
  const xml = summaryToJUnit(summary({ scenarios: [], aborted: 'deadline <600 s> passed' }));
  t.same(checkXml(xml), []);
  t.match(xml, /tests="1" failures="0" errors="1"/);
  t.match(xml, /<testcase [^>]*name="\(run\)"/);
  t.match(xml, /run aborted: deadline &lt;600 s&gt; passed/);
});

t.test('table', async (t) => {
  const text = renderTable(summary(), { color: false });
  t.notMatch(text, /\u001b/, 'no colour unless asked');
  const lines = text.split('\n');
  t.match(lines[0], /^kernel 6\.1\.0-56-amd64 \(debian:bookworm\), tcg, channel virtio$/);
  t.match(lines[1], /^scenario\s+verdict\s+settle\s+counters \(after - before\)\s+reason$/);
  const row = (name: string): string => lines.find((l) => l.startsWith(name + ' '))!;
  const col = lines[1]!.indexOf('verdict');
  for (const n of ['sk-user-close', 'sk-map-free-lingers', 'sk-race']) t.equal(row(n).indexOf(n === 'sk-user-close' ? 'PASS' : n === 'sk-race' ? 'ERROR' : 'FAIL'), col, `${n}: verdict column aligned`);
  const reasonCol = lines[1]!.indexOf('reason');
  t.equal(row('sk-race').indexOf('agent: race failed'), reasonCol, 'reason column aligned');
  t.match(row('sk-map-free-lingers'), /never\s+memcg \+12\.0 KiB, kernel \+11\.7 KiB, slab \+11\.7 KiB, optmem \+640 B {2}memcg </);
  t.match(row('sk-race'), /ERROR\s+never\s+no change/);
  t.match(row('sk-user-close'), /PASS\s+120 ms\s+no change\s+every counter back/);
  t.equal(lines.length, 7, 'title, head, rule, one line per scenario (a newline in a reason does not break its row), totals');
  t.match(text, /pass 1 {2}fail 1 {2}error 1 {2}\(of 3 scenarios\)/);
  const colored = renderTable(summary(), { color: true });
  t.match(colored, /\u001b\[31mFAIL/);
  t.match(colored, /\u001b\[32mPASS/);
  t.match(renderTable(summary({ aborted: 'Ctrl-C' }), { color: false }), /ABORTED: Ctrl-C$/);
  t.doesNotThrow(() => renderTable({ scenarios: [{ name: 'x' }] } as unknown as Summary, { color: false }), 'partial data');
});

t.test('createRunDir and the latest link', async (t) => {
  const root = tempDir(t, 'results');
  const results = join(root, 'results');
  const now = new Date(Date.UTC(2026, 10, 25, 9, 5, 7));
  const a = createRunDir(results, '6.1.0-56-amd64 (debian:bookworm)', now);
  t.equal(a.name, '20261125-090507-6.1.0-56-amd64_debian_bookworm');
  t.ok(lstatSync(a.dir).isDirectory());
  t.equal(readlinkSync(join(results, 'latest')), a.name, 'latest is a relative link to the run');
  const b = createRunDir(results, '6.1.0-56-amd64 (debian:bookworm)', now);
  t.equal(b.name, `${a.name}-2`, 'same second, same kernel: a new directory');
  t.equal(readlinkSync(join(results, 'latest')), b.name, 'latest moved');
  t.equal(realpathSync(join(results, 'latest')), realpathSync(b.dir));
  t.same(readdirSync(results).filter((n) => n.includes('tmp')), [], 'no temporary link left behind');
  t.equal(sanitiseTag('../../etc/passwd'), 'etc_passwd', 'no path escapes');
  t.equal(sanitiseTag('///'), 'kernel');
  t.equal(sanitiseTag('x'.repeat(200)).length, 64);
});

t.test('writeRunReport writes four files, atomically, and never throws', async (t) => {
  const root = tempDir(t, 'results');
  const run = createRunDir(root, 'k');
  const s = summary();
  writeRunReport(run, s);
  t.same(readdirSync(run.dir).sort(), ['junit.xml', 'report.html', 'results.tap', 'summary.json']);
  t.equal(readFileSync(join(run.dir, 'report.html'), 'utf8'), renderRunReport(s));
  const json = readFileSync(join(run.dir, 'summary.json'), 'utf8');
  t.same(JSON.parse(json), s);
  t.match(json, /^\{\n {2}"version": 1,/, '2-space JSON');
  t.equal(readFileSync(join(run.dir, 'results.tap'), 'utf8'), summaryToTap(s));
  t.equal(readFileSync(join(run.dir, 'junit.xml'), 'utf8'), summaryToJUnit(s));

  // A partial Summary, as an abort handler may have it.
  const partial = { version: 1, tool: 'bpf-storage-harness', aborted: 'SIGINT', scenarios: [{ name: 'half', checks: null }] } as unknown as Summary;
  t.doesNotThrow(() => writeRunReport(run, partial));
  const tap = await parseTap(readFileSync(join(run.dir, 'results.tap'), 'utf8'));
  t.equal(tap.ok, false);
  t.same(checkXml(readFileSync(join(run.dir, 'junit.xml'), 'utf8')), []);
  t.match(readFileSync(join(run.dir, 'report.html'), 'utf8'), /The run ended early: SIGINT[\s\S]*half/, 'an aborted run has a report saying so');

  // Unserialisable and unwritable: still no throw, and the other files are written.
  const cyclic = summary() as Summary & { self?: unknown };
  cyclic.self = cyclic;
  writeFileSync(join(run.dir, 'summary.json'), 'old');
  t.doesNotThrow(() => writeRunReport(run, cyclic));
  t.equal(readFileSync(join(run.dir, 'summary.json'), 'utf8'), 'old', 'a failed write leaves the old file whole');
  t.same(readdirSync(run.dir).filter((n) => n.includes('.tmp-')), [], 'no temporary file left behind');
  t.doesNotThrow(() => writeRunReport({ dir: join(root, 'missing', 'dir'), name: 'x' }, s));
  t.notOk(existsSync(join(root, 'missing')));
});
