import {
  describeInbound,
  ProtocolBase,
  type Contribution,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from '../round/aggregation-protocol.js';
import type { Partial } from './cluster-messages.js';

/** A partial as the leader received it, with its mean (absent when nobody contributed on that node). */
export interface ReceivedPartial {
  partial: Partial;
  mean: Float32Array | undefined;
}

/** What the edge protocol needs of the cluster: where clients are, how to open a round, partials as they come. */
export interface EdgeCluster {
  /** The node a client is connected to. */
  nodeOf(clientId: string): string | undefined;
  /** Tells every node that the round's training started (their edge aggregators send the tasks). */
  openRound(ctx: RoundContext, participants: readonly string[]): void;
  /** The next partial of `round` (of this leadership); resolves when one arrives. */
  nextPartial(round: number): Promise<ReceivedPartial>;
}

/**
 * The leader's side of edge aggregation: the round's participants train on their own nodes, whose
 * edge aggregators (edge-aggregator.ts) validate the updates and forward one partial each. The
 * round is settled once every node holding participants has sent its partial (or lost them all);
 * the aggregate is the example-weighted mean of the partial means, which for FedAvg is the mean
 * of all the accepted updates. No client message reaches the leader itself.
 */
export class EdgeProtocol extends ProtocolBase {
  readonly name = 'edge-fedavg';
  readonly stage = 'upload';
  /** Per node, the participants it has not reported on yet; a node's entry goes once its partial arrives. */
  private readonly waiting = new Map<string, Set<string>>();
  private readonly received: ReceivedPartial[] = [];
  private listening = false;
  /** Set when training starts, so the round machine calls advance() at once and the wait for partials begins. */
  override deadline: number | undefined = undefined;

  constructor(
    private readonly ctx: RoundContext,
    private readonly cluster: EdgeCluster,
  ) {
    super();
  }

  begin(participants: readonly string[], now: number): Outbound[] {
    this.deadline = now;
    for (const id of participants) {
      const node = this.cluster.nodeOf(id);
      if (node === undefined) continue;
      let set = this.waiting.get(node);
      if (!set) this.waiting.set(node, (set = new Set()));
      set.add(id);
    }
    this.cluster.openRound(this.ctx, participants);
    return [];
  }

  receive(message: Inbound): Verdict {
    const what = describeInbound(message);
    return {
      ok: false,
      code: 'invalid-message',
      message: `round ${this.ctx.round} aggregates on the cluster's nodes: ${what} is not taken by the leader`,
    };
  }

  drop(clientId: string): boolean {
    const node = this.cluster.nodeOf(clientId);
    return node !== undefined && (this.waiting.get(node)?.delete(clientId) ?? false);
  }

  override advance(): ProtocolEffect[] {
    this.deadline = undefined;
    if (this.listening || this.settled()) return [];
    this.listening = true;
    const work = this.cluster.nextPartial(this.ctx.round).then((received) => () => {
      this.listening = false;
      this.accept(received);
      return this.advance();
    });
    return [{ type: 'await', work }];
  }

  contributors(): number {
    return this.received.reduce((n, r) => n + r.partial.contributions.length, 0);
  }

  settled(): boolean {
    for (const set of this.waiting.values()) if (set.size > 0) return false;
    return true;
  }

  aggregate(): RoundAggregate {
    const withMean = this.received.filter((r) => r.mean !== undefined && r.partial.weight > 0);
    // In node order, not arrival order, so the float sums (and a rerun) come out the same.
    withMean.sort((a, b) => (a.partial.node < b.partial.node ? -1 : 1));
    const contributions: Contribution[] = withMean.flatMap((r) => r.partial.contributions);
    return {
      delta: this.ctx.aggregator.aggregate(
        withMean.map((r) => ({ clientId: r.partial.node, delta: r.mean!, numExamples: r.partial.weight })),
      ),
      contributions: contributions.sort((a, b) => (a.clientId < b.clientId ? -1 : 1)),
      numExamples: withMean.reduce((s, r) => s + r.partial.weight, 0),
    };
  }

  private accept(received: ReceivedPartial): void {
    const { node } = received.partial;
    // A node reports once per round; a partial from a node nobody waited on adds nothing.
    if (!this.waiting.has(node) || this.received.some((r) => r.partial.node === node)) return;
    this.waiting.set(node, new Set());
    // A mean of the wrong size is unusable: that node's clients count as not having contributed.
    if (!received.mean || received.mean.length === this.ctx.globalWeights.length) this.received.push(received);
  }
}
