import { hostname } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ClientLink, ClientMessage, Coordinator } from '../coordinator.js';
import type { CoordinatorServer } from '../client-events.js';
import type { Logger } from '../logger.js';
import type { RoundContext, Verdict } from '../round/aggregation-protocol.js';
import type { ModelRegistry } from '../serving/model-registry.js';
import type { CheckpointStore } from '../store/checkpoint-store.js';
import type { ClientSink } from '../socket-transport.js';
import type { RoundRecord } from '../../shared/protocol/rounds.js';
import type { UpdateCodecSpec } from '../../shared/compression/codec-spec.js';
import type { UpdateNormLimits } from '../round/update-norm.js';
import type { Aggregator } from '../../shared/aggregation/types.js';
import { errorMessage } from '../../shared/error-message.js';
import { ClusterBus } from './cluster-bus.js';
import type { ClusterConfig } from './cluster-config.js';
import { clusterKeys, type ClusterKeys } from './cluster-keys.js';
import {
  forwardedFor,
  type ClusterMessage,
  type ConnectedClient,
  type Forwarded,
  type Framed,
  type MaskedPartial,
  type Partial,
  type SecAggForward,
} from './cluster-messages.js';
import { ClientNotices, type ClientChanges } from './client-notices.js';
import { EdgeAggregator } from './edge-aggregator.js';
import type { EdgeCluster, ReceivedPartial } from './edge-protocol.js';
import { LeaderLease } from './leader-lease.js';
import { NodeRegistry, type NodeEntry } from './node-registry.js';
import { RemoteLink } from './remote-link.js';
import { RoundQueue } from './round-queue.js';
import { SecureEdge } from './secure-edge.js';
import { decodeForwarded, maskedPartialRefusal, maskedWords, RelayBatcher } from './secure-relay.js';
import { identityKeyFromText } from '../../shared/protocol/secagg-messages.js';

/** What /v1/cluster shows. */
export interface ClusterStatus {
  node: string;
  leader: string | null;
  fencingToken: number | null;
  /** The newest committed version and the fencing token it was committed under. */
  committed: { version: number; token: number } | null;
  targetRound: number;
  lastClosedRound: number;
  nodes: (NodeEntry & { leader: boolean })[];
  /** What each node forwards to the leader per round, for the configured aggregator. */
  forwarding: { aggregator: string; forwarded: Forwarded };
}

/** How rounds train: what a node's edge aggregator checks updates against. */
export interface EdgeRules {
  codec: UpdateCodecSpec;
  normLimits: UpdateNormLimits;
  /** Secure aggregation's phase timeout: a node forwards its masked-input sum within it. */
  phaseTimeoutMs: number;
  /** The strategy's aggregator: a non-linear one needs every update at the leader. */
  aggregator: Pick<Aggregator, 'name' | 'linear'>;
}

/** The parts of a node that exist only once the coordinator and the HTTP server do. */
export interface AttachedNode {
  coordinator: Coordinator;
  registry: ModelRegistry;
  store: CheckpointStore;
  io: CoordinatorServer;
  url: string;
}

/** How long a node collects client joins and leaves before it reports them (one Redis transaction and one notice). */
const CLIENT_NOTICE_MS = 50;

/** Share of the training deadline after which a node forwards its partial even if clients are still out. */
const FLUSH_AT = 0.9;

/**
 * One node of a coordinator cluster on Redis. Every node accepts clients, aggregates its own
 * clients' updates (edge-aggregator.ts) and serves every committed version; the node holding the
 * leader lease (leader-lease.ts) also runs the round state machine over the clients of all nodes,
 * combines the nodes' partials (edge-protocol.ts) and commits under its fencing token. Leadership
 * moves when the leader stops renewing its lease: the next node to take it resumes from the shared
 * data dir as a restarted coordinator would, and the round that was cut off runs again.
 */
export class ClusterNode implements EdgeCluster {
  readonly nodeId: string;
  readonly lease: LeaderLease;
  private readonly keys: ClusterKeys;
  private readonly redis: Redis;
  /** The lease's own connection: its renewals never queue behind client notices and heartbeats. */
  private readonly leaseRedis: Redis;
  private readonly sub: Redis;
  private readonly adapterPub: Redis;
  private readonly adapterSub: Redis;
  private readonly nodes: NodeRegistry;
  private readonly bus: ClusterBus;
  private readonly queue: RoundQueue;
  private readonly edge: EdgeAggregator;
  private readonly secureEdge: SecureEdge;
  private readonly relays: RelayBatcher;
  private readonly notices = new ClientNotices(CLIENT_NOTICE_MS, (changes) => void this.clientsChanged(changes));
  /** The identity key (text) each local client registered at join, for the leader's rosters. */
  private identityOf: (clientId: string) => string | undefined = () => undefined;
  private readonly localLinks = new Map<string, ClientLink>();
  private readonly remoteLinks = new Map<string, RemoteLink>();
  private readonly partials: ReceivedPartial[] = [];
  private partialWaiter: { round: number; resolve: (p: ReceivedPartial) => void } | undefined;
  private attached: AttachedNode | undefined;
  private leading = false;
  /** The highest round number queued on this node's coordinator while it leads. */
  private queuedUpTo = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Renews a lease taken at start until start() ticks: loading the model and the inference thread can outlast it. */
  private startupRenewal: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private readonly startedAt = Date.now();
  /** When this node last renewed its lease, to say how late it was when it lost it. */
  private renewedAt = 0;
  /** The event loop's delays since the last renewal: a lost lease says whether this node's loop stalled. */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  /** The newest fencing token heard from a leader: what an older one says (it lost its lease) is ignored. */
  private newestToken = 0;
  private closed = false;

  constructor(
    private readonly config: ClusterConfig,
    private readonly rules: EdgeRules,
    private readonly logger: Logger,
  ) {
    this.nodeId = config.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.keys = clusterKeys(config.namespace);
    const options = { maxRetriesPerRequest: 2, connectionName: `fedserve:${this.nodeId}` };
    this.redis = new Redis(config.redis, options);
    this.sub = this.redis.duplicate();
    this.leaseRedis = this.redis.duplicate();
    this.adapterPub = this.redis.duplicate();
    this.adapterSub = this.redis.duplicate();
    for (const r of [this.redis, this.sub, this.leaseRedis, this.adapterPub, this.adapterSub])
      r.on('error', (e: Error) => this.logger.warn({ node: this.nodeId }, `cluster redis: ${e.message}`));
    this.lease = new LeaderLease(this.leaseRedis, this.keys, this.nodeId, config.leaseMs, config.commitMarginMs);
    // A node counts as gone on the same time scale as a leader: a stall shorter than the lease loses neither.
    const nodeTtlMs = config.nodeTtlMs ?? Math.max(config.heartbeatMs * 3, config.leaseMs);
    this.nodes = new NodeRegistry(this.redis, this.keys, this.nodeId, nodeTtlMs);
    this.queue = new RoundQueue(this.redis, this.keys);
    this.bus = new ClusterBus(
      this.redis,
      this.sub,
      this.keys,
      (framed) => this.onMessage(framed),
      (reason) => this.logger.warn(`cluster: ignored a message: ${reason}`),
    );
    this.edge = new EdgeAggregator(this.nodeId, this.localLinks, (partial, vector) =>
      this.sendPartial(partial, vector),
    );
    this.secureEdge = new SecureEdge(
      this.nodeId,
      this.localLinks,
      rules.phaseTimeoutMs,
      (framed) => void this.publish('leader', framed),
      (line) => this.logger.warn({ node: this.nodeId }, `cluster: ${line}`),
    );
    this.relays = new RelayBatcher(
      () => (this.leading ? this.lease.token : undefined),
      (framed) => void this.publish('all', framed),
    );
  }

  /** The Redis connections socket.io's Redis adapter publishes and subscribes on. */
  adapterConnections(): { pub: Redis; sub: Redis } {
    return { pub: this.adapterPub, sub: this.adapterSub };
  }

  /** Tries the lease once before the coordinator opens: the first node on an empty data dir writes version 0. */
  async tryLeadAtStart(): Promise<boolean> {
    await this.bus.start();
    if ((await this.lease.tryAcquire()) === undefined) return false;
    this.startupRenewal = setInterval(
      () => void this.lease.renew().catch(() => undefined),
      Math.floor(this.config.leaseMs / 3),
    );
    return true;
  }

  /** Starts heartbeats and leadership once the coordinator, registry and HTTP server exist; `initialRounds` is config rounds.start. */
  async start(attached: AttachedNode, initialRounds: number): Promise<void> {
    this.attached = attached;
    clearInterval(this.startupRenewal);
    attached.coordinator.on('round', (record) => {
      if (this.leading) void this.announceClosed(record);
    });
    if (this.lease.token !== undefined) await this.becomeLeader(this.lease.token, false);
    if (initialRounds > 0) await this.queue.queueAtStart(initialRounds);
    await this.beat();
    await this.syncQueue();
    this.loopDelay.enable();
    this.timer = setInterval(
      () => {
        const due = Date.now();
        this.ticking = this.ticking.then(() => this.tick(due));
      },
      Math.min(this.config.heartbeatMs, Math.floor(this.config.leaseMs / 3)),
    );
  }

  /**
   * The socket transport's view of this node: local clients go to the coordinator, their updates
   * to the edge aggregator, and on a node that does not lead their SecAgg+ messages to the secure
   * edge (summed or forwarded to the leader). `identityOf` gives the identity key (text) a client
   * registered at join.
   */
  sink(coordinator: Coordinator, identityOf: (clientId: string) => string | undefined): ClientSink {
    this.identityOf = identityOf;
    return {
      task: coordinator.task,
      join: (link) => {
        coordinator.join(link);
        this.localLinks.set(link.id, link);
        this.notices.join(this.connected(link));
      },
      leave: (link) => {
        coordinator.leave(link);
        if (this.localLinks.get(link.id) !== link) return;
        this.localLinks.delete(link.id);
        this.edge.left(link.id);
        this.secureEdge.left(link.id);
        this.notices.leave(link.id);
      },
      receive: (clientId: string, message: ClientMessage): Verdict => {
        if (message.kind === 'update') return this.edge.receive(clientId, message.meta, message.delta, message.bytes);
        if (message.kind === 'secagg' && !this.leading)
          return this.secureEdge.receive(clientId, message.round, message.body, message.bytes);
        return coordinator.receive(clientId, message);
      },
      refuseUpdate: (clientId, round, reason) => this.edge.refuse(clientId, round, reason),
      countRefusal: () => coordinator.countRefusal(),
    };
  }

  // EdgeCluster, for the leader's edge protocol.

  nodeOf(clientId: string): string | undefined {
    if (this.localLinks.has(clientId)) return this.nodeId;
    return this.remoteLinks.get(clientId)?.node;
  }

  /** The identity key a client of another node registered at join there (undefined for this node's clients). */
  remoteIdentity(clientId: string): Uint8Array | undefined {
    const text = this.remoteLinks.get(clientId)?.identityKey;
    return text === undefined ? undefined : identityKeyFromText(text);
  }

  openRound(ctx: RoundContext, participants: readonly string[]): void {
    const token = this.lease.token;
    if (token === undefined) return;
    const message: ClusterMessage = {
      kind: 'round-open',
      round: ctx.round,
      token,
      leader: this.nodeId,
      participants: [...participants],
      task: {
        round: ctx.round,
        version: ctx.version,
        config: ctx.trainConfig,
        timeoutMs: ctx.timeoutMs,
        ...(this.rules.codec.codec !== 'float32' ? { compression: this.rules.codec } : {}),
      },
      codec: this.rules.codec,
      normLimits: this.rules.normLimits,
      flushAt: Date.now() + Math.floor(ctx.timeoutMs * FLUSH_AT),
      forwarded: forwardedFor(ctx.aggregator),
    };
    this.partials.length = 0;
    void this.publish('all', { message, vector: ctx.globalWeights });
  }

  nextPartial(round: number): Promise<ReceivedPartial> {
    const i = this.partials.findIndex((p) => p.partial.round === round);
    if (i >= 0) return Promise.resolve(this.partials.splice(i, 1)[0]);
    return new Promise((resolve) => (this.partialWaiter = { round, resolve }));
  }

  partialRefused(node: string, round: number, reason: string): void {
    this.logger.warn({ node, round }, `cluster: refused round ${round}'s partial from node ${node}: ${reason}`);
  }

  /** POST /v1/rounds on any node: raises the cluster's target round; the leader runs them. */
  async queueRounds(n: number): Promise<{ firstRound: number; pendingRounds: number }> {
    const queued = await this.queue.add(n);
    await this.publish('leader', { message: { kind: 'queued' } });
    return queued;
  }

  isLeader(): boolean {
    return this.leading;
  }

  async status(): Promise<ClusterStatus> {
    const [nodes, leader, committed, queue] = await Promise.all([
      this.nodes.live(),
      this.redis.get(this.keys.lease),
      this.redis.get(this.keys.committed),
      this.queue.read(),
    ]);
    const token = await this.redis.get(this.keys.token);
    const [version, by] = committed?.split(':').map(Number) ?? [];
    return {
      node: this.nodeId,
      leader,
      fencingToken: leader !== null && token !== null ? Number(token) : null,
      committed: committed ? { version, token: by } : null,
      targetRound: queue.target,
      lastClosedRound: queue.lastClosed,
      nodes: nodes.map((n) => ({ ...n, leader: n.id === leader })),
      forwarding: { aggregator: this.rules.aggregator.name, forwarded: forwardedFor(this.rules.aggregator) },
    };
  }

  /** This node's own figures, for /metrics. */
  localFigures(): { clients: number; bytesIn: number; leaderBytesIn: number; leader: boolean; token: number } {
    return {
      clients: this.localLinks.size,
      bytesIn: this.edge.bytesIn + this.secureEdge.bytesIn,
      leaderBytesIn: this.bus.leaderBytesIn,
      leader: this.leading,
      token: this.lease.token ?? 0,
    };
  }

  /** Leaves the cluster: gives up the lease (so another node need not wait for it to expire) and the registry. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.startupRenewal);
    if (this.timer) clearInterval(this.timer);
    this.loopDelay.disable();
    await this.ticking;
    this.edge.end();
    this.secureEdge.end();
    this.notices.end();
    try {
      if (this.leading) await this.lease.release();
      await this.nodes.remove();
    } catch (e) {
      this.logger.warn(`cluster: could not leave cleanly: ${errorMessage(e)}`);
    }
    for (const r of [this.redis, this.sub, this.leaseRedis, this.adapterPub, this.adapterSub]) r.disconnect();
  }

  /** `due`: when the timer fired (the tick runs once the one before it has finished). */
  private async tick(due: number): Promise<void> {
    if (this.closed) return;
    try {
      if (this.leading) {
        // Renewed before the heartbeat, which carries the node's whole client list, and the reconciliation.
        const tickAt = Date.now();
        const renewed = await this.lease.renew();
        const stalledMs = Math.round(this.loopDelay.max / 1e6);
        if (renewed) {
          this.renewedAt = Date.now();
          this.loopDelay.reset();
        }
        await this.beat();
        if (renewed) await this.reconcileClients();
        else
          await this.stepDown(
            `the lease was lost (last renewed ${tickAt - this.renewedAt} ms before this renewal, which took ` +
              `${Date.now() - tickAt} ms after waiting ${tickAt - due} ms for the previous tick; lease ` +
              `${this.config.leaseMs} ms; event loop blocked up to ${stalledMs} ms since)`,
          );
      } else {
        await this.beat();
        const token = await this.lease.tryAcquire();
        if (token !== undefined) await this.becomeLeader(token, true);
      }
    } catch (e) {
      this.logger.warn({ node: this.nodeId }, `cluster: ${errorMessage(e)}`);
    }
  }

  private async beat(): Promise<void> {
    const { attached } = this;
    await this.nodes.heartbeat(
      {
        url: attached?.url ?? '',
        clients: this.localLinks.size,
        bytesIn: this.edge.bytesIn + this.secureEdge.bytesIn,
        leaderBytesIn: this.bus.leaderBytesIn,
        version: attached?.registry.current()?.version ?? 0,
        startedAt: this.startedAt,
      },
      [...this.localLinks.values()].map((l) => this.connected(l)),
    );
  }

  private async becomeLeader(token: number, takeover: boolean): Promise<void> {
    const { coordinator, registry, store } = this.attached!;
    this.leading = true;
    this.renewedAt = Date.now();
    // A secure round this node relayed as a follower is the old leader's: this node runs it again.
    this.secureEdge.abandon(`node ${this.nodeId} took over as the cluster's leader: the round runs again`);
    await this.bus.leading(true);
    if (takeover) {
      // As a restarted coordinator: the newest committed version, the round log, the optimizer state.
      await coordinator.reload();
      const version = coordinator.currentVersion;
      if (registry.current()?.version !== version) await registry.publish(version, await store.load(version));
    }
    this.logger.info(
      { node: this.nodeId, token, version: coordinator.currentVersion },
      `cluster: node ${this.nodeId} leads with fencing token ${token} (version ${coordinator.currentVersion}, next round ${coordinator.nextRoundNumber()})`,
    );
    await this.reconcileClients();
    this.queuedUpTo = coordinator.nextRoundNumber() - 1;
    await this.syncQueue();
  }

  private async stepDown(why: string): Promise<void> {
    const { coordinator } = this.attached!;
    this.leading = false;
    this.lease.forget();
    this.logger.warn({ node: this.nodeId }, `cluster: node ${this.nodeId} no longer leads: ${why}`);
    await this.bus.leading(false);
    await coordinator.stepDown();
    for (const link of this.remoteLinks.values()) coordinator.leave(link);
    this.remoteLinks.clear();
  }

  /** The leader runs rounds until the cluster's target round has closed. */
  private async syncQueue(): Promise<void> {
    if (!this.leading) return;
    const { target } = await this.queue.read();
    if (target <= this.queuedUpTo) return;
    const n = target - this.queuedUpTo;
    this.queuedUpTo = target;
    try {
      this.attached!.coordinator.startRounds(n);
    } catch (e) {
      this.logger.warn(`cluster: could not queue ${n} round(s): ${errorMessage(e)}`);
    }
  }

  /**
   * Brings the remote clients in line with the registry on every leader tick: clients of nodes whose
   * entry expired are gone (the round stops waiting for them), and a client whose join notice was
   * lost (pub/sub is at most once), or whose node was briefly missing at takeover, is added.
   */
  private async reconcileClients(): Promise<void> {
    const coordinator = this.attached!.coordinator;
    const present = new Map<string, { node: string; client: ConnectedClient }>();
    for (const node of await this.nodes.live()) {
      if (node.id === this.nodeId) continue;
      for (const client of await this.nodes.clientsOf(node.id)) present.set(client.id, { node: node.id, client });
    }
    if (!this.leading) return;
    for (const link of [...this.remoteLinks.values()]) {
      const now = present.get(link.id);
      if (now && sameRemote(link, now.node, now.client)) continue;
      this.remoteLinks.delete(link.id);
      coordinator.leave(link);
    }
    for (const { node, client } of present.values()) this.addRemote(node, client);
  }

  private addRemote(node: string, client: ConnectedClient): void {
    // Connected here: a stale entry of another node must not close the live connection.
    if (this.localLinks.has(client.id)) return;
    const known = this.remoteLinks.get(client.id);
    if (known && sameRemote(known, node, client)) return;
    const link = new RemoteLink(client.id, node, client.connection, client.identityKey, this.attached!.io, (m) =>
      this.relays.add(m, node),
    );
    this.remoteLinks.set(client.id, link);
    this.attached!.coordinator.join(link);
  }

  private connected(link: ClientLink): ConnectedClient {
    const identityKey = this.identityOf(link.id);
    return { id: link.id, connection: link.connection ?? link.id, ...(identityKey ? { identityKey } : {}) };
  }

  private async clientsChanged({ joined, left }: ClientChanges): Promise<void> {
    try {
      await this.nodes.clientsChanged(joined, left);
      await this.publish('leader', { message: { kind: 'clients', node: this.nodeId, joined, left } });
    } catch (e) {
      this.logger.warn(`cluster: could not report client changes: ${errorMessage(e)}`);
    }
  }

  /** The leader hands its own clients' partial to its round in process: only the other nodes' cross Redis. */
  private sendPartial(partial: Partial, vector: Float32Array | undefined): void {
    if (this.leading && partial.token === this.lease.token) this.receivePartial({ partial, vector });
    else void this.publish('leader', { message: partial, ...(vector ? { vector } : {}) });
  }

  private receivePartial(received: ReceivedPartial): void {
    const waiter = this.partialWaiter;
    if (waiter && waiter.round === received.partial.round) {
      this.partialWaiter = undefined;
      waiter.resolve(received);
    } else this.partials.push(received);
  }

  private async announceClosed(record: RoundRecord): Promise<void> {
    const token = this.lease.token;
    if (token === undefined) return;
    await this.queue.closed(record.round);
    await this.publish('all', {
      message: {
        kind: 'round-closed',
        round: record.round,
        token,
        record,
        closed: {
          round: record.round,
          outcome: record.status === 'committed' ? 'committed' : 'failed',
          version: record.version ?? this.attached!.coordinator.currentVersion,
          ...(record.reason ? { reason: record.reason } : {}),
        },
      },
    });
  }

  private async publish(to: 'all' | 'leader', framed: Framed): Promise<void> {
    try {
      await this.bus.send(to, framed);
    } catch (e) {
      this.logger.warn(`cluster: could not publish a ${framed.message.kind} message: ${errorMessage(e)}`);
    }
  }

  private onMessage({ message, vector, bytes }: Framed): void {
    if (message.kind === 'round-open' || message.kind === 'round-closed' || message.kind === 'relay') {
      if (message.token < this.newestToken) {
        this.logger.warn(
          `cluster: ignored round ${message.round}'s ${message.kind} from a leader with the superseded fencing token ${message.token}`,
        );
        return;
      }
      this.newestToken = message.token;
    }
    // Not attached yet (the bus is heard from tryLeadAtStart on): no clients, no coordinator to follow a
    // round with; the coordinator opens the newest committed version itself.
    if (!this.attached) return;
    switch (message.kind) {
      case 'round-open':
        if (vector) this.edge.open(message, vector);
        return;
      case 'partial': {
        if (this.leading && message.token === this.lease.token) this.receivePartial({ partial: message, vector });
        return;
      }
      case 'round-closed':
        this.edge.closed(message.round);
        this.secureEdge.closed(message.round, message.token);
        if (!this.leading) void this.follow(message.record, message.closed);
        return;
      case 'clients':
        if (!this.leading || message.node === this.nodeId) return;
        for (const id of message.left) {
          const link = this.remoteLinks.get(id);
          if (link?.node !== message.node) continue;
          this.remoteLinks.delete(id);
          this.attached.coordinator.leave(link);
        }
        for (const client of message.joined) this.addRemote(message.node, client);
        return;
      case 'queued':
        void this.syncQueue();
        return;
      case 'relay':
        if (!this.leading) this.secureEdge.relay(message, bytes);
        return;
      case 'secagg-forward':
        if (this.leading && message.token === this.lease.token) this.receiveForwarded(message, bytes);
        return;
      case 'masked-partial':
        if (this.leading && message.token === this.lease.token) this.receiveMaskedPartial(message, bytes);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown cluster message ${JSON.stringify(never)}`);
      }
    }
  }

  /** The leader: a client of another node sent a SecAgg+ message; it goes to the round as if sent here. */
  private receiveForwarded(message: SecAggForward, bytes: Uint8Array | undefined): void {
    const { clientId, node } = message;
    const refusal = this.forwardedRefusal(message, bytes);
    if (refusal)
      this.logger.warn(
        { clientId, node },
        `cluster: refused a secagg message of ${clientId} from node ${node}: ${refusal}`,
      );
  }

  /** Hands a forwarded message to the round; why it was refused, or undefined. */
  private forwardedRefusal(message: SecAggForward, bytes: Uint8Array | undefined): string | undefined {
    const { clientId, node } = message;
    if (this.remoteLinks.get(clientId)?.node !== node) return `${clientId} is not a client of node ${node}`;
    if (!bytes) return 'a forwarded secagg message has no envelope';
    let body;
    try {
      body = decodeForwarded(bytes);
    } catch (e) {
      return errorMessage(e);
    }
    if (body.round !== message.round) return `the message is for round ${body.round}, its frame for ${message.round}`;
    const verdict = this.attached!.coordinator.receive(clientId, {
      kind: 'secagg',
      round: body.round,
      body,
      bytes: bytes.byteLength,
    });
    // Unmasking closes once every secret has enough shares: a late reveal is expected, as on one coordinator.
    if (verdict.ok || (verdict.code === 'stale-round' && body.type === 'secagg/unmask')) return undefined;
    return verdict.message;
  }

  /** The leader: a node's masked-input sum; it goes to the round once its clients check out as that node's. */
  private receiveMaskedPartial(partial: MaskedPartial, bytes: Uint8Array | undefined): void {
    const { node, round, clientIds } = partial;
    let refusal = maskedPartialRefusal(partial, bytes, (id) => this.nodeOf(id));
    if (!refusal) {
      const words = maskedWords(bytes!);
      const verdict = this.attached!.coordinator.receiveMaskedSum(node, round, clientIds, words, partial.updateBytes);
      if (!verdict.ok) refusal = verdict.message;
    }
    if (refusal)
      this.logger.warn(
        { node, round },
        `cluster: refused the masked input sum of ${clientIds.length} client(s) from node ${node}: ${refusal}`,
      );
  }

  /** A follower: the leader closed a round; tell this node's participants, and serve a committed version. */
  private async follow(record: RoundRecord, closed: Extract<ClusterMessage, { kind: 'round-closed' }>['closed']) {
    const { coordinator, registry, store } = this.attached!;
    for (const id of record.participants)
      this.localLinks.get(id)?.send({ event: 'round-closed', to: id, body: closed });
    try {
      if (record.status === 'committed' && record.version !== undefined) {
        const checkpoint = await store.load(record.version);
        await registry.publish(record.version, checkpoint);
        coordinator.follow(record, checkpoint.weights);
      } else coordinator.follow(record);
    } catch (e) {
      this.logger.error(`cluster: could not load committed version ${record.version}: ${errorMessage(e)}`);
    }
  }
}

function sameRemote(link: RemoteLink, node: string, client: ConnectedClient): boolean {
  return link.node === node && link.connection === client.connection && link.identityKey === client.identityKey;
}
