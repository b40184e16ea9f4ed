/**
 * The agent's `keep` verb (bpf/keep.c, docs/PROTOCOL.md; called as GuestOps.keep): every local storage map the
 * guest's kernel still has is pinned in a bpffs directory, and the owners the agent holds are
 * listed with what finds them from a shell. For the shell after a scenario (run/shell-stop.ts).
 */
import type { AgentReply } from './client.js';

/** Where the maps are pinned unless asked otherwise (the agent's default too). */
export const KEEP_DIR = '/sys/fs/bpf/bpfh';

export interface KeptMap {
  id: number;
  /** sk_storage, task_storage, cgrp_storage, inode_storage */
  type: string;
  name: string;
  pin: string;
}

export interface KeptState {
  dir: string;
  maps: KeptMap[];
  /** The agent's pid: its sockets are in /proc/PID/fd. */
  pid: number;
  /** Socket descriptors of the agent. */
  sockets: number[];
  /** Owner thread ids (in /proc/PID/task/). */
  threads: number[];
  cgroups: Array<{ id: number; path: string }>;
}

function numbers(r: AgentReply, key: string): number[] {
  const v = r[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new Error(`agent keep: ${key} is not an array of numbers`);
  return v as number[];
}

function isKeptMap(x: unknown): x is KeptMap {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  return typeof m.id === 'number' && typeof m.type === 'string' && typeof m.name === 'string' && typeof m.pin === 'string';
}

function isCgroup(x: unknown): x is { id: number; path: string } {
  if (typeof x !== 'object' || x === null) return false;
  const c = x as Record<string, unknown>;
  return typeof c.id === 'number' && typeof c.path === 'string';
}

/** Parses a `keep` reply; a field missing or of another shape is an error, never an empty list. */
export function parseKeepReply(r: AgentReply): KeptState {
  const maps = r.maps;
  const cgroups = r.cgroups;
  if (!Array.isArray(maps) || !maps.every(isKeptMap)) throw new Error('agent keep: maps is not a list of {id, type, name, pin}');
  if (!Array.isArray(cgroups) || !cgroups.every(isCgroup)) throw new Error('agent keep: cgroups is not a list of {id, path}');
  if (typeof r.pid !== 'number' || typeof r.dir !== 'string') throw new Error('agent keep: pid or dir missing');
  return { dir: r.dir, maps, pid: r.pid, sockets: numbers(r, 'sockets'), threads: numbers(r, 'threads'), cgroups };
}
