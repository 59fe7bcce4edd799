import { describe, expect, it } from 'vitest';
import { parsePrivacyConfig } from '../../shared/privacy/config.js';
import { GaussianSampler, seededRandomWords } from '../../shared/privacy/gaussian.js';
import { computeEpsilon, computeRdp, rdpToEpsilon } from '../../shared/privacy/rdp.js';
import { PrivacyRuntime } from '../../server/privacy-runtime.js';

/**
 * One epsilon per audience: the accountant's sampling discount holds only against whoever does not
 * know who was drawn. z = 1, q = 0.1, 100 rounds, delta 1e-5: 7.90 against public readers; a client
 * drawn in its expected 10 rounds has 19.05 against an observer of participation, one drawn in every
 * round 96.1.
 */

const DELTA = 1e-5;

function runtime(mode: 'central' | 'distributed', individualUpdatesVisible: boolean): PrivacyRuntime {
  return new PrivacyRuntime(
    parsePrivacyConfig({ mode, noiseMultiplier: 1, clipNorm: 1, delta: DELTA, targetEpsilon: 1e6 }),
    {
      samplingRate: 0.1,
      individualUpdatesVisible,
      noise: new GaussianSampler(seededRandomWords(5)),
    },
  );
}

function run(rt: PrivacyRuntime, rounds: number, population: number): void {
  for (let round = 1; round <= rounds; round++) {
    const plan = rt.plan(round, population);
    rt.finish(plan, { contributors: plan.expectedContributors, updateSum: new Float32Array(2), indicatorSum: null });
  }
}

describe('privacy status per audience', () => {
  it('central DP, z = 1, q = 0.1, 100 rounds: public 7.90, a typical client known to be drawn 19.05, every round 96.1, no bound against the coordinator', () => {
    const rt = runtime('central', true);
    run(rt, 100, 10);
    const { audiences, epsilon } = rt.status();
    const orders = rt.config.orders;
    const publicEps = computeEpsilon({ q: 0.1, noiseMultiplier: 1, steps: 100, delta: DELTA, orders }).epsilon;
    const typical = computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 10, delta: DELTA, orders }).epsilon;
    const every = computeEpsilon({ q: 1, noiseMultiplier: 1, steps: 100, delta: DELTA, orders }).epsilon;
    expect(publicEps).toBeCloseTo(7.9, 2);
    expect(typical).toBeCloseTo(19.05, 2);
    expect(audiences.public).toBe(epsilon);
    expect(audiences.public).toBeCloseTo(publicEps, 9);
    expect(audiences.participationKnown.typicalClient).toBeCloseTo(typical, 9);
    expect(audiences.participationKnown.everyRound).toBeCloseTo(every, 9);
    expect(audiences.coordinator).toBeNull();
  });

  it("distributed DP without secure aggregation: against the coordinator only each update's noise share, unsampled", () => {
    const rt = runtime('distributed', true);
    run(rt, 20, 40);
    const orders = rt.config.orders;
    // n = 4 expected contributors: each update carries noise z / sqrt(4).
    const perUpdate = rdpToEpsilon(computeRdp(1, 1 / 2, 20, orders), orders, DELTA).epsilon;
    const { audiences } = rt.status();
    expect(audiences.coordinator).toBeCloseTo(perUpdate, 9);
    expect(audiences.coordinator!).toBeGreaterThan(audiences.participationKnown.everyRound);
    expect(audiences.participationKnown.everyRound).toBeGreaterThan(audiences.public);
  });

  it('before any round every audience is at 0', () => {
    expect(runtime('distributed', false).status().audiences).toEqual({
      public: 0,
      participationKnown: { typicalClient: 0, everyRound: 0 },
      coordinator: 0,
    });
  });
});
