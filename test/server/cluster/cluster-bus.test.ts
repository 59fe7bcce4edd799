import { describe, expect, it } from 'vitest';
import { ClusterBus } from '../../../server/cluster/cluster-bus.js';
import { clusterKeys } from '../../../server/cluster/cluster-keys.js';
import type { ClusterMessage, Framed } from '../../../server/cluster/cluster-messages.js';
import { useRedis } from '../../helpers/use-redis.js';

const { connect } = useRedis();
const keys = clusterKeys('bus-test');

const partial = (round: number): ClusterMessage => ({
  kind: 'partial',
  round,
  token: 1,
  node: 'n2',
  forwarded: 'mean',
  contributors: 1,
  weight: 3,
  loss: 0.5,
  accuracy: 0.5,
  refused: 0,
  updateBytes: 4,
});

/** A bus that only sends, and one that leads and records what it hears (and what it refuses). */
async function pair(inlineFrameBytes?: number) {
  const heard: Framed[] = [];
  const invalid: string[] = [];
  const sender = new ClusterBus(
    connect(),
    connect(),
    keys,
    () => undefined,
    () => undefined,
    inlineFrameBytes,
  );
  const leaderPub = connect();
  const leader = new ClusterBus(
    leaderPub,
    connect(),
    keys,
    (framed) => heard.push(framed),
    (reason) => invalid.push(reason),
    inlineFrameBytes,
  );
  await leader.start();
  await leader.leading(true);
  return { sender, leader, leaderPub, heard, invalid };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ClusterBus', () => {
  it('sends a frame above the inline size through a stored key, in publish order with the small ones around it', async () => {
    const { sender, leader, heard, invalid } = await pair(1024);
    const big = Float32Array.from({ length: 4096 }, (_, i) => i / 7);
    await sender.send('leader', { message: partial(1), vector: Float32Array.of(1) });
    const bytes = await sender.send('leader', { message: partial(2), vector: big });
    await sender.send('leader', { message: partial(3), vector: Float32Array.of(3) });
    await until(() => heard.length === 3);
    expect(heard.map((f) => (f.message as { round: number }).round)).toEqual([1, 2, 3]);
    expect(heard[1].vector).toEqual(big);
    expect(bytes).toBeGreaterThan(4096 * 4);
    expect(leader.leaderBytesIn).toBeGreaterThan(bytes);
    expect(invalid).toEqual([]);
    // The stored frame is kept only for a while, not for ever.
    const stored = await connect().keys(`${keys.channel}:frame:*`);
    expect(stored).toHaveLength(1);
    expect(await connect().pttl(stored[0])).toBeGreaterThan(0);
  });

  it("delivers a 40 MB frame that Redis's pub/sub output limit (32 MB) would drop if published inline", async () => {
    const vector = new Float32Array(10_000_000).fill(0.25);
    const stored = await pair();
    await stored.sender.send('leader', { message: partial(1), vector });
    await until(() => stored.heard.length === 1, 30_000);
    const got = stored.heard[0].vector!;
    // Compared as bytes: a deep equality of 10 million elements takes minutes.
    expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(vector.buffer))).toBe(true);
    // The same frame inline: Redis closes the subscriber and nothing arrives.
    const inline = await pair(Number.POSITIVE_INFINITY);
    await inline.sender.send('leader', { message: partial(1), vector });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(inline.heard).toHaveLength(0);
  });

  it('refuses, naming why, a stored frame that is gone and a message that is neither kind', async () => {
    const { heard, invalid } = await pair(1024);
    const pub = connect();
    await pub.publish(
      `${keys.channel}:leader`,
      Buffer.concat([Buffer.of(1), Buffer.from(`${keys.channel}:frame:nope`)]),
    );
    await pub.publish(`${keys.channel}:leader`, Buffer.of(7, 1, 2));
    await until(() => invalid.length === 2);
    expect(invalid[0]).toMatch(/stored cluster message .*frame:nope is gone/);
    expect(invalid[1]).toMatch(/starts with neither a frame nor a stored frame's key/);
    expect(heard).toEqual([]);
  });
});
