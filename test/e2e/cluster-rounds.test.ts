import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist } from '../../shared/data/mnist.node.js';
import {
  json,
  queueRounds,
  rounds,
  startLightClient,
  stopClients,
  until,
  untilEveryNodeHas,
  useCluster,
  type LightClient,
  type ClusterView,
} from './cluster-helpers.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import { ADMIN_TOKEN } from './helpers.js';

/**
 * Three real `fedserve server --cluster` processes on one real redis-server and one data dir, six
 * clients spread over them (two per node): rounds queued on any node commit, every node serves
 * the committed versions, and /v1/cluster and /metrics show the nodes.
 */

const { nodes } = useCluster({
  leaseMs: 2_000,
  flags: ['--min-clients', '6', '--selection-window', '0', '--round-timeout', '20000'],
});
const clients: LightClient[] = [];
const { test: heldOut } = loadMnist();

beforeAll(async () => {
  for (let i = 0; i < 6; i++) clients.push(startLightClient(nodes[i % 3].url, i, 50));
  await untilEveryNodeHas(nodes[0], 3, 2);
});

/** What the leader (n1) received on the cluster bus so far. */
async function leaderBytes(): Promise<number> {
  const text = await (await fetch(`${nodes[0].url}/metrics`)).text();
  return Number(/^fedserve_cluster_leader_bytes_received_total (\d+)$/m.exec(text)![1]);
}
let leaderBytesBefore = 0;
let leaderBytesAfter = 0;

afterAll(async () => {
  await stopClients(clients);
});

describe('a 3-node cluster', () => {
  it('commits rounds queued on a follower, with the updates of the clients of every node', async () => {
    const view = (await json<ClusterView>(`${nodes[1].url}/v1/cluster`)).body;
    expect(view.leader).toBe('n1');
    expect(view.fencingToken).toBe(1);
    expect(view.nodes.map((n) => [n.id, n.leader])).toEqual([
      ['n1', true],
      ['n2', false],
      ['n3', false],
    ]);
    leaderBytesBefore = await leaderBytes();
    const { firstRound } = await queueRounds(nodes[2], 2);
    expect(firstRound).toBe(1);
    const list = await until('rounds 1 and 2 to commit', async () => {
      const l = await rounds(nodes[0]);
      return l.rounds.filter((r) => r.status === 'committed').length === 2 ? l : undefined;
    });
    expect(list.rounds.map((r) => [r.round, r.status, r.version])).toEqual([
      [1, 'committed', 1],
      [2, 'committed', 2],
    ]);
    leaderBytesAfter = await leaderBytes();
    const admin = await json<{ rounds: RoundRecord[] }>(`${nodes[0].url}/v1/rounds`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    // Each node's two clients, summed there: the leader never sees a client's own figures.
    for (const r of admin.body.rounds) {
      expect(r.contributions).toEqual([]);
      expect(r.nodes?.map((n) => [n.node, n.contributors, n.refused])).toEqual([
        ['n1', 2, 0],
        ['n2', 2, 0],
        ['n3', 2, 0],
      ]);
      expect(r.numExamples).toBe(r.nodes!.reduce((s, n) => s + n.numExamples, 0));
      expect(r.trainLoss).toEqual(expect.any(Number));
    }
    const publicView = await rounds(nodes[1]);
    for (const r of publicView.rounds) expect(r).toMatchObject({ view: 'aggregates', contributors: 6 });
    expect(JSON.stringify(publicView)).not.toMatch(/"nodes"|"c\d"/);
    for (const c of clients) expect(c.outcomes.filter((o) => o.accepted).map((o) => o.round)).toEqual([1, 2]);
  });

  it('answers predictions of the newest version on every node, the same on each', async () => {
    const digit = Array.from(heldOut.x.subarray(0, 784));
    const answers = await Promise.all(
      nodes.map((node) =>
        until(`${node.id} to serve version 2`, async () => {
          const res = await json<{ predictions: number[][] }>(`${node.url}/v1/models/mnist/versions/2:predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ instances: [digit] }),
          });
          return res.status === 200 ? res.body.predictions : undefined;
        }),
      ),
    );
    expect(answers[0][0]).toHaveLength(10);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    // Followers list the leader's rounds too.
    for (const node of nodes.slice(1))
      expect((await rounds(node)).rounds.map((r) => [r.round, r.status])).toEqual([
        [1, 'committed'],
        [2, 'committed'],
      ]);
  });

  it('shows the nodes, clients per node and update bytes per node in /v1/cluster and /metrics', async () => {
    const view = (await json<ClusterView>(`${nodes[2].url}/v1/cluster`)).body;
    expect(view.nodes.map((n) => n.clients)).toEqual([2, 2, 2]);
    for (const n of view.nodes) expect(n.bytesIn).toBeGreaterThan(0);
    const text = await (await fetch(`${nodes[0].url}/metrics`)).text();
    expect(text).toMatch(/^fedserve_cluster_leader 1$/m);
    expect(text).toMatch(/^fedserve_cluster_nodes 3$/m);
    expect(text).toMatch(/^fedserve_cluster_node_clients\{node="n2"\} 2$/m);
    expect(text).toMatch(/^fedserve_cluster_leader_bytes_received_total [1-9]\d*$/m);
    // Edge aggregation: per round the leader receives one partial from each other node (one update's size
    // plus a header of counts and sums, whatever the number of clients) and its own in process; with the
    // queued-rounds notice, at most one update per node per round.
    const updateBytes = 7_850 * 4;
    const perRound = (leaderBytesAfter - leaderBytesBefore) / 2;
    expect(perRound).toBeGreaterThan(2 * updateBytes);
    expect(perRound).toBeLessThanOrEqual(2 * (updateBytes + 512));
    expect(perRound).toBeLessThanOrEqual(nodes.length * updateBytes);
    const follower = await (await fetch(`${nodes[1].url}/metrics`)).text();
    expect(follower).toMatch(/^fedserve_cluster_leader 0$/m);
  });
});
