import { describe, expect, it } from 'vitest';
import { FractionSampler } from '../../shared/aggregation/fraction-sampler.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../server/config.js';
import { planCoordinator } from '../../server/strategy-runtime.js';

function config(input: Partial<CoordinatorConfigInput>) {
  return parseCoordinatorConfig({ dataDir: '/unused', ...input }, 'test');
}

const privacy = { mode: 'central', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 } as const;

describe('planCoordinator', () => {
  it('builds the configured strategy and sends FedProx mu with every round', () => {
    const plan = planCoordinator(
      config({
        training: { epochs: 2 },
        strategy: {
          proximalMu: 0.05,
          aggregator: { kind: 'trimmed-mean', beta: 0.1 },
          serverOptimizer: { kind: 'fedadam', eta: 0.01 },
        },
      }),
      { secureAggregation: false, hasEvalData: false },
    );
    expect(plan.strategy.name).toBe('fedadam+trimmed-mean+prox(mu=0.05)');
    expect(plan.trainConfig).toEqual({
      epochs: 2,
      batchSize: 32,
      learningRate: 0.1,
      optimizer: 'sgd',
      proximalMu: 0.05,
    });
    expect(plan.coordinatorStrategy.sampler).toBeInstanceOf(FractionSampler);
    expect(plan.coordinatorStrategy.aggregator.name).toBe('trimmed-mean');
    expect(plan.privacy).toBeUndefined();
    expect(plan.federatedEvaluation?.timeoutMs).toBe(30_000);
  });

  it('turns federated evaluation off with evaluation.fraction 0', () => {
    const plan = planCoordinator(config({ strategy: { evaluation: { fraction: 0 } } }), {
      secureAggregation: false,
      hasEvalData: false,
    });
    expect(plan.federatedEvaluation).toBeUndefined();
  });

  it('refuses a robust aggregator under secure aggregation and says why', () => {
    expect(() =>
      planCoordinator(config({ strategy: { aggregator: { kind: 'median' } } }), {
        secureAggregation: true,
        hasEvalData: false,
      }),
    ).toThrow(/aggregator 'median' cannot run with secure aggregation: it must see each client's update individually/);
    expect(() => planCoordinator(config({}), { secureAggregation: true, hasEvalData: false })).not.toThrow();
  });

  it('refuses centralized evaluation without held-out data', () => {
    expect(() =>
      planCoordinator(config({ strategy: { evaluation: { centralized: true } } }), {
        secureAggregation: false,
        hasEvalData: false,
      }),
    ).toThrow(/centralized is on but the coordinator has no held-out data: set eval/);
    expect(() =>
      planCoordinator(config({ strategy: { evaluation: { centralized: true } } }), {
        secureAggregation: false,
        hasEvalData: true,
      }),
    ).not.toThrow();
  });

  it('with privacy: Poisson sampling at rate fraction, a linear aggregator only, no maxClients', () => {
    const plan = planCoordinator(config({ privacy, strategy: { sampler: { fraction: 0.25 } } }), {
      secureAggregation: false,
      hasEvalData: false,
    });
    // The privacy runtime's Poisson sampler, which charges every draw as it is taken.
    expect(plan.coordinatorStrategy.sampler).toBe(plan.privacy!.sampler);
    expect(plan.coordinatorStrategy.sampler.name).toBe('poisson');
    expect(plan.privacy?.samplingRate).toBe(0.25);
    expect(plan.notes.join('\n')).toMatch(
      /central DP, noise multiplier 1, clip norm 1, clients sampled with probability 0.25/,
    );
    expect(() =>
      planCoordinator(config({ privacy, strategy: { aggregator: { kind: 'krum' } } }), {
        secureAggregation: false,
        hasEvalData: false,
      }),
    ).toThrow(/aggregator 'krum' cannot be used with differential privacy: .* sensitivity is the clip norm/);
    expect(() =>
      planCoordinator(config({ privacy, strategy: { sampler: { maxClients: 4 } } }), {
        secureAggregation: false,
        hasEvalData: false,
      }),
    ).toThrow(/maxClients cannot be combined with privacy/);
  });

  it('warns that distributed mode without secure aggregation shows the coordinator every noisy update', () => {
    const plan = planCoordinator(config({ privacy: { ...privacy, mode: 'distributed' } }), {
      secureAggregation: false,
      hasEvalData: false,
    });
    expect(plan.notes.join('\n')).toMatch(
      /distributed mode without secure aggregation: .* sees every noisy update on its own/,
    );
    const secure = planCoordinator(config({ privacy: { ...privacy, mode: 'distributed' } }), {
      secureAggregation: true,
      hasEvalData: false,
    });
    expect(secure.notes.join('\n')).not.toMatch(/without secure aggregation/);
  });

  it('refuses an invalid privacy section with the field that is wrong', () => {
    expect(() => config({ privacy: { ...privacy, clipNorm: undefined } })).toThrow(
      /set exactly one of clipNorm[\s\S]*at privacy.clipNorm/,
    );
  });
});
