import { describe, expect, it } from 'vitest';
import { parsePrivacyConfig } from '../../shared/privacy/config.js';
import { GaussianSampler, seededRandomWords } from '../../shared/privacy/gaussian.js';
import { computeEpsilon, computeRdp, rdpToEpsilon } from '../../shared/privacy/rdp.js';
import { PrivacyRuntime } from '../../server/privacy-runtime.js';

/**
 * The account against the coordinator when it sees every update on its own (distributed noise, no
 * secure aggregation): each update is one unsampled Gaussian release with multiplier z / sqrt(n),
 * so Poisson sampling at q < 1 must give it no amplification, while the released mean keeps it.
 */

const DIM = 3;
const Z = 1.2;
const DELTA = 1e-5;
const Q = 0.25;
const POPULATION = 16;

function runtime(individualUpdatesVisible: boolean, samplingRate = Q): PrivacyRuntime {
  return new PrivacyRuntime(
    parsePrivacyConfig({ mode: 'distributed', noiseMultiplier: Z, clipNorm: 1, delta: DELTA, targetEpsilon: 1000 }),
    {
      samplingRate,
      individualUpdatesVisible,
      noise: new GaussianSampler(seededRandomWords(3)),
    },
  );
}

/** Runs `rounds` rounds, numbered from `first`, in which every expected contributor reports; the last round's record. */
function runRounds(rt: PrivacyRuntime, rounds: number, first = 1) {
  let last;
  for (let round = first; round < first + rounds; round++) {
    const plan = rt.plan(round, POPULATION);
    last = rt.finish(plan, {
      contributors: plan.expectedContributors,
      updateSum: new Float32Array(DIM),
      indicatorSum: null,
    }).record;
  }
  if (last === undefined) throw new Error('runRounds needs at least one round');
  return last;
}

describe('PrivacyRuntime coordinator account', () => {
  it('at q < 1, per-update epsilon against the coordinator composes unsampled Gaussians: no amplification', () => {
    const rt = runtime(true);
    const n = Math.round(Q * POPULATION);
    const orders = rt.config.orders;
    for (let rounds = 1; rounds <= 3; rounds++) {
      const record = runRounds(rt, 1, rounds);
      expect(record.samplingRate).toBe(Q);
      expect(record.expectedContributors).toBe(n);
      const unsampled = rdpToEpsilon(computeRdp(1, Z / Math.sqrt(n), rounds, orders), orders, DELTA).epsilon;
      const amplified = rdpToEpsilon(computeRdp(Q, Z / Math.sqrt(n), rounds, orders), orders, DELTA).epsilon;
      // The wrong (amplified) account must be far enough away that the check below tells them apart.
      expect(unsampled - amplified).toBeGreaterThan(0.5);
      expect(record.coordinatorEpsilon).toBeCloseTo(unsampled, 9);
      expect(rt.summary().coordinatorEpsilon).toBeCloseTo(unsampled, 9);
      expect(rt.status().coordinatorEpsilon).toBeCloseTo(unsampled, 9);
      // The released noisy mean is still accounted with sampling at rate q and the full multiplier z.
      expect(record.epsilon).toBeCloseTo(
        computeEpsilon({ q: Q, noiseMultiplier: Z, steps: rounds, delta: DELTA, orders }).epsilon,
        9,
      );
    }
  });

  it('keeps the per-update account across a checkpoint', () => {
    const rt = runtime(true);
    runRounds(rt, 2);
    const resumed = runtime(true);
    resumed.restore(JSON.parse(JSON.stringify(rt.checkpoint())));
    const record = runRounds(resumed, 1, 3);
    const orders = rt.config.orders;
    const n = Math.round(Q * POPULATION);
    expect(record.coordinatorEpsilon).toBeCloseTo(
      rdpToEpsilon(computeRdp(1, Z / Math.sqrt(n), 3, orders), orders, DELTA).epsilon,
      9,
    );
  });

  it("with secure aggregation the coordinator sees only the sum: its account is sampled, with the clients' noise", () => {
    const rt = runtime(false);
    const record = runRounds(rt, 2);
    const perUpdate = rdpToEpsilon(computeRdp(1, Z / 2, 2, rt.config.orders), rt.config.orders, DELTA).epsilon;
    expect(record.coordinatorEpsilon).toBeLessThan(perUpdate);
    expect(rt.checkpoint().individualRdp.every((r) => r === 0)).toBe(true);
    expect(record.coordinatorEpsilon).toBe(rt.summary().coordinatorEpsilon);
  });
});
