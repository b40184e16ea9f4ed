/**
 * Errors the user can act on. The CLI prints `message` as one line and exits with `exitCode`:
 * 2 for usage and setup problems (the message names the fix), 1 is reserved for verdicts.
 */
export class HarnessError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'HarnessError';
    this.exitCode = exitCode;
  }
}

/** A setup or usage problem: bad input, missing tool, unusable kernel. Exit code 2. */
export class SetupError extends HarnessError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'SetupError';
  }
}

/** The guest died or went silent: panic, oops, deadline. Carries the console tail. */
export class GuestError extends HarnessError {
  readonly consoleTail: string;
  constructor(message: string, consoleTail: string) {
    super(message, 1);
    this.name = 'GuestError';
    this.consoleTail = consoleTail;
  }
}
