/**
 * One directory per run under results/, named <YYYYmmdd-HHMMSS>-<kernel tag> (UTC), and a
 * relative symlink results/latest pointing at the newest. The report files in it are written
 * synchronously and atomically, because they are written from exit paths too.
 */
import { mkdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MultiSummary } from '../results/multi-summary.js';
import type { Summary } from '../results/summary.js';
import { stamp } from '../util/stamp.js';
import { fileReporters, MULTI_REPORTERS, RUN_REPORTERS, type Reporter } from './reporters.js';

export interface RunDir {
  dir: string;
  name: string;
}

/** Keeps [A-Za-z0-9._-], turns every other run of characters into "_", at most 64 characters. */
export function sanitiseTag(tag: string): string {
  const s = tag.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 64).replace(/_+$/, '');
  return s || 'kernel';
}

export function createRunDir(resultsRoot: string, kernelTag: string, now: Date = new Date()): RunDir {
  mkdirSync(resultsRoot, { recursive: true });
  const base = `${stamp(now)}-${sanitiseTag(kernelTag)}`;
  let name = base;
  for (let n = 2; ; n++) {
    try {
      mkdirSync(join(resultsRoot, name));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      name = `${base}-${n}`;
    }
  }
  updateLatest(resultsRoot, name);
  return { dir: join(resultsRoot, name), name };
}

/** results/latest -> name, replaced atomically (symlink under a temporary name, then rename over). */
function updateLatest(resultsRoot: string, name: string): void {
  const tmp = join(resultsRoot, `.latest.tmp-${process.pid}-${Date.now()}`);
  try {
    symlinkSync(name, tmp);
    renameSync(tmp, join(resultsRoot, 'latest'));
  } catch {
    // A results/latest that is a real directory, or a file system without symlinks: the run
    // itself must not fail for a convenience link.
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
  }
}

/** Writes `path` whole or not at all; a file that could not be written is a warning on stderr naming it and why. */
function writeAtomic(path: string, make: () => string): boolean {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, make());
    renameSync(tmp, path);
    return true;
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(`bpf-harness: warning: ${path} could not be written: ${why}\n`);
    return false;
  }
}

/** Every reporter's file of `list` into `dir`, each attempted on its own; false when one was not written. */
function writeReports<S>(dir: string, list: Record<string, Reporter<S>>, s: S): boolean {
  return fileReporters(list).map((r) => writeAtomic(join(dir, r.file), () => r.render(s, { color: false }))).every(Boolean);
}

/**
 * Writes the files of the run reporters (reporters.ts: summary.json, results.tap, junit.xml,
 * report.html) into the run directory. Never throws, whatever state the Summary is in: each
 * file is attempted on its own, and one not written is a warning on stderr.
 */
export function writeRunReport(run: RunDir, s: Summary): void {
  writeReports(run.dir, RUN_REPORTERS, s);
}

/** The files of a multi-kernel run (summary.json, comparison.txt, report.html); never throws, warns as writeRunReport. */
export function writeMultiReport(dir: string, m: MultiSummary): boolean {
  return writeReports(dir, MULTI_REPORTERS, m);
}
