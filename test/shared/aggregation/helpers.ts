import { seededRng } from '../../../shared/random.js';
import type { ClientUpdate } from '../../../shared/aggregation/types.js';

/** Updates from plain arrays: client ids c0, c1, ... and one example each unless given. */
export function updates(deltas: number[][], numExamples?: number[]): ClientUpdate[] {
  return deltas.map((d, i) => ({ clientId: `c${i}`, delta: Float32Array.from(d), numExamples: numExamples?.[i] ?? 1 }));
}

/** `count` honest updates with every coordinate uniform in [0.4, 0.6], then `outliers` at 1e6. */
export function honestPlusOutliers(count: number, outliers: number, length = 8, seed = 7): ClientUpdate[] {
  const rng = seededRng(seed);
  const honest = Array.from({ length: count }, () => Array.from({ length }, () => 0.4 + 0.2 * rng()));
  const bad = Array.from({ length: outliers }, () => new Array<number>(length).fill(1e6));
  return updates([...honest, ...bad]);
}

export function expectWithin(values: Float32Array, lo: number, hi: number): void {
  for (const v of values) {
    if (!(v >= lo && v <= hi)) throw new Error(`value ${v} is outside [${lo}, ${hi}]`);
  }
}
