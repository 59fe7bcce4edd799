import { describe, expect, it } from 'vitest';
import {
  AdaptiveClipNorm,
  clipIndicator,
  unclippedFraction,
  updateNoiseMultiplier,
} from '../../../shared/privacy/adaptive-clipping.js';
import { GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';

const CLIENTS = 100;
const BIT_NOISE = CLIENTS / 20; // Andrew et al.'s suggestion

/**
 * Runs quantile tracking against update norms exp(N(0, 1)) (log-normal: its gamma-quantile is
 * exp(Phi^-1(gamma))), with the noisy centered indicators exactly as a round computes them.
 */
function track(initialClipNorm: number, targetQuantile: number, rounds: number, seed: number): number[] {
  const clip = new AdaptiveClipNorm({ initialClipNorm, targetQuantile, learningRate: 0.2, bitNoiseStd: BIT_NOISE });
  const gauss = new GaussianSampler(seededRandomWords(seed));
  const path = [clip.clipNorm];
  for (let r = 0; r < rounds; r++) {
    let indicatorSum = 0;
    for (let c = 0; c < CLIENTS; c++) indicatorSum += clipIndicator(Math.exp(gauss.standardNormal()) <= clip.clipNorm);
    indicatorSum += BIT_NOISE * gauss.standardNormal();
    path.push(clip.update(unclippedFraction(indicatorSum, CLIENTS)));
  }
  return path;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('adaptive clipping (Andrew et al. 2019)', () => {
  it('shrinks C when more than gamma of the clients fit under it, grows it when fewer do', () => {
    const opts = { initialClipNorm: 1, targetQuantile: 0.5, learningRate: 0.2, bitNoiseStd: 5 };
    const down = new AdaptiveClipNorm(opts);
    expect(down.update(1)).toBeCloseTo(Math.exp(-0.1), 12);
    const up = new AdaptiveClipNorm(opts);
    expect(up.update(0)).toBeCloseTo(Math.exp(0.1), 12);
    expect(new AdaptiveClipNorm(opts).update(0.5)).toBe(1);
  });

  for (const [gamma, target] of [
    [0.5, 1],
    [0.8, Math.exp(0.8416212335729143)],
  ] as const) {
    it(`converges to the ${gamma}-quantile of a known norm distribution from above and from below`, () => {
      const fromAbove = track(100 * target, gamma, 300, 1);
      const fromBelow = track(target / 100, gamma, 300, 2);
      // Moves the right way first...
      expect(fromAbove[30]).toBeLessThan(fromAbove[0] / 2);
      expect(fromBelow[30]).toBeGreaterThan(fromBelow[0] * 2);
      // ...then settles around the quantile (geometric mean over the last 100 rounds).
      for (const path of [fromAbove, fromBelow]) {
        const settled = Math.exp(mean(path.slice(-100).map(Math.log)));
        expect(Math.abs(Math.log(settled / target))).toBeLessThan(0.1);
      }
    });
  }

  it("splits the noise budget: z'^-2 + (2 sigma_b)^-2 = z^-2", () => {
    const zPrime = updateNoiseMultiplier(1, 5);
    expect(zPrime ** -2 + 10 ** -2).toBeCloseTo(1, 14);
    expect(zPrime).toBeCloseTo(1 / Math.sqrt(0.99), 14);
    expect(() => updateNoiseMultiplier(1, 0.5)).toThrow(/must exceed noiseMultiplier \/ 2 = 0.5/);
  });

  it('reads bBar off the centered indicator sum', () => {
    expect(unclippedFraction(10 * 0.5 + 30 * -0.5, 40)).toBe(0.25);
    expect(() => unclippedFraction(1, 0)).toThrow(/expected contributors/);
  });

  it('rejects invalid options', () => {
    const good = { initialClipNorm: 1, targetQuantile: 0.5, learningRate: 0.2, bitNoiseStd: 5 };
    expect(() => new AdaptiveClipNorm({ ...good, targetQuantile: 1 })).toThrow(/target quantile/);
    expect(() => new AdaptiveClipNorm({ ...good, initialClipNorm: -1 })).toThrow(/initial clip norm/);
    expect(() => new AdaptiveClipNorm(good).update(Number.NaN)).toThrow(/unclipped fraction/);
  });
});
