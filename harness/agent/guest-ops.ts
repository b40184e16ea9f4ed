/**
 * The typed agent API: one method per agent verb (docs/PROTOCOL.md), the one place where each
 * verb's arguments are built and its reply is read. Each returns exactly what the agent
 * counted; interpretation is left to the counters and verdict modules.
 */
import type { RaceDrop } from '../results/race-coverage.js';
import type { AgentClient, AgentReply } from './client.js';
import { KEEP_DIR, parseKeepReply, type KeptState } from './keep.js';
import { parseRaceCoverage, type RaceCoverageReply } from './race-coverage.js';

export type Via = 'user' | 'prog';
/** The storage owner kinds: sockets, threads (task storage), cgroups. */
export type OwnerKindName = 'sk' | 'task' | 'cgrp';
/** task and cgrp objects hold a second map with a small value, to mix element sizes on one owner. */
export type ValueSize = 'big' | 'small';

export interface MapOpenOptions {
  /** For sk via=prog: the cgroup the programs attach to. */
  cgroup?: string;
  value?: ValueSize;
}

export interface RaceParams {
  kind: OwnerKindName;
  rounds: number;
  owners: number;
  threads: number;
  seed: number;
  via: Via;
  /** sk via=prog: where the programs attach; cgrp: the parent of the raced cgroups. */
  cgroup?: string;
  /** hold-map fault: rounds 0, hold, 2*hold, ... keep their map and owner 0 (faults.ts). */
  hold?: number;
  /** Busy-wait in the map-free worker between its two unlink lock sections (needs racecov). */
  widenNs?: number;
  /** Releases beyond the drop target start at the drop, or once the map-free walk began. */
  after?: 'drop' | 'walk';
  /** The drop: at the seeded target, after every release, at the first owner destroy, once every owner is a grace period from its destroy (release), or gathered (cgroups). */
  drop?: RaceDrop;
  /** Dropper on CPU 0 (where the map-free work then runs), closers on the other CPUs. */
  pin?: boolean;
  /** via=prog: the programs go before the race (`first`), so the agent's file is the map's last reference. */
  progs?: 'first' | 'last';
  /** The first this many rounds drop at the seeded target whatever `drop` says. */
  seeded?: number;
}

/**
 * The racecov verb: the coverage tracer is loaded, or why it does not apply. links: the tracer's
 * links the kernel has now (0 outside a race verb); misses: its programs' recursion misses so far.
 */
export type RaceCovLoad = { applicable: true; links: number; misses: number } | { applicable: false; reason: string };

export interface RaceResult {
  rounds: number;
  created: number;
  failed: number;
  elapsedUs: number;
  raceUs: number;
  mapIds: number[];
  dropAfter: number[];
  /** hold-map: the maps the agent kept (close them with closeMap; the owners with the kind's close). */
  heldMapIds: number[];
  /** Present once racecov is loaded: per round, how the two unlink sides met. */
  coverage?: RaceCoverageReply;
  /** Present once racecov is loaded: the tracer's links the kernel had at the end of the race. */
  tracerLinks?: number;
}

export interface CreateResult {
  created: number;
  failed: number;
  firstErrno: number;
  /** leave-elem: the agent's stray map, which holds one element per `stray` owners. */
  strayMapId?: number;
}

/** What lookups through a map found; wrongValue: elements stamped by another map. */
export interface CountResult {
  present: number;
  absent: number;
  wrongValue: number;
  /** The first wrong value: the stamp it had, on which owner (index), and the map's own. */
  wrong?: { stamp: number; owner: number; want: number };
}

function num(reply: AgentReply, field: string): number {
  const v = reply[field];
  if (typeof v !== 'number') throw new Error(`agent ${reply.verb}: field ${field} is not a number: ${JSON.stringify(v)}`);
  return v;
}

function numArray(reply: AgentReply, field: string): number[] {
  const v = reply[field];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new Error(`agent ${reply.verb}: field ${field} is not a number array`);
  return v as number[];
}

/** The agent's memcg-drain: memory.current around memory.high 0-then-max (bpf/memcg.c). */
export interface DrainResult {
  currentBefore: number;
  currentAfter: number;
  drainUs: number;
  restoreUs: number;
}

/** How a program run by the agent's exec verb ended. */
export interface ExecResult {
  status: number;
  signal: number;
  timedOut: boolean;
  elapsedUs: number;
}

/** exec's list encoding: words joined by ',', each %XX-encoded (docs/PROTOCOL.md). */
export function encodeWords(words: readonly string[]): string {
  return words.map((w) => encodeURIComponent(w).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join(',');
}

export interface KmsgRead {
  lines: string[];
  /** Records overwritten before they were read: a report may have been among them. */
  lost: number;
}

/** "prio,seq,usec,flags;": the sequence number and the time of a /dev/kmsg record. */
const KMSG_HEADER = /^\d+,(\d+),(\d+),[^;]*;/;

export class GuestOps {
  /** Sequence number of the last kernel log record read, to see records lost between reads. */
  private lastKmsgSeq: number | undefined;
  /** Time stamp (µs since boot) of the last kernel log record read: the console shows what came after. */
  lastKmsgUsec: number | undefined;

  constructor(readonly agent: AgentClient) {}

  /** `deadlineMs`: the agent's default, or longer for a file the kernel is slow to produce (kmemleak). */
  async read(path: string, deadlineMs?: number): Promise<string> {
    const r = await this.agent.call('read', { path }, deadlineMs);
    if (typeof r.data !== 'string') throw new Error(`agent read ${path}: no data`);
    return r.data;
  }

  async write(path: string, value: string | number, deadlineMs?: number): Promise<void> {
    await this.agent.call('write', { path, value }, deadlineMs);
  }

  /** Makes the kernel drain the cgroup's per-CPU charge caches (docs/PROTOCOL.md, memcg-drain). */
  async memcgDrain(cgroup: string): Promise<DrainResult> {
    const r = await this.agent.call('memcg-drain', { path: cgroup });
    return { currentBefore: num(r, 'currentBefore'), currentAfter: num(r, 'currentAfter'), drainUs: num(r, 'drainUs'), restoreUs: num(r, 'restoreUs') };
  }

  /** Asks the guest to power off; the reply may never come (the guest is gone first). */
  async poweroff(deadlineMs: number): Promise<void> {
    await this.agent.call('poweroff', {}, deadlineMs);
  }

  async mkdir(path: string): Promise<void> {
    await this.agent.call('mkdir', { path });
  }

  async enterCgroup(path: string): Promise<void> {
    await this.agent.call('cgroup-enter', { path });
  }

  async raiseNofile(n: number): Promise<void> {
    await this.agent.call('rlimit-nofile', { n });
  }

  /**
   * Runs `path` in the guest in its own process group, stdout and stderr to `out`, killed
   * with its group after `timeoutMs`; the reply comes when it has ended.
   */
  async exec(path: string, args: readonly string[], o: { cwd?: string; out: string; timeoutMs: number; env?: readonly string[] }): Promise<ExecResult> {
    const r = await this.agent.call(
      'exec',
      { path, out: o.out, timeout: o.timeoutMs, ...(args.length ? { args: encodeWords(args) } : {}), ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.env?.length ? { env: encodeWords(o.env) } : {}) },
      o.timeoutMs + 30_000,
    );
    return { status: num(r, 'status'), signal: num(r, 'signal'), timedOut: r.timedOut === true, elapsedUs: num(r, 'elapsedUs') };
  }

  /**
   * Every /dev/kmsg record since the last call, and how many were overwritten in the ring
   * buffer before they could be read: the agent's count of EPIPE reads, or the gap in sequence
   * numbers since the last record of the previous call, whichever is larger (one EPIPE can
   * skip many records). Records are numbered without gaps, so a gap is a loss.
   */
  async kmsg(): Promise<KmsgRead> {
    const r = await this.agent.call('kmsg');
    const lines = Array.isArray(r.lines) ? r.lines.map(String) : [];
    let gap = 0;
    for (const line of lines) {
      const m = KMSG_HEADER.exec(line);
      if (!m) continue;
      const seq = Number(m[1]);
      if (this.lastKmsgSeq !== undefined && seq > this.lastKmsgSeq + 1) gap += seq - this.lastKmsgSeq - 1;
      this.lastKmsgSeq = seq;
      this.lastKmsgUsec = Number(m[2]);
    }
    const agentLost = typeof r.lost === 'number' ? r.lost : 0;
    return { lines, lost: Math.max(agentLost, gap) };
  }

  async openSockets(count: number, tcpPercent = 50): Promise<number> {
    return num(await this.agent.call('sockets-open', { count, tcp: tcpPercent }, 120_000), 'count');
  }

  async closeSockets(): Promise<number> {
    return num(await this.agent.call('sockets-close', {}, 120_000), 'closed');
  }

  async optmem(): Promise<number[]> {
    return numArray(await this.agent.call('sock-meminfo', {}, 60_000), 'optmem');
  }

  async spawnThreads(count: number): Promise<number> {
    return num(await this.agent.call('threads-spawn', { count }, 120_000), 'count');
  }

  async stopThreads(): Promise<number> {
    return num(await this.agent.call('threads-stop', {}, 120_000), 'stopped');
  }

  async makeCgroups(parent: string, count: number): Promise<number> {
    return num(await this.agent.call('cgroups-make', { parent, count }, 120_000), 'count');
  }

  async removeCgroups(): Promise<number> {
    return num(await this.agent.call('cgroups-remove', {}, 120_000), 'removed');
  }

  async openMap(kind: OwnerKindName, via: Via, opts: MapOpenOptions = {}): Promise<number> {
    const args: Record<string, string> = { kind, via };
    if (opts.cgroup) args.cgroup = opts.cgroup;
    if (opts.value) args.value = opts.value;
    return num(await this.agent.call('map-open', args), 'mapId');
  }

  /**
   * mapId may be left out while exactly one map is open. stray (leave-elem fault): one element
   * per `stray` owners also goes into the agent's stray map of the kind; restamp (stale-value
   * fault): one element per `restamp` owners gets another open map's stamp.
   */
  async createElems(mapId?: number, o: { stray?: number; restamp?: number } = {}): Promise<CreateResult> {
    const r = await this.agent.call('elems-create', { ...mapArg(mapId), ...(o.stray ? { stray: o.stray } : {}), ...(o.restamp ? { restamp: o.restamp } : {}) }, 120_000);
    const out: CreateResult = { created: num(r, 'created'), failed: num(r, 'failed'), firstErrno: num(r, 'firstErrno') };
    if (o.stray) out.strayMapId = num(r, 'strayMapId');
    return out;
  }

  async countElems(mapId?: number): Promise<CountResult> {
    const r = await this.agent.call('elems-count', mapArg(mapId), 120_000);
    const out: CountResult = { present: num(r, 'present'), absent: num(r, 'absent'), wrongValue: num(r, 'wrongValue') };
    if (out.wrongValue > 0) out.wrong = { stamp: num(r, 'wrongStamp'), owner: num(r, 'wrongOwner'), want: num(r, 'stamp') };
    return out;
  }

  /** hold (hold-map fault): the object goes, an extra map reference stays until a plain close. */
  async closeMap(mapId?: number, o: { hold?: boolean } = {}): Promise<void> {
    await this.agent.call('map-close', { ...mapArg(mapId), ...(o.hold ? { hold: 1 } : {}) });
  }

  /** Whether map `id` still exists; an AgentCallError (with the errno) when bpf() itself fails. */
  async mapAlive(id: number, deadlineMs?: number): Promise<boolean> {
    return (await this.agent.call('map-alive', { id }, deadlineMs)).alive === true;
  }

  /** The inspector's raw records (counters/inspector.ts parses them). */
  async inspect(kind: OwnerKindName, cgroup?: string): Promise<string[]> {
    const r = await this.agent.call('inspect', cgroup ? { kind, cgroup } : { kind }, 120_000);
    if (!Array.isArray(r.records) || !r.records.every((x) => typeof x === 'string')) throw new Error('agent inspect: records is not a string array');
    return r.records as string[];
  }

  /** Loads the race coverage tracer (once per boot; before any baseline it would disturb). */
  /** Pins every local storage map left and lists the agent's owners (keep.ts), for a shell after a scenario. */
  async keep(dir = KEEP_DIR): Promise<KeptState> {
    return parseKeepReply(await this.agent.call('keep', { dir }, 60_000));
  }

  async racecov(): Promise<RaceCovLoad> {
    const r = await this.agent.call('racecov', {}, 120_000);
    if (r.applicable === true) return { applicable: true, links: num(r, 'links'), misses: num(r, 'misses') };
    return { applicable: false, reason: typeof r.reason === 'string' ? r.reason : 'not applicable' };
  }

  async race(p: RaceParams, deadlineMs: number): Promise<RaceResult> {
    const args: Record<string, string | number> = { kind: p.kind, rounds: p.rounds, owners: p.owners, threads: p.threads, seed: p.seed, via: p.via };
    if (p.cgroup) args.cgroup = p.cgroup;
    if (p.hold) args.hold = p.hold;
    if (p.widenNs) args.widen = p.widenNs;
    if (p.after) args.after = p.after;
    if (p.drop) args.drop = p.drop;
    if (p.pin) args.pin = 1;
    if (p.progs) args.progs = p.progs;
    if (p.seeded) args.seeded = p.seeded;
    const r = await this.agent.call('race', args, deadlineMs);
    return {
      rounds: num(r, 'rounds'),
      created: num(r, 'created'),
      failed: num(r, 'failed'),
      elapsedUs: num(r, 'elapsedUs'),
      raceUs: num(r, 'raceUs'),
      mapIds: numArray(r, 'mapIds'),
      dropAfter: numArray(r, 'dropAfter'),
      heldMapIds: p.hold ? numArray(r, 'heldMapIds') : [],
      coverage: parseRaceCoverage(r.coverage),
      ...(typeof r.tracerLinks === 'number' ? { tracerLinks: r.tracerLinks } : {}),
    };
  }
}

function mapArg(mapId: number | undefined): Record<string, number> {
  return mapId === undefined ? {} : { map: mapId };
}
