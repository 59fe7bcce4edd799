import type { Aggregator } from '../../shared/aggregation/types.js';
import type { ErrorCode, TrainTask, UpdateMeta } from '../../shared/protocol/messages.js';
import type { RoundPrivacyRecord } from '../../shared/protocol/rounds.js';
import type { TrainConfig } from '../../shared/training.js';

/**
 * How a round turns its participants' work into one aggregated delta, between selection and
 * aggregation. The round machine owns the lifecycle (who is selected, deadlines, dropouts, stale
 * or unselected senders); the protocol owns the messages of the training phase. Plaintext upload
 * is one protocol; secure aggregation is another with more stages (advertise keys, share keys,
 * masked input, unmask) behind the same interface.
 */

/** What a protocol is given when its round enters training. */
export interface RoundContext {
  round: number;
  /** The model version being trained from. */
  version: number;
  globalWeights: Float32Array;
  trainConfig: TrainConfig;
  /** How long participants have, from the start of training. */
  timeoutMs: number;
  aggregator: Aggregator;
  /** Clients connected when the participants were selected (differential privacy sizes noise shares by it). */
  population?: number;
}

/** A message for one participant; `weights` travels as the binary attachment. */
export type Outbound = { event: 'train'; to: string; body: TrainTask; weights: Float32Array };

/** A validated message from a participant of the current round. */
export type Inbound = { kind: 'update'; clientId: string; meta: UpdateMeta; delta: Float32Array };

export type Verdict = { ok: true } | { ok: false; code: ErrorCode; message: string };

export interface Contribution {
  clientId: string;
  numExamples: number;
  loss: number;
  accuracy: number;
  trainMs: number;
}

export interface RoundAggregate {
  delta: Float32Array;
  contributions: Contribution[];
  numExamples: number;
  /** With differential privacy: what the round cost and the epsilon spent after it. */
  privacy?: RoundPrivacyRecord;
}

export interface AggregationProtocol {
  readonly name: string;
  /** The current stage of the training phase, shown in the round listing. */
  readonly stage: string;
  /** Messages that start training for these participants. */
  begin(participants: readonly string[]): Outbound[];
  /** Accepts or refuses one participant message; a refusal changes nothing. */
  receive(message: Inbound): Verdict;
  /**
   * Stops waiting for a participant (it disconnected, or sent something unusable); true when
   * its contribution was still outstanding.
   */
  drop(clientId: string): boolean;
  /** Participants whose contribution is complete. */
  contributors(): number;
  /** True when no live participant owes anything more, so waiting longer cannot help. */
  settled(): boolean;
  /** The round's aggregated delta from the complete contributions. */
  aggregate(): RoundAggregate;
}

export type ProtocolFactory = (ctx: RoundContext) => AggregationProtocol;
