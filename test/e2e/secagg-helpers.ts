import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { NodeClient, type ClientOptions, type RoundOutcome } from '../../client/node-client.js';
import { startCoordinator, type RunningCoordinator, type StartOptions } from '../../server/app.js';
import { parseCoordinatorConfig, type CoordinatorConfigInput } from '../../server/config.js';
import { shard } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { ClientAudit } from '../../shared/secagg/index.js';
import { setupBackend } from '../../shared/engine/backend.js';
import { collectingProgress, JOIN_TOKEN, ADMIN_TOKEN, tempDir } from './helpers.js';
import { lineLogger } from '../../server/logger.js';

/**
 * Secure federations for the e2e tests: a small MNIST model (softmax regression, 7,850
 * parameters) so rounds take a second, clients on 100-digit shards, and each client's plaintext
 * update captured through the audit hook so a test can compute the exact weighted FedAvg.
 */

const train = loadMnist().train;
/** 80 shards of the 8,000 training digits: 100 per client; client i >= 80 trains on shard i mod 80 (a sum's correctness does not need distinct data). */
const SHARDS = 80;

/** Writes a tfjs Layers softmax regression for 28x28x1 digits as model.json + weights.bin in `dir`. */
export async function saveSmallMnistModel(dir: string): Promise<string> {
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
  });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await writeFile(join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
      const json = {
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return join(dir, 'model.json');
}

export interface SecureCoordinator extends RunningCoordinator {
  logs: string[];
}

/** A coordinator with secure aggregation on, selecting exactly `clients` clients per round. */
export async function startSecureCoordinator(
  dataDir: string,
  model: string,
  clients: number,
  overrides: Partial<CoordinatorConfigInput> = {},
  options: StartOptions = {},
): Promise<SecureCoordinator> {
  const logs: string[] = [];
  const config = parseCoordinatorConfig(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      joinToken: JOIN_TOKEN,
      adminToken: ADMIN_TOKEN,
      model,
      rounds: { selectionWindowMs: 0, trainingTimeoutMs: 20_000, minResults: 2 },
      strategy: { sampler: { minClients: clients, maxClients: clients } },
      training: { epochs: 1, batchSize: 20, learningRate: 0.1, optimizer: 'sgd' },
      ...overrides,
      secureAggregation: { enabled: true, phaseTimeoutMs: 4_000, ...overrides.secureAggregation },
    },
    'secure test',
  );
  const running = await startCoordinator(config, { logger: lineLogger((line) => logs.push(line)), ...options });
  return Object.assign(running, { logs });
}

/** What a client fed to secure aggregation in one round (its audit record). */
export interface Plaintext {
  vector: Float32Array;
  numExamples: number;
}

export interface SecureTestClient {
  name: string;
  client: NodeClient;
  lines: string[];
  outcomes: RoundOutcome[];
  /** Round -> the client's plaintext vector (delta, then slots) and example count. */
  plaintext: Map<number, Plaintext>;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** A client on MNIST shard `i`, capturing its plaintext updates; `extra` adds hooks. */
export function startSecureClient(
  url: string,
  i: number,
  name: string,
  extra: Partial<ClientOptions> = {},
): SecureTestClient {
  const lines: string[] = [];
  const outcomes: RoundOutcome[] = [];
  const plaintext = new Map<number, Plaintext>();
  const audit: ClientAudit = {
    plaintext: ({ round, delta, numExamples }) => void plaintext.set(round, { vector: delta.slice(), numExamples }),
  };
  const client = new NodeClient({
    server: url,
    token: JOIN_TOKEN,
    data: shard(train, i % SHARDS, SHARDS),
    name,
    progress: collectingProgress(lines),
    reconnectDelayMs: 200,
    reconnectDelayMaxMs: 1000,
    secAggAudit: audit,
    ...extra,
  });
  client.onRound((o) => outcomes.push(o));
  const done = client.run();
  done.catch(() => undefined);
  return {
    name,
    client,
    lines,
    outcomes,
    plaintext,
    done,
    stop: async () => {
      client.stop();
      await done.catch(() => undefined);
    },
  };
}

/** The example-weighted mean of the clipped deltas of `contributors` in `round`: plaintext FedAvg. */
export function plaintextFedAvg(
  contributors: readonly SecureTestClient[],
  round: number,
  m: number,
  clip: number,
  maxWeight: number,
): Float64Array {
  const acc = new Float64Array(m);
  let total = 0;
  for (const c of contributors) {
    const p = c.plaintext.get(round);
    if (!p) throw new Error(`no plaintext from ${c.name} for round ${round}`);
    const w = Math.min(p.numExamples, maxWeight);
    total += w;
    for (let i = 0; i < m; i++) acc[i] += w * Math.max(-clip, Math.min(clip, p.vector[i]));
  }
  return acc.map((v) => v / total);
}

export async function weightsOf(url: string, version: number): Promise<Float32Array> {
  const res = await fetch(`${url}/v1/models/mnist/versions/${version}/weights.bin`);
  expect(res.status).toBe(200);
  return new Float32Array(await res.arrayBuffer());
}

/**
 * The committed model moved by exactly the secure aggregate (server SGD, learning rate 1): checks
 * |(new - old) - expected| <= the record's error bound plus float32 rounding of the weights.
 */
export async function expectCommittedDelta(
  url: string,
  record: Pick<RoundRecord, 'status' | 'round' | 'reason' | 'baseVersion' | 'version'> & {
    secureAggregation?: { errorBound?: number };
  },
  expected: Float64Array,
  /** The largest error bound the test's example counts allow (the bound shrinks as the total weight grows). */
  maxBound = 1e-6,
): Promise<void> {
  if (record.status !== 'committed') throw new Error(`round ${record.round} ${record.status}: ${record.reason}`);
  const bound = record.secureAggregation?.errorBound;
  expect(bound).toBeGreaterThan(0);
  expect(bound).toBeLessThan(maxBound);
  const [before, after] = await Promise.all([weightsOf(url, record.baseVersion), weightsOf(url, record.version!)]);
  expect(after).toHaveLength(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const rounding = 2 ** -23 * (Math.abs(after[i]) + Math.abs(before[i]));
    const excess = Math.abs(after[i] - before[i] - expected[i]) - (bound! + rounding);
    worst = Math.max(worst, excess);
  }
  expect(worst, 'largest deviation beyond the stated bound').toBeLessThanOrEqual(0);
}

/**
 * The fixture every secure e2e file needs, with its vitest hooks: the wasm backend, a temp dir
 * holding the small model, a fresh data dir per coordinator, and clean-up steps run after each test.
 */
export interface SecureSuite {
  /** Path of the small model's model.json (set once beforeAll ran). */
  model(): string;
  /** A fresh data dir under the suite's temp dir. */
  dataDir(): string;
  /** Runs `step` after the current test, in reverse order of registration. */
  defer(step: () => Promise<void>): void;
}

export function secureSuite(): SecureSuite {
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  let model: string | undefined;
  let steps: (() => Promise<void>)[] = [];
  let dataDirs = 0;
  beforeAll(async () => {
    await setupBackend('wasm', { log: () => undefined });
    dir = await tempDir();
    model = await saveSmallMnistModel(dir.path);
  });
  afterAll(async () => {
    await dir?.remove();
  });
  afterEach(async () => {
    for (const step of steps.reverse()) await step();
    steps = [];
  });
  return {
    model: () => model!,
    dataDir: () => `${dir!.path}/data-${dataDirs++}`,
    defer: (step) => void steps.push(step),
  };
}
