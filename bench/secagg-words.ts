/**
 * `npm run bench:secagg:words [-- N,N,...]` (default 10,100,300): bytes each client sends in one
 * SecAgg+ round (every message: keys, shares, masked input, consistency signature, unmasking
 * shares) with the 32-bit words of float32
 * updates and the 16-bit words of int8 compression, for the seed CNN's update (121,930 parameters
 * + 2 metric slots). Rounds run in memory (test/shared/secagg/driver.ts) with 16-bit words and a
 * short vector: only the masked input depends on the vector length and the word width, and its
 * size is exact (2 or 4 bytes per value plus the 4-byte weight word), so each row is the measured
 * bytes of every other message plus the seed CNN's masked input at each width.
 */
import { maskedInputBytes, wordBitsFor, type EncodingParams } from '../shared/secagg/encoding.js';
import { runSecAgg } from '../test/shared/secagg/driver.js';

const SEED_CNN_VALUES = 121_930 + 2;
const SHORT = 64;
const CLIP = 1;
const MAX_WEIGHT = 1000;

/** Mean bytes per client of everything but the masked input, and the round's degree k. */
async function otherBytes(n: number): Promise<{ other: number; k: number; ms: number }> {
  const started = performance.now();
  const run = await runSecAgg({
    clients: n,
    vectorLength: SHORT,
    clip: CLIP,
    maxWeight: MAX_WEIGHT,
    wordBits: 16,
    update: () => ({ delta: new Float32Array(SHORT).fill(0.01), numExamples: 100 }),
  });
  if (run.outcome.kind !== 'done') throw new Error(`n=${n}: the round aborted: ${run.outcome.reason}`);
  const measured = [...run.clientBytes.values()].reduce((a, b) => a + b, 0) / n;
  return { other: measured - maskedInputBytes(SHORT, params(n, 16)), k: run.setup.k, ms: performance.now() - started };
}

function params(n: number, wordBits: 16 | 32): EncodingParams {
  return { clip: CLIP, maxWeight: MAX_WEIGHT, maxClients: n, wordBits };
}

const sizes = (process.argv[2] ?? '10,100,300').split(',').map(Number);
const rows: string[][] = [];
for (const n of sizes) {
  const { other, k, ms } = await otherBytes(n);
  const wide = other + maskedInputBytes(SEED_CNN_VALUES, params(n, 32));
  const narrow = other + maskedInputBytes(SEED_CNN_VALUES, params(n, wordBitsFor(n)));
  const levels = Math.floor((2 ** 15 - 1) / n) - 1;
  rows.push([
    String(n),
    String(k),
    `${(other / 1024).toFixed(1)} KiB`,
    `${(wide / 1024).toFixed(1)} KiB`,
    `${(narrow / 1024).toFixed(1)} KiB`,
    `${(narrow / wide).toFixed(3)}x`,
    String(levels),
    (CLIP / levels).toExponential(2),
  ]);
  process.stderr.write(`n=${n}: ${(ms / 1000).toFixed(0)} s\n`);
}
const head = [
  'n',
  'k',
  'other messages / client',
  'bytes / client, 32-bit words',
  'int8: 16-bit words',
  'ratio',
  'levels per client (each side)',
  'error bound, clip 1, equal weights',
];
console.log(
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  ),
);
