import { describe, expect, it, vi } from 'vitest';
import { FractionSampler } from '../../../shared/aggregation/fraction-sampler.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import type { Sampler } from '../../../shared/aggregation/types.js';
import {
  ProtocolBase,
  sendersOf,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type RoundAggregate,
  type Verdict,
} from '../../../server/round/aggregation-protocol.js';
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

function machine(p: RoundPolicy = policy, round = 1, sampler?: Sampler) {
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
    sampler ?? new FractionSampler({ minClients: p.minClients, maxClients: p.maxClients }),
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

function refusal(clientId: string, round: number): Inbound {
  return { kind: 'secagg', clientId, round, body: { type: 'secagg/refusal', round, reason: 'no' } };
}

function trainMessage(to: string): Outbound {
  return {
    event: 'train',
    to,
    body: {
      round: 1,
      version: 0,
      config: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
      timeoutMs: 1,
    },
    weights: new Float32Array(DIM),
  };
}

/**
 * A protocol the test steers: its deadline, verdict, effects, settling and failure. It knows
 * nothing of who was selected (accepting and dropping anyone), so it shows what the machine
 * itself keeps out.
 */
class ScriptedProtocol extends ProtocolBase {
  readonly name = 'scripted';
  readonly stage = 'script';
  override deadline: number | undefined = undefined;
  verdict: Verdict = { ok: true };
  effects: ProtocolEffect[] = [];
  done = false;
  why: string | undefined = undefined;
  readonly received: string[] = [];
  readonly asked: string[] = [];
  readonly advancedAt: number[] = [];
  private readonly contributed = new Set<string>();

  begin(participants: readonly string[]): Outbound[] {
    return participants.map(trainMessage);
  }
  receive(message: Inbound): Verdict {
    this.received.push(...sendersOf(message));
    if (this.verdict.ok) for (const id of sendersOf(message)) this.contributed.add(id);
    return this.verdict;
  }
  drop(clientId: string): boolean {
    this.asked.push(clientId);
    return !this.contributed.has(clientId);
  }
  override advance(now: number): ProtocolEffect[] {
    this.advancedAt.push(now);
    return this.effects;
  }
  contributors(): number {
    return this.contributed.size;
  }
  settled(): boolean {
    return this.done;
  }
  aggregate(): RoundAggregate {
    return { delta: new Float32Array(DIM), contributions: [], numExamples: 0 };
  }
  override failure(): string | undefined {
    return this.why;
  }
}

const TRAINING_ENDS = policy.trainingTimeoutMs;

/** A machine training 'a' and 'b' (selected at 0) under a scripted protocol; minResults 1. */
function scripted() {
  const protocol = new ScriptedProtocol();
  const p = { ...policy, maxClients: 2, minResults: 1 };
  const m = new RoundMachine(1, p, new FractionSampler({ minClients: 2, maxClients: 2 }), () => protocol, 0);
  expect(m.setAvailable(['a', 'b'], 0)).toEqual([
    { type: 'send', message: trainMessage('a') },
    { type: 'send', message: trainMessage('b') },
  ]);
  return { m, protocol };
}

describe('RoundMachine, policy and transitions', () => {
  it('accepts minResults from 1 to minClients and maxClients from minClients, refusing the rest with the numbers', () => {
    expect(() => machine({ ...policy, minResults: 1 })).not.toThrow();
    expect(() => machine({ ...policy, minResults: 2 })).not.toThrow();
    expect(() => machine({ ...policy, minResults: 0 })).toThrow(
      'minResults must be between 1 and minClients (2), got 0',
    );
    expect(() => machine({ ...policy, maxClients: 2 })).not.toThrow();
    // A sampler that takes anyone, so the machine's own check is what refuses.
    const anyone: Sampler = { name: 'anyone', select: (available) => [...available] };
    expect(() => machine({ ...policy, maxClients: 1 }, 1, anyone)).toThrow(
      'maxClients (1) must be at least minClients (2)',
    );
  });

  it('starts waiting, with nobody selected, nothing timed and nothing to do at any time', () => {
    const m = machine();
    expect(m.status).toBe('waiting');
    expect(m.participants).toEqual([]);
    expect(m.closed).toBe(false);
    expect(m.enteredAt).toEqual({ waiting: 0 });
    expect(m.deadline).toBeUndefined();
    expect(m.tick(1e9)).toEqual([]);
  });

  it('counts no client as connected before the first report', () => {
    const m = machine({ ...policy, minClients: 1, minResults: 1 });
    expect(m.drop('z', 0)).toEqual([]);
    expect(m.status).toBe('waiting');
  });

  it('keeps selecting while minClients stay connected, and goes back to waiting when a disconnect leaves fewer', () => {
    const m = machine({ ...policy, maxClients: 4 });
    m.setAvailable(['a', 'b', 'c'], 0);
    expect(m.status).toBe('selecting');
    expect(m.drop('c', 1)).toEqual([]);
    expect(m.status).toBe('selecting');
    expect(m.setAvailable(['a', 'b'], 2)).toEqual([]);
    expect(m.status).toBe('selecting');
    expect(m.drop('b', 3)).toEqual([]);
    expect(m.status).toBe('waiting');
    expect(m.deadline).toBeUndefined();
    expect(m.enteredAt).toEqual({ waiting: 3, selecting: 0 });
    // Back above minClients: the selection window starts again.
    m.setAvailable(['a', 'd'], 4);
    expect(m.deadline).toBe(4 + policy.selectionWindowMs);
    expect(m.tick(4 + policy.selectionWindowMs)).toHaveLength(2);
    expect(m.participants).toEqual(['a', 'd']);
  });

  it('has nothing due at any time while aggregating or committed (untimed statuses)', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    for (const id of ['a', 'b', 'c']) m.receive(update(id), 2);
    expect(m.status).toBe('aggregating');
    expect(m.deadline).toBeUndefined();
    expect(m.tick(1e9)).toEqual([]);
    m.committed(3);
    expect(m.deadline).toBeUndefined();
    expect(m.tick(2e9)).toEqual([]);
    expect(m.status).toBe('committed');
  });

  it('stops the selection window early once maxClients are connected', () => {
    const m = machine();
    m.setAvailable(['a', 'b'], 0);
    expect(m.status).toBe('selecting');
    expect(m.setAvailable(['a', 'b', 'c'], 10)).toHaveLength(3);
    expect(m.status).toBe('training');
    expect(m.enteredAt.training).toBe(10);
  });

  it('ignores who is connected once training started, in every later status', () => {
    const m = machine();
    m.setAvailable(['a', 'b', 'c'], 0);
    expect(m.setAvailable(['a', 'b', 'c', 'd'], 1)).toEqual([]);
    expect(m.status).toBe('training');
    for (const id of ['a', 'b', 'c']) m.receive(update(id), 2);
    expect(m.status).toBe('aggregating');
    expect(m.setAvailable([], 3)).toEqual([]);
    m.committed(4);
    expect(m.setAvailable(['a', 'b', 'c'], 5)).toEqual([]);
    expect(m.status).toBe('committed');

    const f = machine();
    f.setAvailable(['a', 'b', 'c'], 0);
    f.tick(TRAINING_ENDS);
    expect(f.status).toBe('failed');
    expect(f.closed).toBe(true);
    expect(f.enteredAt.failed).toBe(TRAINING_ENDS);
    expect(f.setAvailable(['a', 'b', 'c'], TRAINING_ENDS + 1)).toEqual([]);
    expect(f.tick(TRAINING_ENDS * 2)).toEqual([]);
  });

  it('refuses a message for another round or outside training, saying which and why, with no effects', () => {
    const m = machine(policy, 3);
    expect(m.receive(update('a', 2), 0)).toEqual({
      verdict: {
        ok: false,
        code: 'stale-round',
        message: 'update is for round 2, but round 3 is the current round (waiting)',
      },
      effects: [],
    });
    expect(m.receive(refusal('a', 2), 0).verdict).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'message is for round 2, but round 3 is the current round (waiting)',
    });
    expect(m.receive(update('a', 3), 0)).toEqual({
      verdict: { ok: false, code: 'stale-round', message: 'round 3 is waiting, not collecting updates' },
      effects: [],
    });
    expect(m.receive(refusal('a', 3), 0).verdict).toEqual({
      ok: false,
      code: 'stale-round',
      message: 'round 3 is waiting, not exchanging protocol messages',
    });
    m.setAvailable(['a', 'b', 'c'], 0);
    expect(m.receive(update('z', 3), 1)).toEqual({
      verdict: { ok: false, code: 'not-selected', message: 'z was not selected for round 3' },
      effects: [],
    });
  });

  it('fails the round, sending nothing, when the draw fails or selects nobody', () => {
    const broken: Sampler = {
      name: 'broken',
      select: () => {
        throw new Error('the privacy journal could not be written');
      },
    };
    const m = machine(policy, 1, broken);
    m.setAvailable(['a', 'b', 'c'], 7);
    expect(m.status).toBe('failed');
    expect(m.reason).toBe('could not draw the participants: the privacy journal could not be written');
    expect(m.participants).toEqual([]);

    const nobody = machine(policy, 1, { name: 'nobody', select: () => [] });
    expect(nobody.setAvailable(['a', 'b', 'c'], 7)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(nobody.reason).toBe('the sampler selected none of the 3 connected clients');
    expect(nobody.protocol).toBeUndefined();
  });

  it('fails the round when its protocol cannot be opened', () => {
    const m = new RoundMachine(
      1,
      policy,
      new FractionSampler({ minClients: 2, maxClients: 3 }),
      () => {
        throw new Error('no secure aggregation parameters for 3 clients');
      },
      0,
    );
    expect(m.setAvailable(['a', 'b', 'c'], 5)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('could not open the round: no secure aggregation parameters for 3 clients');
    expect(m.enteredAt).toEqual({ waiting: 0, selecting: 5, failed: 5 });
  });

  it('refuses to fail an aggregation the round is not running', () => {
    expect(() => machine().aggregationFailed('disk full', 0)).toThrow(
      'cannot fail aggregation of round 1 in status waiting',
    );
  });
});

describe('RoundMachine, what it keeps from its protocol', () => {
  it('never hands the protocol a message from a client it did not select', () => {
    const { m, protocol } = scripted();
    expect(m.receive(update('z'), 1).verdict).toMatchObject({ ok: false, code: 'not-selected' });
    expect(protocol.received).toEqual([]);
  });

  it('takes the sender of a too-large update out of the round, and only for that refusal', () => {
    const { m, protocol } = scripted();
    protocol.verdict = { ok: false, code: 'duplicate-update', message: 'a already sent its update' };
    expect(m.receive(update('a'), 1)).toEqual({ verdict: protocol.verdict, effects: [] });
    expect(m.refusedParticipants()).toEqual([]);
    expect(protocol.advancedAt).toEqual([]);

    protocol.verdict = { ok: false, code: 'norm-too-large', message: 'update has L2 norm 2000, above the limit 1000' };
    protocol.effects = [{ type: 'send', message: trainMessage('b') }];
    expect(m.receive(update('a'), 2)).toEqual({
      verdict: protocol.verdict,
      effects: [{ type: 'send', message: trainMessage('b') }],
    });
    expect(protocol.asked).toEqual(['a']);
    expect(protocol.advancedAt).toEqual([2]);
    expect(m.refusedParticipants()).toEqual([
      { clientId: 'a', reason: 'norm-too-large: update has L2 norm 2000, above the limit 1000' },
    ]);
  });

  it('passes on what the protocol does after an accepted message', () => {
    const { m, protocol } = scripted();
    protocol.effects = [{ type: 'send', message: trainMessage('b') }];
    expect(m.receive(update('a'), 1).effects).toEqual([{ type: 'send', message: trainMessage('b') }]);
    expect(protocol.advancedAt).toEqual([1]);
  });

  it("wakes at the protocol's own deadline while training, and only then moves the protocol on", () => {
    const { m, protocol } = scripted();
    protocol.deadline = 500;
    expect(m.deadline).toBe(500);
    expect(m.tick(499)).toEqual([]);
    expect(m.tick(500)).toEqual([]);
    expect(protocol.advancedAt).toEqual([500]);
    expect(m.status).toBe('training');
    protocol.deadline = TRAINING_ENDS + 1;
    expect(m.deadline).toBe(TRAINING_ENDS);
    protocol.deadline = undefined;
    expect(m.deadline).toBe(TRAINING_ENDS);
    // Once training is over the protocol's deadline no longer counts.
    m.receive(update('a'), 600);
    protocol.deadline = 700;
    protocol.done = true;
    expect(m.tick(700)).toEqual([{ type: 'aggregate' }]);
    expect(m.status).toBe('aggregating');
    expect(m.deadline).toBeUndefined();
  });

  it('fails with the protocol’s own reason when it cannot yield an aggregate', () => {
    const { m, protocol } = scripted();
    m.receive(update('a'), 1);
    protocol.why = 'secure aggregation aborted: b dealt bad shares';
    expect(m.tick(TRAINING_ENDS)).toEqual([{ type: 'closed', outcome: 'failed' }]);
    expect(m.reason).toBe('secure aggregation aborted: b dealt bad shares');
  });

  it('runs an awaited continuation while training, and ends training when the protocol settled', async () => {
    const { m, protocol } = scripted();
    m.receive(update('a'), 1);
    const next = vi.fn((_now: number): ProtocolEffect[] => [{ type: 'send', message: trainMessage('b') }]);
    protocol.effects = [{ type: 'await', work: Promise.resolve(next) }];
    const [effect] = m.receive(update('b'), 2).effects;
    expect(effect.type).toBe('await');
    const continuation = await (effect as Extract<typeof effect, { type: 'await' }>).work;
    expect(continuation(3)).toEqual([{ type: 'send', message: trainMessage('b') }]);
    expect(next).toHaveBeenCalledWith(3);
    protocol.done = true;
    expect(continuation(4)).toEqual([{ type: 'send', message: trainMessage('b') }, { type: 'aggregate' }]);
  });

  it('drops an awaited continuation once training ended', async () => {
    const { m, protocol } = scripted();
    const next = vi.fn((): ProtocolEffect[] => [{ type: 'send', message: trainMessage('b') }]);
    protocol.effects = [{ type: 'await', work: Promise.resolve(next) }];
    const [effect] = m.receive(update('a'), 1).effects;
    m.tick(TRAINING_ENDS);
    expect(m.status).toBe('aggregating');
    const continuation = await (effect as Extract<typeof effect, { type: 'await' }>).work;
    expect(continuation(TRAINING_ENDS + 1)).toEqual([]);
    expect(next).not.toHaveBeenCalled();
  });

  it('asks the protocol to stop waiting only for a participant, only while training', () => {
    const { m, protocol } = scripted();
    expect(m.drop('z', 1)).toEqual([]);
    expect(m.refuse('z', 1, 'unusable', 1)).toEqual([]);
    expect(m.refuse('b', 2, 'unusable', 1)).toEqual([]);
    expect(protocol.asked).toEqual([]);
    m.tick(TRAINING_ENDS);
    expect(m.status).toBe('failed');
    expect(m.drop('a', TRAINING_ENDS + 1)).toEqual([]);
    expect(m.refuse('b', 1, 'unusable', TRAINING_ENDS + 1)).toEqual([]);
    expect(protocol.asked).toEqual([]);
    expect(m.droppedParticipants()).toEqual([]);
    expect(m.refusedParticipants()).toEqual([]);
  });
});
