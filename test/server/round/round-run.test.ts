import { describe, expect, it } from 'vitest';
import { FractionSampler } from '../../../shared/aggregation/fraction-sampler.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { RoundPrivacyRecord } from '../../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../../shared/protocol/secagg-messages.js';
import type { LinkMessage } from '../../../server/client-link.js';
import type { Inbound, RoundContext } from '../../../server/round/aggregation-protocol.js';
import { PlaintextProtocol } from '../../../server/round/plaintext-protocol.js';
import { RoundMachine, type RoundPolicy } from '../../../server/round/round-machine.js';
import { RoundRun, type CommittedRound } from '../../../server/round/round-run.js';
import { RoundScheduler } from '../../../server/round/scheduler.js';
import { ManualClock } from './manual-clock.js';

const DIM = 2;
const policy: RoundPolicy = {
  minClients: 2,
  maxClients: 2,
  minResults: 2,
  selectionWindowMs: 100,
  trainingTimeoutMs: 1_000,
};

const context: RoundContext = {
  round: 6,
  version: 2,
  globalWeights: new Float32Array(DIM),
  trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
  timeoutMs: policy.trainingTimeoutMs,
  aggregator: new WeightedMean(),
};

/** Plaintext upload whose record details say when they were asked for (as secure aggregation's stage times do). */
class DetailedProtocol extends PlaintextProtocol {
  override details(now: number): { secureAggregation: SecureAggregationRecord } {
    return {
      secureAggregation: {
        k: 1,
        threshold: 1,
        clip: 1,
        maxWeight: 1,
        stage: 'unmask',
        stageMs: { unmask: now },
        survivors: [],
        dropouts: [],
      },
    };
  }
}

function run(protocol: () => PlaintextProtocol = () => new PlaintextProtocol(context)) {
  const machine = new RoundMachine(6, policy, new FractionSampler({ minClients: 2, maxClients: 2 }), protocol, 10);
  const scope = new RoundScheduler<LinkMessage>(new ManualClock(10), () => {}).open();
  return { machine, run: new RoundRun(machine, scope, 2, 10) };
}

function update(clientId: string): Inbound {
  return {
    kind: 'update',
    clientId,
    meta: { round: 6, numExamples: 5, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 1 },
    delta: new Float32Array(DIM).fill(1),
  };
}

const charge: RoundPrivacyRecord = {
  mode: 'central',
  epsilon: 0.5,
  delta: 1e-5,
  targetEpsilon: 8,
  order: 12,
  samplingRate: 1,
  expectedContributors: 2,
  contributors: 0,
  clipNorm: 1,
  releasedNoiseMultiplier: 1,
  clientNoiseMultiplier: null,
  coordinatorEpsilon: null,
};

describe('RoundRun', () => {
  it('gives a waiting round’s facts: no stage, no protocol details, nothing committed', () => {
    const { run: r } = run();
    expect(r.round).toBe(6);
    expect(r.facts(20, 'waiting', undefined)).toStrictEqual({
      round: 6,
      status: 'waiting',
      baseVersion: 2,
      participants: [],
      dropped: [],
      refused: [],
      details: {},
      updateBytes: 0,
      startedAt: 10,
      enteredAt: { waiting: 10 },
    });
  });

  it('gives a training round’s stage, participants, who dropped or was refused, the upload volume and the charge', () => {
    const { machine, run: r } = run();
    machine.setAvailable(['a', 'b'], 20);
    machine.refuse('a', 6, 'not-finite: NaN at index 0', 30);
    r.updateBytes = 64;
    expect(r.facts(40, 'training', charge)).toStrictEqual({
      round: 6,
      status: 'training',
      stage: 'upload',
      baseVersion: 2,
      participants: ['a', 'b'],
      dropped: [],
      refused: [{ clientId: 'a', reason: 'not-finite: NaN at index 0' }],
      charge,
      details: {},
      updateBytes: 64,
      startedAt: 10,
      enteredAt: { waiting: 10, selecting: 20, training: 20 },
    });
  });

  it('gives a failed round’s reason', () => {
    const { machine, run: r } = run();
    machine.setAvailable(['a', 'b'], 20);
    machine.tick(20 + policy.trainingTimeoutMs);
    expect(r.facts(1_100, 'failed', undefined)).toMatchObject({
      status: 'failed',
      reason: 'only 0 of 2 participants contributed, 2 needed (2 missed the 1000 ms deadline)',
    });
  });

  it('asks the protocol for its record details at the time of the facts', () => {
    const { machine, run: r } = run(() => new DetailedProtocol(context));
    machine.setAvailable(['a', 'b'], 20);
    expect(r.facts(75, 'training', undefined).details).toEqual({
      secureAggregation: expect.objectContaining({ stageMs: { unmask: 75 } }),
    });
  });

  it('records a committing round with the version, aggregate and evaluations it persisted', () => {
    const { machine, run: r } = run();
    machine.setAvailable(['a', 'b'], 20);
    machine.drop('b', 25);
    machine.receive(update('a'), 30);
    const aggregate = {
      delta: new Float32Array(DIM),
      contributions: [{ clientId: 'a', numExamples: 5 }],
      numExamples: 5,
    };
    const committed: CommittedRound = {
      aggregate,
      evaluation: { loss: 0.5, accuracy: 0.75, numExamples: 10 },
      federatedEvaluation: {
        selected: ['a'],
        reported: ['a'],
        declined: [],
        missing: [],
        accuracy: 0.5,
        numExamples: 4,
        durationMs: 7,
      },
      version: 3,
    };
    const facts = r.facts(50, 'committed', undefined, committed);
    expect(facts).toMatchObject({
      status: 'committed',
      version: 3,
      aggregate,
      evaluation: committed.evaluation,
      federatedEvaluation: committed.federatedEvaluation,
      dropped: ['b'],
    });
    expect(facts).not.toHaveProperty('charge');
    // Without evaluations, their keys stay out.
    const bare = r.facts(50, 'committed', undefined, {
      ...committed,
      evaluation: undefined,
      federatedEvaluation: undefined,
    });
    expect(bare).toMatchObject({ version: 3, aggregate });
    expect(bare).not.toHaveProperty('evaluation');
    expect(bare).not.toHaveProperty('federatedEvaluation');
  });
});
