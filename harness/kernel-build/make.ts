/**
 * make (and the tools around it) for kernel and selftests builds: a process group of its own at
 * nice 19, the output to the build log, progress lines by kbuild step, a deadline.
 */
import { appendFileSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { execa } from 'execa';
import { BuildHostError, type BuildHost } from '../build-host/build-host.js';
import { onAbort, processGroup, registerChild } from '../util/children.js';
import { HarnessError } from '../util/errors.js';

export function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}


/** Which phase a kbuild output line belongs to. */
export function stepOf(line: string): string | undefined {
  const m = /^\s+([A-Z][A-Z0-9_-]*)\s+(\S+)/.exec(line);
  if (!m) return undefined;
  const [, tag, what] = m;
  if (tag === 'BTF' || tag === 'BTFIDS') return 'BTF';
  if (tag === 'LD' && /vmlinux/.test(what!)) return 'linking vmlinux';
  if (/arch\/x86\/boot\/(bzImage|setup\.(bin|elf)|vmlinux\.bin|compressed\/vmlinux)$/.test(what!)) return 'bzImage';
  if (tag === 'HOSTCC' || tag === 'HOSTLD') return 'host tools';
  // The BPF selftests' Makefile (harness/selftests/build.ts).
  if (tag === 'CLNG-BPF' || tag === 'GEN-SKEL' || tag === 'LINK-BPF') return 'BPF objects';
  if (tag === 'TEST-OBJ' || tag === 'EXT-OBJ' || tag === 'BINARY' || tag === 'TEST-HDR') return 'test runners';
  if (['CC', 'AS', 'AR', 'LD', 'CPP', 'GEN', 'SYSHDR', 'SYSTBL', 'WRAP', 'UPD', 'CHK', 'MKELF', 'CALL', 'POLICY', 'CERT', 'DESCEND', 'INSTALL', 'OBJTOOL'].includes(tag!)) return 'compiling';
  return undefined;
}


export function tailOf(path: string, n: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** `host`: the tool runs there (build-host/), local paths in its words rewritten. */
export async function runTool(cmd: string, args: string[], cwd: string, logPath: string, timeout: number, env: Record<string, string> = {}, host?: BuildHost): Promise<void> {
  appendFileSync(logPath, `\n$ ${cmd} ${args.join(' ')}${host ? `  # on ${host.url}` : ''}\n`);
  if (host) {
    const r = await host.run([cmd, ...args], { cwd, env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, host.toRemote(v)])), deadlineMs: timeout });
    appendFileSync(logPath, r.output);
    if (r.code !== 0) throw new HarnessError(`${basename(args[0] ?? cmd)} failed on ${host.url} (${r.timedOut ? 'timed out' : `exit ${r.code}`}); the last lines of ${logPath}:\n${tailOf(logPath, 20)}`, 2);
    return;
  }
  const r = await execa(cmd, args, { cwd, reject: false, timeout, stdin: 'ignore', all: true, env: { LC_ALL: 'C', ...env } });
  appendFileSync(logPath, String(r.all ?? ''));
  if (r.failed) throw new HarnessError(`${basename(args[0] ?? cmd)} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}); the last lines of ${logPath}:\n${tailOf(logPath, 20)}`, 2);
}

/**
 * make runs in a session of its own (detached, to be killed as a group), and with the
 * scheduler's autogroups (CONFIG_SCHED_AUTOGROUP, on in Debian) nice only ranks processes
 * within their session: a nice 19 build would still take an equal share of the CPUs from the
 * user's session and the guests the harness runs. Giving the build session's autogroup nice 19
 * too makes it yield for real. Best effort: without autogroups there is no file to write.
 */
function lowerAutogroupPriority(pid: number | undefined): void {
  if (!pid) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, '19');
  } catch {
    /* no autogroups, or not allowed: plain nice still applies */
  }
}

/** make running here or on a build host: its output, its end, and how to kill it whole. */
interface MakeProcess {
  stdout: NodeJS.ReadableStream;
  stderr?: NodeJS.ReadableStream;
  done: Promise<{ exitCode?: number | null; signal?: string }>;
  kill: () => void;
  release: () => void;
  /** On a build host: what the shell around make said itself (a `cd` that failed: exit 126). */
  wrapperStderr?: () => string;
}

function makeHere(full: string[], env?: Record<string, string>): MakeProcess {
  const child = execa('nice', full, { reject: false, stdin: 'ignore', detached: true, buffer: false, env: { LC_ALL: 'C', ...env }, forceKillAfterDelay: 5000 });
  registerChild(child);
  lowerAutogroupPriority(child.pid);
  const group = processGroup(child, { killOnAbort: true });
  return { stdout: child.stdout, stderr: child.stderr, done: child.then((r) => ({ exitCode: r.exitCode, signal: r.signal })), kill: group.kill, release: group.release };
}

/** On a build host: Ctrl-C, a deadline or a dropped connection end the channel, and the host kills the group (build-host.ts). */
async function makeThere(host: BuildHost, source: string, full: string[]): Promise<MakeProcess> {
  const p = await host.spawn(['nice', ...full], { cwd: source });
  // Ctrl-C: the harness's handler exits 130 as for a local make; the channel's end kills make there.
  const unAbort = onAbort(p.kill);
  return {
    stdout: p.output,
    done: p.done.then(({ code }) => {
      if (code === null && host.conn.isClosed) throw new BuildHostError(`make ${full[full.length - 1]} on ${host.url}: the connection to the build host was lost (make there was killed with it)`);
      return code === null ? { signal: 'the end of its channel' } : { exitCode: code };
    }),
    kill: p.kill,
    release: unAbort,
    wrapperStderr: p.stderr,
  };
}

/**
 * make at nice 19 in its own process group (killed as a group on exit or Ctrl-C), output to the
 * log, progress (step, objects built, elapsed) every 20 s unless `quiet`. `host`: make runs
 * there, the same way (build-host/), with the same progress lines.
 */
export async function runMake(source: string, args: string[], o: { logPath: string; deadlineMs: number; log: (line: string) => void; jobs: number; quiet: boolean; env?: Record<string, string>; host?: BuildHost }): Promise<void> {
  const full = ['-n', '19', 'make', '-C', source, `-j${o.jobs}`, ...args];
  appendFileSync(o.logPath, `\n$ nice ${full.join(' ')}${o.host ? `  # on ${o.host.url}` : ''}\n`);
  const out = createWriteStream(o.logPath, { flags: 'a' });
  const make = o.host ? await makeThere(o.host, source, full) : makeHere(full, o.env);
  const t0 = Date.now();
  let objects = 0;
  let step = 'starting';
  let partial = '';
  const onData = (buf: Buffer): void => {
    out.write(buf);
    const text = partial + buf.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      const s = stepOf(l);
      if (!s) continue;
      step = s;
      if (/^\s+(CC|AS|CLNG-BPF|TEST-OBJ|EXT-OBJ)\s/.test(l)) objects++;
    }
  };
  make.stdout.on('data', onData);
  make.stderr?.on('data', (b: Buffer) => out.write(b));
  const ticker = o.quiet ? undefined : setInterval(() => o.log(`step ${step}, ${objects} objects built, ${fmtElapsed(Date.now() - t0)}`), 20_000);
  const deadline = setTimeout(make.kill, o.deadlineMs);
  try {
    const r = await make.done;
    const wrapper = make.wrapperStderr?.() ?? '';
    if (wrapper) out.write(wrapper);
    await new Promise<void>((res) => out.end(res));
    if (r.exitCode !== 0) {
      const why = Date.now() - t0 >= o.deadlineMs ? `did not finish within ${Math.round(o.deadlineMs / 60_000)} min` : r.signal ? `was killed by ${r.signal}` : `failed (exit ${r.exitCode})`;
      throw new HarnessError(`make ${args[args.length - 1]} ${why} at step ${step}; the full log is ${o.logPath}; its last lines:\n${tailOf(o.logPath, 25)}`, 2);
    }
    if (!o.quiet) o.log(`step ${step} done, ${objects} objects built, ${fmtElapsed(Date.now() - t0)}`);
  } finally {
    if (ticker) clearInterval(ticker);
    clearTimeout(deadline);
    make.release();
  }
}

