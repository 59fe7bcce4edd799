import { z } from 'zod';
import { SECURE_STAGES, SecureAggregationRecordSchema, SecureDropoutSchema } from './secagg-messages.js';

/**
 * The record of one round: what `GET /v1/rounds` returns, what the coordinator appends to its
 * round log, and the metadata stored with each committed model version.
 */

const nonNegInt = z.number().int().nonnegative();

export const RoundStatusSchema = z.enum(['waiting', 'selecting', 'training', 'aggregating', 'committed', 'failed']);
export type RoundStatus = z.infer<typeof RoundStatusSchema>;

/** Under secure aggregation a contribution names the client only: its numbers are summed unseen. */
export const ContributionSchema = z.object({
  clientId: z.string(),
  numExamples: nonNegInt.optional(),
  loss: z.number().optional(),
  accuracy: z.number().optional(),
  trainMs: z.number().nonnegative().optional(),
});

/**
 * Cluster rounds (plaintext edge aggregation): what the contributors of one node added up to, as
 * that node's edge aggregator summed it. Per-client figures stay on the node that validated them.
 */
export const NodeContributionSchema = z.object({
  node: z.string(),
  /** What the node forwarded to the leader: its clients' weighted mean, or every update (a robust aggregator). */
  forwarded: z.enum(['mean', 'updates']).optional(),
  /** Clients of the node whose update is in the aggregate. */
  contributors: nonNegInt,
  numExamples: nonNegInt,
  /** Example-weighted mean training loss and accuracy of the node's contributors. */
  loss: z.number().optional(),
  accuracy: z.number().optional(),
  /** The node's participants whose update it refused as unusable. */
  refused: nonNegInt,
  updateBytes: nonNegInt,
});
export type NodeContribution = z.infer<typeof NodeContributionSchema>;

const unit = z.number().min(0).max(1);
export const ClassMetricsSchema = z.object({ precision: unit, recall: unit, f1: unit, support: nonNegInt });

/** Per-class results: confusion[true class][predicted class] and the metrics derived from it. */
const perClassFields = {
  confusion: z.array(z.array(nonNegInt)).optional(),
  perClass: z.array(ClassMetricsSchema).optional(),
};

export const EvaluationSchema = z.object({
  loss: z.number(),
  accuracy: z.number().min(0).max(1),
  numExamples: nonNegInt,
  ...perClassFields,
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

/** Federated evaluation: selected clients scored the committed model on their own held-out splits. */
export const FederatedEvaluationSchema = z.object({
  selected: z.array(z.string()),
  /** Clients whose metrics are in the aggregate. */
  reported: z.array(z.string()),
  /** Selected clients that hold no held-out data. */
  declined: z.array(z.string()),
  /** Selected clients that disconnected or missed the deadline. */
  missing: z.array(z.string()),
  /** Example-weighted over the reporting clients; absent when none reported. */
  loss: z.number().optional(),
  accuracy: z.number().min(0).max(1).optional(),
  numExamples: nonNegInt,
  /** Summed over the reporting clients, when every one of them sent its confusion matrix. */
  ...perClassFields,
  /** Why nothing was evaluated (too few clients could evaluate). */
  skipped: z.string().optional(),
  durationMs: z.number().nonnegative(),
  /**
   * Secure aggregation on: the evaluation ran as a SecAgg+ session; loss, accuracy, numExamples and
   * the confusion matrix are the sums over `reported` (the survivors), and no client's own figures
   * reached the coordinator.
   */
  secure: z
    .object({
      /** Neighbours per client in the session's graph, and the Shamir threshold (absent when it could not start). */
      k: z.number().int().optional(),
      threshold: z.number().int().optional(),
      /** Stage reached. */
      stage: z.enum(SECURE_STAGES),
      dropouts: z.array(SecureDropoutSchema),
      /** Bound on |loss - the exact example-weighted mean of the clamped losses|. */
      lossErrorBound: z.number().nonnegative().optional(),
      /** Why the session ended without a sum. */
      aborted: z.string().optional(),
    })
    .optional(),
});
export type FederatedEvaluation = z.infer<typeof FederatedEvaluationSchema>;

/** What one round cost in privacy, and the total spent after it (differential privacy on). */
export const RoundPrivacyRecordSchema = z.object({
  mode: z.enum(['central', 'distributed']),
  /** Released-model epsilon spent after this round, at `delta`. */
  epsilon: z.number().nonnegative(),
  delta: z.number(),
  targetEpsilon: z.number(),
  /** The RDP order that gave epsilon. */
  order: z.number().nullable(),
  samplingRate: z.number(),
  expectedContributors: z.number().int(),
  contributors: z.number().int(),
  clipNorm: z.number(),
  /** Noise multiplier of everything in the released sum (what the accountant charged). */
  releasedNoiseMultiplier: z.number(),
  /** Distributed mode: noise the clients added themselves, in units of the clip norm; null in central mode. */
  clientNoiseMultiplier: z.number().nullable(),
  /** Distributed mode: epsilon against the coordinator itself; null in central mode. */
  coordinatorEpsilon: z.number().nullable(),
  /** Updates the coordinator had to scale down to the clip norm (central mode). */
  clippedUpdates: z.number().int().optional(),
});
export type RoundPrivacyRecord = z.infer<typeof RoundPrivacyRecordSchema>;

/** The privacy account as a whole, in the round listing. */
/**
 * Epsilon at `delta` against each audience (README, "Against whom epsilon holds"). The accountant's
 * discount for Poisson sampling holds only against whoever does not know who was sampled.
 */
export const PrivacyAudiencesSchema = z.object({
  /** API and dashboard readers and other clients: they see the released models, never who was sampled. */
  public: z.number().nonnegative(),
  /**
   * Whoever knows which rounds a client was drawn in (the coordinator operator, an admin-token
   * holder): no sampling discount, so it depends on how often the client was drawn. everyRound:
   * drawn in every round, the bound for all clients; typicalClient: drawn in the expected share (q per round).
   */
  participationKnown: z.object({ typicalClient: z.number().nonnegative(), everyRound: z.number().nonnegative() }),
  /**
   * The coordinator operator, who also sees what clients upload: central mode null (each clipped
   * update is seen in the clear: no guarantee); distributed mode only the clients' own noise, without the sampling discount.
   */
  coordinator: z.number().nonnegative().nullable(),
});
export type PrivacyAudiences = z.infer<typeof PrivacyAudiencesSchema>;

export const PrivacyStatusSchema = z.object({
  mode: z.enum(['central', 'distributed']),
  epsilon: z.number().nonnegative(),
  delta: z.number(),
  targetEpsilon: z.number(),
  coordinatorEpsilon: z.number().nullable(),
  rounds: nonNegInt,
  /** Rounds that still fit the budget at the configured sampling rate. */
  roundsRemaining: nonNegInt,
  clipNorm: z.number(),
  audiences: PrivacyAudiencesSchema,
  /** Set once training stopped because the next round would pass targetEpsilon. */
  exhausted: z.string().optional(),
});
export type PrivacyStatus = z.infer<typeof PrivacyStatusSchema>;

export const RoundRecordSchema = z.object({
  round: z.number().int().positive(),
  status: RoundStatusSchema,
  /** Stage of the aggregation protocol while training (e.g. 'upload'). */
  stage: z.string().optional(),
  /** The version this round trained from, and the one it committed. */
  baseVersion: nonNegInt,
  version: nonNegInt.optional(),
  participants: z.array(z.string()),
  /** Participants that disconnected before contributing. */
  dropped: z.array(z.string()),
  /** Participants whose update was refused as unusable (non-finite, wrong size). */
  refused: z.array(z.object({ clientId: z.string(), reason: z.string() })).optional(),
  /** Per client; empty in a cluster round, whose contributions are summed per node in `nodes`. */
  contributions: z.array(ContributionSchema),
  /** Cluster rounds (plaintext): one summary per node that reported. */
  nodes: z.array(NodeContributionSchema).optional(),
  numExamples: nonNegInt,
  /** Example-weighted mean of the clients' training loss and accuracy. */
  trainLoss: z.number().optional(),
  trainAccuracy: z.number().optional(),
  /** The committed model on the coordinator's held-out data, when it has some. */
  evaluation: EvaluationSchema.optional(),
  federatedEvaluation: FederatedEvaluationSchema.optional(),
  privacy: RoundPrivacyRecordSchema.optional(),
  /** Secure aggregation: graph, stages, survivors, dropouts and the error bound. */
  secureAggregation: SecureAggregationRecordSchema.optional(),
  updateBytes: nonNegInt,
  reason: z.string().optional(),
  /** When the round began waiting for clients. */
  startedAt: z.string(),
  /** Milliseconds spent in each phase so far. */
  phaseMs: z.record(z.string(), z.number().nonnegative()),
  /** From the start of selection to the commit or failure (time waiting for clients excluded). */
  durationMs: z.number().nonnegative(),
});
export type RoundRecord = z.infer<typeof RoundRecordSchema>;

/** Clients whose update is in the round's aggregate: listed one by one, or counted per cluster node. */
export function contributorCount(record: {
  contributions: readonly unknown[];
  nodes?: readonly { contributors: number }[];
}): number {
  return record.contributions.length + (record.nodes ?? []).reduce((n, s) => n + s.contributors, 0);
}

export const RoundListSchema = z.object({
  currentVersion: nonNegInt,
  pendingRounds: nonNegInt,
  rounds: z.array(RoundRecordSchema),
  privacy: PrivacyStatusSchema.optional(),
});
export type RoundList = z.infer<typeof RoundListSchema>;
