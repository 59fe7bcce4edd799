import type { Aggregator } from './types.js';

/**
 * Refuses an aggregator that secure aggregation cannot run: the coordinator then learns only the
 * masked sum of the updates, so only rules computable from that sum (weighted mean) are possible.
 */
export function assertCompatibleWithSecureAggregation(aggregator: Aggregator): void {
  if (aggregator.linear) return;
  throw new Error(
    `aggregator '${aggregator.name}' cannot run with secure aggregation: it must see each client's ` +
      `update individually (to sort, compare or discard them), but under secure aggregation the ` +
      `coordinator only ever sees the sum of the masked updates. Use the 'weighted-mean' aggregator ` +
      `or turn secure aggregation off.`,
  );
}
