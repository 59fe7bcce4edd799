/**
 * `npm run chaos -- [--kills N] [--seed S] [--max-delay MS]`: SIGKILLs a real coordinator N times
 * (see chaos/run-chaos.ts) and prints one summary line; exits 1 when anything was lost.
 * `npm run chaos -- --cluster [...]`: SIGKILLs the leader of a 3-node cluster instead (chaos/run-cluster-chaos.ts).
 */
import { parseArgs } from 'node:util';
import { setupBackend } from '../shared/engine/backend.js';
import { runChaos, summaryLine } from './chaos/run-chaos.js';
import { clusterSummaryLine, runClusterChaos } from './chaos/run-cluster-chaos.js';

function positiveInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${text}'`);
  return n;
}

const { values } = parseArgs({
  options: {
    kills: { type: 'string' },
    seed: { type: 'string' },
    'max-delay': { type: 'string' },
    cluster: { type: 'boolean', default: false },
  },
});
const kills = positiveInt('kills', values.kills, 10);
const seed = positiveInt('seed', values.seed, 1);
const maxDelayMs = positiveInt('max-delay', values['max-delay'], 4000);

await setupBackend('wasm', { log: () => undefined });
if (values.cluster) {
  const summary = await runClusterChaos({ kills, seed, maxDelayMs, log: (line) => console.log(line) });
  console.log(clusterSummaryLine(summary));
  const clean =
    summary.lostRounds === 0 &&
    summary.doubleCommits === 0 &&
    summary.lostRecords === 0 &&
    summary.tokenRegressions === 0;
  process.exit(clean ? 0 : 1);
}
const started = Date.now();
const summary = await runChaos({ kills, seed, maxDelayMs, log: (line) => console.log(line) });
const restarts = summary.restartMs;
console.log(
  `chaos: ${((Date.now() - started) / 1000).toFixed(0)} s, restart to listening: median ${restarts.sort((a, b) => a - b)[restarts.length >> 1]} ms, ` +
    `max ${restarts.at(-1)} ms; epsilon spent ${summary.finalEpsilon.toFixed(3)} (seed ${seed})`,
);
console.log(summaryLine(summary));
const clean =
  summary.lostRounds === 0 &&
  summary.lostRecords === 0 &&
  summary.corruptLoads === 0 &&
  summary.ledgerMonotone &&
  summary.wrongServed === 0 &&
  summary.roundRegressions === 0;
process.exit(clean ? 0 : 1);
