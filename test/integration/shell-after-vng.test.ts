// `bpf-harness shell --after SCENARIO --backend vng` driven through node-pty as a user at a
// terminal: Debian's 7.3 under virtme-ng runs the agent and the host's own sshd together
// (vm/vng-guest.sh --sshd), the scenario runs with the harness's leave-elem fault so its map
// lingers, the run stops there with the map pinned, bpftool (the harness's, laid over the
// guest's /usr/local/sbin) shows it from the shell, and Ctrl-] leaves with exit 1 and no QEMU
// left. One boot, one CPU, small sizes, a 5 s settle deadline (leave-elem's map never settles,
// and the default 30 s would be waited in full): about 55 s under TCG.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTerminal } from '../helpers/terminal.js';
import { TRANSCRIPT_FILE } from '../../harness/shell/shell.js';
import { kmodRefusal } from '../../harness/vm/vng-modules.js';
import { missingPythonModules } from '../../harness/vm/vng.js';

const pythonMissing = await missingPythonModules();
const skip = pythonMissing.length > 0 ? `vng cannot run: the system python lacks ${pythonMissing.join(', ')}` : (kmodRefusal('debian:7.3') ?? false);
/** The shell guest files (keys, sshd config) of the harness run with process id `pid` (other harness runs on this machine make theirs in the same /tmp). */
const shellGuestDirs = (pid: number): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`bpfh-shell-guest-${pid}-`));

t.test('shell --after under vng: the agent and the sshd in one guest, the pinned map seen with bpftool', { skip }, async (t) => {
  const t0 = Date.now();
  const args = ['shell', '--after', 'cgrp-map-free-live-owners', '--backend', 'vng', '--kernel', 'debian:7.3', '--cpus', '1', '--memory', '1024', '--sizes', 'small', '--inject-fault', 'leave-elem', '--settle-deadline', '5'];
  const term = await startTerminal(t, args, { cols: 160, rows: 50 });
  if (!term) return;
  // The guest's shell is the host's root's (bash, its own prompt): each command ends with a
  // marker whose echoed command line (quotes split it) cannot match.
  let n = 0;
  const run = async (line: string): Promise<string> => {
    const mark = `done-${++n}`;
    term.write(`${line}; echo "${mark.slice(0, 3)}""${mark.slice(3)}"\r`);
    const start = term.position;
    await term.waitFor(new RegExp(`\\n${mark}\\r*\\n`), 60_000);
    return term.out.slice(start, term.position);
  };

  t.match((await term.waitFor(/backend vng: [^\n]*\n/))[0], /vng \S+/, 'the run is under vng');
  const [, port, results] = await term.waitFor(/root shell in the guest \(sshd on 127\.0\.0\.1:(\d+)\)[^\n]*this session is logged to (\S+)\/shell-transcript\.txt/);
  t.comment(`the shell opened ${Math.round((Date.now() - t0) / 1000)} s after the start`);
  t.match(term.out, /scenario cgrp-map-free-live-owners: FAIL: /, 'the banner says the scenario failed');
  const pin = /map \d+ \(cgrp_storage cgrp_stg\) pinned at (\/sys\/fs\/bpf\/bpfh\/cgrp_storage-\d+)/.exec(term.out)?.[1];
  t.ok(pin, 'the map leave-elem kept is pinned');
  t.match(term.out, /owners with elements still linked \(the inspector\):\s+cgrp \d+: elements of map \d+/, 'the inspector lists the owners');
  const qemu = async (): Promise<string> => (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
  t.not(await qemu(), '', 'the guest runs while the shell is open');
  t.equal(shellGuestDirs(term.pid).length, 1, "the run's sshd directory is there while it runs");
  await new Promise((r) => setTimeout(r, 1000));

  t.match(await run(`uname -r; hostname; command -v bpftool`), /[\r\n]7\.3-amd64\r*\nvirtme-ng\r*\n\/usr\/local\/sbin\/bpftool\r*\n/, "the guest is vng's on 7.3, bpftool on root's PATH");
  t.match(await run(`bpftool map show pinned ${pin ?? '/nonexistent'}`), /[\r\n]\d+: cgrp_storage {2}name cgrp_stg/, "bpftool in the guest shows the pinned map that lingered (leave-elem's)");

  term.write('\x1d');
  for (let i = 0; i < 600 && !term.exit; i++) await new Promise((r) => setTimeout(r, 200));
  t.same(term.exit?.exitCode, 1, 'Ctrl-] left; exit 1: the scenario failed');
  t.comment(`the run ended ${Math.round((Date.now() - t0) / 1000)} s after the start`);
  t.match(term.out, /\nshell: the run stopped at cgrp-map-free-live-owners \(shell --after\) for a shell, \d+ s in the guest/, 'the table says where the run stopped');
  t.match(readFileSync(join(results!, TRANSCRIPT_FILE), 'utf8'), /cgrp_storage {2}name cgrp_stg/, 'the transcript holds what bpftool showed');
  const summary = JSON.parse(readFileSync(join(results!, 'summary.json'), 'utf8')) as { backend: string; scenarios: Array<{ name: string; verdict: string }>; shell?: { scenario: string } };
  t.same([summary.backend, summary.scenarios.map((s) => `${s.name} ${s.verdict}`), summary.shell?.scenario], ['vng', ['cgrp-map-free-live-owners fail'], 'cgrp-map-free-live-owners']);
  let left = await qemu();
  for (let i = 0; i < 50 && left !== ''; i++) {
    await new Promise((r) => setTimeout(r, 200));
    left = await qemu();
  }
  t.equal(left, '', 'no QEMU is left');
  t.same(shellGuestDirs(term.pid), [], "the run's keys and sshd directory are removed");
});
