/**
 * The stamp a finished kernel build leaves in its output directory (bpfh-build.json), and the
 * output directory a tree builds into by default: whether a build is up to date is its key.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { cacheDir } from '../util/paths.js';
import { sha256, type BuildKeyInputs } from './build-key.js';

/** What a finished build leaves in its output directory (bpfh-build.json). */
export interface BuildStamp {
  key: string;
  tree: string;
  source: string;
  options: { debug: boolean; patches: string[]; config?: string; selftests?: boolean };
  inputs: BuildKeyInputs;
  finishedAt: string;
  buildMs: number;
  /** The --build-host make ran on (the key is the same as a local build's with the same tools). */
  buildHost?: string;
}


export const STAMP = 'bpfh-build.json';

export function defaultOutDir(tree: string, patched: boolean, selftests = false): string {
  const abs = resolve(tree);
  const flavor = `${patched ? '-patched' : ''}${selftests ? '-selftests' : ''}`;
  return join(cacheDir(), 'builds', `${basename(abs).replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256(abs).slice(0, 10)}${flavor}`);
}


export function readStamp(outDir: string): BuildStamp | undefined {
  try {
    return JSON.parse(readFileSync(join(outDir, STAMP), 'utf8')) as BuildStamp;
  } catch {
    return undefined;
  }
}

/** Written last, through a rename: a stamp is there only once the whole build is. */
export function writeStamp(outDir: string, stamp: BuildStamp): void {
  writeFileSync(join(outDir, `${STAMP}.tmp`), `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(join(outDir, `${STAMP}.tmp`), join(outDir, STAMP));
}
