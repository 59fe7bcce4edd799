import { describe, expect, it } from 'vitest';
import { FractionSampler } from '../../../shared/aggregation/fraction-sampler.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { Inbound } from '../../../server/round/aggregation-protocol.js';
import { PlaintextProtocol } from '../../../server/round/plaintext-protocol.js';
import { RoundMachine, type RoundPolicy } from '../../../server/round/round-machine.js';

const DIM = 4;
const policy: RoundPolicy = {
  minClients: 2,
  maxClients: 3,
  minResults: 2,
  selectionWindowMs: 1000,
  trainingTimeoutMs: 5000,
};

function machine(p: RoundPolicy = policy, round = 1) {
  const ctx = {
    round,
    version: 0,
    globalWeights: new Float32Array(DIM),
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' as const },
    timeoutMs: p.trainingTimeoutMs,
    aggregator: new WeightedMean(),
  };
  return new RoundMachine(
    round,
    p,
    new FractionSampler({ minClients: p.minClients, maxClients: p.maxClients }),
    () => new PlaintextProtocol(ctx),
    0,
  );
}

function update(clientId: string, round = 1, numExamples = 10, value = 1): Inbound {
  return {
    kind: 'update',
    clientId,
    meta: { round, numExamples, metrics: { loss: 1, accuracy: 0.5 }, trainMs: 5 },
    delta: new Float32Array(DIM).fill(value),
  };
}

describe('RoundMachine', () => {
  it('waits for minClients, waits out the selection window, then trains the selected clients', () => {
    const m = machine();
    expect(m.setAvailable(['a'], 0)).toEqual([]);
    expect(m.status).toBe('waiting');
    expect(m.setAvailable(['a', 'b'], 10)).toEqual([]);
    expect(m.status).toBe('selecting');
    expect(m.deadline).toBe(1010);
    expect(m.tick(500)).toEqual([]);
    const effects = m.tick(1010);
    expect(m.status).toBe('training');
    expect(m.participants).toEqual(['a', 'b']);
    expect(effects.map((e) => e.type === 'send' && e.message.to)).toEqual(['a', 'b']);
    expect(m.deadline).toBe(1010 + policy.trainingTimeoutMs);
  });

  it('selects at once when maxClients are connected, and goes back to waiting below minClients', () => {
    const m = machine();
    m.setAvailable(['a', 'b'], 0);
    m.setAvailable(['a'], 5);
    expect(m.status).toBe('waiting');
    m.setAvailable(['a', 'b', 'c', 'd'], 6);
    expect(m.status).toBe('training');
    expect(m.participants).toHaveLength(3);
  });

  it('aggregates as soon as every participant has sent its update, then commits', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    expect(m.receive(update('a'), 10).effects).toEqual([]);
    expect(m.receive(update('b'), 20).effects).toEqual([]);
    const last = m.receive(update('c', 1, 30), 30);
    expect(last.verdict).toEqual({ ok: true });
    expect(last.effects).toEqual([{ type: 'aggregate' }]);
    expect(m.status).toBe('aggregating');
    const agg = m.protocol!.aggregate();
    expect(agg.numExamples).toBe(50);
    expect(m.committed(40)).toEqual([{ type: 'closed', outcome: 'committed' }]);
    expect(m.closed).toBe(true);
  });

  it('refuses stale, unselected and duplicate updates with a reason, changing nothing', () => {
    const m = machine({ ...policy, maxClients: 2 }, 3);
    expect(m.receive(update('a', 3), 0).verdict).toMatchObject({ ok: false, code: 'stale-round' });
    m.setAvailable(['a', 'b'], 0);
    expect(m.receive(update('a', 2), 1).verdict).toMatchObject({ ok: false, code: 'stale-round' });
    expect(m.receive(update('z', 3), 1).verdict).toMatchObject({ ok: false, code: 'not-selected' });
    expect(m.receive(update('a', 3), 2).verdict).toEqual({ ok: true });
    expect(m.receive(update('a', 3), 3).verdict).toMatchObject({ ok: false, code: 'duplicate-update' });
    expect(m.protocol!.contributors()).toBe(1);
    expect(m.status).toBe('training');
  });

  it('does not wait for a participant that disconnects', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    m.receive(update('a'), 10);
    m.receive(update('b'), 11);
    expect(m.drop('c', 12)).toEqual([{ type: 'aggregate' }]);
    expect(m.droppedParticipants()).toEqual(['c']);
  });

  it('fails at the deadline with too few updates, naming the reason', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    m.receive(update('a'), 10);
    expect(m.tick(policy.trainingTimeoutMs - 1)).toEqual([]);
    expect(m.tick(policy.trainingTimeoutMs)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('only 1 of 3 participants contributed, 2 needed (2 missed the 5000 ms deadline)');
    expect(m.receive(update('b'), policy.trainingTimeoutMs + 1).verdict).toMatchObject({
      ok: false,
      code: 'stale-round',
    });
  });

  it('commits at the deadline with enough updates', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    m.receive(update('a'), 10);
    m.receive(update('b'), 10);
    expect(m.tick(policy.trainingTimeoutMs)).toEqual([{ type: 'aggregate' }]);
  });

  it('fails early when disconnects leave too few participants', () => {
    const m = machine();
    m.setAvailable(['a', 'b'], 0);
    m.tick(1000);
    m.receive(update('a'), 1001);
    expect(m.drop('b', 1002)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('only 1 of 2 participants contributed, 2 needed (1 disconnected)');
  });

  it('stops waiting for a participant whose update was unusable, and says so', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    m.receive(update('a'), 1);
    expect(m.refuse('b', 1, 'not-finite: NaN at index 3', 2)).toEqual([]);
    expect(m.refuse('z', 1, 'not a participant', 2)).toEqual([]);
    expect(m.refuse('a', 1, 'already contributed', 2)).toEqual([]);
    expect(m.drop('c', 3)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('only 1 of 3 participants contributed, 2 needed (1 disconnected, 1 sent unusable updates)');
    expect(m.refusedParticipants()).toEqual([{ clientId: 'b', reason: 'not-finite: NaN at index 3' }]);
  });

  it('does not count a participant that disconnects after contributing as dropped', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    m.receive(update('a'), 1);
    m.drop('a', 2);
    expect(m.droppedParticipants()).toEqual([]);
    m.receive(update('b'), 3);
    expect(m.drop('c', 4)).toEqual([{ type: 'aggregate' }]);
    expect(m.droppedParticipants()).toEqual(['c']);
  });

  it('records an aggregation failure and rejects out-of-order transitions', () => {
    const m = machine();
    expect(() => m.committed(0)).toThrow(/cannot commit round 1 in status waiting/);
    m.setAvailable(['a', 'b', 'c'], 0);
    for (const id of ['a', 'b', 'c']) m.receive(update(id), 1);
    expect(m.aggregationFailed('disk full', 2)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('disk full');
  });

  it('refuses a policy that could never commit', () => {
    expect(() => machine({ ...policy, minResults: 3 })).toThrow(/minResults must be between 1 and minClients/);
  });
});
