import { deltasOf, reduceSortedColumns } from './columns.js';
import type { Aggregator, ClientUpdate } from './types.js';
import { assertValidUpdates } from './validate.js';

/** Flower's FedTrimmedAvg default. */
export const TRIMMED_MEAN_DEFAULT_BETA = 0.2;

/**
 * Coordinate-wise trimmed mean (Flower's FedTrimmedAvg; Yin et al. 2018): per coordinate, drop
 * the floor(beta * n) smallest and largest values and average the rest, unweighted. Same cut as
 * scipy's trim_mean, which Flower uses.
 */
export class TrimmedMean implements Aggregator {
  readonly name = 'trimmed-mean';
  readonly linear = false;

  constructor(readonly beta = TRIMMED_MEAN_DEFAULT_BETA) {
    if (!(beta >= 0 && beta < 0.5)) throw new Error(`trimmed mean beta must be in [0, 0.5), got ${beta}`);
  }

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const m = assertValidUpdates(updates);
    const n = updates.length;
    const cut = Math.floor(this.beta * n);
    if (n - 2 * cut < 1) throw new Error(`trimmed mean with beta ${this.beta} leaves nothing of ${n} updates`);
    return reduceSortedColumns(deltasOf(updates), m, (sorted) => {
      let sum = 0;
      for (let k = cut; k < n - cut; k++) sum += sorted[k];
      return sum / (n - 2 * cut);
    });
  }
}
