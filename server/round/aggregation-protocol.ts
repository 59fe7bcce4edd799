import type { Aggregator } from '../../shared/aggregation/types.js';
import type { ErrorCode, TrainTask, UpdateMeta } from '../../shared/protocol/messages.js';
import type { RoundPrivacyRecord } from '../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../shared/protocol/secagg-messages.js';
import type { SecAggClientMessage, SecAggServerMessage } from '../../shared/secagg/messages.js';
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
  /** For protocols with several exchanges per round (secure aggregation): acting between events. */
  link?: ProtocolLink;
}

/**
 * What an interactive protocol may do on its own, outside receive/drop: send the next stage's
 * messages, keep its own stage deadlines, and report that its state changed (a stage closed, it
 * finished or aborted) so the round re-checks settled(). Always called from a timer or an async
 * continuation, never from inside one of the protocol's methods.
 */
export interface ProtocolLink {
  send(messages: Outbound[]): void;
  changed(): void;
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A message for one participant; `weights` travels as the binary attachment. */
export type Outbound =
  | { event: 'train'; to: string; body: TrainTask; weights: Float32Array }
  /** A secure-aggregation stage message (its byte fields travel as binary attachments). */
  | { event: 'secagg'; to: string; body: SecAggServerMessage };

/** A schema-valid message of a protocol's own exchanges (secure aggregation) from a participant. */
export interface ProtocolMessage {
  clientId: string;
  round: number;
  body: SecAggClientMessage;
  /** Its size on the wire, for the round's upload volume. */
  bytes: number;
}

/** A validated message from a participant of the current round. */
export type Inbound = { kind: 'update'; clientId: string; meta: UpdateMeta; delta: Float32Array };

export type Verdict = { ok: true } | { ok: false; code: ErrorCode; message: string };

/** A client whose update is in the aggregate; under secure aggregation only its id (the rest is summed unseen). */
export interface Contribution {
  clientId: string;
  numExamples?: number;
  loss?: number;
  accuracy?: number;
  trainMs?: number;
}

export interface RoundAggregate {
  delta: Float32Array;
  contributions: Contribution[];
  numExamples: number;
  /** Example-weighted training loss and accuracy, when only their aggregate is known (secure aggregation). */
  trainLoss?: number;
  trainAccuracy?: number;
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
  /** Interactive protocols: one message of their own exchanges; a refusal changes nothing. */
  receiveMessage?(message: ProtocolMessage): Verdict;
  /** Why the protocol cannot yield an aggregate (it aborted, or has not finished by the deadline). */
  failure?(): string | undefined;
  /** Protocol-specific facts for the round record. */
  details?(): { secureAggregation?: SecureAggregationRecord };
  /** The round closed or the coordinator stops: cancel timers, send nothing more. */
  dispose?(): void;
}

export type ProtocolFactory = (ctx: RoundContext) => AggregationProtocol;
