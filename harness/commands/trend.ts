/**
 * `bpf-harness trend DIR...`: trend.html from nightly summaries (run/trend.ts).
 */
import { TREND_NIGHTS, writeTrend } from '../run/trend.js';
import { numberOption } from '../util/whole-number.js';
import { defineCommand } from './command.js';

export const trendCommand = defineCommand({
  command: 'trend <dirs..>',
  describe: 'trend.html from nightly results: settle time, residue and race rate per scenario across nights, regressions marked',
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, describe: 'nightly results directories (results/nightly-<time>), summary.json files, or a directory holding nights (results/)' })
      .option('out', { type: 'string', describe: 'where to write the page (default: trend.html in the first DIR)' })
      .option('last', numberOption('--last', TREND_NIGHTS, { default: 60, describe: `only the newest N nights, ${TREND_NIGHTS.min}-${TREND_NIGHTS.max}` })),
  run: (a) => {
    const { path, nights } = writeTrend({ dirs: a.dirs ?? [], out: a.out, last: a.last });
    process.stdout.write(`trend of ${nights.length} night${nights.length === 1 ? '' : 's'}: ${path}\n`);
    return 0;
  },
});
