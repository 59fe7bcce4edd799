import { describe, expect, it } from 'vitest';
import { TrimmedMean } from '../../../shared/aggregation/trimmed-mean.js';
import { expectWithin, honestPlusOutliers, updates } from './helpers.js';

describe('TrimmedMean', () => {
  it('drops floor(beta * n) values at each end (beta 0.2, n 5 -> one each)', () => {
    // coordinate 0: 1 2 3 4 100 -> mean(2, 3, 4) = 3; coordinate 1: -50 0 1 2 7 -> mean(0, 1, 2) = 1
    const round = updates([
      [1, -50],
      [2, 0],
      [3, 1],
      [4, 2],
      [100, 7],
    ]);
    expect(Array.from(new TrimmedMean().aggregate(round))).toEqual([3, 1]);
  });

  it('trims nothing when beta * n < 1, as scipy trim_mean (n 4 -> plain mean)', () => {
    expect(Array.from(new TrimmedMean(0.2).aggregate(updates([[1], [2], [3], [40]])))).toEqual([11.5]);
  });

  it('with beta 0 is the plain unweighted mean', () => {
    expect(Array.from(new TrimmedMean(0).aggregate(updates([[1], [2], [3], [40]], [1, 1, 1, 9])))).toEqual([11.5]);
  });

  it("defaults to Flower's beta 0.2", () => {
    expect(new TrimmedMean().beta).toBe(0.2);
  });

  it('rejects a beta that would trim everything', () => {
    expect(() => new TrimmedMean(0.5)).toThrow(/\[0, 0.5\)/);
    expect(() => new TrimmedMean(-0.1)).toThrow(/beta/);
  });

  it('stays within the honest range despite a huge outlier', () => {
    expectWithin(new TrimmedMean(0.2).aggregate(honestPlusOutliers(9, 1)), 0.4, 0.6);
  });
});
