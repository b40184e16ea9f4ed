/**
 * JUnit XML as CI systems read it: one <testsuite> for the kernel under test, one <testcase>
 * per scenario, <failure> for a fail verdict, <error> for an error verdict, the checks in
 * <system-out>. An aborted run adds a testcase "(run)" with an <error>, so it can never look green.
 */
import type { Summary } from '../results/summary.js';
import { checksOf, scenariosOf, SHELL_KERNEL_LOG_TEST, str, verdictOf } from './format.js';

/** Characters XML 1.0 does not allow at all (escaping cannot save them). */
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function xmlText(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function secs(msv: unknown): string {
  return typeof msv === 'number' && Number.isFinite(msv) ? (msv / 1000).toFixed(3) : '0';
}

export function summaryToJUnit(s: Summary): string {
  const tool = str(s?.tool) || 'bpf-storage-harness';
  const release = str(s?.kernel?.release) || 'unknown-kernel';
  const spec = str(s?.kernel?.spec);
  const suiteName = spec && spec !== release ? `${release} (${spec})` : release;
  const classname = `${tool}.${release}`;
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  let total = 0;
  for (const r of scenariosOf(s)) {
    total++;
    const v = verdictOf(r);
    const checks = checksOf(r);
    const lines = checks.map((c) => `[${c.ok ? 'ok' : 'FAIL'}] ${c.name}: ${c.message}`);
    if (typeof r.settleMs === 'number') lines.push(`settle: ${r.settleMs} ms`);
    else if (r.settleMs === null) lines.push('settle: never');
    if (Array.isArray(r.kernelLog) && r.kernelLog.length) lines.push('kernel log:', ...r.kernelLog.map((l) => `  ${str(l)}`));
    const body: string[] = [];
    const detail = [str(r.reason), ...checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`), s?.repeat ? `repeat: ${str(s.repeat)}` : '']
      .filter(Boolean).join('\n');
    if (v === 'fail') {
      failures++;
      body.push(`      <failure message="${xmlAttr(str(r.reason))}" type="fail">${xmlText(detail)}</failure>`);
    } else if (v === 'error') {
      errors++;
      body.push(`      <error message="${xmlAttr(str(r.reason))}" type="error">${xmlText(detail)}</error>`);
    } else if (v === 'skip') {
      skipped++;
      body.push(`      <skipped message="${xmlAttr(str(r.reason))}"/>`);
    }
    body.push(`      <system-out>${xmlText(lines.join('\n'))}</system-out>`);
    cases.push(`    <testcase classname="${xmlAttr(classname)}" name="${xmlAttr(str(r.name) || `scenario ${total}`)}" time="${secs(r.durationMs)}">`, ...body, '    </testcase>');
  }
  const shellLog = s?.shell?.kernelLog;
  if (shellLog) {
    // Its own testcase: it is not the scenario's (what the user did in the shell is in it too), and never dropped.
    total++;
    const scenario = str(s.shell?.scenario);
    const detail = [str(shellLog.problem), `not counted against ${scenario}`, ...(shellLog.reports ?? []).map(str), s?.repeat ? `repeat: ${str(s.repeat)}` : ''].filter(Boolean).join('\n');
    const body: string[] = [];
    if (shellLog.verdict === 'reported') {
      failures++;
      body.push(`      <failure message="${xmlAttr(str(shellLog.problem))}" type="fail">${xmlText(detail)}</failure>`);
    } else if (shellLog.verdict === 'unjudged') {
      errors++;
      body.push(`      <error message="${xmlAttr(str(shellLog.problem))}" type="error">${xmlText(detail)}</error>`);
    }
    cases.push(`    <testcase classname="${xmlAttr(classname)}" name="${xmlAttr(`${SHELL_KERNEL_LOG_TEST} (after ${scenario})`)}" time="${secs(s.shell?.durationMs)}">`, ...body, '    </testcase>');
  }
  if (s?.aborted) {
    total++;
    errors++;
    cases.push(
      `    <testcase classname="${xmlAttr(classname)}" name="(run)" time="${secs(s?.timings?.totalMs)}">`,
      `      <error message="${xmlAttr(`run aborted: ${str(s.aborted)}`)}" type="aborted">${xmlText(s?.repeat ? `repeat: ${str(s.repeat)}` : '')}</error>`,
      '    </testcase>',
    );
  }
  const props: Array<[string, string]> = [
    ['kernel.spec', spec],
    ['kernel.release', release],
    ['kernel.bzImage', str(s?.kernel?.bzImage)],
    ['accel', str(s?.accel)],
    ['channel', str(s?.channel)],
    ['exitCode', str(s?.exitCode)],
    ['repeat', str(s?.repeat)],
  ];
  if (s?.aborted) props.push(['aborted', str(s.aborted)]);
  const time = secs(s?.timings?.totalMs);
  const ts = str(s?.startedAt);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlAttr(tool)}" tests="${total}" failures="${failures}" errors="${errors}" time="${time}">`,
    `  <testsuite name="${xmlAttr(suiteName)}" tests="${total}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}"${ts ? ` timestamp="${xmlAttr(ts)}"` : ''}>`,
    '    <properties>',
    ...props.map(([k, v]) => `      <property name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`),
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
