import type { ClientUpdate } from '../../shared/aggregation/types.js';
import { describeCodec, FLOAT32_CODEC, sameCodec, type UpdateCodecSpec } from '../../shared/compression/codec-spec.js';
import {
  describeInbound,
  ProtocolBase,
  type Contribution,
  type Inbound,
  type Outbound,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from './aggregation-protocol.js';
import { DEFAULT_UPDATE_NORM_LIMITS, RoundNorms, updateNorm, type UpdateNormLimits } from './update-norm.js';

/**
 * Each participant gets the global weights, trains, and uploads its delta in the clear; the
 * coordinator's aggregator combines the deltas. One stage: 'upload'. An update far larger than
 * allowed (see update-norm.ts) is refused with 'norm-too-large', which takes its sender out of the round.
 * The training task announces the update codec (shared/compression); an update encoded otherwise
 * is refused with 'wrong-codec'.
 */
export class PlaintextProtocol extends ProtocolBase {
  readonly name = 'plaintext';
  readonly stage = 'upload';
  private readonly pending = new Set<string>();
  private readonly updates = new Map<string, { delta: Float32Array; contribution: Required<Contribution> }>();
  private readonly norms: RoundNorms;

  constructor(
    private readonly ctx: RoundContext,
    limits: UpdateNormLimits = DEFAULT_UPDATE_NORM_LIMITS,
    private readonly codec: UpdateCodecSpec = FLOAT32_CODEC,
  ) {
    super();
    this.norms = new RoundNorms(limits);
  }

  begin(participants: readonly string[]): Outbound[] {
    for (const id of participants) this.pending.add(id);
    return participants.map((to) => ({
      event: 'train' as const,
      to,
      body: {
        round: this.ctx.round,
        version: this.ctx.version,
        config: this.ctx.trainConfig,
        timeoutMs: this.ctx.timeoutMs,
        // Absent means float32, so tasks of uncompressed rounds stay as they were.
        ...(this.codec.codec !== 'float32' ? { compression: this.codec } : {}),
        ...(this.ctx.privacy ? { privacy: this.ctx.privacy.plan.instructions } : {}),
      },
      weights: this.ctx.globalWeights,
    }));
  }

  receive(message: Inbound): Verdict {
    if (message.kind !== 'update') {
      return {
        ok: false,
        code: 'invalid-message',
        message: `round ${message.round} runs the ${this.name} protocol, which does not take ${describeInbound(message)}`,
      };
    }
    const { clientId, meta, delta } = message;
    if (this.updates.has(clientId)) {
      return {
        ok: false,
        code: 'duplicate-update',
        message: `an update from ${clientId} for round ${meta.round} was already accepted`,
      };
    }
    if (!this.pending.has(clientId)) {
      return { ok: false, code: 'not-selected', message: `${clientId} is not a participant of round ${meta.round}` };
    }
    const used = meta.codec ?? FLOAT32_CODEC;
    if (!sameCodec(used, this.codec)) {
      return {
        ok: false,
        code: 'wrong-codec',
        message: `update is encoded as ${describeCodec(used)}, round ${meta.round} announced ${describeCodec(this.codec)}`,
      };
    }
    if (delta.length !== this.ctx.globalWeights.length) {
      return {
        ok: false,
        code: 'wrong-length',
        message: `update has ${delta.length} values, the model has ${this.ctx.globalWeights.length}`,
      };
    }
    const norm = updateNorm(delta);
    const tooLarge = this.norms.problem(norm);
    if (tooLarge) return { ok: false, code: 'norm-too-large', message: tooLarge };
    this.norms.accept(norm);
    this.pending.delete(clientId);
    this.updates.set(clientId, {
      delta,
      contribution: {
        clientId,
        numExamples: meta.numExamples,
        loss: meta.metrics.loss,
        accuracy: meta.metrics.accuracy,
        trainMs: meta.trainMs,
      },
    });
    return { ok: true };
  }

  drop(clientId: string): boolean {
    return this.pending.delete(clientId);
  }

  contributors(): number {
    return this.updates.size;
  }

  /** The clients whose update was accepted. */
  contributorIds(): string[] {
    return [...this.updates.keys()];
  }

  settled(): boolean {
    return this.pending.size === 0;
  }

  aggregate(): RoundAggregate {
    // In client-id order, not arrival order, so the float sums (and a rerun) come out the same.
    const entries = [...this.updates.values()].sort((a, b) =>
      a.contribution.clientId < b.contribution.clientId ? -1 : 1,
    );
    const updates: ClientUpdate[] = entries.map((e) => ({
      clientId: e.contribution.clientId,
      delta: e.delta,
      numExamples: e.contribution.numExamples,
    }));
    const contributions = entries.map((e) => e.contribution);
    return {
      delta: this.ctx.aggregator.aggregate(updates),
      contributions,
      numExamples: contributions.reduce((s, c) => s + c.numExamples, 0),
    };
  }
}
