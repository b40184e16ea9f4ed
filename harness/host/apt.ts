/**
 * A private apt setup for fetching Debian kernel packages: its own sources, lists, caches and
 * (empty) dpkg status under cacheDir()/apt/, selected with APT_CONFIG so that apt reads none of
 * the system's configuration (no system sources, preferences, apt.conf.d hooks) and writes none
 * of the system's state. Only the mirror URI is borrowed from the system's sources.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SetupError } from '../util/errors.js';
import { firstLine } from '../util/first-line.js';
import { cacheDir } from '../util/paths.js';

/** The suites searched for kernels, oldest first. */
export const DEBIAN_SUITES = ['trixie', 'sid', 'experimental'] as const;
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** Lists younger than this are used as they are: no apt-get update. */
export const LISTS_MAX_AGE_MS = 12 * 3600 * 1000;

const QUERY_TIMEOUT_MS = 60_000;
const DOWNLOAD_TIMEOUT_MS = 600_000;

/** The repository URIs of an apt sources text, deb822 (`.sources`) or one-line (`.list`) format, in order. */
export function parseSourceUris(text: string, format: 'deb822' | 'one-line'): string[] {
  const uris: string[] = [];
  if (format === 'one-line') {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const m = /^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (m) uris.push(m[1]!);
    }
    return uris;
  }
  // deb822: stanzas separated by blank lines; a field may continue on lines starting with space.
  const lines = text.split('\n').filter((l) => !l.trimStart().startsWith('#'));
  for (const stanza of lines.join('\n').split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last)} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      }
    }
    if (/^(no|false)$/i.test(fields.get('enabled') ?? '')) continue;
    for (const uri of (fields.get('uris') ?? '').split(/\s+/)) if (uri !== '') uris.push(uri);
  }
  return uris;
}

/** The first URI whose path ends in /debian (a Debian archive mirror), without a trailing slash. */
export function pickDebianMirror(uris: readonly string[]): string | undefined {
  for (const uri of uris) {
    let path: string;
    try {
      path = new URL(uri).pathname;
    } catch {
      continue;
    }
    if (/\/debian\/*$/.test(path)) return uri.replace(/\/+$/, '');
  }
  return undefined;
}

/** The Debian mirror the system's apt already uses: /etc/apt/sources.list, then sources.list.d/ in name order. */
export function discoverDebianMirror(etcApt = '/etc/apt'): string | undefined {
  const uris: string[] = [];
  const read = (path: string, format: 'deb822' | 'one-line'): void => {
    try {
      uris.push(...parseSourceUris(readFileSync(path, 'utf8'), format));
    } catch {
      /* unreadable or absent: skip */
    }
  };
  read(join(etcApt, 'sources.list'), 'one-line');
  let parts: string[] = [];
  try {
    parts = readdirSync(join(etcApt, 'sources.list.d')).sort();
  } catch {
    /* no parts dir */
  }
  for (const name of parts) {
    if (name.endsWith('.sources')) read(join(etcApt, 'sources.list.d', name), 'deb822');
    else if (name.endsWith('.list')) read(join(etcApt, 'sources.list.d', name), 'one-line');
  }
  return pickDebianMirror(uris);
}

/** One version of a package in the lists. */
export interface AptVersion {
  pkg: string;
  version: string;
  suite: string;
}

function quote(s: string): string {
  if (/["\n]/.test(s)) throw new SetupError(`the cache directory ${s} contains a quote or newline: set BPF_HARNESS_CACHE to a plain path`);
  return `"${s}"`;
}

/**
 * Another Debian architecture's packages (arm64: its kernels, and the static libraries and
 * guest userland of harness/cross/), in a private apt of its own: one architecture per setup,
 * so a package name means one package and the amd64 lists stay as they are.
 */
export interface PrivateAptScope {
  /** Debian's name of the architecture: amd64, arm64. */
  arch: string;
  suites: readonly string[];
}

export class PrivateApt {
  readonly dir: string;
  readonly mirror: string;
  readonly arch: string;
  /** The suites its sources name. */
  readonly suites: readonly string[];
  private readonly confPath: string;
  private readonly stampPath: string;
  private readonly sourcesText: string;

  constructor(dir: string, mirror: string, scope: PrivateAptScope = { arch: 'amd64', suites: DEBIAN_SUITES }) {
    this.dir = dir;
    this.mirror = mirror;
    this.arch = scope.arch;
    this.suites = scope.suites;
    this.confPath = join(dir, 'apt.conf');
    this.stampPath = join(dir, 'lists-updated');
    this.sourcesText =
      '# Written by the bpf-storage-harness: a private apt setup for downloading Debian kernels.\n' +
      scope.suites.map((s) => `deb [arch=${scope.arch} signed-by=${DEBIAN_KEYRING}] ${mirror} ${s} main\n`).join('');
  }

  /** Create the directories and write apt.conf and sources.list (only when they changed). */
  async prepare(): Promise<void> {
    const d = this.dir;
    for (const sub of ['etc/apt.conf.d', 'etc/sources.list.d', 'etc/preferences.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial', 'log']) {
      mkdirSync(join(d, sub), { recursive: true });
    }
    const conf = [
      '// Written by the bpf-storage-harness. Used through APT_CONFIG: apt reads no system configuration.',
      `Dir::Etc ${quote(join(d, 'etc') + '/')};`,
      'Dir::Etc::main "apt.conf";',
      'Dir::Etc::parts "apt.conf.d";',
      'Dir::Etc::sourcelist "sources.list";',
      'Dir::Etc::sourceparts "sources.list.d";',
      'Dir::Etc::preferences "preferences";',
      'Dir::Etc::preferencesparts "preferences.d";',
      'Dir::Etc::trusted "trusted.gpg";',
      'Dir::Etc::trustedparts "trusted.gpg.d";',
      `Dir::State ${quote(join(d, 'state') + '/')};`,
      'Dir::State::lists "lists/";',
      `Dir::State::status ${quote(join(d, 'state', 'status'))};`,
      `Dir::Cache ${quote(join(d, 'cache') + '/')};`,
      'Dir::Cache::archives "archives/";',
      'Dir::Cache::pkgcache "pkgcache.bin";',
      // The binary cache makes each apt-cache query ~30 ms instead of ~1.3 s; the source one is unused.
      'Dir::Cache::srcpkgcache "";',
      `Dir::Log ${quote(join(d, 'log') + '/')};`,
      `APT::Architecture "${this.arch}";`,
      `APT::Architectures { "${this.arch}"; };`,
      'Acquire::Languages "none";',
      // Keep the Packages lists compressed: ~45 MB instead of ~120 MB.
      'Acquire::GzipIndexes "true";',
      'Acquire::Retries "2";',
      'Acquire::http::Timeout "30";',
      'Acquire::https::Timeout "30";',
      // Root's cache dir is usually not reachable by the _apt sandbox user: download as root.
      ...(process.getuid?.() === 0 ? ['APT::Sandbox::User "root";'] : []),
      '// Network settings of the system apt, which already talks to this mirror (proxies, Valid-Until checks):',
      ...(await systemAcquireSettings()),
      '',
    ].join('\n');
    // 0600: inherited proxy settings may carry credentials.
    writeIfChanged(this.confPath, conf, 0o600);
    writeIfChanged(join(d, 'etc', 'sources.list'), this.sourcesText);
    writeIfChanged(join(d, 'state', 'status'), ''); // no packages installed: apt resolves nothing against the host
  }

  /** Milliseconds since the last successful update for the current sources, or undefined if never. */
  listsAgeMs(): number | undefined {
    try {
      if (readFileSync(this.stampPath, 'utf8') !== this.sourcesText) return undefined;
      return Date.now() - statSync(this.stampPath).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /** Whether any Packages index is present (possibly old). */
  hasLists(): boolean {
    try {
      return readdirSync(join(this.dir, 'state', 'lists')).some((n) => n.includes('_Packages'));
    } catch {
      return false;
    }
  }

  private env(): Record<string, string> {
    return { APT_CONFIG: this.confPath, LC_ALL: 'C.UTF-8', LANGUAGE: '' };
  }

  private async run(tool: string, args: string[], timeout: number, cwd?: string) {
    return execa(tool, args, { env: this.env(), timeout, cwd, reject: false, stdin: 'ignore' });
  }

  /**
   * apt-get update, quietly. apt exits 0 even when every index failed to download (it says so
   * in W: lines), so those count as failures too. Other warnings go to `warn`.
   */
  async update(timeoutMs: number, warn: (line: string) => void): Promise<string | undefined> {
    const r = await this.run('apt-get', ['-qq', 'update'], timeoutMs);
    if (r.timedOut) return `apt-get update did not finish within ${Math.round(timeoutMs / 1000)} s`;
    const lines = String(r.stderr).split('\n').map((l) => l.trim()).filter((l) => /^(E|W|Err):/.test(l));
    const fatal = lines.filter((l) => l.startsWith('E:') || /Failed to fetch|failed to download/.test(l));
    if (r.exitCode !== 0 || fatal.length > 0) {
      const first = fatal.find((l) => !/Some index files failed/.test(l)) ?? fatal[0] ?? (firstLine(r.stderr) || `exit code ${r.exitCode}`);
      return `apt-get update failed: ${first.replace(/\s+/g, ' ').slice(0, 300)}`;
    }
    for (const l of lines) warn(`apt-get update: ${l}`);
    writeFileSync(this.stampPath, this.sourcesText);
    return undefined;
  }

  /** Package names in the lists starting with `prefix`. */
  async pkgnames(prefix: string): Promise<string[]> {
    const r = await this.run('apt-cache', ['pkgnames', prefix], QUERY_TIMEOUT_MS);
    if (r.failed) throw new SetupError(`apt-cache pkgnames failed: ${firstLine(r.stderr) || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}: delete ${this.dir} and retry`);
    return String(r.stdout).split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /** Every version of `pkgs` in the lists, with the suite it comes from. */
  async versions(pkgs: readonly string[]): Promise<AptVersion[]> {
    if (pkgs.length === 0) return [];
    const r = await this.run('apt-cache', ['madison', ...pkgs], QUERY_TIMEOUT_MS);
    if (r.timedOut) throw new SetupError(`apt-cache madison timed out: delete ${this.dir} and retry`);
    const out: AptVersion[] = [];
    for (const line of String(r.stdout).split('\n')) {
      // "linux-binary-7.3-amd64 | 7.3~rc7-1~exp1 | http://<mirror>/debian experimental/main amd64 Packages"
      const f = line.split('|').map((s) => s.trim());
      if (f.length < 3 || !/Packages$/.test(f[2]!)) continue;
      const suite = (f[2]!.split(/\s+/)[1] ?? '').split('/')[0] ?? '';
      out.push({ pkg: f[0]!, version: f[1]!, suite });
    }
    return out;
  }

  /** The version of each of `pkgs` in `suite`; one missing is a SetupError naming it (`what`: the need, in the message). */
  async versionsIn(pkgs: readonly string[], suite: string, what: string): Promise<Array<{ pkg: string; version: string }>> {
    const versions = await this.versions(pkgs);
    return pkgs.map((pkg) => {
      const v = versions.find((x) => x.pkg === pkg && x.suite === suite);
      if (!v) throw new SetupError(`${what}: ${pkg}${this.arch === 'amd64' ? '' : ` (${this.arch})`} is not in ${suite}'s package lists: delete ${this.dir} and retry, or pass --mirror <URL of a Debian mirror>`);
      return { pkg, version: v.version };
    });
  }

  /** apt-get download `pkg=version` ... into `dir`. */
  async download(items: ReadonlyArray<{ pkg: string; version: string }>, dir: string): Promise<void> {
    const r = await this.run('apt-get', ['-qq', 'download', ...items.map((i) => `${i.pkg}=${i.version}`)], DOWNLOAD_TIMEOUT_MS, dir);
    if (r.timedOut) throw new SetupError(`apt-get download ${items.map((i) => i.pkg).join(' ')} did not finish within ${DOWNLOAD_TIMEOUT_MS / 1000} s: check the network or the mirror ${this.mirror}`);
    if (r.exitCode !== 0) {
      throw new SetupError(`apt-get download ${items.map((i) => i.pkg).join(' ')} failed: ${firstLine(r.stderr, /^E:/) || `exit ${r.exitCode}`}: check the network or the mirror ${this.mirror}`);
    }
  }

  /**
   * download() into `dir`, then every package unpacked (dpkg-deb -x, no maintainer scripts) into
   * `dir`/x: the packages' files, never installed. A .deb missing or failing to unpack is one
   * line naming the package and the likely fix.
   */
  async downloadUnpacked(items: ReadonlyArray<{ pkg: string; version: string }>, dir: string, unpackTimeoutMs = 300_000): Promise<UnpackedDebs> {
    await this.download(items, dir);
    const debs = readdirSync(dir).filter((n) => n.endsWith('.deb'));
    if (debs.length < items.length) throw new SetupError(`apt-get download ${items.map((i) => i.pkg).join(' ')} left ${debs.length} of ${items.length} .deb files: delete ${this.dir} and retry`);
    const root = join(dir, 'x');
    for (const deb of debs) {
      const r = await execa('dpkg-deb', ['-x', join(dir, deb), root], { timeout: unpackTimeoutMs, reject: false, stdin: 'ignore' });
      if (r.failed) throw new SetupError(`dpkg-deb -x ${deb} failed: ${firstLine(r.stderr) || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}: check free space in ${dir}`);
    }
    return { root, debs, bytes: debs.reduce((sum, n) => sum + statSync(join(dir, n)).size, 0) };
  }
}

/** What downloadUnpacked() left: the unpacked files under `root`, and the .deb files it read. */
export interface UnpackedDebs {
  root: string;
  debs: string[];
  bytes: number;
}

/**
 * The suites of an architecture other than amd64: bookworm first (the arm64 libraries of the
 * cross build and the arm64 guest's userland, built against the glibc of bookworm's cross
 * toolchain, which newer glibcs also run), then the kernels' suites.
 */
export const FOREIGN_SUITES = ['bookworm', ...DEBIAN_SUITES] as const;

/** The private apt of a Debian architecture: cacheDir()/apt for amd64, cacheDir()/apt-<arch> for another. */
export function privateAptFor(arch: string, mirror: string): PrivateApt {
  if (arch === 'amd64') return new PrivateApt(join(cacheDir(), 'apt'), mirror);
  return new PrivateApt(join(cacheDir(), `apt-${arch}`), mirror, { arch, suites: FOREIGN_SUITES });
}

/** `apt` prepared, its lists updated when absent or older than LISTS_MAX_AGE_MS; `what` names the need in the error. */
export async function aptWithLists(apt: PrivateApt, what: string, log: (line: string) => void): Promise<PrivateApt> {
  await apt.prepare();
  const age = apt.listsAgeMs();
  if (age !== undefined && age <= LISTS_MAX_AGE_MS) return apt;
  log(`updating the private ${apt.arch} package lists from ${apt.mirror} for ${what}`);
  const failure = await apt.update(180_000, log);
  if (failure !== undefined && !apt.hasLists()) throw new SetupError(`${what}: ${failure}: check the network, or pass --mirror <URL of a Debian mirror>`);
  if (failure !== undefined) log(`${failure}; going on with the old lists`);
  return apt;
}

function writeIfChanged(path: string, text: string, mode = 0o644): void {
  if (existsSync(path)) {
    try {
      if (readFileSync(path, 'utf8') === text) return;
    } catch {
      /* rewrite */
    }
  }
  // Atomically: another harness run may be reading it with apt right now.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * The system apt's network settings that decide whether its mirror works from here: proxies,
 * TLS options, and the Release freshness checks (an image pinned to a mirror snapshot turns
 * Acquire::Check-Valid-Until off, and then so must we). Everything else of the system config
 * (sources, preferences, hooks, cache paths) stays out.
 */
export async function systemAcquireSettings(): Promise<string[]> {
  const env: Record<string, string | undefined> = { ...process.env, LC_ALL: 'C.UTF-8' };
  delete env.APT_CONFIG;
  const r = await execa('apt-config', ['dump'], { env, extendEnv: false, timeout: 20_000, reject: false, stdin: 'ignore' });
  if (r.failed) return [];
  return pickAcquireSettings(String(r.stdout));
}

/** The lines of an `apt-config dump` text that systemAcquireSettings keeps. */
export function pickAcquireSettings(dump: string): string[] {
  const keep = /^Acquire::(Check-Valid-Until|Check-Date|Max-ValidTime|Min-ValidTime|Max-FutureTime|ForceIPv4|ForceIPv6|(?:https?|ftp|socks)::[^ ]*) "/i;
  return dump.split('\n').filter((l) => keep.test(l) && l.trimEnd().endsWith(';'));
}
