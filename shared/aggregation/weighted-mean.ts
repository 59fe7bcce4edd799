import type { Aggregator, ClientUpdate } from './types.js';
import { assertValidUpdates } from './validate.js';

/** FedAvg's aggregation: the mean of the deltas weighted by each client's number of examples. */
export class WeightedMean implements Aggregator {
  readonly name = 'weighted-mean';
  readonly linear = true;

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const m = assertValidUpdates(updates);
    const total = updates.reduce((s, u) => s + u.numExamples, 0);
    if (!(total > 0)) throw new Error('total number of examples must be positive');
    const acc = new Float64Array(m);
    for (const u of updates) {
      const w = u.numExamples / total;
      for (let i = 0; i < m; i++) acc[i] += w * u.delta[i];
    }
    return Float32Array.from(acc);
  }
}
