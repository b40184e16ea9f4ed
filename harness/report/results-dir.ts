/**
 * One directory per run under results/, named <YYYYmmdd-HHMMSS>-<kernel tag> (UTC), and a
 * relative symlink results/latest pointing at the newest. The report files in it are written
 * synchronously and atomically, because they are written from exit paths too.
 */
import { mkdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderMultiReport, renderRunReport } from './html/run-report.js';
import type { MultiSummary } from '../results/multi-summary.js';
import type { Summary } from '../results/summary.js';
import { summaryToTap } from './tap.js';
import { summaryToJUnit } from './junit.js';
import { stamp } from '../util/stamp.js';

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

function writeAtomic(path: string, make: () => string): boolean {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, make());
    renameSync(tmp, path);
    return true;
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    return false;
  }
}

/**
 * Writes summary.json (2-space JSON), results.tap, junit.xml and report.html (charts, see
 * html/run-report.ts) into the run directory. Never throws, whatever state the Summary is in:
 * each file is attempted on its own.
 */
export function writeRunReport(run: RunDir, s: Summary): void {
  writeAtomic(join(run.dir, 'summary.json'), () => JSON.stringify(s, null, 2) + '\n');
  writeAtomic(join(run.dir, 'results.tap'), () => summaryToTap(s));
  writeAtomic(join(run.dir, 'junit.xml'), () => summaryToJUnit(s));
  writeAtomic(join(run.dir, 'report.html'), () => renderRunReport(s));
}

/** report.html of a multi-kernel run (the kernels side by side); never throws. */
export function writeMultiReport(dir: string, m: MultiSummary): boolean {
  return writeAtomic(join(dir, 'report.html'), () => renderMultiReport(m));
}
