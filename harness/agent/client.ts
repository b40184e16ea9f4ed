/**
 * The host side of the agent protocol (docs/PROTOCOL.md): numbered one-line commands out,
 * one JSON reply per line back. Every call has a deadline. Every line received is also handed
 * to a recorder, so the raw agent records end up in the results whatever happens.
 */
import type { Duplex } from 'node:stream';
import { DeadlineError } from '../util/deadline.js';

export interface AgentReply {
  id: number;
  ok: boolean;
  verb: string;
  error?: string;
  errno?: number;
  [field: string]: unknown;
}

export class AgentCallError extends Error {
  readonly reply: AgentReply;
  constructor(reply: AgentReply) {
    super(`agent ${reply.verb} failed: ${reply.error ?? 'unknown error'}${reply.errno ? ` (errno ${reply.errno})` : ''}`);
    this.name = 'AgentCallError';
    this.reply = reply;
  }
}

interface Pending {
  resolve: (reply: AgentReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class AgentClient {
  private nextId = 1;
  private buffered = '';
  private readonly pending = new Map<number, Pending>();
  private readonly readyWaiters: Array<{ resolve: (reply: AgentReply) => void; reject: (err: Error) => void }> = [];
  private readyReply: AgentReply | null = null;
  private closedWith: Error | null = null;

  constructor(
    private readonly socket: Duplex,
    private readonly record: (line: string) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.failAll(new Error('agent channel closed')));
    socket.on('error', (err) => this.failAll(err));
  }

  /** Resolves with the agent's unsolicited `ready` line. */
  ready(deadlineMs: number): Promise<AgentReply> {
    if (this.readyReply) return Promise.resolve(this.readyReply);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new DeadlineError('guest agent start', deadlineMs)), deadlineMs);
      this.readyWaiters.push({
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** Sends one command; rejects on ok:false (AgentCallError), a deadline or a dead channel. */
  call(verb: string, args: Record<string, string | number> = {}, deadlineMs = 30_000): Promise<AgentReply> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    const words = Object.entries(args).map(([k, v]) => {
      const text = String(v);
      if (/\s/.test(text)) throw new Error(`agent argument ${k} contains white space: ${JSON.stringify(text)}`);
      return `${k}=${text}`;
    });
    const line = [id, verb, ...words].join(' ');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DeadlineError(`agent ${verb}`, deadlineMs));
      }, deadlineMs);
      this.pending.set(id, {
        resolve: (reply) => (reply.ok ? resolve(reply) : reject(new AgentCallError(reply))),
        reject,
        timer,
      });
      this.record(`> ${line}`);
      this.socket.write(line + '\n');
    });
  }

  /** Rejects every waiting call, e.g. when the console shows a panic. */
  failAll(err: Error): void {
    if (!this.closedWith) this.closedWith = err;
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      // A UART channel may add carriage returns; they are never part of a record.
      const line = this.buffered.slice(0, nl).replace(/\r/g, '');
      this.buffered = this.buffered.slice(nl + 1);
      if (line.trim() !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    this.record(line);
    let reply: AgentReply;
    try {
      reply = JSON.parse(line) as AgentReply;
    } catch {
      return; // recorded above; a stray line is evidence, not a reply
    }
    if (reply.verb === 'ready' && reply.id === 0) {
      this.readyReply = reply;
      for (const w of this.readyWaiters.splice(0)) w.resolve(reply);
      return;
    }
    const p = this.pending.get(reply.id);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(reply.id);
    p.resolve(reply);
  }
}
