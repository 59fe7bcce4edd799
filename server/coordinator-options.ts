import type { Aggregator, Sampler, ServerOptimizer } from '../shared/aggregation/types.js';
import type { PrivacySpentSummary } from '../shared/protocol/messages.js';
import type { Evaluation, PrivacyStatus, RoundPrivacyRecord } from '../shared/protocol/rounds.js';
import type { RoundTurnoutRecord } from '../shared/privacy/ledger.js';
import type { Task } from '../shared/task.js';
import type { TrainConfig } from '../shared/training.js';
import type { PrivacyJournal } from './privacy-journal.js';
import type { RoundLog } from './round-log.js';
import type { ProtocolFactory } from './round/aggregation-protocol.js';
import type { SecureEvaluationOptions } from './round/secure-evaluation.js';
import type { RoundPolicy } from './round/round-machine.js';
import type { Clock } from './round/scheduler.js';
import type { CheckpointStore } from './store/checkpoint-store.js';
import type { CheckpointState } from './store/json-tree.js';
import type { CommitFence } from './store/commit-fence.js';

/** The injected strategy: who takes part, how updates combine, how the global model moves. */
export interface CoordinatorStrategy {
  sampler: Sampler;
  aggregator: Aggregator;
  serverOptimizer: ServerOptimizer;
}

/** Differential privacy as the coordinator sees it (see privacy-runtime.ts). */
export interface CoordinatorPrivacy {
  /** Why the next round may not run (the budget), or undefined. */
  refusal(): string | undefined;
  summary(): PrivacySpentSummary;
  status(): PrivacyStatus;
  checkpoint(): CheckpointState[string];
  restore(state: unknown): void;
  /** Charges rounds the restored checkpoint does not cover, from their records or journal entries (see resume.ts). */
  replay(rounds: readonly RoundTurnoutRecord[], clipNorm: number): void;
  /** Every charge from now on is made durable in `journal` before anything derived from it leaves. */
  useJournal(journal: PrivacyJournal): void;
  /** The latest charge of `round` (charged when its participants were drawn), for its record even when it failed. */
  charge(round: number): RoundPrivacyRecord | undefined;
}

export interface FederatedEvaluationOptions {
  /** Picks the evaluating clients among those connected that hold held-out data. */
  sampler: Sampler & { readonly minAvailable: number };
  timeoutMs: number;
  /** Secure aggregation on: evaluation runs as a SecAgg+ session and the coordinator sees only the sums. */
  secure?: SecureEvaluationOptions;
}

/** Starting rounds was refused (the privacy budget is spent). */
export class RoundsRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoundsRefusedError';
  }
}

export interface CoordinatorOptions {
  task: Task;
  store: CheckpointStore;
  roundLog: RoundLog;
  policy: RoundPolicy;
  trainConfig: TrainConfig;
  strategy: CoordinatorStrategy;
  protocol: ProtocolFactory;
  /** Scores a candidate model on held-out data; its result is stored with the version. */
  evaluate?: (weights: Float32Array) => Promise<Evaluation>;
  /** Clients score each new model on their own held-out data before it is committed. */
  federatedEvaluation?: FederatedEvaluationOptions;
  privacy?: CoordinatorPrivacy;
  /** Where privacy charges are made durable as they happen (see privacy-journal.ts). */
  privacyJournal?: PrivacyJournal;
  /** Largest L2 norm of a round's aggregated update; a larger (or non-finite) one fails the round. */
  maxUpdateNorm?: number;
  /** Cluster mode: the leader lease's fencing check, made right before each version becomes visible. */
  fence?: CommitFence;
  clock?: Clock;
  log?: (line: string) => void;
}

/** A committed version, for whoever serves it. */
export interface CommittedModel {
  version: number;
  round: number;
  weights: Float32Array;
}
