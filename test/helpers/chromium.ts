/**
 * A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: JSON messages separated by NUL on fds 3 and 4), with no library:
 * open a file, wait for its load event, evaluate a script in the page, read what the page logged
 * (console calls, exceptions, and the browser's own log: CSP violations, failed loads), take a
 * full-page screenshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM_FIX = 'no chromium on PATH: run BPF_HARNESS_SETUP_BROWSER=1 bash scripts/setup.sh (npm test does) to install Debian\'s chromium';

export function findChromium(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = join(dir, name);
      if (dir && existsSync(p)) return p;
    }
  }
  return null;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export interface PageLog {
  level: string;
  text: string;
}

export interface OpenedPage {
  /** Everything the page and the browser logged for it at warning level or above. */
  problems: PageLog[];
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the whole page at `width` CSS pixels. */
  screenshot(width: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class Chromium {
  private readonly proc: ChildProcess;
  private readonly input: Writable;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private readonly listeners: Array<(m: Message) => void> = [];
  private readonly profile: string;
  private buffer = '';
  stderr = '';

  constructor(binary: string) {
    this.profile = mkdtempSync(join(tmpdir(), 'bpfh-chromium-'));
    const args = ['--headless', '--remote-debugging-pipe', '--disable-gpu', '--no-first-run', '--no-default-browser-check', '--hide-scrollbars', '--mute-audio', `--user-data-dir=${this.profile}`, 'about:blank'];
    // Chromium refuses to run as root with its sandbox on.
    if (process.getuid?.() === 0) args.unshift('--no-sandbox');
    this.proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    this.input = this.proc.stdio[3] as Writable;
    const output = this.proc.stdio[4] as Readable;
    (this.proc.stderr as Readable).on('data', (d: Buffer) => (this.stderr += d.toString()));
    output.on('data', (d: Buffer) => this.receive(d.toString()));
    this.proc.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited (${code}) before answering; stderr:\n${this.stderr.slice(-2000)}`));
      this.pending.clear();
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const m = JSON.parse(this.buffer.slice(0, end)) as Message;
      this.buffer = this.buffer.slice(end + 1);
      if (m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new Error(`DevTools: ${m.error.message}`));
        else p?.resolve(m);
      } else for (const l of this.listeners) l(m);
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`DevTools ${method}: no answer in 20 s`)), 20_000);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m.result ?? {});
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  private waitFor(sessionId: string, method: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} did not come in ${timeoutMs} ms`)), timeoutMs);
      this.listeners.push((m) => {
        if (m.sessionId === sessionId && m.method === method) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** Opens `url` in a new tab and waits for its load event. */
  async open(url: string): Promise<OpenedPage> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const problems: PageLog[] = [];
    this.listeners.push((m) => {
      if (m.sessionId !== sessionId || !m.params) return;
      const p = m.params;
      if (m.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'warning' || p.type === 'assert')) {
        const args = (p.args as Array<{ value?: unknown; description?: string }>) ?? [];
        problems.push({ level: String(p.type), text: args.map((a) => String(a.value ?? a.description ?? '')).join(' ') });
      }
      if (m.method === 'Runtime.exceptionThrown') {
        const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
        problems.push({ level: 'exception', text: `${d.text ?? ''} ${d.exception?.description ?? ''}`.trim() });
      }
      if (m.method === 'Log.entryAdded') {
        const e = p.entry as { level: string; text: string; url?: string };
        if (e.level === 'error' || e.level === 'warning') problems.push({ level: e.level, text: `${e.text}${e.url ? ` (${e.url})` : ''}` });
      }
    });
    for (const domain of ['Page', 'Runtime', 'Log']) await this.send(`${domain}.enable`, {}, sessionId);
    const loaded = this.waitFor(sessionId, 'Page.loadEventFired', 20_000);
    await this.send('Page.navigate', { url }, sessionId);
    await loaded;
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)) as { result: { value: T }; exceptionDetails?: { text: string } };
      if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.text}`);
      return r.result.value;
    };
    return {
      problems,
      evaluate,
      screenshot: async (width: number): Promise<Buffer> => {
        await this.send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
        const height = Math.min(16_000, await evaluate<number>('document.documentElement.scrollHeight'));
        await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
        const { data } = (await this.send('Page.captureScreenshot', { format: 'png' }, sessionId)) as { data: string };
        return Buffer.from(data, 'base64');
      },
      close: async (): Promise<void> => {
        await this.send('Target.closeTarget', { targetId });
      },
    };
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send('Browser.close'), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      /* already gone */
    }
    // The profile is still being written until the process is gone.
    if (!(await this.exited(5000))) {
      this.proc.kill('SIGKILL');
      await this.exited(5000);
    }
    rmSync(this.profile, { recursive: true, force: true, maxRetries: 5 });
  }

  private exited(ms: number): Promise<boolean> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
