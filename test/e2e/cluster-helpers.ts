import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { NodeClient, type OffThreadTrainer, type RoundOutcome } from '../../client/node-client.js';
import { shard } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import { PublicRoundListSchema, type PublicRoundList } from '../../shared/protocol/public-rounds.js';
import { writeSoftmaxRegression } from '../../bench/live/small-model.js';
import { freePort } from '../helpers/redis-server.js';
import { useRedis, type UsedRedis } from '../helpers/use-redis.js';
import { ADMIN_TOKEN, collectingProgress, JOIN_TOKEN, killChild, spawnFedserve, tempDir } from './helpers.js';

/**
 * A cluster of real `fedserve server --cluster` processes on one redis-server and one data dir,
 * and light in-process NodeClients (a softmax regression, and a stand-in trainer that returns the
 * global weights plus a small seeded delta, after `trainMs`), so a 2-core machine runs it quickly.
 */

export interface ClusterProcess {
  id: string;
  url: string;
  args: string[];
  server: ReturnType<typeof spawnFedserve>;
}

export interface ClusterSetup {
  dataDir: string;
  configFile: string;
  /** Extra `fedserve server` flags every node gets. */
  flags: string[];
}

/**
 * Writes the small model and the nodes' shared config (cluster section: lease and heartbeat, and
 * any `extra` config sections) into `dir`.
 */
export async function clusterSetup(
  dir: string,
  redisUrl: string,
  cluster: { leaseMs: number; heartbeatMs: number },
  flags: string[],
  extra: Record<string, unknown> = {},
): Promise<ClusterSetup> {
  const model = await writeSoftmaxRegression(dir);
  const configFile = join(dir, 'cluster.json');
  await writeFile(configFile, JSON.stringify({ model, cluster: { redis: redisUrl, ...cluster }, ...extra }));
  return { dataDir: join(dir, 'data'), configFile, flags };
}

/** Starts node `id` on a free port; resolves once it listens. */
export async function startNode(setup: ClusterSetup, id: string): Promise<ClusterProcess> {
  const port = await freePort();
  const args = [
    'server',
    '--config',
    setup.configFile,
    '--node-id',
    id,
    '--port',
    String(port),
    '--data-dir',
    setup.dataDir,
    '--join-token',
    JOIN_TOKEN,
    '--admin-token',
    ADMIN_TOKEN,
    '--log-format',
    'json',
    ...setup.flags,
  ];
  const server = spawnFedserve(args);
  await server.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/);
  return { id, url: `http://127.0.0.1:${port}`, args, server };
}

export async function stopNode(node: ClusterProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await killChild(node.server.child, signal);
}

export interface UsedCluster {
  /** n1, n2, n3 from useCluster's beforeAll until its afterAll (one array: read it inside tests and hooks). */
  readonly nodes: readonly ClusterProcess[];
  readonly setup: ClusterSetup;
  readonly redis: UsedRedis;
}

/**
 * Registers hooks that start a redis-server (useRedis), write the cluster's config into a temp dir
 * and start nodes n1, n2 and n3 before the calling file's tests, and after them stop the nodes with
 * `stopSignal`, remove the dir and stop the server. Call it before the file's own hooks: its
 * beforeAll then runs first and its afterAll last, so the file's clients stop before the nodes do.
 */
export function useCluster(options: {
  leaseMs: number;
  heartbeatMs?: number;
  flags: string[];
  extra?: Record<string, unknown>;
  stopSignal?: NodeJS.Signals;
}): UsedCluster {
  const redis = useRedis();
  const nodes: ClusterProcess[] = [];
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  let setup: ClusterSetup | undefined;
  beforeAll(async () => {
    dir = await tempDir();
    const cluster = { leaseMs: options.leaseMs, heartbeatMs: options.heartbeatMs ?? 250 };
    setup = await clusterSetup(dir.path, redis.url, cluster, options.flags, options.extra);
    // The first node opens the empty data dir (version 0); the others start once it did.
    nodes.push(await startNode(setup, 'n1'));
    nodes.push(...(await Promise.all([startNode(setup, 'n2'), startNode(setup, 'n3')])));
  });
  afterAll(async () => {
    await Promise.all(nodes.splice(0).map((n) => stopNode(n, options.stopSignal)));
    await dir?.remove();
    dir = undefined;
    setup = undefined;
  });
  return {
    nodes,
    get setup() {
      if (!setup)
        throw new Error("useCluster: the cluster runs only inside the tests and hooks after useCluster's beforeAll");
      return setup;
    },
    redis,
  };
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- each caller names the body it expects
export async function json<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

export async function rounds(node: ClusterProcess): Promise<PublicRoundList> {
  return PublicRoundListSchema.parse((await json(`${node.url}/v1/rounds`)).body);
}

export async function queueRounds(node: ClusterProcess, n: number): Promise<{ firstRound: number }> {
  const res = await json<{ firstRound: number }>(`${node.url}/v1/rounds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rounds: n }),
  });
  if (res.status !== 202) throw new Error(`POST /v1/rounds on ${node.id} answered ${res.status}`);
  return res.body;
}

export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What `GET /v1/cluster` answers, as far as the tests read it. */
export interface ClusterView {
  leader: string | null;
  fencingToken: number | null;
  nodes: { id: string; clients: number; bytesIn: number; leader: boolean }[];
}

/** Waits until `node`'s /v1/cluster shows `total` clients connected over all nodes. */
export async function untilClients(node: ClusterProcess, total: number): Promise<void> {
  await until(`all ${total} clients to connect`, async () => {
    const view = (await json<ClusterView>(`${node.url}/v1/cluster`)).body;
    return view.nodes.reduce((n, x) => n + x.clients, 0) === total ? true : undefined;
  });
}

/** Waits until `node`'s /v1/cluster shows `count` nodes with `perNode` clients each. */
export async function untilEveryNodeHas(node: ClusterProcess, count: number, perNode: number): Promise<void> {
  await until(`every node to report its ${perNode} clients`, async () => {
    const view = (await json<ClusterView>(`${node.url}/v1/cluster`)).body;
    return view.nodes.length === count && view.nodes.every((n) => n.clients === perNode) ? true : undefined;
  });
}

/**
 * The secure cluster tests' task: a 7,850-parameter model, clip 1, max weight 10,000. The stand-in
 * trainers report 10 to 15 examples each: a small total weight, so a looser (still tiny) bound.
 */
export const SECURE_TASK = { m: 7850, clip: 1, maxWeight: 10_000, maxBound: 1e-5 } as const;

/** A stand-in for training: the global weights plus a small delta seeded by client and round, after `trainMs`. */
export function slowSynthetic(index: number, trainMs: number): OffThreadTrainer {
  return async ({ weights, config }) => {
    await new Promise((resolve) => setTimeout(resolve, trainMs));
    let s = (index * 7_919 + (config.seed ?? 0) * 104_729 + 1) >>> 0;
    const next = () => (s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32;
    const local = new Float32Array(weights.length);
    for (let i = 0; i < local.length; i++) local[i] = weights[i] + (next() * 2 - 1) * 0.01;
    return { weights: local, result: { loss: 1, accuracy: 0.5, numExamples: 10 + index } };
  };
}

export interface LightClient {
  name: string;
  client: NodeClient;
  outcomes: RoundOutcome[];
  lines: string[];
  done: Promise<void>;
}

const train = loadMnist().train;

export function startLightClient(url: string, index: number, trainMs: number): LightClient {
  const name = `c${index}`;
  const lines: string[] = [];
  const outcomes: RoundOutcome[] = [];
  const client = new NodeClient({
    server: url,
    token: JOIN_TOKEN,
    data: shard(train, index, 80),
    name,
    progress: collectingProgress(lines),
    reconnectDelayMs: 200,
    reconnectDelayMaxMs: 1000,
    trainer: slowSynthetic(index, trainMs),
  });
  client.onRound((o) => outcomes.push(o));
  const done = client.run();
  done.catch(() => undefined);
  return { name, client, outcomes, lines, done };
}

export async function stopClients(clients: readonly Pick<LightClient, 'client' | 'done'>[]): Promise<void> {
  for (const c of clients) c.client.stop();
  await Promise.all(clients.map((c) => c.done.catch(() => undefined)));
}
