import { describe, expect, it } from 'vitest';
import { aggregatingLine, roundRecord, trainingLine, type RoundFacts } from '../../../server/round/round-record.js';
import type { RoundPrivacyRecord } from '../../../shared/protocol/rounds.js';

const T0 = Date.UTC(2026, 0, 1);

function facts(over: Partial<RoundFacts> = {}): RoundFacts {
  return {
    round: 4,
    status: 'training',
    stage: 'upload',
    baseVersion: 3,
    participants: ['a', 'b', 'c'],
    dropped: ['c'],
    refused: [],
    details: {},
    updateBytes: 120,
    startedAt: T0,
    enteredAt: { waiting: T0, selecting: T0 + 100, training: T0 + 300 },
    ...over,
  };
}

describe('roundRecord', () => {
  it('records a running round: its stage, the time in each phase so far, nothing aggregated', () => {
    const record = roundRecord(facts(), T0 + 1_000);
    expect(record).toEqual({
      round: 4,
      status: 'training',
      stage: 'upload',
      baseVersion: 3,
      participants: ['a', 'b', 'c'],
      dropped: ['c'],
      refused: [],
      contributions: [],
      numExamples: 0,
      updateBytes: 120,
      startedAt: new Date(T0).toISOString(),
      phaseMs: { waiting: 100, selecting: 200, training: 700 },
      durationMs: 900,
    });
  });

  it('records a committed round with its version, the example-weighted training metrics and its evaluations', () => {
    const record = roundRecord(
      facts({
        status: 'committed',
        version: 5,
        enteredAt: { waiting: T0, selecting: T0, training: T0 + 100, aggregating: T0 + 400, committed: T0 + 500 },
        aggregate: {
          delta: new Float32Array(2),
          contributions: [
            { clientId: 'a', numExamples: 30, loss: 1, accuracy: 0.5 },
            { clientId: 'b', numExamples: 10, loss: 3, accuracy: 0.9 },
          ],
          numExamples: 40,
        },
        evaluation: { loss: 0.4, accuracy: 0.8, numExamples: 100 },
        reason: 'not shown: the round did not fail',
      }),
      T0 + 500,
    );
    expect(record).toMatchObject({ status: 'committed', version: 5, numExamples: 40 });
    expect(record.trainLoss).toBeCloseTo(1.5, 12);
    expect(record.trainAccuracy).toBeCloseTo(0.6, 12);
    expect(record.evaluation).toEqual({ loss: 0.4, accuracy: 0.8, numExamples: 100 });
    expect(record.phaseMs).toEqual({ waiting: 0, selecting: 100, training: 300, aggregating: 100 });
    expect(record).not.toHaveProperty('stage');
    expect(record).not.toHaveProperty('reason');
  });

  it('keeps the aggregate’s own training metrics (secure aggregation) over weighting the contributions', () => {
    const record = roundRecord(
      facts({
        status: 'committed',
        aggregate: {
          delta: new Float32Array(2),
          contributions: [{ clientId: 'a' }, { clientId: 'b' }],
          numExamples: 20,
          trainLoss: 0.25,
          trainAccuracy: 0.75,
        },
      }),
      T0 + 500,
    );
    expect(record).toMatchObject({ trainLoss: 0.25, trainAccuracy: 0.75 });
  });

  it('records a failed round with its reason and the privacy charge made at its draw', () => {
    const charge: RoundPrivacyRecord = {
      mode: 'central',
      epsilon: 0.5,
      delta: 1e-5,
      targetEpsilon: 8,
      order: 12,
      samplingRate: 0.5,
      expectedContributors: 2,
      contributors: 0,
      clipNorm: 1,
      releasedNoiseMultiplier: 1,
      clientNoiseMultiplier: null,
      coordinatorEpsilon: null,
    };
    const record = roundRecord(
      facts({
        status: 'failed',
        reason: 'only 1 of 3 participants contributed',
        charge,
        enteredAt: { waiting: T0, selecting: T0, training: T0 + 100, failed: T0 + 5_100 },
      }),
      T0 + 6_000,
    );
    expect(record).toMatchObject({ status: 'failed', reason: 'only 1 of 3 participants contributed', privacy: charge });
    expect(record).not.toHaveProperty('version');
    expect(record.phaseMs).toEqual({ waiting: 0, selecting: 100, training: 5_000 });
  });

  it('a waiting round has taken no time yet and copies its lists, so later changes do not leak in', () => {
    const participants = ['a'];
    const f = facts({ status: 'waiting', participants, enteredAt: { waiting: T0 } });
    const record = roundRecord(f, T0 + 50);
    participants.push('b');
    expect(record.participants).toEqual(['a']);
    expect(record.durationMs).toBe(0);
    expect(record.phaseMs).toEqual({ waiting: 50 });
    expect(record).not.toHaveProperty('stage');
  });
});

describe('round log lines', () => {
  it('name who trains and how many updates are aggregated, unless differential privacy is on', () => {
    expect(trainingLine(5, ['a', 'b'], false)).toBe('round 5: training with 2 client(s): a, b');
    expect(trainingLine(5, ['a', 'b'], true)).toBe('round 5: training the clients drawn');
    expect(aggregatingLine(5, 2, false)).toBe('round 5: aggregating 2 update(s)');
    expect(aggregatingLine(5, 2, true)).toBe('round 5: aggregating');
  });
});
