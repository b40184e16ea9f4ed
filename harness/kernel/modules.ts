/**
 * Loadable modules of a Debian kernel for the initramfs: Debian builds virtio_net, 9p and vsock
 * as modules, so a guest that needs networking gets them from the kernel's own package. The
 * package is fetched through the private apt (apt.ts) once; only the modules asked for and
 * what they depend on are kept, uncompressed, beside the kernel in its cache entry
 * (<entry>/modules/), with the order to load them in.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { DEBIAN_KEYRING, discoverDebianMirror, privateAptFor } from '../host/apt.js';
import { SetupError } from '../util/errors.js';
import { withTempDir } from '../util/temp-dir.js';

/** A module name as the kernel knows it: dashes and underscores are the same. */
export function moduleName(fileOrName: string): string {
  return basename(fileOrName).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/**
 * The `depends=` field of a module's .modinfo section (modpost writes the modules whose
 * symbols it uses there; depmod's modules.dep says the same, and Debian's packages ship no
 * modules.dep: depmod runs when the package is installed).
 */
export function modinfoDepends(ko: Buffer): string[] {
  const text = ko.toString('latin1');
  const m = /\0depends=([^\0]*)\0/.exec(text) ?? /^depends=([^\0]*)\0/.exec(text);
  if (!m) return [];
  return m[1]!.split(',').filter(Boolean).map(moduleName);
}

/**
 * The modules to load for `wanted`, dependencies first. `depends` gives a module's direct
 * dependencies; a module that is not there (built in, or in no package) is an error naming it.
 */
export function loadOrder(wanted: readonly string[], depends: (name: string) => string[] | undefined): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string, from: string): void => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new SetupError(`module ${name} depends on itself through ${from}: the package's modules are inconsistent`);
    const deps = depends(name);
    if (deps === undefined) throw new SetupError(`module ${name} (needed by ${from}) is not in the kernel's package`);
    visiting.add(name);
    for (const d of deps) visit(d, name);
    visiting.delete(name);
    order.push(name);
  };
  for (const w of wanted) visit(moduleName(w), 'the guest');
  return order;
}

export interface GuestModules {
  /** Uncompressed .ko files in the order they must be loaded. */
  files: string[];
  release: string;
}

interface EntryMeta {
  package: string;
  version: string;
  abi: string;
  release: string;
  basePackage?: string;
  /** Debian's architecture, when not amd64 (debian.ts, kernelsDirOf). */
  arch?: string;
}

interface ModulesIndex {
  order: string[];
  from: string;
  release: string;
}

/** The package of a kernel cache entry that holds its modules: 7.x splits them out. */
export function modulesPackageOf(meta: Pick<EntryMeta, 'package' | 'abi' | 'arch'>): string {
  return meta.package.startsWith('linux-binary-') ? `linux-modules-${meta.abi}-${meta.arch ?? 'amd64'}` : meta.package;
}

/**
 * The modules `wanted` (and their dependencies) of the Debian kernel whose vmlinuz is
 * `bzImage` (a debian:<series> cache entry), downloading its modules package the first time.
 */
export async function debianKernelModules(bzImage: string, wanted: readonly string[], opts: { mirror?: string; log: (line: string) => void }): Promise<GuestModules> {
  const entry = dirname(bzImage);
  const metaPath = join(entry, 'meta.json');
  if (!existsSync(metaPath)) throw new SetupError(`${bzImage} is not a debian:<series> kernel of the cache: its modules can only come from Debian's package`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as EntryMeta;
  const dir = join(entry, 'modules');
  const indexPath = join(dir, 'modules.json');
  const have = existsSync(indexPath) ? (JSON.parse(readFileSync(indexPath, 'utf8')) as ModulesIndex) : undefined;
  const names = wanted.map(moduleName);
  if (have && names.every((n) => have.order.includes(n))) return pick(dir, have, names);

  const pkg = modulesPackageOf(meta);
  const mirror = opts.mirror ?? discoverDebianMirror();
  if (mirror === undefined) throw new SetupError(`the guest needs ${names.join(', ')} from ${pkg}, and there is no Debian mirror in the system apt sources: pass --mirror <URL of a Debian mirror>`);
  if (!existsSync(DEBIAN_KEYRING)) throw new SetupError(`${pkg}: ${DEBIAN_KEYRING} is missing: install the package debian-archive-keyring`);
  const apt = privateAptFor(meta.arch ?? 'amd64', mirror);
  await apt.prepare();
  return withTempDir(dirname(entry), '.tmp-modules-', async (tmp) => {
    opts.log(`downloading ${pkg} ${meta.version} for the guest's modules (${names.join(', ')})`);
    const t0 = Date.now();
    const { root: x } = await apt.downloadUnpacked([{ pkg, version: meta.version }], tmp);
    const files = indexModules(x, meta.release);
    const loaded = new Map<string, Buffer>();
    const read = async (name: string): Promise<Buffer | undefined> => {
      const file = files.get(name);
      if (!file) return undefined;
      if (!loaded.has(name)) loaded.set(name, await decompress(file));
      return loaded.get(name);
    };
    // loadOrder is synchronous: read the closure first, then order it.
    const pending = [...new Set([...(have?.order ?? []), ...names])];
    for (let i = 0; i < pending.length; i++) {
      const ko = await read(pending[i]!);
      for (const d of ko ? modinfoDepends(ko) : []) if (!pending.includes(d)) pending.push(d);
    }
    const order = loadOrder(pending, (n) => {
      const ko = loaded.get(n);
      return ko ? modinfoDepends(ko) : undefined;
    });
    const stage = join(tmp, 'modules');
    mkdirSync(stage);
    for (const n of order) writeFileSync(join(stage, `${n}.ko`), loaded.get(n)!);
    const index: ModulesIndex = { order, from: `${pkg} ${meta.version}`, release: meta.release };
    writeFileSync(join(stage, 'modules.json'), `${JSON.stringify(index, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(stage, dir);
    opts.log(`kept ${order.length} modules (${order.join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return pick(dir, index, names);
  });
}

/** The closure of `names` within the stored order (a cache entry may hold more modules). */
function pick(dir: string, index: ModulesIndex, names: readonly string[]): GuestModules {
  const deps = new Map(index.order.map((n) => [n, modinfoDepends(readFileSync(join(dir, `${n}.ko`)))]));
  const order = loadOrder(names, (n) => deps.get(n));
  return { files: order.map((n) => join(dir, `${n}.ko`)), release: index.release };
}

/** Every .ko[.xz|.zst|.gz] under <root>/{usr/,}lib/modules/<release>/, by module name. */
function indexModules(root: string, release: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) out.set(moduleName(e.name), p);
    }
  };
  for (const base of ['usr/lib/modules', 'lib/modules']) {
    const d = join(root, base, release);
    if (existsSync(d)) walk(d);
  }
  if (out.size === 0) throw new SetupError(`the kernel's package holds no modules under lib/modules/${release}: report this`);
  return out;
}

/** Uncompressed bytes: busybox's insmod need not know the compression. */
async function decompress(file: string): Promise<Buffer> {
  const tool = file.endsWith('.xz') ? ['xz', '-dc'] : file.endsWith('.zst') ? ['zstd', '-dcq'] : file.endsWith('.gz') ? ['gzip', '-dc'] : undefined;
  if (!tool) return readFileSync(file);
  const r = await execa(tool[0]!, [...tool.slice(1), file], { encoding: 'buffer', timeout: 60_000, reject: false, stdin: 'ignore' });
  if (r.failed) throw new SetupError(`${tool.join(' ')} ${basename(file)} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): install ${tool[0] === 'xz' ? 'xz-utils' : tool[0]}`);
  return Buffer.from(r.stdout);
}
