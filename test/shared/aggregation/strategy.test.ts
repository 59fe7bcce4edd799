import { describe, expect, it } from 'vitest';
import {
  createAggregator,
  createServerOptimizer,
  createStrategy,
  parseStrategyConfig,
} from '../../../shared/aggregation/strategy.js';

describe('parseStrategyConfig', () => {
  it("fills an empty section with Flower's FedAvg defaults", () => {
    expect(parseStrategyConfig({})).toEqual({
      sampler: { fraction: 1, minClients: 2, seed: 0 },
      aggregator: { kind: 'weighted-mean' },
      serverOptimizer: { kind: 'sgd', learningRate: 1, momentum: 0 },
      proximalMu: 0,
      evaluation: { fraction: 1, minClients: 2, centralized: false },
    });
    expect(parseStrategyConfig(undefined)).toEqual(parseStrategyConfig({}));
  });

  it('fills each kind with its own defaults', () => {
    const c = parseStrategyConfig({ aggregator: { kind: 'trimmed-mean' }, serverOptimizer: { kind: 'fedyogi' } });
    expect(c.aggregator).toEqual({ kind: 'trimmed-mean', beta: 0.2 });
    expect(c.serverOptimizer).toEqual({ kind: 'fedyogi', eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    expect(parseStrategyConfig({ aggregator: { kind: 'krum' } }).aggregator).toEqual({
      kind: 'krum',
      byzantine: 0,
      keep: 1,
    });
  });

  it('reports every problem with its path', () => {
    expect(() => parseStrategyConfig({ aggregator: { kind: 'mean' } })).toThrow(/aggregator/);
    expect(() => parseStrategyConfig({ serverOptimizer: { kind: 'fedadam', betta: 0.9 } })).toThrow(/betta/);
    expect(() => parseStrategyConfig({ aggregator: { kind: 'trimmed-mean', beta: 0.5 } })).toThrow(/aggregator\.beta/);
    expect(() => parseStrategyConfig({ sampler: { minClients: 4, maxClients: 3 } })).toThrow(
      /maxClients must be >= minClients/,
    );
    expect(parseStrategyConfig({ sampler: { minClients: 3, maxClients: 3 } }).sampler).toMatchObject({
      minClients: 3,
      maxClients: 3,
    });
    expect(() => parseStrategyConfig({ proximalMu: -1 })).toThrow(/proximalMu/);
  });
});

describe('createStrategy', () => {
  it('builds the configured pieces and names the combination', () => {
    const fedavg = createStrategy(parseStrategyConfig({}));
    expect(fedavg.name).toBe('fedavg');
    expect(fedavg.aggregator.name).toBe('weighted-mean');
    expect(fedavg.clientConfig).toEqual({ proximalMu: 0 });
    expect(fedavg.centralizedEvaluation).toBe(false);

    const s = createStrategy(
      parseStrategyConfig({
        aggregator: { kind: 'median' },
        serverOptimizer: { kind: 'fedadam' },
        proximalMu: 0.01,
        sampler: { fraction: 0.5 },
      }),
    );
    expect(s.name).toBe('fedadam+median+prox(mu=0.01)');
    expect(s.clientConfig).toEqual({ proximalMu: 0.01 });
    expect(s.sampler.sampleSize(10)).toBe(5);
    expect(s.serverOptimizer.name).toBe('fedadam');
  });

  it('builds Krum and the evaluation sampler with the configured settings', () => {
    const krum = createAggregator(
      parseStrategyConfig({ aggregator: { kind: 'krum', byzantine: 2, keep: 3 } }).aggregator,
    );
    expect(krum).toMatchObject({ name: 'multikrum', byzantine: 2, keep: 3 });
    const s = createStrategy(
      parseStrategyConfig({ sampler: { seed: 9 }, evaluation: { fraction: 0.5, minClients: 3 } }),
    );
    expect(s.evaluationSampler).toMatchObject({ fraction: 0.5, minClients: 3 });
    expect(s.evaluationSampler!.seed).not.toBe(9);
  });

  it('says exactly why a robust aggregator cannot run under secure aggregation', () => {
    expect(() =>
      createStrategy(parseStrategyConfig({ aggregator: { kind: 'median' } }), { secureAggregation: true }),
    ).toThrow(
      "aggregator 'median' cannot run with secure aggregation: it must see each client's update individually (to sort, compare or discard them), " +
        "but under secure aggregation the coordinator only ever sees the sum of the masked updates. Use the 'weighted-mean' aggregator or turn secure aggregation off.",
    );
  });

  it('samples evaluation independently of training, or not at all', () => {
    const s = createStrategy(parseStrategyConfig({ sampler: { fraction: 0.3 }, evaluation: { fraction: 0.3 } }));
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const differs = Array.from(
      { length: 5 },
      (_, r) => s.sampler.select(ids, r).join() !== s.evaluationSampler!.select(ids, r).join(),
    );
    expect(differs).toContain(true);
    expect(createStrategy(parseStrategyConfig({ evaluation: { fraction: 0 } })).evaluationSampler).toBeUndefined();
  });

  it('refuses a robust aggregator under secure aggregation, saying why', () => {
    for (const kind of ['median', 'trimmed-mean', 'krum', 'bulyan'] as const) {
      const config = parseStrategyConfig({ aggregator: { kind } });
      expect(() => createStrategy(config, { secureAggregation: true })).toThrow(
        new RegExp(`'${kind}' cannot run with secure aggregation.*only ever sees the sum`),
      );
      expect(() => createStrategy(config)).not.toThrow();
    }
    expect(createStrategy(parseStrategyConfig({}), { secureAggregation: true }).aggregator.linear).toBe(true);
  });

  it('builds each server optimizer with its configured settings', () => {
    const kinds = ['sgd', 'fedadam', 'fedyogi', 'fedadagrad'] as const;
    const names = kinds.map(
      (kind) => createServerOptimizer(parseStrategyConfig({ serverOptimizer: { kind } }).serverOptimizer).name,
    );
    expect(names).toEqual(['fedavg', 'fedadam', 'fedyogi', 'fedadagrad']);
    const yogi = createServerOptimizer(
      parseStrategyConfig({ serverOptimizer: { kind: 'fedyogi', eta: 0.5 } }).serverOptimizer,
    );
    expect(yogi).toMatchObject({ options: { eta: 0.5, beta1: 0.9 } });
    expect(createServerOptimizer({ kind: 'sgd', learningRate: 1, momentum: 0.5 }).name).toBe('fedavgm');
  });

  it('refuses a kind it does not know, from untyped callers', () => {
    expect(() => createAggregator({ kind: 'mean' } as never)).toThrow('unknown aggregator {"kind":"mean"}');
    expect(() => createServerOptimizer({ kind: 'adamw' } as never)).toThrow(
      'unknown server optimizer {"kind":"adamw"}',
    );
  });

  it('marks only the weighted mean as linear', () => {
    const kinds = ['weighted-mean', 'median', 'trimmed-mean', 'krum', 'bulyan'] as const;
    const linear = kinds.map(
      (kind) => createAggregator(parseStrategyConfig({ aggregator: { kind } }).aggregator).linear,
    );
    expect(linear).toEqual([true, false, false, false, false]);
  });
});
