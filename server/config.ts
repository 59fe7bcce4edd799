import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { strategyConfigSchema } from '../shared/aggregation/strategy.js';
import { PrivacyConfigSchema } from '../shared/privacy/config.js';
import { TrainConfigSchema } from '../shared/protocol/messages.js';
import { ClusterConfigSchema } from './cluster/cluster-config.js';
import { CompressionConfigSchema } from './compression-config.js';
import { HttpTimeoutsSchema } from './http-server.js';
import { LogConfigSchema } from './logger.js';
import { DEFAULT_UPDATE_NORM_LIMITS } from './round/update-norm.js';
import { DEFAULT_BATCHING } from './serving/batch-scheduler.js';
import { LABEL_PATTERN } from './serving/model-registry.js';
import { DEFAULT_MAX_CONCURRENT_PREDICTIONS, DEFAULT_MAX_INSTANCES } from './serving/routes.js';
import { VersionPolicySchema } from './serving/version-policy.js';
import { SecureAggregationConfigSchema } from './secagg-config.js';
import { TlsConfigSchema } from './tls.js';

/**
 * The coordinator's configuration: a JSON file (`--config`) whose sections are filled in by
 * features as they land (strategy today; secure aggregation and privacy next), overridden by
 * command-line flags and environment variables. Unknown keys are refused, so a typo never passes
 * silently.
 */

const token = z.string().min(8, 'tokens must have at least 8 characters');

export const RoundsConfigSchema = z.strictObject({
  /** Rounds queued as soon as the coordinator starts (more via POST /v1/rounds). */
  start: z.int().min(0).default(0),
  /** Updates needed to commit a round; fewer by the deadline fails it (Flower's accept_failures). */
  minResults: z.int().min(1).default(1),
  /** Once enough clients are connected, how long selection waits for more to join. */
  selectionWindowMs: z.int().min(0).default(1_000),
  /** Training deadline: updates arriving later are refused as stale. */
  trainingTimeoutMs: z.int().min(1).default(120_000),
  /** Federated evaluation deadline: clients that have not reported by then are left out. */
  evaluationTimeoutMs: z.int().min(1).default(30_000),
  /**
   * Plaintext updates with a larger L2 norm are refused at receipt, and a round whose aggregated
   * update is larger (or not finite) fails with the model unchanged (rule: server/round/update-norm.ts).
   */
  maxUpdateNorm: z.number().positive().max(1e30).default(DEFAULT_UPDATE_NORM_LIMITS.max),
  /** Plaintext updates with a norm above this many times the median of the round's accepted ones (from the 3rd on) are refused. */
  maxUpdateNormToMedian: z.number().min(1).max(1e30).default(DEFAULT_UPDATE_NORM_LIMITS.maxToMedian),
});

/** Dynamic batching of predict requests (server/serving/batch-scheduler.ts), TF Serving's option names. */
export const BatchingConfigSchema = z.strictObject({
  /** Off: every request runs its own forward pass. */
  enabled: z.boolean().default(true),
  maxBatchSize: z.int().min(1).max(65_536).default(DEFAULT_BATCHING.maxBatchSize),
  batchTimeoutMicros: z.int().min(0).max(10_000_000).default(DEFAULT_BATCHING.batchTimeoutMicros),
  maxEnqueuedBatches: z.int().min(1).max(1_000_000).default(DEFAULT_BATCHING.maxEnqueuedBatches),
});

/** Limits of the prediction endpoints. */
export const ServingConfigSchema = z.strictObject({
  /** Instances in one predict request; more are refused with 413. */
  maxInstances: z.int().min(1).max(1_000_000).default(DEFAULT_MAX_INSTANCES),
  /** Predict requests being read and parsed at once; more are refused with 503 and Retry-After. */
  maxConcurrentPredictions: z.int().min(1).max(10_000).default(DEFAULT_MAX_CONCURRENT_PREDICTIONS),
  batching: BatchingConfigSchema.prefault({}),
  /** Which versions are served (TF Serving's model_version_policy): all stored, the latest count, or specific ones. */
  versionPolicy: VersionPolicySchema.default({ kind: 'all' }),
  /** Version labels set at start (more with PUT /v1/models/<name>/labels/<label>); each version must exist. */
  versionLabels: z.record(z.string().regex(LABEL_PATTERN), z.int().min(0)).default({}),
  /**
   * Run forward passes on a worker thread (wasm and cpu backends), so requests are read and answered
   * while a batch computes (npm run bench:serve: more throughput and a lower p99 on 2 idle cores).
   * Off: on the event loop's thread, which pays only when no core is free for the thread.
   */
  inferenceThread: z.boolean().default(true),
  /** Warm a new version up with forward passes of 1 and maxBatchSize instances before it takes traffic. */
  warmup: z.boolean().default(true),
});

export const CoordinatorConfigSchema = z.strictObject({
  port: z.int().min(0).max(65_535).default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  dataDir: z.string().min(1).default('.fedserve'),
  /** Task (and served model) name. */
  task: z
    .string()
    .regex(/^[a-z0-9_-]+$/, 'task names use a-z, 0-9, _ and -')
    .default('mnist'),
  /** A tfjs Layers model.json to federate instead of the seed CNN. */
  model: z.string().min(1).optional(),
  /** Held-out data on the coordinator (a client data SPEC) to score every committed version. */
  eval: z.string().min(1).optional(),
  joinToken: token.optional(),
  /**
   * A JSON file { "client name": "token", ... }: every client joins with its own token, which
   * admits only its name (sybil resistance, see client-credentials.ts); the shared join token is then refused.
   */
  clientTokensFile: z.string().min(1).optional(),
  adminToken: token.optional(),
  rounds: RoundsConfigSchema.prefault({}),
  /** Time limits of HTTP connections (server/http-server.ts). */
  http: HttpTimeoutsSchema.prefault({}),
  /** Serve https and wss with this certificate and key (PEM files); plain http when absent. */
  tls: TlsConfigSchema.optional(),
  serving: ServingConfigSchema.prefault({}),
  /** Client hyperparameters sent with every round (FedProx mu comes from strategy.proximalMu). */
  training: TrainConfigSchema.omit({ proximalMu: true })
    .partial()
    .transform((t) => ({ epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const, ...t }))
    .prefault({}),
  strategy: strategyConfigSchema.prefault({}),
  /** Client-level differential privacy (clipping, noise, accountant, budget stop); off when absent. */
  privacy: PrivacyConfigSchema.optional(),
  /** Secure aggregation (SecAgg+): the coordinator learns only the sum of the updates; off unless enabled. */
  secureAggregation: SecureAggregationConfigSchema.prefault({}),
  /** How clients encode their updates: float32 (default), int8, int4 or topk (plaintext rounds). */
  compression: CompressionConfigSchema.prefault({}),
  /** The operational log (server/logger.ts): level and format. */
  log: LogConfigSchema.prefault({}),
  /** Run as one node of a cluster on Redis (server/cluster/); a single process when absent. */
  cluster: ClusterConfigSchema.optional(),
});
export type CoordinatorConfig = z.output<typeof CoordinatorConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof CoordinatorConfigSchema>;

export function parseCoordinatorConfig(raw: unknown, source: string): CoordinatorConfig {
  const result = CoordinatorConfigSchema.safeParse(raw);
  if (!result.success) throw new Error(`invalid coordinator config (${source}):\n${z.prettifyError(result.error)}`);
  return result.data;
}

/** Reads a JSON config file; errors name the file and what is wrong. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Sets `value` at `path` in a plain JSON tree, creating objects on the way. */
export function setPath(tree: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}
