import { describe, expect, it } from 'vitest';
import type { Aggregator, ClientUpdate } from '../../../shared/aggregation/types.js';
import type { UpdateCodecSpec } from '../../../shared/compression/codec-spec.js';
import type { UpdateMeta } from '../../../shared/protocol/messages.js';
import { roundOf, type Inbound, type RoundContext } from '../../../server/round/aggregation-protocol.js';
import { PlaintextProtocol } from '../../../server/round/plaintext-protocol.js';
import type { PrivateRoundPlan } from '../../../server/privacy-runtime.js';

const DIM = 3;

/** Records what it is given; its result is the first update's delta. */
class Recorder implements Aggregator {
  readonly name = 'recorder';
  readonly linear = true;
  given: ClientUpdate[] = [];
  aggregate(updates: readonly ClientUpdate[]): Float32Array {
    this.given = [...updates];
    return updates[0].delta;
  }
}

function context(extra: Partial<RoundContext> = {}): RoundContext {
  return {
    round: 4,
    version: 3,
    globalWeights: new Float32Array(DIM),
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: 5000,
    aggregator: new Recorder(),
    ...extra,
  };
}

function meta(numExamples: number, extra: Partial<UpdateMeta> = {}): UpdateMeta {
  return { round: 4, numExamples, metrics: { loss: 0.5, accuracy: 0.25 }, trainMs: 12, ...extra };
}

function update(clientId: string, values: number[], numExamples = 10, extra: Partial<UpdateMeta> = {}): Inbound {
  return { kind: 'update', clientId, meta: meta(numExamples, extra), delta: Float32Array.from(values) };
}

describe('PlaintextProtocol', () => {
  it('sends every participant the weights and a task for this round, with the codec and privacy only when they apply', () => {
    const ctx = context();
    const sent = new PlaintextProtocol(ctx).begin(['a', 'b']);
    expect(sent).toEqual([
      {
        event: 'train',
        to: 'a',
        body: { round: 4, version: 3, config: ctx.trainConfig, timeoutMs: 5000 },
        weights: ctx.globalWeights,
      },
      {
        event: 'train',
        to: 'b',
        body: { round: 4, version: 3, config: ctx.trainConfig, timeoutMs: 5000 },
        weights: ctx.globalWeights,
      },
    ]);
    expect(sent[0].event === 'train' && sent[0].weights).toBe(ctx.globalWeights);

    const int8: UpdateCodecSpec = { codec: 'int8' };
    const instructions = {
      mode: 'central',
      clipNorm: 1,
      noiseMultiplier: 1,
      updateNoiseStd: 0,
      indicatorNoiseStd: null,
    } as const;
    const plan = { instructions } as unknown as PrivateRoundPlan;
    const withBoth = context({ privacy: { plan, unmasked: () => undefined } });
    const [task] = new PlaintextProtocol(withBoth, undefined, int8).begin(['a']);
    expect(task.body).toEqual({
      round: 4,
      version: 3,
      config: withBoth.trainConfig,
      timeoutMs: 5000,
      compression: { codec: 'int8' },
      privacy: instructions,
    });
  });

  it('names itself and its one stage, and keeps no clock, failure or details of its own', () => {
    const p = new PlaintextProtocol(context());
    expect(p.name).toBe('plaintext');
    expect(p.stage).toBe('upload');
    expect(p.deadline).toBeUndefined();
    expect(p.advance(123)).toEqual([]);
    expect(p.failure()).toBeUndefined();
    expect(p.details(123)).toEqual({});
  });

  it('refuses a secure-aggregation message, a second update, a stranger, another codec and another length', () => {
    const p = new PlaintextProtocol(context(), undefined, { codec: 'topk', fraction: 0.5 });
    p.begin(['a', 'b']);
    const secagg: Inbound = {
      kind: 'secagg',
      clientId: 'a',
      round: 4,
      body: { type: 'secagg/refusal', round: 4, reason: 'no' },
    };
    expect(p.receive(secagg)).toEqual({
      ok: false,
      code: 'invalid-message',
      message: "round 4 runs the plaintext protocol, which does not take a 'secagg/refusal' message",
    });
    expect(p.receive(update('x', [0, 0, 0], 1, { codec: { codec: 'topk', fraction: 0.5 } }))).toEqual({
      ok: false,
      code: 'not-selected',
      message: 'x is not a participant of round 4',
    });
    expect(p.receive(update('a', [0, 0, 0]))).toEqual({
      ok: false,
      code: 'wrong-codec',
      message: 'update is encoded as float32, round 4 announced topk 50%',
    });
    expect(p.receive(update('a', [0, 0, 0], 1, { codec: { codec: 'topk', fraction: 0.25 } }))).toEqual({
      ok: false,
      code: 'wrong-codec',
      message: 'update is encoded as topk 25%, round 4 announced topk 50%',
    });
    expect(p.receive(update('a', [0, 0], 1, { codec: { codec: 'topk', fraction: 0.5 } }))).toEqual({
      ok: false,
      code: 'wrong-length',
      message: 'update has 2 values, the model has 3',
    });
    // None of those changed anything: 'a' is still owed, and nothing is in.
    expect(p.contributors()).toBe(0);
    expect(p.settled()).toBe(false);
    expect(p.receive(update('a', [1, 2, 3], 1, { codec: { codec: 'topk', fraction: 0.5 } }))).toEqual({ ok: true });
    expect(p.receive(update('a', [1, 2, 3], 1, { codec: { codec: 'topk', fraction: 0.5 } }))).toEqual({
      ok: false,
      code: 'duplicate-update',
      message: 'an update from a for round 4 was already accepted',
    });
    expect(p.contributors()).toBe(1);
  });

  it('takes an update without a codec as float32', () => {
    const p = new PlaintextProtocol(context());
    p.begin(['a']);
    expect(p.receive(update('a', [1, 0, 0]))).toEqual({ ok: true });
    const q = new PlaintextProtocol(context());
    q.begin(['a']);
    expect(q.receive(update('a', [1, 0, 0], 1, { codec: { codec: 'float32' } }))).toEqual({ ok: true });
  });

  it('refuses an update over the norm limit, and one far above the median once three are in', () => {
    const p = new PlaintextProtocol(context(), { max: 10, maxToMedian: 2 });
    p.begin(['a', 'b', 'c', 'd', 'e']);
    expect(p.receive(update('a', [6, 8, 0.1]))).toMatchObject({
      ok: false,
      code: 'norm-too-large',
      message: 'update has L2 norm 10.00, above the limit 10 (rounds.maxUpdateNorm)',
    });
    for (const id of ['a', 'b', 'c']) expect(p.receive(update(id, [1, 0, 0]))).toEqual({ ok: true });
    // The accepted norms are 1, 1, 1: a norm of 2 is at the limit, 3 is over it.
    expect(p.receive(update('d', [3, 0, 0]))).toMatchObject({ ok: false, code: 'norm-too-large' });
    expect(p.receive(update('d', [2, 0, 0]))).toEqual({ ok: true });
  });

  it('stops waiting for a participant that drops, once; settles when none is owed', () => {
    const p = new PlaintextProtocol(context());
    p.begin(['a', 'b']);
    expect(p.drop('x')).toBe(false);
    expect(p.receive(update('a', [1, 0, 0]))).toEqual({ ok: true });
    expect(p.drop('a')).toBe(false);
    expect(p.settled()).toBe(false);
    expect(p.drop('b')).toBe(true);
    expect(p.drop('b')).toBe(false);
    expect(p.settled()).toBe(true);
    // A dropped participant's late update is refused.
    expect(p.receive(update('b', [1, 0, 0]))).toMatchObject({ ok: false, code: 'not-selected' });
  });

  it('aggregates in client-id order whatever the arrival order, with each contribution and the example total', () => {
    const ctx = context();
    const p = new PlaintextProtocol(ctx);
    p.begin(['b', 'c', 'a']);
    p.receive(update('c', [3, 0, 0], 30));
    p.receive(update('a', [1, 0, 0], 10, { metrics: { loss: 2, accuracy: 0.75 }, trainMs: 7 }));
    p.receive(update('b', [2, 0, 0], 20));
    expect(p.contributors()).toBe(3);
    expect(p.settled()).toBe(true);
    const result = p.aggregate();
    const recorder = ctx.aggregator as Recorder;
    expect(recorder.given.map((u) => [u.clientId, u.numExamples, u.delta[0]])).toEqual([
      ['a', 10, 1],
      ['b', 20, 2],
      ['c', 30, 3],
    ]);
    expect(result.delta).toBe(recorder.given[0].delta);
    expect(result.numExamples).toBe(60);
    expect(result.contributions).toEqual([
      { clientId: 'a', numExamples: 10, loss: 2, accuracy: 0.75, trainMs: 7 },
      { clientId: 'b', numExamples: 20, loss: 0.5, accuracy: 0.25, trainMs: 12 },
      { clientId: 'c', numExamples: 30, loss: 0.5, accuracy: 0.25, trainMs: 12 },
    ]);
  });
});

describe('roundOf', () => {
  it('reads the round of an update from its meta, of a secure-aggregation message from the message', () => {
    expect(roundOf({ kind: 'update', clientId: 'a', meta: { ...meta(1), round: 9 }, delta: new Float32Array(1) })).toBe(
      9,
    );
    expect(
      roundOf({ kind: 'secagg', clientId: 'a', round: 5, body: { type: 'secagg/refusal', round: 5, reason: 'x' } }),
    ).toBe(5);
  });
});
