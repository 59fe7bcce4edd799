import { describe, expect, it } from 'vitest';
import { ClusterConfigSchema } from '../../../server/cluster/cluster-config.js';
import { clusterKeys } from '../../../server/cluster/cluster-keys.js';
import { inlineMessage } from '../../../server/cluster/cluster-bus.js';
import { ClusterNode } from '../../../server/cluster/cluster-node.js';
import { lineLogger } from '../../../server/logger.js';
import { useRedis } from '../../helpers/use-redis.js';

const redis = useRedis();
const keys = clusterKeys('node-test');

describe('ClusterNode before it is attached', () => {
  it('ignores a round the leader closed while this node was still starting, instead of crashing on it', async () => {
    // Another node leads: this one hears the bus from tryLeadAtStart on, before its coordinator exists.
    await redis.client.set(keys.lease, 'other', 'PX', 60_000);
    const config = ClusterConfigSchema.parse({ redis: redis.url, nodeId: 'late', namespace: 'node-test' });
    const rules = {
      codec: { codec: 'float32' as const },
      normLimits: { max: 1_000, maxToMedian: 100 },
      phaseTimeoutMs: 1_000,
      aggregator: { name: 'weighted-mean', linear: true },
    };
    const lines: string[] = [];
    const node = new ClusterNode(
      config,
      rules,
      lineLogger((line) => lines.push(line)),
    );
    const failures: unknown[] = [];
    const onFailure = (e: unknown) => failures.push(e);
    process.on('unhandledRejection', onFailure);
    try {
      expect(await node.tryLeadAtStart()).toBe(false);
      const record = {
        round: 1,
        status: 'committed' as const,
        baseVersion: 0,
        version: 1,
        participants: ['c0'],
        dropped: [],
        contributions: [],
        numExamples: 10,
        updateBytes: 0,
        startedAt: new Date(0).toISOString(),
        phaseMs: {},
        durationMs: 5,
      };
      const closed = (token: number) =>
        inlineMessage({
          message: {
            kind: 'round-closed',
            round: 1,
            token,
            record,
            closed: { round: 1, outcome: 'committed', version: 1 },
          },
        });
      expect(await redis.client.publish(`${keys.channel}:all`, closed(2))).toBe(1);
      // A notice with an older token is refused by name only if the first one was heard and decoded.
      expect(await redis.client.publish(`${keys.channel}:all`, closed(1))).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(failures).toEqual([]);
      expect(lines.filter((l) => l.includes('ignored'))).toEqual([
        "cluster: ignored round 1's round-closed from a leader with the superseded fencing token 1",
      ]);
    } finally {
      process.off('unhandledRejection', onFailure);
      await node.close();
    }
  });
});
