import { Counter, Gauge } from 'prom-client';
import type { MetricsExposition } from '../metrics-exposition.js';
import type { ClusterNode } from './cluster-node.js';

/**
 * The cluster's series in /metrics (operational: they count clients): this node's role and
 * fencing token, and from the node registry in Redis, the live nodes with their clients and the
 * update bytes they received. Read at scrape time.
 */
export function registerClusterMetrics(node: ClusterNode, exposition: MetricsExposition): void {
  const registers = [exposition.operational];
  new Gauge({
    name: 'fedserve_cluster_leader',
    help: '1 while this node holds the leader lease and runs the rounds.',
    registers,
    collect() {
      this.set(node.localFigures().leader ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fedserve_cluster_fencing_token',
    help: "This node's fencing token while it leads, else 0.",
    registers,
    collect() {
      this.set(node.localFigures().token);
    },
  });
  new Counter({
    name: 'fedserve_cluster_leader_bytes_received_total',
    help: 'Bytes of partial aggregates and client notices this node received as the leader, since it started.',
    registers,
    collect() {
      this.reset();
      this.inc(node.localFigures().leaderBytesIn);
    },
  });
  new Gauge({
    name: 'fedserve_cluster_nodes',
    help: 'Nodes in the cluster registry whose heartbeat has not expired.',
    registers,
    async collect() {
      this.set((await node.status()).nodes.length);
    },
  });
  new Gauge({
    name: 'fedserve_cluster_node_clients',
    help: 'Clients connected to each live node, as its last heartbeat reported.',
    labelNames: ['node'],
    registers,
    async collect() {
      this.reset();
      for (const n of (await node.status()).nodes) this.set({ node: n.id }, n.clients);
    },
  });
  new Gauge({
    name: 'fedserve_cluster_node_update_bytes',
    help: 'Bytes of client updates each live node accepted since it started, as its last heartbeat reported.',
    labelNames: ['node'],
    registers,
    async collect() {
      this.reset();
      for (const n of (await node.status()).nodes) this.set({ node: n.id }, n.bytesIn);
    },
  });
}
