import { describe, expect, it } from 'vitest';
import {
  aggregatingLine,
  closedRoundLine,
  roundRecord,
  trainingLine,
  type RoundFacts,
} from '../../../server/round/round-record.js';
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

describe('roundRecord, fields left out or copied', () => {
  it('leaves out a stage it was not given and the training metrics of a round with no aggregate', () => {
    const record = roundRecord(facts({ stage: undefined }), T0 + 1_000);
    expect(record.status).toBe('training');
    expect(record).not.toHaveProperty('stage');
    expect(record).not.toHaveProperty('trainLoss');
    expect(record).not.toHaveProperty('trainAccuracy');
    expect(record).not.toHaveProperty('privacy');
  });

  it('copies the refused participants with their reasons, so later changes do not leak in', () => {
    const refused = [{ clientId: 'b', reason: 'not-finite: NaN at index 3' }];
    const record = roundRecord(facts({ refused }), T0 + 1_000);
    refused[0].reason = 'changed';
    refused.push({ clientId: 'c', reason: 'too large' });
    expect(record.refused).toEqual([{ clientId: 'b', reason: 'not-finite: NaN at index 3' }]);
  });
});

function committedRecord(over: Partial<RoundFacts> = {}) {
  return roundRecord(
    facts({
      status: 'committed',
      version: 5,
      aggregate: {
        delta: new Float32Array(2),
        contributions: [
          { clientId: 'a', numExamples: 30 },
          { clientId: 'b', numExamples: 10 },
        ],
        numExamples: 40,
      },
      ...over,
    }),
    T0 + 500,
  );
}

describe('roundRecord of a cluster round', () => {
  it('keeps the per-node summaries, and the log line counts the contributors of every node', () => {
    const nodes = [
      { node: 'n1', contributors: 2, numExamples: 30, loss: 1, accuracy: 0.5, refused: 0, updateBytes: 64 },
      { node: 'n2', contributors: 3, numExamples: 10, loss: 3, accuracy: 0.9, refused: 1, updateBytes: 96 },
    ];
    const record = committedRecord({
      aggregate: { delta: new Float32Array(2), contributions: [], nodes, numExamples: 40, trainLoss: 1.5 },
    });
    expect(record).toMatchObject({ contributions: [], nodes, numExamples: 40, trainLoss: 1.5 });
    // Copied, so later changes do not leak in.
    nodes[0].contributors = 99;
    expect(record.nodes![0].contributors).toBe(2);
    expect(closedRoundLine(record, 5, false)).toBe('round 4: committed version 5 from 5 client(s), 40 examples');
    expect(committedRecord()).not.toHaveProperty('nodes');
  });
});

describe('closed round log line', () => {
  it('names the committed version, who contributed and how much, and nothing more when there is nothing more', () => {
    expect(closedRoundLine(committedRecord(), 5, false)).toBe(
      'round 4: committed version 5 from 2 client(s), 40 examples',
    );
  });

  it('adds the held-out and federated accuracy and the privacy spent, in that order', () => {
    const logged = committedRecord({
      evaluation: { loss: 0.4, accuracy: 0.8, numExamples: 100 },
      federatedEvaluation: {
        selected: ['a', 'b'],
        reported: ['a'],
        declined: [],
        missing: ['b'],
        accuracy: 0.75,
        numExamples: 20,
        durationMs: 300,
      },
      charge: {
        mode: 'central',
        epsilon: 0.5,
        delta: 1e-5,
        targetEpsilon: 8,
        order: 12,
        samplingRate: 0.5,
        expectedContributors: 2,
        contributors: 2,
        clipNorm: 1,
        releasedNoiseMultiplier: 1,
        clientNoiseMultiplier: null,
        coordinatorEpsilon: null,
      },
    });
    expect(closedRoundLine(logged, 5, false)).toBe(
      'round 4: committed version 5 from 2 client(s), 40 examples, held-out accuracy 80.0%, ' +
        'federated accuracy 75.0%, epsilon 0.500 of 8 (delta 0.00001)',
    );
    // With differential privacy on, how many contributed stays out of the log.
    expect(closedRoundLine(logged, 5, true)).toBe(
      'round 4: committed version 5, held-out accuracy 80.0%, federated accuracy 75.0%, epsilon 0.500 of 8 (delta 0.00001)',
    );
  });

  it('leaves out a federated evaluation no client reported to', () => {
    const logged = committedRecord({
      federatedEvaluation: {
        selected: ['a'],
        reported: [],
        declined: [],
        missing: ['a'],
        numExamples: 0,
        durationMs: 300,
      },
    });
    expect(closedRoundLine(logged, 5, false)).toBe('round 4: committed version 5 from 2 client(s), 40 examples');
  });

  it('gives a failed round its reason only', () => {
    const logged = roundRecord(facts({ status: 'failed', reason: 'only 1 of 3 participants contributed' }), T0 + 500);
    expect(closedRoundLine(logged, 3, false)).toBe('round 4: failed: only 1 of 3 participants contributed');
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
