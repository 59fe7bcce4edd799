import { describe, expect, it } from 'vitest';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import { parsePrivacyConfig } from '../../../shared/privacy/config.js';
import { GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';
import { computeRdp, rdpToEpsilon } from '../../../shared/privacy/rdp.js';
import type { UpdateMeta } from '../../../shared/protocol/messages.js';
import { PrivacyRuntime } from '../../../server/privacy-runtime.js';
import {
  ProtocolBase,
  type Inbound,
  type Outbound,
  type RoundAggregate,
  type RoundContext,
  type Verdict,
} from '../../../server/round/aggregation-protocol.js';
import { PlaintextProtocol } from '../../../server/round/plaintext-protocol.js';
import { withPrivacy } from '../../../server/round/private-protocol.js';

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
