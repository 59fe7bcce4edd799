import { describe, expect, it } from 'vitest';
import { clusterKeys } from '../../../server/cluster/cluster-keys.js';
import { NodeRegistry } from '../../../server/cluster/node-registry.js';
import { RoundQueue } from '../../../server/cluster/round-queue.js';
import { useRedis } from '../../helpers/use-redis.js';

const redis = useRedis({ flushBeforeEach: true });
const keys = clusterKeys('state-test');

const report = (clients: number) => ({
  url: 'http://x',
  clients,
  bytesIn: 10,
  leaderBytesIn: 0,
  version: 1,
  startedAt: 0,
});

describe('NodeRegistry', () => {
  it('lists nodes while they beat, with their clients, and forgets one once its TTL passes', async () => {
    const a = new NodeRegistry(redis.client, keys, 'a', 5_000);
    const b = new NodeRegistry(redis.client, keys, 'b', 200);
    await a.heartbeat(report(2), []);
    await b.heartbeat(report(1), [{ id: 'c1', connection: 'sock1' }]);
    await b.clientsChanged([{ id: 'c2', connection: 'sock2' }], []);
    await b.clientsChanged([], ['c1']);
    expect((await a.live()).map((n) => [n.id, n.clients])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(await a.clientsOf('b')).toEqual([{ id: 'c2', connection: 'sock2' }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await a.live()).map((n) => n.id)).toEqual(['a']);
    // Its clients expire with it: a new leader does not count them.
    expect(await a.clientsOf('b')).toEqual([]);
    await a.remove();
    expect(await a.live()).toEqual([]);
  });

  it("rewrites a node's whole client list with each heartbeat, so a stall past its TTL loses no client", async () => {
    const b = new NodeRegistry(redis.client, keys, 'b', 100);
    await b.heartbeat(report(1), [{ id: 'c1', connection: 'sock1' }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await b.clientsOf('b')).toEqual([]);
    await b.heartbeat(report(2), [
      { id: 'c1', connection: 'sock1' },
      { id: 'c2', connection: 'sock2' },
    ]);
    expect((await b.clientsOf('b')).map((c) => c.id).sort()).toEqual(['c1', 'c2']);
  });
});

describe('RoundQueue', () => {
  it('numbers queued rounds after the target or the last closed round, and counts what is pending', async () => {
    const q = new RoundQueue(redis.client, keys);
    expect(await q.add(2)).toEqual({ firstRound: 1, pendingRounds: 2 });
    expect(await q.add(1)).toEqual({ firstRound: 3, pendingRounds: 3 });
    await q.closed(1);
    await q.closed(3);
    await q.closed(2);
    expect(await q.read()).toEqual({ target: 3, lastClosed: 3 });
    expect(await q.add(1)).toEqual({ firstRound: 4, pendingRounds: 1 });
  });

  it("queues a node's start rounds once per cluster", async () => {
    const q = new RoundQueue(redis.client, keys);
    await q.queueAtStart(2);
    await q.queueAtStart(2);
    expect(await q.read()).toEqual({ target: 2, lastClosed: 0 });
  });
});
