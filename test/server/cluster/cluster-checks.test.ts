import { describe, expect, it } from 'vitest';
import { checkClusterConfig } from '../../../server/cluster/cluster-checks.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../../server/config.js';
import { planCoordinator } from '../../../server/strategy-runtime.js';

function check(input: CoordinatorConfigInput): void {
  const config = parseCoordinatorConfig(input, 'test');
  const plan = planCoordinator(config, { secureAggregation: config.secureAggregation.enabled, hasEvalData: false });
  checkClusterConfig(config, plan.strategy);
}

const cluster = { redis: 'redis://127.0.0.1:6379' };

describe('checkClusterConfig', () => {
  it('lets plaintext FedAvg and secure aggregation run as a cluster, and anything run alone', () => {
    expect(() => check({ cluster })).not.toThrow();
    expect(() => check({ cluster, compression: { codec: 'int8' } })).not.toThrow();
    expect(() => check({ cluster, secureAggregation: { enabled: true } })).not.toThrow();
    expect(() => check({ strategy: { aggregator: { kind: 'median' } } })).not.toThrow();
    expect(() => check({ secureAggregation: { enabled: true } })).not.toThrow();
  });

  it('refuses secure aggregation in audit mode in a cluster, saying why', () => {
    expect(() => check({ cluster, secureAggregation: { enabled: true, auditDir: '/tmp/audit' } })).toThrow(
      /does not run secure aggregation in audit mode[\s\S]*one masked sum per node/,
    );
  });

  it('refuses differential privacy and aggregators that are not linear', () => {
    expect(() =>
      check({
        cluster,
        privacy: { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 },
        strategy: { sampler: { fraction: 0.5 } },
      }),
    ).toThrow(/does not run differential privacy yet/);
    for (const kind of ['median', 'trimmed-mean', 'krum'] as const)
      expect(() => check({ cluster, strategy: { aggregator: { kind } } })).toThrow(/needs a linear aggregator/);
  });

  it('refuses a cluster URL that is not redis://HOST:PORT', () => {
    expect(() => check({ cluster: { redis: 'http://127.0.0.1:6379' } })).toThrow(/redis:\/\/HOST:PORT/);
    expect(() => check({ cluster: { redis: 'redis://127.0.0.1:6379', leaseMs: 10 } })).toThrow(/leaseMs/);
  });
});
