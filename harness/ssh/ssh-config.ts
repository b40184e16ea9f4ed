/**
 * What ~/.ssh/config names for a host that the harness uses: its IdentityFile lines (every
 * matching `Host` block's, in order, as ssh collects them). `Match` blocks are not evaluated:
 * their lines are skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function patternMatches(pattern: string, host: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(host);
}

/** A `Host` line's patterns against a host: any positive match and no negated one. */
export function hostLineMatches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), host)) return false;
    } else if (patternMatches(p, host)) {
      matched = true;
    }
  }
  return matched;
}

/** `~/` and the %d (home), %u (user), %h (host), %p (port), %r (remote user) tokens ssh expands in IdentityFile. */
function expand(path: string, ctx: { host: string; port: number; user: string }): string {
  const home = homedir();
  const p = path.startsWith('~/') ? join(home, path.slice(2)) : path;
  return p.replace(/%([%dhpru])/g, (_, c: string) => ({ '%': '%', d: home, h: ctx.host, p: String(ctx.port), r: ctx.user, u: process.env.USER ?? '' })[c] ?? '');
}

export function identityFilesFor(configText: string, ctx: { host: string; port: number; user: string }): string[] {
  const out: string[] = [];
  let active = true; // lines before the first Host block apply to every host
  for (const raw of configText.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const keyword = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (keyword === 'host') active = hostLineMatches(value.split(/\s+/), ctx.host);
    else if (keyword === 'match') active = false;
    else if (active && keyword === 'identityfile') out.push(expand(value.replace(/^"(.*)"$/, '$1'), ctx));
  }
  return out;
}

export function userSshConfigIdentities(ctx: { host: string; port: number; user: string }, file = join(homedir(), '.ssh', 'config')): string[] {
  if (!existsSync(file)) return [];
  return identityFilesFor(readFileSync(file, 'utf8'), ctx);
}
