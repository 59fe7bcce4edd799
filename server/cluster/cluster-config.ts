import { z } from 'zod';

/** `redis://HOST:PORT` (optionally with a database number, `redis://HOST:PORT/DB`): where the cluster's Redis listens. */
const RedisUrlSchema = z.string().refine(
  (url) => {
    try {
      const u = new URL(url);
      return u.protocol === 'redis:' && u.hostname !== '' && /^(\/\d*)?$/.test(u.pathname);
    } catch {
      return false;
    }
  },
  { error: 'must be a redis://HOST:PORT URL' },
);

/**
 * `cluster`: run this coordinator as one node of a cluster sharing one Redis and one data dir
 * (server/cluster/). Absent: a single coordinator process, the default.
 */
export const ClusterConfigSchema = z.strictObject({
  redis: RedisUrlSchema,
  /** This node's id in the cluster (registry, leadership, logs); default `<hostname>-<pid>-<random>`. */
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'node ids use A-Z, a-z, 0-9, _, . and - (at most 64)')
    .optional(),
  /** Prefix of every Redis key and channel, so clusters can share one Redis. */
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('fedserve'),
  /** The leader lease: a leader that has not renewed it for this long is replaced. */
  leaseMs: z.int().min(200).max(600_000).default(5_000),
  /** How often a node renews its registry entry (and the leader its lease: at most leaseMs / 3). */
  heartbeatMs: z.int().min(50).max(60_000).default(1_000),
  /** A node's registry entry lives this long without a heartbeat; default the longer of 3 heartbeats and the lease. */
  nodeTtlMs: z.int().min(150).max(600_000).optional(),
  /** A commit is refused when less than this is left of the lease (a pause must not outlive it). */
  commitMarginMs: z.int().min(0).max(60_000).default(500),
});
export type ClusterConfig = z.output<typeof ClusterConfigSchema>;
