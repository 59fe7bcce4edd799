import {
  describeInbound,
  ProtocolBase,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from '../round/aggregation-protocol.js';
import { CLIENT_LIMITS } from '../../shared/protocol/messages.js';
import type { NodeContribution } from '../../shared/protocol/rounds.js';
import { updateNorm } from '../round/update-norm.js';
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
  /** A node's partial was refused: its clients count as not having contributed (the leader logs why). */
  partialRefused(node: string, round: number, reason: string): void;
}

/**
 * Why a partial cannot be what the node's `participants` participants could have sent, or
 * undefined. The leader never sees the clients' own figures, so it checks what they bound: no more
 * contributors than the node had participants, between 1 and CLIENT_LIMITS.maxExamples examples
 * each, a mean of the model's size whose norm is within the limit every update was held to (a
 * weighted mean of vectors is no longer than the longest), and a mean exactly when someone contributed.
 */
export function partialProblem(
  { partial, mean }: ReceivedPartial,
  participants: number,
  modelSize: number,
  maxUpdateNorm: number,
): string | undefined {
  const { contributors, refused, weight } = partial;
  if (contributors + refused > participants)
    return `it counts ${contributors} contributor(s) and ${refused} refused, the node had ${participants} participant(s)`;
  if (contributors === 0)
    return weight === 0 && mean === undefined ? undefined : 'it has no contributors but a weight or a mean';
  if (weight < contributors || weight > contributors * CLIENT_LIMITS.maxExamples)
    return `its weight ${weight} is not between 1 and ${CLIENT_LIMITS.maxExamples} examples for each of its ${contributors} contributor(s)`;
  if (partial.loss === undefined || partial.accuracy === undefined)
    return 'it has contributors but no training metrics';
  if (!mean) return 'it has contributors but no mean';
  if (mean.length !== modelSize) return `its mean has ${mean.length} values, the model has ${modelSize}`;
  const norm = updateNorm(mean);
  // float32 rounding may lengthen a mean a little past its longest update.
  if (!(norm <= maxUpdateNorm * (1 + 1e-5)))
    return `its mean has L2 norm ${norm.toPrecision(4)}, above the limit ${maxUpdateNorm} of every update in it`;
  return undefined;
}

/**
 * The leader's side of edge aggregation: the round's participants train on their own nodes, whose
 * edge aggregators (edge-aggregator.ts) validate the updates and forward one partial each. The
 * round is settled once every node holding participants has sent its partial (or lost them all);
 * the aggregate is the example-weighted mean of the partial means, which for FedAvg is the mean
 * of all the accepted updates. No client message reaches the leader itself, nor any client's own
 * figures: the round's record has one summary per node (`nodes`) instead of per-client contributions.
 */
export class EdgeProtocol extends ProtocolBase {
  readonly name = 'edge-fedavg';
  readonly stage = 'upload';
  /** Per node, the participants it has not reported on yet; a node's entry goes once its partial arrives. */
  private readonly waiting = new Map<string, Set<string>>();
  /** Per node, how many participants it had when training started: the most it can report on. */
  private readonly participantsOf = new Map<string, number>();
  private readonly received: ReceivedPartial[] = [];
  /** Nodes whose partial arrived (accepted or not): a node reports once per round. */
  private readonly reported = new Set<string>();
  private listening = false;
  /** Set when training starts, so the round machine calls advance() at once and the wait for partials begins. */
  override deadline: number | undefined = undefined;

  constructor(
    private readonly ctx: RoundContext,
    private readonly cluster: EdgeCluster,
    /** rounds.maxUpdateNorm: the limit every node held each update to. */
    private readonly maxUpdateNorm: number,
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
      this.participantsOf.set(node, (this.participantsOf.get(node) ?? 0) + 1);
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
    return this.received.reduce((n, r) => n + r.partial.contributors, 0);
  }

  settled(): boolean {
    for (const set of this.waiting.values()) if (set.size > 0) return false;
    return true;
  }

  aggregate(): RoundAggregate {
    // In node order, not arrival order, so the float sums (and a rerun) come out the same.
    const partials = [...this.received].sort((a, b) => (a.partial.node < b.partial.node ? -1 : 1));
    const withMean = partials.filter((r) => r.mean !== undefined && r.partial.weight > 0);
    const numExamples = withMean.reduce((s, r) => s + r.partial.weight, 0);
    const nodes: NodeContribution[] = partials.map(({ partial: p }) => ({
      node: p.node,
      contributors: p.contributors,
      numExamples: p.weight,
      ...(p.loss !== undefined ? { loss: p.loss } : {}),
      ...(p.accuracy !== undefined ? { accuracy: p.accuracy } : {}),
      refused: p.refused,
      updateBytes: p.updateBytes,
    }));
    // Weighted as the round record weighs clients' metrics: by examples, weights first.
    const metric = (f: (p: ReceivedPartial['partial']) => number | undefined) =>
      withMean.reduce((s, r) => s + (f(r.partial) ?? 0) * (r.partial.weight / numExamples), 0);
    return {
      delta: this.ctx.aggregator.aggregate(
        withMean.map((r) => ({ clientId: r.partial.node, delta: r.mean!, numExamples: r.partial.weight })),
      ),
      contributions: [],
      nodes,
      numExamples,
      ...(numExamples > 0 ? { trainLoss: metric((p) => p.loss), trainAccuracy: metric((p) => p.accuracy) } : {}),
    };
  }

  private accept(received: ReceivedPartial): void {
    const { node } = received.partial;
    // A node reports once per round; a partial from a node nobody waited on adds nothing.
    if (!this.waiting.has(node) || this.reported.has(node)) return;
    this.reported.add(node);
    this.waiting.set(node, new Set());
    const problem = partialProblem(
      received,
      this.participantsOf.get(node) ?? 0,
      this.ctx.globalWeights.length,
      this.maxUpdateNorm,
    );
    // An impossible partial is unusable: that node's clients count as not having contributed.
    if (problem) this.cluster.partialRefused(node, this.ctx.round, problem);
    else this.received.push(received);
  }
}
