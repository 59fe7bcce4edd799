import { z } from 'zod';
import { deriveSeed } from '../random-distributions.js';
import {
  FEDADAGRAD_DEFAULTS,
  FEDADAM_DEFAULTS,
  FEDYOGI_DEFAULTS,
  FedAdagrad,
  FedAdam,
  FedYogi,
} from './adaptive-optimizers.js';
import { Bulyan } from './bulyan.js';
import { FractionSampler, SAMPLER_DEFAULTS } from './fraction-sampler.js';
import { Krum } from './krum.js';
import { CoordinateMedian } from './median.js';
import { assertCompatibleWithSecureAggregation } from './secure-aggregation.js';
import { ServerSgd } from './server-sgd.js';
import { TRIMMED_MEAN_DEFAULT_BETA, TrimmedMean } from './trimmed-mean.js';
import type { Aggregator, ServerOptimizer } from './types.js';
import { WeightedMean } from './weighted-mean.js';

const unit = () => z.number().min(0).lt(1);
const positive = () => z.number().positive();

export const samplerConfigSchema = z
  .strictObject({
    fraction: z.number().gt(0).lte(1).default(SAMPLER_DEFAULTS.fraction),
    minClients: z.int().min(1).default(SAMPLER_DEFAULTS.minClients),
    maxClients: z.int().min(1).optional(),
    minAvailable: z.int().min(1).optional(),
    seed: z.int().default(0),
  })
  .refine((s) => s.maxClients === undefined || s.maxClients >= s.minClients, {
    error: 'maxClients must be >= minClients',
    path: ['maxClients'],
  });

export const aggregatorConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('weighted-mean') }),
  z.strictObject({ kind: z.literal('median') }),
  z.strictObject({
    kind: z.literal('trimmed-mean'),
    beta: z.number().min(0).lt(0.5).default(TRIMMED_MEAN_DEFAULT_BETA),
  }),
  z.strictObject({ kind: z.literal('krum'), byzantine: z.int().min(0).default(0), keep: z.int().min(1).default(1) }),
  z.strictObject({ kind: z.literal('bulyan'), byzantine: z.int().min(0).default(0) }),
]);

export const serverOptimizerConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sgd'), learningRate: positive().default(1), momentum: unit().default(0) }),
  z.strictObject({
    kind: z.literal('fedadam'),
    eta: positive().default(FEDADAM_DEFAULTS.eta),
    beta1: unit().default(FEDADAM_DEFAULTS.beta1),
    beta2: unit().default(FEDADAM_DEFAULTS.beta2),
    tau: positive().default(FEDADAM_DEFAULTS.tau),
  }),
  z.strictObject({
    kind: z.literal('fedyogi'),
    eta: positive().default(FEDYOGI_DEFAULTS.eta),
    beta1: unit().default(FEDYOGI_DEFAULTS.beta1),
    beta2: unit().default(FEDYOGI_DEFAULTS.beta2),
    tau: positive().default(FEDYOGI_DEFAULTS.tau),
  }),
  z.strictObject({
    kind: z.literal('fedadagrad'),
    eta: positive().default(FEDADAGRAD_DEFAULTS.eta),
    tau: positive().default(FEDADAGRAD_DEFAULTS.tau),
  }),
]);

export const evaluationConfigSchema = z.strictObject({
  /** Fraction of the available clients that evaluate the global model each round; 0 turns it off. */
  fraction: z.number().min(0).max(1).default(1),
  minClients: z.int().min(1).default(SAMPLER_DEFAULTS.minClients),
  /** Also evaluate on the coordinator's held-out set. */
  centralized: z.boolean().default(false),
});

/** The `strategy` section of the coordinator's config; every field has Flower's default (FedAvg). */
export const strategyConfigSchema = z.strictObject({
  sampler: samplerConfigSchema.prefault({}),
  aggregator: aggregatorConfigSchema.prefault({ kind: 'weighted-mean' }),
  serverOptimizer: serverOptimizerConfigSchema.prefault({ kind: 'sgd' }),
  /** FedProx proximal term weight sent to clients with each round (0 = off). */
  proximalMu: z.number().min(0).default(0),
  evaluation: evaluationConfigSchema.prefault({}),
});

export type SamplerConfig = z.output<typeof samplerConfigSchema>;
export type AggregatorConfig = z.output<typeof aggregatorConfigSchema>;
export type ServerOptimizerConfig = z.output<typeof serverOptimizerConfigSchema>;
export type EvaluationConfig = z.output<typeof evaluationConfigSchema>;
export type StrategyConfig = z.output<typeof strategyConfigSchema>;
/** What a config file may contain (defaults not yet filled in). */
export type StrategyConfigInput = z.input<typeof strategyConfigSchema>;

/** Parses a raw `strategy` section, throwing one error that lists every problem with its path. */
export function parseStrategyConfig(raw: unknown): StrategyConfig {
  const result = strategyConfigSchema.safeParse(raw ?? {});
  if (!result.success) throw new Error(`invalid strategy config:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export function createAggregator(config: AggregatorConfig): Aggregator {
  switch (config.kind) {
    case 'weighted-mean':
      return new WeightedMean();
    case 'median':
      return new CoordinateMedian();
    case 'trimmed-mean':
      return new TrimmedMean(config.beta);
    case 'krum':
      return new Krum({ byzantine: config.byzantine, keep: config.keep });
    case 'bulyan':
      return new Bulyan(config.byzantine);
    default: {
      const never: never = config;
      throw new Error(`unknown aggregator ${JSON.stringify(never)}`);
    }
  }
}

export function createServerOptimizer(config: ServerOptimizerConfig): ServerOptimizer {
  switch (config.kind) {
    case 'sgd':
      return new ServerSgd(config.learningRate, config.momentum);
    case 'fedadam':
      return new FedAdam(config);
    case 'fedyogi':
      return new FedYogi(config);
    case 'fedadagrad':
      return new FedAdagrad(config);
    default: {
      const never: never = config;
      throw new Error(`unknown server optimizer ${JSON.stringify(never)}`);
    }
  }
}

export interface Strategy {
  /** Short label for logs and result tables, e.g. 'fedavg', 'fedavg+median', 'fedadam+prox(mu=0.01)'. */
  name: string;
  sampler: FractionSampler;
  /** Picks the clients that evaluate the global model each round; undefined when evaluation.fraction is 0. */
  evaluationSampler: FractionSampler | undefined;
  aggregator: Aggregator;
  serverOptimizer: ServerOptimizer;
  /** Merged into every round's TrainConfig sent to the clients. */
  clientConfig: { proximalMu: number };
  centralizedEvaluation: boolean;
}

export interface CreateStrategyOptions {
  /** The deployment uses secure aggregation: refuse aggregators that need individual updates. */
  secureAggregation?: boolean;
}

// Salt so evaluation picks clients independently of training with the same seed.
const EVALUATION_STREAM = 0x6576616c;

export function createStrategy(config: StrategyConfig, options: CreateStrategyOptions = {}): Strategy {
  const aggregator = createAggregator(config.aggregator);
  if (options.secureAggregation) assertCompatibleWithSecureAggregation(aggregator);
  const serverOptimizer = createServerOptimizer(config.serverOptimizer);
  const { evaluation, proximalMu } = config;
  const parts = [serverOptimizer.name];
  if (aggregator.name !== 'weighted-mean') parts.push(aggregator.name);
  if (proximalMu > 0) parts.push(`prox(mu=${proximalMu})`);
  return {
    name: parts.join('+'),
    sampler: new FractionSampler(config.sampler),
    evaluationSampler:
      evaluation.fraction > 0
        ? new FractionSampler({
            fraction: evaluation.fraction,
            minClients: evaluation.minClients,
            seed: deriveSeed(config.sampler.seed, EVALUATION_STREAM),
          })
        : undefined,
    aggregator,
    serverOptimizer,
    clientConfig: { proximalMu },
    centralizedEvaluation: evaluation.centralized,
  };
}
