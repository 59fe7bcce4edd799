import type { Aggregator, ClientUpdate } from '../../shared/aggregation/types.js';
import { WeightedMean } from '../../shared/aggregation/weighted-mean.js';
import { CLIENT_LIMITS, type UpdateMeta } from '../../shared/protocol/messages.js';
import type { Contribution, RoundAggregate, Verdict } from '../round/aggregation-protocol.js';
import { PlaintextProtocol } from '../round/plaintext-protocol.js';
import type { ClientLink } from '../client-link.js';
import type { Partial, RoundOpen } from './cluster-messages.js';

/** What the edge aggregator forwards to the leader: a partial, and the clients' mean or updates end to end as its vector. */
export type SendPartial = (partial: Partial, vector: Float32Array | undefined) => void;

/**
 * The "aggregator" of a node that forwards every update: the updates end to end, in the order it
 * is given them (PlaintextProtocol's, by client id, the order of the contributions it returns).
 */
class EndToEnd implements Aggregator {
  readonly name = 'end-to-end';
  readonly linear = false;

  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    const size = updates[0]?.delta.length ?? 0;
    const out = new Float32Array(updates.length * size);
    updates.forEach((u, i) => out.set(u.delta, i * size));
    return out;
  }
}

interface EdgeRound {
  open: RoundOpen;
  /** The round's plaintext protocol over this node's participants: the same checks as a single coordinator. */
  protocol: PlaintextProtocol;
  refused: Map<string, string>;
  updateBytes: number;
  timer: NodeJS.Timeout;
  flushed: boolean;
}

/**
 * Edge aggregation on one cluster node, for plaintext rounds: when the leader opens a round, sends
 * the training task to this node's participants, validates their updates exactly as a single
 * coordinator does (PlaintextProtocol: participant, codec, size, norm, duplicates), and forwards one
 * partial to the leader: for a linear aggregator (FedAvg) the example-weighted mean of the accepted
 * updates (the FedAvg of the partials, weighted so, is the FedAvg of all updates), else every
 * accepted update with its example count; and their total weight, their count and their
 * example-weighted training metrics. Other per-client facts (who contributed, each one's metrics,
 * why one was refused) stay on this node. It forwards once every
 * local participant has contributed or dropped, or at the round's flush time, whichever comes first;
 * later updates are refused as stale.
 */
export class EdgeAggregator {
  private current: EdgeRound | undefined;
  /** Bytes of client updates this node accepted since it started. */
  bytesIn = 0;

  constructor(
    readonly nodeId: string,
    private readonly links: ReadonlyMap<string, ClientLink>,
    private readonly sendPartial: SendPartial,
  ) {}

  /** The leader opened a round: this node's share of it starts (replacing any earlier round). */
  open(open: RoundOpen, weights: Float32Array): void {
    this.end();
    const { task } = open;
    const protocol = new PlaintextProtocol(
      {
        round: open.round,
        version: task.version,
        globalWeights: weights,
        trainConfig: task.config,
        timeoutMs: task.timeoutMs,
        aggregator: open.forwarded === 'mean' ? new WeightedMean() : new EndToEnd(),
      },
      open.normLimits,
      open.codec,
    );
    const local = open.participants.filter((id) => this.links.has(id));
    const state: EdgeRound = {
      open,
      protocol,
      refused: new Map(),
      updateBytes: 0,
      timer: setTimeout(() => this.flush(state), Math.max(0, open.flushAt - Date.now())),
      flushed: false,
    };
    this.current = state;
    for (const message of protocol.begin(local)) this.links.get(message.to)?.send(message);
    this.flushIfSettled(state);
  }

  /** A local client's decoded update. */
  receive(clientId: string, meta: UpdateMeta, delta: Float32Array, bytes: number): Verdict {
    const state = this.current;
    if (!state || state.open.round !== meta.round || state.flushed) {
      const why = state?.flushed
        ? `round ${meta.round}'s updates on this node were already forwarded to the leader`
        : `no round is collecting updates on this node (update is for round ${meta.round})`;
      return { ok: false, code: 'stale-round', message: why };
    }
    const verdict = state.protocol.receive({ kind: 'update', clientId, meta, delta });
    if (verdict.ok) {
      state.updateBytes += bytes;
      this.bytesIn += bytes;
    } else if (verdict.code === 'norm-too-large')
      this.refuse(clientId, meta.round, `${verdict.code}: ${verdict.message}`);
    this.flushIfSettled(state);
    return verdict;
  }

  /** A local participant's update was unusable: it is out of the round. */
  refuse(clientId: string, round: number, reason: string): void {
    const state = this.current;
    if (!state || state.open.round !== round || state.flushed) return;
    if (state.protocol.drop(clientId)) state.refused.set(clientId, reason);
    this.flushIfSettled(state);
  }

  /** A local client disconnected: its contribution is not waited for. */
  left(clientId: string): void {
    const state = this.current;
    if (!state || state.flushed) return;
    state.protocol.drop(clientId);
    this.flushIfSettled(state);
  }

  /** The round closed (or this node stops): nothing more is forwarded for it. */
  closed(round: number): void {
    if (this.current?.open.round === round) this.end();
  }

  end(): void {
    if (this.current) clearTimeout(this.current.timer);
    this.current = undefined;
  }

  private flushIfSettled(state: EdgeRound): void {
    if (state.protocol.settled()) this.flush(state);
  }

  private flush(state: EdgeRound): void {
    if (state.flushed || this.current !== state) return;
    state.flushed = true;
    clearTimeout(state.timer);
    const { open, protocol } = state;
    let aggregate: RoundAggregate | undefined;
    try {
      aggregate = protocol.contributors() > 0 ? protocol.aggregate() : undefined;
    } catch (e) {
      // No usable mean (the updates carry no examples): its clients count as refused.
      for (const id of protocol.contributorIds())
        state.refused.set(id, `unusable on node ${this.nodeId}: ${(e as Error).message}`);
    }
    // With 'mean' only sums leave the node: what the leader receives does not grow with the clients.
    const contributions = aggregate?.contributions ?? [];
    const weight = aggregate?.numExamples ?? 0;
    const mean = (f: (c: Contribution) => number | undefined) =>
      // Weights first, as in the round record, so huge metrics times huge counts cannot overflow.
      contributions.reduce((s, c) => s + (f(c) ?? 0) * ((c.numExamples ?? 0) / weight), 0);
    this.sendPartial(
      {
        kind: 'partial',
        round: open.round,
        token: open.token,
        node: this.nodeId,
        forwarded: open.forwarded,
        contributors: contributions.length,
        ...(open.forwarded === 'updates' ? { weights: contributions.map((c) => c.numExamples ?? 0) } : {}),
        weight,
        // Clamped: rounding must not carry a mean of values within bounds past them (the leader checks them).
        ...(weight > 0
          ? {
              loss: clamp(
                mean((c) => c.loss),
                CLIENT_LIMITS.maxAbsLoss,
              ),
              accuracy: Math.min(
                1,
                Math.max(
                  0,
                  mean((c) => c.accuracy),
                ),
              ),
            }
          : {}),
        refused: state.refused.size,
        updateBytes: state.updateBytes,
      },
      aggregate?.delta,
    );
  }
}

function clamp(value: number, bound: number): number {
  return Math.min(bound, Math.max(-bound, value));
}
