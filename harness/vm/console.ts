/**
 * Watches the guest console (ttyS0) as it streams: keeps all of it for console.log, and
 * raises the alarm the moment the kernel panics or oopses, so the harness stops waiting for
 * an agent that will never answer and reports the console tail instead of a bare timeout.
 */
const FATAL_PATTERNS: Array<[RegExp, string]> = [
  [/Kernel panic - not syncing/, 'kernel panic'],
  [/\bOops: /, 'kernel oops'],
  [/BUG: kernel NULL pointer dereference/, 'kernel NULL pointer dereference'],
  [/BUG: unable to handle/, 'kernel page fault'],
  [/general protection fault/, 'general protection fault'],
];

/** "[   12.345678] ": a kernel console line's printk time stamp, seconds. */
const PRINTK_TIME = /^\[\s*(\d+\.\d+)\]/;

export class ConsoleMonitor {
  private text = '';
  private partial = '';
  private fatal: string | null = null;
  private readonly listeners: Array<(what: string) => void> = [];
  /** The fatal report's own trace has ended ("---[ end trace"): its RIP and call trace are in the text. */
  private fatalTraceEnded = false;
  private readonly traceEndListeners: Array<() => void> = [];

  /** Feed console output as it arrives. */
  push(chunk: string): void {
    this.text += chunk;
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.inspect(line);
  }

  /** Called once with a description when the console shows a fatal kernel error. */
  onFatal(listener: (what: string) => void): void {
    this.listeners.push(listener);
    if (this.fatal) listener(this.fatal);
  }

  /**
   * Called once when the fatal report's trace has ended (at once if it has): an end-of-trace
   * line printed before the fatal one (an earlier WARN's) does not count.
   */
  onFatalTraceEnd(listener: () => void): void {
    this.traceEndListeners.push(listener);
    if (this.fatalTraceEnded) listener();
  }

  get fatalError(): string | null {
    return this.fatal;
  }

  get all(): string {
    return this.text;
  }

  tail(lines = 40): string {
    return this.text.replace(/\r/g, '').split('\n').slice(-lines).join('\n');
  }

  /**
   * The console lines the kernel printed after `usec` (its printk time stamp, the clock of
   * /dev/kmsg records), with the untimed lines that follow them: what the kernel said after
   * the last kernel log read, such as a panic during power-off. Lines before the first time
   * stamp past `usec` are left out, so a record already read is not counted twice.
   */
  linesAfter(usec: number): string[] {
    const out: string[] = [];
    let after = false;
    for (const raw of this.text.replace(/\r/g, '').split('\n')) {
      const m = PRINTK_TIME.exec(raw);
      if (m) after = Math.round(Number(m[1]) * 1e6) > usec;
      if (after) out.push(raw);
    }
    return out;
  }

  /** True once the console has printed the marker (used by the KVM probe). */
  includes(marker: string): boolean {
    return this.text.includes(marker);
  }

  private inspect(line: string): void {
    if (this.fatal) {
      if (!this.fatalTraceEnded && line.includes('---[ end trace')) {
        this.fatalTraceEnded = true;
        for (const l of this.traceEndListeners) l();
      }
      return;
    }
    for (const [re, what] of FATAL_PATTERNS) {
      if (re.test(line)) {
        this.fatal = `${what}: ${line.replace(/\r/g, '').trim()}`;
        for (const l of this.listeners) l(this.fatal);
        return;
      }
    }
  }
}
