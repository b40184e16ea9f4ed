/**
 * Reads what `compare` is given: a results directory or a summary.json, of one kernel or of a
 * multi-kernel run. Anything else is a SetupError (exit 2) whose one line names the fix.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../util/errors.js';
import { isMultiSummary, type MultiSummary } from '../results/multi-summary.js';
import type { Summary } from '../results/summary.js';

export type LoadedSummary = { kind: 'single'; path: string; summary: Summary } | { kind: 'multi'; path: string; multi: MultiSummary };

function summaryPath(arg: string): string {
  let st;
  try {
    st = statSync(arg);
  } catch {
    throw new SetupError(`${arg}: no such results directory or summary.json; give a directory under results/ (e.g. results/latest) or its summary.json`);
  }
  return st.isDirectory() ? join(arg, 'summary.json') : arg;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SetupError(`${path}: cannot be read; give a results directory that holds a summary.json (a run interrupted before its kernel booted has none)`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SetupError(`${path}: not valid JSON; give the summary.json that vm-test wrote`);
  }
}

export function loadSummary(arg: string): LoadedSummary {
  const path = summaryPath(arg);
  const data = readJson(path);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new SetupError(`${path}: not a bpf-harness summary; give the summary.json that vm-test wrote`);
  const version = (data as { version?: unknown }).version;
  if (version !== 1) {
    throw new SetupError(`${path}: summary version ${JSON.stringify(version)}, this bpf-harness reads version 1; compare it with the bpf-harness that wrote it, or re-run vm-test`);
  }
  if (isMultiSummary(data)) {
    if (!Array.isArray(data.runs)) throw new SetupError(`${path}: multi-kernel summary without runs; re-run vm-test --kernels`);
    return { kind: 'multi', path, multi: data };
  }
  const s = data as Partial<Summary>;
  if (!Array.isArray(s.scenarios) || typeof s.kernel !== 'object' || s.kernel === null) {
    throw new SetupError(`${path}: not a bpf-harness summary (no kernel or scenarios); give the summary.json that vm-test wrote`);
  }
  return { kind: 'single', path, summary: data as Summary };
}
