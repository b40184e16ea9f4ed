/**
 * Finds kernel bug reports in a kernel log, so a scenario fails on a splat even when every
 * counter came back.
 *
 * Input: raw /dev/kmsg records ("6,1234,5678901,-;message", dictionary lines " KEY=value"
 * after them), or plain dmesg / console lines with or without "[   12.345678] " timestamps,
 * "[ T123]" / "[ C0]" caller ids, a "<4>" level prefix or a syslog "... kernel: " prefix.
 *
 * What counts (matched at the start of the message, after those prefixes):
 *  - warning:   WARN_ON and friends, every form kernel/panic.c __warn() has printed:
 *               6.19+ "WARNING: kernel/bpf/x.c:387 at func+0x1a/0x200, CPU#1: comm/57"
 *               (CONFIG_DEBUG_BUGVERBOSE, the file and line from the bug table) and
 *               "WARNING: at func+0x1a/0x200, CPU#1: comm/57" (without it);
 *               up to 6.18 "WARNING: CPU: 1 PID: 57 at kernel/bpf/x.c:387 func+0x1a/0x200" and
 *               "WARNING: CPU: 1 PID: 57 at func+0x1a/0x200" (no file); the old "WARNING: at ..."
 *  - corruption: CHECK_DATA_CORRUPTION's messages (lib/list_debug.c "list_add corruption. ...",
 *               "list_del corruption, ...", "list_add double add: ...", fs/ "VFS: Close: file
 *               count is 0", "VFS: Busy inodes after unmount of ..."). With
 *               CONFIG_BUG_ON_DATA_CORRUPTION (Debian's default) the message is a bare pr_err line
 *               followed by BUG() (a separate oops finding); without it, by a WARNING that belongs
 *               to it
 *  - oops:      "Oops: ", "BUG: kernel NULL pointer dereference", "BUG: unable to handle ...",
 *               "kernel BUG at ...", "invalid opcode: ", "general protection fault",
 *               arm64 "Internal error: Oops" / "Unable to handle kernel ..."
 *  - panic:     "Kernel panic - not syncing: ..."
 *  - kasan:     "BUG: KASAN: ..."
 *  - kmemleak:  "unreferenced object 0x... (size n):", syzbot's "BUG: memory leak",
 *               "kmemleak: n new suspected memory leaks"
 *  - refcount:  "refcount_t: ..." (underflow, saturation, addition on 0, decrement hit 0)
 *  - rcu-stall: "rcu: INFO: rcu_* (self-)detected (expedited) stall(s) ...", "INFO: rcu_tasks* detected stalls"
 *  - lockdep:   the lockdep headers ("WARNING: possible circular locking dependency detected",
 *               "... recursive locking ...", "inconsistent lock state", "suspicious RCU usage",
 *               "comm/pid still has locks held!", ...)
 *  - ubsan:     "UBSAN: ..."
 *  - hung-task: "INFO: task comm:pid blocked for more than n seconds."
 *  - bug:       any other "BUG: ..." (sleeping in atomic, bad page state, workqueue lockup,
 *               "watchdog: BUG: soft lockup"), SLUB debug "BUG cache (Tainted: ...): ..." and
 *               "Watchdog detected hard LOCKUP"
 *
 * What deliberately does not count: firmware complaints ("[Firmware Bug]: ...", "ACPI BIOS
 * Warning (bug): ...", "ACPI Error: ..."), CPU vulnerability notes ("Spectre V2 : ...",
 * "Speculative Return Stack Overflow: WARNING: ...", "WARNING: Unprivileged eBPF is enabled
 * ..."), "RCU Tasks: ..." / "rcu: ..." boot notes, "bug" inside ordinary text ("report a bug"),
 * a bare "------------[ cut here ]------------", and sysrq dumps that a user asked for.
 * These are facts about the machine, not bugs in the kernel under test.
 *
 * In raw kmsg input only kernel records (facility 0) are scanned: text a user-space program
 * wrote to /dev/kmsg cannot fail a run.
 */

export type KernelLogFindingKind =
  | 'warning' | 'bug' | 'oops' | 'panic' | 'kasan' | 'kmemleak' | 'refcount' | 'corruption' | 'rcu-stall' | 'lockdep' | 'ubsan' | 'hung-task';

export interface KernelLogFinding {
  kind: KernelLogFindingKind;
  /** The report's first line, message text only (no timestamp or kmsg prefix). */
  line: string;
  /** Index into the scanned lines of that first line. */
  index: number;
  /** The report's following lines (message text), up to CONTEXT_LINES. */
  context: string[];
}

export interface KmsgRecord {
  /** Syslog level 0 (emerg) .. 7 (debug). */
  level: number;
  /** Syslog facility: 0 is the kernel, 1 user space writing to /dev/kmsg. */
  facility: number;
  seq: number;
  usec: number;
  message: string;
}

const CONTEXT_LINES = 20;
/** Lines after a header in which a line of the same report is merged into it, not reported again. */
const MERGE_WINDOW = 8;

/**
 * Parses one /dev/kmsg record header line: "prio,seq,usec,flags[,...];message". The message's
 * \xNN escapes are undone. Returns null for anything else (dictionary lines included).
 */
export function parseKmsgRecord(record: string): KmsgRecord | null {
  const first = record.split('\n', 1)[0]!;
  const m = /^(\d+),(\d+),(\d+),[^;]*;(.*)$/s.exec(first.replace(/\r$/, ''));
  if (!m) return null;
  const prio = Number(m[1]);
  return {
    level: prio & 7,
    facility: prio >> 3,
    seq: Number(m[2]),
    usec: Number(m[3]),
    message: m[4]!.replace(/\\x([0-9a-fA-F]{2})/g, (_s, h: string) => String.fromCharCode(parseInt(h, 16))),
  };
}

interface Cleaned {
  /** Message text, or null for a line that carries none (kmsg dictionary line, user record). */
  text: string | null;
}

const SYSLOG_PREFIX = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: /;
const LEVEL_PREFIX = /^<\d{1,3}>/;
const TIMESTAMP = /^\[\s*\d+\.\d+\]/;
const CALLER_ID = /^\[\s*[TC]\d+\]/;
const DICT_LINE = /^ [A-Z][A-Z0-9_]*=/;

function cleanLines(lines: readonly string[]): Cleaned[] {
  const out: Cleaned[] = [];
  let inKmsg = false;
  for (const raw of lines) {
    const line = raw.replace(/\r+$/, '');
    const rec = parseKmsgRecord(line);
    if (rec) {
      inKmsg = true;
      out.push({ text: rec.facility === 0 ? rec.message : null });
      continue;
    }
    if (inKmsg && DICT_LINE.test(line)) {
      out.push({ text: null });
      continue;
    }
    inKmsg = false;
    let s = line.replace(SYSLOG_PREFIX, '').replace(LEVEL_PREFIX, '');
    if (TIMESTAMP.test(s)) {
      s = s.replace(TIMESTAMP, '');
      s = s.replace(CALLER_ID, '');
      s = s.startsWith(' ') ? s.slice(1) : s;
    }
    out.push({ text: s });
  }
  return out;
}

const LOCKDEP = [
  /^WARNING: possible circular locking dependency detected/,
  /^WARNING: possible recursive locking detected/,
  /^WARNING: inconsistent lock state/,
  /^WARNING: suspicious RCU usage/,
  /^WARNING: possible irq lock inversion dependency detected/,
  /^WARNING: (HARDIRQ|SOFTIRQ)-(safe|READ-safe) -> (HARDIRQ|SOFTIRQ)-(unsafe|READ-unsafe) lock order detected/,
  /^WARNING: bad unlock balance detected!/,
  /^WARNING: held lock freed!/,
  /^WARNING: lock held when returning to user space!/,
  /^WARNING: Nested lock was not taken/,
  /^WARNING: bad contention detected!/,
  /^WARNING: \S.*\/\d+ still has locks held!/,
  /^WARNING: chain_key collision/,
  /^BUG: MAX_LOCK(DEP|_DEPTH)\w* too low!/,
  /^BUG: held lock freed!/,
];

/** kernel/panic.c __warn(): 6.19+ with and without a file, then the older forms. */
const WARNING = [
  // %pS of a module's code ends in " [module]"
  /^WARNING: \S+:\d+ at \S.*, CPU#\d+: \S/,
  /^WARNING: at \S.*, CPU#\d+: \S/,
  /^WARNING: CPU: \d+ PID: \d+ at /,
  /^WARNING: at \S/,
];

/** CHECK_DATA_CORRUPTION() messages (lib/list_debug.c, fs/open.c, fs/super.c). */
const DATA_CORRUPTION = [
  /^list_(add|del) corruption[.,] /,
  /^list_add double add: /,
  /^VFS: Close: file count is 0/,
  /^VFS: Busy inodes after unmount of /,
];

/** The kind of report a message starts, or null. Order matters: specific before generic. */
function classify(msg: string): KernelLogFindingKind | null {
  if (/^Kernel panic - not syncing/.test(msg)) return 'panic';
  if (/^BUG: KASAN: /.test(msg)) return 'kasan';
  if (/^BUG: memory leak/.test(msg) || /^unreferenced object 0x[0-9a-f]+ \(size \d+\):/.test(msg)
    || /^kmemleak: \d+ new suspected memory leaks/.test(msg)) return 'kmemleak';
  if (/^refcount_t: /.test(msg)) return 'refcount';
  if (DATA_CORRUPTION.some((r) => r.test(msg))) return 'corruption';
  if (LOCKDEP.some((r) => r.test(msg))) return 'lockdep';
  if (/^(rcu: )?INFO: rcu_\w+ (self-)?detected (expedited )?stalls? on/.test(msg)) return 'rcu-stall';
  if (/^INFO: task \S.* blocked for more than \d+ seconds/.test(msg)) return 'hung-task';
  if (/^UBSAN: /.test(msg)) return 'ubsan';
  if (/^(Oops|Oops - \w+): /.test(msg) || /^Oops\b/.test(msg)
    || /^BUG: kernel NULL pointer dereference/.test(msg)
    || /^BUG: unable to handle (kernel|page fault)/.test(msg)
    || /^kernel BUG at /.test(msg)
    || /^invalid opcode: /.test(msg)
    || /^general protection fault/.test(msg)
    || /^Internal error: Oops/.test(msg)
    || /^Unable to handle kernel (NULL pointer dereference|paging request)/.test(msg)) return 'oops';
  if (WARNING.some((r) => r.test(msg))) return 'warning';
  if (/^(watchdog: )?BUG: /.test(msg) || /^BUG [\w.:-]+ \((Not tainted|Tainted: [^)]*)\): /.test(msg)
    || /^Watchdog detected hard LOCKUP/.test(msg)) return 'bug';
  return null;
}

/**
 * Whether a header at distance `gap` after a finding of kind `open` belongs to the same report.
 * Panics always stand alone: they are what makes a finding fatal.
 */
function mergesInto(open: KernelLogFinding, next: KernelLogFindingKind, gap: number): boolean {
  if (next === 'panic' || gap > MERGE_WINDOW) return false;
  if (next === open.kind && (open.kind === 'kasan' || open.kind === 'oops')) return true;
  // refcount_t: ... is followed by the WARNING that refcount_warn_saturate() raises.
  if (open.kind === 'refcount' && next === 'warning' && gap <= 2) return true;
  // Without BUG_ON_DATA_CORRUPTION a corruption message is WARN(1, ...)'s text, before its WARNING.
  if (open.kind === 'corruption' && next === 'warning' && gap <= 2) return true;
  // syzbot's "BUG: memory leak" is followed by the first "unreferenced object".
  if (open.kind === 'kmemleak' && next === 'kmemleak' && gap <= 1) return true;
  // "BUG: ..." then "Oops: ..." / "invalid opcode: ..." is one oops.
  if (open.kind === 'bug' && next === 'oops') {
    open.kind = 'oops';
    return true;
  }
  return false;
}

const END_OF_REPORT = /^---\[ end (trace|Kernel panic)/;

export function scanKernelLog(lines: readonly string[]): KernelLogFinding[] {
  const cleaned = cleanLines(lines);
  const findings: KernelLogFinding[] = [];
  let open: KernelLogFinding | null = null;
  let openPos = 0; // position among message-carrying lines
  let openClosed = false; // saw the end-of-report marker
  let pos = 0;
  for (let i = 0; i < cleaned.length; i++) {
    const text = cleaned[i]!.text;
    if (text === null) continue;
    pos++;
    const kind = classify(text);
    if (kind !== null) {
      if (open && !openClosed && mergesInto(open, kind, pos - openPos)) {
        if (open.context.length < CONTEXT_LINES) open.context.push(text);
        continue;
      }
      open = { kind, line: text, index: i, context: [] };
      openPos = pos;
      openClosed = false;
      findings.push(open);
      continue;
    }
    if (open && !openClosed && open.context.length < CONTEXT_LINES) {
      open.context.push(text);
      if (END_OF_REPORT.test(text)) openClosed = true;
    }
  }
  return findings;
}

/** Panic or oops: the guest is gone, or a task died inside the kernel and it is not to be trusted. */
export function isFatal(finding: KernelLogFinding): boolean {
  return finding.kind === 'panic' || finding.kind === 'oops';
}

/** The reason given when the log lost records: nothing can be said about what they held. */
export function lostMessage(lost: number, during: string): string {
  return `${lost} kernel log record(s) were overwritten before the harness could read them (in the read after ${during}): a kernel report may be among them`;
}
