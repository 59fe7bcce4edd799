import type { Strategy } from '../../shared/aggregation/strategy.js';
import type { CoordinatorConfig } from '../config.js';
import { forwardedFor } from './cluster-messages.js';

/**
 * What the cluster runs: plaintext rounds, each node forwarding a weighted mean of its updates for
 * a linear aggregator or every validated update for a robust one (edge-aggregator.ts), and secure
 * rounds (linear aggregators only, as ever), each node forwarding a sum of masked words
 * (secure-edge.ts). Everything else is refused at start, naming why, rather than run without the
 * cluster's guarantees. Federated evaluation runs, on the leader's own clients only: clients of
 * other nodes are never asked (remote-link.ts).
 */
export function checkClusterConfig(config: CoordinatorConfig): void {
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
}

/**
 * What a cluster node says at start about what its nodes forward to the leader: with a linear
 * aggregator one mean per node per round, with any other every client's update, so the leader's
 * bytes grow with clients (undefined outside cluster mode).
 */
export function clusterForwardingNote(
  config: CoordinatorConfig,
  strategy: Strategy,
  modelSize: number,
): string | undefined {
  if (!config.cluster || config.secureAggregation.enabled) return undefined;
  const { name } = strategy.aggregator;
  const bytes = modelSize * Float32Array.BYTES_PER_ELEMENT;
  return forwardedFor(strategy.aggregator) === 'mean'
    ? `cluster: aggregator ${name} is linear: each node forwards one weighted mean of its clients' updates per round (${bytes} bytes)`
    : `cluster: aggregator ${name} needs every update: each node forwards each of its clients' validated updates to the leader ` +
        `(${bytes} bytes per client per round: the leader's bytes grow with clients, as a single coordinator's do)`;
}
