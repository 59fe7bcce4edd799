import type { Strategy } from '../../shared/aggregation/strategy.js';
import type { CoordinatorConfig } from '../config.js';

/**
 * What phase 1 of the cluster runs: plaintext rounds whose aggregate is linear in the updates, so
 * each node can forward one partial (edge-aggregator.ts). Everything else is refused at start,
 * naming why, rather than run without the cluster's guarantees. Federated evaluation runs, on the
 * leader's own clients only: clients of other nodes are never asked (remote-link.ts).
 */
export function checkClusterConfig(config: CoordinatorConfig, strategy: Strategy): void {
  if (!config.cluster) return;
  if (config.secureAggregation.enabled) {
    throw new Error(
      'cluster mode (--cluster) does not run secure aggregation yet: routing SecAgg+ messages between clients on ' +
        'different nodes and summing masked words per node is phase 2; turn secure aggregation off or run one coordinator',
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
