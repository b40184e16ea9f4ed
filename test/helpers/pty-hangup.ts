/**
 * A terminal that goes away: runs `bpf-harness shell` in a pseudo-terminal (node-pty), waits for
 * the guest's prompt, prints the guest's sshd port and exits at once: the terminal is gone under
 * the shell, and the kernel sends it SIGHUP (as closing a terminal window does). Used by shell.test.ts.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNodePty } from '../../harness/util/node-pty.js';
import { projectRoot } from '../../harness/util/paths.js';

const pty = await loadNodePty();
const term = pty.spawn(process.execPath, [join(projectRoot, 'dist', 'harness', 'cli.js'), 'shell', '--cpus', '1', '--memory', '1024'], { cols: 80, rows: 24, env: process.env });
let out = '';
term.onData((d) => (out += d));
const end = Date.now() + 600_000;
while (!/~ # /.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
// The port, the harness's pid (its guest's files are named for it: vm/ssh-guest.ts) and how
// many such files there are while the shell is open.
const files = readdirSync(tmpdir()).filter((n) => n.startsWith(`bpfh-ssh-guest-${term.pid}-`)).length;
process.stdout.write(`${/sshd on 127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 'none'} ${term.pid} ${files}\n`);
process.exit(0);
