import { createStrategy, type Strategy } from '../shared/aggregation/strategy.js';
import type { TrainConfig } from '../shared/training.js';
import type { CoordinatorConfig } from './config.js';
import type { CoordinatorStrategy, FederatedEvaluationOptions } from './coordinator.js';
import { assertCompatibleWithPrivacy, PrivacyRuntime } from './privacy-runtime.js';

/**
 * Turns the `strategy` and `privacy` config sections into what the coordinator runs: sampler,
 * aggregator and server optimizer, the hyperparameters sent with every round (FedProx mu
 * included), federated evaluation, and the privacy runtime. Combinations the mathematics does not
 * allow are refused here, before anything starts, with the reason.
 */
export interface CoordinatorPlan {
  strategy: Strategy;
  /** What the round machine uses; with privacy on, the sampler is Poisson at rate q. */
  coordinatorStrategy: CoordinatorStrategy;
  trainConfig: TrainConfig;
  federatedEvaluation: FederatedEvaluationOptions | undefined;
  privacy: PrivacyRuntime | undefined;
  /** Things an operator should know about the chosen combination, one line each. */
  notes: string[];
}

export interface PlanOptions {
  /** Updates are securely aggregated: the coordinator only ever sees their sum. */
  secureAggregation: boolean;
  /** The coordinator holds held-out data (config `eval`) for centralized evaluation. */
  hasEvalData: boolean;
  /** Tests only: seeds the Poisson sample, which otherwise comes from the CSPRNG (amplification by sampling rests on that). */
  privacySamplingSeed?: number;
}

export function planCoordinator(config: CoordinatorConfig, options: PlanOptions): CoordinatorPlan {
  const strategy = createStrategy(config.strategy, { secureAggregation: options.secureAggregation });
  if (strategy.centralizedEvaluation && !options.hasEvalData) {
    throw new Error(
      'strategy.evaluation.centralized is on but the coordinator has no held-out data: set eval (--eval SPEC), e.g. mnist:test',
    );
  }
  const notes: string[] = [];
  let privacy: PrivacyRuntime | undefined;
  if (config.privacy) {
    assertCompatibleWithPrivacy(strategy.aggregator);
    const sampler = config.strategy.sampler;
    if (sampler.maxClients !== undefined) {
      throw new Error(
        'strategy.sampler.maxClients cannot be combined with privacy: with differential privacy every connected client takes part ' +
          'with probability strategy.sampler.fraction (Poisson sampling, what the accountant assumes), and a cap would change that',
      );
    }
    privacy = new PrivacyRuntime(config.privacy, {
      samplingRate: sampler.fraction,
      individualUpdatesVisible: !options.secureAggregation,
      ...(options.privacySamplingSeed !== undefined ? { samplingSeed: options.privacySamplingSeed } : {}),
    });
    notes.push(
      `privacy: ${config.privacy.mode} DP, noise multiplier ${config.privacy.noiseMultiplier}, ` +
        `${config.privacy.clipping.kind === 'fixed' ? `clip norm ${config.privacy.clipping.clipNorm}` : 'adaptive clip norm'}, ` +
        `clients sampled with probability ${sampler.fraction}, target epsilon ${config.privacy.targetEpsilon} at delta ${config.privacy.delta}; ` +
        'updates are averaged unweighted (every client counts alike)',
    );
    if (config.privacy.mode === 'distributed' && !options.secureAggregation) {
      notes.push(
        'privacy: distributed mode without secure aggregation: each client adds its share of the noise, but the coordinator sees every ' +
          'noisy update on its own, so against the coordinator each client has only its share (reported as coordinatorEpsilon)',
      );
    }
  }
  const federatedEvaluation = strategy.evaluationSampler
    ? { sampler: strategy.evaluationSampler, timeoutMs: config.rounds.evaluationTimeoutMs }
    : undefined;
  return {
    strategy,
    coordinatorStrategy: {
      sampler: privacy ? privacy.sampler : strategy.sampler,
      aggregator: strategy.aggregator,
      serverOptimizer: strategy.serverOptimizer,
    },
    trainConfig: { ...config.training, proximalMu: strategy.clientConfig.proximalMu },
    federatedEvaluation,
    privacy,
    notes,
  };
}
