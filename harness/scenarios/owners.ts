/**
 * The three kinds of storage owner, as the scenarios see them: how to make N of them in the
 * guest and get rid of them, what creates elements on them from a program, and where the
 * inspector looks. The scenarios are written once against this (storage.ts).
 */
import { parseInspectorRecords, type InspectorReading } from '../counters/inspector.js';
import type { OwnerKindName } from '../agent/guest-ops.js';
import type { ScenarioContext } from './types.js';

export interface OwnerKind {
  name: OwnerKindName;
  /** Plural, for messages: "sockets". */
  noun: string;
  /** The params key for the owner count (sk keeps its first name, `sockets`). */
  paramKey: string;
  /** What destroying one is called in the race: close, exit, rmdir. */
  release: string;
  /** Sockets have an exact per-owner counter (optmem); threads and cgroups do not. */
  exactOptmem: boolean;
  /** How a program creates elements on existing owners (for messages). */
  progWhat: string;
  open(ctx: ScenarioContext, n: number): Promise<void>;
  close(ctx: ScenarioContext): Promise<void>;
  /** The cgroup directory map-open via=prog attaches to (sk only). */
  progCgroup(ctx: ScenarioContext): string | undefined;
  /** The cgroup the race makes its cgroups in (cgrp only). */
  raceCgroup(ctx: ScenarioContext): string | undefined;
  /** Where the inspector walks: the scenario cgroup for cgroups, else everything. */
  inspectRoot(ctx: ScenarioContext): string | undefined;
}

export const SK: OwnerKind = {
  name: 'sk',
  noun: 'sockets',
  paramKey: 'sockets',
  release: 'close',
  exactOptmem: true,
  progWhat: 'by the cgroup/setsockopt program',
  open: async (ctx, n) => void (await ctx.ops.openSockets(n)),
  close: async (ctx) => void (await ctx.ops.closeSockets()),
  progCgroup: (ctx) => ctx.cgroup,
  raceCgroup: () => undefined,
  inspectRoot: () => undefined,
};

export const TASK: OwnerKind = {
  name: 'task',
  noun: 'threads',
  paramKey: 'owners',
  release: 'exit',
  exactOptmem: false,
  progWhat: 'by the tp_btf/sys_enter program (bpf_task_from_pid)',
  open: async (ctx, n) => void (await ctx.ops.spawnThreads(n)),
  close: async (ctx) => void (await ctx.ops.stopThreads()),
  progCgroup: () => undefined,
  raceCgroup: () => undefined,
  inspectRoot: () => undefined,
};

export const CGRP: OwnerKind = {
  name: 'cgrp',
  noun: 'cgroups',
  paramKey: 'owners',
  release: 'rmdir',
  exactOptmem: false,
  progWhat: 'by the tp_btf/sys_enter program (bpf_cgroup_from_id)',
  open: async (ctx, n) => void (await ctx.ops.makeCgroups(ctx.cgroup, n)),
  close: async (ctx) => void (await ctx.ops.removeCgroups()),
  progCgroup: () => undefined,
  raceCgroup: (ctx) => ctx.cgroup,
  inspectRoot: (ctx) => ctx.cgroup,
};

/** One inspector pass over the owners of a kind, parsed. */
export async function inspectOwners(ctx: ScenarioContext, kind: OwnerKind): Promise<InspectorReading> {
  return parseInspectorRecords(await ctx.ops.inspect(kind.name, kind.inspectRoot(ctx)), kind.name);
}
