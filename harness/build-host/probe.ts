/**
 * What a build host has, asked before anything is sent: the tools a kernel build runs, the
 * headers objtool and the certificate tools compile against, its cores, its gcc and pahole,
 * and the free space where the tree and the build go. The first thing it lacks refuses it in
 * one line (SetupError, exit 2).
 */

/** Programs the build and the harness's own commands on the host run. */
export const HOST_TOOLS = ['make', 'gcc', 'flex', 'bison', 'bc', 'tar', 'gzip', 'setsid', 'nice', 'find', 'xargs', 'df'] as const;

/** Headers the kernel's host tools include, and the Debian package that has each. */
export const HOST_HEADERS: ReadonlyArray<{ header: string; pkg: string }> = [
  { header: 'gelf.h', pkg: 'libelf-dev' },
  { header: 'openssl/opensslv.h', pkg: 'libssl-dev' },
];

/** The workspace's parent on the host, under its user's home. */
export const HOST_CACHE = '.cache/bpf-storage-harness/build-host';

export const PROBE_COMMAND = [
  'echo home=$HOME',
  'echo nproc=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)',
  `for t in ${HOST_TOOLS.join(' ')}; do command -v $t >/dev/null 2>&1 || echo missing=$t; done`,
  'echo gcc=$(gcc --version 2>/dev/null | head -n 1)',
  'echo pahole=$(pahole --version 2>/dev/null)',
  ...HOST_HEADERS.map((h) => `printf '#include <${h.header}>\\n' | gcc -E -x c - >/dev/null 2>&1 || echo missing-header=${h.header}`),
  `mkdir -p "$HOME/${HOST_CACHE}" && echo avail=$(df -Pk "$HOME/${HOST_CACHE}" | awk 'NR==2 {print $4}')`,
  'true',
].join('\n');

export interface HostFacts {
  home: string;
  nproc: number;
  missing: string[];
  missingHeaders: string[];
  /** First line of `gcc --version`, as the build key names a compiler. */
  gcc: string;
  /** `pahole --version`'s version, or '' when there is none. */
  pahole: string;
  /** Free bytes where the workspace goes; -1 when df said nothing. */
  availBytes: number;
}

export function parseProbe(stdout: string): HostFacts {
  const facts: HostFacts = { home: '', nproc: 1, missing: [], missingHeaders: [], gcc: '', pahole: '', availBytes: -1 };
  for (const line of stdout.split('\n')) {
    const m = /^([\w-]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const k = m[1]!;
    const v = m[2]!;
    if (k === 'home') facts.home = v;
    else if (k === 'nproc') facts.nproc = Math.max(1, Number(v) || 1);
    else if (k === 'missing') facts.missing.push(v);
    else if (k === 'missing-header') facts.missingHeaders.push(v);
    else if (k === 'gcc') facts.gcc = v.trim();
    else if (k === 'pahole') facts.pahole = /(\d+\.\d+(?:\.\d+)?)/.exec(v)?.[1] ?? '';
    else if (k === 'avail' && /^\d+$/.test(v)) facts.availBytes = Number(v) * 1024;
  }
  return facts;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** The first thing the host lacks as the one line that refuses it; undefined when it has all. */
export function refusal(url: string, f: HostFacts, needBytes: number): string | undefined {
  if (f.home === '' || !f.home.startsWith('/')) return `${url}: the build host's shell gave no home directory ($HOME): log in as a user with a home there`;
  if (f.missing.length > 0) return `${url}: the build host lacks ${f.missing.join(', ')}, which the kernel build needs: install them there (Debian: apt-get install build-essential flex bison bc)`;
  if (f.missingHeaders.length > 0) {
    const pkgs = HOST_HEADERS.filter((h) => f.missingHeaders.includes(h.header)).map((h) => h.pkg);
    return `${url}: the build host's gcc finds no ${f.missingHeaders.join(', ')}, which the kernel's host tools include: install ${pkgs.join(' ')} there`;
  }
  if (f.availBytes < 0) return `${url}: df on the build host said nothing about the space under ~/${HOST_CACHE}: check that the directory can be made there`;
  if (f.availBytes < needBytes) return `${url}: the build host has ${gib(f.availBytes)} free under ~/${HOST_CACHE} and the tree and build need ${gib(needBytes)}: free space there`;
  return undefined;
}
