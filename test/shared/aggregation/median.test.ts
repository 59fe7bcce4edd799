import { describe, expect, it } from 'vitest';
import { CoordinateMedian } from '../../../shared/aggregation/median.js';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import { expectWithin, honestPlusOutliers, updates } from './helpers.js';

describe('CoordinateMedian', () => {
  it('takes the middle value of each coordinate (odd count)', () => {
    // coordinate 0: 1, 2, 100 -> 2; coordinate 1: -5, 0, 10 -> 0
    expect(
      Array.from(
        new CoordinateMedian().aggregate(
          updates([
            [1, 10],
            [2, -5],
            [100, 0],
          ]),
        ),
      ),
    ).toEqual([2, 0]);
  });

  it('averages the two middle values (even count), like np.median', () => {
    // coordinate 0 sorted 1, 2, 3, 10 -> 2.5; coordinate 1 sorted 0, 2, 4, 8 -> 3
    expect(
      Array.from(
        new CoordinateMedian().aggregate(
          updates([
            [1, 4],
            [3, 8],
            [10, 0],
            [2, 2],
          ]),
        ),
      ),
    ).toEqual([2.5, 3]);
  });

  it('takes the median of a large round (41 clients) too', () => {
    // Coordinate 0 holds 0..40 in a scrambled order (17 is coprime to 41), coordinate 1 their negatives.
    const deltas = Array.from({ length: 41 }, (_, i) => [(i * 17) % 41, -((i * 17) % 41)]);
    expect(Array.from(new CoordinateMedian().aggregate(updates(deltas)))).toEqual([20, -20]);
  });

  it('ignores the claimed number of examples', () => {
    expect(Array.from(new CoordinateMedian().aggregate(updates([[1], [2], [3]], [1, 1, 1000])))).toEqual([2]);
  });

  it('stays within the honest range despite a huge outlier, where the mean does not', () => {
    const round = honestPlusOutliers(9, 1);
    expectWithin(new CoordinateMedian().aggregate(round), 0.4, 0.6);
    expect(() => expectWithin(new WeightedMean().aggregate(round), 0.4, 0.6)).toThrow(/outside/);
  });

  it('is not linear', () => {
    expect(new CoordinateMedian().linear).toBe(false);
  });
});
