import { describe, expect, it } from 'vitest';
import { checkClusterConfig, clusterForwardingNote } from '../../../server/cluster/cluster-checks.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../../server/config.js';
import { planCoordinator } from '../../../server/strategy-runtime.js';

function planned(input: CoordinatorConfigInput) {
  const config = parseCoordinatorConfig(input, 'test');
  const plan = planCoordinator(config, { secureAggregation: config.secureAggregation.enabled, hasEvalData: false });
  return { config, strategy: plan.strategy };
}

function check(input: CoordinatorConfigInput): void {
  // Planning refuses what the strategy cannot run (an aggregator that is not linear under secure aggregation).
  checkClusterConfig(planned(input).config);
}

function note(input: CoordinatorConfigInput): string | undefined {
  const { config, strategy } = planned(input);
  return clusterForwardingNote(config, strategy, 7_850);
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

  it('runs robust aggregators in plaintext rounds, and says at start that every update then reaches the leader', () => {
    for (const kind of ['median', 'trimmed-mean', 'krum', 'bulyan'] as const) {
      expect(() => check({ cluster, strategy: { aggregator: { kind } } })).not.toThrow();
      expect(note({ cluster, strategy: { aggregator: { kind } } })).toMatch(
        new RegExp(`aggregator ${kind} needs every update.*31400 bytes per client per round`),
      );
    }
    expect(note({ cluster })).toMatch(/weighted-mean is linear: each node forwards one weighted mean .*31400 bytes/);
    expect(note({ cluster, secureAggregation: { enabled: true } })).toBeUndefined();
    expect(note({ strategy: { aggregator: { kind: 'median' } } })).toBeUndefined();
  });

  it('refuses differential privacy, and secure aggregation with an aggregator that is not linear', () => {
    expect(() =>
      check({
        cluster,
        privacy: { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 },
        strategy: { sampler: { fraction: 0.5 } },
      }),
    ).toThrow(/does not run differential privacy yet/);
    expect(() =>
      check({ cluster, secureAggregation: { enabled: true }, strategy: { aggregator: { kind: 'median' } } }),
    ).toThrow(/median/);
  });

  it('refuses a cluster URL that is not redis://HOST:PORT', () => {
    expect(() => check({ cluster: { redis: 'http://127.0.0.1:6379' } })).toThrow(/redis:\/\/HOST:PORT/);
    expect(() => check({ cluster: { redis: 'redis://127.0.0.1:6379', leaseMs: 10 } })).toThrow(/leaseMs/);
  });
});
