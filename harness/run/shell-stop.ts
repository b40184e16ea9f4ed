/**
 * The policy of a shell after a scenario (`vm-test --shell-on-fail`, `bpf-harness shell --after
 * SCENARIO`): every scenario hands its last step (releasing its owners, closing what a fault
 * kept) to a TeardownHolder instead of running it. At the scenario where the run stops (the
 * first one that failed, or the one named), the teardown never runs: the agent pins every local
 * storage map the kernel still has and lists the owners it holds (the `keep` verb), the
 * inspector says which owners still have elements linked, and the user gets a shell in the
 * guest with that listed. Elsewhere the teardown runs right after the scenario and the kernel
 * log is read again, so what the teardown made the kernel say still counts for that scenario
 * (and under --shell-on-fail, a failure found only then stops the run there: afterScenario).
 * The shell itself is injected (harness/shell/ opens it): this module only decides.
 */
import type { KeptState } from '../agent/keep.js';
import { parseInspectorRecords, type InspectedKind } from '../counters/inspector.js';
import { isAcceptable } from '../report/format.js';
import type { ScenarioResult, ShellSession } from '../results/summary.js';
import type { GuestOps } from '../agent/guest-ops.js';
import type { ShellAccess } from '../vm/shell-guest.js';
import { isTargetSpec } from '../ssh/ssh.js';
import { SetupError } from '../util/errors.js';
import { markUnjudged, scanScenarioKernelLog, setCaughtBy, TEARDOWN_CHECK } from './scenario-runner.js';

/** The files a shell writes into the run's results: what the user saw, and what they typed (harness/shell/shell.ts). */
export const TRANSCRIPT_FILE = 'shell-transcript.txt';
export const KEYS_FILE = 'shell-input.txt';

export interface ShellStop {
  /** 'fail': at the first scenario that did not pass; { after }: after the scenario of that name. */
  at: 'fail' | { after: string };
  /** Gives the user a shell in the guest; resolves when they left. The transcript goes to `dir`. */
  open: (guest: ShellAccess, banner: readonly string[], dir: string) => Promise<void>;
}

/** The option's name for messages. */
function optionName(stop: ShellStop): string {
  return stop.at === 'fail' ? '--shell-on-fail' : 'shell --after';
}

/** Before anything boots: a terminal to give the shell to, and a guest the harness boots (qemu or vng: both start an sshd for it, run/prepare.ts). */
export function checkShellStop(stop: ShellStop, kernel: string): void {
  const name = optionName(stop);
  if (!process.stdin.isTTY || !process.stdout.isTTY) throw new SetupError(`${name} needs a terminal on stdin and stdout: run it in one, or leave ${name} out`);
  if (isTargetSpec(kernel)) throw new SetupError(`${name} stops in a guest the harness boots: on --target ${kernel} use bpf-harness shell --target instead`);
}

export function stopsHere(stop: ShellStop, result: ScenarioResult): boolean {
  return stop.at === 'fail' ? !isAcceptable(result) : result.name === stop.at.after;
}

/** After a scenario: the run goes on, or stops for the shell with the owners held, or after they were released. */
export type AfterScenario = 'go on' | 'stop' | 'stop, owners released';

/**
 * Decides where the run goes after `result`, and runs the held teardown unless the run stops
 * before it. The teardown's kernel-log read can still fail the scenario: a report made while
 * the owners are released (map free racing owner destroy, what the harness hunts). Under
 * --shell-on-fail that stops the run there too, in the kernel that just reported; the owners
 * are gone by then, which the banner says. Without a stop, the teardown just runs.
 */
export async function afterScenario(stop: ShellStop | undefined, ops: Pick<GuestOps, 'kmsg'>, result: ScenarioResult, holder: TeardownHolder, onKernelLog: (records: string[]) => void): Promise<AfterScenario> {
  if (stop && stopsHere(stop, result)) return 'stop';
  await holder.run(ops, result, onKernelLog);
  return stop?.at === 'fail' && stopsHere(stop, result) ? 'stop, owners released' : 'go on';
}

/** Holds the scenario's last step until the run knows whether it stops there. */
export class TeardownHolder {
  private pending: (() => Promise<void>) | undefined;

  readonly defer = (teardown: () => Promise<void>): void => {
    this.pending = teardown;
  };

  /**
   * Runs the held teardown and reads the kernel log once more for `result`: a teardown that
   * fails is an ERROR of the scenario, as it would have been inside it.
   */
  async run(ops: Pick<GuestOps, 'kmsg'>, result: ScenarioResult, onKernelLog: (records: string[]) => void): Promise<void> {
    const teardown = this.pending;
    this.pending = undefined;
    if (!teardown) return;
    try {
      await teardown();
    } catch (err) {
      markUnjudged(result, TEARDOWN_CHECK, `releasing the scenario's owners failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await scanScenarioKernelLog(ops, onKernelLog, result);
    setCaughtBy(result);
  }

  /** The teardown is not run: the owners stay for the shell. */
  drop(): void {
    this.pending = undefined;
  }
}

const INSPECTED: readonly InspectedKind[] = ['sk', 'task', 'cgrp'];
/** Lines of owners with elements linked shown in the banner; the rest is counted. */
const OWNER_LINES = 12;

/** "5-9, 12, 14-15": a sorted list of numbers as ranges. */
export function ranges(values: readonly number[]): string {
  const v = [...values].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < v.length; ) {
    let j = i;
    while (j + 1 < v.length && v[j + 1] === v[j]! + 1) j++;
    out.push(j === i ? `${v[i]}` : `${v[i]}-${v[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

/** Owners whose storage still links elements, from the inspector's records per kind: "task 151: elements of maps 5 2". */
export function linkedOwnerLines(records: ReadonlyMap<InspectedKind, readonly string[]>): string[] {
  const lines: string[] = [];
  for (const [kind, lines_] of records) {
    for (const o of parseInspectorRecords(lines_, kind).owners) {
      if (o.mapIds.length > 0) lines.push(`${kind} ${o.owner}: elements of map${o.mapIds.length > 1 ? 's' : ''} ${o.mapIds.join(' ')}${o.truncated ? ' and more' : ''}`);
    }
  }
  return lines;
}

async function linkedOwners(ops: Pick<GuestOps, 'inspect'>): Promise<string[]> {
  const records = new Map<InspectedKind, string[]>();
  for (const kind of INSPECTED) records.set(kind, await ops.inspect(kind));
  return linkedOwnerLines(records);
}

/** The banner: what stopped the run, the pinned maps, the owners and how to find them. */
export function shellBanner(result: ScenarioResult, kept: KeptState, linked: readonly string[], ownersReleased = false): string[] {
  const lines = [`scenario ${result.name}: ${result.verdict.toUpperCase()}: ${result.reason}`];
  if (ownersReleased) lines.push('found only once the scenario had released its owners (its teardown, or the kernel log read after it): the owners are gone, the kernel is kept as it is');
  lines.push('kept for you to look at (leaving stops the guest):');
  if (kept.maps.length === 0) lines.push(`  no local storage map is left in the kernel (the scenario's maps were freed); nothing pinned in ${kept.dir}`);
  for (const m of kept.maps) lines.push(`  map ${m.id} (${m.type}${m.name ? ` ${m.name}` : ''}) pinned at ${m.pin}`);
  const owners: string[] = [];
  if (kept.sockets.length) owners.push(`  ${kept.sockets.length} sockets: the agent's fds ${ranges(kept.sockets)} (ls -l /proc/${kept.pid}/fd)`);
  if (kept.threads.length) owners.push(`  ${kept.threads.length} threads: tids ${ranges(kept.threads)} (ls /proc/${kept.pid}/task)`);
  if (kept.cgroups.length) {
    const shown = kept.cgroups.slice(0, 3).map((c) => `${c.path} (id ${c.id})`).join(', ');
    owners.push(`  ${kept.cgroups.length} cgroups: ${shown}${kept.cgroups.length > 3 ? `, ... (ls -d ${kept.cgroups[0]!.path.replace(/\/[^/]*$/, '')}/bpfh-o*)` : ''}`);
  }
  const released = ownersReleased ? 'they were released before the failure showed' : 'the scenario released them in its rounds';
  lines.push(owners.length ? `owners held by the agent (pid ${kept.pid}):` : `the agent (pid ${kept.pid}) holds no owners: ${released}`, ...owners);
  if (linked.length) {
    lines.push('owners with elements still linked (the inspector):', ...linked.slice(0, OWNER_LINES).map((l) => `  ${l}`));
    if (linked.length > OWNER_LINES) lines.push(`  ... and ${linked.length - OWNER_LINES} more`);
  } else lines.push('no owner has an element linked (the inspector walked sockets, threads and cgroups)');
  lines.push(`try: bpftool map show; bpftool prog show; bpftool map show pinned ${kept.maps[0]?.pin ?? `${kept.dir}/...`}; bpftool cgroup tree`);
  return lines;
}

/**
 * Stops the run at `result`: the owners stay (the held teardown is dropped; `ownersReleased`:
 * it had run, see afterScenario), the maps are pinned, the kernel log is read once more, and
 * the user gets the shell. That read ends the scenario's own log: what the kernel said up to
 * the prompt (the scenario, the keep, the inspector's walk) is the scenario's, so the banner
 * shows the verdict the summary keeps; what it says from then on is the shell's
 * (after-run.ts recordAfterShell). `session` is the run's record of the shell (already in the
 * summary, so an interrupted run writes it); it gets the time the user spent. Returns the
 * banner it showed.
 */
export async function stopForShell(stop: ShellStop, ops: Pick<GuestOps, 'keep' | 'inspect' | 'kmsg'>, access: ShellAccess, result: ScenarioResult, holder: TeardownHolder, dir: string, session: ShellSession, onKernelLog: (records: string[]) => void): Promise<string[]> {
  holder.drop();
  const kept = await ops.keep();
  const linked = await linkedOwners(ops);
  await scanScenarioKernelLog(ops, onKernelLog, result);
  setCaughtBy(result);
  const banner = shellBanner(result, kept, linked, session.ownersReleased);
  const opened = Date.now();
  await stop.open(access, banner, dir);
  session.durationMs = Date.now() - opened;
  return banner;
}

/** The run's record of a stop for the shell at `result`, before the shell opens; `rest`: the scenarios the stop leaves unrun. */
export function shellSession(stop: ShellStop, result: ScenarioResult, next: Exclude<AfterScenario, 'go on'>, rest: readonly string[]): ShellSession {
  return {
    scenario: result.name,
    stoppedBecause: stop.at === 'fail' ? 'failed' : 'named',
    ownersReleased: next === 'stop, owners released',
    notRun: [...rest],
    transcript: TRANSCRIPT_FILE,
    input: KEYS_FILE,
  };
}
