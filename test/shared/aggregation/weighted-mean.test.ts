import { describe, expect, it } from 'vitest';
import { WeightedMean } from '../../../shared/aggregation/weighted-mean.js';
import { updates } from './helpers.js';

describe('WeightedMean', () => {
  it('weights each delta by its number of examples', () => {
    // ([1,2]*1 + [3,6]*3) / 4 = [10/4, 20/4]
    expect(
      Array.from(
        new WeightedMean().aggregate(
          updates(
            [
              [1, 2],
              [3, 6],
            ],
            [1, 3],
          ),
        ),
      ),
    ).toEqual([2.5, 5]);
  });

  it('is linear, so it may run under secure aggregation', () => {
    expect(new WeightedMean().linear).toBe(true);
  });

  it('leaves its inputs untouched', () => {
    const u = updates([
      [1, 2],
      [3, 6],
    ]);
    new WeightedMean().aggregate(u);
    expect(Array.from(u[0].delta)).toEqual([1, 2]);
  });

  it('names the client whose update is unusable', () => {
    const agg = new WeightedMean();
    expect(() => agg.aggregate([])).toThrow(/zero updates/);
    expect(() => agg.aggregate(updates([[1, 2], [3]]))).toThrow(/c1 has 1 values, expected 2/);
    expect(() =>
      agg.aggregate(
        updates([
          [1, 2],
          [NaN, 0],
        ]),
      ),
    ).toThrow(/c1 has a non-finite value at index 0/);
    expect(() => agg.aggregate(updates([[1], [2]], [1, -1]))).toThrow(/c1 has an invalid number of examples/);
    expect(() => agg.aggregate(updates([[1], [2]], [0, 0]))).toThrow(/must be positive/);
  });
});
