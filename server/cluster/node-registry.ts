import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { ClusterKeys } from './cluster-keys.js';
import { ConnectedClientSchema, type ConnectedClient } from './cluster-messages.js';

/** What a node reports with every heartbeat. */
export interface NodeReport {
  /** Its HTTP + socket.io URL. */
  url: string;
  /** Clients connected to it now. */
  clients: number;
  /** Bytes of client updates it received since it started. */
  bytesIn: number;
  /** Bytes of cluster messages it received as the leader since it started (partials). */
  leaderBytesIn: number;
  /** The model version it serves as current. */
  version: number;
  startedAt: number;
}

export type { ConnectedClient };

/** A client's hash field value: its connection id and identity key (secure aggregation), as JSON. */
const ClientValueSchema = ConnectedClientSchema.omit({ id: true });

export interface NodeEntry extends NodeReport {
  id: string;
  /** When its entry expires without another heartbeat (ms since epoch). */
  expiresAt: number;
}

const EntrySchema = z.strictObject({
  url: z.string(),
  clients: z.int().nonnegative(),
  bytesIn: z.number().nonnegative(),
  leaderBytesIn: z.number().nonnegative(),
  version: z.int().nonnegative(),
  startedAt: z.number(),
});

/**
 * The nodes alive in the cluster: each heartbeat writes the node's report (a key with a TTL) and
 * its expiry in a sorted set, and refreshes the TTL of its client set. A node that stops beating
 * drops out once its TTL passes; its clients count as gone with it.
 */
export class NodeRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    readonly nodeId: string,
    private readonly ttlMs: number,
  ) {}

  /**
   * Renews the node's entry and rewrites its whole client hash: after a stall longer than the TTL the
   * hash had expired, and the leader would otherwise never see this node's clients again.
   */
  async heartbeat(report: NodeReport, clients: readonly ConnectedClient[]): Promise<void> {
    const expiresAt = Date.now() + this.ttlMs;
    const key = this.keys.clients(this.nodeId);
    const tx = this.redis
      .multi()
      .set(this.keys.node(this.nodeId), JSON.stringify(report), 'PX', this.ttlMs)
      .zadd(this.keys.nodes, expiresAt, this.nodeId)
      .del(key);
    if (clients.length > 0) tx.hset(key, fields(clients));
    await tx.pexpire(key, this.ttlMs).zremrangebyscore(this.keys.nodes, '-inf', Date.now()).exec();
  }

  /** This node's clients joined or left (kept in Redis so a new leader finds them). */
  async clientsChanged(joined: readonly ConnectedClient[], left: readonly string[]): Promise<void> {
    const key = this.keys.clients(this.nodeId);
    const tx = this.redis.multi();
    if (left.length > 0) tx.hdel(key, ...left);
    if (joined.length > 0) tx.hset(key, fields(joined));
    await tx.pexpire(key, this.ttlMs).exec();
  }

  /** Nodes whose entry has not expired, by id. */
  async live(): Promise<NodeEntry[]> {
    const now = Date.now();
    const scored = await this.redis.zrangebyscore(this.keys.nodes, now, '+inf', 'WITHSCORES');
    const ids: { id: string; expiresAt: number }[] = [];
    for (let i = 0; i < scored.length; i += 2) ids.push({ id: scored[i], expiresAt: Number(scored[i + 1]) });
    if (ids.length === 0) return [];
    const reports = await this.redis.mget(...ids.map((n) => this.keys.node(n.id)));
    const out: NodeEntry[] = [];
    ids.forEach((n, i) => {
      const text = reports[i];
      if (text === null) return;
      const parsed = EntrySchema.safeParse(JSON.parse(text));
      if (parsed.success) out.push({ id: n.id, expiresAt: n.expiresAt, ...parsed.data });
    });
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** The clients connected to `node`, as it last reported them. */
  async clientsOf(node: string): Promise<ConnectedClient[]> {
    const all = await this.redis.hgetall(this.keys.clients(node));
    const out: ConnectedClient[] = [];
    for (const [id, text] of Object.entries(all)) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        continue;
      }
      // A value another version of fedserve wrote is skipped, not trusted.
      const parsed = ClientValueSchema.safeParse(raw);
      if (parsed.success) out.push({ id, ...parsed.data });
    }
    return out;
  }

  /** Leaves the registry (a clean shutdown). */
  async remove(): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.node(this.nodeId), this.keys.clients(this.nodeId))
      .zrem(this.keys.nodes, this.nodeId)
      .exec();
  }
}

function fields(clients: readonly ConnectedClient[]): Record<string, string> {
  return Object.fromEntries(clients.map(({ id, ...value }) => [id, JSON.stringify(value)]));
}
