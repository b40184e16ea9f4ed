// The console monitor on a real console (test/fixtures/verdict/debian-7.3-reports.console.log:
// Debian's 7.3 printing WARNs, each with its own end-of-trace line, then an oops): the fatal
// report's trace has ended only at the end-of-trace line after the oops.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../harness/util/paths.js';
import { ConsoleMonitor } from '../../harness/vm/console.js';

const lines = readFileSync(join(projectRoot, 'test', 'fixtures', 'verdict', 'debian-7.3-reports.console.log'), 'utf8').split('\n');
const oops = lines.findIndex((l) => l.includes('Oops: invalid opcode'));
const end = lines.findIndex((l, i) => i > oops && l.includes('---[ end trace'));

t.test("the fatal report's trace ends at its own end-of-trace line, not an earlier WARN's", async (t) => {
  t.ok(lines.slice(0, oops).some((l) => l.includes('---[ end trace')), 'the WARNs before the oops ended their traces');
  const monitor = new ConsoleMonitor();
  let ended = 0;
  monitor.onFatalTraceEnd(() => ended++);
  monitor.push(lines.slice(0, end).join('\n') + '\n');
  t.match(monitor.fatalError, /^kernel oops: .*Oops: invalid opcode/);
  t.equal(ended, 0, 'the oops is on the console, its trace not yet ended');
  monitor.push(lines.slice(end).join('\n'));
  t.equal(ended, 1, 'ended at the line after the oops');
  let late = 0;
  monitor.onFatalTraceEnd(() => late++);
  t.equal(late, 1, 'a listener added afterwards is called at once');
});
