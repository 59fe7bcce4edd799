import { describe, expect, it } from 'vitest';
import { GaussianSampler, seededRandomWords } from '../../../shared/privacy/gaussian.js';
import { canaryDirections } from '../../../simulations/audit/canaries.js';
import { parseAuditConfig } from '../../../simulations/audit/config.js';
import { guess, runAudit } from '../../../simulations/audit/run.js';

/** A small audit (256 values, 200 canaries, 20 honest clients, 10 rounds): well under a second per run. */
const small = {
  name: 'small-audit',
  seed: 7,
  dimension: 256,
  honestClients: 20,
  canaries: 200,
  rounds: 10,
  samplingRate: 0.5,
  honestUpdateNorm: 1,
  canaryUpdateNorm: 10,
  guesses: { in: 40, out: 40 },
  delta: 1e-5,
  privacy: { mode: 'central', clipNorm: 1, targetEpsilon: 1000 },
  runs: [
    { label: 'z = 1', noiseMultiplier: 1 },
    { label: 'off', noiseMultiplier: null },
  ],
};

function config(overrides: Record<string, unknown> = {}) {
  return parseAuditConfig({ ...small, ...overrides }, 'test');
}

/** A coordinator noise source that adds 1/100 of the noise it is asked for: a broken implementation. */
class QuietSampler extends GaussianSampler {
  override standardNormal(): number {
    return 0.01 * super.standardNormal();
  }
}

describe('canary audit runs', () => {
  it('has power: without DP every guess is right and the lower bound passes 3', () => {
    const c = config();
    const off = runAudit(c, c.runs[1]);
    expect(off.reportedEpsilon).toBeNull();
    expect(off.guesses).toBe(80);
    expect(off.correct).toBe(80);
    expect(off.epsilonLowerBound).toBeGreaterThan(3);
    expect(off.included).toBeGreaterThan(70);
    expect(off.included).toBeLessThan(130);
  });

  it('is sound: with DP (central, distributed, adaptive clipping) the lower bound stays below the reported epsilon', () => {
    const privacies = [
      small.privacy,
      { mode: 'distributed', clipNorm: 1, targetEpsilon: 1000 },
      { mode: 'central', adaptive: { initialClipNorm: 1, bitNoiseStd: 5 }, targetEpsilon: 1000 },
    ];
    for (const privacy of privacies) {
      const c = config({
        privacy,
        runs: [
          { label: 'z = 1', noiseMultiplier: 1 },
          { label: 'z = 2', noiseMultiplier: 2 },
        ],
      });
      for (const run of c.runs) {
        const outcome = runAudit(c, run);
        expect(outcome.reportedEpsilon, `${privacy.mode} ${run.label}`).toBeGreaterThan(0);
        expect(outcome.epsilonLowerBound, `${privacy.mode} ${run.label}`).toBeLessThanOrEqual(outcome.reportedEpsilon!);
        // The noise still leaves a signal: the guesses beat chance.
        expect(outcome.correct).toBeGreaterThan(outcome.guesses / 2);
      }
    }
  });

  it('catches a mechanism that adds 1/100 of the noise it accounts for: the bound exceeds its epsilon', () => {
    const c = config({ runs: [{ label: 'z = 8', noiseMultiplier: 8 }] });
    const honest = runAudit(c, c.runs[0]);
    expect(honest.epsilonLowerBound).toBeLessThanOrEqual(honest.reportedEpsilon!);
    const broken = runAudit(c, c.runs[0], { noise: new QuietSampler(seededRandomWords(1)) });
    expect(broken.reportedEpsilon).toBe(honest.reportedEpsilon);
    expect(broken.reportedEpsilon!).toBeLessThan(1);
    expect(broken.epsilonLowerBound).toBeGreaterThan(3 * broken.reportedEpsilon!);
  });

  it('is reproducible from the seed', () => {
    const c = config();
    const { wallMs: _a, ...first } = runAudit(c, c.runs[0]);
    const { wallMs: _b, ...second } = runAudit(c, c.runs[0]);
    expect(second).toEqual(first);
  });

  it('stops with the reason when the target epsilon does not cover the rounds', () => {
    const c = config({ privacy: { mode: 'central', clipNorm: 1, targetEpsilon: 1 } });
    expect(() => runAudit(c, c.runs[0])).toThrow(
      /^run 'z = 1' stopped at round \d+ of 10: privacy budget exhausted: .*; raise privacy.targetEpsilon$/,
    );
  });
});

describe('canaries and guesses', () => {
  it('canary directions are unit vectors, pairwise orthogonal, dense, and differ by seed', () => {
    const dirs = canaryDirections(32, 64, 3);
    for (let a = 0; a < dirs.length; a++) {
      expect(dirs[a].every((v) => Math.abs(Math.abs(v) - 1 / 8) < 1e-7)).toBe(true);
      for (let b = a; b < dirs.length; b++) {
        const dot = dirs[a].reduce((s, v, i) => s + v * dirs[b][i], 0);
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 6);
      }
    }
    expect(canaryDirections(32, 64, 4)[0]).not.toEqual(dirs[0]);
    expect(() => canaryDirections(4, 48, 1)).toThrow('canary dimension must be a power of two, got 48');
    expect(() => canaryDirections(65, 64, 1)).toThrow('canaries must be an integer in [1, dimension = 64], got 65');
  });

  it('guesses the highest scores in and the lowest out', () => {
    expect(guess([0.5, -2, 3, 0, 1], 2, 1)).toEqual({ in: [2, 4], out: [1] });
    expect(() => guess([1, 2], 2, 1)).toThrow('cannot make 2 + 1 guesses about 2 canaries');
  });
});

describe('audit config', () => {
  it('refuses a bad config, naming the field', () => {
    expect(() => config({ dimension: 300 })).toThrow(
      /invalid audit config \(test\):\n✖ must be a power of two\n  → at dimension/,
    );
    expect(() => config({ canaries: 300 })).toThrow(
      /must be <= dimension \(256\): the canaries are orthogonal\n  → at canaries/,
    );
    expect(() => config({ guesses: { in: 150, out: 100 } })).toThrow(
      /in \+ out must be in \[1, canaries = 200\], got 250\n  → at guesses/,
    );
    expect(() => config({ delta: 0.01 })).toThrow(/2 x canaries x delta must be < 1, got 4\n  → at delta/);
    expect(() => config({ privacy: { ...small.privacy, noiseMultiplier: 1 } })).toThrow(
      /is set per run\n  → at privacy.noiseMultiplier/,
    );
    expect(() =>
      config({
        runs: [
          { label: 'a', noiseMultiplier: 1 },
          { label: 'a', noiseMultiplier: 2 },
        ],
      }),
    ).toThrow("run label 'a' is used twice");
    expect(() => config({ privacy: { mode: 'central', targetEpsilon: 10 } })).toThrow(
      /^invalid audit config \(test\), run 'z = 1': invalid privacy config:\n✖ set exactly one of clipNorm/,
    );
  });
});
