import {
  contributorCount,
  RoundStatusSchema,
  type RoundStatus,
  type Evaluation,
  type FederatedEvaluation,
  type RoundPrivacyRecord,
  type RoundRecord,
} from '../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../shared/protocol/secagg-messages.js';
import type { RoundAggregate } from './aggregation-protocol.js';

/** Everything a round's record is made of, as plain data. */
export interface RoundFacts {
  round: number;
  status: RoundStatus;
  /** The protocol's stage, shown while training. */
  stage?: string;
  baseVersion: number;
  /** The version the round committed. */
  version?: number;
  participants: readonly string[];
  dropped: readonly string[];
  refused: readonly { clientId: string; reason: string }[];
  aggregate?: RoundAggregate;
  evaluation?: Evaluation;
  federatedEvaluation?: FederatedEvaluation;
  /** The privacy charge made when the participants were drawn; the aggregate's own record wins. */
  charge?: RoundPrivacyRecord;
  details: { secureAggregation?: SecureAggregationRecord };
  updateBytes: number;
  /** Why the round failed. */
  reason?: string;
  startedAt: number;
  /** When each status was entered (ms since epoch). */
  enteredAt: Partial<Record<RoundStatus, number>>;
}

/** A round's record at `now`: for GET /v1/rounds while it runs, for the round log once it closed. */
export function roundRecord(facts: RoundFacts, now: number): RoundRecord {
  const { status, enteredAt, aggregate } = facts;
  const phaseMs: Record<string, number> = {};
  const entered = RoundStatusSchema.options.filter((s) => enteredAt[s] !== undefined);
  entered.forEach((phase, i) => {
    if (phase === 'committed' || phase === 'failed') return;
    const end = i + 1 < entered.length ? enteredAt[entered[i + 1]]! : now;
    phaseMs[phase] = Math.max(0, end - enteredAt[phase]!);
  });
  const contributions = aggregate?.contributions ?? [];
  const numExamples = aggregate?.numExamples ?? 0;
  const weighted = (f: (c: (typeof contributions)[number]) => number | undefined) =>
    // Weights first, so huge finite metrics times huge counts cannot overflow to Infinity.
    numExamples > 0
      ? contributions.reduce((s, c) => s + (f(c) ?? 0) * ((c.numExamples ?? 0) / numExamples), 0)
      : undefined;
  const trainLoss = aggregate?.trainLoss ?? weighted((c) => c.loss);
  const trainAccuracy = aggregate?.trainAccuracy ?? weighted((c) => c.accuracy);
  // A round is charged when its participants are drawn: a failed or running one reports that charge too.
  const privacy = aggregate?.privacy ?? facts.charge;
  return {
    round: facts.round,
    status,
    ...(status === 'training' && facts.stage !== undefined ? { stage: facts.stage } : {}),
    baseVersion: facts.baseVersion,
    ...(facts.version !== undefined ? { version: facts.version } : {}),
    participants: [...facts.participants],
    dropped: [...facts.dropped],
    refused: facts.refused.map((r) => ({ ...r })),
    contributions,
    ...(aggregate?.nodes ? { nodes: aggregate.nodes.map((n) => ({ ...n })) } : {}),
    numExamples,
    ...(trainLoss !== undefined ? { trainLoss } : {}),
    ...(trainAccuracy !== undefined ? { trainAccuracy } : {}),
    ...(facts.evaluation ? { evaluation: facts.evaluation } : {}),
    ...(facts.federatedEvaluation ? { federatedEvaluation: facts.federatedEvaluation } : {}),
    ...(privacy ? { privacy } : {}),
    ...facts.details,
    updateBytes: facts.updateBytes,
    ...(status === 'failed' && facts.reason ? { reason: facts.reason } : {}),
    startedAt: new Date(facts.startedAt).toISOString(),
    phaseMs,
    durationMs: enteredAt.selecting === undefined ? 0 : now - enteredAt.selecting,
  };
}

/** The log line when a round starts aggregating; with differential privacy on, how many contributed stays out. */
export function aggregatingLine(round: number, contributors: number | undefined, privacyOn: boolean): string {
  return `round ${round}: aggregating${privacyOn ? '' : ` ${contributors} update(s)`}`;
}

/** The log line when a round's training tasks went out; with differential privacy on, who was drawn is for the admin token only (GET /v1/rounds). */
export function trainingLine(round: number, participants: readonly string[], privacyOn: boolean): string {
  if (privacyOn) return `round ${round}: training the clients drawn`;
  return `round ${round}: training with ${participants.length} client(s): ${participants.join(', ')}`;
}

/** The log line of a closed round, from its durable record (see dp-surfaces.ts); `version` is the current one. */
export function closedRoundLine(logged: RoundRecord, version: number, privacyOn: boolean): string {
  if (logged.status !== 'committed') return `round ${logged.round}: failed: ${logged.reason}`;
  const federated = logged.federatedEvaluation?.accuracy;
  const accuracy =
    (logged.evaluation ? `, held-out accuracy ${(logged.evaluation.accuracy * 100).toFixed(1)}%` : '') +
    (federated !== undefined ? `, federated accuracy ${(federated * 100).toFixed(1)}%` : '') +
    (logged.privacy
      ? `, epsilon ${logged.privacy.epsilon.toFixed(3)} of ${logged.privacy.targetEpsilon} (delta ${logged.privacy.delta})`
      : '');
  const from = privacyOn ? '' : ` from ${contributorCount(logged)} client(s), ${logged.numExamples} examples`;
  return `round ${logged.round}: committed version ${version}${from}${accuracy}`;
}
