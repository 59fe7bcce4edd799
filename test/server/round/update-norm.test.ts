import { describe, expect, it } from 'vitest';
import {
  aggregateProblem,
  MEDIAN_AFTER,
  RoundNorms,
  stepProblem,
  updateNorm,
} from '../../../server/round/update-norm.js';

const limits = { max: 100, maxToMedian: 10 };

describe('update norm limits', () => {
  it('measures the L2 norm in float64, Infinity for a non-finite or float32-overflowing vector', () => {
    expect(updateNorm(Float32Array.from([3, 4]))).toBe(5);
    expect(updateNorm(Float32Array.from([3.4e38, 3.4e38])) / (Math.fround(3.4e38) * Math.SQRT2)).toBeCloseTo(1, 12);
    expect(updateNorm(Float32Array.from([1, Number.NaN]))).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses a norm above the fixed cap, even as the first update of a round', () => {
    const norms = new RoundNorms(limits);
    expect(norms.problem(100)).toBeUndefined();
    expect(norms.problem(100.5)).toMatch(/L2 norm 100\.5, above the limit 100 \(rounds\.maxUpdateNorm\)/);
    expect(norms.problem(Number.POSITIVE_INFINITY)).toMatch(/above the limit/);
    expect(norms.problem(Number.NaN)).toMatch(/above the limit/);
  });

  it(`applies the median rule only once ${MEDIAN_AFTER} updates were accepted`, () => {
    const norms = new RoundNorms(limits);
    norms.accept(1);
    norms.accept(2);
    // Two accepted: a 50x update is still only held to the cap.
    expect(norms.problem(50)).toBeUndefined();
    norms.accept(3);
    // Median of [1, 2, 3] is 2: up to 20 passes, above is refused.
    expect(norms.problem(20)).toBeUndefined();
    expect(norms.problem(21)).toMatch(/more than 10 times the median 2\.000 of the 3 updates accepted this round/);
    norms.accept(90);
    // Median of [1, 2, 3, 90] is 2.5: one accepted outlier does not drag the median.
    expect(norms.problem(26)).toMatch(/median 2\.500/);
  });

  it('takes the median of the accepted norms in whatever order they arrived', () => {
    const norms = new RoundNorms(limits);
    // Largest first, then the smallest, then the middle one: sorted they are [1, 5, 9].
    for (const n of [9, 1, 5]) norms.accept(n);
    expect(norms.problem(50)).toBeUndefined();
    expect(norms.problem(51)).toMatch(/more than 10 times the median 5\.000 of the 3 updates/);
    norms.accept(3);
    // [1, 3, 5, 9]: the median is 4.
    expect(norms.problem(40)).toBeUndefined();
    expect(norms.problem(41)).toMatch(/median 4\.000 of the 4 updates/);
  });

  it('names the first non-finite value even at index 0, and accepts an aggregate or step of exactly the cap', () => {
    expect(aggregateProblem(Float32Array.from([Number.NaN, 1]), 100)).toBe(
      'the aggregated update has a non-finite value at index 0',
    );
    expect(aggregateProblem(Float32Array.from([60, 80]), 100)).toBeUndefined();
    const before = Float32Array.from([1, 1]);
    expect(stepProblem(before, Float32Array.from([Number.POSITIVE_INFINITY, 1]), 100)).toBe(
      'the new weights have a non-finite value at index 0',
    );
    expect(stepProblem(before, Float32Array.from([61, 81]), 100)).toBeUndefined();
  });

  it('refuses an aggregate that is not finite or above the cap', () => {
    expect(aggregateProblem(Float32Array.from([1, 2]), 100)).toBeUndefined();
    expect(aggregateProblem(Float32Array.from([1, Number.POSITIVE_INFINITY]), 100)).toMatch(
      /non-finite value at index 1/,
    );
    expect(aggregateProblem(Float32Array.from([60, 80.5]), 100)).toMatch(
      /aggregated update has L2 norm 100\.\d, above the limit 100/,
    );
  });

  it("refuses a server optimizer's step that is not finite or above the cap", () => {
    const before = Float32Array.from([1, 1]);
    expect(stepProblem(before, Float32Array.from([61, 81]), 100)).toBeUndefined();
    expect(stepProblem(before, Float32Array.from([61, 82]), 100)).toMatch(
      /step has L2 norm 100\.\d, above the limit 100/,
    );
    expect(stepProblem(before, Float32Array.from([1, Number.NaN]), 100)).toMatch(
      /new weights have a non-finite value at index 1/,
    );
  });
});
