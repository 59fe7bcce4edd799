import { describe, expect, it } from 'vitest';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import { parsePrivacyConfig } from '../../../shared/privacy/config.js';
import { GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';
import { computeRdp, rdpToEpsilon } from '../../../shared/privacy/rdp.js';
import type { UpdateMeta } from '../../../shared/protocol/messages.js';
import type { RoundPrivacyRecord } from '../../../shared/protocol/rounds.js';
import type { SecureAggregationRecord } from '../../../shared/protocol/secagg-messages.js';
import { PrivacyRuntime, type PrivateRoundPlan, type PrivateRoundSums } from '../../../server/privacy-runtime.js';
import {
  ProtocolBase,
  sendersOf,
  type AggregationProtocol,
  type Inbound,
  type Outbound,
  type ProtocolEffect,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from '../../../server/round/aggregation-protocol.js';
import { PlaintextProtocol } from '../../../server/round/plaintext-protocol.js';
import { PrivateProtocol, SumAggregator, withPrivacy } from '../../../server/round/private-protocol.js';

const DIM = 4;

function ctx(round: number, population: number): RoundContext {
  return {
    round,
    version: round - 1,
    globalWeights: new Float32Array(DIM),
    trainConfig: { epochs: 1, batchSize: 8, learningRate: 0.1, optimizer: 'sgd' },
    timeoutMs: 1000,
    aggregator: new WeightedMean(),
    population,
  };
}

function meta(round: number, numExamples: number, clipIndicator?: number): UpdateMeta {
  return {
    round,
    numExamples,
    metrics: { loss: 1, accuracy: 0.5 },
    trainMs: 1,
    ...(clipIndicator !== undefined ? { clipIndicator } : {}),
  };
}

function runtime(privacy: Record<string, unknown>): PrivacyRuntime {
  return new PrivacyRuntime(parsePrivacyConfig({ delta: 1e-5, ...privacy }), {
    samplingRate: 1,
    individualUpdatesVisible: true,
    noise: new GaussianSampler(seededRandomWords(7)),
  });
}

/** A protocol that, like secure aggregation, takes no plaintext update and yields only a sum (of 2 clients' [1, 1, 1, 1]). */
class UnseenSum extends ProtocolBase {
  readonly name = 'unseen-sum';
  readonly stage = 'sum';
  constructor(readonly ctx: RoundContext) {
    super();
  }
  begin(participants: readonly string[]): Outbound[] {
    const body = { round: this.ctx.round, version: 0, config: this.ctx.trainConfig, timeoutMs: 1 };
    return participants.map((to) => ({
      event: 'train' as const,
      to,
      body: { ...body, privacy: this.ctx.privacy!.plan.instructions },
      weights: this.ctx.globalWeights,
    }));
  }
  receive(message: Inbound): Verdict {
    return message.kind === 'update'
      ? { ok: false, code: 'invalid-message', message: 'updates go out masked' }
      : { ok: true };
  }
  drop(): boolean {
    return false;
  }
  contributors(): number {
    return 2;
  }
  settled(): boolean {
    return true;
  }
  aggregate(): RoundAggregate {
    this.ctx.privacy!.unmasked(2);
    return {
      delta: Float32Array.from([2, 2, 2, 2]),
      contributions: [{ clientId: 'a' }, { clientId: 'b' }],
      numExamples: 0,
      indicatorSum: 1,
    };
  }
}

describe('PrivateProtocol', () => {
  it('around a protocol that sums unseen: plans the round once for it, passes its messages through, charges the unmasked sum', () => {
    const rt = runtime({ mode: 'central', noiseMultiplier: 1e-9, clipNorm: 1, targetEpsilon: 1e30 });
    const opened: RoundContext[] = [];
    const factory = withPrivacy(
      (c) => {
        opened.push(c);
        return new UnseenSum(c);
      },
      rt,
      { updatesInTheClear: false },
    );
    const protocol = factory(ctx(1, 2));
    expect(opened).toHaveLength(1);
    expect(opened[0].aggregator.name).toBe('sum');
    expect(opened[0].privacy!.plan).toMatchObject({ round: 1, expectedContributors: 2 });
    const [task] = protocol.begin(['a', 'b'], 0);
    expect(task.event === 'train' && task.body.privacy).toEqual(opened[0].privacy!.plan.instructions);
    // A plaintext update is the inner protocol's to refuse: neither clipped nor charged here.
    const update = { kind: 'update' as const, clientId: 'a', meta: meta(1, 1), delta: new Float32Array(DIM) };
    expect(protocol.receive(update)).toMatchObject({ ok: false, message: 'updates go out masked' });
    const result = protocol.aggregate();
    // The sum over the 2 expected contributors; no clipping count, since the coordinator never saw an update.
    result.delta.forEach((v) => expect(v).toBeCloseTo(1, 6));
    expect(result.privacy).toMatchObject({ contributors: 2 });
    expect(result.privacy).not.toHaveProperty('clippedUpdates');
    expect(result).not.toHaveProperty('indicatorSum');
    expect(rt.charge(1)).toMatchObject({ contributors: 2 });
  });

  it('central mode over plaintext: clips on arrival, sums unweighted, divides by the expected count', () => {
    // Noise negligible (z = 1e-9), so the clipping arithmetic shows; the budget is set to allow it.
    const rt = runtime({ mode: 'central', noiseMultiplier: 1e-9, clipNorm: 1, targetEpsilon: 1e30 });
    const protocol = withPrivacy((c) => new PlaintextProtocol(c), rt, { updatesInTheClear: true })(ctx(1, 2));
    const sent = protocol.begin(['a', 'b'], 0);
    expect(sent.map((m) => (m.event === 'train' ? m.body.privacy : undefined))).toEqual([
      { mode: 'central', clipNorm: 1, noiseMultiplier: 1e-9, updateNoiseStd: 0, indicatorNoiseStd: null },
      { mode: 'central', clipNorm: 1, noiseMultiplier: 1e-9, updateNoiseStd: 0, indicatorNoiseStd: null },
    ]);
    // 'a' ignores its instructions and sends a huge update; 'b' many examples but a small one.
    expect(
      protocol.receive({ kind: 'update', clientId: 'a', meta: meta(1, 1), delta: Float32Array.from([300, 400, 0, 0]) }),
    ).toEqual({ ok: true });
    expect(
      protocol.receive({
        kind: 'update',
        clientId: 'b',
        meta: meta(1, 1000),
        delta: Float32Array.from([0, 0, 0.5, 0]),
      }),
    ).toEqual({ ok: true });
    const result = protocol.aggregate();
    // (clip(a) + b) / n with n = 2 expected contributors, example counts ignored.
    const expected = [0.6 / 2, 0.8 / 2, 0.5 / 2, 0];
    result.delta.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    expect(result.privacy).toMatchObject({
      mode: 'central',
      contributors: 2,
      expectedContributors: 2,
      clipNorm: 1,
      clippedUpdates: 1,
      coordinatorEpsilon: null,
    });
    expect(rt.status().rounds).toBe(1);
  });

  it('distributed mode: clients get their noise share; adaptive clipping needs each clip indicator', () => {
    const rt = runtime({
      mode: 'distributed',
      noiseMultiplier: 1,
      adaptive: { initialClipNorm: 0.5, bitNoiseStd: 5 },
      targetEpsilon: 100,
    });
    const protocol = withPrivacy((c) => new PlaintextProtocol(c), rt, { updatesInTheClear: true })(ctx(1, 4));
    const [first] = protocol.begin(['a', 'b', 'c', 'd'], 0);
    if (first.event !== 'train') throw new Error(`expected a train message, got ${first.event}`);
    const instructions = first.body.privacy!;
    expect(instructions.mode).toBe('distributed');
    expect(instructions.indicatorNoiseStd).toBeCloseTo(5 / Math.sqrt(4), 12);
    // z' = (z^-2 - (2 sigma_b)^-2)^-1/2, shared among n = 4 clients.
    expect(instructions.updateNoiseStd).toBeCloseTo((0.5 * (1 - 1 / 100) ** -0.5) / 2, 12);
    const refused = protocol.receive({ kind: 'update', clientId: 'a', meta: meta(1, 5), delta: new Float32Array(DIM) });
    expect(refused).toMatchObject({
      ok: false,
      code: 'invalid-message',
      message: expect.stringMatching(/clipIndicator/),
    });
    for (const id of ['a', 'b', 'c']) {
      expect(
        protocol.receive({ kind: 'update', clientId: id, meta: meta(1, 5, 0.5), delta: new Float32Array(DIM) }),
      ).toEqual({ ok: true });
    }
    const { privacy } = protocol.aggregate();
    // One of four expected contributors missing: the clients' own noise is short, and the record says so.
    expect(privacy).toMatchObject({ mode: 'distributed', contributors: 3, expectedContributors: 4 });
    expect(privacy!.clientNoiseMultiplier).toBeCloseTo(Math.sqrt(3 / 4), 12);
    expect(privacy!.releasedNoiseMultiplier).toBeCloseTo(1, 12);
    // Without secure aggregation each update alone has multiplier z / sqrt(n) = 0.5 against the coordinator,
    // unsampled: one round of the Gaussian mechanism at that multiplier, nothing less.
    const orders = rt.config.orders;
    const perUpdate = rdpToEpsilon(computeRdp(1, 1 / Math.sqrt(4), 1, orders), orders, 1e-5).epsilon;
    expect(privacy!.coordinatorEpsilon).toBeCloseTo(perUpdate, 9);
    expect(privacy!.coordinatorEpsilon).toBeGreaterThan(privacy!.epsilon);
    expect(rt.checkpoint().individualRdp.some((r) => r > 0)).toBe(true);
  });

  it('resumes the account from a checkpoint and refuses one that does not fit', () => {
    const rt = runtime({ mode: 'central', noiseMultiplier: 1, clipNorm: 1, targetEpsilon: 10 });
    const protocol = withPrivacy((c) => new PlaintextProtocol(c), rt, { updatesInTheClear: true })(ctx(1, 2));
    protocol.begin(['a'], 0);
    protocol.receive({ kind: 'update', clientId: 'a', meta: meta(1, 1), delta: new Float32Array(DIM) });
    protocol.aggregate();
    const resumed = runtime({ mode: 'central', noiseMultiplier: 1, clipNorm: 1, targetEpsilon: 10 });
    resumed.restore(JSON.parse(JSON.stringify(rt.checkpoint())));
    expect(resumed.status()).toEqual(rt.status());
    expect(() => resumed.restore({ controller: {}, individualRdp: [1] })).toThrow(
      /1 RDP values, the config has \d+ orders/,
    );
    expect(() => resumed.restore({ nonsense: true })).toThrow(/checkpoint privacy state is malformed/);
    const distributed = runtime({ mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, targetEpsilon: 10 });
    expect(() => distributed.restore(rt.checkpoint())).toThrow(
      /privacy ledger cannot be resumed: privacy mode changed since the checkpoint \(central -> distributed\)/,
    );
  });
});

type Instructions = PrivateRoundPlan['instructions'];

/** Stands in for PrivacyRuntime: hands out a fixed plan and records what the decorator asks of it. */
class FakeRuntime {
  readonly planned: [number, number][] = [];
  readonly receivedRounds: number[] = [];
  readonly unmaskedCounts: number[] = [];
  readonly finished: PrivateRoundSums[] = [];
  refuseWith: string | undefined;
  constructor(private readonly instructions: Instructions) {}
  plan(round: number, population: number): PrivateRoundPlan {
    this.planned.push([round, population]);
    return { round, samplingRate: 1, expectedContributors: 2, instructions: this.instructions };
  }
  received(plan: PrivateRoundPlan): void {
    if (this.refuseWith !== undefined) throw new Error(this.refuseWith);
    this.receivedRounds.push(plan.round);
  }
  unmasked(_plan: PrivateRoundPlan, contributors: number): RoundPrivacyRecord {
    this.unmaskedCounts.push(contributors);
    return {} as RoundPrivacyRecord;
  }
  finish(_plan: PrivateRoundPlan, sums: PrivateRoundSums): { meanUpdate: Float32Array; record: RoundPrivacyRecord } {
    this.finished.push(sums);
    return { meanUpdate: sums.updateSum.map((v) => v / 2), record: { mode: 'fake' } as unknown as RoundPrivacyRecord };
  }
  as(): PrivacyRuntime {
    return this as unknown as PrivacyRuntime;
  }
}

function instructions(mode: 'central' | 'distributed', adaptive: boolean): Instructions {
  return { mode, clipNorm: 1, noiseMultiplier: 1, updateNoiseStd: 0, indicatorNoiseStd: adaptive ? 1 : null };
}

/** An inner protocol that keeps what it is handed: its answers are distinctive, so a pass-through shows. */
class Inner implements AggregationProtocol {
  readonly name = 'inner';
  readonly stage = 'inner-stage';
  readonly deadline = 42;
  readonly received: Inbound[] = [];
  readonly begun: [readonly string[], number][] = [];
  readonly dropped: string[] = [];
  readonly advanced: number[] = [];
  detailsAt: number | undefined;
  refuse = new Set<string>();
  summedUnseen: number | undefined;
  begin(participants: readonly string[], now: number): Outbound[] {
    this.begun.push([participants, now]);
    return [
      {
        event: 'train',
        to: 'a',
        body: { round: 1, version: 0, config: ctx(1, 2).trainConfig, timeoutMs: 1 },
        weights: new Float32Array(DIM),
      },
    ];
  }
  receive(message: Inbound): Verdict {
    if (sendersOf(message).some((id) => this.refuse.has(id)))
      return { ok: false, code: 'not-selected', message: 'refused inside' };
    this.received.push(message);
    return { ok: true };
  }
  drop(clientId: string): boolean {
    this.dropped.push(clientId);
    return clientId === 'owed';
  }
  advance(now: number): ProtocolEffect[] {
    this.advanced.push(now);
    return [{ type: 'await', work: Promise.resolve(() => []) }];
  }
  contributors(): number {
    return 5;
  }
  settled(): boolean {
    return true;
  }
  aggregate(): RoundAggregate {
    const updates = this.received.filter((m) => m.kind === 'update');
    const delta = new Float32Array(DIM);
    for (const u of updates) if (u.kind === 'update') u.delta.forEach((v, i) => (delta[i] += v));
    return {
      delta,
      contributions: updates.map((u) => ({ clientId: u.clientId })),
      numExamples: 7,
      ...(this.summedUnseen !== undefined ? { indicatorSum: this.summedUnseen } : {}),
    };
  }
  failure(): string | undefined {
    return 'inner failure';
  }
  details(now: number): { secureAggregation?: SecureAggregationRecord } {
    this.detailsAt = now;
    return { secureAggregation: { k: 3 } as SecureAggregationRecord };
  }
}

function plaintextUpdate(clientId: string, values: number[], clipIndicator?: number): Inbound {
  return { kind: 'update', clientId, meta: meta(1, 1, clipIndicator), delta: Float32Array.from(values) };
}

function decorated(mode: 'central' | 'distributed', adaptive: boolean, updatesInTheClear = true) {
  const rt = new FakeRuntime(instructions(mode, adaptive));
  const inner = new Inner();
  const protocol = new PrivateProtocol(inner, rt.plan(1, 2), rt.as(), { updatesInTheClear });
  return { rt, inner, protocol };
}

describe('PrivateProtocol around an inner protocol', () => {
  it('passes the lifecycle through to the inner protocol and names the mode', () => {
    const { inner, protocol } = decorated('distributed', false);
    expect(protocol.name).toBe('inner+dp-distributed');
    expect(decorated('central', false).protocol.name).toBe('inner+dp-central');
    expect(protocol.stage).toBe('inner-stage');
    expect(protocol.deadline).toBe(42);
    expect(protocol.begin(['a', 'b'], 9)).toHaveLength(1);
    expect(inner.begun).toEqual([[['a', 'b'], 9]]);
    expect(protocol.drop('owed')).toBe(true);
    expect(protocol.drop('other')).toBe(false);
    expect(inner.dropped).toEqual(['owed', 'other']);
    expect(protocol.advance(11)).toMatchObject([{ type: 'await' }]);
    expect(inner.advanced).toEqual([11]);
    expect(protocol.failure()).toBe('inner failure');
    expect(protocol.details(13)).toEqual({ secureAggregation: { k: 3 } });
    expect(inner.detailsAt).toBe(13);
    expect(protocol.contributors()).toBe(5);
    expect(protocol.settled()).toBe(true);
  });

  it('passes a secure-aggregation message through untouched and uncharged, even with updates in the clear', () => {
    const { rt, inner, protocol } = decorated('central', true);
    const secagg: Inbound = {
      kind: 'secagg',
      clientId: 'a',
      round: 1,
      body: { type: 'secagg/refusal', round: 1, reason: 'no' },
    };
    expect(protocol.receive(secagg)).toEqual({ ok: true });
    expect(inner.received).toEqual([secagg]);
    expect(rt.receivedRounds).toEqual([]);
  });

  it('passes updates through uncharged and unclipped when they are not in the clear (secure aggregation)', () => {
    const { rt, inner, protocol } = decorated('central', true, false);
    const big = plaintextUpdate('a', [3, 4, 0, 0]);
    expect(protocol.receive(big)).toEqual({ ok: true });
    expect(inner.received[0]).toBe(big);
    expect(rt.receivedRounds).toEqual([]);
    inner.summedUnseen = 1.5;
    protocol.aggregate();
    expect(rt.finished[0]).toEqual({ contributors: 1, updateSum: Float32Array.from([3, 4, 0, 0]), indicatorSum: 1.5 });
  });

  it('central mode with adaptive clipping: the coordinator decides the clip indicator of an update over the norm', () => {
    const { rt, inner, protocol } = decorated('central', true);
    // Within the norm: the client's claim counts, as its sign; without a claim, unclipped.
    expect(protocol.receive(plaintextUpdate('a', [0.6, 0, 0, 0], -0.3))).toEqual({ ok: true });
    expect(protocol.receive(plaintextUpdate('b', [0.6, 0, 0, 0], 0.3))).toEqual({ ok: true });
    expect(protocol.receive(plaintextUpdate('c', [0.6, 0, 0, 0]))).toEqual({ ok: true });
    // Over the norm: clipped here, and counted as clipped whatever it claims.
    expect(protocol.receive(plaintextUpdate('d', [3, 4, 0, 0], 0.5))).toEqual({ ok: true });
    expect(inner.received.map((m) => (m.kind === 'update' ? [...m.delta] : []))[3].map((v) => +v.toFixed(6))).toEqual([
      0.6, 0.8, 0, 0,
    ]);
    expect(rt.receivedRounds).toEqual([1, 1, 1, 1]);
    const result = protocol.aggregate();
    // -0.5 + 0.5 + 0.5 - 0.5
    expect(rt.finished[0]).toMatchObject({ contributors: 4, indicatorSum: 0, clippedUpdates: 1 });
    expect(result).toMatchObject({ numExamples: 7, privacy: { mode: 'fake' } });
    expect(result).not.toHaveProperty('indicatorSum');
    expect([...result.delta].map((v) => +v.toFixed(6))).toEqual([1.2, 0.4, 0, 0]);
  });

  it('counts neither the clip nor the indicator of an update the inner protocol refused', () => {
    const { rt, inner, protocol } = decorated('central', true);
    inner.refuse.add('x');
    expect(protocol.receive(plaintextUpdate('x', [3, 4, 0, 0], 0.5))).toEqual({
      ok: false,
      code: 'not-selected',
      message: 'refused inside',
    });
    expect(protocol.receive(plaintextUpdate('a', [0.1, 0, 0, 0], 0.5))).toEqual({ ok: true });
    protocol.aggregate();
    expect(rt.finished[0]).toMatchObject({ contributors: 1, indicatorSum: 0.5, clippedUpdates: 0 });
  });

  it('distributed mode: takes each reported indicator as it is, neither clips nor counts clips', () => {
    const { rt, inner, protocol } = decorated('distributed', true);
    expect(protocol.receive(plaintextUpdate('a', [3, 4, 0, 0]))).toEqual({
      ok: false,
      code: 'invalid-message',
      message: 'adaptive clipping is on: the update must carry its clipIndicator',
    });
    expect(rt.receivedRounds).toEqual([]);
    expect(protocol.receive(plaintextUpdate('a', [3, 4, 0, 0], 0.25))).toEqual({ ok: true });
    expect(protocol.receive(plaintextUpdate('b', [0, 0, 1, 0], -1.5))).toEqual({ ok: true });
    expect(inner.received.map((m) => (m.kind === 'update' ? [...m.delta] : []))[0]).toEqual([3, 4, 0, 0]);
    protocol.aggregate();
    expect(rt.finished[0]).toEqual({
      contributors: 2,
      updateSum: Float32Array.from([3, 4, 1, 0]),
      indicatorSum: -1.25,
    });
  });

  it('a fixed clip norm sums no indicator, in either mode', () => {
    for (const mode of ['central', 'distributed'] as const) {
      const { rt, protocol } = decorated(mode, false);
      expect(protocol.receive(plaintextUpdate('a', [3, 4, 0, 0], 0.5))).toEqual({ ok: true });
      protocol.aggregate();
      expect(rt.finished[0].indicatorSum).toBeNull();
      expect(rt.finished[0].clippedUpdates).toBe(mode === 'central' ? 1 : undefined);
    }
  });

  it('refuses an update whose privacy charge could not be recorded, and the inner protocol never sees it', () => {
    const { rt, inner, protocol } = decorated('distributed', false);
    rt.refuseWith = 'disk full';
    expect(protocol.receive(plaintextUpdate('a', [1, 0, 0, 0]))).toEqual({
      ok: false,
      code: 'invalid-message',
      message: "the coordinator could not record this update's privacy charge, so it cannot take it: disk full",
    });
    expect(inner.received).toEqual([]);
  });

  it("fails the aggregate when a contributor's clip indicator is unknown", () => {
    const { inner, protocol } = decorated('central', true);
    inner.received.push(plaintextUpdate('sneaked', [0, 0, 0, 0], 0.5));
    expect(() => protocol.aggregate()).toThrow(new Error('no clip indicator from contributor sneaked'));
  });
});

describe('withPrivacy', () => {
  it('returns the factory itself without a runtime', () => {
    const factory = (c: RoundContext) => new PlaintextProtocol(c);
    expect(withPrivacy(factory, undefined, { updatesInTheClear: true })).toBe(factory);
  });

  it('plans the round for its population (0 when unknown) and tells the runtime what an unmasking reveals', () => {
    const rt = new FakeRuntime(instructions('central', false));
    const opened: RoundContext[] = [];
    const factory = withPrivacy(
      (c) => {
        opened.push(c);
        return new Inner();
      },
      rt.as(),
      { updatesInTheClear: false },
    );
    const { population: _, ...unknown } = ctx(3, 1);
    factory(unknown);
    factory(ctx(4, 6));
    expect(rt.planned).toEqual([
      [3, 0],
      [4, 6],
    ]);
    expect(opened[1].privacy!.plan.round).toBe(4);
    opened[1].privacy!.unmasked(5);
    expect(rt.unmaskedCounts).toEqual([5]);
  });
});

describe('SumAggregator', () => {
  it('adds the updates unweighted and can run under secure aggregation', () => {
    const sum = new SumAggregator();
    expect(sum).toMatchObject({ name: 'sum', linear: true });
    const out = sum.aggregate([
      { clientId: 'a', numExamples: 1, delta: Float32Array.from([1, 2]) },
      { clientId: 'b', numExamples: 100, delta: Float32Array.from([0.5, -4]) },
    ]);
    expect(out).toEqual(Float32Array.from([1.5, -2]));
  });
});
