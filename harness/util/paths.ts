import { homedir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: dist/harness/util/paths.js sits three levels below it. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Per-user cache: downloaded kernels, initramfs images, the KVM probe verdict. */
export function cacheDir(): string {
  const base = process.env.BPF_HARNESS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bpf-storage-harness');
  return base;
}

export const bpfBuildDir = join(projectRoot, 'bpf', 'build');
export const vmDir = join(projectRoot, 'vm');
/** Where runs are written: results/ of the project, or BPF_HARNESS_RESULTS (the nightly job keeps each night's runs together). */
export const resultsRoot = process.env.BPF_HARNESS_RESULTS ? resolve(process.env.BPF_HARNESS_RESULTS) : join(projectRoot, 'results');
