/**
 * Typed wrappers over the agent verbs the scenarios use. Each returns exactly what the agent
 * counted; interpretation is left to the verdict modules.
 */
import type { AgentClient, AgentReply } from '../agent/client.js';

export type Via = 'user' | 'prog';

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

export class GuestOps {
  constructor(readonly agent: AgentClient) {}

  async read(path: string): Promise<string> {
    const r = await this.agent.call('read', { path });
    if (typeof r.data !== 'string') throw new Error(`agent read ${path}: no data`);
    return r.data;
  }

  async write(path: string, value: string | number): Promise<void> {
    await this.agent.call('write', { path, value });
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

  async kmsg(): Promise<string[]> {
    const r = await this.agent.call('kmsg');
    return Array.isArray(r.lines) ? r.lines.map(String) : [];
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

  async openMap(via: Via, cgroup?: string): Promise<number> {
    const args: Record<string, string> = { kind: 'sk', via };
    if (cgroup) args.cgroup = cgroup;
    return num(await this.agent.call('map-open', args), 'mapId');
  }

  async createElems(): Promise<{ created: number; failed: number; firstErrno: number }> {
    const r = await this.agent.call('elems-create', {}, 120_000);
    return { created: num(r, 'created'), failed: num(r, 'failed'), firstErrno: num(r, 'firstErrno') };
  }

  async countElems(): Promise<{ present: number; absent: number }> {
    const r = await this.agent.call('elems-count', {}, 120_000);
    return { present: num(r, 'present'), absent: num(r, 'absent') };
  }

  async closeMap(): Promise<void> {
    await this.agent.call('map-close');
  }

  async mapAlive(id: number): Promise<boolean> {
    return (await this.agent.call('map-alive', { id })).alive === true;
  }

  async race(p: { rounds: number; sockets: number; threads: number; seed: number; via: Via }, deadlineMs: number): Promise<{ rounds: number; created: number; failed: number; elapsedUs: number; mapIds: number[]; dropAfter: number[] }> {
    const r = await this.agent.call('race', p, deadlineMs);
    return {
      rounds: num(r, 'rounds'),
      created: num(r, 'created'),
      failed: num(r, 'failed'),
      elapsedUs: num(r, 'elapsedUs'),
      mapIds: numArray(r, 'mapIds'),
      dropAfter: numArray(r, 'dropAfter'),
    };
  }
}
