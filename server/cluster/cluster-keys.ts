/** Every Redis key and pub/sub channel of one cluster, under its namespace. */
export interface ClusterKeys {
  /** The leader lease: the leader's node id, with a TTL. */
  lease: string;
  /** The fencing token: INCR'd on every acquisition of the lease. */
  token: string;
  /** The newest committed version and its fencing token, `<version>:<token>` (for /v1/cluster). */
  committed: string;
  /** Sorted set: node id -> when its registry entry expires (ms since epoch). */
  nodes: string;
  /** Hash of a node's registry entry (url, clients, bytes in), with a TTL. */
  node(id: string): string;
  /** Hash of the clients connected to a node: client id -> socket.io connection id, with a TTL. */
  clients(id: string): string;
  /** Rounds are run until the one with this number has closed (POST /v1/rounds raises it). */
  targetRound: string;
  /** The number of the last round the leader closed. */
  lastClosedRound: string;
  /** Set once `rounds.start` of a node's config was queued, so only the first node's counts. */
  startQueued: string;
  /** The pub/sub channel of cluster messages (cluster-bus.ts). */
  channel: string;
}

export function clusterKeys(namespace: string): ClusterKeys {
  const k = (name: string) => `${namespace}:cluster:${name}`;
  return {
    lease: k('lease'),
    token: k('token'),
    committed: k('committed'),
    nodes: k('nodes'),
    node: (id) => k(`node:${id}`),
    clients: (id) => k(`clients:${id}`),
    targetRound: k('target-round'),
    lastClosedRound: k('last-closed-round'),
    startQueued: k('start-queued'),
    channel: k('bus'),
  };
}
