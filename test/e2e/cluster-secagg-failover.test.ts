import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminRoundListSchema } from '../../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import {
  json,
  queueRounds,
  slowSynthetic,
  stopNode,
  until,
  untilClients,
  useCluster,
  type ClusterProcess,
  SECURE_TASK,
  type ClusterView,
} from './cluster-helpers.js';
import { ADMIN_TOKEN } from './helpers.js';
import { expectCommittedDelta, plaintextFedAvg, startSecureClient, type SecureTestClient } from './secagg-helpers.js';

/**
 * The leader of a 3-node cluster running secure aggregation is killed with SIGKILL while a secure
 * round trains: another node takes the lease, and the cut-off round runs again as a fresh SecAgg+
 * round (new keys, new masks) over the clients still connected, and commits their FedAvg.
 */

const { m: M, clip: CLIP, maxWeight: MAX_WEIGHT, maxBound: MAX_BOUND } = SECURE_TASK;

const { nodes } = useCluster({
  leaseMs: 1_500,
  flags: ['--min-clients', '4', '--selection-window', '0', '--round-timeout', '30000'],
  extra: { secureAggregation: { enabled: true, phaseTimeoutMs: 4_000 } },
  stopSignal: 'SIGKILL',
});
const clients: SecureTestClient[] = [];

async function closed(node: ClusterProcess, round: number): Promise<RoundRecord> {
  return until(`round ${round} to close on ${node.id}`, async () => {
    const res = await json(`${node.url}/v1/rounds`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const r = AdminRoundListSchema.parse(res.body).rounds.find((x) => x.round === round);
    return r && (r.status === 'committed' || r.status === 'failed') ? r : undefined;
  });
}

beforeAll(async () => {
  // Training takes 1.5 s, so the leader can be killed while a secure round trains.
  for (let i = 0; i < 6; i++)
    clients.push(startSecureClient(nodes[i % 3].url, i, `c${i}`, { trainer: slowSynthetic(i, 1_500) }));
  await untilClients(nodes[0], 6);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
});

describe('killing the leader mid secure round', () => {
  it('another node leads, runs the cut-off round again as a fresh secure round and commits it', async () => {
    const [n1, n2, n3] = nodes;
    await queueRounds(n2, 1);
    expect((await closed(n1, 1)).status).toBe('committed');

    await queueRounds(n3, 1);
    await until('round 2 to train on the leader', async () => {
      const res = await json(`${n1.url}/v1/rounds`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return AdminRoundListSchema.parse(res.body).rounds.some((r) => r.round === 2 && r.status === 'training')
        ? true
        : undefined;
    });
    await stopNode(n1, 'SIGKILL');
    // Its clients lost their node: they are out of the federation.
    const gone = clients.filter((_, i) => i % 3 === 0);
    await Promise.all(gone.map((c) => c.stop()));
    const survivors = clients.filter((c) => !gone.includes(c));

    const view = await until('another node to lead', async () => {
      const v = (await json<ClusterView>(`${n2.url}/v1/cluster`)).body;
      return v.leader !== null && v.leader !== 'n1' ? v : undefined;
    });
    expect(view.fencingToken).toBe(2);
    const leader = view.leader === 'n2' ? n2 : n3;
    const record = await closed(leader, 2);
    expect(record.status, record.reason).toBe('committed');
    expect(record.secureAggregation?.survivors).toEqual(survivors.map((c) => c.name));
    await expectCommittedDelta(leader.url, record, plaintextFedAvg(survivors, 2, M, CLIP, MAX_WEIGHT), MAX_BOUND);
  });
});
