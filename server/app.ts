import * as tf from '@tensorflow/tfjs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Dataset } from '../shared/data/dataset.js';
import { createSeedCnn } from '../shared/model/seed-cnn.js';
import { taskFromModel, type Task } from '../shared/task.js';
import { loadDataSpec } from '../shared/data/data-spec.node.js';
import { generateToken } from './auth.js';
import { ClientCredentials } from './client-credentials.js';
import type { CoordinatorConfig } from './config.js';
import { Coordinator, type Clock, type CoordinatorOptions } from './coordinator.js';
import { createEvaluator } from './evaluator.js';
import { handleApi } from './http-api.js';
import { createHttpServer } from './http-server.js';
import { createLogger, infoLines, type Logger } from './logger.js';
import { loadTlsCredentials } from './tls.js';
import { CoordinatorMetrics } from './metrics.js';
import { MetricsExposition } from './metrics-exposition.js';
import { loadModelFile } from './model-file.js';
import { PlaintextProtocol } from './round/plaintext-protocol.js';
import { withPrivacy } from './round/private-protocol.js';
import type { RoundPolicy } from './round/round-machine.js';
import type { SecAggTamper } from './round/secagg-protocol.js';
import { fileAudit } from './secagg-audit.js';
import { PrivacyJournal } from './privacy-journal.js';
import { IdentityRegistry } from './secagg-identities.js';
import { checkSecureAggregationConfig, secureProtocolFactory } from './secagg-runtime.js';
import { checkCompressionConfig } from './compression-config.js';
import { describeCodec } from '../shared/compression/codec-spec.js';
import { RoundLog } from './round-log.js';
import { InferenceEngine } from './serving/inference-engine.js';
import { LabelError, ModelRegistry } from './serving/model-registry.js';
import { ServingOverrides } from './serving/serving-overrides.js';
import { BatchingPredictor, DirectPredictor } from './serving/predictor.js';
import { ServingMetrics } from './serving/serving-metrics.js';
import { attachSocketTransport, type Heartbeat } from './socket-transport.js';
import { CheckpointStore } from './store/checkpoint-store.js';
import { planCoordinator } from './strategy-runtime.js';
import { createWebHandler } from './web/handler.js';
import { attachLiveFeed } from './web/live-feed.js';
import { errorMessage } from '../shared/error-message.js';
import { createAdapter } from '@socket.io/redis-adapter';
import { checkClusterConfig, clusterForwardingNote } from './cluster/cluster-checks.js';
import { registerClusterMetrics } from './cluster/cluster-metrics.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { EdgeProtocol } from './cluster/edge-protocol.js';

export interface RunningCoordinator {
  /** http://host:port (https:// with TLS) of the API and socket.io endpoint. */
  url: string;
  port: number;
  coordinator: Coordinator;
  registry: ModelRegistry;
  /** Cluster mode: this node of the cluster. */
  cluster?: ClusterNode;
  joinToken: string;
  adminToken: string;
  /** Stops accepting connections, waits for an aggregation in flight, and releases the port. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** The operational log; default a logger on stdout as config `log` says (level, format). */
  logger?: Logger;
  clock?: Clock;
  /** Held-out data for centralized evaluation given directly (simulations), instead of config `eval`. */
  evalData?: Dataset;
  /** Tests only: the coordinator tampers with what it sends in secure rounds, which clients must detect. */
  secAggTamper?: SecAggTamper;
  /** Tests only: the coordinator asks these clients to evaluate in the clear under secure aggregation (a downgrade). */
  downgradeEvaluation?: (clientId: string) => boolean;
  /** Tests only: seeds differential privacy's Poisson sample (otherwise drawn from the CSPRNG). */
  privacySamplingSeed?: number;
  /** socket.io's heartbeat (benches hosting many clients per process); default socket.io's own. */
  heartbeat?: Heartbeat;
}

async function loadTask(config: CoordinatorConfig): Promise<Task> {
  const model = config.model ? await loadModelFile(config.model) : createSeedCnn();
  try {
    return taskFromModel(config.task, model);
  } finally {
    model.dispose();
  }
}

/** How long a cluster node that does not lead waits for the leader to write version 0 into an empty data dir. */
const FOLLOWER_OPEN_WAIT_MS = 60_000;

/** Round timing and sizes from the config; the sampler's limits decide when a round may start. */
export function roundPolicy(config: CoordinatorConfig): RoundPolicy {
  const sampler = config.strategy.sampler;
  const minClients = Math.max(sampler.minAvailable ?? sampler.minClients, sampler.minClients);
  if (config.rounds.minResults > minClients) {
    throw new Error(
      `rounds.minResults (${config.rounds.minResults}) cannot exceed the clients a round starts with (${minClients})`,
    );
  }
  return {
    minClients,
    maxClients: sampler.maxClients ?? Number.POSITIVE_INFINITY,
    minResults: config.rounds.minResults,
    selectionWindowMs: config.rounds.selectionWindowMs,
    trainingTimeoutMs: config.rounds.trainingTimeoutMs,
  };
}

/**
 * Builds and starts a coordinator from its config: task, checkpoint store and round log under
 * dataDir, strategy, HTTP API + serving and socket.io on one port. Needs a tfjs backend set up.
 */
export async function startCoordinator(
  config: CoordinatorConfig,
  options: StartOptions = {},
): Promise<RunningCoordinator> {
  const logger = options.logger ?? createLogger(config.log);
  // coordinator.ts and the secure-aggregation runtime still take a line callback.
  const log = infoLines(logger);
  const joinToken = config.joinToken ?? generateToken();
  const adminToken = config.adminToken ?? generateToken();
  // Read before anything is opened, so a wrong file stops the start naming it.
  const tls = config.tls ? loadTlsCredentials(config.tls) : undefined;
  const clientCredentials = config.clientTokensFile ? ClientCredentials.load(config.clientTokensFile) : undefined;
  if (clientCredentials && config.joinToken) {
    throw new Error(
      'give clientTokensFile (--client-tokens-file) or a shared joinToken, not both: per-client tokens refuse the shared one',
    );
  }
  const task = await loadTask(config);
  const evalData = options.evalData ?? (config.eval ? await loadDataSpec(config.eval) : undefined);
  const secure = config.secureAggregation;
  checkSecureAggregationConfig(config);
  checkCompressionConfig(config);
  if (config.compression.codec !== 'float32')
    logger.info(`updates are compressed: clients send them as ${describeCodec(config.compression)}`);
  const plan = planCoordinator(config, {
    secureAggregation: secure.enabled,
    hasEvalData: evalData !== undefined,
    ...(options.privacySamplingSeed !== undefined ? { privacySamplingSeed: options.privacySamplingSeed } : {}),
  });
  for (const note of plan.notes) logger.info(note);
  checkClusterConfig(config);
  const forwarding = clusterForwardingNote(config, plan.strategy, task.info.parameterCount);
  if (forwarding) logger.info(forwarding);
  if (secure.enabled) {
    logger.info(
      `secure aggregation (SecAgg+) on: the coordinator sees masked updates and their sum only; clip ${secure.clip} per coordinate, ` +
        `k ${secure.k ?? 'from n'}, threshold ${secure.threshold ?? 'from n'}${secure.auditDir ? `; audit mode: payloads recorded under ${secure.auditDir}` : ''}`,
    );
  }
  const policy = roundPolicy(config);
  const evaluate = evalData ? await createEvaluator(task, evalData) : undefined;
  const store = new CheckpointStore(config.dataDir, { logger: logger.child({ component: 'checkpoint-store' }) });
  const cluster = config.cluster
    ? new ClusterNode(
        config.cluster,
        {
          codec: config.compression,
          normLimits: { max: config.rounds.maxUpdateNorm, maxToMedian: config.rounds.maxUpdateNormToMedian },
          phaseTimeoutMs: secure.phaseTimeoutMs,
          aggregator: plan.strategy.aggregator,
        },
        logger.child({ component: 'cluster' }),
      )
    : undefined;
  try {
    return await startWith(cluster);
  } catch (e) {
    await cluster?.close();
    throw e;
  }

  async function startWith(cluster: ClusterNode | undefined): Promise<RunningCoordinator> {
    // Names are bound to identity keys in every mode: a join-token holder cannot take over a keyed client's name.
    // A cluster node keeps its own clients' bindings in a file of its own: nodes never overwrite each other's.
    const identities = new IdentityRegistry(
      join(config.dataDir, cluster ? `identities-${cluster.nodeId}.json` : 'identities.json'),
    );
    // The first node to take the lease opens the data dir as a single coordinator does; the others only read it.
    const leads = cluster ? await cluster.tryLeadAtStart() : true;
    const coordinatorOptions: CoordinatorOptions = {
      task,
      store,
      roundLog: new RoundLog(join(config.dataDir, 'rounds.jsonl'), logger),
      policy,
      trainConfig: plan.trainConfig,
      strategy: plan.coordinatorStrategy,
      // Differential privacy, when on, is one decorator around whichever protocol runs (private-protocol.ts).
      protocol: cluster
        ? secure.enabled
          ? // The leader runs SecAgg+ for the whole roster; a client of another node is known by the key it registered there.
            secureProtocolFactory({
              config: secure,
              identities: { keyOf: (id) => cluster.remoteIdentity(id) ?? identities.keyOf(id) },
              ...(config.compression.codec === 'int8' ? { smallWords: true } : {}),
              log,
            })
          : (ctx) => new EdgeProtocol(ctx, cluster, config.rounds.maxUpdateNorm)
        : withPrivacy(
            secure.enabled
              ? secureProtocolFactory({
                  config: secure,
                  identities,
                  ...(secure.auditDir ? { audit: fileAudit(secure.auditDir) } : {}),
                  ...(options.secAggTamper ? { tamper: options.secAggTamper } : {}),
                  ...(config.compression.codec === 'int8' ? { smallWords: true } : {}),
                  log,
                })
              : (ctx) =>
                  new PlaintextProtocol(
                    ctx,
                    { max: config.rounds.maxUpdateNorm, maxToMedian: config.rounds.maxUpdateNormToMedian },
                    config.compression,
                  ),
            plan.privacy,
            { updatesInTheClear: !secure.enabled },
          ),
      maxUpdateNorm: config.rounds.maxUpdateNorm,
      ...(evaluate ? { evaluate } : {}),
      ...(plan.federatedEvaluation
        ? {
            federatedEvaluation: {
              ...plan.federatedEvaluation,
              // Under secure aggregation no client's evaluation figures are seen either: only their SecAgg+ sum.
              ...(secure.enabled
                ? {
                    secure: {
                      identityOf: (id: string) => identities.keyOf(id),
                      phaseTimeoutMs: secure.phaseTimeoutMs,
                      ...(options.downgradeEvaluation ? { downgrade: options.downgradeEvaluation } : {}),
                    },
                  }
                : {}),
            },
          }
        : {}),
      ...(plan.privacy
        ? {
            privacy: plan.privacy,
            privacyJournal: new PrivacyJournal(join(config.dataDir, 'privacy-charges.jsonl'), logger),
          }
        : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(cluster ? { fence: cluster.lease } : {}),
      log,
    };
    const coordinator = leads
      ? await Coordinator.open(coordinatorOptions)
      : await Coordinator.openFollower(coordinatorOptions, FOLLOWER_OPEN_WAIT_MS);

    const { batching, versionPolicy, versionLabels, warmup, inferenceThread, ...servingLimits } = config.serving;
    const backend = tf.getBackend();
    const engine =
      inferenceThread && (backend === 'wasm' || backend === 'cpu')
        ? await InferenceEngine.start(backend, {
            onRestart: ({ reason, restarts, ok, error }) => {
              if (ok) logger.warn({ restarts }, `the inference thread ${reason}: restarted with every loaded version`);
              else logger.error({ restarts }, error ?? `the inference thread ${reason}`);
            },
          })
        : undefined;
    // Label and policy changes made over REST, on top of the config (see README, Versions).
    const overrides = ServingOverrides.load(join(config.dataDir, 'serving-overrides.json'));
    const registry = new ModelRegistry(store, {
      ...(engine ? { engine } : {}),
      policy: overrides.policy(versionPolicy),
      warmupBatchSizes: !warmup ? [] : batching.enabled && batching.maxBatchSize > 1 ? [1, batching.maxBatchSize] : [1],
    });
    const artifact = { modelTopology: task.modelTopology, weightSpecs: task.weightSpecs };
    await registry.publish(coordinator.currentVersion, { ...artifact, weights: coordinator.currentWeights() });
    for (const [label, version] of Object.entries(overrides.labels(versionLabels))) {
      try {
        await registry.setLabel(label, version);
      } catch (e) {
        if (versionLabels[label] === version || !(e instanceof LabelError)) throw e;
        // Set over REST, but the version is gone (an older data dir?): serve without it, say so.
        logger.warn({ label, version }, `version label '${label}' is not served: ${e.message}`);
      }
    }
    coordinator.on('committed', (m) => {
      registry
        .publish(m.version, { ...artifact, weights: m.weights, round: m.round })
        .catch((e: unknown) =>
          logger.error({ version: m.version, err: e }, `could not serve version ${m.version}: ${errorMessage(e)}`),
        );
    });

    const metrics = new MetricsExposition(plan.privacy !== undefined);
    // Registers the coordinator's series in `metrics`; they read the coordinator at scrape time.
    new CoordinatorMetrics(coordinator, metrics);
    if (cluster) registerClusterMetrics(cluster, metrics);
    const servingMetrics = new ServingMetrics(task.info.name, metrics.public);
    const observeBatch = (version: number, instances: number) => servingMetrics.observeBatch(version, instances);
    const predictor = batching.enabled
      ? new BatchingPredictor(batching, observeBatch)
      : new DirectPredictor(observeBatch);
    const serving = {
      registry,
      modelName: task.info.name,
      logger,
      predictor,
      metrics: servingMetrics,
      adminToken,
      overrides,
      ...servingLimits,
    };
    const web = createWebHandler({ logger });
    const http = createHttpServer(
      (req, res) =>
        void handleApi(req, res, {
          coordinator,
          metrics,
          serving,
          web,
          adminToken,
          logger,
          ...(cluster ? { cluster } : {}),
        }),
      config.http,
      tls,
    );
    const adapter = cluster?.adapterConnections();
    const io = attachSocketTransport(
      http,
      cluster ? cluster.sink(coordinator, (id) => identities.textOf(id)) : coordinator,
      {
        ...(adapter ? { adapter: createAdapter(adapter.pub, adapter.sub) } : {}),
        joinToken,
        ...(clientCredentials ? { clientCredentials } : {}),
        logger,
        ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}),
        admit: (join) => identities.admit(join, { requireKey: secure.enabled }),
        onJoin: (id, join) => identities.register(id, join),
      },
    );
    const stopFeed = attachLiveFeed(io, coordinator, { adminToken });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.port, config.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const port = (http.address() as AddressInfo).port;
    const url = `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    logger.info(
      { task: task.info.name, version: coordinator.currentVersion, url },
      `task ${task.info.name} (${task.info.parameterCount} parameters), version ${coordinator.currentVersion}, ` +
        `next round ${coordinator.nextRoundNumber()}, listening on ${url}`,
    );
    if (clientCredentials)
      logger.info(
        `clients join with per-client tokens (${clientCredentials.size} in ${config.clientTokensFile}); the shared join token is refused`,
      );
    if (cluster) await cluster.start({ coordinator, registry, store, io, url }, config.rounds.start);
    else if (config.rounds.start > 0) coordinator.startRounds(config.rounds.start);

    return {
      url,
      port,
      coordinator,
      registry,
      ...(cluster ? { cluster } : {}),
      joinToken,
      adminToken,
      close: async () => {
        await coordinator.stop();
        await cluster?.close();
        stopFeed();
        await new Promise<void>((resolve) => {
          void io.close(() => resolve());
        });
        registry.dispose();
        await engine?.close();
      },
    };
  }
}
