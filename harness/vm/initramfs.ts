/**
 * The guest's root filesystem: a gzip'd cpio "newc" archive written here, so the harness
 * needs no cpio binary and the image is byte-for-byte reproducible (fixed mtimes, sorted
 * entries), which is what makes caching it by content hash sound.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash: 'bin/busybox'. */
  path: string;
  /** 'file' with data, 'dir', 'symlink' whose data is the link target, or a char device. */
  type: 'file' | 'dir' | 'symlink' | 'chardev';
  mode: number;
  data?: Buffer;
  /** Device numbers of a 'chardev'. */
  rdev?: { major: number; minor: number };
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, chardev: 0o020000 } as const;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/** One newc record: 110-byte ASCII header, NUL-terminated name, data, each padded to 4 bytes. */
function newcRecord(ino: number, name: string, mode: number, data: Buffer, rdev = { major: 0, minor: 0 }): Buffer {
  const nameBytes = Buffer.from(name + '\0');
  const fields = [
    ino, mode, 0 /* uid */, 0 /* gid */, 1 /* nlink */, 0 /* mtime: fixed for reproducibility */,
    data.length, 0, 0 /* dev major/minor */, rdev.major, rdev.minor, nameBytes.length, 0 /* check */,
  ];
  const header = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  const head = Buffer.concat([header, nameBytes]);
  return Buffer.concat([head, pad4(head.length), data, pad4(data.length)]);
}

/** Writes entries (sorted, parents first) and the TRAILER!!! record. */
export function writeNewc(entries: readonly CpioEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts = sorted.map((e, i) => {
    const data = e.type === 'dir' || e.type === 'chardev' ? Buffer.alloc(0) : (e.data ?? Buffer.alloc(0));
    return newcRecord(i + 1, e.path, TYPE_BITS[e.type] | (e.mode & 0o7777), data, e.rdev);
  });
  parts.push(newcRecord(0, 'TRAILER!!!', 0, Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** Parses a newc archive back into entries; used by tests and to verify what was written. */
export function readNewc(archive: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    const magic = archive.toString('ascii', off, off + 6);
    if (magic !== '070701') throw new Error(`bad cpio magic at offset ${off}: ${JSON.stringify(magic)}`);
    const field = (i: number): number => parseInt(archive.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const fileSize = field(6);
    const nameSize = field(11);
    const rdev = { major: field(9), minor: field(10) };
    const nameStart = off + 110;
    const name = archive.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + ((4 - ((110 + nameSize) % 4)) % 4);
    const data = archive.subarray(dataStart, dataStart + fileSize);
    off = dataStart + fileSize + ((4 - (fileSize % 4)) % 4);
    if (name === 'TRAILER!!!') return entries;
    const kind = mode & 0o170000;
    const type = kind === TYPE_BITS.dir ? 'dir' : kind === TYPE_BITS.symlink ? 'symlink' : kind === TYPE_BITS.chardev ? 'chardev' : 'file';
    const entry: CpioEntry = { path: name, type, mode: mode & 0o7777, data: Buffer.from(data) };
    if (type === 'chardev') entry.rdev = rdev;
    entries.push(entry);
  }
}

/** Adds every missing parent directory of the entries' paths. */
export function withParentDirs(entries: readonly CpioEntry[]): CpioEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const out = [...entries];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ path: dir, type: 'dir', mode: 0o755 });
      }
    }
  }
  return out;
}

/**
 * Builds (or reuses) the gzip'd initramfs for these entries under cacheRoot, named by the
 * hash of the archive's content, and returns its path.
 */
export function cachedInitramfs(entries: readonly CpioEntry[], cacheRoot: string): { path: string; hash: string; reused: boolean } {
  const cpio = writeNewc(withParentDirs(entries));
  const hash = createHash('sha256').update(cpio).digest('hex').slice(0, 16);
  mkdirSync(cacheRoot, { recursive: true });
  const path = join(cacheRoot, `initramfs-${hash}.cpio.gz`);
  if (existsSync(path)) return { path, hash, reused: true };
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, gzipSync(cpio, { level: 6 }));
  renameSync(tmp, path);
  return { path, hash, reused: false };
}

/** Reads a host file into an entry. */
export function fileEntry(path: string, hostPath: string, mode = 0o755): CpioEntry {
  return { path, type: 'file', mode, data: readFileSync(hostPath) };
}
