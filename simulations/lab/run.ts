import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeClient } from '../../client/node-client.js';
import type { Progress } from '../../client/progress.js';
import type { TrainerPool } from '../../client/trainer-pool.js';
import { createStrategy } from '../../shared/aggregation/strategy.js';
import { describeCodec } from '../../shared/compression/codec-spec.js';
import { deriveSeed } from '../../shared/random-distributions.js';
import { seededRng } from '../../shared/random.js';
import type { PrivacyStatus, RoundRecord } from '../../shared/protocol/rounds.js';
import { startCoordinator } from '../../server/app.js';
import { parseCoordinatorConfig, type CoordinatorConfig } from '../../server/config.js';
import { RoundsRefusedError } from '../../server/coordinator.js';
import { lineLogger } from '../../server/logger.js';
import { planCoordinator } from '../../server/strategy-runtime.js';
import type { LabConfig, LabRun } from './config.js';
import type { Population } from './population.js';
import { errorMessage } from '../../shared/error-message.js';

export interface RunOutcome {
  label: string;
  /** The strategy's short name, e.g. 'fedavg', 'fedadam', 'fedavg+krum', 'fedavg+prox(mu=0.01)'. */
  strategy: string;
  /** How clients encoded their updates, e.g. 'float32', 'int8', 'topk 10%'. */
  codec: string;
  /** Bytes of one uncompressed (float32) update of the model; absent in runs.json files written before compression. */
  float32UpdateBytes?: number;
  records: RoundRecord[];
  /** Why fewer rounds ran than configured (the privacy budget), if so. */
  stoppedEarly?: string;
  privacy?: PrivacyStatus;
  wallMs: number;
  /** The coordinator's log lines. */
  log: string[];
}

const TOKEN = 'simulation-lab-token';
/** Seed stream of the clients' stochastic rounding, so quantized runs repeat exactly. */
const CODEC_STREAM = 0x636f;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` on top of `base`, objects merged key by key (the run's strategy over the lab's defaults). */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(base[k]) ? merge(base[k], v) : v;
  return out;
}

/** The coordinator config of one run: all clients connected before a round starts, the lab's seed everywhere. */
export function coordinatorConfigFor(config: LabConfig, run: LabRun, dataDir: string): CoordinatorConfig {
  const defaults: Json = {
    sampler: { minClients: Math.min(2, config.clients), minAvailable: config.clients, seed: config.seed },
    // Federated evaluation needs clients with held-out data.
    evaluation: config.data.clientHeldOut > 0 ? {} : { fraction: 0 },
  };
  return parseCoordinatorConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      joinToken: TOKEN,
      adminToken: TOKEN,
      rounds: {
        selectionWindowMs: 0,
        trainingTimeoutMs: config.roundTimeoutMs,
        evaluationTimeoutMs: 120_000,
        minResults: 1,
      },
      training: { ...config.training, ...run.training, seed: config.seed },
      strategy: merge(defaults, run.strategy),
      ...(run.privacy ? { privacy: run.privacy } : {}),
      ...(run.compression ? { compression: run.compression } : {}),
    },
    `run '${run.label}'`,
  );
}

/** Refuses, before anything runs, a run whose coordinator config or strategy combination is invalid. */
export function validateRuns(config: LabConfig): void {
  for (const run of config.runs) {
    try {
      planCoordinator(coordinatorConfigFor(config, run, '.'), { secureAggregation: false, hasEvalData: true });
    } catch (e) {
      throw new Error(`simulation ${config.name}, run '${run.label}': ${(e as Error).message}`);
    }
  }
}

/** The strategy's short name of a run, e.g. 'fedavg+prox(mu=0.01)'. */
export function strategyName(config: LabConfig, run: LabRun): string {
  return createStrategy(coordinatorConfigFor(config, run, '.').strategy).name;
}

const silent: Progress = { line: () => undefined, step: () => undefined, end: () => undefined };

/**
 * One run: a fresh coordinator on a free 127.0.0.1 port and every simulated client as a real
 * socket.io client of it, training in the shared worker pool. Resolves once the configured rounds
 * closed or the privacy budget stopped training.
 */
export async function runOnce(
  config: LabConfig,
  run: LabRun,
  population: Population,
  pool: TrainerPool,
  onRound: (record: RoundRecord) => void,
): Promise<RunOutcome> {
  const started = performance.now();
  const log: string[] = [];
  const parsed = coordinatorConfigFor(config, run, '.');
  const dataDir = await mkdtemp(join(tmpdir(), `fedserve-sim-${config.name}-`));
  const coordinatorConfig = { ...parsed, dataDir };
  const strategy = strategyName(config, run);
  const server = await startCoordinator(coordinatorConfig, {
    logger: lineLogger((line) => log.push(`${new Date().toISOString()} ${line}`)),
    evalData: population.test,
  }).catch(async (e: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`run '${run.label}': the coordinator did not start: ${errorMessage(e)}`);
  });
  const clients: NodeClient[] = [];
  try {
    const records: RoundRecord[] = [];
    let stoppedEarly: string | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      server.coordinator.on('round', (record) => {
        records.push(record);
        onRound(record);
        // The coordinator starts the next queued round (or stops for the budget) right after this event.
        setImmediate(() => {
          if (records.length >= config.rounds) {
            resolve();
            return;
          }
          if (
            config.stopAtGoal &&
            config.goalAccuracy !== undefined &&
            (record.evaluation?.accuracy ?? 0) >= config.goalAccuracy
          ) {
            stoppedEarly = `reached the goal accuracy ${config.goalAccuracy} in round ${record.round}`;
            resolve();
            return;
          }
          if (server.coordinator.pendingRounds() === 0) {
            stoppedEarly = server.coordinator.privacyStatus()?.exhausted ?? 'the coordinator stopped queueing rounds';
            resolve();
          }
        });
      });
      try {
        server.coordinator.startRounds(config.rounds);
      } catch (e) {
        if (!(e instanceof RoundsRefusedError)) {
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        stoppedEarly = e.message;
        resolve();
        return;
      }
      for (const c of population.clients) {
        const client = new NodeClient({
          server: server.url,
          token: TOKEN,
          name: c.id,
          data: c.train,
          progress: silent,
          ...(c.heldOut ? { evalData: c.heldOut } : {}),
          trainer: (job) =>
            pool.train({
              model: { topology: job.modelTopology },
              weights: job.weights,
              data: job.data,
              config: job.config,
            }),
          codecRng: seededRng(deriveSeed(deriveSeed(config.seed, CODEC_STREAM), c.index)),
          ...(c.attack
            ? { transformUpdate: (delta: Float32Array, round: number) => c.attack!.apply(delta, round) }
            : {}),
        });
        clients.push(client);
        client.run().catch((e: unknown) => reject(new Error(`client ${c.id} stopped: ${errorMessage(e)}`)));
      }
    });
    await finished;
    return {
      label: run.label,
      strategy,
      codec: describeCodec(coordinatorConfig.compression),
      float32UpdateBytes: 4 * server.coordinator.task.info.parameterCount,
      records,
      ...(stoppedEarly ? { stoppedEarly } : {}),
      ...(server.coordinator.privacyStatus() ? { privacy: server.coordinator.privacyStatus()! } : {}),
      wallMs: performance.now() - started,
      log,
    };
  } finally {
    for (const c of clients) c.stop();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
