/**
 * A command of the command line: its yargs module, typed by what its builder declares (no
 * casts), with its work run under the one failure handler (fail.ts). cli.ts lists them.
 */
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { exitWith, type ErrorExit } from './fail.js';

export interface CommandSpec<U> {
  /** The command and its positionals, as yargs reads them ("compare <a> <b>"). */
  command: string;
  /** One line for the command list; false hides the command (run by other tools only). */
  describe: string | false;
  builder: (y: Argv) => Argv<U>;
  /** The command's work: its exit code, or an error for the failure handler. */
  run: (args: ArgumentsCamelCase<U>) => number | Promise<number>;
  /** For a command that another tool runs: every error becomes this (fail.ts). */
  errorExit?: ErrorExit;
}

/** Adds a command to the command line. */
export type Registration = (y: Argv) => Argv;

export function defineCommand<U>(spec: CommandSpec<U>): Registration {
  return (y) =>
    y.command({
      command: spec.command,
      describe: spec.describe,
      builder: spec.builder,
      handler: (args) => exitWith(() => spec.run(args), spec.errorExit),
    });
}
