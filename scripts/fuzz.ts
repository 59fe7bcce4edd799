/**
 * Fuzzes a running coordinator (see fuzz-core.ts) and prints one summary line.
 *
 *   npm run fuzz                         # 10,000 cases
 *   npm run fuzz -- --count 200000 --seed 7
 */
import { parseArgs } from 'node:util';
import { runFuzz, summaryLine } from './fuzz-core.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '10000' }, seed: { type: 'string' } } });
const count = Number(values.count);
if (!Number.isSafeInteger(count) || count < 1)
  throw new Error(`--count must be a positive integer, got ${values.count}`);
const seed = values.seed === undefined ? undefined : Number(values.seed);
const summary = await runFuzz({ count, ...(seed !== undefined ? { seed } : {}), log: (line) => console.error(line) });
for (const f of summary.findings) console.error(`finding: ${f}`);
console.log(summaryLine(summary));
const failed = summary.crashes + summary.fiveXX + summary.nonJson4xx + summary.hangs > 0 || summary.roundsCommitted < 1;
process.exit(failed ? 1 : 0);
