/**
 * virtme-ng (vng), groundwork for a `--backend vng`: find vng on PATH, or run it from Debian's
 * virtme-ng package unpacked into the cache (fetched through the private apt from trixie) with
 * the system's /usr/bin/python3, which on bookworm needs python3-requests and
 * python3-argcomplete (python3-pkg-resources for the entry script). Not wired into vm-test yet.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { PrivateApt, discoverDebianMirror, firstLine, which } from '../kernel/apt.js';
import { compareDebVersions } from '../kernel/debversion.js';
import { SetupError } from '../util/errors.js';
import { cacheDir } from '../util/paths.js';

export interface Vng {
  /** argv prefix that runs vng. */
  argv: string[];
  env: Record<string, string>;
  version: string;
  from: 'path' | 'deb';
}

export const VNG_PYTHON_MODULES = ['requests', 'argcomplete', 'pkg_resources'];

/** The one line for a host without vng. */
export const VNG_MISSING =
  'vng (virtme-ng) is not installed: apt-get install virtme-ng (trixie and later) or pip install virtme-ng; on bookworm the harness can run it from its Debian package: install python3-requests python3-argcomplete python3-pkg-resources';

export function vngFromDeb(root: string): Vng | undefined {
  const vng = join(root, 'usr', 'bin', 'vng');
  const lib = join(root, 'usr', 'lib', 'python3', 'dist-packages');
  if (!existsSync(vng) || !existsSync(lib)) return undefined;
  return { argv: ['/usr/bin/python3', vng], env: { PYTHONPATH: lib }, version: '', from: 'deb' };
}

async function versionOf(v: Vng): Promise<string | undefined> {
  const r = await execa(v.argv[0]!, [...v.argv.slice(1), '--version'], { env: v.env, reject: false, timeout: 30_000, stdin: 'ignore' });
  if (r.failed) return undefined;
  return /virtme-ng\s+(\S+)/.exec(String(r.stdout))?.[1];
}

/** The python modules the system python lacks for the unpacked vng. */
export async function missingPythonModules(): Promise<string[]> {
  const missing: string[] = [];
  for (const m of VNG_PYTHON_MODULES) {
    const r = await execa('/usr/bin/python3', ['-c', `import ${m}`], { reject: false, timeout: 20_000, stdin: 'ignore' });
    if (r.failed) missing.push(m);
  }
  return missing;
}

/** vng on PATH, else the cached unpacked package (downloaded when `fetch`). */
export async function locateVng(opts: { fetch: boolean; mirror?: string; log: (line: string) => void }): Promise<Vng> {
  if (which('vng')) {
    const v: Vng = { argv: ['vng'], env: {}, version: '', from: 'path' };
    const ver = await versionOf(v);
    if (ver) return { ...v, version: ver };
  }
  const dir = join(cacheDir(), 'vng');
  const have = (() => {
    try {
      return readdirSync(dir).filter((n) => !n.startsWith('.')).sort((a, b) => compareDebVersions(b, a));
    } catch {
      return [];
    }
  })();
  let root = have[0] ? join(dir, have[0]) : undefined;
  if (!root) {
    if (!opts.fetch) throw new SetupError(VNG_MISSING);
    root = await fetchVngDeb(dir, opts);
  }
  const missing = await missingPythonModules();
  if (missing.length > 0) throw new SetupError(`the unpacked virtme-ng needs the python modules ${missing.join(', ')}: apt-get install ${missing.map((m) => `python3-${m.replace('_', '-')}`).join(' ')}`);
  const v = vngFromDeb(root);
  const ver = v && (await versionOf(v));
  if (!v || !ver) throw new SetupError(`the unpacked virtme-ng in ${root} does not run: delete it and retry`);
  return { ...v, version: ver };
}

async function fetchVngDeb(dir: string, opts: { mirror?: string; log: (line: string) => void }): Promise<string> {
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (!mirror) throw new SetupError(`${VNG_MISSING} (and no Debian mirror in the system apt sources to fetch it)`);
  const apt = new PrivateApt(join(cacheDir(), 'apt'), mirror);
  await apt.prepare();
  if (!apt.hasLists()) {
    const failure = await apt.update(180_000, opts.log);
    if (failure) throw new SetupError(`${VNG_MISSING} (${failure})`);
  }
  // trixie's: the oldest suite, closest to a bookworm host's python.
  const versions = (await apt.versions(['virtme-ng'])).sort((a, b) => compareDebVersions(a.version, b.version));
  const pick = versions.find((v) => v.suite === 'trixie') ?? versions[0];
  if (!pick) throw new SetupError(`${VNG_MISSING} (no virtme-ng package in the private apt's lists)`);
  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync(join(dir, '.tmp-'));
  try {
    opts.log(`vng: fetching virtme-ng ${pick.version} (${pick.suite}) to run it from its package`);
    await apt.download([{ pkg: 'virtme-ng', version: pick.version }], tmp);
    const deb = readdirSync(tmp).find((n) => n.endsWith('.deb'))!;
    const r = await execa('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'x')], { reject: false, timeout: 120_000, stdin: 'ignore' });
    if (r.failed) throw new SetupError(`dpkg-deb -x ${deb} failed: ${firstLine(r.stderr)}`);
    const final = join(dir, pick.version.replace(/[:~]/g, '-'));
    renameSync(join(tmp, 'x'), final);
    return final;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
