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
import type { ClientUpdate } from '../../shared/aggregation/types.js';
import { forwardedFor, type Forwarded, type Partial } from './cluster-messages.js';

/**
 * A partial as the leader received it, with its binary part: with partial.forwarded 'mean' the
 * contributors' weighted mean (absent when nobody contributed on that node), with 'updates' their
 * updates end to end.
 */
export interface ReceivedPartial {
  partial: Partial;
  vector: Float32Array | undefined;
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

/** What a partial must fit: the node's participants, the model's size, the norm limit, what the round asked for. */
export interface PartialBounds {
  participants: number;
  modelSize: number;
  maxUpdateNorm: number;
  forwarded: Forwarded;
}

/**
 * Why a partial cannot be what the node's participants could have sent, or undefined. The leader
 * never sees the clients' own metrics, so it checks what they bound: no more contributors than the
 * node had participants, between 1 and CLIENT_LIMITS.maxExamples examples each, what the round
 * asked for (a mean or every update), and vectors of the model's size whose norm is within the
 * limit every update was held to (a weighted mean of vectors is no longer than the longest).
 */
export function partialProblem(
  { partial, vector }: ReceivedPartial,
  { participants, modelSize, maxUpdateNorm, forwarded }: PartialBounds,
): string | undefined {
  const { contributors, refused, weight } = partial;
  if (partial.forwarded !== forwarded)
    return `it forwards ${partial.forwarded === 'mean' ? 'a mean' : 'every update'}, the round's aggregator needs ${forwarded === 'mean' ? 'a mean' : 'every update'}`;
  if (contributors + refused > participants)
    return `it counts ${contributors} contributor(s) and ${refused} refused, the node had ${participants} participant(s)`;
  if (contributors === 0)
    return weight === 0 && vector === undefined && (partial.weights ?? []).length === 0
      ? undefined
      : 'it has no contributors but a weight or updates';
  if (weight < contributors || weight > contributors * CLIENT_LIMITS.maxExamples)
    return `its weight ${weight} is not between 1 and ${CLIENT_LIMITS.maxExamples} examples for each of its ${contributors} contributor(s)`;
  if (partial.loss === undefined || partial.accuracy === undefined)
    return 'it has contributors but no training metrics';
  if (!vector) return `it has contributors but no ${forwarded === 'mean' ? 'mean' : 'updates'}`;
  switch (forwarded) {
    case 'mean':
      return partial.weights === undefined
        ? meanProblem(vector, modelSize, maxUpdateNorm)
        : 'it forwards a mean with per-update weights';
    case 'updates':
      return updatesProblem(partial, vector, modelSize, maxUpdateNorm);
    default: {
      const never: never = forwarded;
      return `unknown forwarding ${String(never)}`;
    }
  }
}

function meanProblem(mean: Float32Array, modelSize: number, maxUpdateNorm: number): string | undefined {
  if (mean.length !== modelSize) return `its mean has ${mean.length} values, the model has ${modelSize}`;
  const norm = updateNorm(mean);
  // float32 rounding may lengthen a mean a little past its longest update.
  if (!(norm <= maxUpdateNorm * (1 + 1e-5)))
    return `its mean has L2 norm ${norm.toPrecision(4)}, above the limit ${maxUpdateNorm} of every update in it`;
  return undefined;
}

/** Every forwarded update as a single coordinator would have taken it: its size, its weight, its norm. */
function updatesProblem(
  { contributors, weight, weights }: Partial,
  updates: Float32Array,
  modelSize: number,
  maxUpdateNorm: number,
): string | undefined {
  if (weights?.length !== contributors)
    return `it has ${contributors} contributor(s) but ${weights?.length ?? 'no'} update weight(s)`;
  if (updates.length !== contributors * modelSize)
    return `its updates have ${updates.length} values, ${contributors} update(s) of the model's ${modelSize} have ${contributors * modelSize}`;
  let sum = 0;
  for (let i = 0; i < contributors; i++) {
    const w = weights[i];
    if (!(w >= 1 && w <= CLIENT_LIMITS.maxExamples))
      return `its update ${i} weighs ${w} examples, not between 1 and ${CLIENT_LIMITS.maxExamples}`;
    sum += w;
    // The same norm, over the same floats, that the node held the update to.
    const norm = updateNorm(updates.subarray(i * modelSize, (i + 1) * modelSize));
    if (!(norm <= maxUpdateNorm))
      return `its update ${i} has L2 norm ${norm.toPrecision(4)}, above the limit ${maxUpdateNorm}`;
  }
  if (sum !== weight) return `its update weights add up to ${sum}, not its weight ${weight}`;
  return undefined;
}

/** A partial's updates, for an aggregator that needs every one (client ids stay on the node: these name the node). */
function updatesOf({ partial, vector }: ReceivedPartial, modelSize: number): ClientUpdate[] {
  return (partial.weights ?? []).map((numExamples, i) => ({
    clientId: `${partial.node}#${i}`,
    delta: vector!.subarray(i * modelSize, (i + 1) * modelSize),
    numExamples,
  }));
}

/**
 * The leader's side of edge aggregation: the round's participants train on their own nodes, whose
 * edge aggregators (edge-aggregator.ts) validate the updates and forward one partial each. The
 * round is settled once every node holding participants has sent its partial (or lost them all).
 * With a linear aggregator the aggregate is the example-weighted mean of the partial means, which
 * for FedAvg is the mean of all the accepted updates; any other aggregator runs over every node's
 * forwarded updates, as one coordinator runs it over all of them. No client message reaches the
 * leader itself, nor any client's id or metrics: the round's record has one summary per node
 * (`nodes`) instead of per-client contributions.
 */
export class EdgeProtocol extends ProtocolBase {
  readonly name = 'edge-fedavg';
  readonly stage = 'upload';
  /** What each node forwards for this round's aggregator. */
  private readonly forwarded: Forwarded;
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
    this.forwarded = forwardedFor(ctx.aggregator);
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
    const usable = partials.filter((r) => r.vector !== undefined && r.partial.weight > 0);
    const numExamples = usable.reduce((s, r) => s + r.partial.weight, 0);
    const nodes: NodeContribution[] = partials.map(({ partial: p }) => ({
      node: p.node,
      forwarded: p.forwarded,
      contributors: p.contributors,
      numExamples: p.weight,
      ...(p.loss !== undefined ? { loss: p.loss } : {}),
      ...(p.accuracy !== undefined ? { accuracy: p.accuracy } : {}),
      refused: p.refused,
      updateBytes: p.updateBytes,
    }));
    // Weighted as the round record weighs clients' metrics: by examples, weights first.
    const metric = (f: (p: ReceivedPartial['partial']) => number | undefined) =>
      usable.reduce((s, r) => s + (f(r.partial) ?? 0) * (r.partial.weight / numExamples), 0);
    const modelSize = this.ctx.globalWeights.length;
    const updates: ClientUpdate[] =
      this.forwarded === 'mean'
        ? usable.map((r) => ({ clientId: r.partial.node, delta: r.vector!, numExamples: r.partial.weight }))
        : usable.flatMap((r) => updatesOf(r, modelSize));
    return {
      delta: this.ctx.aggregator.aggregate(updates),
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
    const problem = partialProblem(received, {
      participants: this.participantsOf.get(node) ?? 0,
      modelSize: this.ctx.globalWeights.length,
      maxUpdateNorm: this.maxUpdateNorm,
      forwarded: this.forwarded,
    });
    // An impossible partial is unusable: that node's clients count as not having contributed.
    if (problem) this.cluster.partialRefused(node, this.ctx.round, problem);
    else this.received.push(received);
  }
}
