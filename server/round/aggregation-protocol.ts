import type { Aggregator } from '../../shared/aggregation/types.js';
import type { ErrorCode, TrainTask, UpdateMeta } from '../../shared/protocol/messages.js';
import type { NodeContribution, RoundPrivacyRecord } from '../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../shared/protocol/secagg-messages.js';
import type { SecAggClientMessage, SecAggServerMessage } from '../../shared/secagg/messages.js';
import type { TrainConfig } from '../../shared/training.js';
import type { PrivateRoundPlan } from '../privacy-runtime.js';

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
  /** Differential privacy on this round, set by its decorator (private-protocol.ts). */
  privacy?: RoundPrivacyContext;
}

/** What a protocol under differential privacy is told: the round's plan, and whom to tell what it reveals. */
export interface RoundPrivacyContext {
  /** Fixed when the round selected; its instructions go out with every training task. */
  plan: PrivateRoundPlan;
  /** The coordinator just learned the sum of this many clients' updates (an unmasked secure sum); a throw aborts the round. */
  unmasked(contributors: number): void;
}

/**
 * What a protocol asks of the round runtime, which carries it out: a message to send, or work off
 * the event loop (closing a secure-aggregation stage) whose continuation runs when it settles,
 * only while the round still runs. A protocol never holds a timer or a socket.
 */
export type ProtocolEffect =
  { type: 'send'; message: Outbound } | { type: 'await'; work: Promise<(now: number) => ProtocolEffect[]> };

/** A message for one participant; `weights` travels as the binary attachment. */
export type Outbound =
  | { event: 'train'; to: string; body: TrainTask; weights: Float32Array }
  /** A secure-aggregation stage message (its byte fields travel as binary attachments). */
  | { event: 'secagg'; to: string; body: SecAggServerMessage };

/**
 * A validated message from participants of the round: a plaintext update, a secure-aggregation
 * message, or (cluster mode) the masked inputs of several clients of one node added up mod 2^32.
 */
export type Inbound =
  | { kind: 'update'; clientId: string; meta: UpdateMeta; delta: Float32Array }
  | { kind: 'secagg'; clientId: string; round: number; body: SecAggClientMessage }
  | { kind: 'masked-sum'; node: string; clientIds: string[]; round: number; words: Uint32Array };

/** The round an inbound message is for. */
export function roundOf(message: Inbound): number {
  return message.kind === 'update' ? message.meta.round : message.round;
}

/** The participants an inbound message speaks for. */
export function sendersOf(message: Inbound): readonly string[] {
  return message.kind === 'masked-sum' ? message.clientIds : [message.clientId];
}

/** What an inbound message is, for refusals: "an update", "a 'secagg/…' message", "a masked input sum". */
export function describeInbound(message: Inbound): string {
  switch (message.kind) {
    case 'update':
      return 'an update';
    case 'secagg':
      return `a '${message.body.type}' message`;
    case 'masked-sum':
      return `a masked input sum of node ${message.node}`;
    default: {
      const never: never = message;
      throw new Error(`unknown inbound message ${JSON.stringify(never)}`);
    }
  }
}

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
  /** Cluster rounds: each node's contributors summed there (`contributions` is then empty). */
  nodes?: NodeContribution[];
  numExamples: number;
  /** Example-weighted training loss and accuracy, when only their aggregate is known (secure aggregation). */
  trainLoss?: number;
  trainAccuracy?: number;
  /** With differential privacy: what the round cost and the epsilon spent after it. */
  privacy?: RoundPrivacyRecord;
  /** With differential privacy under secure aggregation: the clip indicators' sum, summed unseen with the updates. */
  indicatorSum?: number;
}

export interface AggregationProtocol {
  readonly name: string;
  /** The current stage of the training phase, shown in the round listing. */
  readonly stage: string;
  /** When advance() must be called at the latest (a stage deadline), if the protocol keeps one. */
  readonly deadline: number | undefined;
  /** Messages that start training for these participants, at `now`. */
  begin(participants: readonly string[], now: number): Outbound[];
  /** Accepts or refuses one participant message; a refusal changes nothing. */
  receive(message: Inbound): Verdict;
  /**
   * Stops waiting for a participant (it disconnected, or sent something unusable); true when
   * its contribution was still outstanding.
   */
  drop(clientId: string): boolean;
  /** Moves on after any event or at `deadline`: what the protocol asks of the runtime now. */
  advance(now: number): ProtocolEffect[];
  /** Participants whose contribution is complete. */
  contributors(): number;
  /** True when no live participant owes anything more, so waiting longer cannot help. */
  settled(): boolean;
  /** The round's aggregated delta from the complete contributions. */
  aggregate(): RoundAggregate;
  /** Why the protocol cannot yield an aggregate (it aborted, or has not finished by the deadline). */
  failure(): string | undefined;
  /** Protocol-specific facts for the round record, as of `now`. */
  details(now: number): { secureAggregation?: SecureAggregationRecord };
}

/** The defaults of a protocol with one exchange and no clock of its own (plaintext upload). */
export abstract class ProtocolBase implements AggregationProtocol {
  abstract readonly name: string;
  abstract readonly stage: string;
  readonly deadline: number | undefined = undefined;
  abstract begin(participants: readonly string[], now: number): Outbound[];
  abstract receive(message: Inbound): Verdict;
  abstract drop(clientId: string): boolean;
  abstract contributors(): number;
  abstract settled(): boolean;
  abstract aggregate(): RoundAggregate;

  advance(_now: number): ProtocolEffect[] {
    return [];
  }

  failure(): string | undefined {
    return undefined;
  }

  details(_now: number): { secureAggregation?: SecureAggregationRecord } {
    return {};
  }
}

export type ProtocolFactory = (ctx: RoundContext) => AggregationProtocol;
