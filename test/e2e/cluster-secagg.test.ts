import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineMessage } from '../../server/cluster/cluster-bus.js';
import { clusterKeys } from '../../server/cluster/cluster-keys.js';
import { AdminRoundListSchema } from '../../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import {
  json,
  queueRounds,
  slowSynthetic,
  until,
  untilEveryNodeHas,
  useCluster,
  SECURE_TASK,
  type ClusterView,
} from './cluster-helpers.js';
import { ADMIN_TOKEN } from './helpers.js';
import { expectCommittedDelta, plaintextFedAvg, startSecureClient, type SecureTestClient } from './secagg-helpers.js';

/**
 * Secure aggregation across three real `fedserve server --cluster` processes on one real
 * redis-server: six clients, two per node; the leader runs SecAgg+ for the whole roster, the
 * other nodes relay its messages, forward their clients' messages and add up their masked inputs.
 */

const { m: M, clip: CLIP, maxWeight: MAX_WEIGHT, maxBound: MAX_BOUND } = SECURE_TASK;

const { nodes, redis } = useCluster({
  leaseMs: 2_000,
  flags: ['--min-clients', '6', '--selection-window', '0', '--round-timeout', '30000'],
  extra: { secureAggregation: { enabled: true, phaseTimeoutMs: 4_000 } },
});
const clients: SecureTestClient[] = [];
/** Set by a test: the client stops itself before sending this stage's message. */
let dropAt: { client: string; round: number } | undefined;

/** Round `round`'s record as the leader's admin listing shows it, once closed. */
async function closed(round: number): Promise<RoundRecord> {
  return until(`round ${round} to close`, async () => {
    const res = await json(`${nodes[0].url}/v1/rounds`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const r = AdminRoundListSchema.parse(res.body).rounds.find((x) => x.round === round);
    return r && (r.status === 'committed' || r.status === 'failed') ? r : undefined;
  });
}

beforeAll(async () => {
  for (let i = 0; i < 6; i++) {
    const name = `c${i}`;
    const c = startSecureClient(nodes[i % 3].url, i, name, {
      trainer: slowSynthetic(i, 50),
      secAggBeforeSend: (stage, round) => {
        if (stage === 'consistency' && dropAt?.client === name && dropAt.round === round) c.client.stop();
      },
    });
    clients.push(c);
  }
  await untilEveryNodeHas(nodes[0], 3, 2);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
});

describe('secure aggregation on a 3-node cluster', () => {
  it('commits a secure round over the clients of every node, moving the model by their plaintext FedAvg', async () => {
    const { firstRound } = await queueRounds(nodes[2], 1);
    const record = await closed(firstRound);
    expect(record.status, record.reason).toBe('committed');
    expect(record.secureAggregation?.survivors).toEqual(clients.map((c) => c.name));
    expect(record.secureAggregation?.dropouts).toEqual([]);
    const expected = plaintextFedAvg(clients, record.round, M, CLIP, MAX_WEIGHT);
    // Every node serves the same committed version.
    for (const node of nodes) await expectCommittedDelta(node.url, record, expected, MAX_BOUND);
    // The followers summed their own clients' masked inputs; the leader took its own clients' directly.
    const view = (await json<ClusterView>(`${nodes[0].url}/v1/cluster`)).body;
    expect(view.leader).toBe('n1');
    const bytes = await until('the followers to report their masked bytes', async () => {
      const v = (await json<ClusterView>(`${nodes[0].url}/v1/cluster`)).body;
      return v.nodes.every((n) => n.id === 'n1' || n.bytesIn > 0) ? v : undefined;
    });
    expect(bytes.nodes.map((n) => n.id)).toEqual(['n1', 'n2', 'n3']);
  });

  it("refuses a node's masked sum that names another node's client, and a forwarded message of a client not its own", async () => {
    const keys = clusterKeys('fedserve');
    const pub = new Redis(redis.url);
    try {
      const channel = `${keys.channel}:leader`;
      // c1 is a client of n2: n3 cannot add masked words on its behalf.
      await pub.publish(
        channel,
        inlineMessage({
          message: { kind: 'masked-partial', round: 9, token: 1, node: 'n3', clientIds: ['c1'], updateBytes: 4 },
          bytes: new Uint8Array(4),
        }),
      );
      await nodes[0].server.waitFor(
        /refused the masked input sum of 1 client\(s\) from node n3: node n3 sent a masked input sum naming c1, a client of node n2/,
      );
      await pub.publish(
        channel,
        inlineMessage({
          message: { kind: 'secagg-forward', round: 9, token: 1, node: 'n3', clientId: 'c4' },
          bytes: new Uint8Array(8),
        }),
      );
      await nodes[0].server.waitFor(/refused a secagg message of c4 from node n3: c4 is not a client of node n3/);
    } finally {
      pub.disconnect();
    }
  });

  it('recovers a client of a follower that drops out after sending its masked input', async () => {
    const { firstRound } = await queueRounds(nodes[1], 1);
    dropAt = { client: 'c1', round: firstRound };
    const record = await closed(firstRound);
    expect(record.status, record.reason).toBe('committed');
    // c1's masked input is in the sum; its self-mask was rebuilt from its neighbours' shares.
    expect(record.secureAggregation?.survivors).toEqual(clients.map((c) => c.name));
    expect(record.secureAggregation?.dropouts.map((d) => d.clientId)).toContain('c1');
    await expectCommittedDelta(
      nodes[1].url,
      record,
      plaintextFedAvg(clients, record.round, M, CLIP, MAX_WEIGHT),
      MAX_BOUND,
    );
  });
});
