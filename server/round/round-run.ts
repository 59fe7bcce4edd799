import type { Evaluation, FederatedEvaluation, RoundPrivacyRecord, RoundStatus } from '../../shared/protocol/rounds.js';
import type { LinkMessage } from '../client-link.js';
import type { RoundAggregate } from './aggregation-protocol.js';
import type { FederatedEvaluationRound } from './federated-evaluation.js';
import type { RoundMachine } from './round-machine.js';
import type { SecureEvaluationSession } from './secure-evaluation.js';
import type { RunScope } from './scheduler.js';
import type { RoundFacts } from './round-record.js';

/** What a committed round persisted, for its record when it closes. */
export interface CommittedRound {
  aggregate: RoundAggregate;
  evaluation: Evaluation | undefined;
  federatedEvaluation: FederatedEvaluation | undefined;
  version: number;
}

/**
 * Everything one round holds while it runs: its state machine, the scheduler scope its waiting
 * and sending go through, and what it accumulates on the way (upload volume, the federated
 * evaluation in progress, the committed aggregate). A new round gets a new RoundRun.
 */
export class RoundRun {
  updateBytes = 0;
  /** Set once the aggregate was applied and persisted. */
  committed: CommittedRound | undefined;
  /** The federated evaluation waiting for client reports, and how to end the wait. */
  evaluation: { round: FederatedEvaluationRound; finish: () => void } | undefined;
  /** The secure federated evaluation in progress: poke() after a message or departure, finish() to stop waiting. */
  secureEvaluation: { session: SecureEvaluationSession; poke: () => void; finish: () => void } | undefined;
  /** The aggregation in flight, for stop() to wait for. */
  aggregation: Promise<unknown> | undefined;

  constructor(
    readonly machine: RoundMachine,
    readonly scope: RunScope<LinkMessage>,
    /** The model version the round trains from. */
    readonly baseVersion: number,
    readonly startedAt: number,
  ) {}

  get round(): number {
    return this.machine.round;
  }

  /** The round's facts at `now`, as `status` (a committing round is recorded as committed before its machine is). */
  facts(now: number, status: RoundStatus, charge: RoundPrivacyRecord | undefined, final?: CommittedRound): RoundFacts {
    const { machine } = this;
    return {
      round: machine.round,
      status,
      ...(machine.protocol ? { stage: machine.protocol.stage } : {}),
      baseVersion: this.baseVersion,
      ...(final ? { version: final.version } : {}),
      participants: machine.participants,
      dropped: machine.droppedParticipants(),
      refused: machine.refusedParticipants(),
      ...(final ? { aggregate: final.aggregate } : {}),
      ...(final?.evaluation ? { evaluation: final.evaluation } : {}),
      ...(final?.federatedEvaluation ? { federatedEvaluation: final.federatedEvaluation } : {}),
      ...(charge ? { charge } : {}),
      details: machine.protocol?.details(now) ?? {},
      updateBytes: this.updateBytes,
      ...(machine.reason !== undefined ? { reason: machine.reason } : {}),
      startedAt: this.startedAt,
      enteredAt: machine.enteredAt,
    };
  }
}
