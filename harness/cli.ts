#!/usr/bin/env node
/**
 * bpf-harness: the command line, a list of the commands in harness/commands/. Exit 0 when
 * nothing lingered, 1 when something did or the kernel complained (or the guest died), 2 for
 * usage and setup errors (commands/fail.ts).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { bisectCommand, bisectStepCommand } from './commands/bisect.js';
import type { Registration } from './commands/command.js';
import { compareCommand } from './commands/compare.js';
import { failParse } from './commands/fail.js';
import { kernelCommand } from './commands/kernel.js';
import { selftestsCommand } from './commands/selftests.js';
import { shellCommand } from './commands/shell.js';
import { trendCommand } from './commands/trend.js';
import { vmTestCommand } from './commands/vm-test.js';

/** In the order --help lists them. */
const COMMANDS: readonly Registration[] = [vmTestCommand, compareCommand, kernelCommand, selftestsCommand, bisectCommand, bisectStepCommand, shellCommand, trendCommand];

const cli = COMMANDS.reduce(
  (y, register) => register(y),
  yargs(hideBin(process.argv))
    .scriptName('bpf-harness')
    // Numbers stay as typed until their option's coerce checks them (util/whole-number.ts), so
    // "--seed 0x10" is refused instead of becoming 16.
    .parserConfiguration({ 'parse-numbers': false })
    .usage('$0 <command> [options]'),
);

await cli
  .demandCommand(1, 'name a command, e.g. vm-test')
  .strict()
  .fail(failParse)
  .help()
  .parseAsync();
