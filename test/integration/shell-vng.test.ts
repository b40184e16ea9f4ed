// `bpf-harness shell --backend vng` driven through node-pty as a user at a terminal would: Debian's
// 7.3 boots under virtme-ng (the host's root is the guest's, its 9p and virtio_net from the
// kernel's package), the host's own sshd runs in the guest with this boot's keys, and the user
// types a command and reads the answer, resizes the window, and leaves with Ctrl-]; no QEMU is
// left. One boot, one CPU (about 40 s under TCG).
import t from 'tap';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTerminal } from '../helpers/terminal.js';
import { kmodRefusal } from '../../harness/vm/vng-modules.js';
import { missingPythonModules } from '../../harness/vm/vng.js';
import { projectRoot } from '../../harness/util/paths.js';

const pythonMissing = await missingPythonModules();
const skip = pythonMissing.length > 0 ? `vng cannot run: the system python lacks ${pythonMissing.join(', ')}` : (kmodRefusal('debian:7.3') ?? false);

t.test('a root shell in a vng guest, through a real pseudo-terminal', { skip }, async (t) => {
  const term = await startTerminal(t, ['shell', '--backend', 'vng', '--kernel', 'debian:7.3', '--cpus', '1', '--memory', '1024']);
  if (!term) return;

  t.ok(await term.waitFor(/booting debian:7\.3 with an sshd \(1 CPUs, 1024 MiB, under vng: the host root is the guest root\)/), 'it says it boots under vng');
  const [, port] = await term.waitFor(/root shell in the guest \(7\.3-amd64, sshd on 127\.0\.0\.1:(\d+)\)[^\n]*Ctrl-\] leaves/);
  const qemu = async (): Promise<string> => (await execa('pgrep', ['-f', `hostfwd=tcp:127.0.0.1:${port}-`], { reject: false })).stdout.trim();
  t.not(await qemu(), '', 'the guest runs while the shell is open');
  await new Promise((r) => setTimeout(r, 2000));

  // The guest's kernel, root, and the host's root as its own: vng's hostname, the project's files.
  // The answers are matched alone: the command line echoed (bash's line editing, wrapped at 80
  // columns, bracketed-paste escapes) holds none of them.
  term.write(`echo $((6*7)) $(uname -r) $(id -u) $(hostname) $(test -x ${join(projectRoot, 'bpf', 'build', 'bpf-agent')} && echo agent-here) $(bpftool version | head -1)\r`);
  t.ok(await term.waitFor(/42 7\.3-amd64 0 virtme-ng agent-here bpftool v\d/, 60_000), "a command typed runs in the guest as root, on the host's root, with the harness's bpftool on its PATH");

  term.resize(132, 43);
  await new Promise((r) => setTimeout(r, 1000));
  term.write('stty size\r');
  t.ok(await term.waitFor(/\b43 132\b/, 60_000), "the guest's terminal took the new window size");

  term.write('\x1d');
  for (let i = 0; i < 150 && !term.exit; i++) await new Promise((r) => setTimeout(r, 200));
  t.same(term.exit?.exitCode, 0, 'Ctrl-] left, exit 0');
  t.match(term.out, /left the guest; it is stopped/);
  let left = await qemu();
  for (let i = 0; i < 50 && left !== ''; i++) {
    await new Promise((r) => setTimeout(r, 200));
    left = await qemu();
  }
  t.equal(left, '', 'no QEMU is left');
});
