import { z } from 'zod';
import { SecureAggregationRecordSchema } from './secagg-messages.js';
import {
  contributorCount,
  EvaluationSchema,
  FederatedEvaluationSchema,
  PrivacyStatusSchema,
  RoundPrivacyRecordSchema,
  RoundRecordSchema,
  RoundStatusSchema,
  type RoundList,
  type RoundRecord,
} from './rounds.js';

/**
 * What anyone may read of a round (`GET /v1/rounds` and the `/live` feed without the admin token).
 * Only aggregates: no client ids, no per-client numbers. With differential privacy on, only what the
 * accountant covers: the round's status and versions, the privacy account, and the coordinator's own
 * evaluation of the released (noised) model, which is post-processing of it.
 * `publicRoundView` is the one place that decides; both surfaces call it.
 */

const nonNegInt = z.number().int().nonnegative();

/** Differential privacy off: counts and aggregate metrics, never who or how much each client did. */
export const AggregateRoundSchema = z.object({
  view: z.literal('aggregates'),
  round: z.number().int().positive(),
  status: RoundStatusSchema,
  stage: z.string().optional(),
  baseVersion: nonNegInt,
  version: nonNegInt.optional(),
  participants: nonNegInt,
  /** Participants whose update is in the aggregate. */
  contributors: nonNegInt,
  dropped: nonNegInt,
  refused: nonNegInt,
  numExamples: nonNegInt,
  trainLoss: z.number().optional(),
  trainAccuracy: z.number().optional(),
  evaluation: EvaluationSchema.optional(),
  federatedEvaluation: z
    .object({
      selected: nonNegInt,
      reported: nonNegInt,
      declined: nonNegInt,
      missing: nonNegInt,
      loss: z.number().optional(),
      accuracy: z.number().min(0).max(1).optional(),
      numExamples: nonNegInt,
      /** Summed over the reporting clients: an aggregate like accuracy. */
      confusion: FederatedEvaluationSchema.shape.confusion,
      perClass: FederatedEvaluationSchema.shape.perClass,
      skipped: z.string().optional(),
      durationMs: z.number().nonnegative(),
    })
    .optional(),
  secureAggregation: SecureAggregationRecordSchema.pick({
    k: true,
    threshold: true,
    clip: true,
    maxWeight: true,
    stage: true,
    stageMs: true,
    errorBound: true,
  })
    .extend({ survivors: nonNegInt, dropouts: nonNegInt })
    .optional(),
  updateBytes: nonNegInt,
  /** With every client id in it replaced by "<client>". */
  reason: z.string().optional(),
  startedAt: z.string(),
  phaseMs: z.record(z.string(), z.number().nonnegative()),
  durationMs: z.number().nonnegative(),
});
export type AggregateRound = z.infer<typeof AggregateRoundSchema>;

/** The accountant's settings and result for a round; no counts (they depend on who was sampled). */
export const PublicRoundPrivacySchema = RoundPrivacyRecordSchema.pick({
  mode: true,
  epsilon: true,
  delta: true,
  targetEpsilon: true,
  order: true,
  samplingRate: true,
  clipNorm: true,
  releasedNoiseMultiplier: true,
  clientNoiseMultiplier: true,
  coordinatorEpsilon: true,
});

/** Differential privacy on: only what the accountant covers. */
export const DpRoundSchema = z.object({
  view: z.literal('dp'),
  round: z.number().int().positive(),
  status: RoundStatusSchema,
  stage: z.string().optional(),
  baseVersion: nonNegInt,
  version: nonNegInt.optional(),
  /** The coordinator's held-out data scoring the released model. */
  evaluation: EvaluationSchema.optional(),
  privacy: PublicRoundPrivacySchema.optional(),
  secureAggregation: z.boolean(),
});
export type DpRound = z.infer<typeof DpRoundSchema>;

export const PublicRoundSchema = z.discriminatedUnion('view', [AggregateRoundSchema, DpRoundSchema]);
export type PublicRound = z.infer<typeof PublicRoundSchema>;

/**
 * Fields of a round record (dotted paths) that the accountant does not cover: released to the admin
 * token only, and marked with this list there when differential privacy is on.
 */
export const OUTSIDE_DP_GUARANTEE = [
  'participants',
  'dropped',
  'refused',
  'contributions',
  'nodes',
  'numExamples',
  'trainLoss',
  'trainAccuracy',
  'federatedEvaluation',
  'privacy.expectedContributors',
  'privacy.contributors',
  'privacy.clippedUpdates',
  'secureAggregation.k',
  'secureAggregation.threshold',
  'secureAggregation.clip',
  'secureAggregation.maxWeight',
  'secureAggregation.stage',
  'secureAggregation.stageMs',
  'secureAggregation.survivors',
  'secureAggregation.dropouts',
  'secureAggregation.errorBound',
  'updateBytes',
  'reason',
  'startedAt',
  'phaseMs',
  'durationMs',
] as const;

export interface PublicViewOptions {
  /** Differential privacy is on at the coordinator (a record trained with it counts as on too). */
  privacy: boolean;
}

/** Every client id the record names. */
function clientIds(r: RoundRecord): string[] {
  return [
    ...r.participants,
    ...r.dropped,
    ...(r.refused ?? []).map((x) => x.clientId),
    ...r.contributions.map((c) => c.clientId),
    ...(r.secureAggregation
      ? [...r.secureAggregation.survivors, ...r.secureAggregation.dropouts.map((d) => d.clientId)]
      : []),
    ...(r.federatedEvaluation
      ? [...r.federatedEvaluation.selected, ...r.federatedEvaluation.declined, ...r.federatedEvaluation.missing]
      : []),
  ];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces each whole-word occurrence of a client id (longest first, in one pass) with "<client>". */
export function redactClientIds(text: string, ids: readonly string[]): string {
  const unique = [...new Set(ids.filter((id) => id.length > 0))].sort((a, b) => b.length - a.length);
  if (unique.length === 0) return text;
  return text.replace(new RegExp(`(?<![\\w-])(?:${unique.map(escapeRegExp).join('|')})(?![\\w-])`, 'g'), '<client>');
}

function dpView(r: RoundRecord): DpRound {
  const p = r.privacy;
  return {
    view: 'dp',
    round: r.round,
    status: r.status,
    ...(r.stage !== undefined ? { stage: r.stage } : {}),
    baseVersion: r.baseVersion,
    ...(r.version !== undefined ? { version: r.version } : {}),
    ...(r.evaluation ? { evaluation: r.evaluation } : {}),
    ...(p
      ? {
          privacy: {
            mode: p.mode,
            epsilon: p.epsilon,
            delta: p.delta,
            targetEpsilon: p.targetEpsilon,
            order: p.order,
            samplingRate: p.samplingRate,
            clipNorm: p.clipNorm,
            releasedNoiseMultiplier: p.releasedNoiseMultiplier,
            clientNoiseMultiplier: p.clientNoiseMultiplier,
            coordinatorEpsilon: p.coordinatorEpsilon,
          },
        }
      : {}),
    secureAggregation: r.secureAggregation !== undefined,
  };
}

/** The aggregates of a round, whatever the privacy setting (the public view without DP; the dashboard's admin columns). */
export function aggregateRoundView(r: RoundRecord): AggregateRound {
  const ids = clientIds(r);
  const fe = r.federatedEvaluation;
  const sa = r.secureAggregation;
  return {
    view: 'aggregates',
    round: r.round,
    status: r.status,
    ...(r.stage !== undefined ? { stage: r.stage } : {}),
    baseVersion: r.baseVersion,
    ...(r.version !== undefined ? { version: r.version } : {}),
    participants: r.participants.length,
    contributors: contributorCount(r),
    dropped: r.dropped.length,
    refused: r.refused?.length ?? 0,
    numExamples: r.numExamples,
    ...(r.trainLoss !== undefined ? { trainLoss: r.trainLoss } : {}),
    ...(r.trainAccuracy !== undefined ? { trainAccuracy: r.trainAccuracy } : {}),
    ...(r.evaluation ? { evaluation: r.evaluation } : {}),
    ...(fe
      ? {
          federatedEvaluation: {
            selected: fe.selected.length,
            reported: fe.reported.length,
            declined: fe.declined.length,
            missing: fe.missing.length,
            ...(fe.loss !== undefined ? { loss: fe.loss } : {}),
            ...(fe.accuracy !== undefined ? { accuracy: fe.accuracy } : {}),
            numExamples: fe.numExamples,
            ...(fe.confusion ? { confusion: fe.confusion } : {}),
            ...(fe.perClass ? { perClass: fe.perClass } : {}),
            ...(fe.skipped !== undefined ? { skipped: redactClientIds(fe.skipped, ids) } : {}),
            durationMs: fe.durationMs,
          },
        }
      : {}),
    ...(sa
      ? {
          secureAggregation: {
            k: sa.k,
            threshold: sa.threshold,
            clip: sa.clip,
            maxWeight: sa.maxWeight,
            stage: sa.stage,
            stageMs: sa.stageMs,
            survivors: sa.survivors.length,
            dropouts: sa.dropouts.length,
            ...(sa.errorBound !== undefined ? { errorBound: sa.errorBound } : {}),
          },
        }
      : {}),
    updateBytes: r.updateBytes,
    ...(r.reason !== undefined ? { reason: redactClientIds(r.reason, ids) } : {}),
    startedAt: r.startedAt,
    phaseMs: r.phaseMs,
    durationMs: r.durationMs,
  };
}

/** The public view of one round: aggregates only, and with differential privacy on only what it covers. */
export function publicRoundView(record: RoundRecord, opts: PublicViewOptions): PublicRound {
  return opts.privacy || record.privacy !== undefined ? dpView(record) : aggregateRoundView(record);
}

/** `GET /v1/rounds` without the admin token. */
export const PublicRoundListSchema = z.object({
  access: z.literal('public'),
  currentVersion: nonNegInt,
  pendingRounds: nonNegInt,
  rounds: z.array(PublicRoundSchema),
  privacy: PrivacyStatusSchema.optional(),
});
export type PublicRoundList = z.infer<typeof PublicRoundListSchema>;

/** `GET /v1/rounds` with the admin token: the full records, marked when differential privacy is on. */
export const AdminRoundListSchema = z.object({
  access: z.literal('admin'),
  currentVersion: nonNegInt,
  pendingRounds: nonNegInt,
  rounds: z.array(RoundRecordSchema),
  privacy: PrivacyStatusSchema.optional(),
  outsideDpGuarantee: z.array(z.string()).optional(),
});
export type AdminRoundList = z.infer<typeof AdminRoundListSchema>;

export function publicRoundList(list: RoundList): PublicRoundList {
  const privacy = list.privacy !== undefined;
  return {
    access: 'public',
    currentVersion: list.currentVersion,
    pendingRounds: list.pendingRounds,
    rounds: list.rounds.map((r) => publicRoundView(r, { privacy })),
    ...(list.privacy ? { privacy: list.privacy } : {}),
  };
}

export function adminRoundList(list: RoundList): AdminRoundList {
  const marked = list.privacy !== undefined || list.rounds.some((r) => r.privacy);
  return { access: 'admin', ...list, ...(marked ? { outsideDpGuarantee: [...OUTSIDE_DP_GUARANTEE] } : {}) };
}
