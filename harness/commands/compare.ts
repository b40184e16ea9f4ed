/**
 * `bpf-harness compare A B`: what changed from run A to run B (run/compare.ts); exit 1 on a
 * regression.
 */
import { compareCommand as compareRunsCommand } from '../run/compare.js';
import { defineCommand } from './command.js';
import { outputOptions } from './options.js';

export const compareCommand = defineCommand({
  command: 'compare <a> <b>',
  describe: 'what changed from run A to run B (results directories or summary.json files); exit 1 on a regression',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true, describe: 'the earlier (reference) run' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the later run' })
      .option('json', outputOptions.json('print the comparison as JSON')),
  run: (a) => compareRunsCommand({ a: a.a, b: a.b, json: a.json }),
});
