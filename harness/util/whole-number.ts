/**
 * Numeric command-line options: every one is a whole number in a stated range, checked while the
 * command line is parsed, before anything is downloaded, built or booted. A bad value is a
 * SetupError (exit 2) whose one line names the option, the value as typed and the range.
 */
import { SetupError } from './errors.js';

export interface WholeNumberRange {
  min: number;
  max: number;
  /** What the number counts, for the error line: "seconds", "MiB", "guest CPUs". */
  unit: string;
}

function wanted(range: WholeNumberRange): string {
  return `a whole number from ${range.min} to ${range.max}${range.unit ? ` (${range.unit})` : ''}`;
}

/** The one line a bad value gets. */
export function rangeMessage(flag: string, typed: string, range: WholeNumberRange): string {
  return `${flag}${flag.endsWith('=') ? '' : ' '}${typed}: give ${wanted(range)}`;
}

/**
 * The value of `flag` as a number in `range`, or a SetupError. Accepts what the shell gives
 * (a string) and what yargs already parsed (a number, or its default); rejects an option given
 * twice, a missing value, fractions, exponents and hex, so that what the user typed is what runs.
 */
export function wholeNumber(flag: string, raw: unknown, range: WholeNumberRange): number {
  if (Array.isArray(raw)) throw new SetupError(`${flag} was given ${raw.length} times: give it once, ${wanted(range)}`);
  const typed = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : '';
  if (typed === '' || typeof raw === 'boolean') throw new SetupError(`${flag} needs a value: ${wanted(range)}`);
  if (!/^-?\d+$/.test(typed)) throw new SetupError(rangeMessage(flag, typed, range));
  const n = Number(typed);
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) throw new SetupError(rangeMessage(flag, typed, range));
  return n;
}

/**
 * A yargs `coerce` for `flag` (spelled as the user types it, e.g. "--cpus"). yargs reports what
 * a coerce function throws through the CLI's fail handler, so the SetupError's exit 2 holds.
 */
export function wholeNumberOption(flag: string, range: WholeNumberRange): (raw: unknown) => number {
  return (raw) => wholeNumber(flag, raw, range);
}

/** The ranges the commands share, so `--boot-deadline` means the same in vm-test, selftests and bisect. */
export const RANGES = {
  /** The race seed: the agent takes 64 bits; 32 keep repeat lines short and JSON-exact. */
  seed: { min: 0, max: 2 ** 32 - 1, unit: '' },
  /** QEMU's q35 machine takes up to 288 vCPUs under TCG; the race threads are capped at 64, and more vCPUs than that test nothing new. */
  cpus: { min: 1, max: 64, unit: 'guest CPUs' },
  /** The default is 2048; 512 is a floor far below what any scenario was sized for, not a measured minimum. */
  memoryMiB: { min: 512, max: 262_144, unit: 'MiB' },
  bootDeadlineS: { min: 1, max: 86_400, unit: 'seconds' },
  settleDeadlineS: { min: 1, max: 3_600, unit: 'seconds' },
  runnerDeadlineMin: { min: 1, max: 1_440, unit: 'minutes' },
  buildDeadlineMin: { min: 1, max: 10_080, unit: 'minutes' },
  jobs: { min: 1, max: 1_024, unit: 'make jobs' },
  retries: { min: 0, max: 100, unit: 're-runs' },
} as const satisfies Record<string, WholeNumberRange>;

/**
 * A yargs option of a whole number in `range`: a value is required, and what the user typed is
 * checked by its coerce (the CLI parses with parse-numbers off, so the text arrives as typed).
 */
export function numberOption<E extends { describe: string; default?: number; hidden?: boolean }>(
  flag: string,
  range: WholeNumberRange,
  extra: E,
): E & { requiresArg: true; coerce: (raw: unknown) => number } {
  return { ...extra, requiresArg: true, coerce: wholeNumberOption(flag, range) };
}
