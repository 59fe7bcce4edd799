/**
 * `npm run bench:secagg:words`: bytes each client sends in one SecAgg+ round (every message: keys,
 * shares, masked input, consistency signature, unmasking shares) with 32-bit words and with the
 * 16-bit words of int8 compression, for n = 10, 100 and 1,000 clients and the seed CNN's update
 * (121,930 parameters + 2 metric slots). Rounds run in memory (test/shared/secagg/driver.ts) with
 * a short vector, since only the masked input's size depends on the vector length, and that size
 * is exact: the table adds the seed CNN's masked input (4 or 2 bytes per value, plus the 4-byte
 * weight word) to the measured bytes of everything else.
 */
import { maskedInputBytes, wordBitsFor, type EncodingParams } from '../shared/secagg/encoding.js';
import { runSecAgg } from '../test/shared/secagg/driver.js';

const SEED_CNN_VALUES = 121_930 + 2;
const SHORT = 64;
const CLIP = 1;
const MAX_WEIGHT = 1000;

async function bytesPerClient(n: number, wordBits: 16 | 32): Promise<{ bytes: number; k: number }> {
  const run = await runSecAgg({
    clients: n,
    vectorLength: SHORT,
    clip: CLIP,
    maxWeight: MAX_WEIGHT,
    ...(wordBits === 16 ? { wordBits: 16 as const } : {}),
    update: () => ({ delta: new Float32Array(SHORT).fill(0.01), numExamples: 100 }),
  });
  if (run.outcome.kind !== 'done') throw new Error(`n=${n}, ${wordBits}-bit words: the round aborted: ${run.outcome.reason}`);
  const p: EncodingParams = { clip: CLIP, maxWeight: MAX_WEIGHT, maxClients: n, wordBits };
  const measured = [...run.clientBytes.values()].reduce((a, b) => a + b, 0) / n;
  return { bytes: measured - maskedInputBytes(SHORT, p) + maskedInputBytes(SEED_CNN_VALUES, p), k: run.setup.k };
}

const rows: string[][] = [];
for (const n of [10, 100, 1000]) {
  const started = performance.now();
  const wide = await bytesPerClient(n, 32);
  const narrow = await bytesPerClient(n, wordBitsFor(n));
  const levels = Math.floor((2 ** 15 - 1) / n) - 1;
  rows.push([
    String(n),
    String(wide.k),
    `${(wide.bytes / 1024).toFixed(1)} KiB`,
    `${(narrow.bytes / 1024).toFixed(1)} KiB`,
    `${(narrow.bytes / wide.bytes).toFixed(3)}x`,
    `${levels}`,
    `${(CLIP / levels).toExponential(2)}`,
  ]);
  process.stderr.write(`n=${n} done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
}
const head = ['n', 'k', 'bytes / client, 32-bit words', 'int8: 16-bit words', 'ratio', 'levels per client (each side)', 'error bound, clip 1, equal weights'];
console.log([`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n'));
