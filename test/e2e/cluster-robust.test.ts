import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClient } from '../../client/node-client.js';
import { CoordinateMedian } from '../../shared/aggregation/median.js';
import { ServerSgd } from '../../shared/aggregation/server-sgd.js';
import { WeightedMean } from '../../shared/aggregation/weighted-mean.js';
import { shard } from '../../shared/data/dataset.js';
import { loadMnist } from '../../shared/data/mnist.node.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { silentLogger } from '../../server/logger.js';
import { CheckpointStore } from '../../server/store/checkpoint-store.js';
import {
  json,
  queueRounds,
  rounds,
  slowSynthetic,
  stopClients,
  until,
  untilEveryNodeHas,
  useCluster,
} from './cluster-helpers.js';
import { ADMIN_TOKEN, collectingProgress, JOIN_TOKEN } from './helpers.js';

/**
 * Three real `fedserve server --cluster` processes with the coordinate median, two clients on
 * each: every node forwards its clients' updates, and the committed model is the median over all
 * six updates, as one coordinator would commit it.
 */

const cluster = useCluster({
  leaseMs: 2_000,
  flags: ['--min-clients', '6', '--selection-window', '0', '--round-timeout', '20000'],
  extra: { strategy: { aggregator: { kind: 'median' } } },
});
const { nodes } = cluster;
const clients: { client: NodeClient; done: Promise<void> }[] = [];
/** Each client's update, as it computed it: what it trained to minus the global weights it was sent. */
const deltas = new Map<string, Float32Array>();
const { train } = loadMnist();

beforeAll(async () => {
  for (let i = 0; i < 6; i++) {
    const name = `c${i}`;
    const synthetic = slowSynthetic(i, 20);
    const client = new NodeClient({
      server: nodes[i % 3].url,
      token: JOIN_TOKEN,
      data: shard(train, i, 80),
      name,
      progress: collectingProgress([]),
      trainer: async (task) => {
        const trained = await synthetic(task);
        const delta = new Float32Array(task.weights.length);
        for (let k = 0; k < delta.length; k++) delta[k] = trained.weights[k] - task.weights[k];
        deltas.set(name, delta);
        return trained;
      },
    });
    const done = client.run();
    done.catch(() => undefined);
    clients.push({ client, done });
  }
  await untilEveryNodeHas(nodes[0], 3, 2);
});

afterAll(async () => {
  await stopClients(clients);
});

describe('a 3-node cluster with the coordinate median', () => {
  it('says at start that every update reaches the leader, and shows it in /v1/cluster', async () => {
    for (const node of nodes)
      expect(node.server.output()).toMatch(/aggregator median needs every update.*31400 bytes per client per round/);
    const view = (await json<{ forwarding: unknown }>(`${nodes[1].url}/v1/cluster`)).body;
    expect(view.forwarding).toEqual({ aggregator: 'median', forwarded: 'updates' });
  });

  it('commits the median of all six updates, from the clients of every node', async () => {
    await queueRounds(nodes[1], 1);
    await until('round 1 to commit', async () => {
      const list = await rounds(nodes[0]);
      return list.rounds.some((r) => r.status === 'committed') ? list : undefined;
    });
    const admin = await json<{ rounds: RoundRecord[] }>(`${nodes[0].url}/v1/rounds`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(admin.body.rounds[0].nodes?.map((n) => [n.node, n.forwarded, n.contributors])).toEqual([
      ['n1', 'updates', 2],
      ['n2', 'updates', 2],
      ['n3', 'updates', 2],
    ]);
    expect(deltas.size).toBe(6);
    const store = new CheckpointStore(cluster.setup.dataDir, { logger: silentLogger() });
    const [v0, v1] = await Promise.all([store.load(0), store.load(1)]);
    // slowSynthetic's client i reports 10 + i examples (the median ignores them; FedAvg would not).
    const updates = [...deltas].map(([clientId, delta]) => ({
      clientId,
      delta,
      numExamples: 10 + Number(clientId.slice(1)),
    }));
    const step = (delta: Float32Array) => Array.from(new ServerSgd(1, 0).step(v0.weights, delta));
    expect(Array.from(v1.weights)).toEqual(step(new CoordinateMedian().aggregate(updates)));
    // The test can tell: the FedAvg of the same updates (what one mean per node would give) differs.
    expect(Array.from(v1.weights)).not.toEqual(step(new WeightedMean().aggregate(updates)));
  });
});
