import { describe, expect, it } from 'vitest';
import { achievedNoise, centralNoiseStd, distributedNoiseStd } from '../../../shared/privacy/calibration.js';

describe('noise calibration', () => {
  it('central: the coordinator adds z*C; distributed: each of n clients adds z*C/sqrt(n)', () => {
    expect(centralNoiseStd(1.2, 0.5)).toBeCloseTo(0.6, 15);
    const perClient = distributedNoiseStd(1.2, 0.5, 16);
    expect(perClient).toBeCloseTo(0.15, 15);
    // n independent shares sum to the central variance.
    expect(16 * perClient ** 2).toBeCloseTo(centralNoiseStd(1.2, 0.5) ** 2, 14);
  });

  it('central mode is unaffected by dropouts', () => {
    expect(achievedNoise({ mode: 'central', noiseMultiplier: 1, expectedContributors: 10, contributors: 3 })).toEqual({
      releasedNoiseMultiplier: 1,
      clientNoiseMultiplier: null,
      coordinatorNoiseMultiplier: 1,
    });
  });

  it('distributed mode reports the shortfall from dropouts and tops the release up', () => {
    const a = achievedNoise({ mode: 'distributed', noiseMultiplier: 2, expectedContributors: 100, contributors: 64 });
    expect(a.clientNoiseMultiplier).toBeCloseTo(2 * 0.8, 14);
    expect(a.coordinatorNoiseMultiplier).toBeCloseTo(2 * 0.6, 14);
    expect(a.releasedNoiseMultiplier).toBeCloseTo(2, 14);
  });

  it('distributed mode with full or extra turnout needs no top-up and counts the extra noise', () => {
    const full = achievedNoise({ mode: 'distributed', noiseMultiplier: 2, expectedContributors: 10, contributors: 10 });
    expect(full).toEqual({ releasedNoiseMultiplier: 2, clientNoiseMultiplier: 2, coordinatorNoiseMultiplier: 0 });
    const extra = achievedNoise({
      mode: 'distributed',
      noiseMultiplier: 2,
      expectedContributors: 10,
      contributors: 40,
    });
    expect(extra.releasedNoiseMultiplier).toBeCloseTo(4, 14);
    expect(extra.clientNoiseMultiplier).toBeCloseTo(4, 14);
  });

  it('rejects nonsense turnouts', () => {
    expect(() =>
      achievedNoise({ mode: 'distributed', noiseMultiplier: 1, expectedContributors: 0, contributors: 0 }),
    ).toThrow(/expected contributors/);
    expect(() =>
      achievedNoise({ mode: 'central', noiseMultiplier: 1, expectedContributors: 3, contributors: 1.5 }),
    ).toThrow(/contributors must be an integer/);
    expect(() => distributedNoiseStd(0, 1, 3)).toThrow(/noise multiplier/);
  });
});
