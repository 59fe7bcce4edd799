import type { Strategy } from '../../shared/aggregation/strategy.js';
import type { CoordinatorConfig } from '../config.js';

/**
 * What the cluster runs: rounds whose aggregate is linear in the updates, so each node can forward
 * one partial: a weighted mean of plaintext updates (edge-aggregator.ts) or a sum of masked words
 * under secure aggregation (secure-edge.ts). Everything else is refused at start, naming why,
 * rather than run without the cluster's guarantees. Federated evaluation runs, on the leader's own
 * clients only: clients of other nodes are never asked (remote-link.ts).
 */
export function checkClusterConfig(config: CoordinatorConfig, strategy: Strategy): void {
  if (!config.cluster) return;
  if (config.secureAggregation.enabled && config.secureAggregation.auditDir !== undefined) {
    throw new Error(
      'cluster mode (--cluster) does not run secure aggregation in audit mode: the leader receives one masked sum per ' +
        'node, not every client message, so its record would be incomplete; drop secureAggregation.auditDir or run one coordinator',
    );
  }
  if (config.privacy) {
    throw new Error(
      'cluster mode (--cluster) does not run differential privacy yet: the privacy ledger and journal would need a ' +
        'fenced, shared home; run one coordinator for DP training',
    );
  }
  if (!strategy.aggregator.linear) {
    throw new Error(
      `cluster mode (--cluster) needs a linear aggregator: nodes forward one weighted mean each, which ${strategy.aggregator.name} ` +
        'cannot be rebuilt from (it needs every update); use weighted-mean or run one coordinator',
    );
  }
}
