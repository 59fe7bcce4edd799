import { deltasOf, medianOfSorted, reduceSortedColumns } from './columns.js';
import type { Aggregator, ClientUpdate } from './types.js';
import { assertValidUpdates } from './validate.js';

/**
 * Coordinate-wise median (Flower's FedMedian; Yin et al. 2018). Unweighted: a client that claims
 * many examples gets no extra say, which is the point of a robust rule.
 */
export class CoordinateMedian implements Aggregator {
  readonly name = 'median';
  readonly linear = false;

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const m = assertValidUpdates(updates);
    return reduceSortedColumns(deltasOf(updates), m, medianOfSorted);
  }
}
