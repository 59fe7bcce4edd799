import { z } from 'zod';

/**
 * The record of one round: what `GET /v1/rounds` returns, what the coordinator appends to its
 * round log, and the metadata stored with each committed model version.
 */

const nonNegInt = z.number().int().nonnegative();

export const RoundStatus = z.enum(['waiting', 'selecting', 'training', 'aggregating', 'committed', 'failed']);
export type RoundStatus = z.infer<typeof RoundStatus>;

export const ContributionSchema = z.object({
  clientId: z.string(),
  numExamples: nonNegInt,
  loss: z.number(),
  accuracy: z.number(),
  trainMs: z.number().nonnegative(),
});

export const EvaluationSchema = z.object({
  loss: z.number(),
  accuracy: z.number().min(0).max(1),
  numExamples: nonNegInt,
});
export type Evaluation = z.infer<typeof EvaluationSchema>;

export const RoundRecordSchema = z.object({
  round: z.number().int().positive(),
  status: RoundStatus,
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
  contributions: z.array(ContributionSchema),
  numExamples: nonNegInt,
  /** Example-weighted mean of the clients' training loss and accuracy. */
  trainLoss: z.number().optional(),
  trainAccuracy: z.number().optional(),
  /** The committed model on the coordinator's held-out data, when it has some. */
  evaluation: EvaluationSchema.optional(),
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

export const RoundListSchema = z.object({
  currentVersion: nonNegInt,
  pendingRounds: nonNegInt,
  rounds: z.array(RoundRecordSchema),
});
export type RoundList = z.infer<typeof RoundListSchema>;
