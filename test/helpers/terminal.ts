/**
 * A harness command in a pseudo-terminal (node-pty), as a user at a terminal runs it, with
 * what its screen showed: the shell tests type into it and wait for what the guest prints.
 */
import type { Test } from 'tap';
import type { IPty } from 'node-pty';
import { join } from 'node:path';
import { loadNodePty, NODE_PTY_FIX } from '../../harness/util/node-pty.js';
import { projectRoot } from '../../harness/util/paths.js';

const cli = join(projectRoot, 'dist', 'harness', 'cli.js');

export class Terminal {
  out = '';
  exit: { exitCode: number; signal?: number } | undefined;
  private seen = 0;

  constructor(readonly term: IPty) {
    term.onData((d) => (this.out += d));
    term.onExit((e) => (this.exit = e));
  }

  /** The harness's process id (its guests' files are named for it). */
  get pid(): number {
    return this.term.pid;
  }

  write(data: string): void {
    this.term.write(data);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  /** Until the screen shows `re` after what was waited for before; the match. */
  async waitFor(re: RegExp, ms = 600_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(this.seen));
      if (m) {
        this.seen += m.index + m[0].length;
        return m;
      }
      if (this.exit || Date.now() > end) throw new Error(`no ${re} on the terminal (exit ${JSON.stringify(this.exit)}); it shows:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Where the next waitFor() starts reading the screen. */
  get position(): number {
    return this.seen;
  }

  /** Types a command line at busybox's prompt and waits for the prompt after it; what the guest printed. */
  async run(line: string, ms = 60_000): Promise<string> {
    this.term.write(`${line}\r`);
    const start = this.seen;
    await this.waitFor(/\n~ # /, ms);
    return this.out.slice(start, this.seen);
  }

  /** Ctrl-], then until the command has ended (at most 3 minutes). */
  async leave(): Promise<void> {
    this.term.write('\x1d');
    for (let i = 0; i < 900 && !this.exit; i++) await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * `bpf-harness ARGS` in a pseudo-terminal of `cols` x `rows`, killed when `t` ends if it has
 * not ended; undefined (said as a comment) when node-pty cannot load here.
 */
export async function startTerminal(t: Test, args: readonly string[], size = { cols: 80, rows: 24 }): Promise<Terminal | undefined> {
  let pty;
  try {
    pty = await loadNodePty();
  } catch (err) {
    t.equal((err as Error).message, NODE_PTY_FIX);
    t.comment(`not run: ${NODE_PTY_FIX}`);
    return undefined;
  }
  const term = new Terminal(pty.spawn(process.execPath, [cli, ...args], { ...size, env: { ...process.env, TERM: 'xterm' } }));
  t.teardown(() => {
    if (!term.exit) term.term.kill('SIGTERM');
  });
  return term;
}
