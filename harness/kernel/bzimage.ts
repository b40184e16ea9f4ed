import { openSync, readSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import { SetupError } from '../util/errors.js';

/** What the x86 boot header of a bzImage says about the kernel. */
export interface BzImageInfo {
  /** The kernel_version string, e.g. '7.3-amd64 (debian-kernel@...) #1 SMP PREEMPT_DYNAMIC Debian 7.3~rc7-1~exp1 (...)'. */
  version: string;
  /** Boot protocol version, e.g. '2.15'. */
  protocol: string;
}

/** Offsets in the real-mode setup header (Documentation/arch/x86/boot.rst). */
const OFF_SETUP_SECTS = 0x1f1;
const OFF_BOOT_FLAG = 0x1fe;
const OFF_HEADER = 0x202; // 'HdrS'
const OFF_VERSION = 0x206; // boot protocol, u16: major << 8 | minor
const OFF_KERNEL_VERSION = 0x20e; // u16: offset of the version string, minus 0x200
const OFF_LOADFLAGS = 0x211;
const LOADED_HIGH = 0x01; // set for a bzImage, clear for an old zImage
const HDRS = 0x53726448;

/**
 * The most this reads: the setup area, (setup_sects + 1) * 512 bytes, where the version string
 * lives. setup_sects is one byte, so at most 256 sectors; real kernels use ~40 (20 KiB).
 * Only the header portion is read, never the compressed kernel behind it, so the first 64 KiB
 * of a real bzImage are enough to validate it (the tests rely on that).
 */
const MAX_SETUP_BYTES = 256 * 512;

function notBzImage(path: string, why = 'no HdrS boot header'): SetupError {
  return new SetupError(
    `${path} is not an x86 bzImage (${why}): give a bzImage, a kernel build tree or debian:<series>`,
  );
}

/**
 * Validate `path` as an x86 bzImage by its boot protocol header and read the kernel version
 * string it carries. Reads only the setup header (the first few KiB), so a truncated prefix of a
 * real bzImage passes. Throws SetupError when the file is not a bzImage.
 */
export function readBzImageInfo(path: string): BzImageInfo {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SetupError(`${path} cannot be read (${code ?? String(e)}): give a bzImage, a kernel build tree or debian:<series>`);
  }
  let buf: Buffer;
  try {
    if (!fstatSync(fd).isFile()) throw notBzImage(path, 'not a regular file');
    const first = Buffer.alloc(1024);
    const n = readSync(fd, first, 0, first.length, 0);
    if (n < OFF_LOADFLAGS + 1 || first.readUInt32LE(OFF_HEADER) !== HDRS) {
      const elf = n >= 4 && first.readUInt32BE(0) === 0x7f454c46;
      throw notBzImage(path, elf ? 'no HdrS boot header; it is an ELF file, a vmlinux? use arch/x86/boot/bzImage' : undefined);
    }
    const setupSects = first[OFF_SETUP_SECTS] || 4; // 0 means 4 (boot.rst)
    const setupBytes = Math.min((setupSects + 1) * 512, MAX_SETUP_BYTES);
    buf = Buffer.alloc(setupBytes);
    const got = readSync(fd, buf, 0, setupBytes, 0);
    buf = buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }

  const proto = buf.readUInt16LE(OFF_VERSION);
  const protocol = `${proto >> 8}.${String(proto & 0xff).padStart(2, '0')}`;
  if (proto < 0x0200) throw notBzImage(path, `boot protocol ${protocol} is too old, an ancient zImage`);
  if ((buf[OFF_LOADFLAGS]! & LOADED_HIGH) === 0) throw notBzImage(path, 'a zImage, not loaded high');
  if (buf.readUInt16LE(OFF_BOOT_FLAG) !== 0xaa55) throw notBzImage(path, 'bad boot flag');

  const ptr = buf.readUInt16LE(OFF_KERNEL_VERSION);
  if (ptr === 0) throw notBzImage(path, 'the header has no kernel version string');
  const start = ptr + 0x200;
  if (start >= buf.length) throw notBzImage(path, 'the kernel version string lies outside the setup header (file truncated?)');
  const end = buf.indexOf(0, start);
  const version = buf.subarray(start, end < 0 ? buf.length : end).toString('latin1').trim();
  if (version === '' || !/^\S+/.test(version)) throw notBzImage(path, 'empty kernel version string');
  return { version, protocol };
}

/** The release, as `uname -r` would print it: the first word of the header's version string. */
export function releaseOf(version: string): string {
  return version.split(/\s+/, 1)[0] ?? '';
}

/** An arm64 kernel Image: its magic (Documentation/arch/arm64/booting.rst) and the version banner it carries. */
const ARM64_MAGIC_OFFSET = 0x38;
const ARM64_MAGIC = 0x644d5241; // 'ARM\x64'

/**
 * Validate `path` as an uncompressed arm64 Image (what Debian's arm64 vmlinuz is) and read the
 * version from its `Linux version ...` banner (the Image has no header field for it).
 */
export function readArm64ImageInfo(path: string): BzImageInfo {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new SetupError(`${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (data.length < 64 || data.readUInt32LE(ARM64_MAGIC_OFFSET) !== ARM64_MAGIC) throw new SetupError(`${path} is not an arm64 kernel Image (no ARM\\x64 magic at 0x38): report this`);
  const at = data.indexOf('Linux version ');
  if (at < 0) throw new SetupError(`${path} has no 'Linux version' banner: report this`);
  const end = data.indexOf(0, at);
  const version = data.subarray(at + 'Linux version '.length, end < 0 ? at + 512 : Math.min(end, at + 512)).toString('latin1').trim();
  return { version, protocol: 'arm64' };
}
