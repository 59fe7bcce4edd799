import { describe, expect, it } from 'vitest';
import { auditPValue, epsilonLowerBound, type GuessOutcome } from '../../../simulations/audit/epsilon-bound.js';

/**
 * The one-run conversion checked against values derived without its code: 50-digit mpmath
 * evaluations of the theorem (bisection to 1e-24), closed forms, and tails summed over every
 * correct/wrong pattern of the guesses.
 */

/**
 * Computed with Python 3.11 and mpmath (mp.dps = 50):
 *   pv(eps) = min(1, sum_{k>=v} C(r,k) p^k (1-p)^(r-k) + 2 m delta max_i sum_{k=v-i}^{v-1} C(r,k) p^k (1-p)^(r-k) / i),
 *   p = 1 / (1 + exp(-eps)); bound = sup{eps : pv(eps) < 0.05}, by 80 bisection steps on [0, 64].
 */
const MPMATH_BOUNDS: { outcome: GuessOutcome; bound: number }[] = [
  { outcome: { canaries: 1000, guesses: 200, correct: 200, delta: 1e-5 }, bound: 4.16649017670451 },
  { outcome: { canaries: 1000, guesses: 200, correct: 180, delta: 1e-5 }, bound: 1.79628507067094 },
  { outcome: { canaries: 1000, guesses: 100, correct: 100, delta: 0 }, bound: 3.49296543115229 },
  { outcome: { canaries: 500, guesses: 100, correct: 75, delta: 1e-6 }, bound: 0.702077409263746 },
  { outcome: { canaries: 1000, guesses: 20, correct: 20, delta: 1e-5 }, bound: 1.79128415351663 },
  { outcome: { canaries: 200, guesses: 100, correct: 99, delta: 1e-5 }, bound: 3.01605412730509 },
];

/** The same mpmath code at a fixed epsilon. */
const MPMATH_P_VALUES = [
  { outcome: { canaries: 1000, guesses: 200, correct: 180, delta: 1e-5 }, epsilon: 2, pValue: 0.238681655091203 },
  { outcome: { canaries: 1000, guesses: 200, correct: 200, delta: 1e-5 }, epsilon: 4, pValue: 0.0299223511543766 },
];

/** P[W >= v] and the theorem's delta term by summing over all 2^r right/wrong patterns of the guesses. */
function bruteForcePValue({ canaries: m, guesses: r, correct: v, delta }: GuessOutcome, epsilon: number): number {
  const p = Math.exp(epsilon) / (1 + Math.exp(epsilon));
  const mass = new Array<number>(r + 1).fill(0); // mass[k] = P[exactly k right]
  for (let pattern = 0; pattern < 2 ** r; pattern++) {
    let right = 0;
    let prob = 1;
    for (let g = 0; g < r; g++) {
      const ok = (pattern >> g) & 1;
      right += ok;
      prob *= ok ? p : 1 - p;
    }
    mass[right] += prob;
  }
  const tail = mass.slice(v).reduce((a, b) => a + b, 0);
  let alpha = 0;
  for (let i = 1; i <= v; i++) alpha = Math.max(alpha, mass.slice(v - i, v).reduce((a, b) => a + b, 0) / i);
  return Math.min(1, tail + 2 * m * delta * alpha);
}

describe('one-run audit: guesses to an epsilon lower bound', () => {
  it('matches 50-digit mpmath bounds to 1e-9', () => {
    for (const { outcome, bound } of MPMATH_BOUNDS) {
      expect(Math.abs(epsilonLowerBound(outcome, 0.95) - bound), JSON.stringify(outcome)).toBeLessThan(1e-9);
    }
    for (const { outcome, epsilon, pValue } of MPMATH_P_VALUES) {
      expect(auditPValue(outcome, epsilon) / pValue - 1).toBeCloseTo(0, 12);
    }
  });

  it('with delta = 0 and every guess right, is the closed form log(p / (1 - p)) with p^r = beta', () => {
    for (const r of [1, 20, 100, 500, 2000]) {
      for (const confidence of [0.9, 0.95, 0.99]) {
        const p = (1 - confidence) ** (1 / r);
        // Below 0 (one guess cannot reject 0 at 95%) the bound stays at 0.
        const closed = Math.max(0, Math.log(p / (1 - p)));
        expect(epsilonLowerBound({ canaries: 2 * r, guesses: r, correct: r, delta: 0 }, confidence)).toBeCloseTo(
          closed,
          7,
        );
      }
    }
  });

  it('its p-value equals the tail summed over every pattern of right and wrong guesses', () => {
    for (const r of [1, 7, 12]) {
      for (let v = 0; v <= r; v += 3) {
        for (const delta of [0, 1e-5, 1e-3]) {
          for (const epsilon of [0, 0.3, 1, 2.5, 6]) {
            const outcome = { canaries: 300, guesses: r, correct: v, delta };
            const expected = bruteForcePValue(outcome, epsilon);
            expect(
              Math.abs(auditPValue(outcome, epsilon) - expected),
              JSON.stringify({ ...outcome, epsilon }),
            ).toBeLessThan(1e-12 * Math.max(1, expected));
          }
        }
      }
    }
  });

  it('is where the brute-force p-value crosses beta: rejected just below, not just above', () => {
    const outcome = { canaries: 400, guesses: 12, correct: 12, delta: 1e-4 };
    const bound = epsilonLowerBound(outcome, 0.95);
    expect(bound).toBeGreaterThan(0.5);
    expect(bruteForcePValue(outcome, bound - 1e-6)).toBeLessThan(0.05);
    expect(bruteForcePValue(outcome, bound + 1e-6)).toBeGreaterThan(0.05);
  });

  it('gives 0 when the guesses are no better than chance, and more right guesses never lower it', () => {
    expect(epsilonLowerBound({ canaries: 1000, guesses: 200, correct: 100, delta: 1e-5 }, 0.95)).toBe(0);
    expect(epsilonLowerBound({ canaries: 1000, guesses: 200, correct: 0, delta: 1e-5 }, 0.95)).toBe(0);
    let previous = 0;
    for (let v = 100; v <= 200; v += 5) {
      const bound = epsilonLowerBound({ canaries: 1000, guesses: 200, correct: v, delta: 1e-5 }, 0.95);
      expect(bound).toBeGreaterThanOrEqual(previous);
      previous = bound;
    }
    expect(previous).toBeGreaterThan(4);
  });

  it('refuses impossible outcomes and a delta too large for the theorem, naming the problem', () => {
    expect(() => epsilonLowerBound({ canaries: 10, guesses: 11, correct: 5, delta: 1e-5 }, 0.95)).toThrow(
      'guesses must be an integer in [0, canaries = 10], got 11',
    );
    expect(() => epsilonLowerBound({ canaries: 10, guesses: 5, correct: 6, delta: 1e-5 }, 0.95)).toThrow(
      'correct guesses must be an integer in [0, guesses = 5], got 6',
    );
    expect(() => epsilonLowerBound({ canaries: 1000, guesses: 5, correct: 5, delta: 1e-3 }, 0.95)).toThrow(
      '2 x canaries x delta must be < 1',
    );
    expect(() => epsilonLowerBound({ canaries: 10, guesses: 5, correct: 5, delta: 1e-5 }, 1)).toThrow(
      'confidence must be in (0, 1), got 1',
    );
    expect(() => auditPValue({ canaries: 10, guesses: 5, correct: 5, delta: 1e-5 }, -1)).toThrow(
      'epsilon must be finite and >= 0, got -1',
    );
  });
});
