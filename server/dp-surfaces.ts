import { redactClientIds } from '../shared/protocol/public-rounds.js';
import type { RoundRecord } from '../shared/protocol/rounds.js';

/**
 * What a round leaves on the coordinator's own surfaces (the round log rounds.jsonl, checkpoint
 * metadata) when differential privacy is on. Only what the accountant covers or the ledger needs
 * to resume: status, versions, timing of the round as a whole, the coordinator's evaluation of the
 * released model, and the privacy charge (whose turnout counts the journal holds anyway). Who
 * took part, per-client numbers, example-count and metric sums, secure-aggregation survivors and
 * federated-evaluation results live only in memory, behind the admin token, marked outside the
 * guarantee; after a restart they are gone.
 */
export function dpDurableRecord(record: RoundRecord): RoundRecord {
  const ids = [
    ...record.participants,
    ...record.dropped,
    ...(record.refused ?? []).map((r) => r.clientId),
    ...record.contributions.map((c) => c.clientId),
    ...(record.secureAggregation
      ? [...record.secureAggregation.survivors, ...record.secureAggregation.dropouts.map((d) => d.clientId)]
      : []),
  ];
  const sa = record.secureAggregation;
  return {
    round: record.round,
    status: record.status,
    ...(record.stage !== undefined ? { stage: record.stage } : {}),
    baseVersion: record.baseVersion,
    ...(record.version !== undefined ? { version: record.version } : {}),
    participants: [],
    dropped: [],
    refused: [],
    contributions: [],
    numExamples: 0,
    ...(record.evaluation ? { evaluation: record.evaluation } : {}),
    ...(record.privacy ? { privacy: record.privacy } : {}),
    ...(sa
      ? {
          secureAggregation: {
            k: sa.k,
            threshold: sa.threshold,
            clip: sa.clip,
            maxWeight: sa.maxWeight,
            stage: sa.stage,
            stageMs: {},
            survivors: [],
            dropouts: [],
          },
        }
      : {}),
    updateBytes: 0,
    ...(record.reason !== undefined ? { reason: redactClientIds(record.reason, ids) } : {}),
    startedAt: record.startedAt,
    phaseMs: {},
    durationMs: record.durationMs,
  };
}
