import { describe, expect, it } from 'vitest';
import { PrivacyLedger, type LedgerSettings } from '../../../shared/privacy/ledger.js';
import {
  DEFAULT_RDP_ORDERS,
  computeEpsilon,
  computeRdp,
  rdpToEpsilon,
  stepsUntilBudget,
} from '../../../shared/privacy/rdp.js';

const settings: LedgerSettings = {
  mode: 'central',
  noiseMultiplier: 1,
  delta: 1e-5,
  targetEpsilon: 3,
  orders: DEFAULT_RDP_ORDERS,
};
const relClose = (a: number, b: number, rel = 1e-12) => expect(Math.abs(a - b)).toBeLessThanOrEqual(rel * Math.abs(b));

function runUntilStopped(ledger: PrivacyLedger, q: number, n: number): number {
  let round = 0;
  while (ledger.check(q).allowed)
    ledger.record({ round: round++, samplingRate: q, expectedContributors: n, contributors: n });
  return round;
}

describe('PrivacyLedger', () => {
  it('stops before the round that would pass targetEpsilon, and says so', () => {
    const q = 0.1;
    const ledger = new PrivacyLedger({ ...settings, targetEpsilon: 6 });
    const rounds = runUntilStopped(ledger, q, 10);
    // Independently: the last affordable round count by the accountant itself.
    expect(computeEpsilon({ q, noiseMultiplier: 1, steps: rounds, delta: 1e-5 }).epsilon).toBeLessThanOrEqual(6);
    expect(computeEpsilon({ q, noiseMultiplier: 1, steps: rounds + 1, delta: 1e-5 }).epsilon).toBeGreaterThan(6);
    expect(rounds).toBe(stepsUntilBudget({ q, noiseMultiplier: 1, delta: 1e-5, targetEpsilon: 6 }));
    expect(rounds).toBeGreaterThan(10);
    const refusal = ledger.check(q);
    expect(refusal.allowed).toBe(false);
    if (!refusal.allowed)
      expect(refusal.reason).toMatch(
        /privacy budget exhausted: one more round would bring epsilon from 5\.\d+ to 6\.\d+ > targetEpsilon 6/,
      );
    expect(ledger.spent().epsilon).toBeLessThanOrEqual(6);
    expect(ledger.roundsRemaining(q)).toBe(0);
    // Epsilon is reported after every round and only grows.
    const eps = ledger.rounds().map((r) => r.epsilon);
    for (let k = 1; k < eps.length; k++) expect(eps[k]).toBeGreaterThan(eps[k - 1]);
  });

  it('composes rounds with different sampling rates additively', () => {
    const ledger = new PrivacyLedger(settings);
    ledger.record({ round: 0, samplingRate: 0.05, expectedContributors: 5, contributors: 5 });
    ledger.record({ round: 1, samplingRate: 0.2, expectedContributors: 20, contributors: 20 });
    ledger.record({ round: 2, samplingRate: 0.05, expectedContributors: 5, contributors: 4 });
    const a = computeRdp(0.05, 1, 2);
    const b = computeRdp(0.2, 1, 1);
    const expected = rdpToEpsilon(
      a.map((r, k) => r + b[k]),
      DEFAULT_RDP_ORDERS,
      1e-5,
    );
    relClose(ledger.spent().epsilon, expected.epsilon);
    expect(ledger.spent()).toMatchObject({ order: expected.order, rounds: 3, delta: 1e-5, coordinatorEpsilon: null });
    expect(ledger.roundsRemaining(0.05)).toBe(
      stepsUntilBudget({
        q: 0.05,
        noiseMultiplier: 1,
        delta: 1e-5,
        targetEpsilon: 3,
        spentRdp: a.map((r, k) => r + b[k]),
      }),
    );
  });

  it('reports nothing spent before the first round', () => {
    expect(new PrivacyLedger(settings).spent()).toEqual({
      epsilon: 0,
      order: null,
      orderAtEdge: null,
      delta: 1e-5,
      rounds: 0,
      coordinatorEpsilon: null,
    });
  });

  it('allows a round that brings epsilon exactly to the target', () => {
    const target = computeEpsilon({ q: 0.1, noiseMultiplier: 1, steps: 1, delta: 1e-5 }).epsilon;
    const ledger = new PrivacyLedger({ ...settings, targetEpsilon: target });
    expect(ledger.check(0.1)).toEqual({
      allowed: true,
      spentEpsilon: 0,
      epsilonAfterRound: target,
      targetEpsilon: target,
    });
  });

  it('records an overshooting round truthfully and refuses the next one', () => {
    const ledger = new PrivacyLedger({ ...settings, targetEpsilon: 1 });
    expect(ledger.check(0.01).allowed).toBe(true);
    const report = ledger.record({ round: 0, samplingRate: 1, expectedContributors: 100, contributors: 100 });
    relClose(report.epsilon, computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 1, delta: 1e-5 }).epsilon);
    expect(report.epsilon).toBeGreaterThan(1);
    expect(ledger.check(0.01).allowed).toBe(false);
  });

  it('distributed mode: dropouts lower the noise against the coordinator, and it is reported', () => {
    const ledger = new PrivacyLedger({ ...settings, mode: 'distributed', noiseMultiplier: 2 });
    const r0 = ledger.record({ round: 0, samplingRate: 0.1, expectedContributors: 100, contributors: 100 });
    const r1 = ledger.record({ round: 1, samplingRate: 0.1, expectedContributors: 100, contributors: 25 });
    expect(r0.clientNoiseMultiplier).toBe(2);
    expect(r1.clientNoiseMultiplier).toBeCloseTo(1, 14);
    // The release is topped up to the full multiplier, so its account ignores the dropouts.
    expect(r1.releasedNoiseMultiplier).toBeCloseTo(2, 14);
    relClose(r1.epsilon, computeEpsilon({ q: 0.1, noiseMultiplier: 2, steps: 2, delta: 1e-5 }).epsilon);
    // Against the coordinator: no amplification (q = 1), client noise only: a/(2*2^2) + a/(2*1^2).
    const coordinatorRdp = DEFAULT_RDP_ORDERS.map((a) => a / 8 + a / 2);
    relClose(r1.coordinatorEpsilon as number, rdpToEpsilon(coordinatorRdp, DEFAULT_RDP_ORDERS, 1e-5).epsilon);
    expect(r1.coordinatorEpsilon as number).toBeGreaterThan(r1.epsilon);
    // A round no client made it into costs nothing against the coordinator.
    const r2 = ledger.record({ round: 2, samplingRate: 0.1, expectedContributors: 100, contributors: 0 });
    expect(r2.coordinatorEpsilon).toBe(r1.coordinatorEpsilon);
  });

  it('resumes exactly from a JSON checkpoint', () => {
    const d = { ...settings, mode: 'distributed' as const };
    const uninterrupted = new PrivacyLedger(d);
    const first = new PrivacyLedger(d);
    for (let r = 0; r < 5; r++) {
      const t = { round: r, samplingRate: 0.1, expectedContributors: 10, contributors: 10 - r };
      uninterrupted.record(t);
      first.record(t);
    }
    const resumed = new PrivacyLedger(d, JSON.parse(JSON.stringify(first.state())));
    const t = { round: 5, samplingRate: 0.1, expectedContributors: 10, contributors: 7 };
    expect(resumed.record(t)).toEqual(uninterrupted.record(t));
    expect(resumed.spent()).toEqual(uninterrupted.spent());
    expect(resumed.rounds()).toHaveLength(6);
    expect(resumed.rounds()).toEqual(uninterrupted.rounds());
  });

  it('refuses a checkpoint from another mode, other orders or a corrupt file', () => {
    const state = new PrivacyLedger(settings).state();
    expect(() => new PrivacyLedger({ ...settings, mode: 'distributed' }, state)).toThrow(
      /mode changed since the checkpoint/,
    );
    expect(() => new PrivacyLedger({ ...settings, orders: [2, 3] }, state)).toThrow(/different RDP orders/);
    expect(() => new PrivacyLedger({ ...settings, orders: [2, 3] }, { ...state, orders: [2, 4] })).toThrow(
      /different RDP orders/,
    );
    expect(() => new PrivacyLedger({ ...settings, orders: [2, 3] }, { ...state, orders: [5, 3] })).toThrow(
      /different RDP orders/,
    );
    // A checkpoint over a prefix of the configured orders.
    expect(
      () =>
        new PrivacyLedger({ ...settings, orders: [2, 3] }, { ...state, orders: [2], rdp: [0], coordinatorRdp: [0] }),
    ).toThrow(/different RDP orders/);
    expect(() => new PrivacyLedger(settings, { ...state, rdp: [1] })).toThrow(/one value per order/);
    expect(() => new PrivacyLedger(settings, { ...state, coordinatorRdp: [1] })).toThrow(
      new Error(`checkpoint RDP vectors must have one value per order (${DEFAULT_RDP_ORDERS.length})`),
    );
    expect(() => new PrivacyLedger(settings, { ...state, version: 2 } as never)).toThrow();
    expect(() =>
      new PrivacyLedger(settings).record({ round: -1, samplingRate: 0.1, expectedContributors: 1, contributors: 1 }),
    ).toThrow(/round must be a non-negative integer/);
  });
});

describe('PrivacyLedger: rounds charged at their draw', () => {
  const distributed: LedgerSettings = { ...settings, mode: 'distributed', noiseMultiplier: 2 };
  const drawn = { samplingRate: 0.1, expectedContributors: 100, contributors: 0 };

  it('records the contributors later and charges the coordinator once, as record() would have', () => {
    const ledger = new PrivacyLedger(distributed);
    expect(ledger.charged(0)).toBe(false);
    const atDraw = ledger.record({ round: 0, ...drawn });
    expect(ledger.charged(0)).toBe(true);
    expect(ledger.charged(1)).toBe(false);
    expect(atDraw).toMatchObject({ contributors: 0, clientNoiseMultiplier: 0, coordinatorEpsilon: 0 });

    const known = ledger.recordContributors(0, 25);
    // Client noise z sqrt(m / n) = 1; against the coordinator: no amplification, a / (2 * 1^2).
    expect(known.contributors).toBe(25);
    expect(known.clientNoiseMultiplier).toBeCloseTo(1, 14);
    const coordinator = rdpToEpsilon(
      DEFAULT_RDP_ORDERS.map((a) => a / 2),
      DEFAULT_RDP_ORDERS,
      1e-5,
    ).epsilon;
    relClose(known.coordinatorEpsilon as number, coordinator);
    // The released account keeps the draw's charge.
    relClose(known.epsilon, computeEpsilon({ q: 0.1, noiseMultiplier: 2, steps: 1, delta: 1e-5 }).epsilon);
    expect(ledger.rounds()).toEqual([known]);
    relClose(ledger.spent().coordinatorEpsilon as number, coordinator);

    // The same count again is a no-op: not charged twice.
    expect(ledger.recordContributors(0, 25)).toEqual(known);
    relClose(ledger.spent().coordinatorEpsilon as number, coordinator);
    // The same as one record() with the contributors known from the start.
    const direct = new PrivacyLedger(distributed);
    expect(direct.record({ round: 0, ...drawn, contributors: 25 })).toEqual(known);
    expect(ledger.state()).toEqual(direct.state());
  });

  it('refuses a round that was not charged, and a second, different count', () => {
    const ledger = new PrivacyLedger(distributed);
    ledger.record({ round: 0, ...drawn });
    expect(() => ledger.recordContributors(1, 5)).toThrow(
      /round 1 was not charged: its draw must be charged before its contributors are recorded/,
    );
    ledger.recordContributors(0, 25);
    expect(() => ledger.recordContributors(0, 30)).toThrow(/round 0 already recorded 25 contributor\(s\), not 30/);
    expect(() => ledger.recordContributors(0, 0)).toThrow(/round 0 already recorded 25 contributor\(s\), not 0/);
    expect(ledger.rounds()[0].contributors).toBe(25);
  });

  it('a round recorded with no contributors stays free against the coordinator', () => {
    const ledger = new PrivacyLedger(distributed);
    ledger.record({ round: 0, ...drawn });
    expect(ledger.recordContributors(0, 0)).toMatchObject({ contributors: 0, coordinatorEpsilon: 0 });
    expect(ledger.state().coordinatorRdp.every((r) => r === 0)).toBe(true);
  });

  it('central mode: the count is recorded, and there is no coordinator account', () => {
    const ledger = new PrivacyLedger(settings);
    expect(ledger.record({ round: 3, ...drawn }).coordinatorEpsilon).toBeNull();
    expect(ledger.recordContributors(3, 7)).toMatchObject({
      round: 3,
      contributors: 7,
      clientNoiseMultiplier: null,
      coordinatorEpsilon: null,
    });
    expect(ledger.spent().coordinatorEpsilon).toBeNull();
    expect(ledger.state().coordinatorRdp.every((r) => r === 0)).toBe(true);
  });
});

describe('PrivacyLedger.epsilonKnowingParticipation', () => {
  it('is zero before any round', () => {
    expect(new PrivacyLedger(settings).epsilonKnowingParticipation()).toEqual({ typicalClient: 0, everyRound: 0 });
  });

  it('charges each round at q = 1 with the released noise: every round in full, a typical client by the sum of q', () => {
    const ledger = new PrivacyLedger({ ...settings, mode: 'distributed', noiseMultiplier: 2 });
    ledger.record({ round: 0, samplingRate: 0.1, expectedContributors: 10, contributors: 10 });
    // 5 of 10 expected: client noise 2 sqrt(1/2), topped up to 2 in the release.
    ledger.record({ round: 1, samplingRate: 0.3, expectedContributors: 10, contributors: 5 });
    const perRound = DEFAULT_RDP_ORDERS.map((a) => a / (2 * 2 * 2));
    const got = ledger.epsilonKnowingParticipation();
    relClose(
      got.everyRound,
      rdpToEpsilon(
        perRound.map((r) => 2 * r),
        DEFAULT_RDP_ORDERS,
        1e-5,
      ).epsilon,
      1e-9,
    );
    relClose(
      got.typicalClient,
      rdpToEpsilon(
        perRound.map((r) => 0.4 * r),
        DEFAULT_RDP_ORDERS,
        1e-5,
      ).epsilon,
      1e-9,
    );
    expect(got.typicalClient).toBeLessThan(got.everyRound);
  });
});
