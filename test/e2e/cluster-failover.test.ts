import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  json,
  queueRounds,
  rounds,
  startLightClient,
  stopClients,
  stopNode,
  until,
  untilClients,
  useCluster,
  type ClusterProcess,
  type LightClient,
  type ClusterView,
} from './cluster-helpers.js';
import { ADMIN_TOKEN } from './helpers.js';

/**
 * The leader of a 3-node cluster (real processes, one real redis-server, one data dir) is killed
 * with SIGKILL while a round trains: another node takes the lease after it expires, resumes from
 * the newest committed version, and runs the cut-off round again with the clients of the nodes
 * still up; no committed round is lost.
 */

const cluster = useCluster({
  leaseMs: 1_500,
  flags: ['--min-clients', '4', '--selection-window', '0', '--round-timeout', '20000'],
  stopSignal: 'SIGKILL',
});
const { nodes } = cluster;
const clients: LightClient[] = [];

async function weights(node: ClusterProcess, version: number): Promise<Float32Array> {
  const res = await fetch(`${node.url}/v1/models/mnist/versions/${version}/weights.bin`);
  expect(res.status).toBe(200);
  return new Float32Array(await res.arrayBuffer());
}

async function committedBy(version: number): Promise<unknown> {
  const file = JSON.parse(
    await readFile(join(cluster.setup.dataDir, 'versions', String(version), 'round.json'), 'utf8'),
  ) as {
    state: { json: { committedBy?: unknown } };
  };
  return file.state.json.committedBy;
}

beforeAll(async () => {
  // Training takes 1.5 s, so the leader can be killed while a round trains.
  for (let i = 0; i < 6; i++) clients.push(startLightClient(nodes[i % 3].url, i, 1_500));
  await untilClients(nodes[0], 6);
});

afterAll(async () => {
  await stopClients(clients);
});

describe('killing the leader mid-round', () => {
  it('hands the lease to another node, which retries the cut-off round and commits it; no committed round is lost', async () => {
    const [n1, n2, n3] = nodes;
    await queueRounds(n2, 1);
    await until('round 1 to commit', async () =>
      (await rounds(n1)).rounds.some((r) => r.round === 1 && r.status === 'committed') ? true : undefined,
    );
    const v1 = await weights(n2, 1);
    expect(await committedBy(1)).toEqual({ node: 'n1', token: 1 });

    await queueRounds(n3, 1);
    await until('round 2 to train on the leader', async () =>
      (await rounds(n1)).rounds.some((r) => r.round === 2 && r.status === 'training') ? true : undefined,
    );
    await stopNode(n1, 'SIGKILL');
    // Its clients lost their node: they are out of the federation.
    await stopClients(clients.filter((_, i) => i % 3 === 0));

    const view = await until('another node to lead', async () => {
      const v = (await json<ClusterView>(`${n2.url}/v1/cluster`)).body;
      return v.leader !== null && v.leader !== 'n1' ? v : undefined;
    });
    expect(view.fencingToken).toBe(2);
    const leader = view.leader === 'n2' ? n2 : n3;

    const list = await until('round 2 to commit under the new leader', async () => {
      const l = await rounds(leader);
      return l.rounds.some((r) => r.round === 2 && r.status === 'committed') ? l : undefined;
    });
    // The cut-off round never closed: it is retried under its own number, not recorded as failed.
    expect(list.rounds.map((r) => [r.round, r.status, r.version])).toEqual([
      [1, 'committed', 1],
      [2, 'committed', 2],
    ]);
    const admin = await json<{ rounds: { round: number; nodes?: { node: string; contributors: number }[] }[] }>(
      `${leader.url}/v1/rounds`,
      { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
    );
    // The survivors' clients (c1, c4 on n2; c2, c5 on n3), counted per node.
    expect(admin.body.rounds[1].nodes?.map((n) => [n.node, n.contributors])).toEqual([
      ['n2', 2],
      ['n3', 2],
    ]);
    expect(await committedBy(2)).toEqual({ node: view.leader, token: 2 });
    // Version 1 is untouched, and both survivors serve version 2.
    expect(await weights(leader, 1)).toEqual(v1);
    const follower = leader === n2 ? n3 : n2;
    await until('the follower to serve version 2', async () =>
      (await fetch(`${follower.url}/v1/models/mnist/versions/2/weights.bin`)).status === 200 ? true : undefined,
    );
    expect(await weights(follower, 2)).toEqual(await weights(leader, 2));
    const log = (await readFile(join(cluster.setup.dataDir, 'rounds.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { round: number; status: string });
    expect(log.map((r) => [r.round, r.status])).toEqual([
      [1, 'committed'],
      [2, 'committed'],
    ]);
  });
});
