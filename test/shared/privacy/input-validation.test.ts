import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AdaptiveClipNorm,
  unclippedFraction,
  updateNoiseMultiplier,
} from '../../../shared/privacy/adaptive-clipping.js';
import {
  achievedNoise,
  centralNoiseStd,
  distributedNoiseStd,
  type PrivacyMode,
} from '../../../shared/privacy/calibration.js';
import { clipToL2Norm, l2Norm } from '../../../shared/privacy/clipping.js';
import { parsePrivacyConfig, type PrivacyConfig } from '../../../shared/privacy/config.js';
import { PrivacyController } from '../../../shared/privacy/controller.js';
import {
  addGaussianNoise,
  cryptoRandomWords,
  GaussianSampler,
  seededRandomWords,
} from '../../../shared/privacy/gaussian.js';
import { PoissonSampler } from '../../../shared/privacy/poisson-sampler.js';
import { computeRdp, rdpToEpsilon, sampledGaussianRdp, stepsUntilBudget } from '../../../shared/privacy/rdp.js';

/**
 * Every check on the privacy code's inputs refuses what it must, with the message that names the
 * problem, and lets the nearest valid value through: a check that silently passed bad numbers
 * would void the privacy guarantee without any other test noticing.
 */

/** Positive-and-finite checks: 0, negatives, NaN and both infinities are refused. */
const NOT_POSITIVE = [0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
const NOT_COUNT = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];

const ADAPTIVE = { initialClipNorm: 1, targetQuantile: 0.5, learningRate: 0.2, bitNoiseStd: 5 };

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('adaptive clipping inputs', () => {
  it('updateNoiseMultiplier refuses a bad z or sigma_b, and a sigma_b that leaves nothing for the updates', () => {
    for (const v of NOT_POSITIVE) {
      expect(() => updateNoiseMultiplier(v, 5)).toThrow(new Error(`noise multiplier must be finite and > 0, got ${v}`));
      expect(() => updateNoiseMultiplier(1, v)).toThrow(new Error(`bit noise std must be finite and > 0, got ${v}`));
    }
    // sigma_b = z / 2 exactly: z'^-2 = 0.
    expect(() => updateNoiseMultiplier(1, 0.5)).toThrow(
      new Error(
        'bit noise std 0.5 leaves no privacy budget for the updates at noise multiplier 1: it must exceed noiseMultiplier / 2 = 0.5',
      ),
    );
    expect(() => updateNoiseMultiplier(1, 0.4)).toThrow(/leaves no privacy budget/);
    // z = 2, sigma_b = 3: z'^-2 = 1/4 - 1/36 (z = 1 would not tell z^-2 from z^2).
    expect(updateNoiseMultiplier(2, 3)).toBeCloseTo((1 / 4 - 1 / 36) ** -0.5, 12);
  });

  it('unclippedFraction refuses a non-finite sum and a contributor count that is not a positive integer', () => {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => unclippedFraction(v, 4)).toThrow(new Error(`indicator sum must be finite, got ${v}`));
    }
    for (const v of NOT_COUNT) {
      expect(() => unclippedFraction(0, v)).toThrow(
        new Error(`expected contributors must be an integer >= 1, got ${v}`),
      );
    }
    expect(unclippedFraction(-0.5, 1)).toBe(0);
    expect(unclippedFraction(1, 4)).toBe(0.75);
  });

  it('AdaptiveClipNorm refuses bad options and a bad starting clip norm', () => {
    for (const v of NOT_POSITIVE) {
      expect(() => new AdaptiveClipNorm({ ...ADAPTIVE, initialClipNorm: v })).toThrow(
        new Error(`initial clip norm must be finite and > 0, got ${v}`),
      );
      expect(() => new AdaptiveClipNorm({ ...ADAPTIVE, learningRate: v })).toThrow(
        new Error(`clip learning rate must be finite and > 0, got ${v}`),
      );
      expect(() => new AdaptiveClipNorm({ ...ADAPTIVE, bitNoiseStd: v })).toThrow(
        new Error(`bit noise std must be finite and > 0, got ${v}`),
      );
      expect(() => new AdaptiveClipNorm(ADAPTIVE, v)).toThrow(new Error(`clip norm must be finite and > 0, got ${v}`));
    }
    for (const v of [0, 1, -0.5, 1.5, Number.NaN]) {
      expect(() => new AdaptiveClipNorm({ ...ADAPTIVE, targetQuantile: v })).toThrow(
        new Error(`target quantile must be in (0, 1), got ${v}`),
      );
    }
    expect(new AdaptiveClipNorm({ ...ADAPTIVE, targetQuantile: 0.999 }, 2).clipNorm).toBe(2);
  });

  it('update refuses a non-finite fraction and a clip norm that leaves the representable range', () => {
    const clip = new AdaptiveClipNorm(ADAPTIVE);
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => clip.update(v)).toThrow(new Error(`unclipped fraction must be finite, got ${v}`));
    }
    const wild = new AdaptiveClipNorm({ ...ADAPTIVE, learningRate: 1e308 });
    expect(() => wild.update(0)).toThrow(
      new Error('adaptive clip norm left the representable range (Infinity); lower the clip learning rate'),
    );
    expect(() => wild.update(1)).toThrow(
      new Error('adaptive clip norm left the representable range (0); lower the clip learning rate'),
    );
    // A refused update leaves C where it was.
    expect(wild.clipNorm).toBe(1);
  });
});

describe('calibration inputs', () => {
  it('noise stds refuse a bad multiplier, clip norm or contributor count', () => {
    for (const v of NOT_POSITIVE) {
      expect(() => centralNoiseStd(v, 1)).toThrow(new Error(`noise multiplier must be finite and > 0, got ${v}`));
      expect(() => centralNoiseStd(1, v)).toThrow(new Error(`clip norm must be finite and > 0, got ${v}`));
      expect(() => distributedNoiseStd(v, 1, 4)).toThrow(
        new Error(`noise multiplier must be finite and > 0, got ${v}`),
      );
      expect(() => distributedNoiseStd(1, v, 4)).toThrow(new Error(`clip norm must be finite and > 0, got ${v}`));
    }
    for (const v of NOT_COUNT) {
      expect(() => distributedNoiseStd(1, 1, v)).toThrow(
        new Error(`expected contributors must be an integer >= 1, got ${v}`),
      );
    }
    expect(centralNoiseStd(2, 3)).toBe(6);
    expect(distributedNoiseStd(2, 3, 4)).toBe(3);
  });

  it('achievedNoise refuses bad turnouts and an unknown mode', () => {
    const turnout = {
      mode: 'distributed' as PrivacyMode,
      noiseMultiplier: 1,
      expectedContributors: 4,
      contributors: 4,
    };
    for (const v of NOT_POSITIVE) {
      expect(() => achievedNoise({ ...turnout, noiseMultiplier: v })).toThrow(
        new Error(`noise multiplier must be finite and > 0, got ${v}`),
      );
    }
    for (const v of NOT_COUNT) {
      expect(() => achievedNoise({ ...turnout, expectedContributors: v })).toThrow(
        new Error(`expected contributors must be an integer >= 1, got ${v}`),
      );
    }
    for (const v of [-1, 1.5, Number.NaN]) {
      expect(() => achievedNoise({ ...turnout, contributors: v })).toThrow(
        new Error(`contributors must be an integer >= 0, got ${v}`),
      );
    }
    expect(achievedNoise({ ...turnout, contributors: 0 }).clientNoiseMultiplier).toBe(0);
    expect(() => achievedNoise({ ...turnout, mode: 'local' as PrivacyMode })).toThrow(
      new Error('unknown privacy mode local'),
    );
  });
});

describe('clipping inputs', () => {
  it('refuses non-finite update values and a bad clip norm', () => {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => l2Norm(Float32Array.from([1, v]))).toThrow(
        new Error(`update has a non-finite value (${v}) at index 1`),
      );
    }
    for (const v of NOT_POSITIVE) {
      expect(() => clipToL2Norm(Float32Array.from([3, 4]), v)).toThrow(
        new Error(`clip norm must be finite and > 0, got ${v}`),
      );
    }
    expect(l2Norm(Float32Array.from([3, 4]))).toBe(5);
  });
});

describe('noise inputs', () => {
  it('addGaussianNoise refuses a negative or non-finite std and takes 0', () => {
    const sampler = new GaussianSampler(seededRandomWords(1));
    for (const v of [-1, -Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => addGaussianNoise(new Float32Array(2), v, sampler)).toThrow(
        new Error(`noise std must be finite and >= 0, got ${v}`),
      );
    }
    expect(addGaussianNoise(Float32Array.from([1, 2]), 0, sampler)).toEqual(Float32Array.from([1, 2]));
  });

  it('the CSPRNG source refuses to run without crypto.getRandomValues', () => {
    const message = 'no CSPRNG: globalThis.crypto.getRandomValues is unavailable (needs Node >= 19 or a browser)';
    vi.stubGlobal('crypto', undefined);
    expect(() => cryptoRandomWords(new Uint32Array(1))).toThrow(new Error(message));
    vi.stubGlobal('crypto', {});
    expect(() => cryptoRandomWords(new Uint32Array(1))).toThrow(new Error(message));
  });

  it('the CSPRNG source asks Web Crypto for at most 65,536 bytes at a time, and never for nothing', () => {
    const asked: number[] = [];
    vi.stubGlobal('crypto', { getRandomValues: (view: Uint32Array) => asked.push(view.length) });
    cryptoRandomWords(new Uint32Array(2 * 16_384));
    expect(asked).toEqual([16_384, 16_384]);
    asked.length = 0;
    cryptoRandomWords(new Uint32Array(16_385));
    expect(asked).toEqual([16_384, 1]);
  });

  it('a seeded source draws one value per word: filling in two calls gives the words of one call', () => {
    const once = new Uint32Array(4);
    seededRandomWords(5)(once);
    const split = seededRandomWords(5);
    const [first, second] = [new Uint32Array(2), new Uint32Array(2)];
    split(first);
    split(second);
    expect([...first, ...second]).toEqual([...once]);
  });

  it('the Poisson sampler refuses a rate outside (0, 1]', () => {
    for (const v of [0, -0.1, 1.0001, Number.NaN]) {
      expect(() => new PoissonSampler({ rate: v })).toThrow(
        new Error(`Poisson sampling rate must be in (0, 1], got ${v}`),
      );
    }
    expect(new PoissonSampler({ rate: 1 }).rate).toBe(1);
  });
});

describe('accountant inputs', () => {
  it('refuses q outside [0, 1], a bad noise multiplier, orders or steps', () => {
    for (const v of [-0.01, 1.01, Number.NaN])
      expect(() => sampledGaussianRdp(v, 1, 2)).toThrow(new Error(`sampling rate q must be in [0, 1], got ${v}`));
    for (const v of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => sampledGaussianRdp(0.5, v, 2)).toThrow(
        new Error(`noise multiplier must be finite and >= 0, got ${v}`),
      );
    }
    expect(() => computeRdp(0.5, 1, 1, [])).toThrow(new Error('orders must not be empty'));
    for (const v of [1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => computeRdp(0.5, 1, 1, [2, v])).toThrow(
        new Error(`every RDP order must be finite and > 1, got ${v}`),
      );
    }
    for (const v of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => computeRdp(0.5, 1, v, [2])).toThrow(new Error(`steps must be a non-negative integer, got ${v}`));
    }
    expect(computeRdp(0.5, 0, 0, [2])).toEqual([0]);
  });

  it('rdpToEpsilon refuses a bad delta, mismatched lengths and negative RDP', () => {
    for (const v of [0, 1, -0.5, Number.NaN])
      expect(() => rdpToEpsilon([1], [2], v)).toThrow(new Error(`delta must be in (0, 1), got ${v}`));
    expect(() => rdpToEpsilon([1, 2], [2], 1e-5)).toThrow(new Error('rdp has 2 values but there are 1 orders'));
    for (const v of [-1, Number.NaN])
      expect(() => rdpToEpsilon([0, v], [2, 3], 1e-5)).toThrow(
        new Error(`RDP values must be >= 0, got ${v} at order 3`),
      );
    expect(rdpToEpsilon([Infinity], [2], 1e-5)).toEqual({ epsilon: Infinity, order: null, orderAtEdge: null });
  });

  it('stepsUntilBudget refuses a negative target and a spent vector of the wrong length', () => {
    const query = { q: 0.1, noiseMultiplier: 1, delta: 1e-5, orders: [2, 4, 8] };
    for (const v of [-1, Number.NaN]) {
      expect(() => stepsUntilBudget({ ...query, targetEpsilon: v })).toThrow(
        new Error(`targetEpsilon must be >= 0, got ${v}`),
      );
    }
    expect(() => stepsUntilBudget({ ...query, targetEpsilon: 1, spentRdp: [0, 0] })).toThrow(
      new Error('spentRdp has 2 values but there are 3 orders'),
    );
    expect(stepsUntilBudget({ ...query, targetEpsilon: 0 })).toBe(0);
  });
});

describe('controller inputs', () => {
  // Built inside the tests (not while they are collected), so mutation coverage sees them per test.
  const fixed = () =>
    parsePrivacyConfig({ mode: 'distributed', noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, targetEpsilon: 10 });
  const adaptive = () =>
    parsePrivacyConfig({
      mode: 'distributed',
      noiseMultiplier: 1,
      adaptive: { initialClipNorm: 1, bitNoiseStd: 5 },
      delta: 1e-5,
      targetEpsilon: 10,
    });
  const sampler = () => new GaussianSampler(seededRandomWords(2));
  const result = {
    round: 1,
    samplingRate: 0.5,
    expectedContributors: 2,
    contributors: 2,
    updateSum: new Float32Array(2),
  };

  it('refuses an unknown clipping kind', () => {
    const odd = { ...fixed(), clipping: { kind: 'percentile' } } as unknown as PrivacyConfig;
    expect(() => new PrivacyController(odd)).toThrow(new Error('unknown clipping kind {"kind":"percentile"}'));
  });

  it('beginRound refuses an expected contributor count that is not a positive integer', () => {
    for (const v of NOT_COUNT) {
      expect(() =>
        new PrivacyController(fixed()).beginRound({ round: 1, samplingRate: 0.5, expectedContributors: v }),
      ).toThrow(new Error(`expected contributors must be an integer >= 1, got ${v}`));
    }
  });

  it('finishRound refuses an indicator sum that does not fit the clipping kind', () => {
    expect(() => new PrivacyController(fixed()).finishRound({ ...result, indicatorSum: 0 }, sampler())).toThrow(
      new Error('fixed clipping takes no indicator sum'),
    );
    expect(() => new PrivacyController(adaptive()).finishRound({ ...result, indicatorSum: null }, sampler())).toThrow(
      new Error('adaptive clipping needs the indicator sum'),
    );
  });
});
