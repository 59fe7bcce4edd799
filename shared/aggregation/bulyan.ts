import { deltasOf, medianOfSorted, reduceSortedColumns } from './columns.js';
import { krumScores, pairwiseSquaredDistances, rankByScore } from './krum.js';
import type { Aggregator, ClientUpdate } from './types.js';
import { assertValidUpdates } from './validate.js';

/**
 * Mean of the `count` values of a sorted column closest to its median. They form a contiguous
 * window, found by dropping whichever end is farther from the median (the upper end on a tie).
 */
function meanAroundMedian(sorted: Float64Array, count: number): number {
  const med = medianOfSorted(sorted);
  let lo = 0;
  let hi = sorted.length;
  while (hi - lo > count) {
    if (med - sorted[lo] > sorted[hi - 1] - med) lo++;
    else hi--;
  }
  let sum = 0;
  for (let k = lo; k < hi; k++) sum += sorted[k];
  return sum / count;
}

/**
 * Bulyan (El Mhamdi et al. 2018), as in Flower: pick theta = n - 2f updates by applying Krum
 * repeatedly to those not yet picked, then per coordinate average the theta - 2f picked values
 * closest to their median. Needs n >= 4f + 3. Unweighted.
 */
export class Bulyan implements Aggregator {
  readonly name = 'bulyan';
  readonly linear = false;

  constructor(readonly byzantine = 0) {
    if (!Number.isInteger(byzantine) || byzantine < 0) {
      throw new Error(`Bulyan's number of Byzantine clients must be a non-negative integer, got ${byzantine}`);
    }
  }

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const m = assertValidUpdates(updates);
    const n = updates.length;
    const f = this.byzantine;
    if (n < 4 * f + 3)
      throw new Error(`Bulyan with ${f} Byzantine clients needs at least ${4 * f + 3} updates (4f + 3), got ${n}`);
    const theta = n - 2 * f;
    const dist = pairwiseSquaredDistances(deltasOf(updates));
    const remaining = Array.from(updates.keys());
    const picked: ClientUpdate[] = [];
    while (picked.length < theta) {
      // Flower's Krum uses at least one neighbour, which the last, small rounds of selection need.
      const neighbours = Math.max(1, remaining.length - f - 2);
      const best = rankByScore(krumScores(dist, n, remaining, neighbours))[0];
      picked.push(updates[remaining[best]]);
      remaining.splice(best, 1);
    }
    return reduceSortedColumns(deltasOf(picked), m, (sorted) => meanAroundMedian(sorted, theta - 2 * f));
  }
}
